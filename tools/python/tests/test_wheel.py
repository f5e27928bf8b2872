"""The one distribution: `maturin build` at the repository root gives a wheel holding
the `heapsnap` command (the Rust analyzer, which carries the dumper for `attach`) and the
`heapsnap` Python package. A fresh venv with no cargo on PATH installs it, attaches to a
program, and analyses the dump."""

import os
import re
import shutil
import subprocess
import zipfile

import pytest

from conftest import INTERPRETERS, PYDIR, REPO

MATURIN = os.path.join(REPO, ".venv", "bin", "maturin")


def versions():
    cargo = re.search(r'^version = "([^"]+)"', open(os.path.join(REPO, "Cargo.toml")).read(),
                      re.M).group(1)
    dumper = re.search(r'^__version__ = "([^"]+)"',
                       open(os.path.join(PYDIR, "heapsnap", "dumper.py")).read(), re.M).group(1)
    sub = re.search(r'^version = "([^"]+)"', open(os.path.join(PYDIR, "pyproject.toml")).read(),
                    re.M).group(1)
    return cargo, dumper, sub


def test_one_version_everywhere():
    cargo, dumper, sub = versions()
    assert cargo == dumper == sub, "Cargo.toml %s, dumper.__version__ %s, tools/python %s" % (
        cargo, dumper, sub)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    if not os.path.exists(MATURIN):
        pytest.skip("maturin is not in .venv (tools/setup installs it): skipped")
    out = tmp_path_factory.mktemp("wheels")
    # the dev profile: it shares target/debug with the rest of the tests
    p = subprocess.run([MATURIN, "build", "--quiet", "-o", str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr[-3000:]
    wheels = [f for f in os.listdir(out) if f.endswith(".whl")]
    assert len(wheels) == 1, wheels
    return out / wheels[0]


def test_wheel_holds_both_halves(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    version = versions()[0]
    assert "heapsnap/dumper.py" in names and "heapsnap/__init__.py" in names
    assert "heapsnap-%s.data/scripts/heapsnap" % version in names
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/")]
    # the packaged dumper is the tree's, byte for byte
    with zipfile.ZipFile(wheel) as z:
        assert z.read("heapsnap/dumper.py") == open(
            os.path.join(PYDIR, "heapsnap", "dumper.py"), "rb").read()


def test_fresh_venv_without_cargo_attaches_and_analyses(wheel, tmp_path):
    python = next((INTERPRETERS[m] for m in ("3.12", "3.11", "3.13") if m in INTERPRETERS),
                  None)
    if python is None:
        pytest.skip("no pyenv CPython 3.11-3.13 installed")
    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed (tools/setup installs it)")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
    path = os.pathsep.join([str(venv / "bin"), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    assert shutil.which("cargo", path=path) is None
    env = dict(os.environ, PATH=path)
    env.pop("PYTHONPATH", None)
    env.pop("CARGO_HOME", None)
    p = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "--no-index", "--disable-pip-version-check", str(wheel)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    exe = str(venv / "bin" / "heapsnap")
    assert os.path.exists(exe)
    # the Python half, from the venv (not from the tree)
    p = subprocess.run([str(venv / "bin" / "python"), "-c",
                        "import heapsnap, sys; print(heapsnap.__file__); "
                        "print(heapsnap.dump(sys.argv[1]).ok)", str(tmp_path / "self.hsnap")],
                       capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[0].startswith(str(venv)) and p.stdout.split()[1] == "True"
    # the Rust half: attach to a program that never imported heapsnap, then analyse
    prog = ("import sys, time\nclass Leak(object): pass\nkept = [Leak() for _ in range(777)]\n"
            "print('ready', flush=True)\nt = time.time()\n"
            "while time.time() - t < 60 and not sys.stdin.closed:\n"
            "    import select\n"
            "    if select.select([sys.stdin], [], [], 0.01)[0]: break\n")
    target = subprocess.Popen([python, "-c", prog], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline().strip() == "ready"
        out = tmp_path / "app.hsnap"
        p = subprocess.run([exe, "attach", str(target.pid), "-o", str(out)],
                           capture_output=True, text=True, env=env, timeout=300)
        assert p.returncode == 0, p.stderr
        assert out.exists()
        p = subprocess.run([exe, "top", str(out), "-n", "0"], capture_output=True, text=True,
                           env=env, timeout=300)
        assert p.returncode == 0, p.stderr
        row = [l for l in p.stdout.splitlines() if re.search(r"\bLeak\b", l)]
        assert row and re.search(r"\b777\b", row[0]), p.stdout
    finally:
        target.communicate("x\n", timeout=60)
    assert target.returncode == 0
