"""The dumper under stress, in every installed CPython 3.8+: eight threads mutating the
heap while dumps run again and again (in-process and fork mode), signals arriving during
dumps, signal-triggered and API dumps at the same time, a disk that fills up or refuses
writes while the threads run, and a dump whose wait (or fork child) is interrupted.

test_safety.py holds the single-shot versions on a quiet heap; this file repeats them
under load. Every program runs in a session of its own under a deadline: a hang kills
the whole process group (fork children included) and fails the test with the tracebacks
faulthandler printed. Every dump file is checked with hsnap_reader.sections (layout and
every CRC) plus the structural rules below (SPEC section 7), by `$HEAPSNAP_BIN check`
when that is set; the first dump of each mutating run is decoded completely too.
"""

import array
import ast
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from operator import and_, le, lt

import pytest

from conftest import PYDIR, rust_note
import hsnap_reader

DEADLINE = 100          # seconds for one program; faulthandler dumps the stacks 5 s before
THREAD_ROOT = 3
MUTATORS = ["mutator-%d" % k for k in range(8)]

# The host: eight threads that create and drop dicts, lists, instances, strings, dict
# subclasses, suspended generators and classes, append to and pop from shared
# containers, and make reference cycles, some with a finalizer that takes a lock the
# threads hold all the time (in a fork child such a finalizer would wait forever).
HOST = r'''
import faulthandler, gc, os, signal, sys, threading, time
faulthandler.enable()
faulthandler.dump_traceback_later(@DEADLINE@, exit=True)
sys.path.insert(0, @PYDIR@)
from heapsnap import dumper
OUT = sys.argv[1]
stop = threading.Event()
lock = threading.RLock()
shared = []
table = {}
progress = [0] * 8
errors = []
finalized = set()


class Node(object):
    def __init__(self, i):
        self.i = i
        self.name = "node-%d" % i
        self.other = None


class Finalized(Node):
    def __del__(self):
        with lock:
            finalized.add(os.getpid())


class Keyed(dict):
    pass


def gen(items):
    for x in items:
        yield x


def mutator(k):
    i = 0
    mine = Keyed()
    try:
        while not stop.is_set():
            i += 1
            d = {"key%d" % (i % 40): [i] * (i % 7), "text": "x" * (i % 90), i: Node(i)}
            nodes = [Node(j) for j in range(i % 12)]
            s = "str-%d-%d" % (k, i)
            shared.append(d)
            shared.append(s)
            with lock:
                table[s] = nodes
                if len(table) > 100:
                    table.clear()
            mine["k%d" % (i % 10)] = (d, nodes)
            if i % 3 == 0:
                a, b = Node(i), (Finalized(i) if i % 2 else Node(i))
                a.other, b.other = b, a
            if i % 5 == 0:
                g = gen(nodes)
                next(g, None)
                shared.append(g)
            if i % 300 == k:
                T = type("Dyn%d" % k, (Node,), {"n": i})
                T(i).other = T
            if len(shared) > 120:
                del shared[:60]
            try:
                shared.pop()
            except IndexError:
                pass
            progress[k] += 1
            time.sleep(0.002)
    except BaseException as e:
        errors.append("mutator-%d: %r" % (k, e))


def start_mutators():
    ts = [threading.Thread(target=mutator, args=(k,), name="mutator-%d" % k)
          for k in range(8)]
    for t in ts:
        t.start()
    while not all(progress):
        time.sleep(0.002)
    return ts


def all_progress(timeout=20):
    """True once every mutator has moved on since the call."""
    before = list(progress)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(a > b for a, b in zip(progress, before)):
            return True
        time.sleep(0.002)
    return False


def stop_mutators(ts):
    moved = all_progress()
    stop.set()
    for t in ts:
        t.join(20)
    return {"moved": moved, "alive": [t.name for t in ts if t.is_alive()],
            "errors": errors, "gc": gc.isenabled(), "locked": dumper._lock.locked(),
            "pid": os.getpid(), "finalized_in": sorted(finalized),
            "markers": [id(shared), id(table)]}


def result(r):
    return {"ok": r.ok, "path": r.path, "error": r.error, "objects": r.objects,
            "edges": r.edges, "bytes": r.bytes, "child": r.child_pid,
            "seconds": round(r.seconds, 3)}


def wait_unlocked(timeout=60):
    """Until no dump (nor a reaper thread) holds the dumper's lock."""
    deadline = time.time() + timeout
    while dumper._lock.locked() and time.time() < deadline:
        time.sleep(0.01)
    return not dumper._lock.locked()


def no_children():
    try:
        return os.waitpid(-1, os.WNOHANG) is None
    except ChildProcessError:
        return True
'''


