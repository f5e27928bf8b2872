"""End-to-end tests of the analysis commands (top, dominators, cycles, path, refs,
export): real programs whose heap structure they know build it, record what they know
(addresses, sizes computed the way the dumper computes them) in a JSON side file and dump
themselves; the tests run $HEAPSNAP_BIN on the dump and compare. Run in every installed
CPython 3.8+ (one dump per program per interpreter, shared by the tests)."""

import json
import os
import subprocess
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import INTERPRETERS, MINORS, run_program

BIN = os.environ.get("HEAPSNAP_BIN")
pytestmark = pytest.mark.skipif(
    not BIN, reason="HEAPSNAP_BIN is unset: these tests run the heapsnap analyzer binary "
                    "(cargo build; HEAPSNAP_BIN=$PWD/target/debug/heapsnap)")

# ---------------------------------------------------------------------------
# Programs

# Shared by both programs: object sizes exactly as the dumper records them.
SIZES = r'''
import gc, sys
PY = sys.version_info[:2]

def managed(T):
    """The dumper's rule (_Walker.register_type): on 3.11+ an instance of a type with
    a managed dict keeps its attribute values inline (3.13: only with inline values);
    sys.getsizeof misses them, so the dumper adds 8 bytes per referent."""
    f = T.__flags__
    return PY >= (3, 11) and bool(f & (1 << 4)) and (PY < (3, 13) or bool(f & (1 << 2)))

def shallow(o):
    s = sys.getsizeof(o)
    if managed(type(o)):
        s += 8 * len(gc.get_referents(o))
    return s

def own_dicts(o):
    """The instance's own __dict__ object, if it has one: always before 3.11, on 3.11+
    only if something materialised it (the programs never do). Read through
    gc.get_referents, which neither creates nor materialises anything."""
    return [r for r in gc.get_referents(o) if type(r) is dict]
'''

# A cache: a module-level dict of N Blobs, each owning a unique payload and a unique
# tag and sharing nothing; beside it a list of Items (list positions merge in paths).
CACHE_PROGRAM = SIZES + r'''
import json
from heapsnap import dumper

N, PAYLOAD = int(sys.argv[2]), int(sys.argv[3])

class Blob:
    def __init__(self, i):
        self.payload = i.to_bytes(4, "little") * (PAYLOAD // 4)   # unique per blob
        self.tag = "blob-%06d" % i                                 # unique per blob

class Item:
    pass

def build():
    c = {}
    for i in range(N):
        c["blob_%d" % i] = Blob(i)     # identifier-like keys: labelled edges
    return c

cache = build()
items = [Item() for _ in range(N // 10)]
TARGET_KEY = "blob_7"

def expectations():
    blobs = {}
    for k, b in cache.items():
        owned = [b.payload, b.tag] + own_dicts(b)
        blobs[hex(id(b))] = {
            "key": k,
            "shallow": shallow(b),
            # a blob alone keeps its payload, its tag and its __dict__ (if any) alive
            "retained": shallow(b) + sum(map(sys.getsizeof, owned)),
            "payload": hex(id(b.payload)),
            "payload_size": sys.getsizeof(b.payload),
            "dict": [hex(id(d)) for d in own_dicts(b)],
        }
    keys = sum(map(sys.getsizeof, cache))
    return {
        "python": list(PY),
        "n": N,
        "cache": hex(id(cache)),
        "cache_shallow": sys.getsizeof(cache),
        # the cache alone keeps its keys and its blobs (and what they keep) alive
        "cache_retained": sys.getsizeof(cache) + keys
                          + sum(b["retained"] for b in blobs.values()),
        "blobs": blobs,
        "target": hex(id(cache[TARGET_KEY])),
        "target_key": TARGET_KEY,
        "items": hex(id(items)),
        "item_count": len(items),
    }

# written before the dump: nothing the program records stays in the heap
with open(sys.argv[1] + ".json", "w") as f:
    json.dump(expectations(), f)
del f
r = dumper.dump(sys.argv[1])
with open(sys.argv[1] + ".result.json", "w") as f:
    json.dump({"ok": r.ok, "error": r.error, "objects": r.objects, "edges": r.edges}, f)
'''

