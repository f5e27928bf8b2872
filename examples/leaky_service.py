"""A small "service" with three classic Python leaks, for the heapsnap demo.

It handles fake requests in a loop. Each request:

1. subscribes a callback to a long-lived event bus and never unsubscribes
   (the bus's listener list grows forever and keeps every Session alive);
2. stores its rendered response in a module-level cache that is never evicted;
3. every 10th request builds a parent <-> child reference cycle whose classes
   define ``__del__`` (collectable since Python 3.4, but it survives until a full
   collection, and the cycle report should flag the finalizers).

Run it alone (``python examples/leaky_service.py --requests 20000``), under the
dumper (``python -m heapsnap run --at-exit --dir out examples/leaky_service.py``), or
with ``--dump-every N --dump-dir out`` to dump it every N requests, then compare the
dumps with ``heapsnap diff`` and ``heapsnap report --baseline``.
"""

import argparse
import sys


class EventBus:
    """Long-lived publisher: listeners are never removed."""

    def __init__(self):
        self.listeners = []

    def subscribe(self, callback):
        self.listeners.append(callback)


class Session:
    """Per-request state that should die with the request."""

    def __init__(self, request_id, payload):
        self.request_id = request_id
        self.payload = payload
        self.headers = {"x-request-id": str(request_id), "accept": "text/html"}

    def on_event(self, event):
        return (self.request_id, event)


class Parent:
    def __init__(self):
        self.child = Child(self)

    def __del__(self):
        pass


class Child:
    def __init__(self, parent):
        self.parent = parent

    def __del__(self):
        pass


BUS = EventBus()
RESPONSE_CACHE = {}
_keep_cycles = []


def handle_request(request_id):
    session = Session(request_id, b"x" * 512)
    BUS.subscribe(session.on_event)  # leak 1: bound method keeps session alive
    body = "<html>%d</html>" % request_id + " " * 200
    RESPONSE_CACHE["/page/%d" % request_id] = body  # leak 2: unbounded cache
    if request_id % 10 == 0:
        _keep_cycles.append(Parent())  # leak 3: cycles with finalizers
    return len(body)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--dump-every", type=int, default=0, metavar="N",
                        help="dump the heap every N requests (needs the heapsnap dumper)")
    parser.add_argument("--dump-dir", default=".", help="where --dump-every writes")
    args = parser.parse_args(argv)
    total = 0
    for request_id in range(args.requests):
        total += handle_request(request_id)
        if args.dump_every and (request_id + 1) % args.dump_every == 0:
            import heapsnap

            path = "%s/leaky-%06d.hsnap" % (args.dump_dir, request_id + 1)
            result = heapsnap.dump(path)
            sys.stdout.write("dumped %s: %s\n" % (path, "ok" if result.ok else result.error))
    sys.stdout.write(
        "served %d requests, %d listeners, %d cached pages\n"
        % (args.requests, len(BUS.listeners), len(RESPONSE_CACHE))
    )


if __name__ == "__main__":
    main()
