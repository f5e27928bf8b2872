"""The real-library corpus: programs using installed libraries (SQLAlchemy, Flask,
Starlette) and the standard library's asyncio, logging and functools.lru_cache. Each
program records, just before it dumps itself, the ids and sys.getsizeof sizes of objects
it built and the containers that hold them; the test checks each one is in the dump with
exactly that size (at least that size where the dump flags the size as estimated: the
inline attribute values of 3.11+ instances) and the edge from its container (labelled
with the dict key where the container is a dict keyed by str). The libraries come from
the corpus site of each minor (tools/setup, tools/python/corpus-pins.txt); a minor
without the package skips with a note. numpy/pandas programs are in test_numpy.py."""

import json

from conftest import load_dump, need_corpus, run_program

SIZE_ESTIMATED = 8

# Shared by every program: probe(name, obj, *containers, key=None) records obj; finish()
# writes the side file and dumps.
HARNESS = r'''
import gc, json, os, sys
from heapsnap import dumper
OUT = sys.argv[1]
PROBES = []
def probe(name, obj, *containers, key=None):
    PROBES.append([name, obj, list(containers), key])
def finish():
    rec = [[name, id(o), sys.getsizeof(o), type(o).__name__, [id(c) for c in cs], key]
           for name, o, cs, key in PROBES]
    with open(OUT + ".json", "w") as f:
        json.dump({"probes": rec, "version": list(sys.version_info[:3])}, f)
    r = dumper.dump(OUT)
    assert r.ok, r
'''


def check(python, tmp_path, program, site, minimum):
    out = str(tmp_path / "corpus.hsnap")
    run_program(python, HARNESS + program, tmp_path, [out], site=site, timeout=300)
    exp = json.load(open(out + ".json"))
    s = load_dump(out)
    probes = exp["probes"]
    assert len(probes) >= minimum, len(probes)
    missing, wrong_size, no_edge, wrong_label = [], [], [], []
    for name, addr, size, tname, containers, key in probes:
        o = s.obj(addr)
        if o is None:
            missing.append(name)
            continue
        assert s.type_name(o) == tname, (name, s.type_name(o), tname)
        if o["flags"] & SIZE_ESTIMATED:
            if o["size"] < size:
                wrong_size.append((name, o["size"], size))
        elif o["size"] != size:
            wrong_size.append((name, o["size"], size))
        if containers:
            edges = [(c, e) for c in containers if s.obj(c) is not None
                     for e in s.obj(c)["edges"] if e["target"] == addr]
            if not edges:
                # an instance's attribute: from the instance (3.11+ inline values) or
                # from its __dict__ (a dict it points at)
                dicts = [t for c in containers if s.obj(c) is not None
                         for t in s.targets(s.obj(c))
                         if s.obj(t) is not None and s.type_name(s.obj(t)) == "dict"]
                edges = [(d, e) for d in dicts for e in s.obj(d)["edges"]
                         if e["target"] == addr]
            if not edges:
                no_edge.append(name)
            elif key is not None and not any(s.label(e["label"]) == "[%r]" % key
                                             for _, e in edges):
                wrong_label.append((name, [s.label(e["label"]) for _, e in edges]))
    assert not missing, "objects missing from the dump: %s" % missing[:20]
    assert not wrong_size, wrong_size[:20]
    assert not no_edge, "no edge from the container: %s" % no_edge[:20]
    assert not wrong_label, wrong_label[:20]
    return s, exp


SQLALCHEMY = r'''
from sqlalchemy import create_engine, Column, Integer, String, ForeignKey, select
from sqlalchemy.orm import declarative_base, relationship, Session

Base = declarative_base()

class User(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True)
    name = Column(String(50))
    email = Column(String(100))
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
for i in range(40):
    u = User(name="user-%04d" % i, email="u%d@example.org" % i)
    u.posts = [Post(title="post %d of user %d" % (j, i)) for j in range(3)]
    session.add(u)
session.commit()
users = list(session.scalars(select(User).order_by(User.id)))
for u in users:
    d = u.__dict__            # SQLAlchemy keeps the loaded attributes there
    probe("user", u, users)
    probe("user.name", d["name"], d, key="name")
    probe("user.email", d["email"], d, key="email")
    probe("user.state", d["_sa_instance_state"], d, key="_sa_instance_state")
    posts = u.posts            # loads the relationship: an InstrumentedList
    probe("user.posts", posts, d, key="posts")
    for p in posts:
        probe("post", p, posts)
        probe("post.title", p.__dict__["title"], p.__dict__, key="title")
probe("table", User.__table__, Base.metadata.tables, key="users")
probe("engine", engine)
finish()
'''


def test_sqlalchemy_orm(python, tmp_path):
    site = need_corpus(python, "SQLAlchemy")
    check(python, tmp_path, SQLALCHEMY, site, 40 * 5 + 40 * 3 * 2)


