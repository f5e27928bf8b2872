"""Analysis speed on a real Python heap (a benchmark, not a test).

    python3 benches/real_heap.py [N_OBJECTS] [ROUNDS]

Builds the heap of tools/python/bench_dump.py (default about 1,000,000 ordinary objects:
instances with three attributes, dicts, lists, strings) in this interpreter, dumps it
with the heapsnap dumper, then runs each analysis command of the release binary
(target/release/heapsnap; `cargo build --release` first) ROUNDS times (default 5),
interleaved, and prints min and median wall seconds per command, with 1 and 2 threads.
The issue's target: `heapsnap top --by retained` under 1 s on a 1M-object heap.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "python"))
import bench_dump  # noqa: E402
from heapsnap import dumper  # noqa: E402

BIN = os.path.join(ROOT, "target", "release", "heapsnap")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    if not os.path.exists(BIN):
        sys.exit("build the release binary first: cargo build --release")
    heap = bench_dump.build(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "real.hsnap")
        r = dumper.dump(path)
        if not r.ok:
            sys.exit("dump failed: %s" % r.error)
        print("dump: %d objects, %d edges, %.1f MB, written in %.2f s (Python %s)"
              % (r.objects, r.edges, r.bytes / 1e6, r.seconds, sys.version.split()[0]))
        del heap
        commands = {
            "top --by retained": ["top", path, "--by", "retained"],
            "top --by size": ["top", path, "--by", "size"],
            "dominators": ["dominators", path],
            "cycles": ["cycles", path],
            "path Item": ["path", path, "Item"],
            "export csv": ["export", path, "--format", "csv", "-o", os.path.join(tmp, "x.csv")],
        }
        times = {(name, t): [] for name in commands for t in (1, 2)}
        for _ in range(rounds):
            for name, args in commands.items():
                for t in (1, 2):
                    start = time.perf_counter()
                    subprocess.run([BIN, "--threads", str(t)] + args, check=True,
                                   stdout=subprocess.DEVNULL)
                    times[(name, t)].append(time.perf_counter() - start)
        print("%-20s %8s %8s %8s %8s" % ("command", "1t min", "1t med", "2t min", "2t med"))
        for name in commands:
            a, b = times[(name, 1)], times[(name, 2)]
            print("%-20s %8.3f %8.3f %8.3f %8.3f" % (name, min(a), statistics.median(a),
                                                     min(b), statistics.median(b)))


if __name__ == "__main__":
    main()
