"""`heapsnap attach PID` against live targets that never imported heapsnap.

Each target prints its PID, runs its workload until the test writes a line on its stdin,
then compares its sys.modules, threads, signal handlers and open files with what they
were before the attach, and reports as JSON. The kinds: a busy multi-threaded target, one
blocked in a long time.sleep (a clear timeout, the target unharmed), one in a new mount
and PID namespace with a private /tmp, and a root target attached by `nobody` (a clear
refusal). Needs root (ptrace of another process, namespaces) and, for 3.8-3.13, gdb.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import INTERPRETERS, REPO, load_dump

BIN = os.environ.get("HEAPSNAP_BIN") or os.path.join(REPO, "target", "debug", "heapsnap")

pytestmark = [
    pytest.mark.skipif(not os.path.exists(BIN), reason="no heapsnap binary (HEAPSNAP_BIN)"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="attach is Linux-only"),
    pytest.mark.skipif(os.geteuid() != 0, reason="attach tests run as root (CI does)"),
]

# The target: state before, workload, state after. {workload} is "busy" or "sleep".
TARGET = r'''
import json, os, select, signal, sys, threading, time

def state():
    handlers = {}
    for s in range(1, signal.NSIG):
        try:
            handlers[s] = repr(signal.getsignal(s))
        except (ValueError, OSError):
            pass
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            pass
    return {"modules": sorted(sys.modules), "threads": sorted(t.ident for t in threading.enumerate()),
            "handlers": handlers, "fds": fds}

class Marker(object):
    pass

markers = [Marker() for _ in range(1234)]
stop = []
def work():
    x = 0
    while not stop:
        x += sum(range(200))

workers = [threading.Thread(target=work, name="worker-%d" % i) for i in range(3)] if "{workload}" == "busy" else []
for w in workers:
    w.start()
time.sleep(0.05)
before = state()
print("READY", os.getpid(), flush=True)
slept = None
if "{workload}" == "sleep":
    t0 = time.monotonic()
    time.sleep({sleep})
    slept = time.monotonic() - t0
while not select.select([sys.stdin], [], [], 0.005)[0]:
    sum(range(500))
sys.stdin.readline()
stop.append(1)
for w in workers:
    w.join()
# our own workers are gone: compare without them; give a fork-mode waiting thread a moment
before["threads"] = [t for t in before["threads"] if t not in [w.ident for w in workers]]
deadline = time.monotonic() + 3
while True:
    after = state()
    if after == before or time.monotonic() > deadline:
        break
    time.sleep(0.05)
print(json.dumps({"same": after == before, "before": before, "after": after,
                  "slept": slept, "markers": len(markers)}), flush=True)
'''


def start(python, tmp_path, workload="busy", sleep=0, wrap=(), cwd=None):
    src = TARGET.replace("{workload}", workload).replace("{sleep}", str(sleep))
    p = subprocess.Popen(list(wrap) + [python, "-c", src], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=cwd or str(tmp_path))
    line = p.stdout.readline()
    assert line.startswith("READY"), (line, p.stderr.read() if p.poll() is not None else "")
    return p


def finish(p):
    out, err = p.communicate("done\n", timeout=120)
    assert p.returncode == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    if not res["same"]:
        b, a = res["before"], res["after"]
        diff = {k: (b[k], a[k]) for k in b if b[k] != a[k]}
        raise AssertionError("target state changed: %r" % (diff,))
    assert res["markers"] == 1234
    return res, err


def attach(pid, *args, env=None, timeout=300, user=None):
    cmd = [BIN, "attach", str(pid)] + [str(a) for a in args]
    if user:
        import pwd
        pw = pwd.getpwnam(user)
        cmd = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
               "--clear-groups"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def leftovers(root="/tmp"):
    return glob.glob(os.path.join(root, "heapsnap-attach-*"))


def check_dump(path):
    snap = load_dump(path)
    markers = [o for o in snap.objects if snap.type_name(o) == "Marker"]
    assert len(markers) == 1234
    return snap


def skip_without_gdb(python):
    v = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2] < (3, 14))"],
                       capture_output=True, text=True).stdout.strip()
    if v == "True" and shutil.which("gdb") is None:
        pytest.skip("gdb is not installed (tools/setup installs it)")


def test_busy_multithreaded_target(python, tmp_path):
    skip_without_gdb(python)
    before = set(leftovers())
    p = start(python, tmp_path, "busy")
    out = tmp_path / "busy.hsnap"
    r = attach(p.pid, "-o", out, "--json")
    try:
        assert r.returncode == 0, r.stderr
        env = json.loads(r.stdout)
        assert env["kind"] == "attach" and env["data"]["objects"] > 1234
        check_dump(out)
        assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f]
    finally:
        res, err = finish(p)
    assert err == ""
    assert set(leftovers()) == before


def test_fork_mode(python, tmp_path):
    skip_without_gdb(python)
    p = start(python, tmp_path, "busy")
    out = tmp_path / "fork.hsnap"
    r = attach(p.pid, "-o", out, "--fork")
    try:
        assert r.returncode == 0, r.stderr
        check_dump(out)
    finally:
        finish(p)


def test_sleeping_target_times_out_unharmed(python, tmp_path):
    skip_without_gdb(python)
    before = set(leftovers())
    p = start(python, tmp_path, "sleep", sleep=4)
    t0 = time.monotonic()
    r = attach(p.pid, "-o", tmp_path / "never.hsnap", "--timeout", "1")
    took = time.monotonic() - t0
    assert r.returncode == 2
    assert r.stderr.startswith("heapsnap: attach: timed out: "), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert took < 3.9, "the attacher waited for the sleep to end (%.1f s)" % took
    assert not (tmp_path / "never.hsnap").exists()
    res, err = finish(p)
    assert res["slept"] >= 4.0 - 0.01, "the sleep was cut short: %r" % res["slept"]
    # the late launcher ran when the sleep ended, found nothing to run, printed nothing
    assert err == ""
    time.sleep(0.2)
    assert set(leftovers()) == before


def test_target_in_new_mount_and_pid_namespace(python, tmp_path):
    skip_without_gdb(python)
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    # a private /tmp in the target's mount namespace: our files must go there
    wrap = ["unshare", "--mount", "--pid", "--fork", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs heapsnap-test /tmp && exec "$@"', "sh"]
    p = start(python, tmp_path, "busy", wrap=wrap, cwd="/")
    kids = open("/proc/%d/task/%d/children" % (p.pid, p.pid)).read().split()
    assert len(kids) == 1
    pid = int(kids[0])
    status = open("/proc/%d/status" % pid).read()
    assert [l for l in status.splitlines() if l.startswith("NSpid:")][0].split()[-1] == "1"
    out = tmp_path / "ns.hsnap"
    host_before = set(leftovers())
    r = attach(pid, "-o", out)
    try:
        assert r.returncode == 0, r.stderr
        check_dump(out)
        assert leftovers("/proc/%d/root/tmp" % pid) == []
        assert set(leftovers()) == host_before
    finally:
        finish(p)


def test_nobody_cannot_attach_to_root(tmp_path):
    python = next(iter(INTERPRETERS.values()), None)
    if python is None:
        pytest.skip("no CPython installed")
    p = start(python, tmp_path, "busy")
    out = "/tmp/heapsnap-nobody-%d.hsnap" % os.getpid()
    r = attach(p.pid, "-o", out, user="nobody")
    try:
        assert r.returncode == 2, r.stdout + r.stderr
        assert r.stderr.startswith("heapsnap: attach: ptrace not permitted: "), r.stderr
        assert "belongs to root" in r.stderr and "as root" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert not os.path.exists(out)
    finally:
        finish(p)


def test_install_signal_trigger(tmp_path):
    python = INTERPRETERS.get("3.12") or next(iter(INTERPRETERS.values()), None)
    if python is None:
        pytest.skip("no CPython installed")
    skip_without_gdb(python)
    p = start(python, tmp_path, "busy")
    d = tmp_path / "dumps"
    d.mkdir()
    r = attach(p.pid, "--install", "--signal", "SIGUSR2", "--dir", d)
    try:
        assert r.returncode == 0, r.stderr
        assert "installed" in r.stdout
        os.kill(p.pid, 12)
        deadline = time.monotonic() + 60
        files = []
        while time.monotonic() < deadline and not files:
            files = [f for f in os.listdir(d) if f.endswith(".hsnap")]
            time.sleep(0.1)
        assert files, "no dump after the signal"
        time.sleep(0.5)
        check_dump(d / files[0])
    finally:
        out, err = p.communicate("done\n", timeout=120)
    res = json.loads(out.strip().splitlines()[-1])
    # what --install documents: the USR2 handler changed; files as before; no module of
    # ours in sys.modules (a triggered dump imports the standard-library modules it needs)
    b, a = res["before"], res["after"]
    assert b["fds"] == a["fds"]
    assert set(b["modules"]) <= set(a["modules"])
    assert not [m for m in a["modules"] if "heapsnap" in m]
    assert [k for k in b["handlers"] if b["handlers"][k] != a["handlers"][k]] == ["12"]


def test_refusals_are_one_line(tmp_path):
    # no such process: a PID that just exited
    q = subprocess.Popen(["true"])
    q.wait()
    r = attach(q.pid)
    assert r.returncode == 2 and r.stderr.startswith("heapsnap: attach: no such process"), r.stderr
    # not CPython
    s = subprocess.Popen(["sleep", "30"])
    try:
        r = attach(s.pid)
        assert r.returncode == 2
        assert r.stderr.startswith("heapsnap: attach: not CPython: "), r.stderr
    finally:
        s.kill()
        s.wait()
    # version not supported: a pyenv 3.7, when there is one
    old = subprocess.run(["pyenv", "prefix", "3.7.16"], capture_output=True, text=True)
    exe = os.path.join(old.stdout.strip(), "bin", "python3.7")
    if old.returncode == 0 and os.path.exists(exe):
        p = subprocess.Popen([exe, "-c", "import time; time.sleep(30)"])
        try:
            time.sleep(0.3)
            r = attach(p.pid)
            assert r.returncode == 2
            assert r.stderr.startswith("heapsnap: attach: version not supported: "), r.stderr
            assert "3.7" in r.stderr
        finally:
            p.kill()
            p.wait()
    # gdb missing (3.8-3.13)
    python = next((INTERPRETERS[m] for m in ("3.11", "3.12", "3.10") if m in INTERPRETERS), None)
    if python:
        p = start(python, tmp_path, "busy")
        try:
            env = dict(os.environ, PATH="/nonexistent")
            r = attach(p.pid, env=env)
            assert r.returncode == 2
            assert r.stderr.startswith("heapsnap: attach: gdb missing: "), r.stderr
            assert len(r.stderr.strip().splitlines()) == 1
        finally:
            finish(p)
