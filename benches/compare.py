"""heapsnap against the Python heap tools, on one real heap (a benchmark, not a test).

    python3 benches/compare.py [N_OBJECTS] [ROUNDS]

Creates (once) a throwaway venv target/compare-venv-pyX.Y with this interpreter, installs
guppy3, objgraph and pympler from PyPI (and tries meliae), and re-executes itself in it.
Builds the heap of tools/python/bench_dump.py (default about 1,000,000 objects) and
measures, in this one process, ROUNDS times (default 3; min and median):

  phase 1, the heap as built:
    heapsnap  dump (heapsnap.dumper.dump, in-process, defaults) + analysis with the
              release binary: `top --by retained -n 0 --json` and `dominators --json`
              (wall time of each, the analyzer's peak RSS from wait4)
    objgraph  most_common_types(), show_growth() (counts of gc-tracked objects; no sizes)
    pympler   summary.summarize(muppy.get_objects()) (counts and sys.getsizeof per type)
    meliae    scanner.dump_all_objects + loader.load(...).summarize(), if it built
  phase 2, after guppy3's first heap() (it changes the heap: on 3.11 it materializes the
  __dict__ of every instance that keeps its attributes inline):
    guppy3    hpy().heap(), then for each of heapsnap's top 5 types by retained size the
              dominated set of all its instances and its size (`(H & hp.Type(T)).dominos`);
              in the last round also the dominated size of every type (what `top -n 0`
              lists), once
    heapsnap  the same dump + analysis, interleaved with the guppy rounds: the same heap

Then it compares the results: per type retained bytes against guppy's dominated size,
and per type counts and shallow bytes against guppy, pympler and objgraph. heapsnap's
retained bytes of a type are the union of its instances' dominator subtrees; guppy's
dominated size of a set is what the whole set dominates jointly (objects every path from
its root passes through *some* instance): a superset. To separate the definitions from
everything else, the script recomputes guppy's definition on heapsnap's own graph (the
last dump, heapsnap's roots: pure-Python reachability with and without the instances),
then compares that set with guppy's object by object (by address) and says, for the
objects only guppy counts, through which edge or root heapsnap's graph reaches them.

pympler imports _testcapi, whose un-readied static type crashes the dumper on 3.8-3.11;
the script readies it first and says so (see ready_testcapi_types).

Needs the release binary (built with `cargo build --release` when missing) and network
access to PyPI the first time. Takes a few minutes and ~2 GB of memory at 1M objects.
"""

import gc
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from array import array

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "compare-venv-py%d.%d" % sys.version_info[:2])
BIN = os.path.join(ROOT, "target", "release", "heapsnap")
TOOLS = ["guppy3", "objgraph", "pympler"]
TOP_TYPES = 5


# ---------------------------------------------------------------- venv and binary

def _build_error(text):
    """The line of a failed pip build that says why."""
    lines = [l.strip() for l in text.splitlines()]
    for pat in ("fatal error", "error:", "Error"):
        hits = [l for l in lines if pat in l and "subprocess" not in l
                and not l.startswith("ERROR: Failed building") and "note:" not in l]
        if hits:
            return hits[0]
    return lines[-1] if lines else "unknown"


