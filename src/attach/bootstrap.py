# heapsnap attach: the bootstrap that `heapsnap attach PID` runs inside the target.
#
# The attacher writes this file, with the _CFG line below filled in, and a copy of the
# dumper into a private directory (mode 0700, owned by the target's user) under the
# target's root, then makes the target run it at its next bytecode boundary in the main
# thread: `sys.remote_exec` (3.14+) or a pending call queued through gdb (3.8-3.13).
# It runs in a fresh globals dict, never in the program's.
#
# Protocol (files in _CFG["dir"]):
#   claim        created with O_EXCL by whoever comes first: this script (it runs the
#                request) or the attacher (it gave up after --timeout: this script then
#                only removes the directory).
#   status.json  written by this script (atomically) when it is done: ok, error, path,
#                objects, edges, bytes, seconds, pause.
#   dump.hsnap   the dump (the attacher copies it out and removes it).
# What it leaves in the target: nothing (sys.modules gets back exactly its keys; the
# dumper module is private and cleared), except with "install": then the loaded dumper
# stays (not in sys.modules), with the triggers install() documents.
_CFG = None  # replaced by the attacher


def _heapsnap_attach(cfg):
    import sys
    before = set(sys.modules)
    import time
    t0 = time.perf_counter()
    import os
    d = cfg["dir"]
    names = ("boot.py", "launch.py", "dumper.py")

    def unlink(name):
        try:
            os.unlink(os.path.join(d, name))
        except OSError:
            pass

    stdlib = os.path.dirname(os.__file__) + os.sep

    def restore_modules():
        # Remove what the dumper imported: new standard-library modules that have
        # finished importing. A module another thread of the program imported meanwhile
        # (not from the standard library, or still initializing) stays.
        for name in [n for n in list(sys.modules) if n not in before]:
            m = sys.modules.get(name)
            if type(m) is not type(sys):
                continue
            spec = m.__dict__.get("__spec__")
            if type(spec).__name__ != "ModuleSpec":
                continue
            sd = spec.__dict__
            if type(sd) is not dict or sd.get("_initializing"):
                continue
            origin = sd.get("origin")
            if type(origin) is not str:
                continue
            if origin in ("built-in", "frozen") or (
                    origin.startswith(stdlib) and "-packages" not in origin):
                sys.modules.pop(name, None)

    try:
        fd = os.open(os.path.join(d, "claim"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        if isinstance(e, FileExistsError):
            # The attacher gave up waiting: clean up after it, dump nothing.
            for name in names + ("claim",):
                unlink(name)
            try:
                os.rmdir(d)
            except OSError:
                pass
        restore_modules()
        return
    os.close(fd)

    status = {"ok": False, "error": None, "path": None, "objects": 0, "edges": 0,
              "bytes": 0, "seconds": 0.0, "pause": 0.0, "pid": os.getpid(),
              "version": "%d.%d.%d" % sys.version_info[:3]}
    mod = None
    keep = False
    interrupted = False
    thread = None
    try:
        with open(os.path.join(d, "dumper.py"), "rb") as f:
            src = f.read()
        for name in names:
            unlink(name)
        mod = type(sys)("_heapsnap_attach_dumper")
        exec(compile(src, "<heapsnap dumper>", "exec"), mod.__dict__)
        src = None
        if cfg["install"]:
            mod.install(signal=cfg["signal"] or None, directory=cfg["install_dir"],
                        rss_threshold=cfg["rss_threshold"] or None, fork=bool(cfg["fork"]),
                        values=cfg["values"])
            keep = True
            status["ok"] = True
            status["path"] = cfg["install_dir"]
        elif cfg["fork"]:
            # The fork and the wait for the child run in a thread of ours, so that the
            # main thread goes back to the program right away; the thread writes the
            # status and ends with the dump.
            threading = __import__("threading")

            def wait_child(mod=mod, fill=fill, finish=finish):
                try:
                    r = mod.dump(os.path.join(d, "dump.hsnap"), fork=True,
                                 values=cfg["values"])
                    fill(status, r)
                except BaseException as e:
                    status["error"] = "%s: %s" % (type(e).__name__, e)
                finally:
                    mod.__dict__.clear()
                    finish(d, status)
                    restore_modules()

            thread = threading.Thread(target=wait_child, name="heapsnap-attach", daemon=True)
            thread.start()
        else:
            fill(status, mod.dump(os.path.join(d, "dump.hsnap"), values=cfg["values"]))
    except KeyboardInterrupt:
        interrupted = True
        status["error"] = "interrupted (KeyboardInterrupt) during the dump"
    except BaseException as e:
        status["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        if mod is not None and not keep and thread is None:
            mod.__dict__.clear()
        mod = None
        status["pause"] = time.perf_counter() - t0
        if thread is None:
            finish(d, status)
        if thread is None:
            restore_modules()
        if interrupted:
            # hand the Ctrl-C back to the program (raised at its next bytecode)
            __import__("_thread").interrupt_main()


def fill(status, r):
    status["ok"] = bool(r.ok)
    status["error"] = r.error
    status["path"] = r.path
    status["objects"] = r.objects
    status["edges"] = r.edges
    status["bytes"] = r.bytes
    status["seconds"] = r.seconds


def _json(v):
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    out = []
    for ch in str(v):
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o < 0x20 or 0xD800 <= o < 0xE000:
            out.append("\\u%04x" % o)
        elif o > 0xFFFF:
            o -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF)))
        else:
            out.append(ch)
    return '"%s"' % "".join(out)


def finish(d, status, _json=_json):
    """Write status.json atomically (the attacher waits for it)."""
    import os
    text = "{%s}" % ", ".join('"%s": %s' % (k, _json(v)) for k, v in status.items())
    tmp = os.path.join(d, "status.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(d, "status.json"))
    except OSError:
        pass


try:
    _heapsnap_attach(_CFG)
finally:
    # this runs in a private globals dict; drop our functions (they form cycles with it)
    _CFG = _heapsnap_attach = fill = finish = _json = None