# Reference cycles: K reachable and M unreachable Parent <-> Child pairs (both with
# __del__; the collector is disabled and the dump does not collect, so the garbage is
# still there), DParent <-> DChild pairs whose attributes live in instance dicts, and a
# function whose closure cell refers to the function itself.
CYCLES_PROGRAM = SIZES + r'''
gc.disable()
import json
from heapsnap import dumper

K, M, KD, BIG = (int(a) for a in sys.argv[2:6])

class Parent:
    __slots__ = ("child",)
    def __del__(self):
        pass

class Child:
    __slots__ = ("parent",)
    def __del__(self):
        pass

class DParent:
    def __del__(self):
        pass

class DChild:
    pass

def pair(P, C):
    p, c = P(), C()
    p.child = c
    c.parent = p
    return p

alive = [pair(Parent, Child) for _ in range(K)]
alive_d = [pair(DParent, DChild) for _ in range(KD)]

def make_garbage():
    out = []
    for _ in range(M):
        p = pair(Parent, Child)
        out.append([hex(id(p)), hex(id(p.child))])
    return out

garbage = make_garbage()    # only addresses: the pairs themselves are unreachable

def outer():
    def f(pad=bytes(BIG)):   # the padding makes this the biggest closure cycle
        return f
    return f

fn = outer()

def expectations():
    p, dp = alive[0], alive_d[0]
    return {
        "python": list(PY),
        "k": K, "m": M, "kd": KD,
        "pair_bytes": shallow(p) + shallow(p.child),
        "alive": hex(id(alive)),
        "alive3": hex(id(alive[3])),
        "pairs": [[hex(id(q)), hex(id(q.child))] for q in alive],
        "garbage": garbage,
        # dicts per DParent <-> DChild cycle: their __dict__ objects, if they have them
        "dpair_dicts": len(own_dicts(dp)) + len(own_dicts(dp.child)),
        "fn": hex(id(fn)),
        "closure": hex(id(fn.__closure__)),
        "cell": hex(id(fn.__closure__[0])),
        "fn_retained_min": shallow(fn) + sys.getsizeof(fn.__defaults__)
                           + sys.getsizeof(fn.__defaults__[0]),
    }

with open(sys.argv[1] + ".json", "w") as f:
    json.dump(expectations(), f)
del f
r = dumper.dump(sys.argv[1], collect=False)
with open(sys.argv[1] + ".result.json", "w") as f:
    json.dump({"ok": r.ok, "error": r.error, "objects": r.objects, "edges": r.edges,
               "gc_enabled": gc.isenabled()}, f)
'''

N_BLOBS, PAYLOAD = 500, 10_000
K_PAIRS, M_PAIRS, KD_PAIRS, BIG = 40, 25, 7, 200_000


# ---------------------------------------------------------------------------
# Running the analyzer


class Dump:
    """A dump, what its program recorded, and the analyzer's output on it. Runs are
    memoized and may be started ahead (prefetch) on a small pool: the tests share them."""

    def __init__(self, path, exp, result):
        self.path = str(path)
        self.exp = exp
        self.result = result
        self._memo = {}
        self._rows = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2)

    def _exec(self, args, threads):
        argv = [BIN, "--threads", str(threads), args[0], self.path] + list(args[1:])
        return subprocess.run(argv, capture_output=True, timeout=300)

    def _future(self, args, threads):
        key = (tuple(args), threads)
        with self._lock:
            f = self._memo.get(key)
            if f is None:
                f = self._memo[key] = self._pool.submit(self._exec, key[0], threads)
        return f

    def prefetch(self, commands):
        for c, _ in commands:
            self._future(c, 2)
        for c, both in commands:
            if both:
                self._future(c, 1)

    def close(self):
        self._pool.shutdown(wait=True)

    def run(self, *args, threads=2):
        """`heapsnap --threads T <command> <dump> <args...>`: CompletedProcess with bytes
        stdout and stderr."""
        return self._future(args, threads).result()

    def ok(self, *args, threads=2):
        p = self.run(*args, threads=threads)
        assert p.returncode == 0, "heapsnap %s failed (%d): %s" % (
            " ".join(args), p.returncode, p.stderr.decode(errors="replace"))
        return p.stdout

    def json(self, *args, threads=2):
        env = json.loads(self.ok(*(args + ("--json",)), threads=threads))
        assert env["schema"] == 1 and env["kind"] == args[0], (env["schema"], env["kind"])
        return env["data"]

    def rows(self, *extra):
        """`export --format jsonl` rows by address."""
        if extra not in self._rows:
            out = self.ok("export", "--format", "jsonl", *extra).decode()
            rows = [json.loads(line) for line in out.splitlines()]
            by_addr = {r["address"]: r for r in rows}
            assert len(by_addr) == len(rows) == self.result["objects"]
            self._rows[extra] = by_addr
        return self._rows[extra]


