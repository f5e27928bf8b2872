"""Triggers an operator can trust, and the interpreters the dumper refuses or patches.

install() checks its directory at once; each triggered dump logs one line (to a given
logger); a trigger that arrives during a dump is queued, at most one; rss_threshold
dumps once; a free-threaded build is refused; a function's locals (borrowed stack
references on 3.14+) are all in the dump with no false refcount-surplus root. Every
installed interpreter."""

import json
import os

from conftest import load_dump, run_program

CHECKS = r'''
import json, os, sys
from heapsnap import dumper
out = sys.argv[1]
res = {}
def attempt(name, **kw):
    try:
        dumper.install(**kw)
        res[name] = "installed"
    except (OSError, ValueError) as e:
        res[name] = "%s: %s" % (type(e).__name__, e)
attempt("missing", signal="SIGUSR1", directory=os.path.join(out, "nope"))
open(os.path.join(out, "file"), "w").close()
attempt("file", at_exit=True, directory=os.path.join(out, "file"))
attempt("interval", rss_threshold="1G", rss_interval=0, directory=out)
real = os.statvfs
class Full:
    f_bavail, f_frsize = 3, 4096
os.statvfs = lambda d: Full()
attempt("full", signal="SIGUSR1", directory=out)
os.statvfs = real
import signal
res["handler_untouched"] = signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
print(json.dumps(res))
'''


def test_install_checks_at_once(python, tmp_path):
    p = run_program(python, CHECKS, tmp_path, [tmp_path])
    res = json.loads(p.stdout)
    assert res["missing"].startswith("OSError") and "does not exist" in res["missing"]
    assert res["file"].startswith("OSError") and "not a directory" in res["file"]
    assert res["interval"].startswith("ValueError")
    assert res["full"].startswith("OSError") and "12288 bytes free" in res["full"]
    assert res["handler_untouched"]     # nothing installed by a failed install()
    assert [f for f in os.listdir(str(tmp_path)) if f.endswith(".hsnap")] == []


QUEUE = r'''
import json, logging, os, signal, sys, time
from heapsnap import dumper
out = sys.argv[1]
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
log = logging.getLogger("ops")
log.addHandler(Keep())
log.setLevel(logging.INFO)
h = dumper.install(signal="SIGUSR1", directory=out, logger=log)
real_walk = dumper._walk
sent = []
def walk(*a):
    # two signals arrive while the first dump runs: one dump is queued, one dropped
    if not sent:
        sent.append(1)
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)
    return real_walk(*a)
dumper._walk = walk
r = dumper.dump(os.path.join(out, "api.hsnap"))
dumper._walk = real_walk
time.sleep(0.1)
# the RSS trigger: once, the first time the RSS is above the threshold
h2 = dumper.install(rss_threshold=1, rss_interval=0.01, directory=out, prefix="rss")
deadline = time.time() + 60
while not h2.results and time.time() < deadline:
    time.sleep(0.05)
time.sleep(0.3)     # no second dump: once
h.uninstall()
h2.uninstall()
print(json.dumps({"api": r.ok, "records": records,
                  "results": [[x.ok, x.path] for x in h.results],
                  "rss_results": [[x.ok, x.path] for x in h2.results],
                  "files": sorted(os.listdir(out))}))
'''


def test_queued_trigger_and_log_lines(python, tmp_path):
    p = run_program(python, QUEUE, tmp_path, [tmp_path])
    res = json.loads(p.stdout)
    assert res["api"]
    dumps = [f for f in res["files"] if f.endswith(".hsnap")]
    trig = [f for f in dumps if f.startswith("heapsnap-")]
    rss = [f for f in dumps if f.startswith("rss-")]
    assert "api.hsnap" in dumps and len(trig) == 1 and len(rss) == 1, res["files"]
    assert [r[0] for r in res["results"]] == [True]
    assert res["results"][0][1].endswith(trig[0])
    # the logger got the lines (not stderr): queued, then where the dump went
    recs = res["records"]
    assert len(recs) == 3, recs
    assert "queued" in recs[0] and "queued" in recs[1]
    assert trig[0] in recs[2] and " objects, " in recs[2] and recs[2].endswith(" s)")
    assert "heapsnap:" not in p.stderr.replace("heapsnap: rss dump", ""), p.stderr
    assert len(res["rss_results"]) == 1 and res["rss_results"][0][0]
    assert "rss dump: " in p.stderr and rss[0] in p.stderr
    for f in dumps:
        load_dump(tmp_path / f)


FREE_THREADED = r'''
import json, os, sys, sysconfig
from heapsnap import dumper
real = sysconfig.get_config_var
sysconfig.get_config_var = lambda name: 1 if name == "Py_GIL_DISABLED" else real(name)
r = dumper.dump(os.path.join(sys.argv[1], "ft.hsnap"))
print(json.dumps([r.ok, r.error, os.listdir(sys.argv[1])]))
'''


def test_free_threaded_build_is_refused(python, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    p = run_program(python, FREE_THREADED, tmp_path, [out])
    ok, error, files = json.loads(p.stdout)
    assert not ok and "free-threaded" in error and files == []
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "free-threaded" in lines[0]


LOCALS = r'''
import json, sys
from heapsnap import dumper

class Payload:
    pass

def work(path):
    alpha = [Payload() for _ in range(3)]
    beta = Payload()
    gamma = "gamma-%d" % len(alpha)
    ids = {"alpha": id(alpha), "beta": id(beta), "gamma": id(gamma),
           "items": [id(x) for x in alpha]}
    for x in alpha:         # uses of the locals: borrowed stack references on 3.14+
        x.peer = beta
    r = dumper.dump(path)
    ids["ok"] = r.ok
    ids["python"] = list(sys.version_info[:2])
    return ids

ids = work(sys.argv[1])
with open(sys.argv[1] + ".json", "w") as f:
    json.dump(ids, f)
'''


def test_locals_and_borrowed_references(python, tmp_path):
    """Every local of the function running the dump is an edge from its frame,
    labelled with its name, and the objects it holds have no refcount surplus (3.14's
    borrowed stack references make counts lower, never higher)."""
    out = tmp_path / "l.hsnap"
    run_program(python, LOCALS, tmp_path, [out])
    with open(str(out) + ".json") as f:
        ids = json.load(f)
    assert ids["ok"]
    s = load_dump(out)
    frames = [o for o in s.objects if s.type_name(o) == "frame"
              and ids["alpha"] in s.targets(o)]
    assert len(frames) == 1
    labels = {e["target"]: s.label(e.get("label", 0)) for e in frames[0]["edges"]}
    for name in ("alpha", "beta", "gamma"):
        assert ids[name] in labels
        if ids["python"] >= [3, 11]:    # before, the frame's traverse reports them
            assert labels[ids[name]] == "." + name
    surplus = s.surplus()
    for i in [ids["alpha"], ids["beta"]] + ids["items"]:
        assert s.by_addr[i] not in surplus, "false refcount-surplus root"
