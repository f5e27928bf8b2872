"""Benchmark of the dumper on the real-library corpus (not a test).

Usage: python tools/python/bench_corpus.py [MINOR ...] [--rounds K] [--only TEXT] [--plain-n N]
       [--markdown]
(default minors: 3.11 3.14 3.15; interpreters and corpus sites as the tests find them:
tools/python/tests/interpreters.py, after tools/setup).

For each corpus program and interpreter, two runs of a fresh process:
  1. with tracemalloc started at launch (-X tracemalloc): the program builds its heap,
     reads tracemalloc's traced total, dumps itself, and the dump's shallow total
     (the sum of the object sizes) is set against it;
  2. without tracemalloc: K interleaved rounds of a naive closure
     (gc.get_objects() + gc.get_referents over a work list with an id set, the minimal
     walk: bench_dump.bare_closure) and of heapsnap.dump(collect=False); reports dump
     objects/s and the ratio dump / naive (minimum of each).
"""

import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "tests"))
import interpreters  # noqa: E402

HARNESS = r'''
import gc, json, os, sys, time, tracemalloc
sys.path.insert(0, %(pydir)r)
if %(site)r:
    sys.path.insert(1, %(site)r)
from heapsnap import dumper
import bench_dump
OUT = %(out)r
ROUNDS = %(rounds)d

def measure(keep):
    gc.collect()
    res = {}
    if tracemalloc.is_tracing():
        res["traced"] = tracemalloc.get_traced_memory()[0]
        r = dumper.dump(OUT, collect=False)
        assert r.ok, r
        res["objects"] = r.objects
    else:
        bare, dump = [], []
        for _ in range(ROUNDS):
            t = time.perf_counter(); n = bench_dump.bare_closure()
            bare.append(time.perf_counter() - t)
            r = dumper.dump(OUT, collect=False)
            assert r.ok, r
            dump.append(r.seconds)
        res.update(bare=bare, dump=dump, objects=r.objects, bare_objects=n)
    print("RESULT " + json.dumps(res))
'''

PROGRAMS = {}

PROGRAMS["plain heap (bench_dump.build)"] = ([], r'''
heap = bench_dump.build(%(plain_n)d)
measure(heap)
''')

PROGRAMS["SQLAlchemy ORM, 5k users + 15k posts"] = (["SQLAlchemy"], r'''
from sqlalchemy import create_engine, Column, Integer, String, ForeignKey, select
from sqlalchemy.orm import declarative_base, relationship, Session
Base = declarative_base()
class User(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True)
    name = Column(String(50))
    posts = relationship("Post", back_populates="author")
class Post(Base):
    __tablename__ = "posts"
    id = Column(Integer, primary_key=True)
    title = Column(String(100))
    user_id = Column(Integer, ForeignKey("users.id"))
    author = relationship("User", back_populates="posts")
engine = create_engine("sqlite://")
Base.metadata.create_all(engine)
session = Session(engine)
for i in range(5000):
    u = User(name="user-%d" % i)
    u.posts = [Post(title="post %d/%d" % (j, i)) for j in range(3)]
    session.add(u)
session.commit()
users = list(session.scalars(select(User)))
posts = [p for u in users for p in u.posts]
measure((session, users, posts))
''')

PROGRAMS["Flask app, 3k requests kept"] = (["Flask"], r'''
from flask import Flask, jsonify
app = Flask("bench")
@app.route("/item/<int:n>")
def item(n):
    return jsonify({"n": n, "name": "item-%d" % n, "tags": ["t%d" % k for k in range(5)]})
client = app.test_client()
responses = [client.get("/item/%d" % n) for n in range(3000)]
bodies = [r.get_json() for r in responses]
measure((app, responses, bodies))
''')

PROGRAMS["asyncio, 2k tasks + queue of 20k"] = ([], r'''
import asyncio
async def waiter(ev, box):
    box.append(["waiting", len(box)])
    await ev.wait()
async def main():
    ev = asyncio.Event()
    box = []
    tasks = [asyncio.ensure_future(waiter(ev, box)) for _ in range(2000)]
    q = asyncio.Queue()
    for k in range(20000):
        q.put_nowait({"job": k, "payload": "p%d" % k})
    await asyncio.sleep(0)
    measure((tasks, q, box))
    ev.set()
    await asyncio.gather(*tasks)
asyncio.run(main())
''')

PROGRAMS["logging, 50k records kept"] = ([], r'''
import logging
class ListHandler(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self)
        self.records = []
    def emit(self, record):
        self.records.append(record)
h = ListHandler()
log = logging.getLogger("bench")
log.addHandler(h); log.setLevel(logging.INFO); log.propagate = False
for i in range(50000):
    log.info("event %d for %s", i, "user-%d" % i)
measure(h)
''')