def cache_commands(d):
    """The cache dump's analyzer runs, prefetched for the tests that use them; the ones
    marked True also run with --threads 1 and must print the same bytes."""
    t, n = d.exp["target"], d.exp["n"]
    return [
        (("top", "--by", "retained", "-n", "0", "--json"), True),
        (("top", "--by", "count", "-n", "0", "--json"), False),
        (("top", "--by", "size", "-n", "0", "--json"), False),
        (("top",), True),
        (("dominators", "-n", str(n + 5), "--depth", "4", "--json"), True),
        (("dominators",), True),
        (("cycles", "-n", "0", "--json"), True),
        (("path", t, "--json"), True),
        (("path", "Blob", "-k", str(n + 1), "--json"), True),
        (("path", "Item", "--json"), False),
        (("refs", t, "--back", "--depth", "1", "--json"), False),
        (("refs", t, "--depth", "2", "--json"), False),
        (("refs", t, "--format", "dot"), False),
        (("refs", t, "--format", "dot", "--back"), True),
        (("refs", t), True),
        (("export", "--format", "jsonl"), True),
        (("export", "--format", "csv"), True),
    ]


def cycles_commands(d):
    e = d.exp
    return [
        (("top", "--by", "count", "-n", "0", "--json"), False),
        (("top", "--by", "retained"), True),
        (("cycles", "-n", "0", "--json"), True),
        (("cycles", "-n", "0", "--all-edges", "--json"), False),
        (("cycles", "--all-edges"), True),
        (("dominators", "--json"), True),
        (("path", e["alive3"], "--json"), False),
        (("path", e["garbage"][0][0], "--json"), False),
        (("path", "Parent", "--json"), False),
        (("path", "Parent"), True),
        (("refs", e["fn"], "--back", "--json"), True),
        (("export", "--format", "jsonl"), False),
        (("export", "--format", "jsonl", "--all-edges"), True),
    ]


@pytest.fixture(scope="module", params=MINORS)
def py(request):
    exe = INTERPRETERS.get(request.param)
    if exe is None:
        pytest.skip("CPython %s is not installed (pyenv versions --bare): skipped"
                    % request.param)
    return exe


def _make(py, factory, name, program, args, commands):
    tmp = factory.mktemp(name)
    out = tmp / "heap.hsnap"
    run_program(py, program, tmp, [out] + list(args))
    with open(str(out) + ".json") as f:
        exp = json.load(f)
    with open(str(out) + ".result.json") as f:
        result = json.load(f)
    assert result["ok"], result["error"]
    d = Dump(out, exp, result)
    d.prefetch(commands(d))
    return d


@pytest.fixture(scope="module")
def cache_dump(py, tmp_path_factory):
    d = _make(py, tmp_path_factory, "cache", CACHE_PROGRAM, [N_BLOBS, PAYLOAD],
              cache_commands)
    yield d
    d.close()


@pytest.fixture(scope="module")
def cycles_dump(py, tmp_path_factory):
    d = _make(py, tmp_path_factory, "cycles", CYCLES_PROGRAM,
              [K_PAIRS, M_PAIRS, KD_PAIRS, BIG], cycles_commands)
    yield d
    d.close()


def key_labels(key):
    """How the analyzer may label the edge to a dict's value under the str `key` (the
    quoting is being changed: Rust debug quotes, or plain single quotes)."""
    return ('["%s"]' % key, "['%s']" % key)


def _walk_tree(nodes, parent=None):
    for n in nodes:
        yield n, parent
        yield from _walk_tree(n["children"], n)


# ---------------------------------------------------------------------------
# The cache: retained sizes, dominators, the path to one blob


def test_summary_matches_dump(cache_dump, cycles_dump):
    for d in (cache_dump, cycles_dump):
        s = d.json("top", "--by", "count", "-n", "0")["summary"]
        assert s["objects"] == d.result["objects"]
        assert s["edges"] == d.result["edges"]
        assert s["dangling_edges"] == 0
        assert s["reachable_objects"] + s["unreachable_objects"] == s["objects"]