def _session_members(pgid):
    """Live (not zombie) processes of a process group, from /proc."""
    out = []
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return out
    for p in pids:
        try:
            with open("/proc/%s/stat" % p) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(p))
    return out


def _run(python, source, tmp_path, args=()):
    """Run HOST + source in a session of its own; returns (the value printed as the
    last line of stdout, stdout, stderr). A hang or a leftover process (a fork child
    that outlived the host) kills the process group and fails."""
    prog = tmp_path / "prog.py"
    prog.write_text(HOST.replace("@DEADLINE@", str(DEADLINE - 5))
                    .replace("@PYDIR@", repr(PYDIR)) + source)
    e = dict(os.environ)
    e.pop("PYTHONPATH", None)
    # -S: no site-packages .pth imports (some interpreters here import dozens of
    # modules through them): a smaller heap, so more dumps fit in the time
    p = subprocess.Popen([python, "-S", str(prog)] + [str(a) for a in args],
                         cwd=str(tmp_path), env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        raise AssertionError("deadlock: no exit in %d s\nstdout:\n%s\nstderr:\n%s"
                             % (DEADLINE, out, err[-20000:]))
    left = _session_members(p.pid)
    if left:
        time.sleep(0.5)
        left = _session_members(p.pid)
    if left:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
    assert p.returncode == 0, "host failed (%d):\nstdout:\n%s\nstderr:\n%s" % (
        p.returncode, out, err[-20000:])
    assert not left, "processes outlived the host: %s\nstderr:\n%s" % (left, err)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    return ast.literal_eval(out.strip().splitlines()[-1]), out, err


def _arr(sec, kind, code):
    a = array.array(code)
    a.frombytes(sec.get(kind, b""))
    if sys.byteorder == "big":
        a.byteswap()
    return a


def _check_file(path):
    """Validate a dump quickly (hsnap_reader.sections: layout and CRCs; then the
    structural rules with array operations); returns a small summary."""
    with open(str(path), "rb") as f:
        data = f.read()
    sec = hsnap_reader.sections(data)
    offs = _arr(sec, 2, "Q")
    raw = sec[3]
    assert offs[0] == 0 and offs[-1] == len(raw) and all(map(le, offs, offs[1:]))
    strings = [raw[a:b].decode("utf-8") for a, b in zip(offs, offs[1:])]
    S = len(strings)
    assert S and strings[0] == ""
    t = _arr(sec, 4, "I")           # address (2 words), name, module, flags, reserved
    T = len(t) // 6
    assert T and min(t[2::6]) > 0 and max(t[2::6]) < S and max(t[3::6]) < S
    assert max(t[4::6]) < 16 and not any(t[5::6])
    assert len(set(_arr(sec, 4, "Q")[0::3])) == T, "duplicate type address"
    addr = _arr(sec, 5, "Q")
    N = len(addr)
    otype, size, flags = _arr(sec, 6, "I"), _arr(sec, 7, "I"), _arr(sec, 9, "I")
    assert N and len(otype) == len(size) == len(_arr(sec, 8, "I")) == len(flags) == N
    start, target = _arr(sec, 10, "Q"), _arr(sec, 11, "Q")
    E = len(target)
    assert len(start) == N + 1 and start[0] == 0 and start[-1] == E
    assert all(map(le, start, start[1:])), "edge starts decrease"
    assert max(otype) < T, "type index out of range"
    assert max(flags) < 128
    ids = set(addr)
    assert len(ids) == N, "duplicate addresses"
    assert ids.issuperset(target), "dangling edges: %d" % len(set(target) - ids)
    if 12 in sec:
        lab = _arr(sec, 12, "I")
        assert len(lab) == E and max(map(and_, lab, [0x7FFFFFFF] * E)) < S
        for i in [i for i, f in enumerate(flags) if f & 32]:     # POSITIONAL_EDGES
            assert not any(lab[start[i]:start[i + 1]]), "label on positional object"
    wide = _arr(sec, 15, "Q")
    assert sorted(wide[0::2]) == [i for i, s in enumerate(size) if s == 0xFFFFFFFF]
    r = _arr(sec, 13, "Q")           # object, kind | label << 32, detail
    roots = list(zip(r[0::3], [x & 0xFFFFFFFF for x in r[1::3]], [x >> 32 for x in r[1::3]]))
    assert all(o < N and 1 <= k <= 7 and lab < S for o, k, lab in roots), "root out of range"
    v = _arr(sec, 14, "Q")           # object, string | kind << 32 | flags << 48
    vo, vw = v[0::2], v[1::2]
    assert all(map(lt, vo, vo[1:])) and (not vo or vo[-1] < N)
    assert all((w & 0xFFFFFFFF) < S and 1 <= (w >> 32 & 0xFFFF) <= 4 and w >> 48 < 2
               for w in vw)
    f = _arr(sec, 1, "Q")            # key | kind << 32, value
    facts = {}
    for kk, value in zip(f[0::2], f[1::2]):
        key, kind = kk & 0xFFFFFFFF, kk >> 32
        assert 0 < key < S and 1 <= kind <= 5 and strings[key] not in facts
        if kind == 4:
            assert value < S
            value = strings[value]
        elif kind == 5:
            assert value in (0, 1)
            value = bool(value)
        facts[strings[key]] = value
    threads = sorted(strings[lab] for o, k, lab in roots if k == THREAD_ROOT)
    return {"objects": N, "edges": E, "bytes": len(data), "facts": facts,
            "threads": threads, "ids": ids}


def _validate(path, decode):
    """_check_file, `$HEAPSNAP_BIN check` when set, and with decode=True the whole
    pure-Python decoder too."""
    summary = _check_file(path)
    binary = os.environ.get("HEAPSNAP_BIN")
    if binary:
        p = subprocess.run([binary, "check", "--threads", "1", str(path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=300)
        assert p.returncode == 0, "heapsnap check %s: %s" % (path, p.stderr)
    if decode:
        snap = hsnap_reader.Snapshot.load(str(path))
        assert len(snap.objects) == summary["objects"]
    return summary


class Checker(object):
    """Validates every dump file that appears in the given directories while the host
    runs, in a thread of the test process (the host mostly keeps one core busy). A file
    under its final name is complete: the dumper renames only a written, synced file.
    decode=True: the first file of each directory is also decoded completely."""

    def __init__(self, *dirs, decode=False):
        self.dirs = [str(d) for d in dirs]
        self.decode = decode
        self.results = {}
        self.lock = threading.Lock()        # one sweep at a time
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="checker", daemon=True)

    def __enter__(self):
        rust_note()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def _sweep(self):
        with self.lock:
            self._sweep_locked()

    def _sweep_locked(self):
        for d in self.dirs:
            try:
                names = sorted(n for n in os.listdir(d) if n.endswith(".hsnap"))
            except OSError:
                continue
            first = self.decode and not any(p.startswith(d + os.sep) for p in self.results)
            for n in names:
                p = os.path.join(d, n)
                if p not in self.results:
                    try:
                        self.results[p] = _validate(p, first)
                    except Exception as e:         # reported by summary()
                        self.results[p] = e
                    first = False

    def _loop(self):
        while not self.stop.wait(0.05):
            self._sweep()

    def summary(self, path):
        """The validated summary of one file (every file so far swept first)."""
        self._sweep()
        s = self.results[str(path)]
        if isinstance(s, Exception):
            raise AssertionError("%s: %s: %s" % (path, type(s).__name__, s))
        return s

    def all(self):
        self._sweep()
        return sorted(self.results)


def _files(d):
    return sorted(os.listdir(str(d)))


def _assert_host_fine(out):
    assert out["moved"], "the threads stopped making progress after the dumps"
    assert out["alive"] == [] and out["errors"] == [], out
    assert out["gc"] is True and out["locked"] is False
    # finalizers ran here only, never in a fork child
    assert set(out["finalized_in"]) <= {out["pid"]}, out["finalized_in"]


def _assert_dump(chk, r, out, mode, thread_names=MUTATORS):
    """A successful dump: its file is valid and says what the result says."""
    assert r["ok"] and r["error"] is None, r
    s = chk.summary(r["path"])
    assert (s["objects"], s["edges"], s["bytes"]) == (r["objects"], r["edges"], r["bytes"])
    f = s["facts"]
    assert f["dump.mode"] == mode and f["pid"] == out["pid"]
    assert f["gc.enabled"] is True and "gc.collected" in f
    assert set(thread_names) <= set(s["threads"]), s["threads"]
    assert s["ids"].issuperset(out["markers"]), "a module global is missing"
    return s


# ---------------------------------------------------------------------------------------
# 1. Dumps while eight threads mutate the heap

MUTATING = r'''
ts = start_mutators()
results = []
moved = []
for k in range(int(sys.argv[2])):
    fork = k % 2 == 1
    results.append(result(dumper.dump(os.path.join(OUT, "d%02d.hsnap" % k), fork=fork)))
    moved.append(all_progress())
out = stop_mutators(ts)
out.update(results=results, moved_each=moved, children=no_children())
print(repr(out))
'''

DUMPS = 20      # in-process and fork alternately: 10 of each


def test_dumps_while_threads_mutate(python, tmp_path):
    """DUMPS dumps in a row, in-process and fork mode alternately, while eight threads
    mutate: each ok, each file valid, the threads move on after every dump and finish
    cleanly; no fork child is left."""
    d = tmp_path / "out"
    d.mkdir()
    with Checker(d, decode=True) as chk:
        out, _, _ = _run(python, MUTATING, tmp_path, [d, DUMPS])
        _assert_host_fine(out)
        assert all(out["moved_each"]), out["moved_each"]
        assert out["children"], "a fork child was not reaped"
        assert _files(d) == ["d%02d.hsnap" % k for k in range(DUMPS)]
        for k, r in enumerate(out["results"]):
            _assert_dump(chk, r, out, "fork" if k % 2 else "in-process")
            if k % 2:
                assert r["child"] and r["child"] != out["pid"]


# ---------------------------------------------------------------------------------------
# 2. Signals during dumps, and dumps requested at once: a flood of SIGUSR1 (a Python
#    handler in the host) from another process and from a thread, SIGUSR2 triggering
#    heapsnap.install(signal=...) dumps whenever a dump runs, and a second thread calling
#    dump() at the same moment as the main thread, in both modes.

SENDER = r'''
import os, select, signal, sys
pid = int(sys.argv[1])
while not select.select([sys.stdin], [], [], 0.0005)[0]:
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        break
'''

SIGNALS = r'''
import subprocess
hits = {"idle": 0, "dumping": 0, "in dumper code": 0}
def on_usr1(signum, frame):
    hits["dumping" if dumper._lock.locked() else "idle"] += 1
    if frame is not None and frame.f_globals is vars(dumper):
        hits["in dumper code"] += 1
    [{"allocated": i} for i in range(20)]      # the handler changes the heap mid-dump
signal.signal(signal.SIGUSR1, on_usr1)
TRIG = os.path.join(OUT, "trig")
os.mkdir(TRIG)
h = dumper.install(signal="SIGUSR2", directory=TRIG, prefix="sig")
ts = start_mutators()
sender = subprocess.Popen([sys.executable, "-S", "-c", sys.argv[2], str(os.getpid())],
                          stdin=subprocess.PIPE)
busy = threading.Event()
def usr1_thread():
    while not busy.wait(0.002):
        os.kill(os.getpid(), signal.SIGUSR1)
def usr2_thread():       # a few signal-triggered dumps while a dump is running
    sent = 0            # (each is queued and runs after it: a few, not a chain)
    while not busy.is_set() and sent < 3:
        if dumper._lock.locked():
            os.kill(os.getpid(), signal.SIGUSR2)
            sent += 1
            time.sleep(0.3)
        time.sleep(0.001)
helpers = [threading.Thread(target=usr1_thread), threading.Thread(target=usr2_thread)]
for t in helpers:
    t.start()
main, second = [], []
for k in range(int(sys.argv[3])):
    fork = k % 2 == 1
    go = threading.Barrier(2)
    def other():
        go.wait()
        second.append(result(dumper.dump(os.path.join(OUT, "t%02d.hsnap" % k), fork=fork)))
    t = threading.Thread(target=other)
    t.start()
    go.wait()
    main.append(result(dumper.dump(os.path.join(OUT, "m%02d.hsnap" % k), fork=fork)))
    t.join()
    wait_unlocked()
busy.set()
for t in helpers:
    t.join()
sender.stdin.close()
sender.wait()
wait_unlocked()
triggered_busy = len(h.results)
os.kill(os.getpid(), signal.SIGUSR2)       # and one while nothing else runs
for _ in range(2000):
    if len(h.results) > triggered_busy:
        break
    time.sleep(0.005)
h.uninstall()
out = stop_mutators(ts)
out.update(main=main, second=second, hits=hits, triggered=[result(r) for r in h.results],
           triggered_busy=triggered_busy, children=no_children())
print(repr(out))
'''

ROUNDS = 4      # in-process and fork alternately


def test_signals_and_concurrent_dumps(python, tmp_path):
    """Every round, two threads call dump() at the same moment while SIGUSR1 floods the
    host and SIGUSR2 asks for a signal-triggered dump whenever one runs: one dump of the
    round runs, each refusal says "a dump is already running" (result and stderr), the
    signal-triggered ones are queued and run after (never refused), the
    handler runs during dumps (in-process: in the middle of the walk), nothing is left
    behind, and the threads carry on."""
    d = tmp_path / "out"
    d.mkdir()
    with Checker(d, d / "trig") as chk:
        out, _, err = _run(python, SIGNALS, tmp_path, [d, SENDER, ROUNDS])
        _assert_host_fine(out)
        assert out["children"]
        assert out["hits"]["in dumper code"] > 0, out["hits"]
        refused = 0
        done = []
        for k, pair in enumerate(zip(out["main"], out["second"])):
            mode = "fork" if k % 2 else "in-process"
            assert any(r["ok"] for r in pair), "round %d: both refused: %s" % (k, pair)
            for r in pair:
                if r["ok"]:
                    _assert_dump(chk, r, out, mode)
                    done.append(r["path"])
                else:
                    assert r["error"] == "a dump is already running", r
                    assert not os.path.exists(r["path"])
                    refused += 1
        assert refused >= 1, "two simultaneous dump() calls never met"
        busy = out["triggered"][:out["triggered_busy"]]
        assert busy, "no signal-triggered dump arrived during a dump"
        # a trigger during a dump is queued (one at most) and runs when it ends: never
        # refused (README, "Triggers an operator can rely on")
        assert "is queued" in err, err
        for r in busy:
            assert r["ok"], r
        last = out["triggered"][out["triggered_busy"]:]
        assert len(last) >= 1 and all(r["ok"] for r in last), last
        for r in out["triggered"]:
            if r["ok"]:
                _assert_dump(chk, r, out, "in-process")
                done.append(r["path"])
        assert err.count("a dump is already running") == refused, err
        assert sorted(done) == chk.all()
        assert [f for dd in (d, d / "trig") for f in _files(dd) if ".tmp-" in f] == []


# ---------------------------------------------------------------------------------------
# 3. A full disk and a read-only directory while the threads run, in both modes

UNWRITABLE = r'''
ts = start_mutators()
out = {"runs": {}}
for name, target in zip(sys.argv[2::2], sys.argv[3::2]):
    runs = []
    for fork in (False, True):
        runs.append(result(dumper.dump(os.path.join(target, "x.hsnap"), fork=fork)))
        runs[-1]["left"] = sorted(os.listdir(target))
        runs[-1]["moved"] = all_progress()
    out["runs"][name] = runs
good = result(dumper.dump(os.path.join(OUT, "good.hsnap"), fork=True))
out.update(stop_mutators(ts))
out.update(good=good, children=no_children())
print(repr(out))
'''


def _try(cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE).returncode == 0
    except OSError:
        return False


@pytest.fixture
def unwritable(tmp_path):
    """{"full": dir, "read-only": dir}: a 64 KiB tmpfs and a read-only one (root), or a
    mode 0555 directory (not root). A case that cannot be set up is left out with a
    warning (pytest's summary shows it); the test skips when neither can."""
    dirs, undo = {}, []
    full, ro = tmp_path / "full", tmp_path / "ro"
    full.mkdir()
    ro.mkdir()
    if os.geteuid() == 0 and _try(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs",
                                   str(full)]):
        dirs["full"] = full
        undo.append(["umount", str(full)])
    else:
        warnings.warn("disk full not simulated: cannot mount a tiny tmpfs here (needs "
                      "root and mount)")
    if os.geteuid() != 0:
        os.chmod(str(ro), 0o555)
        dirs["read-only"] = ro
        undo.append(["chmod", "755", str(ro)])
    elif _try(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)]):
        dirs["read-only"] = ro
        undo.append(["umount", str(ro)])
    else:
        warnings.warn("read-only directory not simulated: running as root without "
                      "permission to mount")
    try:
        yield dirs
    finally:
        for cmd in undo:
            _try(cmd)


