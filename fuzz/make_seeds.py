"""Writes the dumper-made seeds of the fuzz corpus (fuzz/corpus/<target>/py-*.hsnap).

A real dump of even an empty interpreter holds ~20,000 objects (over 1 MB), too big
for a seed that is mutated millions of times. So each seed is a real dump, written by
the Python dumper (tools/python) of a small program, cut down to a sample of its
objects: a few objects of each type (so every kind of object, flag and label the
dumper writes is represented), their edges (targets outside the sample stay, as
dangling edges), the roots and values of the sampled objects, every fact, and only the
strings and types still referred to. The result is re-encoded with the dumper's own
writer (build_file) and must pass `heapsnap check`.

Run from the repository root (tools/fuzz does not run it; the seeds are committed):

    python3 fuzz/make_seeds.py [--check target/release/heapsnap]
"""

import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tools", "python"),
                os.path.join(ROOT, "tools", "python", "tests")]

import heapsnap  # noqa: E402
import hsnap_reader  # noqa: E402

TARGETS = ["reader", "reader_nocrc"]
PER_TYPE = 2
MAX_OBJECTS = 160

# name -> (program, dump options). Each program ends by dumping to sys.argv[1].
PROGRAMS = {
    "leaky": ("""
import sys, threading, heapsnap
class Session:
    __slots__ = ("user", "payload", "__weakref__")
    def __init__(self, user):
        self.user = user
        self.payload = [b"x" * 40, {"token": user * 3}, (1, 2.5, 2**70)]
class Cache(dict):
    pass
cache = Cache()
for i in range(50):
    cache["session-%d" % i] = Session("u%d" % i)
big = bytearray(5 * 2**20)
garbage = []
class Cycle:
    def __del__(self):
        pass
a, b = Cycle(), Cycle()
a.other, b.other = b, a
del a, b
ev = threading.Event()
t = threading.Thread(target=ev.wait, daemon=True)
t.start()
heapsnap.dump(sys.argv[1], values=VALUES, preview_len=16)
ev.set()
""", ["none", "names", "all"]),
    "nogc": ("""
import gc, sys, heapsnap
gc.disable()
frozen = frozenset(range(20)); nested = [[i, str(i), {i: i}] for i in range(30)]
text = "caf\\u00e9 \\u202e \\x1b[31m" * 4
heapsnap.dump(sys.argv[1], values=VALUES, collect=False)
""", ["all"]),
}


def sample(desc):
    """A cut-down description: a few objects per type and what they refer to."""
    objects = desc["objects"]
    per_type = {}
    keep = []
    for i, o in enumerate(objects):
        if per_type.get(o["type"], 0) < PER_TYPE:
            per_type[o["type"]] = per_type.get(o["type"], 0) + 1
            keep.append(i)
    # Prefer objects with edges, roots or values when over the cap.
    rooted = {r["object"] for r in desc["roots"]} | {v["object"] for v in desc["values"]}
    keep.sort(key=lambda i: (not objects[i]["edges"], i not in rooted, i))
    keep = sorted(keep[:MAX_OBJECTS])
    new_index = {old: new for new, old in enumerate(keep)}

    strings = {0: 0}
    new_strings = [""]

    def sid(old):
        if old not in strings:
            strings[old] = len(new_strings)
            new_strings.append(desc["strings"][old])
        return strings[old]

    def label(old):
        return sid(old & 0x7FFFFFFF) | (old & 0x80000000)

    types = {}
    new_types = []

    def tid(old):
        if old not in types:
            t = dict(desc["types"][old])
            t["name"], t["module"] = sid(t["name"]), sid(t["module"])
            types[old] = len(new_types)
            new_types.append(t)
        return types[old]

    facts = []
    for f in desc["facts"]:
        f = dict(f, key=sid(f["key"]))
        if f["kind"] == "string":
            f["value"] = sid(f["value"])
        facts.append(f)
    new_objects = []
    for i in keep:
        o = dict(objects[i])
        o["type"] = tid(o["type"])
        o["edges"] = [dict(e, label=label(e["label"])) for e in o["edges"][:6]]
        new_objects.append(o)
    roots = [dict(r, object=new_index[r["object"]], label=sid(r["label"]))
             for r in desc["roots"] if r["object"] in new_index]
    values = [dict(v, object=new_index[v["object"]], string=sid(v["string"]))
              for v in desc["values"] if v["object"] in new_index]
    return {"format": desc["format"], "strings": new_strings, "facts": facts,
            "types": new_types, "objects": new_objects, "roots": roots, "values": values}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", default=os.path.join(ROOT, "target", "release", "heapsnap"),
                    help="heapsnap binary that must accept every seed")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, (program, modes) in PROGRAMS.items():
            for values in modes:
                full = os.path.join(tmp, "%s-%s.hsnap" % (name, values))
                env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools", "python"))
                subprocess.run([sys.executable, "-S", "-c", program.replace("VALUES", repr(values)),
                                full], check=True, env=env)
                with open(full, "rb") as f:
                    desc = hsnap_reader.decode(f.read())
                data = heapsnap.file_from_description(sample(desc))
                for target in TARGETS:
                    d = os.path.join(ROOT, "fuzz", "corpus", target)
                    os.makedirs(d, exist_ok=True)
                    out = os.path.join(d, "py-%s-%s.hsnap" % (name, values))
                    with open(out, "wb") as f:
                        f.write(data)
                    subprocess.run([args.check, "check", out], check=True,
                                   stdout=subprocess.DEVNULL)
                print("py-%s-%s.hsnap: %d bytes (from %d)" % (
                    name, values, len(data), os.path.getsize(full)))


if __name__ == "__main__":
    main()