def test_blob_retained_sizes_exact(cache_dump):
    exp = cache_dump.exp
    rows = cache_dump.rows()
    for addr, b in exp["blobs"].items():
        r = rows[addr]
        assert r["type"] == "__main__.Blob"
        assert r["shallow_size"] == b["shallow"], "blob %s shallow size" % addr
        assert r["retained_size"] == b["retained"], (
            "blob %s (%s): retained %d, expected shallow + payload + tag + own dict = %d"
            % (addr, b["key"], r["retained_size"], b["retained"]))
        assert r["idom"] == exp["cache"], "blob %s not dominated by the cache" % addr
        assert r["reachable"] and r["distance"] is not None and r["cycle"] is None
        p = rows[b["payload"]]
        assert p["type"] == "bytes" and p["shallow_size"] == b["payload_size"]
        # the payload belongs to the blob directly, or through the blob's __dict__
        assert p["idom"] == (b["dict"][0] if b["dict"] else addr)
        for d in b["dict"]:
            assert rows[d]["idom"] == addr
    c = rows[exp["cache"]]
    assert c["shallow_size"] == exp["cache_shallow"]
    assert c["retained_size"] == exp["cache_retained"]


def test_top_by_retained(cache_dump):
    exp = cache_dump.exp
    data = cache_dump.json("top", "--by", "retained", "-n", "0")
    assert data["by"] == "retained" and data["more_types"] == 0
    rows = {r["type"]: r for r in data["types"]}
    keys = [(r["retained"], r["shallow"]) for r in data["types"]]
    assert keys == sorted(keys, reverse=True), "not sorted by retained"
    blobs = exp["blobs"].values()
    blob = rows["__main__.Blob"]
    assert blob["count"] == exp["n"] and blob["unreachable"] == 0
    assert blob["shallow"] == sum(b["shallow"] for b in blobs)
    # no blob retains another: the type's retained bytes are the sum of the blobs'
    assert blob["retained"] == sum(b["retained"] for b in blobs)
    total = data["summary"]["shallow_bytes"]
    # percent of the heap's shallow bytes, rounded to one decimal
    assert blob["heap_percent"] == round(1000.0 * blob["retained"] / total) / 10.0
    # the cache dict is one of the dicts: the type's row retains at least what it does,
    # which is at least every blob's shallow size plus its payload
    floor = sum(b["shallow"] + b["payload_size"] for b in blobs)
    assert exp["cache_retained"] >= floor
    assert rows["dict"]["retained"] >= exp["cache_retained"]
    assert rows["bytes"]["count"] >= exp["n"]


def test_top_by_count_and_size(cache_dump):
    exp = cache_dump.exp
    for by, key in (("count", lambda r: (r["count"], r["shallow"])),
                    ("size", lambda r: (r["shallow"], r["count"]))):
        data = cache_dump.json("top", "--by", by, "-n", "0")
        assert data["by"] == by
        assert all("retained" not in r for r in data["types"])
        keys = [key(r) for r in data["types"]]
        assert keys == sorted(keys, reverse=True), "top --by %s not sorted" % by
        rows = {r["type"]: r for r in data["types"]}
        assert rows["__main__.Blob"]["count"] == exp["n"]
        assert rows["__main__.Item"]["count"] == exp["item_count"]
        assert sum(r["count"] for r in data["types"]) == cache_dump.result["objects"]
    limited = cache_dump.json("top", "--by", "count", "-n", "3")
    assert len(limited["types"]) == 3
    assert limited["more_types"] == len(data["types"]) - 3


def test_dominators_cache_dominates_blobs(cache_dump):
    exp = cache_dump.exp
    n = exp["n"]
    data = cache_dump.json("dominators", "-n", str(n + 5), "--depth", "4")
    found = [(node, parent) for node, parent in _walk_tree(data["tree"])
             if node["address"] == exp["cache"]]
    assert found, "the cache dict is not in the dominator tree"
    node, _ = found[0]
    assert node["retained"] == exp["cache_retained"]
    kids = {c["address"]: c for c in node["children"]}
    # the cache immediately dominates its N blobs and N keys; -n N+5 shows the N biggest
    # (every blob is bigger than every key), biggest first
    assert set(exp["blobs"]) <= set(kids), "blobs missing under the cache dict"
    for addr, b in exp["blobs"].items():
        assert kids[addr]["type"] == "__main__.Blob"
        assert kids[addr]["retained"] == b["retained"]
    sizes = [c["retained"] for c in node["children"]]
    assert sizes == sorted(sizes, reverse=True)
    shown = sum(sizes)
    assert shown + node["more"]["retained"] + node["shallow"] == node["retained"]
    assert len(node["children"]) + node["more"]["count"] == 2 * n
    assert data["reachable_bytes"] <= data["summary"]["shallow_bytes"]