def test_unwritable_target_while_threads_mutate(python, tmp_path, unwritable):
    """Disk full (ENOSPC part-way through the file) and read-only (no file at all), a
    dump in each mode each: ok=False with the OS error, nothing left in the directory,
    the threads carry on, and a dump elsewhere works right after."""
    if not unwritable:
        pytest.skip("neither a full disk nor a read-only directory can be simulated here")
    d = tmp_path / "out"
    d.mkdir()
    args = [d]
    for name, path in sorted(unwritable.items()):
        args += [name, path]
    with Checker(d) as chk:
        out, _, err = _run(python, UNWRITABLE, tmp_path, args)
        _assert_host_fine(out)
        assert out["children"]
        expect = {"full": "No space left on device", "read-only": (
            "Read-only file system" if os.geteuid() == 0 else "Permission denied")}
        for name, runs in out["runs"].items():
            for r in runs:
                assert r["ok"] is False and expect[name] in r["error"], (name, r)
                assert r["left"] == [], "left behind on %s: %s" % (name, r["left"])
                assert r["moved"]
        assert err.count("heapsnap: dump to") == 2 * len(out["runs"]), err
        _assert_dump(chk, out["good"], out, "fork")


# ---------------------------------------------------------------------------------------
# 4. Fork mode: no finalizer in the child; an interrupted wait; an interrupted child

