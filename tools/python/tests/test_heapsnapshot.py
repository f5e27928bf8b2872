"""`heapsnap export --format heapsnapshot` read back by an independent reader: memlab
(Meta's JavaScript heap analyzer, npm package @memlab/core), which parses Chrome
DevTools' .heapsnapshot format and computes its own dominator tree and retained sizes
(Lengauer-Tarjan, with DevTools' rules for which edges count).

A small Python program builds a known heap, including garbage cycles that refer to a
reachable object, and dumps itself; the test exports the dump as a .heapsnapshot and as
CSV, loads the .heapsnapshot with memlab in a node script, and compares node count,
total self size, and the retained size and immediate dominator of every reachable
object with heapsnap's own dominator results (the CSV).

Where the two notions differ: memlab (like DevTools) hangs objects that no root
reaches directly under the synthetic root, where heapsnap says they retain nothing, so
unreachable objects are not compared. References from those objects into reachable ones
must not count, for either tool: the export marks everything the roots reach as "page
owned" (root edges of both kinds the tools look for), and both then ignore references
from unowned objects into owned ones, as heapsnap does. The `shared` list below, which
the garbage refers to, checks exactly that.

memlab is installed once with npm (no browser download, no install scripts) into a
cache under the repository's target/ directory (git-ignored); the test is skipped with
the reason printed when node or npm is missing or the install fails."""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import INTERPRETERS, MINORS, REPO, run_program

BIN = os.environ.get("HEAPSNAP_BIN")
pytestmark = pytest.mark.skipif(
    not BIN, reason="HEAPSNAP_BIN is unset: this test runs the heapsnap analyzer binary "
                    "(cargo build; HEAPSNAP_BIN=$PWD/target/debug/heapsnap)")

MEMLAB = "@memlab/core@2.0.5"
CACHE = os.path.join(REPO, "target", "memlab-" + MEMLAB.split("@")[-1])

PROGRAM = r'''
import gc
gc.disable()        # the garbage below stays until the dump
import json
from heapsnap import dumper

class Blob:
    def __init__(self, i):
        self.payload = bytes(1000 + i)
        self.tag = "blob-%d" % i

def make_cache():
    return {"blob_%d" % i: Blob(i) for i in range(50)}

cache = make_cache()
shared = [bytes(5000)]      # reachable only through the module's dict...

class Pair:
    pass

def garbage():
    for _ in range(5):      # ... and referred to by unreachable cycles
        a, b = Pair(), Pair()
        a.peer, b.peer = b, a
        a.shared = shared

garbage()

expect = {
    "main": hex(id(sys.modules["__main__"])),
    "globals": hex(id(globals())),
    "cache": hex(id(cache)),
    "blob7": hex(id(cache["blob_7"])),
    "shared": hex(id(shared)),
    "make_cache": hex(id(make_cache)),
}
with open(sys.argv[1] + ".json", "w") as f:
    json.dump(expect, f)
del f
r = dumper.dump(sys.argv[1], collect=False)
assert r.ok, r.error
'''

# Loads a .heapsnapshot with memlab; prints node count, total self size, every node's
# id, self size, retained size and dominator id, and the details of the nodes asked for.
LOADER = r'''
const core = require(process.argv[2]);
const file = process.argv[3];
const detail = new Set(JSON.parse(process.argv[4]));
(async () => {
  const snap = await core.utils.getSnapshotFromFile(file, {buildNodeIdIndex: true});
  core.analysis.preparePathFinder(snap);   // shortest paths, dominators, retained sizes
  const nodes = [];
  const details = {};
  let total = 0;
  snap.nodes.forEach(n => {
    total += n.self_size;
    const d = n.dominatorNode;
    nodes.push([n.id, n.self_size, n.retainedSize, d ? d.id : -1]);
    if (detail.has(n.id)) {
      details[n.id] = {
        type: n.type, name: n.name, edge_count: n.edge_count,
        references: n.references.map(e => [e.type, e.name_or_index, e.toNode.id]),
      };
    }
  });
  process.stdout.write(JSON.stringify({count: snap.nodes.length, total, nodes, details}));
})().catch(e => { console.error(e && e.stack || e); process.exit(1); });
'''


def object_id(index):
    """The .heapsnapshot id of object `index` (node 0 is the root, 1 `(GC roots)`)."""
    return 2 * (index + 2) + 1


