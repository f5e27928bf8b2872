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

import interpreters  # noqa: E402  (tests/interpreters.py: discovery, shared with tools/setup)

MINORS = interpreters.MINORS            # 3.8-3.13 from pyenv, 3.14/3.15 from the sid chroot
_find_interpreters = interpreters.find_interpreters
INTERPRETERS = _find_interpreters()


@pytest.fixture(params=MINORS)
def python(request):
    """Path of the latest installed CPython of that minor version (skips when missing)."""
    exe = INTERPRETERS.get(request.param)
    if exe is None:
        pytest.skip(missing_note(request.param))
    return exe


def missing_note(minor):
    """The skip note of a minor that cannot be had here."""
    if minor in interpreters.SID_MINORS:
        why = interpreters.sid_unavailable_reason() or "tools/setup has not built it"
        return ("CPython %s (Debian sid chroot, %s) cannot be had here: %s: skipped"
                % (minor, interpreters.sid_wrapper(minor), why))
    return "CPython %s is not installed (pyenv versions --bare): skipped" % minor


# The sid wrappers bind-mount the repository at its own path wherever the clone is.
if REPO not in os.environ.get("HEAPSNAP_SID_BIND", "").split(":"):
    os.environ["HEAPSNAP_SID_BIND"] = ":".join(
        [p for p in os.environ.get("HEAPSNAP_SID_BIND", "").split(":") if p] + [REPO])

_MINOR_OF = {exe: m for m, exe in INTERPRETERS.items()}


def minor_of(python):
    """'3.X' of an interpreter path."""
    m = _MINOR_OF.get(python)
    if m is None:
        m = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True, timeout=60).stdout.strip()
        _MINOR_OF[python] = m
    return m


def corpus_site(python, *packages):
    """The corpus site dir (pinned real libraries, see tools/python/corpus-pins.txt) of that
    interpreter's minor, holding every one of packages (distribution names: numpy, pandas,
    SQLAlchemy, Flask, starlette); None when it has not got them."""
    stamp = interpreters.corpus_stamp(minor_of(python))
    if not stamp:
        return None
    if any(p not in stamp.get("installed", {}) for p in packages):
        return None
    return os.path.join(interpreters.corpus_dir(minor_of(python)), "site")


def need_corpus(python, *packages):
    """corpus_site(python, *packages), or skip the test with a note naming what is missing
    (package and pinned version) for that minor."""
    site = corpus_site(python, *packages)
    if site is not None:
        return site
    minor = minor_of(python)
    stamp = interpreters.corpus_stamp(minor) or {}
    installed = stamp.get("installed", {})
    try:
        pins = dict(s.split("==", 1) for s in interpreters.read_pins().get(minor, []))
    except (OSError, ValueError):
        pins = {}
    missing = ["%s%s" % (p, "==" + pins[p] if p in pins else " (no pin for %s)" % minor)
               for p in packages if p not in installed]
    pytest.skip("corpus for CPython %s lacks %s (%s; tools/setup installs it): skipped"
                % (minor, ", ".join(missing),
                   "no site at %s" % interpreters.corpus_dir(minor) if not stamp
                   else "not importable in the site"))


def program_prefix(site=None):
    """The lines run_program puts before a program: tools/python (and the corpus site, when
    given) first on sys.path."""
    head = "import sys\nsys.path.insert(0, %r)\n" % PYDIR
    if site:
        head += "sys.path.insert(1, %r)\n" % site
    return head


def run_program(python, source, tmp_path, args=(), timeout=120, check=True, env=None,
                site=None):
    """Run source as a program with tools/python on sys.path (and site, a corpus_site(),
    right after it); returns CompletedProcess."""
    prog = tmp_path / "prog.py"
    prog.write_text(program_prefix(site) + source)
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
