"""C containers without GC traversal (dumper providers): numpy arrays and pandas frames.

Each program builds objects whose ids and sizes it records, dumps itself, and the test
checks that every one is in the dump with its exact size and the edge from its container.
numpy and pandas come from the test corpus (conftest.corpus_site, installed by
tools/setup); an interpreter without them skips with a note. The guard tests (a provider
that cannot be built, or fails on an instance) need no library and run everywhere."""

import json
import os
import subprocess

import pytest

import conftest
from conftest import load_dump, run_program, rust_note

POSITIONAL, INCOMPLETE, SIZE_ESTIMATED = 32, 64, 8


def corpus_env(python, *modules):
    """Environment that puts the interpreter's corpus site dir on PYTHONPATH, or skip."""
    site = None
    helper = getattr(conftest, "corpus_site", None)
    if helper is not None:
        site = helper(python)
    if site is None:
        # by hand: HEAPSNAP_CORPUS_SITE_3_11=/some/dir (a pip --target dir)
        out = subprocess.run([python, "-c", "import sys; print('%d_%d' % sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
        site = os.environ.get("HEAPSNAP_CORPUS_SITE_" + out)
    env = {"PYTHONPATH": site} if site else {}
    probe = subprocess.run([python, "-c", "import " + ", ".join(modules)],
                           capture_output=True, text=True, env=dict(os.environ, **env))
    if probe.returncode != 0:
        pytest.skip("%s not installed for %s (tools/setup installs the corpus): skipped"
                    % ("/".join(modules), python))
    return env


NUMPY_PROGRAM = r'''
import gc, json, sys
import numpy as np
from heapsnap import dumper

CALLED = []

class Spy:
    """Every hook records that it ran: the dumper must call none of them."""
    def __repr__(self):
        CALLED.append("__repr__"); return "Spy"
    def __eq__(self, other):
        CALLED.append("__eq__"); return False
    def __hash__(self):
        CALLED.append("__hash__"); return 1
    def __getattr__(self, name):
        CALLED.append("__getattr__:" + name); raise AttributeError(name)

class Sub(np.ndarray):
    """A subclass whose hooks must not run: the provider reads numpy's descriptors."""
    def __array_finalize__(self, obj):
        CALLED.append("__array_finalize__")
    def __getattribute__(self, name):
        CALLED.append("Sub.__getattribute__:" + name)
        return np.ndarray.__getattribute__(self, name)

def made(n, tag):
    return ["%s-%d-%s" % (tag, i, "x" * (i % 7)) for i in range(n)]

# a view whose base is held only by the view
views = []
for i in range(3):
    views.append(np.arange(100000 + i, dtype=np.float64)[::3])
# an object array that owns its items (1-D: positional edges)
owned = np.empty(50, dtype=object)
owned[:] = made(50, "owned")
owned[7] = Spy()
# a strided, transposed view of a 2-D object array held only by the view
twod = np.array(made(24, "twod"), dtype=object).reshape(4, 6)[::2, ::-1].T
# a structured dtype with object fields, one nested
st = np.zeros(4, dtype=[("num", "f8"), ("name", "O"),
                        ("inner", [("blob", "O"), ("n", "i4")]), ("pair", "O", (2,))])
st["name"] = made(4, "name")
st["inner"]["blob"] = [bytes(10 + i) for i in range(4)]
pair = np.empty((4, 2), dtype=object)
pair[:] = np.array(made(8, "pair"), dtype=object).reshape(4, 2)
st["pair"] = pair
del pair
# a subclass instance that owns its object items
sub = Sub(shape=(3,), dtype=object)
sub[:] = made(3, "sub")
CALLED[:] = []
# a 0-d object array
zerod = np.array(None, dtype=object)
zerod[()] = "zero-d item"

def info(o):
    return {"id": id(o), "size": sys.getsizeof(o)}

def items(a):
    return [info(x) for x in a.ravel(order="K").tolist()] if a.dtype == object else []

exp = {
    "views": [{"view": info(v), "base": info(v.base)} for v in views],
    "owned": dict(info(owned), items=[info(x) for x in owned.tolist()]),
    "twod": dict(info(twod), base=info(twod.base),
                 items=[info(x) for x in twod.base.ravel().tolist()]),
    "st": dict(info(st), name=[info(x) for x in st["name"].tolist()],
               blob=[info(x) for x in st["inner"]["blob"].tolist()],
               pair=[info(x) for x in st["pair"].ravel().tolist()]),
    "zerod": dict(info(zerod), items=[info(zerod[()])]),
}
CALLED[:] = []
exp["sub"] = dict(id=id(sub), size=object.__sizeof__(sub),
                  items=[info(x) for x in np.ndarray.tolist(sub)])
CALLED[:] = []
r = dumper.dump(sys.argv[1])
exp["called"] = list(CALLED)
exp["result"] = {"ok": r.ok, "error": r.error}
with open(sys.argv[1] + ".json", "w") as f:
    json.dump(exp, f)
'''


def _run(python, tmp_path, program, env, args=()):
    rust_note()
    out = tmp_path / "heap.hsnap"
    run_program(python, program, tmp_path, [out] + list(args), env=env)
    with open(str(out) + ".json") as f:
        exp = json.load(f)
    assert exp["result"]["ok"], exp["result"]["error"]
    return exp, load_dump(out), out


def _no_incomplete_arrays(s):
    """No array's references are missing (other objects may be flagged: e.g. a static
    type a library never readied, whose dict cannot be read)."""
    bad = [o for o in s.objects if o["flags"] & INCOMPLETE and s.type_name(o) == "ndarray"]
    assert bad == []
    assert s.facts["objects.edges_incomplete"] == sum(
        1 for o in s.objects if o["flags"] & INCOMPLETE)


def _edges(s, o):
    return [(e["target"], s.label(e.get("label", 0))) for e in o["edges"]]


def test_numpy_arrays(python, tmp_path):
    env = corpus_env(python, "numpy")
    exp, s, _ = _run(python, tmp_path, NUMPY_PROGRAM, env)
    assert exp["called"] == [], "user hooks ran during the dump: %s" % exp["called"]
    assert s.facts.get("providers") == "numpy.ndarray"
    assert "providers.failed" not in s.facts
    _no_incomplete_arrays(s)
    missing = []

    def obj(x, size=True):
        o = s.obj(x["id"])
        if o is None:
            missing.append(x)
            return None
        if size and not o["flags"] & SIZE_ESTIMATED:    # (the Spy: managed values)
            assert o["size"] == x["size"], "size of %#x" % x["id"]
        assert not o["flags"] & INCOMPLETE
        return o

    # views: the header only; the base, its own object with the buffer, by edge .base
    for v in exp["views"]:
        o = obj(v["view"])
        b = obj(v["base"])
        assert b["size"] > 800000 > o["size"]
        assert (v["base"]["id"], ".base") in _edges(s, o)
        assert b["refcount"] == 1      # held by the view alone
    # an owning 1-D object array: edge j is item [j]
    o = obj(exp["owned"])
    assert o["flags"] & POSITIONAL
    assert s.targets(o) == [x["id"] for x in exp["owned"]["items"]]
    for x in exp["owned"]["items"]:
        obj(x)
    # a strided view: one edge to its base; the base (2-D, owning) to every item
    o = obj(exp["twod"])
    assert _edges(s, o) == [(exp["twod"]["base"]["id"], ".base")]
    b = obj(exp["twod"]["base"])     # (1-D: reshape made a view of it)
    assert b["flags"] & POSITIONAL
    assert s.targets(b) == [x["id"] for x in exp["twod"]["items"]]
    for x in exp["twod"]["items"]:
        assert obj(x)["refcount"] == 1
    # structured: the object fields, labelled with the field's name, then the dtype
    o = obj(exp["st"])
    edges = _edges(s, o)
    for field, label in (("name", ".name"), ("blob", ".blob"), ("pair", ".pair")):
        for x in exp["st"][field]:
            obj(x)
            assert (x["id"], label) in edges
    assert edges[-1][1] == ".dtype"
    # the subclass instance (its size through ndarray's __sizeof__ is the same)
    o = obj(exp["sub"], size=False)
    t = s.targets(o)
    for x in exp["sub"]["items"]:
        obj(x)
        assert x["id"] in t
    o = obj(exp["zerod"])
    assert s.targets(o) == [exp["zerod"]["items"][0]["id"]]
    assert missing == []


PANDAS_PROGRAM = r'''
import gc, json, sys
import numpy as np
import pandas as pd
from heapsnap import dumper

N = int(sys.argv[2])

def make():
    # strings built here, held by the frame alone once the lists are gone
    a = ["customer-%07d-%s" % (i, "k" * (i % 13)) for i in range(N)]
    b = ["city %d of %d" % (i, N) for i in range(N)]
    df = pd.DataFrame({"name": a, "city": b, "amount": np.arange(N, dtype=np.float64),
                       "flag": np.arange(N) % 2 == 0})
    return df

df = make()
col = df["name"].to_numpy()     # the strings, as the frame holds them
strs = [{"id": id(x), "size": sys.getsizeof(x)} for x in df["name"].tolist()]
strs += [{"id": id(x), "size": sys.getsizeof(x)} for x in df["city"].tolist()]
exp = {"df": id(df), "strs": strs, "memory_usage": int(df.memory_usage(deep=True).sum()),
       "pandas": pd.__version__, "numpy": np.__version__,
       "dtypes": [str(t) for t in df.dtypes]}
del col
r = dumper.dump(sys.argv[1])
exp["result"] = {"ok": r.ok, "error": r.error}
with open(sys.argv[1] + ".json", "w") as f:
    json.dump(exp, f)
'''


def test_pandas_frame(python, tmp_path):
    env = corpus_env(python, "numpy", "pandas")
    n = 20000
    exp, s, path = _run(python, tmp_path, PANDAS_PROGRAM, env, [n])
    missing = [x for x in exp["strs"] if s.obj(x["id"]) is None]
    assert missing == [], "%d of %d strings missing" % (len(missing), len(exp["strs"]))
    for x in exp["strs"]:
        o = s.obj(x["id"])
        assert o["size"] == x["size"]
    assert "providers.failed" not in s.facts
    _no_incomplete_arrays(s)
    binary = os.environ.get("HEAPSNAP_BIN")
    if not binary:
        pytest.skip("HEAPSNAP_BIN unset: the DataFrame's retained size is not checked")
    p = subprocess.run([binary, "export", str(path), "--format", "jsonl"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    row = None
    for line in p.stdout.splitlines():
        r = json.loads(line)
        if int(r["address"], 16) == exp["df"]:
            row = r
            break
    assert row is not None and row["type"].endswith("DataFrame")
    retained, mu = row["retained_size"], exp["memory_usage"]
    print("pandas %s numpy %s: DataFrame retained %d, memory_usage(deep=True) %d (+%.2f%%)"
          % (exp["pandas"], exp["numpy"], retained, mu, 100.0 * (retained - mu) / mu))
    assert mu <= retained <= mu * 1.10


GUARD_PROGRAM = r'''
import json, sys
from heapsnap import dumper

MODE = sys.argv[2]

class Broken(object):
    """A provider whose library changed its API: it cannot be built."""
    def __init__(self, T):
        raise AttributeError("no such descriptor")

class Failing(object):
    """A provider that fails on every instance."""
    def __init__(self, T):
        pass
    def __call__(self, o, w):
        raise RuntimeError("boom")

dumper._PROVIDERS[("builtins", "bytearray")] = Broken if MODE == "broken" else Failing
held = [bytearray(b"abc"), bytearray(100)]
exp = {"ids": [id(b) for b in held], "sizes": [sys.getsizeof(b) for b in held],
       "list": id(held)}
r = dumper.dump(sys.argv[1])
exp["result"] = {"ok": r.ok, "error": r.error}
with open(sys.argv[1] + ".json", "w") as f:
    json.dump(exp, f)
'''


@pytest.mark.parametrize("mode", ["broken", "failing"])
def test_provider_failure_is_flagged(python, tmp_path, mode):
    exp, s, _ = _run(python, tmp_path, GUARD_PROGRAM, None, [mode])
    for i, size in zip(exp["ids"], exp["sizes"]):
        o = s.obj(i)
        assert o is not None and o["size"] == size
        assert o["flags"] & INCOMPLETE
    assert s.targets(s.obj(exp["list"])) == exp["ids"]
    assert s.facts["objects.edges_incomplete"] >= 2
    failed = s.facts["providers.failed"]
    assert failed.startswith("builtins.bytearray: ")
    assert ("no such descriptor" if mode == "broken" else "boom") in failed
    if mode == "broken":
        assert "providers" not in s.facts
    else:
        assert s.facts["providers"] == "builtins.bytearray"


def test_no_provider_without_the_library(python, tmp_path):
    """numpy is never imported by the dumper: without it, no provider, no failure."""
    prog = ("import json, sys\nfrom heapsnap import dumper\n"
            "r = dumper.dump(sys.argv[1])\n"
            "json.dump({'result': {'ok': r.ok, 'error': r.error},"
            " 'numpy': 'numpy' in sys.modules}, open(sys.argv[1] + '.json', 'w'))\n")
    exp, s, _ = _run(python, tmp_path, prog, None)
    assert not exp["numpy"]
    assert "providers" not in s.facts and "providers.failed" not in s.facts
