"""Benchmark (not a test): `heapsnap attach` against the target's own in-process dump of
the same heap (about 1M objects), per route (gdb for 3.8-3.13, sys.remote_exec for
3.14+), and the target's pause.

    .venv/bin/python tools/python/bench_attach.py [--rounds 3] [--bin target/release/heapsnap]
        [--python /path/to/python3.11 ...]

For each interpreter and round, a fresh target builds the heap, then either dumps itself
(`heapsnap.dump`, timed inside) or is attached to (wall time of the whole `heapsnap attach`
command, from its start to the dump in place; the pause is the time the target's main
thread spent in the bootstrap, as it reports, and the longest gap between two iterations
of the target's main loop, measured by the target). Prints the
minimum of the rounds. Needs root (ptrace) and gdb for 3.8-3.13.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "tests"))

TARGET = r'''
import os, sys, time
mode = sys.argv[1]
data = [{"k": i, "s": str(i) * 2} for i in range(330000)]   # ~1M objects
if mode == "self":
    sys.path.insert(0, sys.argv[2])
    import heapsnap
    t0 = time.perf_counter()
    r = heapsnap.dump(sys.argv[3])
    print("SELF", time.perf_counter() - t0, r.objects, flush=True)
    sys.exit(0 if r.ok else 1)
print("READY", flush=True)
sys.stdin.readline()
# spin in Python code until told to stop; the longest gap between two iterations is the
# main thread's pause
gap = 0.0
last = time.perf_counter()
while not os.path.exists(sys.argv[2]):
    now = time.perf_counter()
    if now - last > gap:
        gap = now - last
    last = now
print("GAP", gap, flush=True)
'''


def one_attach(python, binary, tmp, fork=False):
    out = os.path.join(tmp, "a.hsnap")
    done = os.path.join(tmp, "done")
    for p in (out, done):
        if os.path.exists(p):
            os.unlink(p)
    t = subprocess.Popen([python, "-c", TARGET, "attach", done], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert t.stdout.readline().strip() == "READY"
    t.stdin.write("go\n")
    t.stdin.flush()
    time.sleep(0.2)
    cmd = [binary, "attach", str(t.pid), "-o", out, "--json"] + (["--fork"] if fork else [])
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    open(done, "w").close()
    gap = float(t.communicate(timeout=120)[0].split()[-1])
    if p.returncode != 0:
        raise SystemExit("attach failed: " + p.stderr)
    d = json.loads(p.stdout)["data"]
    return {"wall": wall, "pause": d["pause_seconds"], "dump": d["dump_seconds"],
            "objects": d["objects"], "gap": gap, "route": d["route"]}


def one_self(python, tmp):
    out = os.path.join(tmp, "s.hsnap")
    p = subprocess.run([python, "-c", TARGET, "self", HERE, out], capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise SystemExit("self dump failed: " + p.stderr)
    _, secs, objects = p.stdout.split()
    return {"wall": float(secs), "objects": int(objects)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "release", "heapsnap"))
    ap.add_argument("--python", action="append")
    a = ap.parse_args()
    if a.python:
        pythons = {os.path.basename(p): p for p in a.python}
    else:
        import interpreters
        found = interpreters.find_interpreters()
        pythons = {m: found[m] for m in ("3.11", "3.14") if m in found}
    with tempfile.TemporaryDirectory() as tmp:
        for name, py in pythons.items():
            rows = {"self": [], "attach": [], "attach --fork": []}
            for _ in range(a.rounds):     # interleaved rounds, fresh processes
                rows["self"].append(one_self(py, tmp))
                rows["attach"].append(one_attach(py, a.bin, tmp))
                rows["attach --fork"].append(one_attach(py, a.bin, tmp, fork=True))
            for kind, rs in rows.items():
                best = min(rs, key=lambda r: r["wall"])
                extra = ""
                if "pause" in best:
                    extra = ("  route %s, target pause %.2f s (longest main-loop gap %.2f s), "
                             "dump %.2f s" % (best["route"], min(r["pause"] for r in rs),
                                              min(r["gap"] for r in rs), best["dump"]))
                print("CPython %-5s %-14s %9d objects  %.2f s (min of %d)%s"
                      % (name, kind, best["objects"], best["wall"], len(rs), extra),
                      flush=True)


if __name__ == "__main__":
    main()
