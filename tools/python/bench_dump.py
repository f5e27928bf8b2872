"""Benchmark of the heapsnap dumper (not a test). Usage: python bench_dump.py [N_OBJECTS]

Builds a heap of about N ordinary objects (default 1,000,000: instances with three
attributes, dicts, lists, strings) and measures in this process:
  (a) a bare gc.get_referents closure (work list + id seen-set), the minimal walk;
  (b) heapsnap.dump in-process: objects/s, and its walk time relative to (a);
  (c) extra memory per object during the dump (tracemalloc peak);
  (d) fork mode: the parent's pause (fork call to return, wait=False);
  (e) file bytes and edges per object.
"""

import gc
import itertools
import os
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from heapsnap import dumper  # noqa: E402


class Item:
    def __init__(self, i):
        self.name = "item-%d" % i
        self.value = i * 7 + 1000
        self.tags = ["t%d" % (i % 100), "shared"]


def build(n):
    per = 5                                    # item, name, value, tags list, dict
    k = n // (per + 2)
    items = [Item(i) for i in range(k)]
    dicts = [{"id": i, "label": "d%d" % i, "owner": items[i]} for i in range(k)]
    return items, dicts


def bare_closure():
    work = gc.get_objects()
    seen = set(map(id, work))
    seen.add(id(work))
    i = 0
    get = gc.get_referents
    while i < len(work):
        chunk = work[i:i + 4096]
        i += len(chunk)
        flat = list(itertools.chain.from_iterable(map(get, chunk)))
        fids = list(map(id, flat))
        new = set(itertools.filterfalse(seen.__contains__, fids))
        if new:
            seen.update(new)
            mask = list(map(new.__contains__, fids))
            work.extend(dict(zip(itertools.compress(fids, mask),
                                 itertools.compress(flat, mask))).values())
    return len(work)


def _rounds(fn, k):
    times = []
    for _ in range(k):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    heap = build(n)
    gc.collect()
    d = tempfile.mkdtemp(prefix="heapsnap-bench-")
    path = os.path.join(d, "bench.hsnap")

    # interleaved rounds (this machine is shared and noisy): bare, dump, bare, dump, ...
    bare, dump, walk = [], [], []
    for _ in range(rounds):
        bare += _rounds(bare_closure, 1)
        r = dumper.dump(path, collect=False)
        assert r.ok, r.error
        dump.append(r.seconds)
        walk.append(_fact(path, "dump.duration_ns") / 1e9)
    bare_n = bare_closure()
    size = os.path.getsize(path)

    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    r2 = dumper.dump(path, collect=False)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    assert r2.ok, r2.error

    pauses = []
    for _ in range(rounds):
        os.unlink(path)
        rf = dumper.dump(path, fork=True, wait=False, collect=False)
        assert rf.ok, rf.error
        pauses.append(rf.seconds)
        for _ in range(1200):
            if os.path.exists(path) and not dumper._lock.locked():
                break
            time.sleep(0.05)

    med = lambda xs: sorted(xs)[len(xs) // 2]
    print("CPython %s, %d objects in the dump, %d in the bare closure, %d rounds"
          % (sys.version.split()[0], r.objects, bare_n, rounds))
    print("  %-34s %10s %10s   %s" % ("", "min", "median", "figure (from the minimums)"))
    rows = [
        ("bare get_referents closure", bare, "%.0f k objects/s" % (bare_n / min(bare) / 1e3)),
        ("dump in-process, walk", walk, "%.2fx bare" % (min(walk) / min(bare))),
        ("dump in-process, total", dump, "%.0f k objects/s, %.2fx bare"
         % (r.objects / min(dump) / 1e3, min(dump) / min(bare))),
        ("fork mode parent pause", pauses, "max %.1f ms" % (max(pauses) * 1e3)),
    ]
    for name, xs, fig in rows:
        unit, scale = ("ms", 1e3) if name.startswith("fork") else ("s", 1)
        print("  %-34s %8.3f %s %8.3f %s   %s" % (name, min(xs) * scale, unit, med(xs) * scale,
                                                unit, fig))
    print("  %-34s %10.1f MB            %.0f B/object" % ("extra memory (tracemalloc peak)",
                                                           peak / 1e6, peak / r.objects))
    print("  %-34s %10.1f MB            %.1f B/object" % ("file size", size / 1e6,
                                                           size / r.objects))
    print("  %-34s %10d               %.2f edges/object" % ("edges", r.edges,
                                                            r.edges / r.objects))
    del heap
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    os.rmdir(d)


def _fact(path, key):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests"))
    import hsnap_reader
    import struct
    with open(path, "rb") as f:
        s = hsnap_reader.sections(f.read())
    offs = struct.unpack("<%dQ" % (len(s[2]) // 8), s[2])
    raw = s[3]
    for i in range(0, len(s[1]), 16):
        k, kind, v = struct.unpack_from("<IIQ", s[1], i)
        if raw[offs[k]:offs[k + 1]].decode() == key:
            return v
    raise KeyError(key)


if __name__ == "__main__":
    main()