def test_path_to_one_blob(cache_dump):
    exp = cache_dump.exp
    data = cache_dump.json("path", exp["target"])
    assert data["target"]["address"] == exp["target"]
    assert data["target"]["type"] == "__main__.Blob"
    assert data["depth"] is not None and data["depth"] >= 2
    assert data["paths"], "no path to a reachable blob"
    for p in data["paths"]:
        steps = p["steps"]
        assert steps[-1]["object"]["address"] == exp["target"]
        assert "edge" not in steps[0]
        assert len(steps) >= data["depth"] + 1
    first = data["paths"][0]["steps"]
    assert len(first) == data["depth"] + 1, "the first path is not a shortest one"
    # the only referrer of the blob is the cache, under the blob's identifier-like key
    assert first[-2]["object"]["address"] == exp["cache"]
    assert first[-1]["edge"] in key_labels(exp["target_key"])
    assert first[-2]["edge"] in key_labels("cache")     # the module globals' key
    chain = data["paths"][0]["chain"]
    assert any("dict%s -> dict%s -> __main__.Blob" % (c, t) in chain
               for c, t in zip(key_labels("cache"), key_labels(exp["target_key"]))), chain
    assert len(data["paths"]) == 1, "one referrer, one path"


# ---------------------------------------------------------------------------
# Paths to a type's instances, merged by shape


def test_path_to_type_reaches_every_instance(cache_dump):
    exp = cache_dump.exp
    n = exp["n"]
    data = cache_dump.json("path", "Blob", "-k", str(n + 1))
    assert data["type"] == "Blob"
    assert data["instances"] == n and data["unreachable_instances"] == 0
    assert sum(g["instances"] for g in data["groups"]) == n
    assert data["more_groups"] == 0
    examples = {g["example"]["address"] for g in data["groups"]}
    assert examples <= set(exp["blobs"])
    for g in data["groups"]:
        assert any(lab in g["chain"] for lab in key_labels("cache")), g["chain"]
        assert g["chain"].endswith("__main__.Blob")
    # the display name works too
    full = cache_dump.json("path", "__main__.Blob", "-k", "1")
    assert full["instances"] == n


def test_path_to_type_merges_dict_keys(cache_dump):
    n = cache_dump.exp["n"]
    data = cache_dump.json("path", "Blob", "-k", str(n + 1))
    assert len(data["groups"]) <= 3, "%d groups for %d instances held by one dict" % (
        len(data["groups"]), n)
    assert data["groups"][0]["instances"] >= n - 2


def test_path_to_type_merges_list_positions(cache_dump):
    exp = cache_dump.exp
    data = cache_dump.json("path", "Item")
    assert data["instances"] == exp["item_count"] and data["unreachable_instances"] == 0
    assert len(data["groups"]) == 1 and data["more_groups"] == 0
    g = data["groups"][0]
    assert g["instances"] == exp["item_count"]
    assert any("%s -> list[*] -> __main__.Item" % lab in g["chain"]
               for lab in key_labels("items")), g["chain"]


# ---------------------------------------------------------------------------
# refs


def test_refs_back_lists_the_cache(cache_dump):
    exp = cache_dump.exp
    data = cache_dump.json("refs", exp["target"], "--back", "--depth", "1")
    assert data["direction"] == "referrers" and not data["truncated"]
    objs = data["objects"]
    assert objs[0]["address"] == exp["target"] and objs[0]["distance"] == 0
    pos = {o["address"]: i for i, o in enumerate(objs)}
    assert exp["cache"] in pos, "the cache dict is not among the blob's referrers"
    assert objs[pos[exp["cache"]]]["distance"] == 1
    assert any(r["from"] == pos[exp["cache"]] and r["to"] == 0
               and r.get("label") in key_labels(exp["target_key"])
               for r in data["references"]), data["references"]
    assert all(o["distance"] <= 1 for o in objs)