PROGRAMS["lru_cache, 100k entries"] = ([], r'''
import functools
@functools.lru_cache(maxsize=None)
def f(n):
    return ["r", n, "x%d" % n]
kept = [f(n) for n in range(100000)]
measure((f, kept))
''')

PROGRAMS["pandas, 20 frames of 20k rows (object + float columns)"] = (["pandas", "numpy"], r'''
import numpy as np, pandas as pd
frames = [pd.DataFrame({"name": pd.Series(["n%d-%d" % (k, i) for i in range(20000)],
                                          dtype=object),
                        "x": np.arange(20000, dtype=float) * k}) for k in range(20)]
measure(frames)
''')


def shallow_total(path):
    import hsnap_reader
    s = hsnap_reader.Snapshot.load(path)
    return sum(o["size"] for o in s.objects), len(s.objects)


def run(python, minor, name, need, body, rounds, tracing, tmp, plain_n=1000000):
    site = None
    if need:
        stamp = interpreters.corpus_stamp(minor) or {}
        if any(p not in stamp.get("installed", {}) for p in need):
            return None
        site = os.path.join(interpreters.corpus_dir(minor), "site")
    out = os.path.join(tmp, "bench.hsnap")
    src = (HARNESS % {"pydir": HERE, "site": site, "out": out, "rounds": rounds}
           + body.replace("%(plain_n)d", str(plain_n)))
    prog = os.path.join(tmp, "prog.py")
    with open(prog, "w") as f:
        f.write(src)
    cmd = [python] + (["-X", "tracemalloc=1"] if tracing else []) + [prog]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError("%s on %s failed: %s" % (name, minor, p.stderr[-2000:]))
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")][-1]
    res = json.loads(line[7:])
    if tracing:
        res["shallow"], n = shallow_total(out)
        assert n == res["objects"]
    os.unlink(out)
    return res


def main():
    args = sys.argv[1:]
    rounds = 3
    if "--rounds" in args:
        i = args.index("--rounds")
        rounds = int(args[i + 1])
        del args[i:i + 2]
    plain_n = 1000000
    if "--plain-n" in args:
        i = args.index("--plain-n")
        plain_n = int(args[i + 1])
        del args[i:i + 2]
    only = None
    if "--only" in args:
        i = args.index("--only")
        only = args[i + 1]
        del args[i:i + 2]
    markdown = "--markdown" in args
    args = [a for a in args if a != "--markdown"]
    minors = args or ["3.11", "3.14", "3.15"]
    found = interpreters.find_interpreters()
    import tempfile
    tmp = tempfile.mkdtemp(prefix="heapsnap-bench-corpus-")
    rows = []
    for name, (need, body) in PROGRAMS.items():
        if only and only.lower() not in name.lower():
            continue
        for minor in minors:
            python = found.get(minor)
            if python is None:
                print("note: no CPython %s here: skipped" % minor, file=sys.stderr)
                continue
            t = run(python, minor, name, need, body, rounds, True, tmp, plain_n)
            if t is None:
                print("note: %s: %s lacks %s: skipped" % (name, minor, need),
                      file=sys.stderr)
                continue
            s = run(python, minor, name, need, body, rounds, False, tmp, plain_n)
            rows.append((name, minor, t, s))
            print("%s / %s: shallow %.1f MB, traced %.1f MB, %d objects, dump %.2f s, "
                  "naive %.2f s" % (name, minor, t["shallow"] / 1e6, t["traced"] / 1e6,
                                    s["objects"], min(s["dump"]), min(s["bare"])),
                  file=sys.stderr, flush=True)
    shutil.rmtree(tmp)
    if markdown:
        print("| program | CPython | objects | dumped shallow total | tracemalloc traced"
              " | shallow / traced | dump objects/s | dump / naive closure |")
        print("|---|---|---|---|---|---|---|---|")
    for name, minor, t, s in rows:
        cells = (name, minor, "{:,}".format(s["objects"]),
                 "%.1f MB" % (t["shallow"] / 1e6), "%.1f MB" % (t["traced"] / 1e6),
                 "%.2f" % (t["shallow"] / t["traced"]),
                 "%.0f k" % (s["objects"] / min(s["dump"]) / 1e3),
                 "%.2fx" % (min(s["dump"]) / min(s["bare"])))
        if markdown:
            print("| " + " | ".join(cells) + " |")
        else:
            print("  ".join(cells))


if __name__ == "__main__":
    t0 = time.time()
    main()
    print("(%.0f s)" % (time.time() - t0), file=sys.stderr)