FLASK = r'''
from flask import Flask, jsonify, g

app = Flask("corpus_app")
app.config["CORPUS_SETTING"] = ["setting-%d" % i for i in range(10)]
SEEN = []

@app.route("/item/<int:n>")
def item(n):
    body = {"n": n, "name": "item-%d" % n, "tags": ["t%d" % k for k in range(n % 5)]}
    SEEN.append(body)
    return jsonify(body)

@app.route("/health")
def health():
    return "ok"

client = app.test_client()
responses = []
for n in range(30):
    r = client.get("/item/%d" % n)
    assert r.status_code == 200
    responses.append(r)
for body in SEEN:
    probe("body", body, SEEN)
    probe("body.name", body["name"], body, key="name")
    probe("body.tags", body["tags"], body, key="tags")
for r in responses:
    probe("response", r, responses)
for name, fn in app.view_functions.items():
    probe("view " + name, fn, app.view_functions, key=name)
probe("config list", app.config["CORPUS_SETTING"], app.config, key="CORPUS_SETTING")
for rule in app.url_map.iter_rules():
    probe("rule " + rule.rule, rule, app.url_map._rules)
finish()
'''


def test_flask_app(python, tmp_path):
    site = need_corpus(python, "Flask")
    check(python, tmp_path, FLASK, site, 30 * 4 + 3)


STARLETTE = r'''
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route, Mount

async def homepage(request):
    return JSONResponse({"hello": "world"})

def make_endpoint(i):
    async def endpoint(request):
        return JSONResponse({"i": i})
    return endpoint

routes = [Route("/", homepage)] + [Route("/r%d" % i, make_endpoint(i)) for i in range(25)]
app = Starlette(routes=routes)
router_routes = app.router.routes
for r in routes:
    probe("route", r, routes, router_routes)
    probe("route.path", r.path, r)
    probe("route.endpoint", r.endpoint, r)
finish()
'''


def test_starlette_app(python, tmp_path):
    site = need_corpus(python, "starlette")
    check(python, tmp_path, STARLETTE, site, 26 * 3)


ASYNCIO = r'''
import asyncio

async def worker(q, results, i):
    while True:
        item = await q.get()
        results.append(["done", i, item])
        q.task_done()

async def main():
    q = asyncio.Queue()
    results = []
    tasks = [asyncio.ensure_future(worker(q, results, i)) for i in range(8)]
    items = [{"job": k, "payload": "p" * (k + 1)} for k in range(50)]
    for it in items[:20]:
        q.put_nowait(it)
    await q.join()
    for it in items[20:]:            # left in the queue while the dump runs
        q.put_nowait(it)
    fut = asyncio.get_running_loop().create_future()
    fut.set_result(["future", "result"])
    for t in tasks:
        probe("task", t, tasks)
    for r in results:
        probe("result", r, results)
    for it in items[20:]:
        probe("queued item", it, q._queue, items)
    probe("future result", fut.result(), fut)
    probe("results", results)
    finish()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

asyncio.run(main())
'''


def test_asyncio_tasks_and_queue(python, tmp_path):
    s, exp = check(python, tmp_path, ASYNCIO, None, 8 + 20 + 30 + 2)
    # the tasks are pending: each holds its coroutine
    for name, addr, _, _, _, _ in exp["probes"]:
        if name == "task":
            targets = [s.obj(t) for t in s.targets(s.obj(addr))]
            assert any(t is not None and s.type_name(t) == "coroutine" for t in targets)


LOGGING = r'''
import logging

class ListHandler(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self)
        self.records = []
    def emit(self, record):
        self.records.append(record)

handler = ListHandler()
log = logging.getLogger("corpus.app")
log.addHandler(handler)
log.setLevel(logging.INFO)
log.propagate = False
children = [logging.getLogger("corpus.app.part%d" % i) for i in range(10)]
for i in range(60):
    log.info("event %d for %s", i, "user-%d" % i)
for rec in handler.records:
    probe("record", rec, handler.records)
    probe("record.args", rec.args, rec)
    probe("record.msg", rec.msg, rec)
probe("records", handler.records, handler)
probe("handler", handler, log.handlers)
mgr = logging.Logger.manager.loggerDict
for c in children:
    probe("logger " + c.name, c, mgr)    # (dotted keys are not labels under values="names")
finish()
'''


def test_logging_records_and_loggers(python, tmp_path):
    check(python, tmp_path, LOGGING, None, 60 * 2 + 12)


LRU = r'''
import functools

@functools.lru_cache(maxsize=None)
def unbounded(n):
    return ["unbounded", n, "x" * n]

@functools.lru_cache(maxsize=64)
def bounded(n):
    return {"bounded": n, "text": "y" * n}

kept = []
for n in range(100):
    kept.append(unbounded(n))
    kept.append(bounded(n))
cache = [d for d in gc.get_referents(unbounded) if type(d) is dict and len(d) == 100][0]
for n in range(100):
    probe("unbounded result", unbounded(n), cache)
for n in range(36, 100):      # the 64 still cached, held by the wrapper
    probe("bounded result", bounded(n), bounded)
probe("cache dict", cache, unbounded)
finish()
'''


def test_lru_cache(python, tmp_path):
    check(python, tmp_path, LRU, None, 100 + 64 + 1)