def test_refs_forward_reaches_the_payload(cache_dump):
    exp = cache_dump.exp
    b = exp["blobs"][exp["target"]]
    data = cache_dump.json("refs", exp["target"], "--depth", "2")
    assert data["direction"] == "referents"
    pos = {o["address"]: i for i, o in enumerate(data["objects"])}
    assert b["payload"] in pos
    payload = data["objects"][pos[b["payload"]]]
    assert payload["type"] == "bytes" and payload["shallow"] == b["payload_size"]
    if b["dict"]:    # through the instance __dict__, under the attribute's name
        assert payload["distance"] == 2
        assert any(r["from"] == pos[b["dict"][0]] and r["to"] == pos[b["payload"]]
                   and r.get("label") in key_labels("payload")
                   for r in data["references"]), data["references"]
    else:            # values kept inline: a direct reference
        assert payload["distance"] == 1
        assert any(r["from"] == 0 and r["to"] == pos[b["payload"]]
                   for r in data["references"])


def _dot_balanced(text):
    """True if braces balance outside DOT string literals."""
    depth, in_str, esc = 0, False, False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not in_str


def test_refs_dot(cache_dump, tmp_path):
    exp = cache_dump.exp
    for back in ((), ("--back",)):
        text = cache_dump.ok("refs", exp["target"], "--format", "dot", *back).decode()
        assert text.startswith("digraph"), text[:80]
        assert text.rstrip().endswith("}")
        assert _dot_balanced(text), "unbalanced braces in DOT output"
        assert exp["target"] in text
        assert " -> " in text
        if back:
            assert exp["cache"] in text
        # -o writes the same bytes to a file, nothing to stdout
        out = tmp_path / ("refs%d.dot" % len(back))
        assert cache_dump.ok("refs", exp["target"], "--format", "dot", *back,
                             "-o", str(out)) == b""
        assert out.read_text() == text


# ---------------------------------------------------------------------------
# Cycles: Parent <-> Child pairs with __del__, reachable and garbage; a closure


def _types(group):
    return Counter({t["type"]: t["count"] for t in group["types"]})


def test_cycles_parent_child(cycles_dump):
    exp = cycles_dump.exp
    assert cycles_dump.result["gc_enabled"] is False
    data = cycles_dump.json("cycles", "-n", "0")
    assert data["all_edges"] is False
    assert data["cycles"] == sum(g["cycles"] for g in data["groups"])
    assert data["group_count"] == len(data["groups"])
    want = Counter({"__main__.Parent": 1, "__main__.Child": 1})
    groups = [g for g in data["groups"] if _types(g) == want]
    assert len(groups) == 1, "no single Parent + Child group: %s" % [
        g["types"] for g in data["groups"] if "__main__.Parent" in _types(g)]
    g = groups[0]
    k, m = exp["k"], exp["m"]
    assert g["cycles"] == k + m
    assert g["reachable_cycles"] == k
    assert g["finalizer"] is True
    assert g["objects"] == 2 * (k + m)
    assert g["shallow"] == (k + m) * exp["pair_bytes"]
    # a reachable pair: the list holds the parent, which alone holds the child; an
    # unreachable pair frees its own bytes
    assert g["retained"] == (k + m) * exp["pair_bytes"]
    assert g["example_size"] == 2 and len(g["example"]) == 2
    assert g["example_retained"] == exp["pair_bytes"]
    assert sorted(o["type"] for o in g["example"]) == ["__main__.Child", "__main__.Parent"]
    # export: each pair is its own 2-object component
    rows = cycles_dump.rows()
    ids = set()
    for p, c in exp["pairs"] + exp["garbage"]:
        assert rows[p]["cycle"] == rows[c]["cycle"] is not None
        assert rows[p]["cycle_size"] == rows[c]["cycle_size"] == 2
        ids.add(rows[p]["cycle"])
    assert len(ids) == k + m
    # no other group holds Parent or Child
    others = [x for x in data["groups"] if x is not g
              and ({"__main__.Parent", "__main__.Child"} & set(_types(x)))]
    assert others == []


def test_cycles_dict_pairs(cycles_dump):
    exp = cycles_dump.exp
    data = cycles_dump.json("cycles", "-n", "0")
    # the DParent <-> DChild cycle runs through the instances' __dict__ objects when
    # they have them (before 3.11), directly otherwise
    want = Counter({"__main__.DParent": 1, "__main__.DChild": 1})
    if exp["dpair_dicts"]:
        want["dict"] = exp["dpair_dicts"]
    groups = [g for g in data["groups"] if _types(g) == want]
    assert len(groups) == 1, [g["types"] for g in data["groups"]
                              if "__main__.DParent" in _types(g)]
    g = groups[0]
    assert g["cycles"] == g["reachable_cycles"] == exp["kd"]
    assert g["finalizer"] is True      # DParent has __del__, DChild does not


