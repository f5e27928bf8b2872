"""Failure handling, locking, fork mode and triggers, in every installed CPython 3.8+."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import PYDIR, load_dump, run_program


def _json_out(p):
    return json.loads(p.stdout.strip().splitlines()[-1])


def _no_tmp(d):
    return [f for f in os.listdir(str(d)) if ".tmp-" in f] == []


FAILURES = r'''
import gc, json, os, resource, signal, sys
from heapsnap import dumper
base = sys.argv[1]
out = {}
os.mkdir(os.path.join(base, "isdir.hsnap"))
r1 = dumper.dump(os.path.join(base, "missing", "x.hsnap"))
r2 = dumper.dump(os.path.join(base, "isdir.hsnap"))     # rename onto a directory fails
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
r3 = dumper.dump(os.path.join(base, "toolarge.hsnap"))   # write fails part-way (EFBIG)
try:
    dumper.dump(os.path.join(base, "x.hsnap"), values="bogus")
    bad = "no error"
except ValueError as e:
    bad = "ValueError"
print(json.dumps({"r": [[r.ok, r.error] for r in (r1, r2, r3)], "bad": bad,
                  "gc": gc.isenabled(), "files": sorted(os.listdir(base))}))
'''


def test_failures_return_errors(python, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    p = run_program(python, FAILURES, tmp_path, [d])
    out = _json_out(p)
    for ok, err in out["r"]:
        assert ok is False and err
    assert "FileNotFoundError" in out["r"][0][1]
    assert out["bad"] == "ValueError"
    assert out["gc"] is True, "gc.isenabled() not restored after a failed dump"
    assert out["files"] == ["isdir.hsnap"], "partial or temp file left: %s" % out["files"]
    assert p.stderr.count("heapsnap: dump to") == 3   # one line per failure


def _try(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).returncode == 0
    except OSError:
        return False


def test_read_only_directory(python, tmp_path):
    """No file can be created in the directory: a clear error, nothing left behind."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() != 0:
        os.chmod(str(d), 0o555)
        undo = ["chmod", "755", str(d)]
    elif _try(["chattr", "+i", str(d)]):      # root ignores permission bits, not +i
        undo = ["chattr", "-i", str(d)]
    else:
        pytest.skip("running as root without chattr +i here: cannot make a read-only dir")
    try:
        p = run_program(python, "from heapsnap import dumper\nr = dumper.dump(%r)\n"
                        "print(r.ok, r.error)\nprint('host alive')\n" % str(d / "x.hsnap"),
                        tmp_path)
        assert p.stdout.startswith("False PermissionError"), p.stdout
        assert p.stdout.rstrip().endswith("host alive")
        assert "heapsnap: dump to" in p.stderr
    finally:
        _try(undo)
    assert os.listdir(str(d)) == []


DISK_FULL = r'''
import gc, os, sys
from heapsnap import dumper
keep = [{"k%d" % i: [i] * 20} for i in range(20000)]     # a dump of a few MB
r = dumper.dump(os.path.join(sys.argv[1], "x.hsnap"))
print(r.ok, r.error)
print("gc", gc.isenabled(), "host alive", len(keep))
'''


def test_disk_full(python, tmp_path):
    """A 64 KiB tmpfs fills up mid-write: a clear error, no file, the host runs on."""
    d = tmp_path / "full"
    d.mkdir()
    if os.geteuid() != 0 or not _try(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs",
                                       str(d)]):
        pytest.skip("cannot mount a tiny tmpfs here (needs root): disk-full not simulated")
    try:
        p = run_program(python, DISK_FULL, tmp_path, [d])
        first, second = p.stdout.strip().splitlines()[-2:]
        assert first.startswith("False OSError") and "28" in first, first
        assert second == "gc True host alive 20000"
        assert "heapsnap: dump to" in p.stderr
        assert os.listdir(str(d)) == [], "partial file left on the full disk"
    finally:
        _try(["umount", str(d)])


LOCKED = r'''
import json, os, signal, sys, threading
from heapsnap import dumper
base = sys.argv[1]
h = dumper.install(signal="SIGUSR1", directory=base)
results = {}
# a second dump while one is running: hold the module lock as a running dump does
dumper._lock.acquire()
results["thread"] = dumper.dump(os.path.join(base, "b.hsnap"))
os.kill(os.getpid(), signal.SIGUSR1)       # the handler runs here, during the "dump"
for _ in range(100):
    if h.results:
        break
results["queued"] = len(h.results)          # queued, not refused: no result yet
dumper._release()       # as the end of a dump does: the queued trigger runs now
results["signal"] = h.results[0]
# two real dumps from two threads at once: at most one can run
box = []
def worker():
    box.append(dumper.dump(os.path.join(base, "t.hsnap")))
ts = [threading.Thread(target=worker) for _ in range(2)]
for t in ts: t.start()
box.append(dumper.dump(os.path.join(base, "m.hsnap")))
for t in ts: t.join()
h.uninstall()
print(json.dumps({"thread": [results["thread"].ok, results["thread"].error],
                  "signal": [results["signal"].ok, results["signal"].error],
                  "queued": results["queued"],
                  "concurrent": sorted([r.ok, r.error or ""] for r in box),
                  "files": sorted(os.listdir(base))}))
'''


