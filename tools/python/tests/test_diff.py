"""End to end: the three-snapshot leak hunt with `heapsnap diff A B C`. A real program
dumps itself three times; between the first and the second dump it leaks N objects of a
class of its own (and makes and frees as many more), between the second and the third it
keeps N more that are not leaks of that period. The diff must find exactly the N leaked
objects as survivors of that class. Runs on every installed CPython 3.8+."""

import json
import os
import subprocess

import pytest

from conftest import run_program

BIN = os.environ.get("HEAPSNAP_BIN")
pytestmark = pytest.mark.skipif(
    not BIN, reason="HEAPSNAP_BIN is unset: these tests run the heapsnap analyzer binary "
                    "(cargo build; HEAPSNAP_BIN=$PWD/target/debug/heapsnap)")

N = 300

PROGRAM = r'''
import json, os, sys
from heapsnap import dumper

class Leak:
    __slots__ = ("payload",)          # no instance dict: one object per leak, fixed size
    def __init__(self):
        self.payload = None

KEEP = []
OUT, N = sys.argv[1], int(sys.argv[2])

def dump(name):
    r = dumper.dump(os.path.join(OUT, name))
    if not r.ok:
        raise SystemExit("dump failed: %s" % r.error)

dump("a.hsnap")
for _ in range(N):
    KEEP.append(Leak())               # the leak: born between A and B, alive in C
transient = [Leak() for _ in range(N)]
del transient                         # born and freed between A and B: not in B
dump("b.hsnap")
LATER = [Leak() for _ in range(N)]    # born between B and C: not survivors
dump("c.hsnap")

with open(os.path.join(OUT, "expect.json"), "w") as f:
    json.dump({"leaked": [hex(id(x)) for x in KEEP],
               "later": [hex(id(x)) for x in LATER],
               "size": sys.getsizeof(KEEP[0])}, f)
'''


def heapsnap(*args):
    p = subprocess.run([BIN] + list(args), capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert p.stderr == b""
    return p.stdout


def test_three_dumps_find_exactly_the_leaked_objects(python, tmp_path):
    run_program(python, PROGRAM, tmp_path, [tmp_path, N])
    with open(str(tmp_path / "expect.json")) as f:
        exp = json.load(f)
    leaked, later = set(exp["leaked"]), set(exp["later"])
    assert len(leaked) == N
    dumps = [str(tmp_path / n) for n in ("a.hsnap", "b.hsnap", "c.hsnap")]

    out = heapsnap("diff", "--json", "-n", "0", *dumps)
    env = json.loads(out)
    assert env["schema"] == 1 and env["kind"] == "diff"
    data = env["data"]
    assert (data["old"], data["new"]) == ("A", "C")
    assert data["notes"] == []

    rows = [t for t in data["survivors"]["types"] if t["type"] == "__main__.Leak"]
    assert len(rows) == 1, data["survivors"]["types"]
    leak = rows[0]
    assert leak["count"] == N
    assert leak["shallow"] == N * exp["size"]
    assert leak["unreachable"] == 0
    assert set(leak["examples"]) <= leaked and not set(leak["examples"]) & later
    assert len(leak["examples"]) == min(5, N)
    # All of them hang off one list (KEEP; which root the shortest path starts from
    # depends on the version: the module, or a function whose globals hold KEEP).
    assert [p["objects"] for p in leak["paths"]] == [N], leak["paths"]
    assert leak["paths"][0]["chain"].endswith(" -> list[*] -> __main__.Leak")
    assert leak["paths"][0]["example"] in leaked

    # C against A: the leaked and the later objects, 2N of the class.
    growth = [t for t in data["types"] if t["type"] == "__main__.Leak"]
    assert len(growth) == 1
    assert (growth[0]["count_old"], growth[0]["count_new"]) == (0, 2 * N)

    # Text output: the same for any thread count, and it names the class.
    text = heapsnap("--threads", "1", "diff", "-n", "0", *dumps)
    assert heapsnap("--threads", "2", "diff", "-n", "0", *dumps) == text
    assert b"__main__.Leak" in text