def _memlab():
    """The path of the installed @memlab/core package (installing it if needed)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip("%s is not installed: the .heapsnapshot reader test needs node "
                        "and npm (to install %s)" % (tool, MEMLAB))
    pkg = os.path.join(CACHE, "node_modules", "@memlab", "core")
    if os.path.exists(os.path.join(pkg, "package.json")):
        return pkg
    os.makedirs(os.path.dirname(CACHE), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="memlab-install-", dir=os.path.dirname(CACHE))
    try:
        with open(os.path.join(tmp, "package.json"), "w") as f:
            f.write('{"private": true}\n')
        env = dict(os.environ, PUPPETEER_SKIP_DOWNLOAD="1",
                   PUPPETEER_SKIP_CHROMIUM_DOWNLOAD="1")
        try:
            p = subprocess.run(
                ["npm", "install", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund",
                 "--loglevel=error", MEMLAB],
                cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as e:
            pytest.skip("npm install %s failed: %s" % (MEMLAB, e))
        if p.returncode != 0:
            pytest.skip("npm install %s failed (%d): %s"
                        % (MEMLAB, p.returncode, p.stderr.strip()[-500:]))
        try:
            os.rename(tmp, CACHE)       # atomic: a half-installed cache is never used
        except OSError:
            if not os.path.exists(os.path.join(pkg, "package.json")):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return pkg


def _python():
    for minor in reversed(MINORS):
        if minor in INTERPRETERS:
            return INTERPRETERS[minor]
    return sys.executable


def _heapsnap(*args):
    p = subprocess.run([BIN] + list(args), capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert p.stderr == b"", p.stderr.decode(errors="replace")
    return p.stdout


def test_memlab_reads_the_export_and_agrees_on_retained_sizes(tmp_path):
    core = _memlab()
    dump = tmp_path / "heap.hsnap"
    run_program(_python(), PROGRAM, tmp_path, [dump])
    with open(str(dump) + ".json") as f:
        exp = json.load(f)
    snapshot = tmp_path / "heap.heapsnapshot"
    _heapsnap("export", str(dump), "--format", "heapsnapshot", "-o", str(snapshot))
    # stdout gives the same bytes, for any thread count
    for threads in ("1", "2"):
        out = _heapsnap("--threads", threads, "export", str(dump), "--format", "heapsnapshot")
        assert out == snapshot.read_bytes()
    table = tmp_path / "objects.csv"
    _heapsnap("export", str(dump), "--format", "csv", "-o", str(table))
    with open(str(table), newline="") as f:
        rows = list(csv.DictReader(f))
    by_addr = {r["address"]: r for r in rows}
    ids = {k: object_id(int(by_addr[a]["index"])) for k, a in exp.items()}

    script = tmp_path / "load.js"
    script.write_text(LOADER)
    p = subprocess.run(["node", str(script), core, str(snapshot),
                        json.dumps(sorted(ids.values()))],
                       capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert p.returncode == 0, "memlab could not load the export:\n" + p.stderr[-3000:]
    m = json.loads(p.stdout)

    # Every object, plus the root and (GC roots); the same bytes.
    assert m["count"] == len(rows) + 2
    assert m["total"] == sum(int(r["shallow_size"]) for r in rows)
    nodes = {n[0]: n for n in m["nodes"]}
    assert len(nodes) == m["count"], "node ids are unique"
    assert nodes[1][3] == 1 and nodes[3][1] == 0, "node 0 (id 1) is the root"

    # Every reachable object: memlab's retained size and dominator are heapsnap's.
    addr_of_id = {object_id(int(r["index"])): r["address"] for r in rows}
    reachable = [r for r in rows if r["reachable"] == "true"]
    unreachable = [r for r in rows if r["reachable"] != "true"]
    assert len(unreachable) >= 10, "the program's garbage cycles are in the dump"
    mismatches = []
    for r in reachable:
        _, self_size, retained, dom = nodes[object_id(int(r["index"]))]
        theirs = "root" if dom == 1 else addr_of_id.get(dom, "node id %d" % dom)
        if (self_size, retained, theirs) != (int(r["shallow_size"]),
                                             int(r["retained_size"]), r["idom"]):
            mismatches.append((r["address"], r["type"], r["shallow_size"],
                               r["retained_size"], r["idom"], self_size, retained, theirs))
    assert not mismatches, "%d of %d reachable objects differ, e.g. %s" % (
        len(mismatches), len(reachable), mismatches[:5])

    # The objects the program named.
    d = {k: m["details"][str(i)] for k, i in ids.items()}
    assert (d["cache"]["type"], d["cache"]["name"]) == ("object", "dict")
    assert (d["blob7"]["type"], d["blob7"]["name"]) == ("object", "__main__.Blob")
    assert (d["main"]["type"], d["main"]["name"]) == ("object", "module __main__")
    assert (d["make_cache"]["type"], d["make_cache"]["name"]) == ("closure", "make_cache")
    assert ["property", "blob_7", ids["blob7"]] in d["cache"]["references"]
    assert ["property", "cache", ids["cache"]] in d["globals"]["references"]
    shared = by_addr[exp["shared"]]
    assert shared["idom"] == exp["globals"], "garbage references do not dominate"
    assert nodes[ids["shared"]][3] == ids["globals"]
    assert nodes[ids["cache"]][2] == int(by_addr[exp["cache"]]["retained_size"]) > 50 * 1000