def test_unreachable_pairs(cycles_dump):
    exp = cycles_dump.exp
    m, k = exp["m"], exp["k"]
    data = cycles_dump.json("top", "--by", "count", "-n", "0")
    s = data["summary"]
    assert s["unreachable_objects"] >= 2 * m
    assert s["unreachable_bytes"] >= m * exp["pair_bytes"]
    rows = {r["type"]: r for r in data["types"]}
    for t in ("__main__.Parent", "__main__.Child"):
        assert rows[t]["count"] == k + m
        assert rows[t]["unreachable"] == m
    rows = cycles_dump.rows()
    for p, c in exp["garbage"]:
        for a in (p, c):
            r = rows[a]
            assert not r["reachable"] and r["distance"] is None and r["idom"] is None
            assert r["retained_size"] == 0 and r["cycle_size"] == 2
        assert rows[p]["cycle"] == rows[c]["cycle"] is not None
    # path to the type: every instance counted, the garbage ones as unreachable
    data = cycles_dump.json("path", "Parent")
    assert data["instances"] == k + m and data["unreachable_instances"] == m
    assert sum(g["instances"] for g in data["groups"]) == k
    # path to garbage: no path, depth absent
    p0 = exp["garbage"][0][0]
    data = cycles_dump.json("path", p0)
    assert data["depth"] is None and data["paths"] == []
    assert data["target"]["address"] == p0


def test_path_to_reachable_parent(cycles_dump):
    exp = cycles_dump.exp
    data = cycles_dump.json("path", exp["alive3"])
    steps = data["paths"][0]["steps"]
    assert steps[-1]["object"]["address"] == exp["alive3"]
    assert steps[-2]["object"]["address"] == exp["alive"]
    assert steps[-1]["edge"] == "[3]"          # a list position
    assert steps[-2]["edge"] in key_labels("alive")


def test_closure_cycle(cycles_dump):
    exp = cycles_dump.exp
    members = {exp["fn"], exp["closure"], exp["cell"]}
    data = cycles_dump.json("cycles", "-n", "0")
    want = Counter({"function": 1, "tuple": 1, "cell": 1})
    groups = [g for g in data["groups"] if _types(g) == want]
    assert len(groups) == 1, "no function + tuple + cell group"
    g = groups[0]
    assert g["reachable_cycles"] >= 1
    assert g["finalizer"] is False
    # the padding default makes this closure the group's biggest cycle: its example
    assert {o["address"] for o in g["example"]} == members
    assert g["example_retained"] >= exp["fn_retained_min"]
    # export: exactly the function, its closure tuple and the cell form its component
    rows = cycles_dump.rows()
    cid = rows[exp["fn"]]["cycle"]
    assert cid is not None and rows[exp["fn"]]["cycle_size"] == 3
    assert {a for a, r in rows.items() if r["cycle"] == cid} == members
    assert rows[exp["closure"]]["idom"] == exp["fn"]
    assert rows[exp["cell"]]["idom"] == exp["closure"]