def test_one_dump_at_a_time(python, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    out = _json_out(run_program(python, LOCKED, tmp_path, [d]))
    assert out["thread"] == [False, "a dump is already running"]
    # a trigger during a dump is queued and runs when that dump ends (README)
    assert out["queued"] == 0 and out["signal"] == [True, None]
    assert [f for f in out["files"] if f.startswith("heapsnap-")], out["files"]
    oks = [ok for ok, _ in out["concurrent"]]
    assert oks.count(True) >= 1
    for ok, err in out["concurrent"]:
        assert ok or err == "a dump is already running"
    assert _no_tmp(d)


FORK = r'''
import json, os, sys, threading, time
from heapsnap import dumper
base = sys.argv[1]
marker = ["fork-marker-%d" % i for i in range(3)]
stop = threading.Event()
t = threading.Thread(target=stop.wait, name="sleeper")
t.start()
r = dumper.dump(os.path.join(base, "f.hsnap"), fork=True)
r2 = dumper.dump(os.path.join(base, "g.hsnap"), fork=True, wait=False)
for _ in range(600):
    if os.path.exists(os.path.join(base, "g.hsnap")):
        break
    time.sleep(0.05)
for _ in range(200):      # the reaper releases the lock once the child is reaped
    if not dumper._lock.locked():
        break
    time.sleep(0.05)
stop.set(); t.join()
print(json.dumps({"r": [r.ok, r.error, r.objects, r.edges, r.bytes, r.child_pid],
                  "r2": [r2.ok, r2.error, r2.child_pid], "pid": os.getpid(),
                  "marker": id(marker), "unlocked": not dumper._lock.locked(),
                  "files": sorted(os.listdir(base))}))
'''


def test_fork_mode(python, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    p = run_program(python, FORK, tmp_path, [d])
    out = _json_out(p)
    ok, err, objects, edges, nbytes, child = out["r"]
    assert ok, err
    assert child and child != out["pid"]
    assert out["r2"][0] and out["r2"][2]
    assert out["unlocked"]
    assert out["files"] == ["f.hsnap", "g.hsnap"]
    assert "DeprecationWarning" not in p.stderr
    s = load_dump(d / "f.hsnap")
    assert len(s.objects) == objects and os.path.getsize(str(d / "f.hsnap")) == nbytes
    assert s.facts["dump.mode"] == "fork" and s.facts["pid"] == out["pid"]
    assert s.obj(out["marker"]) is not None
    names = {s.strings[r["label"]] for r in s.roots if r["kind"] == 3}
    assert {"MainThread", "sleeper"} <= names


TRIGGERS = r'''
import json, os, signal, sys, time
from heapsnap import dumper
base = sys.argv[1]
mode = sys.argv[2]
if mode == "signal":
    dumper.install(signal="SIGUSR1", directory=base, prefix="sig")
    os.kill(os.getpid(), signal.SIGUSR1)
    for _ in range(600):
        if any(f.endswith(".hsnap") for f in os.listdir(base)):
            break
        time.sleep(0.05)
elif mode == "atexit":
    dumper.install(at_exit=True, directory=base, prefix="exit")
elif mode == "rss":
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    h = dumper.install(rss_threshold="%dM" % (rss // 2**20 + 40), rss_interval=0.05,
                       directory=base, prefix="rss")
    hog = [bytearray(2**20) for _ in range(80)]
    for _ in range(600):
        if h.results:
            break
        time.sleep(0.05)
    h.uninstall()
print(json.dumps(sorted(os.listdir(base))))
'''


@pytest.mark.parametrize("mode", ["signal", "atexit", "rss"])
def test_triggers(python, tmp_path, mode):
    d = tmp_path / "out"
    d.mkdir()
    run_program(python, TRIGGERS, tmp_path, [d, mode])
    files = os.listdir(str(d))
    prefix = {"signal": "sig", "atexit": "exit", "rss": "rss"}[mode]
    dumps = [f for f in files if f.startswith(prefix + "-") and f.endswith(".hsnap")]
    assert len(dumps) == 1, files
    assert _no_tmp(d)
    s = load_dump(d / dumps[0])
    assert s.facts["dumper.name"] == "heapsnap-python" and len(s.objects) > 1000


SCRIPT = r'''
import sys
assert __name__ == "__main__", __name__
with open(sys.argv[1], "w") as f:
    f.write(" ".join(sys.argv[1:]))
keep = {"script_marker": list(range(10))}
'''


def test_cli_run(python, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=PYDIR)
    p = subprocess.run([python, "-m", "heapsnap", "run", "--at-exit", "--dir", str(d),
                        "--values", "all", str(script), str(tmp_path / "argv.txt"), "x", "-y"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    # one line: where the at-exit dump went
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("heapsnap: at-exit dump: "), p.stderr
    assert (tmp_path / "argv.txt").read_text() == "%s x -y" % (tmp_path / "argv.txt")
    dumps = [f for f in os.listdir(str(d)) if f.endswith(".hsnap")]
    assert len(dumps) == 1
    s = load_dump(d / dumps[0])
    assert "values=all" in s.facts["dumper.options"]
    assert "script_marker" in s.strings
    v = subprocess.run([python, "-m", "heapsnap", "--version"], capture_output=True,
                       text=True, env=env)
    assert v.returncode == 0 and "0.1.0" in v.stdout


def test_single_file_copy(python, tmp_path):
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(os.path.join(PYDIR, "heapsnap", "dumper.py"), str(alone / "dumper.py"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run([python, "-c", "import dumper, sys; r = dumper.dump(sys.argv[1]); "
                        "print(r.ok, r.error, dumper.__file__)", str(tmp_path / "a.hsnap")],
                       capture_output=True, text=True, cwd=str(alone), env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("True None") and str(alone) in p.stdout
    assert load_dump(tmp_path / "a.hsnap").facts["dump.mode"] == "in-process"
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    d = tmp_path / "out"
    d.mkdir()
    p = subprocess.run([python, str(alone / "dumper.py"), "run", "--at-exit", "--dir", str(d),
                        str(script), str(tmp_path / "argv.txt")], capture_output=True,
                       text=True, cwd=str(tmp_path), env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert len([f for f in os.listdir(str(d)) if f.endswith(".hsnap")]) == 1


INTERRUPTED = r'''
import gc, json, os, signal, sys
from heapsnap import dumper
base = sys.argv[1]
keep = [[i, str(i)] for i in range(300000)]       # a dump long enough to interrupt
def interrupt(signum, frame):
    raise KeyboardInterrupt
signal.signal(signal.SIGALRM, interrupt)
out = {}
for delay in (0.02, 0.05, 0.1, 0.2):
    signal.setitimer(signal.ITIMER_REAL, delay)
    try:
        r = dumper.dump(os.path.join(base, "x%s.hsnap" % delay))
        out[str(delay)] = "finished %s" % r.ok
    except KeyboardInterrupt:
        out[str(delay)] = "interrupted"
    signal.setitimer(signal.ITIMER_REAL, 0)
# deterministic: interrupted half-way through writing the file
real_write = dumper.write_content
def half_written(fd, content):
    os.write(fd, b"partial")
    raise KeyboardInterrupt
dumper.write_content = half_written
try:
    dumper.dump(os.path.join(base, "half.hsnap"))
    out["write"] = "finished"
except KeyboardInterrupt:
    out["write"] = "interrupted"
dumper.write_content = real_write
out["gc"] = gc.isenabled()
out["lock_free"] = not dumper._lock.locked()
out["files"] = sorted(os.listdir(base))
print(json.dumps(out))
'''


def test_interrupted_dump_leaves_no_temporary_file(python, tmp_path):
    """KeyboardInterrupt (or a host handler's SystemExit) propagates, but cleanly."""
    d = tmp_path / "out"
    d.mkdir()
    out = _json_out(run_program(python, INTERRUPTED, tmp_path, [d]))
    assert "interrupted" in [out[k] for k in ("0.02", "0.05", "0.1", "0.2")], out
    assert out["write"] == "interrupted"
    assert out["gc"] is True and out["lock_free"] is True
    assert _no_tmp(d), out["files"]
    for f in out["files"]:       # whatever finished is complete
        assert load_dump(d / f).objects


REAPED = r'''
import json, os, signal, sys
from heapsnap import dumper
signal.signal(signal.SIGCHLD, signal.SIG_IGN)    # the host lets the kernel reap children
r = dumper.dump(os.path.join(sys.argv[1], "f.hsnap"), fork=True)
print(json.dumps([r.ok, r.error, r.objects]))
'''


def test_fork_mode_when_the_host_reaps_children(python, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    ok, err, objects = _json_out(run_program(python, REAPED, tmp_path, [d]))
    assert ok is True, err
    assert len(load_dump(d / "f.hsnap").objects) == objects > 1000


FREE_LIST = r'''
import asyncio, gc
from heapsnap import dumper

async def main():
    loop = asyncio.get_running_loop()
    for _ in range(50):     # awaited futures leave their iterators on _asyncio's free list
        f = loop.create_future()
        f.set_result(1)
        await f
    r = dumper.dump(sys.argv[1])
    assert r.ok, r

asyncio.run(main())
gc.collect()
print("exited")
'''


def test_asyncio_free_list_survives_a_dump(python, tmp_path):
    """CPython 3.12's _asyncio module visits its free list of (dead) future iterators in
    its traverse: a gc.get_referents on it freed them twice and the program hung at its
    next collection. The dump must leave the program able to collect and exit."""
    out = tmp_path / "a.hsnap"
    p = run_program(python, FREE_LIST, tmp_path, [out], timeout=60)
    assert p.stdout.strip() == "exited"
    load_dump(out)
