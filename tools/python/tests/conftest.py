"""Shared fixtures: the installed CPython interpreters and helpers to run target programs."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)                       # tools/python
REPO = os.path.dirname(os.path.dirname(PYDIR))
sys.path.insert(0, HERE)
sys.path.insert(0, PYDIR)

MINORS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]


def _find_interpreters():
    found = {}
    try:
        out = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True,
                             timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        out = []
    for minor in MINORS:
        best = None
        for v in out:
            parts = v.split(".")
            if len(parts) == 3 and ".".join(parts[:2]) == minor and parts[2].isdigit():
                if best is None or int(parts[2]) > int(best.split(".")[2]):
                    best = v
        if best is None:
            continue
        try:
            prefix = subprocess.run(["pyenv", "prefix", best], capture_output=True, text=True,
                                    timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        exe = os.path.join(prefix, "bin", "python")
        if os.path.exists(exe):
            found[minor] = exe
    return found


INTERPRETERS = _find_interpreters()


@pytest.fixture(params=MINORS)
def python(request):
    """Path of the latest installed CPython of that minor version (skips when missing)."""
    exe = INTERPRETERS.get(request.param)
    if exe is None:
        pytest.skip("CPython %s is not installed (pyenv versions --bare): skipped"
                    % request.param)
    return exe


def run_program(python, source, tmp_path, args=(), timeout=120, check=True, env=None):
    """Run source as a program with tools/python on sys.path; returns CompletedProcess."""
    prog = tmp_path / "prog.py"
    prog.write_text("import sys\nsys.path.insert(0, %r)\n" % PYDIR + source)
    e = dict(os.environ)
    e.pop("PYTHONPATH", None)
    if env:
        e.update(env)
    p = subprocess.run([python, str(prog)] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=timeout, cwd=str(tmp_path), env=e)
    if check and p.returncode != 0:
        raise AssertionError("program failed (%d):\nstdout:\n%s\nstderr:\n%s"
                             % (p.returncode, p.stdout, p.stderr))
    return p


def load_dump(path):
    """Decode a dump with the pure-Python reader, and with $HEAPSNAP_BIN when set."""
    import hsnap_reader
    snap = hsnap_reader.Snapshot.load(str(path))
    binary = os.environ.get("HEAPSNAP_BIN")
    if binary:
        p = subprocess.run([binary, "decode", "--json", str(path)], capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        env = json.loads(p.stdout)
        assert env["schema"] == 1 and env["kind"] == "decode"
        assert env["data"] == snap.d, "Rust decoder and Python reader disagree"
        p = subprocess.run([binary, "info", "--json", str(path)], capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        counts = json.loads(p.stdout)["data"]["counts"]
        assert counts["surplus_roots"] == len(snap.surplus()), "surplus roots disagree"
        assert counts["objects"] == len(snap.objects)
    return snap


def rust_note():
    if not os.environ.get("HEAPSNAP_BIN"):
        print("note: HEAPSNAP_BIN unset: dumps decoded with the Python reader only")