def ensure_venv():
    """Create the venv once, then re-execute this script inside it."""
    py = os.path.join(VENV, "bin", "python")
    ready = os.path.join(VENV, "compare-ready")
    if not os.path.exists(ready):
        print("creating %s (pip install %s; trying meliae)" % (VENV, " ".join(TOOLS)),
              flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
                       + TOOLS, check=True)
        r = subprocess.run([py, "-m", "pip", "install", "--disable-pip-version-check",
                            "meliae"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        with open(os.path.join(VENV, "meliae-status"), "w") as f:
            f.write("ok" if r.returncode == 0 else "did not build: " + _build_error(r.stdout))
        open(ready, "w").close()
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


def ensure_binary():
    if not os.path.exists(BIN):
        print("building %s (cargo build --release)" % BIN, flush=True)
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)


# ---------------------------------------------------------------- measuring

def run_bin(args, out_path):
    """Run the analyzer with stdout to a file: (wall seconds, peak RSS bytes)."""
    with open(out_path, "wb") as f:
        t = time.perf_counter()
        p = subprocess.Popen([BIN] + args, stdout=f)
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t
    p.returncode = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    if p.returncode != 0:
        sys.exit("heapsnap %s failed (status %d)" % (" ".join(args), status))
    return dt, ru.ru_maxrss * 1024


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def type_name(T):
    mod = getattr(T, "__module__", None)
    q = getattr(T, "__qualname__", T.__name__)
    return q if mod in (None, "", "builtins") or not isinstance(mod, str) else mod + "." + q


def types_by_name():
    """Every live type by heapsnap's name for it; None where a name is ambiguous."""
    out, seen, stack = {}, set(), [object]
    while stack:
        T = stack.pop()
        if id(T) in seen:
            continue
        seen.add(id(T))
        n = type_name(T)
        out[n] = None if n in out else T
        try:
            stack.extend(type.__subclasses__(T))
        except TypeError:
            pass
    return out


def ready_testcapi_types():
    """Work around a dumper crash: pympler.asizeof imports _testcapi, whose
    _test_structmembersType (3.8 to 3.11) is a static type left un-readied on purpose
    (tp_bases NULL, flags 0). type.__dict__["__bases__"].__get__ on it, as the dumper
    calls it, dereferences NULL: a segfault of the dumped process. A normal attribute
    lookup readies the type (PyType_Ready), after which the dump is fine."""
    m = sys.modules.get("_testcapi")
    if m is None:
        return []
    flags = type.__dict__["__flags__"].__get__
    notes = []
    for k, v in list(vars(m).items()):
        if type(v) is type and not flags(v) & (1 << 12):        # Py_TPFLAGS_READY
            getattr(v, "__doc__", None)
            notes.append("WORKAROUND: _testcapi.%s (imported by pympler) was a static type "
                         "not yet readied (flags 0): the heapsnap dumper segfaults on it; "
                         "readied it by an attribute lookup" % k)
    return notes


def heapsnap_round(tmp, tag):
    path = os.path.join(tmp, tag + ".hsnap")
    if os.path.exists(path):
        os.unlink(path)
    gc.collect()
    t = time.perf_counter()
    r = dumper.dump(path)
    dump_s = time.perf_counter() - t
    if not r.ok:
        sys.exit("dump failed: %s" % r.error)
    top_out, dom_out = path + ".top.json", path + ".dom.json"
    top_s, top_rss = run_bin(["top", path, "--by", "retained", "-n", "0", "--json"], top_out)
    dom_s, dom_rss = run_bin(["dominators", path, "--json"], dom_out)
    with open(top_out) as f:
        top = json.load(f)["data"]
    with open(dom_out) as f:
        dom = json.load(f)["data"]
    return {"path": path, "objects": r.objects, "edges": r.edges, "bytes": r.bytes,
            "dump": dump_s, "top": top_s, "dom": dom_s, "analysis": top_s + dom_s,
            "total": dump_s + top_s + dom_s, "rss": max(top_rss, dom_rss),
            "types": {t["type"]: t for t in top["types"]},
            "order": [t["type"] for t in top["types"]],
            "summary": top["summary"],
            "dom_first": dom["tree"][0]["type"] if dom["tree"] else None}


# ---------------------------------------------------------------- guppy's definition on heapsnap's graph

class Graph:
    """The object graph of a dump with heapsnap's roots (explicit + refcount surplus)."""

    def __init__(self, path):
        import struct
        from array import array
        sys.path.insert(0, os.path.join(ROOT, "tools", "python", "tests"))
        import hsnap_reader
        assert sys.byteorder == "little"
        with open(path, "rb") as f:
            s = hsnap_reader.sections(f.read())       # layout and checksums

        def col(kind, code):
            a = array(code)
            a.frombytes(s.get(kind, b""))
            return a
        offs, raw = col(2, "Q"), s[3]
        strings = [raw[a:b].decode() for a, b in zip(offs, offs[1:])]
        names = []
        for i in range(0, len(s[4]), 24):
            _, name, module, _, _ = struct.unpack_from("<QIIII", s[4], i)
            m = strings[module]
            names.append(strings[name] if m in ("", "builtins") else m + "." + strings[name])
        addr, self.otype, size = col(5, "Q"), col(6, "I"), col(7, "I")
        rc, flags = col(8, "I"), col(9, "I")
        wide = col(15, "Q")
        for k in range(0, len(wide), 2):
            size[wide[k]] = 0            # only > 4 GiB objects; never in this heap
        self.size = size
        self.type_names = names
        self.start = col(10, "Q")
        self.index = index = {a: i for i, a in enumerate(addr)}
        get = index.get
        self.tgt = tgt = [get(a, -1) for a in col(11, "Q")]
        self.n = n = len(addr)
        found = [0] * n
        for j in tgt:
            if j >= 0:
                found[j] += 1
        kinds = {1: "module", 2: "interpreter", 3: "thread", 5: "gc.garbage", 6: "immortal",
                 7: "other"}
        self.root_kind = {}
        for i in range(0, len(s[13]), 24):
            obj, kind = struct.unpack_from("<QI", s[13], i)
            self.root_kind.setdefault(obj, kinds.get(kind, str(kind)))
        explicit = set(self.root_kind)
        surplus = {i for i in range(n) if not flags[i] & 0x10 and rc[i] > found[i]}
        for i in surplus:
            self.root_kind.setdefault(i, "refcount surplus")
        self.roots = {"all": sorted(explicit | surplus), "explicit": sorted(explicit)}
        self.base = {}

    def reach(self, roots, avoid, parent=None):
        """What the roots reach without entering avoid (a mask); parent (an array of -1s),
        if given, receives the referrer through which each object was first reached."""
        seen = bytearray(self.n)
        stack = [r for r in roots if not avoid[r]]
        for r in stack:
            seen[r] = 1
        start, tgt = self.start, self.tgt
        pop, push = stack.pop, stack.append
        while stack:
            i = pop()
            for j in tgt[start[i]:start[i + 1]]:
                if j >= 0 and not seen[j] and not avoid[j]:
                    seen[j] = 1
                    push(j)
                    if parent is not None:
                        parent[j] = i
        return seen

    def bytes_count(self, mask):
        from itertools import compress
        return sum(compress(self.size, mask)), mask.count(1)

    def reachable(self, roots="all"):
        if roots not in self.base:
            self.base[roots] = self.reach(self.roots[roots], bytearray(self.n))
        return self.base[roots]

    def set_dominated(self, type_name, roots="all"):
        """What the instances of a type dominate as one set: what the roots reach minus
        what they reach avoiding every instance (guppy's dominos). roots: "all"
        (heapsnap's: explicit and refcount surplus) or "explicit". Returns bytes,
        objects, the mask and the parents of the avoiding search."""
        ids = {k for k, nm in enumerate(self.type_names) if nm == type_name}
        avoid = bytearray(self.n)
        ot = self.otype
        for i in range(self.n):
            if ot[i] in ids:
                avoid[i] = 1
        base = self.reachable(roots)
        parent = array("i", [-1]) * self.n
        without = self.reach(self.roots[roots], avoid, parent)
        mask = bytes(map(int.__gt__, base, without))       # reached, but not without
        return self.bytes_count(mask) + (mask, parent)

    def diff(self, mask, ids, names=None, parent=None):
        """Compare a mask of this graph with guppy's set of addresses (ids, an array):
        {"guppy_only": {type: (objects, bytes)}, "heapsnap_only": ..., "outside": {type:
        objects}, "entries": {(referrer type, type): objects}}. guppy_only objects absent
        from the dump are typed with names (id -> type). With the parents of the search
        that avoided the set, "entries" says how heapsnap's graph reaches guppy_only
        objects: the first edge of the path that enters guppy's set (from "root" when
        the path starts at a heapsnap root inside guppy's set)."""
        theirs = bytearray(self.n)
        outside = {}
        get = self.index.get
        for a in ids:
            i = get(a)
            if i is None:
                t = names.get(a, "unknown") if names else "unknown"
                outside[t] = outside.get(t, 0) + 1
            else:
                theirs[i] = 1
        out = {"guppy_only": {}, "heapsnap_only": {}, "outside": outside, "entries": {}}
        tn, ot, size = self.type_names, self.otype, self.size
        reached = self.reachable()
        memo = {}
        for i in range(self.n):
            if mask[i] == theirs[i]:
                continue
            d = out["heapsnap_only" if mask[i] else "guppy_only"]
            c, b = d.get(tn[ot[i]], (0, 0))
            d[tn[ot[i]]] = (c + 1, b + size[i])
            if parent is None or mask[i] or not reached[i]:
                continue
            path, j = [], i
            while True:
                e = memo.get(j)
                if e is not None:
                    break
                path.append(j)
                p = parent[j]
                if p < 0:
                    e = ("root (%s)" % self.root_kind.get(j, "?"), tn[ot[j]])
                    break
                if not theirs[p]:
                    e = (tn[ot[p]], tn[ot[j]])
                    break
                j = p
            for k in path:
                memo[k] = e
            out["entries"][e] = out["entries"].get(e, 0) + 1
        return out

# ---------------------------------------------------------------- main

def med(xs):
    return statistics.median(xs)


def main():
    global dumper
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    sys.path.insert(0, os.path.join(ROOT, "tools", "python"))
    import bench_dump
    from heapsnap import dumper
    import objgraph
    from pympler import muppy, summary
    from guppy import hpy
    try:
        from importlib.metadata import version
    except ImportError:                      # 3.7
        version = lambda name: "?"
    for note in ready_testcapi_types():
        print(note)
    with open(os.path.join(VENV, "meliae-status")) as f:
        meliae_status = f.read().strip()
    if meliae_status == "ok":
        from meliae import scanner, loader

    out = subprocess.run(["uptime"], stdout=subprocess.PIPE, universal_newlines=True).stdout
    print("CPython %s, %s; load before: %s" % (sys.version.split()[0], os.uname().machine,
                                               out.strip()))
    print("tools: %s; meliae: %s" % (", ".join("%s %s" % (t, version(t)) for t in TOOLS),
                                     meliae_status))
    global HEAP              # module state, as in a service (a local would be held by a frame)
    HEAP = bench_dump.build(n)
    gc.collect()
    tmp = tempfile.mkdtemp(prefix="heapsnap-compare-")
    T = {}                       # timings: name -> list of seconds

    def add(name, s):
        T.setdefault(name, []).append(s)

    # ---- phase 1: the heap as built
    counts = {}
    A = None
    for k in range(rounds):
        print("phase 1, round %d/%d" % (k + 1, rounds), flush=True)
        r = heapsnap_round(tmp, "a")
        A = A or r
        for key in ("dump", "analysis", "top", "dom", "total"):
            add("hs1." + key, r[key])
        add("hs1.rss", r["rss"])
        del r
        gc.collect()
        s, mct = timed(lambda: objgraph.most_common_types(limit=10))
        add("objgraph.mct", s)
        s, _ = timed(lambda: objgraph.show_growth(limit=10, peak_stats={}, file=io.StringIO()))
        add("objgraph.growth", s)
        counts["objgraph"] = {k2.replace("builtins.", ""): v for k2, v in
                              objgraph.typestats(shortnames=False).items()}
        del mct
        gc.collect()
        s, rows = timed(lambda: summary.summarize(muppy.get_objects()))
        add("pympler", s)
        counts["pympler"] = {row[0]: (row[1], row[2]) for row in rows}
        del rows
        gc.collect()
        if meliae_status == "ok":
            mpath = os.path.join(tmp, "meliae.json")
            try:
                s1, _ = timed(lambda: scanner.dump_all_objects(mpath))
                s2, om = timed(lambda: loader.load(mpath, show_prog=False))
                s3, _ = timed(lambda: om.summarize())
                add("meliae.dump", s1)
                add("meliae.load", s2 + s3)
                del om
            except Exception as e:
                meliae_status = "built, but dump_all_objects failed: %s: %s%s" % (
                    type(e).__name__, e, " (from %s: %s)" % (type(e.__cause__).__name__,
                                                          e.__cause__) if e.__cause__ else "")
            if os.path.exists(mpath):
                os.unlink(mpath)
            gc.collect()

    top = A["order"][:TOP_TYPES]
    by_name = types_by_name()
    pytypes = {t: by_name.get(t) for t in top}
    missing = [t for t, v in pytypes.items() if v is None]
    if missing:
        print("cannot resolve (or ambiguous) type names for guppy: %s" % ", ".join(missing))

    # ---- phase 2: guppy (its first heap() changes the heap), interleaved with heapsnap
    B = None
    guppy = {}
    for k in range(rounds):
        print("phase 2, round %d/%d" % (k + 1, rounds), flush=True)
        gc.collect()
        s_heap, (hp, H) = timed(lambda: (lambda hp: (hp, hp.heap()))(hpy()))
        add("guppy.heap", s_heap)
        q_total = 0.0
        for t in top:
            if pytypes[t] is None:
                continue
            s, (S, D) = timed(lambda: (lambda S: (S, S.dominos))(H & hp.Type(pytypes[t])))
            s2, dsize = timed(lambda: D.size)
            q_total += s + s2
            add("guppy.q." + t, s + s2)
            guppy[t] = {"count": S.count, "size": S.size, "domisize": dsize,
                        "dominos": D.count}
            del S, D
        add("guppy.queries", q_total)
        add("guppy.total", s_heap + q_total)
        if k == rounds - 1:          # the heap of the last dump: keep what the comparison needs
            guppy["_total"] = (H.count, H.size)
            for t in dict.fromkeys(A["order"][:8] + sorted(
                    A["types"], key=lambda x: -A["types"][x]["count"])[:8]):
                if by_name.get(t) is not None:
                    S = H & hp.Type(by_name[t])
                    guppy.setdefault(t, {}).update(count=S.count, size=S.size)
                    del S
            # what `top -n 0` gives: a retained size for every type (one round only)
            every = [t for t in A["order"] if by_name.get(t) is not None]
            t0 = time.perf_counter()
            for t in every:
                (H & hp.Type(by_name[t])).domisize
            add("guppy.every", time.perf_counter() - t0)
            # addresses (to files, not to this heap) for the address-level diffs below
            for j, t in enumerate(top):
                if pytypes[t] is not None:
                    with open(os.path.join(tmp, "dom%d.q" % j), "wb") as f:
                        array("Q", map(id, (H & hp.Type(pytypes[t])).dominos.nodes)).tofile(f)
            tix, ids, kinds = {}, array("Q"), array("I")
            for o in H.nodes:
                ids.append(id(o))
                kinds.append(tix.setdefault(type(o), len(tix)))
            with open(os.path.join(tmp, "heap.q"), "wb") as f:
                ids.tofile(f)
            with open(os.path.join(tmp, "heap.t"), "wb") as f:
                kinds.tofile(f)
            heap_types = [type_name(ty) for ty in tix]
            del tix, ids, kinds
        del hp, H
        gc.collect()
        r = heapsnap_round(tmp, "b")
        for key in ("dump", "analysis", "top", "dom", "total"):
            add("hs2." + key, r[key])
        add("hs2.rss", r["rss"])
        B = r
        del r
    HEAP = None

    # ---- guppy's definition (joint domination) on heapsnap's graph of the last dump
    print("recomputing joint domination on heapsnap's graph (pure Python)...", flush=True)
    g = Graph(B["path"])
    joint_x = {t: g.set_dominated(t, "explicit")[:2] for t in top}
    roots_n = (len(g.roots["explicit"]), len(g.roots["all"]) - len(g.roots["explicit"]),
               g.bytes_count(g.reachable("all")), g.bytes_count(g.reachable("explicit")))

    def load(name, code):
        a = array(code)
        with open(os.path.join(tmp, name), "rb") as f:
            a.frombytes(f.read())
        return a
    hids = load("heap.q", "Q")
    outside = {a: heap_types[j] for a, j in zip(hids, load("heap.t", "I"))
               if a not in g.index}
    diffs = {"(the whole heap)": g.diff(g.reachable(), hids, outside)}
    del hids
    joint = {}
    for j, t in enumerate(top):
        b, c, mask, parent = g.set_dominated(t)
        joint[t] = (b, c)
        if os.path.exists(os.path.join(tmp, "dom%d.q" % j)):
            diffs[t] = g.diff(mask, load("dom%d.q" % j, "Q"), outside, parent)
        del mask, parent
    del g, outside

    # ---- report
    mn = lambda key: min(T[key])
    hs1, hs2 = mn("hs1.total"), mn("hs2.total")
    print()
    print("heap: %d objects in heapsnap's dump as built (%d edges, %.1f MB file); %d after "
          "guppy's heap(); guppy's heap(): %d objects, %.1f MB"
          % (A["objects"], A["edges"], A["bytes"] / 1e6, B["objects"],
             guppy["_total"][0], guppy["_total"][1] / 1e6))
    print("%d rounds; seconds are min (median); 'x heapsnap' = min / heapsnap's dump + "
          "analysis min on the same heap" % rounds)
    print()
    W = "%-9s %-62s %16s %11s"
    print(W % ("tool", "what it computes", "seconds", "x heapsnap"))

    def row(tool, what, key, base=None, factor=True):
        xs = T[key]
        ratio = ("%.1fx" if min(xs) >= base else "%.2fx") % (min(xs) / base) if base else ""
        print(W % (tool, what, "%.2f (%.2f)" % (min(xs), med(xs)), ratio))

    row("heapsnap", "dump, in-process (walk, write, fsync), heap as built", "hs1.dump")
    row("", "top --by retained -n 0 --json (release binary)", "hs1.top")
    row("", "dominators --json", "hs1.dom")
    row("", "dump + analysis (analyzer peak RSS %.0f MB)" % (max(T["hs1.rss"]) / 2**20),
        "hs1.total", hs1)
    row("objgraph", "most_common_types(): counts, gc-tracked objects only", "objgraph.mct", hs1)
    row("", "show_growth(): the same counts against the last call", "objgraph.growth", hs1)
    row("pympler", "summarize(muppy.get_objects()): counts, getsizeof per type",
        "pympler", hs1)
    if "meliae.dump" in T:
        row("meliae", "dump_all_objects (JSON lines)", "meliae.dump", hs1)
        row("", "load + summarize", "meliae.load", hs1)
    else:
        print(W % ("meliae", "not measured (see below)", "-", "-"))
    row("heapsnap", "dump, after guppy's heap() (the heap guppy sees)", "hs2.dump")
    row("", "top --by retained + dominators", "hs2.analysis")
    row("", "dump + analysis (analyzer peak RSS %.0f MB)" % (max(T["hs2.rss"]) / 2**20),
        "hs2.total", hs2)
    row("guppy3", "hpy().heap(): counts and sizes per type", "guppy.heap", hs2)
    row("", "dominated size, top %d types: %s" % (TOP_TYPES, ", ".join(
        "%.2f" % mn("guppy.q." + t) for t in top if "guppy.q." + t in T)),
        "guppy.queries", hs2)
    row("", "heap() + the %d dominated sizes" % TOP_TYPES, "guppy.total", hs2)
    row("", "dominated size of all %d types top -n 0 lists (last round only)"
        % len(every), "guppy.every", hs2)
    print()
    if "meliae.dump" not in T:
        print("meliae: " + meliae_status)
    out = subprocess.run(["uptime"], stdout=subprocess.PIPE, universal_newlines=True).stdout
    print("cores: %d; load after: %s" % (os.cpu_count(), out.strip()))
    print("target: guppy's heap() + %d dominated sizes / heapsnap's dump + analysis >= 10; "
          "measured: %.2f" % (TOP_TYPES, mn("guppy.total") / hs2))

    print()
    print("Retained bytes, heapsnap's top %d types (bytes; objects in parentheses)" % TOP_TYPES)
    print("  heapsnap: union of the instances' dominator subtrees. guppy: what all instances "
          "dominate jointly")
    print("  (its `dominos`). 'joint, heapsnap graph': guppy's definition computed on "
          "heapsnap's last dump.")
    W2 = "  %-16s %11s %11s %21s %21s %21s %7s"
    print(W2 % ("type", "heapsnap", "heapsnap", "joint, heapsnap", "joint, heapsnap",
                "guppy dominos", "guppy /"))
    print(W2 % ("", "as built", "after guppy", "graph (last dump)", "explicit roots only",
                "", "joint"))
    for t in top:
        a = A["types"].get(t, {}).get("retained", 0)
        b = B["types"].get(t, {}).get("retained", 0)
        gd = guppy.get(t)
        gs = "%d (%d)" % (gd["domisize"], gd["dominos"]) if gd else "-"
        ratio = "%.3f" % (gd["domisize"] / joint[t][0]) if gd and joint[t][0] else "-"
        print(W2 % (t, a, b, "%d (%d)" % joint[t], "%d (%d)" % joint_x[t], gs, ratio))
    print("  last dump: %d explicit roots + %d refcount-surplus roots; they reach %d B (%d "
          "objects), the explicit ones alone %d B (%d)" % (roots_n[:2] + roots_n[2]
                                                          + roots_n[3]))

    print()
    print("Where guppy and heapsnap's graph disagree, by address (objects, heapsnap's bytes; "
          "'not in dump': guppy objects whose address is not in heapsnap's last dump)")
    top4 = lambda d: ", ".join("%s %d (%d B)" % (k, c, b) for k, (c, b) in sorted(
        d.items(), key=lambda kv: -kv[1][0])[:4]) or "none"
    for t, d in diffs.items():
        gb = sum(b for _, b in d["guppy_only"].values())
        hb = sum(b for _, b in d["heapsnap_only"].values())
        print("  %s: guppy only %d objects (%d B): %s" % (
            t, sum(c for c, _ in d["guppy_only"].values()), gb, top4(d["guppy_only"])))
        print("  %s  heapsnap only %d objects (%d B): %s" % (
            " " * len(t), sum(c for c, _ in d["heapsnap_only"].values()), hb,
            top4(d["heapsnap_only"])))
        if d["entries"]:
            print("  %s  heapsnap reaches the guppy-only objects through (edge into "
                  "guppy's set: objects): %s" % (" " * len(t), ", ".join(
                      "%s -> %s: %d" % (a, b, c) for (a, b), c in sorted(
                          d["entries"].items(), key=lambda kv: -kv[1])[:5])))
        if d["outside"]:
            print("  %s  not in dump %d: %s" % (" " * len(t), sum(d["outside"].values()),
                                               ", ".join("%s %d" % kv for kv in sorted(
                                                   d["outside"].items(),
                                                   key=lambda kv: -kv[1])[:4])))

    print()
    print("Counts and shallow bytes per type")
    print("  heapsnap as built vs objgraph and pympler (same heap); heapsnap after guppy's "
          "heap() vs guppy")
    W3 = "  %-16s %19s %9s %19s | %19s %19s"
    print(W3 % ("type", "heapsnap", "objgraph", "pympler", "heapsnap after", "guppy"))
    ctypes = [t for t in dict.fromkeys(top + [t for t in guppy if not t.startswith("_")])]
    for t in ctypes:
        a, b = A["types"].get(t), B["types"].get(t)
        p = counts["pympler"].get(t)
        og = counts["objgraph"].get(t)
        gd = guppy.get(t)
        f = lambda x: "%d / %d" % x if x else "-"
        print(W3 % (t, f(a and (a["count"], a["shallow"])), og if og is not None else "-",
                    f(p), f(b and (b["count"], b["shallow"])),
                    f(gd and (gd["count"], gd["size"]))))
    shutil.rmtree(tmp)


if __name__ == "__main__":
    if os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        ensure_binary()
        ensure_venv()
    main()