def test_cycles_all_edges(cycles_dump):
    """Housekeeping edges only add edges: every object on a cycle without them is on a
    cycle with them, so the objects on cycles cannot decrease. (The number of cycles is
    not monotone in general, components merge; what merges here is asserted exactly.)"""
    exp = cycles_dump.exp
    base = cycles_dump.json("cycles", "-n", "0")
    full = cycles_dump.json("cycles", "-n", "0", "--all-edges")
    assert full["all_edges"] is True
    on_cycles = sum(g["objects"] for g in base["groups"])
    on_cycles_all = sum(g["objects"] for g in full["groups"])
    assert on_cycles_all >= on_cycles
    assert full["summary"] == base["summary"]
    rows = cycles_dump.rows()
    rows_all = cycles_dump.rows("--all-edges")
    in_cycle = {a for a, r in rows.items() if r["cycle"] is not None}
    in_cycle_all = {a for a, r in rows_all.items() if r["cycle"] is not None}
    assert in_cycle <= in_cycle_all
    assert len(in_cycle) == on_cycles and len(in_cycle_all) == on_cycles_all
    # objects sharing a component without housekeeping edges share one with them
    members = [exp["fn"], exp["closure"], exp["cell"]]
    assert len({rows_all[a]["cycle"] for a in members}) == 1
    # With them, the module's globals join its reachable cycles into one component:
    # fn -> globals -> fn, and each reachable pair -> its type -> Parent.__del__ ->
    # globals -> alive -> the pair. The garbage pairs reach the module but nothing
    # reaches them back: they stay M separate 2-object cycles.
    module = rows_all[exp["alive"]]["cycle"]
    assert module is not None
    assert rows_all[exp["fn"]]["cycle"] == module
    assert rows_all[exp["fn"]]["cycle_size"] > 3 + 2 * exp["k"]
    for p, c in exp["pairs"]:
        assert rows_all[p]["cycle"] == rows_all[c]["cycle"] == module
    garbage_ids = set()
    for p, c in exp["garbage"]:
        assert rows_all[p]["cycle"] == rows_all[c]["cycle"] != module
        assert rows_all[p]["cycle_size"] == 2
        garbage_ids.add(rows_all[p]["cycle"])
    assert len(garbage_ids) == exp["m"]
    want = Counter({"__main__.Parent": 1, "__main__.Child": 1})
    g = [g for g in full["groups"] if _types(g) == want]
    assert len(g) == 1 and g[0]["cycles"] == exp["m"] and g[0]["reachable_cycles"] == 0
    # retained sizes and dominators do not depend on the cycle search
    for a in members:
        assert rows_all[a]["retained_size"] == rows[a]["retained_size"]
        assert rows_all[a]["idom"] == rows[a]["idom"]


# ---------------------------------------------------------------------------
# export


def test_export_formats_agree(cache_dump, tmp_path):
    rows = cache_dump.rows()
    csv_text = cache_dump.ok("export", "--format", "csv").decode()
    import csv
    import io
    table = list(csv.DictReader(io.StringIO(csv_text)))
    assert len(table) == len(rows)
    for t in table:
        r = rows[t["address"]]
        assert t["type"] == r["type"]
        assert int(t["shallow_size"]) == r["shallow_size"]
        assert int(t["retained_size"]) == r["retained_size"]
        assert t["idom"] == (r["idom"] or "")
        assert t["reachable"] == ("true" if r["reachable"] else "false")
    out = tmp_path / "rows.jsonl"
    summary = cache_dump.json("export", "--format", "jsonl", "-o", str(out))
    assert summary["rows"] == len(rows) and summary["format"] == "jsonl"
    assert out.read_bytes() == cache_dump.ok("export", "--format", "jsonl")


# ---------------------------------------------------------------------------
# The same output for any number of threads


def test_threads_do_not_change_output(cache_dump, cycles_dump):
    for d, commands in ((cache_dump, cache_commands), (cycles_dump, cycles_commands)):
        for c, both in commands(d):
            if not both:
                continue
            one, two = d.ok(*c, threads=1), d.ok(*c, threads=2)
            assert one, "empty output: heapsnap %s" % " ".join(c)
            assert one == two, "--threads 1 and 2 differ for: heapsnap %s" % " ".join(c)


# ---------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("args,needle", [
    (("path", "0x10"), "0x10"),
    (("refs", "0x10"), "0x10"),
    (("path", "NoSuchTypeAnywhere"), "NoSuchTypeAnywhere"),
    (("refs", "NoSuchTypeAnywhere"), "NoSuchTypeAnywhere"),
    (("path", "#4000000000"), "4000000000"),
    (("path", "0xnothex"), "0xnothex"),
])
def test_errors(cache_dump, args, needle):
    p = cache_dump.run(*args)
    err = p.stderr.decode()
    assert p.returncode == 2, (p.returncode, err)
    assert p.stdout == b""
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith("heapsnap: "), err
    assert needle in lines[0], err
    if args[1] == "0x10":      # the same error with --json: nothing on stdout
        pj = cache_dump.run(*(args + ("--json",)))
        assert pj.returncode == 2 and pj.stdout == b"" and pj.stderr == p.stderr


def test_error_near_type_name(cache_dump):
    """An unknown type name close to a real one suggests it."""
    p = cache_dump.run("path", "blo")
    err = p.stderr.decode()
    assert p.returncode == 2 and len(err.splitlines()) == 1
    assert err.startswith("heapsnap: ") and "Blob" in err
