"""The CPython interpreters the tests use, and their corpus sites (one source of truth for
tools/setup, via tools/python/setup_pythons.py, and for conftest.py).

- 3.8-3.13: the latest pyenv-installed patch release of each minor.
- 3.14, 3.15: wrappers that run Debian sid's interpreters in a chroot (built by tools/setup
  under the cache dir, see setup_pythons.py); `<cache>/bin/python3.14` behaves like a
  normal interpreter (same cwd, paths, pid, signals, exit code, environment).
- Corpus site of a minor: `<cache>/corpus/<minor>/site`, a `pip install --target` of the
  pinned real libraries (corpus-pins.txt) that the corpus tests put on sys.path; its
  `stamp.json` lists what is installed.

Usage as a script: `python interpreters.py` prints "minor path" for each interpreter found.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)                       # tools/python
PYENV_MINORS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]
SID_MINORS = ["3.14", "3.15"]
MINORS = PYENV_MINORS + SID_MINORS
PINS_FILE = os.path.join(PYDIR, "corpus-pins.txt")


def cache_dir():
    """Where big downloads are cached, outside any clone: $HEAPSNAP_CACHE, else
    /var/cache/heapsnap when it exists or can be made, else ~/.cache/heapsnap."""
    env = os.environ.get("HEAPSNAP_CACHE")
    if env:
        return env
    d = "/var/cache/heapsnap"
    if os.path.isdir(d) or os.access("/var/cache", os.W_OK):
        return d
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                        "heapsnap")


def sid_wrapper(minor):
    return os.path.join(cache_dir(), "bin", "python" + minor)


def find_pyenv():
    found = {}
    try:
        out = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True,
                             timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        out = []
    for minor in PYENV_MINORS:
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


def find_sid():
    """The sid wrappers that tools/setup installed (and whose chroot is complete)."""
    found = {}
    for minor in SID_MINORS:
        exe = sid_wrapper(minor)
        if os.access(exe, os.X_OK) and os.path.exists(
                os.path.join(cache_dir(), "sid", ".heapsnap-stamp")):
            found[minor] = exe
    return found


def find_interpreters():
    found = find_pyenv()
    found.update(find_sid())
    return {m: found[m] for m in MINORS if m in found}


def sid_unavailable_reason():
    """Why 3.14/3.15 cannot be had here (None when tools/setup can build them)."""
    if sys.platform != "linux":
        return "not Linux"
    if os.geteuid() != 0:
        return "not root (the chroot needs mount namespaces and chroot)"
    return None


def read_pins():
    """{minor: [requirement, ...]} from corpus-pins.txt."""
    pins = {}
    with open(PINS_FILE) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if line:
                pins[line[0]] = line[1:]
    return pins


def corpus_dir(minor):
    return os.path.join(cache_dir(), "corpus", minor)


def corpus_stamp(minor):
    """The stamp of a minor's corpus site ({"spec": [...], "installed": {name: version}}),
    or None when there is none."""
    try:
        with open(os.path.join(corpus_dir(minor), "stamp.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    for minor, exe in find_interpreters().items():
        print(minor, exe)


if __name__ == "__main__":
    main()