FINALIZER = r'''
gc.set_threshold(0)           # no automatic collection: only the dump's collect=True
held = threading.Event()
def holder():                 # holds the lock the finalizer needs, across the fork
    with lock:
        held.set()
        time.sleep(0.2)
t = threading.Thread(target=holder, name="holder")
t.start()
held.wait()
a = Finalized(1)
a.other = a
del a
r = result(dumper.dump(os.path.join(OUT, "f.hsnap"), fork=True))
t.join()
ts = start_mutators()
out = stop_mutators(ts)
out.update(r=r, children=no_children())
print(repr(out))
'''


def test_fork_child_runs_no_finalizer(python, tmp_path):
    """Regression: with collect=True the fork child collected, so a finalizer ran in
    the child and waited forever for a lock another thread held at the fork (the host,
    waiting for the child, hung with it). The collection now runs in the parent."""
    d = tmp_path / "out"
    d.mkdir()
    with Checker(d) as chk:
        out, _, _ = _run(python, FINALIZER, tmp_path, [d])
        assert out["finalized_in"] == [out["pid"]], out["finalized_in"]
        _assert_host_fine(out)
        assert out["children"]
        _assert_dump(chk, out["r"], out, "fork", thread_names=[])


INTERRUPTED = r'''
real_write = dumper.write_content
BASE = os.path.dirname(OUT)
def slow_write(fd, content):            # only ever called in a fork child
    open(os.path.join(BASE, "ready-%d" % os.getpid()), "w").close()
    time.sleep(0.25)
    return real_write(fd, content)
def ready():
    return {f for f in os.listdir(BASE) if f.startswith("ready-")}
class Stop(Exception):
    pass
def stop_handler(signum, frame):
    raise Stop("host timeout")
def interrupt_handler(signum, frame):
    raise KeyboardInterrupt
def alarm_when_child_writes(before):
    while not ready() - before:
        time.sleep(0.005)
    os.kill(os.getpid(), signal.SIGALRM)
dumper.write_content = slow_write
ts = start_mutators()
out = {}
# The parent's wait is interrupted by the host's handler once the child is writing: the
# child finishes, a reaper thread collects it and holds the lock until then.
# KeyboardInterrupt goes on to the host; an Exception becomes the dump's error.
for name, handler in (("a", interrupt_handler), ("a2", stop_handler)):
    signal.signal(signal.SIGALRM, handler)
    t = threading.Thread(target=alarm_when_child_writes, args=(ready(),))
    t.start()
    try:
        out[name] = result(dumper.dump(os.path.join(OUT, name + ".hsnap"), fork=True))
    except KeyboardInterrupt:
        out[name] = "interrupted"
    t.join()
    out[name + "_refuses"] = result(dumper.dump(os.path.join(OUT, "refused.hsnap")))
    out[name + "_unlocked"] = wait_unlocked()
    out[name + "_reaped"] = no_children()
out["a_files"] = sorted(os.listdir(OUT))
# the child itself is interrupted (a signal sent to it runs the host's handler there):
# it reports the error and exits; it never returns into this program
signal.signal(signal.SIGUSR1, stop_handler)
before = ready()
r = dumper.dump(os.path.join(OUT, "b.hsnap"), fork=True, wait=False)
while "ready-%d" % r.child_pid not in ready():
    time.sleep(0.005)
os.kill(r.child_pid, signal.SIGUSR1)
out["b_unlocked"] = wait_unlocked()
out["b_reaped"] = no_children()
out["b_files"] = sorted(os.listdir(OUT))
out.update(stop_mutators(ts))
print("host line")
print(repr(out))
'''


def test_interrupted_fork_dump(python, tmp_path):
    """Regression: an exception from a signal handler while the parent waited for the
    child closed the pipe and left the child unreaped (a zombie) and the lock free while
    it still wrote. Now a reaper thread collects the child and holds the lock until
    then (KeyboardInterrupt propagates, an Exception becomes the dump's error); a child
    hit by a signal exits without running any more of the program; nothing is left
    behind."""
    d = tmp_path / "out"
    d.mkdir()
    with Checker(d) as chk:
        out, stdout, err = _run(python, INTERRUPTED, tmp_path, [d])
        assert stdout.count("host line") == 1, "a fork child returned into the program"
        _assert_host_fine(out)
        assert out["a"] == "interrupted"
        r = out["a2"]
        assert r["ok"] is False and r["error"] == "Stop: host timeout", r
        for name in ("a", "a2"):
            assert out[name + "_refuses"]["error"] == "a dump is already running"
            assert out[name + "_unlocked"] and out[name + "_reaped"]
        assert out["a_files"] == ["a.hsnap", "a2.hsnap"]   # the children finished
        for name in ("a", "a2"):
            assert chk.summary(d / (name + ".hsnap"))["facts"]["dump.mode"] == "fork"
        assert out["b_unlocked"] and out["b_reaped"]
        assert out["b_files"] == out["a_files"], "the interrupted child left a file"
        assert "dump to %s failed: Stop: host timeout" % (d / "b.hsnap") in err, err
