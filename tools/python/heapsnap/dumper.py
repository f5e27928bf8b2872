"""heapsnap dumper: write a snapshot of a CPython heap in the heapsnap format.

Supported: CPython 3.8 to 3.15, standard library only. A free-threaded build
(``Py_GIL_DISABLED``) is refused (ok=False): its reference counts are split and biased,
so the roots derived from them would be wrong. This one file is the whole dumper: copy
it onto a server next to a program and use it alone::

    import dumper
    result = dumper.dump("/tmp/app.hsnap")          # in-process, the default
    if not result.ok:
        print(result.error)

    dumper.install(signal="SIGUSR1", directory="/tmp")   # dump on `kill -USR1 <pid>`

    $ python dumper.py run --at-exit --dir /tmp script.py args...
    $ python dumper.py run --signal SIGUSR1 --dir /tmp -m module args...

The file format is specified in ``format/SPEC.md`` of the heapsnap repository; read
the result with the ``heapsnap`` analyzer (``heapsnap info app.hsnap``).

How the heap is enumerated: ``gc.get_objects()`` plus the explicit roots (sys.modules,
builtins, the sys dict, every thread's frames, gc.garbage, every type) are closed under
``gc.get_referents``, patched where tp_traverse hides references (dict keys, code
objects, executing frames, static types, type names), and by providers for C
containers whose tp_traverse hides their references (numpy.ndarray: its base, dtype and
object items; see _PROVIDERS). User code is never run: no
``repr``, ``getattr``, ``isinstance``, ``__dict__``, ``hash`` or ``==`` on user objects,
and a user-defined ``__sizeof__`` is never called (the size is then estimated).

In-process or fork:

- ``fork=False`` (default): the dump runs in the calling thread. Other threads keep
  running between the dumper's steps (the GIL), so the snapshot is not atomic, and the
  process pauses for the whole dump (about 1 s per million objects).
- ``fork=True``: the process forks and the child dumps a consistent copy while the
  parent continues. It is not the default because the child dirties every page whose
  reference counts it touches (up to the heap's size in extra memory: the OOM killer may
  pick the service), and forking a multi-threaded process is hazardous (locks held by
  other threads stay locked in the child; the dumper only uses os.write in the child).
  With ``collect=True`` the collection runs in the parent before the fork (finalizers of
  unreachable objects run there, as at any collection, and the pause includes it): in
  the child a finalizer could wait forever for a lock another thread held at the fork.
  The child never runs the collector (so no finalizer) and never returns into the
  program: it ends with os._exit, even when a signal interrupts it.

Limits: objects held only by C code and frozen with ``gc.freeze()`` are invisible to an
in-process dump (fork mode unfreezes in the child and finds them); on 3.11/3.12 a class
body executing during the dump is left out (flag EDGES_INCOMPLETE); temporaries on other
threads' evaluation stacks cannot be seen from Python (they show as refcount surplus).

Map of this file (in data-flow order; hot means per object, in C-level passes):

1. Format constants, CPython type flags (SPEC.md's numbers; nothing runs).
2. Writer: Content (the dump as columns) -> sections -> the canonical file, written with
   a few large os.write calls. Invariant: the bytes depend only on the Content.
3. Enumeration: type-attribute getters read through `type`'s own descriptors (never
   getattr on a user type); providers (_PROVIDERS) for C containers without traversal;
   _Types (the per-type state, register_type) and _Walker (one dump's walk): chunk() is
   the hot path, in phases (reference counts first, then type_ids, referents, packed or
   unpacked sizes/flags/counts, corrections, addresses, values, edges, discover); it
   keeps every reference count net of the dumper's own references (calibrate,
   _frame_references, held, own_at). _seed_roots adds the explicit roots; _walk runs
   the chunks over the work list (GC-tracked objects) and the leaf list (the others).
4. Facts: what is known of the process before the walk (SPEC 4.1), plus the walk's own
   (objects.edges_incomplete, providers, providers.failed).
5. dump(): the one-dump lock, in-process or fork (child, pipe, reaper), the atomic
   rename. _machinery lists the dumper's own objects (trigger handles, their results,
   other threads' dumper frames) that every dump leaves out, net of their references.
6. Triggers: install() and its Installed handle (signal, at exit, RSS once; checked
   directory; one log line per dump; a trigger during a dump is queued).
7. Command line: `run` execs the same interpreter on the program with a start-up hook
   (a sitecustomize that installs the triggers and removes itself), so the program runs
   exactly as `python script.py` / `python -m module` would.
"""

import array
import gc
import itertools
import os
import struct
import sys
import threading
import time
import zlib
from collections import Counter, deque, namedtuple
from operator import (add, and_, eq, ge, getitem, gt, is_, lshift, mul, or_, rshift,
                      setitem, sub)
try:
    from operator import call as _call     # 3.11+
except ImportError:
    _call = None

__version__ = "0.1.0"
__all__ = ["dump", "install", "DumpResult", "Installed", "main", "__version__",
           "build_file", "file_from_description", "crc32"]

# ---------------------------------------------------------------------------
# Format constants (format/SPEC.md)

MAGIC = b"\x89HSNAP\r\n"
END_MAGIC = b"HSNAPEND"
FORMAT_MAJOR, FORMAT_MINOR = 1, 0

(S_FACTS, S_STRING_OFFSETS, S_STRING_BYTES, S_TYPES, S_OBJECT_ADDRESS, S_OBJECT_TYPE,
 S_OBJECT_SIZE, S_OBJECT_REFCOUNT, S_OBJECT_FLAGS, S_OBJECT_EDGE_START, S_EDGE_TARGET,
 S_EDGE_LABEL, S_ROOTS, S_VALUES, S_WIDE_SIZES) = range(1, 16)

FACT_U64, FACT_I64, FACT_F64, FACT_STRING, FACT_BOOL = 1, 2, 3, 4, 5
_FACT_KINDS = {"u64": FACT_U64, "i64": FACT_I64, "f64": FACT_F64,
               "string": FACT_STRING, "bool": FACT_BOOL}

T_HAS_FINALIZER, T_MANAGED_DICT, T_HEAP_TYPE, T_GC_TYPE = 1, 2, 4, 8

F_GC_TRACKED = 1
F_GC_FINALIZED = 2
F_GC_GARBAGE = 4
F_SIZE_ESTIMATED = 8
F_REFCOUNT_UNKNOWN = 16
F_POSITIONAL_EDGES = 32
F_EDGES_INCOMPLETE = 64

LABEL_KEY = 1 << 31

R_MODULE, R_INTERPRETER, R_THREAD, R_REFCOUNT_SURPLUS, R_GC_GARBAGE, R_IMMORTAL, R_OTHER = \
    range(1, 8)

V_NAME, V_STR, V_BYTES, V_NUMBER = 1, 2, 3, 4
V_TRUNCATED = 1

U32_MAX = 0xFFFFFFFF
_U32 = "I" if array.array("I").itemsize == 4 else "L"
# "L" where it is 8 bytes: its fromlist converts a two-digit int (an address) directly,
# where "Q" goes through the generic _PyLong_AsByteArray (4x slower per item on 3.11)
_U64 = "L" if array.array("L").itemsize == 8 else "Q"
_BIG_ENDIAN = sys.byteorder == "big"

_NEVER = 1 << 62  # a work-list position never reached
_NOT = bytes((1, 0)) + bytes(254)     # bytes.translate table: 0 <-> 1
_CHUNK = 1024   # objects per chunk: measured best on 3.11 (cache-sized temporaries)
_IMMORTAL_LIMIT = 1 << 29
_PY = sys.version_info[:2]

# CPython type flags
_TPFLAGS_INLINE_VALUES = 1 << 2
_TPFLAGS_MANAGED_DICT = 1 << 4
_TPFLAGS_HEAPTYPE = 1 << 9
_TPFLAGS_READY = 1 << 12     # PyType_Ready has run: tp_dict, tp_mro, tp_bases are set
_TPFLAGS_HAVE_GC = 1 << 14
_TPFLAGS_PREHEADER = (1 << 3) | (1 << 4)    # 3.12+: managed weakref | managed dict
_PTR = struct.calcsize("P")
_SH = 3 if _PTR == 8 else 2     # id >> _SH: the walk's key of an object (see _Walker.seen)
_ODD = (1 << _SH) - 1
_ALIGNED = bytes(range(0, 256, 1 << _SH))   # the low bytes of aligned addresses
_LOW = 7 if _BIG_ENDIAN else 0      # offset of the low byte in a u64 word
_CO_OPTIMIZED = 1


def crc32(data):
    """CRC-32 (ISO-HDLC, as zlib) of a bytes-like object."""
    return zlib.crc32(data) & 0xFFFFFFFF


# ---------------------------------------------------------------------------
# Writer: plain content -> canonical file


def _u32(values=()):
    return array.array(_U32, values)


def _u64(values=()):
    return array.array(_U64, values)


def _le(arr):
    """Bytes-like little-endian view of an array (a copy only on big-endian hosts)."""
    if _BIG_ENDIAN and arr.itemsize > 1:
        arr = array.array(arr.typecode, arr)
        arr.byteswap()
    return memoryview(arr).cast("B")


def _interleave(*columns):
    """One u64 array holding the columns' entries record by record."""
    k = len(columns)
    n = len(columns[0])
    out = _u64(bytes(8 * n * k))
    for j, col in enumerate(columns):
        if len(col) != n:
            raise ValueError("column lengths differ")
        if not isinstance(col, array.array) or col.typecode != _U64:
            col = _u64(col)
        out[j::k] = col
    return out


class Content(object):
    """Plain content of a dump, column by column (what the writer is given).

    strings: list of bytes (UTF-8) or str, index 0 the empty string.
    facts: u64 arrays fact_kk (key | kind << 32) and fact_value.
    types: u64 arrays type_address, type_names (name | module << 32), type_flags.
    objects: address (u64), otype, size, refcount, flags (u32; size U32_MAX when
    wide), edge_start (u64, N + 1), edge_target (u64), edge_label (u32 or None),
    wide_object / wide_size (u64).
    roots: u64 arrays root_object, root_kl (kind | label << 32), root_detail.
    values: u64 arrays value_object, value_word (string | kind << 32 | flags << 48).
    """

    __slots__ = ("strings", "fact_kk", "fact_value", "type_address", "type_names",
                 "type_flags", "address", "otype", "size", "refcount", "flags",
                 "edge_start", "edge_target", "edge_label", "wide_object", "wide_size",
                 "root_object", "root_kl", "root_detail", "value_object", "value_word")

    def __init__(self):
        self.strings = [b""]
        self.fact_kk, self.fact_value = _u64(), _u64()
        self.type_address, self.type_names, self.type_flags = _u64(), _u64(), _u64()
        self.address, self.otype, self.size = _u64(), _u32(), _u32()
        self.refcount, self.flags = _u32(), _u32()
        self.edge_start, self.edge_target, self.edge_label = _u64([0]), _u64(), None
        self.wide_object, self.wide_size = _u64(), _u64()
        self.root_object, self.root_kl, self.root_detail = _u64(), _u64(), _u64()
        self.value_object, self.value_word = _u64(), _u64()


def _sections(c):
    """The (kind, bytes-like) sections of a file, ascending kind, empties omitted."""
    strings = [s.encode("utf-8") if isinstance(s, str) else bytes(s) for s in c.strings]
    offsets = _u64(itertools.accumulate(itertools.chain((0,), map(len, strings))))
    out = [
        (S_FACTS, _le(_interleave(c.fact_kk, c.fact_value))),
        (S_STRING_OFFSETS, _le(offsets)),
        (S_STRING_BYTES, b"".join(strings)),
        (S_TYPES, _le(_interleave(c.type_address, c.type_names, c.type_flags))),
        (S_OBJECT_ADDRESS, _le(c.address)),
        (S_OBJECT_TYPE, _le(c.otype)),
        (S_OBJECT_SIZE, _le(c.size)),
        (S_OBJECT_REFCOUNT, _le(c.refcount)),
        (S_OBJECT_FLAGS, _le(c.flags)),
        (S_OBJECT_EDGE_START, _le(c.edge_start)),
        (S_EDGE_TARGET, _le(c.edge_target)),
    ]
    if c.edge_label is not None and any(c.edge_label):
        out.append((S_EDGE_LABEL, _le(c.edge_label)))
    out.append((S_ROOTS, _le(_interleave(c.root_object, c.root_kl, c.root_detail))))
    if len(c.value_object):
        out.append((S_VALUES, _le(_interleave(c.value_object, c.value_word))))
    if len(c.wide_object):
        out.append((S_WIDE_SIZES, _le(_interleave(c.wide_object, c.wide_size))))
    return out


def _layout(sections):
    """Yield the buffers of the whole file in order (header, sections, table, trailer)."""
    header = MAGIC + struct.pack("<HHI", FORMAT_MAJOR, FORMAT_MINOR, 0)
    yield header
    pos = 16
    table = []
    for kind, buf in sections:
        n = len(buf)
        table.append(struct.pack("<IIQQQ", kind, crc32(buf), pos, n, 0))
        if n:
            yield buf
        pad = -n % 8
        if pad:
            yield bytes(pad)
        pos += n + pad
    table = b"".join(table)
    yield table
    # table_crc covers the header and the table (SPEC 3.2)
    yield struct.pack("<QII", pos, len(sections), crc32(header + table)) + bytes(8) + END_MAGIC


def build_file(content):
    """The canonical file bytes for a Content."""
    return b"".join(bytes(b) for b in _layout(_sections(content)))


def _write_all(fd, buf):
    view = memoryview(buf).cast("B")
    total = len(view)
    done = 0
    while done < total:
        done += os.write(fd, view[done:done + (1 << 30)])
    return total


def write_content(fd, content):
    """Write a Content to an open file descriptor with a few large writes; returns bytes."""
    total = 0
    pending = []
    pending_len = 0
    for buf in _layout(_sections(content)):
        if len(buf) < (1 << 16):     # gather small pieces (header, padding, small sections)
            pending.append(bytes(buf))
            pending_len += len(buf)
            continue
        if pending:
            total += _write_all(fd, b"".join(pending))
            pending, pending_len = [], 0
        total += _write_all(fd, buf)
    if pending:
        total += _write_all(fd, b"".join(pending))
    return total


def file_from_description(desc):
    """Content from a vector description (format/vectors/README.md schema)."""
    c = Content()
    c.strings = list(desc["strings"])
    for f in desc.get("facts", ()):
        kind = _FACT_KINDS[f["kind"]]
        v = f["value"]
        if kind == FACT_F64:
            v = struct.unpack("<Q", struct.pack("<d", float(v)))[0]
        elif kind == FACT_I64:
            v &= 0xFFFFFFFFFFFFFFFF
        elif kind == FACT_BOOL:
            v = 1 if v else 0
        c.fact_kk.append(f["key"] | kind << 32)
        c.fact_value.append(v)
    for t in desc.get("types", ()):
        c.type_address.append(t["address"])
        c.type_names.append(t["name"] | t["module"] << 32)
        c.type_flags.append(t["flags"])
    labels = _u32()
    for i, o in enumerate(desc.get("objects", ())):
        c.address.append(o["address"])
        c.otype.append(o["type"])
        size = o["size"]
        if size >= U32_MAX:
            c.size.append(U32_MAX)
            c.wide_object.append(i)
            c.wide_size.append(size)
        else:
            c.size.append(size)
        c.refcount.append(o["refcount"])
        c.flags.append(o["flags"])
        for e in o.get("edges", ()):
            c.edge_target.append(e["target"])
            labels.append(e.get("label", 0))
        c.edge_start.append(len(c.edge_target))
    c.edge_label = labels
    for r in desc.get("roots", ()):
        c.root_object.append(r["object"])
        c.root_kl.append(r["kind"] | r["label"] << 32)
        c.root_detail.append(r["detail"])
    for v in desc.get("values", ()):
        c.value_object.append(v["object"])
        c.value_word.append(v["string"] | v["kind"] << 32 | v["flags"] << 48)
    return build_file(c)


# ---------------------------------------------------------------------------
# Enumeration

def _walk_frames_skip(f):
    """The first frame at or below f (towards the caller) not running this module's code.

    Frames are recognised by the identity of their globals: comparing file names could
    run a str subclass's __eq__."""
    while f is not None and f.f_globals is _GLOBALS:
        f = f.f_back
    return f


def _plain_str_dict(d):
    """d itself when every key is an exact str, else a copy holding only those keys.

    Looking a name up in a dict whose keys include a str subclass with a colliding hash
    would call that subclass's __eq__; iterating the keys and checking their types never
    runs user code."""
    if all(map(is_, map(type, d), itertools.repeat(str))):
        return d
    return {k: v for k, v in d.items() if type(k) is str}


def _type_attr(name):
    return type.__dict__[name].__get__


_T_DICT = _type_attr("__dict__")
_T_MRO = _type_attr("__mro__")
_T_BASES = _type_attr("__bases__")
_T_BASE = _type_attr("__base__")
_T_NAME = _type_attr("__name__")
_T_QUALNAME = _type_attr("__qualname__")
_T_MODULE = _type_attr("__module__")
_T_FLAGS = _type_attr("__flags__")
_T_SUBCLASSES = type.__dict__["__subclasses__"]

_GLOBALS = globals()
_CodeType = type(_walk_frames_skip.__code__)
_FunctionType = type(_walk_frames_skip)
_BuiltinFunctionType = type(len)
_ModuleType = type(sys)
_MODULE_DICT = _ModuleType.__dict__["__dict__"].__get__     # C getset: no user code


def _no_traverse():
    """Ids of the objects whose tp_traverse must never run through gc.get_referents,
    because it visits objects that were already freed.

    CPython 3.12's _asyncio module walks its free list of future iterators in its
    traverse. gc.get_referents takes a new reference to each of those dead objects and
    drops it again, which frees them a second time: the free list then loops, and the
    program hangs at its next collection (at the latest, at exit). Such a module gets an
    edge to its own dict only, and the flag EDGES_INCOMPLETE."""
    out = set()
    if _PY[:2] == (3, 12):
        m = dict.get(sys.modules, "_asyncio")
        if type(m) is _ModuleType:
            out.add(id(m))
    return out
_FrameType = type(sys._getframe())
_MappingProxyType = type(type.__dict__)
_MethodDescriptorType = type(object.__dict__["__sizeof__"])

_EVEN = slice(0, None, 2)
# per-type kinds of work: K_NORMAL needs none beyond the chunk passes (exact dicts
# included, done for a whole chunk in dicts()); the others go through special()
K_NORMAL, K_DICTSUB, K_CODE, K_FRAME, K_TYPE, K_MODULE, K_FUNC, K_BFUNC, K_PROVIDER = range(9)


# ---------------------------------------------------------------------------
# Providers: the references of C containers whose tp_traverse hides them
#
# A provider is keyed by the exact (module, name) of a static C type; it also serves
# the Python subclasses of that type. It reads only through the C type's own
# descriptors (never getattr on the instance: a subclass could override them), never
# imports the library (the type is only recognised when an instance is already in
# the heap), and never calls a method of a user object. Built once per dump when the
# first instance's type is registered; if that fails (the library changed its API),
# or a call fails on one instance, the instance is flagged EDGES_INCOMPLETE and the
# facts say so (`providers.failed`).


def _c_getter(d, name):
    """The __get__ of the C getset/member descriptor d[name] (a type's dict)."""
    x = d[name]
    if type(x).__name__ not in ("getset_descriptor", "member_descriptor"):
        raise TypeError("%s is a %s, not a C descriptor" % (name, type(x).__name__))
    return x.__get__


def _c_method(d, name):
    """The C method d[name] (a method_descriptor or wrapper_descriptor)."""
    x = d[name]
    if id(type(x)) not in _C_DESCRIPTOR_IDS:
        raise TypeError("%s is a %s, not a C method" % (name, type(x).__name__))
    return x


class _NumpyArrays(object):
    """numpy.ndarray (no GC support: gc.get_referents says []). Its references:

    - `.base`: the object whose memory a view uses (another array, bytes, mmap...);
    - `.dtype`: the array's dtype, except the plain object dtype (numpy's own singleton);
    - the elements of an array of object dtype that owns its memory (a view's elements
      are its base's), whatever its shape and strides, in C order; and the object
      fields of a structured dtype (labelled with the field's name).

    A one-dimensional exact ndarray whose edges are exactly its elements gets
    POSITIONAL_EDGES (edge j is item [j]). Holds no reference to a heap object between
    calls (the reference counts read by the walk stay net of it): the descriptors are
    looked up in the type's dict on each call."""

    def __init__(self, nd):
        self.nd_id = id(nd)
        self.getters(nd)        # fails now, once, if numpy's API changed

    @staticmethod
    def getters(nd):
        d = _T_DICT(nd)
        return (_c_getter(d, "base"), _c_getter(d, "dtype"), _c_getter(d, "flat"),
                _c_getter(d, "ndim"), _c_method(d, "view"), _c_method(d, "__getitem__"))

    @staticmethod
    def dtype_getters(dt):
        T = type(dt)
        for B in _T_MRO(T) or (T,):
            if (not _T_FLAGS(B) & _TPFLAGS_HEAPTYPE and _T_NAME(B) == "dtype"
                    and _T_MODULE(B) == "numpy"):
                d = _T_DICT(B)
                return (_c_getter(d, "hasobject"), _c_getter(d, "names"),
                        _c_getter(d, "fields"))
        raise TypeError("no numpy.dtype in the MRO of the dtype's type")

    def __call__(self, a, w):
        """(extra referents, their labels or None, positional)"""
        T = type(a)
        nd = T
        if id(T) != self.nd_id:
            for nd in _T_MRO(T):
                if id(nd) == self.nd_id:
                    break
            else:
                raise TypeError("not an ndarray")
        base_of, dtype_of, flat_of, ndim_of, view, getitem = self.getters(nd)
        b = base_of(a)
        dt = dtype_of(a)
        hasobject, names_of, fields_of = self.dtype_getters(dt)
        out = []
        labs = []
        plain_object = False
        if hasobject(dt):
            names = names_of(dt)
            plain_object = names is None
            if b is None or not (nd in (_T_MRO(type(b)) or ())):
                if plain_object:
                    out = list(flat_of(a))
                    labs = [0] * len(out)
                    if T is nd and b is None and ndim_of(a) == 1:
                        return out, None, True
                else:
                    plain = a if T is nd else view(a, nd)
                    self.fields(plain, dt, out, labs, w, getitem, flat_of, 0)
                    plain = None
        if b is not None:
            out.append(b)
            labs.append(w.sid("base"))
        if not plain_object:
            out.append(dt)
            labs.append(w.sid("dtype"))
        return out, (labs if any(labs) else None), False

    def fields(self, a, dt, out, labs, w, getitem, flat_of, depth):
        """The object fields of structured array a (exact ndarray) into out, labs."""
        if depth > 32:
            raise ValueError("structured dtype nested too deep")
        hasobject, names_of, fields_of = self.dtype_getters(dt)
        fields = fields_of(dt)
        for name in names_of(dt):
            if type(name) is not str:
                continue
            if type(fields) is dict:
                entry = dict.__getitem__(fields, name)
            elif type(fields) is _MappingProxyType:
                entry = _MappingProxyType.__getitem__(fields, name)
            else:
                raise TypeError("dtype.fields is a %s" % type(fields).__name__)
            fdt = tuple.__getitem__(entry, 0)
            fh, fn, _ = self.dtype_getters(fdt)
            if not fh(fdt):
                continue
            sub = getitem(a, name)
            if fn(fdt) is not None:
                self.fields(sub, fdt, out, labs, w, getitem, flat_of, depth + 1)
            else:
                items = list(flat_of(sub))
                out.extend(items)
                labs.extend([w.sid(name)] * len(items))
            sub = None


# (module, qualified name) of a static C type -> provider class
_PROVIDERS = {("numpy", "ndarray"): _NumpyArrays}


def _c_finalizer_types():
    out = []
    import types as _types
    out.extend([_types.GeneratorType, _types.CoroutineType, _types.AsyncGeneratorType])
    try:
        import _io
        out.append(_io._IOBase)
    except Exception:
        pass
    return tuple(out)


_C_FINALIZER_TYPES = _c_finalizer_types()
_C_DESCRIPTOR_TYPES = (type(object.__dict__["__sizeof__"]),            # method_descriptor
                       type(object.__dict__["__init__"]),              # wrapper_descriptor
                       _BuiltinFunctionType,
                       type(classmethod.__dict__["__get__"]))
_C_FINALIZER_IDS = frozenset(map(id, _C_FINALIZER_TYPES))
_C_DESCRIPTOR_IDS = frozenset(map(id, _C_DESCRIPTOR_TYPES))
_GC_HEAD = sys.getsizeof(()) - ().__sizeof__()


def _encode(s):
    return s.encode("utf-8", "backslashreplace")


class _Types(object):
    """The walk's per-type state: the TYPES table and, per type index, what chunk()
    needs to treat that type's instances in bulk (kind of work, flags, sizer, provider).
    register_type fills it the first time an instance (or the type itself) is met.
    _Walker extends it (one object, so that the hot path reads plain attributes); what
    registering needs of the walk (strings, the work list) comes through sid() and
    type_found()."""

    def __init__(self, values):
        self.values = values
        self.tindex = {}        # id(type) -> index in TYPES
        self.tkind = []         # per type index: K_*
        self.special_tids = set()   # type indexes whose instances need per-object work
        self.tflag = []         # per type index: object flags implied by the type
        self.unsafe_size = set()  # type indexes with a user-defined __sizeof__
        self.str_tid = self.bytes_tid = -1
        self.num_tids = set()
        self.positional = set()
        self.managed = set()    # type indexes whose instances keep values inline
        self.value_bytes = []   # per type index: estimated bytes per inline value (8 or 0)
        self.finalizer_tids = set()
        self.dict_tid = -1
        self.leaf_tids = set()  # type indexes of leaves: plain types without GC support
        # 3.11+: per type index, sys.getsizeof or the type's C __sizeof__ (a heap object:
        # the references this list holds are counted in held and subtracted in chunk())
        self.sizer = []
        # per type index: its object flags | the bytes sys.getsizeof adds to its sizer << 8
        # | 0xFF << 16 for managed values (see packed)
        self.tinfo = []
        self.unchecked = set()  # type indexes whose sizer is not yet checked
        self.held = {}          # id -> references self.sizer holds
        self.held_delta = {}    # id -> change of held since this chunk read its refcounts
        self.held_tids = set()  # the type indexes of the objects self.sizer refers to
        self.providers = {}     # type index -> provider (False: could not be built)
        self.provider_objs = {}     # "module.name" -> provider or False
        self.provider_errors = {}   # "module.name" -> the first error

    def register_type(self, T):
        i = len(self.tkind)
        self.tindex[id(T)] = i
        c = self.c
        tf = _T_FLAGS(T)
        mro = _T_MRO(T) or (T,)
        flags = 0
        has_del = False
        sizeof_safe = True
        sizeof_found = False
        sizer = None    # the C method implementing __sizeof__ (first in the MRO)
        plain = True     # every MRO dict has exact str keys only
        for B in mro:
            d = _T_DICT(B)
            if d is None:     # a type being torn down (seen at exit on 3.9)
                continue
            safe = _plain_str_dict(d)
            if safe is not d:
                plain = False
                d = safe
            if not has_del and "__del__" in d:
                has_del = True
            if not sizeof_found and "__sizeof__" in d:
                sizeof_found = True
                sizer = d["__sizeof__"]
                sizeof_safe = id(type(sizer)) in _C_DESCRIPTOR_IDS
            if id(B) in _C_FINALIZER_IDS:
                has_del = True
        if has_del:
            flags |= T_HAS_FINALIZER
        if _PY >= (3, 11) and tf & _TPFLAGS_MANAGED_DICT:
            flags |= T_MANAGED_DICT
        if tf & _TPFLAGS_HEAPTYPE:
            flags |= T_HEAP_TYPE
        if tf & _TPFLAGS_HAVE_GC:
            flags |= T_GC_TYPE
        if not plain:
            # a colliding key would also run user code inside CPython's own attribute
            # lookups, sys.getsizeof's among them: estimate sizes, read __module__ here
            sizeof_safe = False
            own = _T_DICT(T)
            mod = _plain_str_dict(own).get("__module__") if own is not None else None
        else:
            try:
                mod = _T_MODULE(T)
            except Exception:
                mod = None
        name = _T_QUALNAME(T)
        if not issubclass(type(name), str):
            name = _T_NAME(T)
        if not issubclass(type(name), str) or not str.__len__(name):
            name = "?"
        mod_sid = self.sid(mod) if issubclass(type(mod), str) else 0
        c.type_address.append(id(T))
        c.type_names.append(self.sid(name) | mod_sid << 32)
        c.type_flags.append(flags)

        kind = K_NORMAL
        oflag = 0
        if T is dict:
            kind = K_NORMAL     # exact dicts: all of a chunk's at once, in dicts()
        elif issubclass(T, dict):
            kind = K_DICTSUB
        elif T is _CodeType:
            kind = K_CODE
        elif T is _FrameType and _PY >= (3, 11):
            kind = K_FRAME
        elif issubclass(T, type):
            kind = K_TYPE
        elif self.values != "none":
            if T is _ModuleType:
                kind = K_MODULE
            elif T is _FunctionType:
                kind = K_FUNC
            elif T is _BuiltinFunctionType:
                kind = K_BFUNC
        prov = self.provider_for(T, mro) if kind == K_NORMAL else None
        if prov is not None:
            kind = K_PROVIDER
            self.providers[i] = prov
        if T is list or T is tuple:
            oflag |= F_POSITIONAL_EDGES
            self.positional.add(i)
        if not sizeof_safe:
            oflag |= F_SIZE_ESTIMATED
            self.unsafe_size.add(i)
        if (flags & T_MANAGED_DICT and (_PY < (3, 13) or tf & _TPFLAGS_INLINE_VALUES)
                and kind != K_PROVIDER):
            # sys.getsizeof misses the attribute values kept with the instance:
            # add 8 bytes per value (referents minus the type) + 8 (estimate)
            oflag |= F_SIZE_ESTIMATED
            self.managed.add(i)
        self.tkind.append(kind)
        if kind == K_NORMAL and not tf & _TPFLAGS_HAVE_GC and T is not dict:
            self.leaf_tids.add(i)
        if kind != K_NORMAL:
            self.special_tids.add(i)
        self.tflag.append(oflag)
        self.value_bytes.append(8 if i in self.managed else 0)
        pre = 0     # what sys.getsizeof adds to the sizer's result
        if (_call is not None and sizeof_safe and type(sizer) is _MethodDescriptorType
                and kind != K_TYPE):
            # sys.getsizeof(o) is sizer(o) plus what CPython keeps before the object:
            # the GC header and the managed dict (3.12+: or weakref) pointers. The
            # direct call skips getsizeof's argument parsing and bound-method creation.
            # Checked on the first instance seen (see check_sizers).
            pre = _GC_HEAD if tf & _TPFLAGS_HAVE_GC else 0
            if tf & (_TPFLAGS_PREHEADER if _PY >= (3, 12) else _TPFLAGS_MANAGED_DICT):
                pre += 2 * _PTR
            if pre > 0xFF:
                sizer, pre = sys.getsizeof, 0
            self.set_sizer(i, sizer)
            self.unchecked.add(i)
        elif _call is not None:
            self.set_sizer(i, sys.getsizeof)
        self.tinfo.append(oflag | pre << 8 | (0xFF << 16 if i in self.managed else 0))
        if _call is not None and (T is _MethodDescriptorType or T is _BuiltinFunctionType):
            self.held_tids.add(i)
        if has_del:
            self.finalizer_tids.add(i)
        if T is dict:
            self.dict_tid = i
        if T is str:
            self.str_tid = i
        elif T is bytes:
            self.bytes_tid = i
        elif T is int or T is float or T is complex or T is bool:
            self.num_tids.add(i)
        self.type_found(T)
        return i

    def provider_for(self, T, mro):
        """The provider for instances of T (see _PROVIDERS), False when it could not be
        built (instances flagged EDGES_INCOMPLETE), None when there is none."""
        for B in mro:
            if _T_FLAGS(B) & _TPFLAGS_HEAPTYPE:
                continue
            try:
                key = (_T_MODULE(B), _T_NAME(B))
            except Exception:
                continue
            cls = _PROVIDERS.get(key) if type(key[0]) is str and type(key[1]) is str else None
            if cls is None:
                continue
            name = "%s.%s" % key
            p = self.provider_objs.get(name)
            if p is None:
                try:
                    p = cls(B)
                    p.name = name
                except Exception as e:
                    p = False
                    self.provider_errors[name] = "%s: %s" % (type(e).__name__, e)
                self.provider_objs[name] = p
            return p
        return None

    def set_sizer(self, t, fn):
        """self.sizer[t] = fn (a new entry when t is the next type index), counting the
        references that list holds."""
        held, delta = self.held, self.held_delta
        if t < len(self.sizer):
            old = id(self.sizer[t])
            held[old] -= 1
            delta[old] = delta.get(old, 0) - 1
            self.sizer[t] = fn
        else:
            self.sizer.append(fn)
        i = id(fn)
        held[i] = held.get(i, 0) + 1
        delta[i] = delta.get(i, 0) + 1

    def check_sizers(self, chunk, tids, tset):
        """Compare the direct __sizeof__ call with sys.getsizeof on one instance of each
        type not checked yet; a type where they differ keeps sys.getsizeof."""
        for t in list(self.unchecked.intersection(tset)):
            self.unchecked.discard(t)
            o = chunk[tids.index(t)]
            try:
                ok = sys.getsizeof(o) == self.sizer[t](o) + (self.tinfo[t] >> 8 & 0xFF)
            except Exception:
                ok = False
            if not ok:
                self.set_sizer(t, sys.getsizeof)
                self.tinfo[t] &= ~0xFF00
        o = None


class _Walker(_Types):
    """State of one dump. Created after gc.get_objects(); nothing in the heap refers to it."""

    def __init__(self, work, values, preview_len):
        _Types.__init__(self, values)
        self.work = work
        self.work_ids = []      # the key (see seen) of each work-list entry, in order
        self.preview = preview_len
        # keys of the objects in the work and leaf lists and of the excluded objects:
        # id >> _SH. Distinct objects are a header (2**(_SH + 1) bytes) at least apart,
        # so their keys differ; and keys vary in their low bits, where CPython's set
        # table looks first (addresses, mostly multiples of 16, crowd one slot in 16 and
        # make every lookup several times slower)
        self.seen = set()
        self.c = Content()
        self.strtab = {b"": 0}
        self.labcache = {}      # id(str key) -> label
        self.incomplete = []
        self.no_traverse = _no_traverse()   # ids: never gc.get_referents on these
        self.immortal = []      # object indexes with REFCOUNT_UNKNOWN
        self.own = {}           # id -> references the dumper's frames hold (subtracted)
        self.own_keys = {}      # the same by key (see seen)
        self.ov = 0
        self.labels = None
        self.nedges = 0         # edges so far
        self.leaves = []        # untracked objects found (walked after the work list)
        self.leaf_ids = []      # the key of each, in the same order
        self.odd = {}           # key -> id, for an object whose id is not key << _SH
        self.own_at = {}        # work-list position -> references held by the dumper
        self.patterns = {}      # chunk length -> (ov, 0xFF, 0xC0000000, 0xE0000000) words
        self.own_next = _NEVER  # the smallest position in own_at
        self.positional_objs = []   # object indexes flagged POSITIONAL_EDGES by providers
        # fork child: id(frame) -> the frame it returns to, as the parent saw it, for the
        # frames of threads that do not exist here (see _snapshot_threads)
        self.back = {}

    def type_found(self, T):
        """Queue type T (registered): static types are not referents of instances."""
        if id(T) >> _SH not in self.seen:
            self.seen.add(id(T) >> _SH)
            if id(T) in self.own:
                self.own_at[len(self.work)] = self.own[id(T)]
                self.own_next = min(self.own_at)
            self.work.append(T)
            self.work_ids.append(self.key(id(T)))

    # -- strings
    def sid(self, s):
        """String id of s (bytes, str, or a str subclass read as plain text)."""
        # str.encode on a str subclass reads its characters in C: no user code runs
        b = s if type(s) is bytes else str.encode(s, "utf-8", "backslashreplace")
        i = self.strtab.get(b)
        if i is None:
            i = self.strtab[b] = len(self.c.strings)
            self.c.strings.append(b)
        return i

    def sids(self, strs):
        """String ids of many exact str objects (C-level)."""
        bs = list(map(str.encode, strs, itertools.repeat("utf-8"),
                      itertools.repeat("backslashreplace")))
        tab = self.strtab
        new = dict.fromkeys(itertools.filterfalse(tab.__contains__, bs))
        if new:
            tab.update(zip(new, itertools.count(len(self.c.strings))))
            self.c.strings.extend(new)
        return list(map(tab.__getitem__, bs))

    def key_label(self, k):
        """Label of the value stored under key k (bit 31 set), 0 if none."""
        i = id(k)
        lab = self.labcache.get(i)
        if lab is None:
            lab = 0
            if type(k) is str and self.values != "none":
                if self.values == "all":
                    lab = LABEL_KEY | self.sid(k[:self.preview])
                elif len(k) <= 64 and k.isidentifier():
                    lab = LABEL_KEY | self.sid(k)
            self.labcache[i] = lab     # keys stay alive in the work list: ids are stable
        return lab

    # -- types
    def provide(self, o, refs, j, labels, base):
        """refs[j] += what the provider of o's type reports (see _PROVIDERS)."""
        p = self.providers[self.tindex[id(type(o))]]
        if p is False:
            self.incomplete.append(base + j)
            return
        try:
            extra, labs, positional = p(o, self)
        except Exception as e:
            self.incomplete.append(base + j)
            name = p.name
            if name not in self.provider_errors:
                self.provider_errors[name] = "%s: %s" % (type(e).__name__, e)
            return
        r = refs[j]
        if positional and not r:
            refs[j] = extra
            self.positional_objs.append(base + j)
            return
        start = len(r)
        refs[j] = r + extra
        if labs is not None and self.values != "none":
            labels[j] = (start, 1, labs)

    # -- special objects (per-object Python work)
    def special(self, kind, o, refs, j, labels, vals, base):
        """Patch refs[j] for object o; may add labels[j] and value records."""
        if kind == K_DICTSUB:
            ks = list(dict.keys(o))
            vs = list(dict.values(o))
            if len(ks) != len(vs):
                return  # mutated concurrently: keep get_referents
            n = len(ks)
            r = [None] * (2 * n)
            r[0::2] = ks
            r[1::2] = vs
            # what the subclass's traverse reports beyond the items (its __dict__,
            # its type) goes first, once
            left = Counter(map(id, r))
            extra = []
            for x in refs[j]:
                if left[id(x)] > 0:
                    left[id(x)] -= 1
                else:
                    extra.append(x)
            offset = len(extra)
            r = extra + r
            refs[j] = r
            if self.values != "none" and n:
                lc = self.labcache
                labs = list(map(lc.get, map(id, ks)))
                if None in labs:
                    kl = self.key_label
                    labs = list(map(kl, ks))
                if any(labs):
                    labels[j] = (offset + 1, 2, labs)
        elif kind == K_CODE:
            r = refs[j]
            x = [o.co_consts, o.co_names, o.co_filename, o.co_name]
            if _PY >= (3, 11):
                x.append(o.co_qualname)
                x.append(o.co_linetable)
                x.append(o.co_exceptiontable)
                # co_varnames & co are computed fresh on each access: edges to the
                # strings they hold (which live in the code object), not the tuples.
                x.extend(o.co_varnames)
                x.extend(o.co_freevars)
                x.extend(o.co_cellvars)
                name = o.co_qualname
            else:
                x.append(o.co_code)
                x.append(o.co_linetable if _PY >= (3, 10) else o.co_lnotab)
                x.append(o.co_varnames)
                x.append(o.co_freevars)
                x.append(o.co_cellvars)
                name = o.co_name
            if r:
                have = set(map(id, r))
                x = [y for y in x if id(y) not in have]
                refs[j] = r + x
            else:
                refs[j] = x
            if self.values != "none":
                vals.append((base + j, self.sid(name) | V_NAME << 32))
        elif kind == K_FRAME:
            r = refs[j]
            have = set(map(id, r))
            code = o.f_code
            executing = id(code) not in have
            extra = []
            back = self.back.get(id(o), self) if self.back else self
            for y in (o.f_back if back is self else back, code, o.f_globals, o.f_builtins):
                if y is not None and id(y) not in have:
                    have.add(id(y))
                    extra.append(y)
            r = r + extra
            if executing:
                if code.co_flags & _CO_OPTIMIZED:
                    # On 3.11/3.12 in-process, f_locals materialises a dict on the frame
                    # (a snapshot of the fast locals); edges go frame -> value, never to
                    # that dict, and the dict's extra reference shows as refcount surplus.
                    # In a fork child or on 3.13 (a proxy) nothing persists.
                    fl = o.f_locals
                    items = list(dict.items(fl)) if type(fl) is dict else list(fl.items())
                    if items:
                        names = [k for k, _ in items]
                        start = len(r)
                        r.extend(v for _, v in items)
                        labs = [self.sid(k) if type(k) is str else 0 for k in names]
                        if any(labs):
                            labels[j] = (start, 1, labs)
                elif _PY < (3, 13) and (code.co_cellvars or code.co_freevars):
                    # a class body with a __class__ cell (or other cells): on 3.11/3.12
                    # f_locals would copy the cells into the namespace mapping, calling
                    # a __prepare__ mapping's __setitem__/__delitem__ (user code)
                    self.incomplete.append(base + j)
                else:
                    fl = o.f_locals
                    if fl is not None and (id(fl) not in have or fl is o.f_globals):
                        # module code: f_locals is f_globals, a second reference
                        r.append(fl)
            refs[j] = r
        elif kind == K_TYPE:
            tf = _T_FLAGS(o)
            r = refs[j]
            if tf & _TPFLAGS_HEAPTYPE:
                x = [_T_NAME(o), _T_QUALNAME(o)]
            elif not tf & _TPFLAGS_READY:
                # a static type never readied (e.g. _testcapi's): its dict, mro and
                # bases are NULL and their getters crash the interpreter
                x = []
                self.incomplete.append(base + j)
            else:
                x = gc.get_referents(_T_DICT(o))
                x.append(_T_MRO(o))
                x.append(_T_BASES(o))
                b = _T_BASE(o)
                if b is not None:
                    x.append(b)
            have = set(map(id, r))
            refs[j] = r + [y for y in x if y is not None and id(y) not in have]
            if self.values != "none":
                name = _T_QUALNAME(o)
                if type(name) is str:
                    vals.append((base + j, self.sid(name) | V_NAME << 32))
        elif kind == K_MODULE:
            for d in refs[j]:
                if type(d) is dict:
                    name = dict.get(_plain_str_dict(d), "__name__")
                    if issubclass(type(name), str):
                        vals.append((base + j, self.sid(name) | V_NAME << 32))
                    break
        elif kind == K_FUNC:
            name = o.__qualname__
            if type(name) is str:
                vals.append((base + j, self.sid(name) | V_NAME << 32))
        elif kind == K_BFUNC:
            name = o.__name__
            if type(name) is str:
                vals.append((base + j, self.sid(name) | V_NAME << 32))
        elif kind == K_PROVIDER:
            self.provide(o, refs, j, labels, base)

    @staticmethod
    def calibrate():
        """The references getrefcount sees for an object of a chunk that the dumper
        holds itself (the work list, the chunk list, the call's argument): the count it
        reports for a probe that nothing else holds, read the way chunk() reads."""
        work = [object()]
        chunk = work[0:1]
        return list(map(sys.getrefcount, chunk))[0]

    def chunk(self, src, src_ids, lo, hi, base):
        """Process src[lo:hi] (the work list or the leaf list), the objects base, base + 1,
        ... of the dump, in phases: reference counts, types, referents, sizes/flags/
        counts, corrections of the counts, addresses, values, edges, new objects. All
        temporaries die when this returns (and the phases' when they return)."""
        chunk = src[lo:hi]
        # first, before any other reference exists; minus the dumper's own references
        # (work or leaf list, chunk list, the getrefcount call), calibrated with a probe.
        rc = list(map(sys.getrefcount, chunk))
        tids = self.type_ids(chunk)
        # the chunk's distinct types: the per-type checks test this small set, not the
        # whole tids list
        tset = set(tids)
        labels = {}    # j -> (first, step, labels) relative to the object's first edge
        vals = []
        # only leaves (instances of plain types without GC support: no referents, as
        # gc.get_referents would say): no edges to find
        leafy = tset.issubset(self.leaf_tids)
        if leafy:
            refs = lens = dict_labels = None
        else:
            refs, dict_labels = self.referents(chunk, tids, tset, base, labels, vals)
            lens = list(map(len, refs))
        # sizes, flags, refcounts (minus the dumper's references: see calibrate)
        if not self.packed(chunk, tids, tset, rc, lens, base, leafy):
            self.unpacked(chunk, tids, tset, rc, lens, base)
        del rc
        self.corrections(chunk, tids, tset, base, lo, hi, src is self.work)
        self.addresses(src_ids, lo, hi, base)
        self.c.otype.fromlist(tids)
        # values of strings, bytes, numbers
        if self.values == "all":
            self.chunk_values(chunk, tids, base, vals)
        if vals:
            vals.sort()
            self.c.value_object.fromlist([v[0] for v in vals])
            self.c.value_word.fromlist([v[1] for v in vals])
        del vals
        if leafy:
            self.c.edge_start.extend(_u64([self.nedges]) * len(chunk))
            return
        del chunk, tids, tset
        by_id = self.edges(refs, lens, labels, dict_labels)
        del refs
        self.discover(by_id)

    def type_ids(self, chunk):
        """The type index of each object of the chunk (registering new types)."""
        try:
            return list(map(self.tindex.__getitem__, map(id, map(type, chunk))))
        except KeyError:    # a type not seen before: register it
            tids = []
            for o in chunk:
                i = self.tindex.get(id(type(o)))
                tids.append(self.register_type(type(o)) if i is None else i)
            return tids

    def referents(self, chunk, tids, tset, base, labels, vals):
        """(refs, dict_labels): the referents of each object of the chunk, patched where
        tp_traverse hides or misorders them (positional items, dict keys, the special
        kinds, providers); labels and vals get what the special kinds add."""
        compress = itertools.compress
        dict_labels = None
        nt = self.no_traverse
        try:
            if nt and self.tindex.get(id(_ModuleType)) in tset:
                raise LookupError   # a module whose traverse is unsafe may be here
            refs = list(map(gc.get_referents, chunk))
        except Exception:
            refs = []
            for j, o in enumerate(chunk):
                try:
                    if id(o) in nt:
                        # its own dict only: the state behind it stays unseen
                        refs.append([_MODULE_DICT(o)])
                        self.incomplete.append(base + j)
                    else:
                        refs.append(gc.get_referents(o))
                except Exception:
                    refs.append([])
                    self.incomplete.append(base + j)
        # list_traverse and tuple_traverse visit items last to first: reverse them
        # so edge j is item [j] (POSITIONAL_EDGES)
        if not self.positional.isdisjoint(tset):
            deque(map(list.reverse,
                      compress(refs, map(self.positional.__contains__, tids))), maxlen=0)
        if self.dict_tid in tset:
            dict_labels = self.dicts(chunk, tids, refs)
        if not self.special_tids.isdisjoint(tset):
            special = self.special
            tkind = self.tkind
            for j in compress(range(len(chunk)), map(self.special_tids.__contains__, tids)):
                try:
                    special(tkind[tids[j]], chunk[j], refs, j, labels, vals, base)
                except Exception:
                    self.incomplete.append(base + j)
        return refs, dict_labels

    def corrections(self, chunk, tids, tset, base, lo, hi, in_work):
        """After packed/unpacked: the finalized flag, and the reference counts net of the
        references that self.sizer and the dumper's active frames hold."""
        compress = itertools.compress
        c = self.c
        n = len(chunk)
        if _HAS_IS_FINALIZED and not self.finalizer_tids.isdisjoint(tset):
            isf = gc.is_finalized
            for j in compress(range(n), map(self.finalizer_tids.__contains__, tids)):
                if isf(chunk[j]):
                    c.flags[base + j] |= F_GC_FINALIZED
        crc = c.refcount
        if not self.held_tids.isdisjoint(tset):
            # references held by self.sizer when the refcounts were read
            held, delta = self.held, self.held_delta
            for j in compress(range(n), map(self.held_tids.__contains__, tids)):
                k = held.get(id(chunk[j]), 0) - delta.get(id(chunk[j]), 0)
                if k and crc[base + j] < _IMMORTAL_LIMIT:
                    crc[base + j] = max(0, crc[base + j] - k)
        if self.held_delta:
            self.held_delta = {}
        if self.own_next < hi and in_work:
            # references held by the dumper's active frames (see _frame_references)
            at = self.own_at
            for p in list(filter(hi.__gt__, at)):
                crc[base + p - lo] = max(0, crc[base + p - lo] - at.pop(p))
            self.own_next = min(at) if at else _NEVER

    def addresses(self, src_ids, lo, hi, base):
        """The addresses of the chunk's objects, from their keys (see seen)."""
        c = self.c
        keys = src_ids[lo:hi]
        c.address.frombytes((int.from_bytes(_u64(keys), sys.byteorder) << _SH).to_bytes(
            8 * len(keys), sys.byteorder))
        if self.odd and not self.odd.keys().isdisjoint(keys):
            for j in itertools.compress(range(len(keys)), map(self.odd.__contains__, keys)):
                c.address[base + j] = self.odd[keys[j]]

    def edges(self, refs, lens, labels, dict_labels):
        """Append the chunk's edges and labels; returns {id: referent}."""
        c = self.c
        repeat = itertools.repeat
        e0 = self.nedges
        starts = list(itertools.accumulate(lens, initial=e0))
        c.edge_start.fromlist(starts[1:])
        chain = itertools.chain.from_iterable
        fids = list(map(id, chain(refs)))
        c.edge_target.fromlist(fids)
        self.nedges = starts[-1]
        if labels or dict_labels or self.labels is not None:
            if self.labels is None:
                self.labels = _u32(bytes(4 * e0))
            lab = self.labels
            lab.frombytes(bytes(4 * len(fids)))
            if dict_labels:
                # the value edges of dict j are at starts[j] + 1, + 3, ...
                js, counts, labs = dict_labels
                firsts = list(map(add, map(starts.__getitem__, js), repeat(1)))
                value_positions = itertools.chain.from_iterable(
                    map(range, firsts, map(add, firsts, counts), repeat(2)))
                deque(map(setitem, repeat(lab), value_positions, labs), maxlen=0)
                del firsts, value_positions
            for j, (first, step, labs) in labels.items():
                p = starts[j] + first
                lab[p:p + step * len(labs):step] = _u32(labs)
            del lab
        return dict(zip(fids, chain(refs)))

    def discover(self, by_id):
        """Queue the referents not seen before: GC-tracked ones on the work list, the
        others (mostly leaves: str, int, ...) on the leaf list, walked after it in chunks
        that are then all leaves."""
        repeat = itertools.repeat
        compress = itertools.compress
        new = set(map(rshift, by_id, repeat(_SH))).difference(self.seen)   # keys
        if not new:
            return
        self.seen.update(new)
        own = not self.own_keys.keys().isdisjoint(new)
        ids = new = list(new)   # the work and leaf lists keep keys (the ints of seen)
        try:
            objs = list(map(by_id.__getitem__, map(lshift, new, repeat(_SH))))
        except KeyError:    # an id that is not key << _SH
            back = dict(zip(map(rshift, by_id, repeat(_SH)), by_id))
            raw = list(map(back.__getitem__, new))
            objs = list(map(by_id.__getitem__, raw))
            self.check_odd(raw, new)
            back = raw = None
        if own:
            self.own_found(new)
        else:
            tracked = bytes(map(gc.is_tracked, objs))
            if tracked.count(0):
                self.leaves.extend(compress(objs, tracked.translate(_NOT)))
                self.leaf_ids.extend(compress(ids, tracked.translate(_NOT)))
                self.work.extend(compress(objs, tracked))
                self.work_ids.extend(compress(ids, tracked))
                return
        self.work.extend(objs)
        self.work_ids.extend(ids)

    def key(self, i):
        """The key of the object with id i (see seen)."""
        k = i >> _SH
        if i & _ODD:
            self.odd[k] = i
        return k

    def check_odd(self, ids, keys):
        """Record the objects among ids (with their keys) whose id is not key << _SH:
        none in practice (every object is pointer-aligned), so checked in C first."""
        if _u64(ids).tobytes()[_LOW::8].translate(None, _ALIGNED):
            self.odd.update(itertools.compress(zip(keys, ids),
                                               map(and_, ids, itertools.repeat(_ODD))))

    def own_found(self, new):
        """Record the work-list positions that the objects of the keys `new` are about
        to take (in its iteration order) for the dumper's own objects among them."""
        own, at = self.own_keys, self.own_at
        base = len(self.work_ids)
        for k, i in enumerate(new):
            if i in own:
                at[base + k] = own[i]
        self.own_next = min(at) if at else _NEVER

    def dicts(self, chunk, tids, refs):
        """Exact dicts of a chunk, in C-level passes: edges key0, value0, key1, ...

        Returns None, or (positions in the chunk, edge counts, the label of every key
        in order): the value edge after each key edge carries that key's label."""
        compress = itertools.compress
        repeat = itertools.repeat
        chain = itertools.chain.from_iterable
        js = list(compress(range(len(chunk)), map(eq, tids, repeat(self.dict_tid))))
        # one C-level iteration per dict, atomic under the GIL: key0, value0, key1, ...
        inter = list(map(list, map(chain, map(dict.items, map(chunk.__getitem__, js)))))
        deque(map(setitem, itertools.repeat(refs), js, inter), maxlen=0)
        if self.values == "none":
            return None
        lens = list(map(len, inter))      # edges per dict: two per key
        allk = list(chain(map(getitem, inter, repeat(_EVEN))))
        del inter
        try:
            labs = list(map(self.labcache.__getitem__, map(id, allk)))
        except KeyError:    # keys not seen before
            labs = list(map(self.labcache.get, map(id, allk)))
            key_label = self.key_label
            for p in compress(range(len(labs)), map(is_, labs, repeat(None))):
                labs[p] = key_label(allk[p])
        del allk
        if not any(labs):
            return None
        return js, lens, labs

    def packed(self, chunk, tids, tset, rc, lens, base, leafy):
        """Sizes, flags and reference counts of a chunk, the common case: each column as
        a big int of packed u32 words, so that the per-type parts (the size prefix, the
        type's flags, the managed values) and the dumper's own references are added in
        one operation per column instead of one call per object. Appends nothing and
        returns False when a value does not fit (the caller then uses unpacked)."""
        if self.unsafe_size and not self.unsafe_size.isdisjoint(tset):
            return False
        n = len(chunk)
        pat = self.patterns.get(n)
        if pat is None:
            pat = self.patterns[n] = _patterns(n, self.ov)
        ov, ff, high2, high3 = pat
        bo = sys.byteorder
        try:
            rb = _u32(rc)
            sb = _u32()
            if _call is not None:
                if self.unchecked and not self.unchecked.isdisjoint(tset):
                    self.check_sizers(chunk, tids, tset)
                sb.extend(map(_call, map(self.sizer.__getitem__, tids), chunk))
            else:
                sb.extend(map(sys.getsizeof, chunk))
        except Exception:   # past 32 bits, or a __sizeof__ that fails
            return False
        # per object: the type's flags | size prefix << 8 | 0xFF << 16 if managed values,
        # | 1 (F_GC_TRACKED) if tracked
        if leafy:   # never tracked: no GC support
            info = int.from_bytes(_u32(list(map(self.tinfo.__getitem__, tids))), bo)
        else:
            info = int.from_bytes(_u32(list(map(or_, map(self.tinfo.__getitem__, tids),
                                                 map(gc.is_tracked, chunk)))), bo)
        size = int.from_bytes(sb, bo)
        count = int.from_bytes(rb, bo) - ov   # never below: every entry counts ov
        if size & high2:    # a size >= 2**30
            return False
        size += (info >> 8) & ff
        if self.managed and not self.managed.isdisjoint(tset):
            # 8 bytes per referent where the values live with the instance (see
            # register_type): 0xFF * 0x01010101 widens the marker to a whole word
            extra = (int.from_bytes(_u32(lens), bo) << 3) & ((info >> 16) & ff) * 0x01010101
            if extra & high2:
                return False
            size += extra
        c = self.c
        c.size.frombytes(size.to_bytes(4 * n, bo))
        c.flags.frombytes((info & ff).to_bytes(4 * n, bo))
        c.refcount.frombytes(count.to_bytes(4 * n, bo))
        if count & high3:   # a count >= 2**29: immortal (static objects of 3.11 too)
            lim = _IMMORTAL_LIMIT + self.ov
            for j in itertools.compress(range(n), map(ge, rc, itertools.repeat(lim))):
                if _IS_IMMORTAL is not None and not _IS_IMMORTAL(chunk[j]):
                    continue    # 3.14+: the interpreter says (a count that high is real)
                self.immortal.append(base + j)
                c.flags[base + j] |= F_REFCOUNT_UNKNOWN
        return True

    def unpacked(self, chunk, tids, tset, rc, lens, base):
        """Sizes, flags and reference counts of a chunk, object by object (see packed)."""
        n = len(chunk)
        c = self.c
        repeat = itertools.repeat
        compress = itertools.compress
        rc = list(map(sub, rc, repeat(self.ov)))
        if self.unsafe_size and not self.unsafe_size.isdisjoint(tset):
            sz = []
            for j, o in enumerate(chunk):
                if tids[j] in self.unsafe_size:
                    sz.append(object.__sizeof__(o) + (_GC_HEAD if gc.is_tracked(o) else 0))
                else:
                    sz.append(self._getsizeof(o))
            o = None
        else:
            try:
                sz = list(map(sys.getsizeof, chunk))
            except Exception:
                sz = list(map(self._getsizeof, chunk))
        if self.managed and not self.managed.isdisjoint(tset):
            sz = list(map(add, sz, map(mul, lens, map(self.value_bytes.__getitem__, tids))))
        if max(sz) >= U32_MAX:
            for j in compress(range(n), map(ge, sz, repeat(U32_MAX))):
                c.wide_object.append(base + j)
                c.wide_size.append(sz[j])
                sz[j] = U32_MAX
        c.size.fromlist(sz)
        fl = list(map(or_, map(self.tflag.__getitem__, tids), map(gc.is_tracked, chunk)))
        if max(rc) >= _IMMORTAL_LIMIT:
            for j in compress(range(n), map(ge, rc, repeat(_IMMORTAL_LIMIT))):
                if rc[j] > U32_MAX:
                    rc[j] = U32_MAX
                if _IS_IMMORTAL is not None and not _IS_IMMORTAL(chunk[j]):
                    continue    # 3.14+: the interpreter says (see packed)
                self.immortal.append(base + j)
                fl[j] |= F_REFCOUNT_UNKNOWN
        c.flags.fromlist(fl)
        c.refcount.fromlist(rc)

    def _getsizeof(self, o):
        try:
            return sys.getsizeof(o)
        except Exception:
            return object.__sizeof__(o) + (_GC_HEAD if gc.is_tracked(o) else 0)

    def chunk_values(self, chunk, tids, lo, vals):
        """values="all": truncated previews of exact str, bytes and numbers."""
        repeat = itertools.repeat
        compress = itertools.compress
        n = len(chunk)
        P = self.preview
        strmask = list(map(eq, tids, repeat(self.str_tid)))
        if any(strmask):
            strs = list(compress(chunk, strmask))
            idx = list(compress(range(lo, lo + n), strmask))
            trunc = list(map(gt, map(len, strs), repeat(P)))
            if any(trunc):
                cut = slice(0, P)
                strs = [s[cut] if t else s for s, t in zip(strs, trunc)]
            words = map(or_, map(or_, self.sids(strs), repeat(V_STR << 32)),
                        map(lshift, trunc, repeat(48)))
            vals.extend(zip(idx, words))
        for j in compress(range(n), map(eq, tids, repeat(self.bytes_tid))):
            b = chunk[j]
            t = len(b) > P
            text = repr(b[:P])[2:-1] if t else repr(b)[2:-1]
            vals.append((lo + j, self.sid(text) | V_BYTES << 32 | t << 48))
        if self.num_tids:
            for j in compress(range(n), map(self.num_tids.__contains__, tids)):
                x = chunk[j]
                if type(x) is int and not -(1 << 12000) < x < (1 << 12000):
                    continue   # too large to convert cheaply (and past str limits)
                try:
                    text = repr(x)
                except ValueError:     # past sys.set_int_max_str_digits()
                    continue
                t = len(text) > P
                if t:
                    text = text[:P]
                vals.append((lo + j, self.sid(text) | V_NUMBER << 32 | t << 48))


_HAS_IS_FINALIZED = hasattr(gc, "is_finalized")
_IS_IMMORTAL = getattr(sys, "_is_immortal", None)     # 3.14+


def _free_threaded():
    """Why a dump is refused on this interpreter (a free-threaded build), or None."""
    try:
        import sysconfig
        if sysconfig.get_config_var("Py_GIL_DISABLED"):
            return ("free-threaded build (Py_GIL_DISABLED=1): its reference counts are "
                    "split and biased, so refcount-surplus roots would be wrong; use a "
                    "default (GIL) build of CPython")
    except Exception:
        pass
    return None


def _seed_roots(w, frames, thread_names, skip_frame_ids):
    """Append the explicit roots to the work list; return root descriptions by id.

    frames: {thread ident: innermost frame, or (fork child) the list of its frames from
    the innermost out}, emptied here (it must not hold references while the walk reads
    reference counts; w.back keeps the chains' links, counted in w.own by _walk)."""
    work, work_ids, seen = w.work, w.work_ids, w.seen
    roots = {}   # id -> list of (kind, label sid, detail)
    at = {}      # id -> work-list position, for the roots appended here

    def add(o, kind=None, label=0, detail=0):
        i = id(o)
        if i >> _SH not in seen:
            seen.add(i >> _SH)
            if kind is not None:
                at[i] = len(work)
            work.append(o)
            work_ids.append(w.key(i))
        if kind is not None:
            roots.setdefault(i, []).append((kind, label, detail))

    mods = sys.modules
    add(mods, R_INTERPRETER, w.sid("sys.modules"))
    for item in list(dict.items(mods)):
        add(item[1], R_MODULE, w.sid(item[0]) if type(item[0]) is str else 0)
    item = None
    import builtins
    add(builtins)
    for m, label in ((builtins, "builtins"), (sys, "sys")):
        for d in gc.get_referents(m):
            if type(d) is dict:
                add(d, R_INTERPRETER, w.sid(label))
        d = None
    garbage = gc.garbage
    # copied in C: a list subclass put there by the program could hook iteration
    garbage = list.copy(garbage) if issubclass(type(garbage), list) else []
    for g in garbage:
        add(g, R_GC_GARBAGE)
    g = garbage = None
    # threads: every frame of every thread; the innermost non-dumper frame is the root
    while frames:
        ident, f = frames.popitem()
        if type(f) is list:
            # a fork child: the chain as the parent saw it. Never f.f_back here: for a
            # thread that does not exist in the child it reads that thread's C stack
            # (3.15: a segfault)
            chain = f
            first = True
            for k in range(len(chain)):
                f = chain[k]
                if id(f) in skip_frame_ids:
                    break
                if first:
                    add(f, R_THREAD, thread_names.get(ident, 0), ident)
                    first = False
                else:
                    add(f)
                w.back[id(f)] = chain[k + 1] if k + 1 < len(chain) else None
            chain = None
            continue
        f = _walk_frames_skip(f)
        first = True
        while f is not None and id(f) not in skip_frame_ids:
            if first:
                add(f, R_THREAD, thread_names.get(ident, 0), ident)
                first = False
            else:
                add(f)
            f = f.f_back
    f = None
    # every type, through __subclasses__ from object
    stack = [object]
    while stack:
        T = stack.pop()
        if id(T) >> _SH not in seen:
            seen.add(id(T) >> _SH)
            work.append(T)
            work_ids.append(w.key(id(T)))
        try:
            subs = _T_SUBCLASSES(T)
        except Exception:
            continue
        for S in subs:
            if id(S) >> _SH not in seen:
                stack.append(S)
    return roots, at


def _cut_edges(c, targets):
    """Remove every edge to the addresses `targets` (objects left out of the dump that
    something in it holds: this module's list of trigger handles, a handle a program
    keeps), so that none dangles. C-level scans: only a few edges are ever removed."""
    import bisect
    et, es, lab = c.edge_target, c.edge_start, c.edge_label
    raw = None
    drop = []
    for t in targets:
        k = et.count(t)
        if not k:
            continue
        if raw is None:
            raw = et.tobytes()
        pat = _u64([t]).tobytes()
        p = raw.find(pat)
        while p >= 0 and k:
            if p % 8 == 0:
                drop.append(p // 8)
                k -= 1
            p = raw.find(pat, p + 1)
    raw = None
    for p in sorted(drop, reverse=True):
        del et[p]
        if lab is not None:
            del lab[p]
        i = bisect.bisect_right(es, p)      # edge p belongs to object i - 1
        n = len(es) - i
        if n:
            bo = sys.byteorder
            tail = int.from_bytes(es[i:].tobytes(), bo) - int.from_bytes(_u64([1]) * n, bo)
            es[i:] = _u64()
            es.frombytes(tail.to_bytes(8 * n, bo))


def _patterns(n, ov):
    """Big ints of n packed native u32 words: ov, 0xFF, 0xC0000000, 0xE0000000 (see
    _Walker.packed)."""
    return tuple(int.from_bytes(_u32([w]) * n, sys.byteorder)
                 for w in (ov, 0xFF, 0xC0000000, 0xE0000000))


def _first_positions(ids, wanted):
    """Positions in the list ids of the members of the set wanted (each once in ids),
    scanning only up to the last of them."""
    found = itertools.compress(itertools.count(), map(wanted.__contains__, ids))
    return itertools.islice(found, len(wanted))


def _walk(values, preview_len, frames, thread_names, excluded, own=None, cut=()):
    """Enumerate the heap; returns (Content, walk seconds, sid, facts). frames: list of
    (ident, frame); excluded: ids left out; own: Counter {id: references held by objects
    left out}, subtracted; cut: ids of objects left out whose in-edges are removed."""
    work = gc.get_objects()   # first, before any other work structure exists
    t0 = time.perf_counter()
    w = _Walker(work, values, preview_len)
    # the dumper's own frames (3.8-3.10 frames are in gc.get_objects)
    mine = set()
    f = sys._getframe()
    while f is not None and f.f_globals is _GLOBALS:
        mine.add(id(f))
        f = f.f_back
    f = None
    excl = set(excluded)
    excl.update(mine)
    excl.update((id(work), id(w), id(w.seen), id(w.work_ids), id(frames), id(thread_names)))
    ids = w.work_ids
    raw = list(map(id, work))
    ids.extend(map(rshift, raw, itertools.repeat(_SH)))
    w.check_odd(raw, ids)
    del raw
    w.seen.update(ids)
    # (no comprehensions in this function: a closure would make w a cell, referenced
    # from the frame before gc.get_objects() and then a way from the heap to the walk)
    hit = set(itertools.compress(excl, map(w.seen.__contains__,
                                           map(rshift, excl, itertools.repeat(_SH)))))
    if hit:     # e.g. the facts, the dumper's own frames
        # found in one scan that stops at the last of them (they are often young: near
        # the start of gc.get_objects()), then removed in one pass over that prefix
        pos = list(_first_positions(ids, set(map(rshift, hit, itertools.repeat(_SH)))))
        end = pos[-1] + 1
        keep = [True] * end
        for p in pos:
            keep[p] = False
        work[:end] = list(itertools.compress(work[:end], keep))
        ids[:end] = list(itertools.compress(ids[:end], keep))
        del pos, keep
    hit = None
    w.seen.update(map(rshift, excl, itertools.repeat(_SH)))   # never appended
    del ids
    names = {}
    for ident, b in thread_names.items():
        names[ident] = w.sid(b)
    roots, root_at = _seed_roots(w, frames, names, mine)
    del names
    for T in (str, bytes, int, float, complex, bool, dict, list, tuple):
        if id(T) not in w.tindex:
            w.register_type(T)
    w.ov = w.calibrate()
    # while chunk() reads reference counts, its frame and this function's callers in
    # this module hold references to their functions, code objects, ...
    w.own = _frame_references(sys._getframe(), _Walker.chunk)
    if own:
        w.own.update(own)
    for f in w.back.values():      # the frame links w.back holds
        if f is not None:
            w.own[id(f)] += 1
    f = None
    w.own_keys = dict(zip(map(rshift, w.own, itertools.repeat(_SH)), w.own.values()))
    w.held_delta = {}   # the references taken so far are held when every count is read
    hit = set(itertools.compress(w.own_keys, map(w.seen.__contains__, w.own_keys)))
    if hit:
        for p in _first_positions(w.work_ids, hit):
            w.own_at[p] = w.own_keys[w.work_ids[p]]
        w.own_next = min(w.own_at)
    hit = None
    # the work list, then the leaves (which find nothing new unless some are not)
    lo = llo = base = 0
    leaves, leaf_ids = w.leaves, w.leaf_ids
    while True:
        if lo < len(work):
            hi = min(lo + _CHUNK, len(work))
            w.chunk(work, w.work_ids, lo, hi, base)
        elif llo < len(leaves):
            hi = min(llo + _CHUNK, len(leaves))
            w.chunk(leaves, leaf_ids, llo, hi, base)
            base += hi - llo
            llo = hi
            continue
        else:
            break
        base += hi - lo
        lo = hi
    seconds = time.perf_counter() - t0
    c = w.c
    w.labcache = None
    c.edge_label = w.labels
    w.labels = None
    for i in w.incomplete:
        c.flags[i] |= F_EDGES_INCOMPLETE
    for i in w.positional_objs:
        c.flags[i] |= F_POSITIONAL_EDGES
    if cut:
        _cut_edges(c, cut)
    # explicit roots and gc.garbage flags: every root was in the work list before the
    # chunk loop started; the ones from gc.get_objects() are found by a scan that stops
    # at the last of them
    rest = set(roots).difference(root_at)
    if rest:
        rest = dict(zip(map(rshift, rest, itertools.repeat(_SH)), rest))   # key -> id
        for p in _first_positions(w.work_ids, rest.keys()):
            root_at[rest[w.work_ids[p]]] = p
    hits = sorted(root_at.values())
    rest = root_at = None
    ro, rkl, rd = c.root_object, c.root_kl, c.root_detail
    for i in hits:
        for kind, label, detail in roots[c.address[i]]:
            ro.append(i)
            rkl.append(kind | label << 32)
            rd.append(detail)
            if kind == R_GC_GARBAGE:
                c.flags[i] |= F_GC_GARBAGE
    # immortal roots. Refcount-surplus roots are not stored: readers derive them from
    # the refcounts and the edges (SPEC 4.6), which costs them far less than us.
    ro.fromlist(w.immortal)
    rkl.fromlist([R_IMMORTAL] * len(w.immortal))
    rd.fromlist([0] * len(w.immortal))
    w.seen = w.work_ids = w.leaf_ids = None
    # what the walk knows of its own completeness (keys a reader may ignore, SPEC 4.1)
    extra = [(b"objects.edges_incomplete", FACT_U64, len(set(w.incomplete)))]
    used = sorted(k for k, p in w.provider_objs.items() if p is not False)
    if used:
        extra.append((b"providers", FACT_STRING, _encode(" ".join(used))))
    if w.provider_errors:
        extra.append((b"providers.failed", FACT_STRING, _encode("; ".join(
            "%s: %s" % kv for kv in sorted(w.provider_errors.items())))))
    w.provider_objs = w.providers = None
    # the work list is dropped by the caller (it holds every object)
    return c, seconds, w.sid, extra


# ---------------------------------------------------------------------------
# Facts


def _rss_bytes():
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except Exception:
        pass
    try:
        import resource
        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r if sys.platform == "darwin" else r * 1024
    except Exception:
        return None


def _gather_facts(mode, collect, values, preview_len, pid, gc_enabled):
    """Facts known before the walk, as (key, kind, value) with str values for STRING."""
    facts = [
        ("dumper.name", FACT_STRING, "heapsnap-python"),
        ("dumper.version", FACT_STRING, __version__),
        ("dumper.options", FACT_STRING, "mode=%s collect=%s values=%s preview_len=%d"
         % (mode, "true" if collect else "false", values, preview_len)),
        ("dump.mode", FACT_STRING, mode),
        ("time.unix_ns", FACT_U64, time.time_ns() if hasattr(time, "time_ns")
         else int(time.time() * 1e9)),
        ("pid", FACT_U64, pid),
        ("platform", FACT_STRING, sys.platform),
        ("pointer_size", FACT_U64, struct.calcsize("P")),
        ("python.implementation", FACT_STRING, sys.implementation.name),
        ("python.version", FACT_STRING, "%d.%d.%d" % sys.version_info[:3]),
        ("python.build", FACT_STRING, sys.version),
    ]
    try:
        facts.append(("machine", FACT_STRING, os.uname().machine))
    except Exception:
        pass
    rss = _rss_bytes()
    if rss is not None:
        facts.append(("rss.bytes", FACT_U64, rss))
    facts.append(("gc.enabled", FACT_BOOL, 1 if gc_enabled else 0))
    for i, v in enumerate(gc.get_count()):
        facts.append(("gc.count.%d" % i, FACT_U64, v))
    for i, v in enumerate(gc.get_threshold()):
        facts.append(("gc.threshold.%d" % i, FACT_U64, v))
    try:
        facts.append(("gc.frozen", FACT_U64, gc.get_freeze_count()))
    except Exception:
        pass
    # keys and str values as bytes: the list must not hold references to heap strings
    # (the key literals are constants of this function's code object, in the dump)
    return [(_encode(k), kind, _encode(v) if type(v) is str else v) for k, kind, v in facts]


def _put_facts(c, strtab_sid, facts):
    for key, kind, value in facts:
        if kind == FACT_STRING:
            value = strtab_sid(value)
        c.fact_kk.append(strtab_sid(key) | kind << 32)
        c.fact_value.append(value & 0xFFFFFFFFFFFFFFFF)


# ---------------------------------------------------------------------------
# dump()

_fields = ("ok", "path", "error", "objects", "edges", "seconds", "bytes", "child_pid")
DumpResult = namedtuple("DumpResult", _fields)
DumpResult.__new__.__defaults__ = (None, 0, 0, 0.0, 0, None)
DumpResult.__doc__ = """Result of dump(): ok, path, error (str or None), objects, edges,
seconds (wall time of the dump; the parent's pause for fork=True, wait=False), bytes
(file size), child_pid (fork mode)."""

_lock = threading.Lock()
_VALUES = ("names", "all", "none")


def _say(msg):
    try:
        os.write(2, ("heapsnap: %s\n" % msg).encode("utf-8", "backslashreplace"))
    except Exception:
        pass


def _snapshot_threads(chains=False):
    """({thread ident: innermost frame}, {thread ident: name}). chains (before a fork):
    each thread's frames as a list, innermost first, read here where every thread's
    stack exists (f_back can read a thread's C stack, which a fork child has not)."""
    frames = sys._current_frames()
    me = threading.get_ident()
    if me in frames:   # the dumping thread: start below the dumper's own frames
        frames[me] = _walk_frames_skip(frames[me])
        if frames[me] is None:
            del frames[me]
    if chains:
        for ident in list(frames):
            f = frames[ident]
            chain = []
            while f is not None:
                chain.append(f)
                f = f.f_back
            frames[ident] = chain
        f = chain = None
    names = {}
    try:
        for ident, t in list(dict.items(threading._active)):
            if _defines_before(type(t), "_name", threading.Thread):
                continue     # a subclass's descriptor would run user code
            try:
                name = object.__getattribute__(t, "_name")
            except Exception:
                continue
            if issubclass(type(name), str):
                names[ident] = str.encode(name, "utf-8", "backslashreplace")
    except Exception:
        pass
    return frames, names


def _module_functions():
    """{id(code object): function} for the functions and methods of this module."""
    out = {}
    for obj in list(_GLOBALS.values()):
        if type(obj) is type and obj.__module__ == __name__:
            members = list(_T_DICT(obj).values())
        else:
            members = [obj]
        for f in members:
            if type(f) is staticmethod:
                f = f.__func__
            if type(f) is _FunctionType:
                out[id(f.__code__)] = f
    return out


def _frame_references(frame, inner_function):
    """Counter {id: references} held by the dumper's active frames: `frame`, its
    callers in this module, and one more frame running `inner_function`.

    Each executing frame holds its code object and its function (3.11+: the frame's
    f_func; before: the caller's value stack); before 3.11 also its globals, builtins
    and the frame it returns to (f_back: for the outermost one, the program's frame)."""
    functions = _module_functions()
    frames = []
    while frame is not None and frame.f_globals is _GLOBALS:
        frames.append((frame.f_code, frame))
        frame = frame.f_back
    caller = frame
    own = Counter()
    for code, f in frames + [(inner_function.__code__, frames[0][1] if frames else None)]:
        own[id(code)] += 1
        fn = functions.get(id(code))
        if fn is not None:
            own[id(fn)] += 1
        if _PY < (3, 11):
            own[id(_GLOBALS)] += 1
            if f is not None:
                own[id(f.f_builtins)] += 1
    if _PY < (3, 11) and caller is not None and frames:
        own[id(caller)] += 1
    return own


def _private_str(s):
    """A new exact str equal to s, referenced by nothing in the heap."""
    return "".join((s, "\0"))[:-1]


def _defines_before(T, name, base):
    """True if a class of T's MRO before `base` defines `name` (or cannot be checked)."""
    for B in _T_MRO(T) or (T,):
        if B is base:
            return False
        d = _T_DICT(B)
        if d is None or _plain_str_dict(d) is not d or name in d:
            return True
    return True


def _dump_here(path, collect, values, preview_len, mode, pid, frames, names, child=None,
               exclude=()):
    """Dump in this process: walk, then write path atomically. Returns DumpResult.

    child: in a fork child, (the parent's gc.isenabled(), what its gc.collect() returned
    or None): the collection ran in the parent and the collector stays off here.
    exclude: ids of the caller's own objects, kept out of the dump."""
    t_start = time.perf_counter()
    tmp = "%s.tmp-%d" % (path, os.getpid())
    was_enabled = gc.isenabled() if child is None else child[0]
    fd = -1
    c = None
    renamed = False
    try:
        facts = _gather_facts(mode, collect, values, preview_len, pid, was_enabled)
        if child is not None:
            if child[1] is not None:
                facts.append((b"gc.collected", FACT_U64, child[1]))
        elif collect and was_enabled:
            # not when the program disabled the collector: it chose not to run
            # finalizers now, and a dump must not run them for it
            facts.append((b"gc.collected", FACT_U64, gc.collect()))
        gc.disable()
        # the dumper's own objects (trigger handles, other threads' dumper frames)
        machinery, m_own, cut = _machinery(frames)
        excluded = [id(facts), id(machinery), id(m_own), id(cut)]
        excluded.extend(map(id, facts))
        excluded.extend(map(id, machinery))
        excluded.extend(exclude)
        machinery = None
        c, walk_s, sid, extra = _walk(values, preview_len, frames, names, excluded, m_own,
                                      cut)
        m_own = cut = None
        frames = names = None
        facts.extend(extra)
        facts.append((b"dump.duration_ns", FACT_U64, int(walk_s * 1e9)))
        _put_facts(c, sid, facts)
        objects, edges = len(c.address), len(c.edge_target)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0),
                     0o644)
        nbytes = write_content(fd, c)
        c = None
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
        renamed = True
        return DumpResult(True, path, None, objects, edges,
                          time.perf_counter() - t_start, nbytes)
    except Exception as e:
        c = None
        err = "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__
        if os.environ.get("HEAPSNAP_DEBUG"):
            import traceback
            _say(traceback.format_exc())
        return DumpResult(False, path, err, 0, 0, time.perf_counter() - t_start, 0)
    finally:
        # also for KeyboardInterrupt or a host signal handler raising SystemExit
        # mid-dump: those propagate, but leave no temporary file behind
        if not renamed:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if was_enabled and child is None:
            gc.enable()


def dump(path, *, fork=False, wait=True, collect=True, values="names", preview_len=64,
         _trigger=None):
    """Write a heap snapshot of this process to path; returns a DumpResult.

    path: file name; written as path + ".tmp-<pid>" and renamed onto path only when
    complete and fsync'd (never a partial file under the final name).
    fork: dump in a forked child (see the module docstring for the costs); the parent
    only pauses for fork() (and the collection, with collect=True). wait=False (fork
    only) returns right after the fork, with ok=True meaning "child started"; a daemon
    thread reaps the child, reports a failure on stderr and holds the one-dump lock
    until then. If a signal handler interrupts the wait, the child is left to such a
    thread: KeyboardInterrupt (any BaseException) propagates, an Exception becomes the
    result's error, as for an in-process dump.
    collect: run gc.collect() first (fact gc.collected), unless the program has
    disabled the collector (then no finalizer runs because of the dump); in fork mode
    in the parent, before the fork.
    values: "names" (names of modules, types, functions and code objects, and
    identifier-like dict keys as edge labels; no string contents), "all" (plus
    previews of str, bytes and numbers, and any str dict key, cut to preview_len
    characters), "none" (no values, no key labels; type names only).

    Never raises for a failed dump: returns ok=False with error set and writes one line
    to stderr. Only one dump runs at a time; a concurrent request (another thread)
    returns ok=False, error "a dump is already running" (and says so on stderr). A
    trigger of install() that arrives during a dump is queued instead (see install).
    Refused (ok=False) on a free-threaded build, whose reference counts the dump's
    roots cannot be derived from.

    >>> r = dump("/tmp/example.hsnap")      # doctest: +SKIP
    >>> r.ok, r.objects > 0                   # doctest: +SKIP
    (True, True)
    """
    if values not in _VALUES:
        raise ValueError("values must be one of %s, not %r" % ("/".join(_VALUES), values))
    if type(preview_len) is not int or preview_len < 1:
        raise ValueError("preview_len must be a positive int")
    path = os.fspath(path)
    if not isinstance(path, str):
        path = os.fsdecode(path)
    # private copies: the caller's objects must not gain references from our frames
    path = _private_str(path)
    values = _private_str(values)
    refused = _free_threaded()
    if refused:
        r = DumpResult(False, path, refused)
        _say("dump to %s refused: %s" % (path, r.error))
        return r
    if not _lock.acquire(False):
        r = DumpResult(False, path, _BUSY)
        if _trigger is None:
            _say("dump to %s failed: %s" % (path, r.error))
        return r
    owner = [True] if fork else None    # [False] once a reaper thread owns the lock
    try:
        if fork:
            r = _dump_fork(path, wait, collect, values, preview_len, owner)
        else:
            frames, names = _snapshot_threads()
            r = _dump_here(path, collect, values, preview_len, "in-process", os.getpid(),
                           frames, names)
            frames = names = None
        if not r.ok:
            _say("dump to %s failed: %s" % (path, r.error))
        return r
    except Exception as e:  # a bug in the dumper itself: still never raise
        r = DumpResult(False, path, "%s: %s" % (type(e).__name__, e))
        _say("dump to %s failed: %s" % (path, r.error))
        return r
    finally:
        if owner is None or owner[0]:
            owner = None
            _release()


def _release():
    """Release the one-dump lock, then run a queued trigger (see Installed._fire)."""
    _lock.release()
    if _INSTALLED:
        _run_pending()


def _dump_fork(path, wait, collect, values, preview_len, owner):
    """Fork and let the child dump. owner[0] is set False when a reaper thread takes
    over the lock: wait=False, or the wait was interrupted (an exception from a signal
    handler), which then propagates from here while the child finishes."""
    import warnings
    t0 = time.perf_counter()
    enabled = gc.isenabled()
    collected = None
    if collect and enabled:
        # Here, not in the child: finalizers and weakref callbacks must run where the
        # other threads exist. In the child they would wait forever for a lock that one
        # of those threads held at the fork (and the parent with them), or flush the
        # parent's buffered files a second time.
        collected = gc.collect()
    frames, names = _snapshot_threads(chains=True)
    ppid = os.getpid()
    pipe = [-1, -1]     # read end (the parent's), write end (the child's)
    pid = -1
    try:
        pipe[:] = os.pipe()
        # the child never runs the collector (not even an automatic collection before
        # its dump starts); the parent turns it back on right after the fork
        gc.disable()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
            if pid == 0:
                _child(path, collect, values, preview_len, ppid, frames, names,
                       (enabled, collected), pipe, id(owner))      # never returns
    except BaseException:
        if os.getpid() != ppid:     # the child, interrupted before its dump began
            os._exit(1)
        if enabled:
            gc.enable()
        _close(pipe, 1)
        if pid > 0:     # the child runs: let a reaper collect it
            _hand_to_reaper(pid, pipe, [], path, t0, owner)
        else:
            _close(pipe, 0)
        raise
    if enabled:
        gc.enable()
    pause = time.perf_counter() - t0
    frames = names = None
    _close(pipe, 1)
    if not wait:
        _hand_to_reaper(pid, pipe, [], path, t0, owner)
        return DumpResult(True, path, None, 0, 0, pause, 0, pid)
    chunks = []
    try:
        return _collect_child(pid, pipe, chunks, path, t0)
    except BaseException:
        # interrupted: the exception goes on to the caller; the child finishes its dump
        # and a reaper thread collects it (no zombie) and releases the lock then (one
        # dump at a time, even so)
        _hand_to_reaper(pid, pipe, chunks, path, t0, owner)
        raise


def _child(path, collect, values, preview_len, ppid, frames, names, gc_state, pipe,
           owner_id):
    """The fork child: dump, report on the pipe, os._exit. Runs no program code."""
    code = 1
    try:
        _close(pipe, 0)
        try:
            if gc.get_freeze_count():
                gc.unfreeze()
        except Exception:
            pass
        # the frame chains (lists made in the parent) are the dumper's own objects
        own = [id(gc_state), id(pipe), owner_id]
        own.extend(map(id, frames.values()))
        r = _dump_here(path, collect, values, preview_len, "fork", ppid, frames, names,
                       gc_state, own)
        own = None
        frames = names = None
        if r.ok:
            msg = "ok %d %d %d %r" % (r.objects, r.edges, r.bytes, r.seconds)
            code = 0
        else:
            msg = "error " + r.error
        _write_all(pipe[1], msg.encode("utf-8", "backslashreplace"))
    except BaseException as e:
        try:
            _write_all(pipe[1], ("error %s: %s" % (type(e).__name__, e)).encode(
                "utf-8", "backslashreplace"))
        except BaseException:
            pass
    finally:
        os._exit(code)


def _close(pipe, i):
    """Close pipe[i] once: the slot is cleared before the close, so an interruption can
    leak the descriptor but never close it twice (it may be reused by then)."""
    fd, pipe[i] = pipe[i], -1
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


def _hand_to_reaper(pid, pipe, chunks, path, t0, owner):
    """A daemon thread finishes _collect_child and releases the lock."""
    t = threading.Thread(target=_reap, args=(pid, pipe, chunks, path, t0),
                         name="heapsnap-reaper", daemon=True)
    t.start()
    owner[0] = False


def _collect_child(pid, pipe, chunks, path, t0):
    """Read the child's report (appending to chunks), reap it; returns a DumpResult.
    Resumable: after an interruption, calling it again with the same pipe and chunks
    goes on where it stopped."""
    while pipe[0] >= 0:
        b = os.read(pipe[0], 65536)
        if not b:
            _close(pipe, 0)
            break
        chunks.append(b)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:   # the host reaps its children itself (SIGCHLD), or
        status = -1             # an interrupted call already did
    msg = b"".join(chunks).decode("utf-8", "replace")
    seconds = time.perf_counter() - t0
    if msg.startswith("ok "):
        parts = msg.split()
        return DumpResult(True, path, None, int(parts[1]), int(parts[2]), seconds,
                          int(parts[3]), pid)
    if msg.startswith("error "):
        err = msg[6:]
    else:
        err = "dump child exited with status %d" % status
    return DumpResult(False, path, err, 0, 0, seconds, 0, pid)


def _reap(pid, pipe, chunks, path, t0):
    try:
        r = _collect_child(pid, pipe, chunks, path, t0)
        if not r.ok:
            _say("dump to %s failed: %s" % (path, r.error))
    except Exception as e:
        _say("dump to %s failed: %s" % (path, e))
    finally:
        _close(pipe, 0)
        pipe = chunks = path = None
        _release()


# ---------------------------------------------------------------------------
# Triggers


def _parse_size(v):
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return int(v)
    s = str(v).strip().upper().rstrip("B")
    mult = 1
    for suffix, m in (("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40)):
        if s.endswith(suffix):
            s, mult = s[:-1], m
            break
    try:
        return int(float(s) * mult)
    except ValueError:
        raise ValueError("bad size %r (expected bytes or a number with K/M/G)" % (v,))


def _parse_signal(sig):
    import signal as _signal
    if sig is None:
        return None
    if isinstance(sig, int):
        return sig
    name = str(sig).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(getattr(_signal, name))
    except AttributeError:
        raise ValueError("unknown signal %r" % (sig,))


def _auto_path(directory, prefix):
    t = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + ".%03dZ" % int(t % 1 * 1000)
    return os.path.join(directory, "%s-%d-%s.hsnap" % (prefix, os.getpid(), stamp))


def _check_directory(directory, min_free=1 << 20):
    """Raise OSError unless directory exists, is a writable directory and has at least
    min_free bytes free: what a trigger needs, checked when it is installed rather than
    hours later when it fires."""
    if not os.path.isdir(directory):
        raise OSError("dump directory %r does not exist or is not a directory" % (directory,))
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OSError("dump directory %r is not writable" % (directory,))
    try:
        st = os.statvfs(directory)
        free = st.f_bavail * st.f_frsize
    except (AttributeError, OSError):
        return
    if free < min_free:
        raise OSError("dump directory %r has %d bytes free (at least %d needed)"
                      % (directory, free, min_free))


# The installed trigger handles (see _machinery). Kept out of every dump, with the
# edge from this module's globals to this list.
_INSTALLED = []


class Installed(object):
    """Handle returned by install(); call uninstall() to remove the triggers.

    The handle and everything it holds (its results, handlers, watcher thread) are the
    dumper's own: they are kept out of every dump, and the reference counts of what
    they refer to are stored net of them. (A program that keeps the handle in one of its
    own objects gets a dangling edge there: SPEC 4.5.)"""

    __slots__ = ("signal", "results", "_directory", "_prefix", "_fork", "_values",
                 "_threshold", "_interval", "_logger", "_old_handler", "_handler",
                 "_atexit", "_wait", "_stop", "_pending", "_watcher")

    def __init__(self, directory, prefix, fork, values, logger):
        self.signal = None
        self.results = []   # DumpResults of triggered dumps (most recent last)
        self._directory = _private_str(directory)
        self._prefix = _private_str(prefix)
        self._fork = fork
        self._values = _private_str(values)
        self._threshold = None
        self._interval = None
        self._logger = logger
        self._old_handler = None
        self._handler = None
        self._atexit = None
        self._wait = None       # the watcher's sleep: acquire of a lock held until stop
        self._stop = None       # its release
        self._pending = None    # a trigger that arrived during a dump: its name
        self._watcher = None

    def uninstall(self):
        import signal as _signal
        if self.signal is not None:
            try:
                _signal.signal(self.signal, self._old_handler
                               if self._old_handler is not None else _signal.SIG_DFL)
            except Exception:
                pass
            self.signal = None
        self._old_handler = self._handler = None
        if self._atexit is not None:
            import atexit
            atexit.unregister(self._atexit)
            self._atexit = None
        if self._stop is not None:
            try:
                self._stop()
            except Exception:
                pass
            self._stop = None
        self._pending = None
        try:
            _INSTALLED.remove(self)
        except ValueError:
            pass

    def _on_signal(self, signum, frame):
        # the interrupted frame is the program's: drop this frame's reference to it first
        del frame, signum
        try:
            self._fire("signal")
        except BaseException:
            pass

    def _on_exit(self):
        try:
            self._fire("at-exit")
        except BaseException:
            pass

    def _watch(self):
        """The RSS watcher (the whole stack of its own thread, started from C). While it
        waits, its frame holds only this handle, the bound acquire and True (see
        _machinery)."""
        while not self._wait(True, self._interval):
            try:
                if self._rss() > self._threshold:
                    self._fire("rss")
                    return      # once: the first time the RSS passes the threshold
            except BaseException:
                return

    @staticmethod
    def _rss():
        return _rss_bytes() or 0

    def _fire(self, why):
        """Dump now, or, when a dump is running, queue one (at most one pending per
        handle; it runs as soon as that dump releases the lock). Logs one line."""
        path = _auto_path(self._directory, self._prefix)
        r = dump(path, fork=self._fork, values=self._values, _trigger=self)
        if r.error == _BUSY:
            self._pending = why
            self._log("%s trigger: a dump is running; this one is queued" % why)
            return None
        self.results.append(r)
        if r.ok:
            if r.child_pid is not None and not r.objects:
                self._log("%s dump: %s (fork child %d started)" % (why, r.path, r.child_pid))
            else:
                self._log("%s dump: %s (%d objects, %.2f s)" % (why, r.path, r.objects,
                                                               r.seconds))
        else:
            self._log("%s dump to %s failed: %s" % (why, r.path, r.error))
        return r

    def _log(self, msg):
        logger = self._logger
        if logger is not None:
            try:
                logger.info("heapsnap: %s", msg)
                return
            except Exception:
                pass
        _say(msg)


_BUSY = "a dump is already running"


def _finish_at_exit():
    """At exit (registered by the first install()): let a dump that another thread is
    writing (the RSS watcher's, a queued one) finish, rather than leave a temporary
    file when the interpreter stops that thread; then run a queued trigger."""
    if _lock.acquire(True, 300):
        _release()


def _run_pending():
    """After a dump released the lock: run the one queued trigger of a handle, if any."""
    for h in list(_INSTALLED):
        why = h._pending
        if why is not None:
            h._pending = None
            h._fire(why + " (queued)")
            return


def _machinery(frames):
    """The dumper's own objects that a dump must leave out (ids), and the references
    they hold to objects that stay in (a Counter by id, subtracted from those
    reference counts): the installed handles with their results and handlers, and the
    frames running this module's code in threads other than the dumping one (the RSS
    watcher). frames: {thread ident: innermost frame, or (fork child) the list of its
    frames from the innermost out}."""
    out = []
    own = Counter()
    seen = set()
    cut = []        # ids whose in-edges are removed from the dump (this module holds them)

    def take(o):
        if id(o) not in seen:
            seen.add(id(o))
            out.append(o)

    if _INSTALLED:
        take(_INSTALLED)
        cut.append(id(_INSTALLED))
    for h in _INSTALLED:
        take(h)
        cut.append(id(h))
        take(h.results)
        for r in h.results:
            take(r)
            for x in (r.path, r.error):
                if type(x) is str:
                    take(x)
        for x in (h._directory, h._prefix, h._values, h._interval, h._handler, h._atexit,
                  h._wait, h._stop):
            if x is not None and type(x) is not bool:
                take(x)
        if h._wait is not None:
            take(h._wait.__self__)      # the watcher's lock
        # held from C, and by some versions' module states (atexit's, traversed)
        cut.extend(id(x) for x in (h._handler, h._atexit) if x is not None)
    me = threading.get_ident()
    watch_code = Installed._watch.__code__
    functions = None
    runpy = sys.modules.get("runpy")
    run_code = as_main = None
    if type(runpy) is _ModuleType:
        d = _plain_str_dict(runpy.__dict__)
        fn = dict.get(d, "_run_code")
        run_code = fn.__code__ if type(fn) is _FunctionType else None
        fn = dict.get(d, "_run_module_as_main")
        as_main = fn.__code__ if type(fn) is _FunctionType else None
        fn = d = None
    runpy = None
    for ident, f in list(frames.items()):
        # a fork child gets each thread's chain as a list made in the parent: never
        # f_back there (it reads the C stack of a thread the child has not)
        chain = f if type(f) is list else None
        at = 0
        if chain is not None:
            f = chain[0] if chain else None
        while f is not None:
            if chain is None:
                b = f.f_back
            else:
                at += 1
                b = chain[at] if at < len(chain) else None
            if (run_code is not None and b is not None and b.f_code is run_code
                    and not f.f_code.co_flags & _CO_OPTIMIZED):
                # `python -m`: runpy's exec(code, run_globals) holds the module's code
                # and globals on its value stack, where no dump can see them
                k = 1
                if _PY < (3, 11) and b.f_back is not None and b.f_back.f_code is as_main:
                    k = 2   # and before 3.11 the call _run_code(code, main_globals, ...)
                own[id(f.f_code)] += k
                own[id(f.f_globals)] += k
            if ident != me and f.f_globals is _GLOBALS:
                if functions is None:
                    functions = _module_functions()
                take(f)
                cut.append(id(f))   # a frame above it (a signal handler's) refers to it
                own[id(f.f_code)] += 1
                fn = functions.get(id(f.f_code))
                if fn is not None and _PY >= (3, 11):
                    own[id(fn)] += 1
                if _PY < (3, 11):
                    own[id(f.f_globals)] += 1
                    own[id(f.f_builtins)] += 1
                if f.f_code is watch_code:
                    own[id(True)] += 1      # the argument on its value stack
            f = b
    f = b = chain = None
    for o in out:
        if type(o) is _FrameType:
            continue
        for r in gc.get_referents(o):
            if id(r) not in seen:
                own[id(r)] += 1
    return out, own, cut


def install(*, signal=None, directory=".", at_exit=False, rss_threshold=None,
            rss_interval=1.0, fork=False, values="names", prefix="heapsnap", logger=None):
    """Install dump triggers; files go to directory/prefix-<pid>-<UTC time>.hsnap.

    signal: a signal number or name ("SIGUSR1"): dump when it arrives (main thread).
    at_exit: dump at interpreter exit (atexit; not on os._exit or fatal signals).
    rss_threshold: bytes or "500M"/"2G": a thread reads the RSS every rss_interval
    seconds and dumps once, the first time the RSS is above the threshold (then stops).
    logger: a logging.Logger-like object; each triggered dump logs one line there
    (path, objects, seconds, or the error) with .info(), else on stderr.

    Checks now, and raises (ValueError, OSError) if the options are wrong or the
    directory does not exist, is not writable or has less than 1 MiB free. A trigger
    that arrives while a dump is running is queued (at most one per handle) and runs
    when that dump ends. The handle and its machinery never appear in a dump.
    Returns an Installed handle with uninstall().
    """
    import signal as _signal
    if values not in _VALUES:
        raise ValueError("values must be one of %s" % "/".join(_VALUES))
    sig = _parse_signal(signal)
    threshold = _parse_size(rss_threshold)
    directory = os.fspath(directory)
    if not isinstance(directory, str):
        directory = os.fsdecode(directory)
    if threshold is not None and (type(rss_interval) not in (int, float)
                                  or not rss_interval > 0):
        raise ValueError("rss_interval must be a positive number of seconds")
    _check_directory(directory)
    h = Installed(directory, prefix, bool(fork), values, logger)
    if not _INSTALLED:
        import atexit
        atexit.unregister(_finish_at_exit)
        atexit.register(_finish_at_exit)
    if sig is not None:
        h._handler = h._on_signal
        h._old_handler = _signal.signal(sig, h._handler)
        h.signal = sig
    _INSTALLED.append(h)
    if at_exit:
        import atexit
        h._atexit = h._on_exit
        atexit.register(h._atexit)
    if threshold is not None:
        import _thread
        lock = _thread.allocate_lock()
        lock.acquire()
        h._threshold = threshold
        h._interval = float(repr(float(rss_interval)))   # a private float
        h._wait = lock.acquire
        h._stop = lock.release
        lock = None
        h._watcher = _thread.start_new_thread(h._watch, ())
    return h


# ---------------------------------------------------------------------------
# Command line

_RUN_VALUED = ("--signal", "--dir", "--rss-threshold", "--rss-interval", "--values",
               "--prefix")


def _split_run_argv(argv):
    """(heapsnap options, module or None, program argv) of `run [options] script args`
    or `run [options] -m module args`: the program's arguments are never parsed here."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-m":
            if i + 1 >= len(argv):
                raise ValueError("-m needs a module name")
            return argv[:i], argv[i + 1], argv[i + 2:]
        if a == "--":
            if i + 1 >= len(argv):
                break
            return argv[:i], None, argv[i + 1:]
        if not a.startswith("-") or a == "-":
            return argv[:i], None, argv[i:]
        if a in _RUN_VALUED:
            i += 1
        i += 1
    return argv, None, []


def main(argv=None):
    """python -m heapsnap run [options] (script.py | -m module) [args...]

    The program then runs as `python script.py args` (or `python -m module args`) would,
    in this same process (exec of the same interpreter, same pid) with the triggers
    installed by a start-up hook that leaves nothing behind: dumps show the program's
    globals under module '__main__', as with install() in the script."""
    import argparse
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="heapsnap", description="heapsnap Python dumper")
    p.add_argument("--version", action="version", version="heapsnap " + __version__)
    p.add_argument("command", nargs="?", choices=["run"])
    if not argv or argv[0] != "run":
        p.parse_args(argv)
        p.print_help(sys.stderr)
        return 2
    r = argparse.ArgumentParser(
        prog="heapsnap run", usage="heapsnap run [options] (script.py | -m module) [args...]",
        description="run a Python program with dump triggers installed")
    r.add_argument("--signal", default=None, help="dump on this signal, e.g. SIGUSR1")
    r.add_argument("--dir", default=".", help="directory for dump files (default .)")
    r.add_argument("--at-exit", action="store_true", help="dump when the program exits")
    r.add_argument("--rss-threshold", default=None,
                   help="dump once, the first time the RSS is above this, e.g. 500M")
    r.add_argument("--rss-interval", default=1.0, type=float,
                   help="seconds between RSS checks (default 1)")
    r.add_argument("--fork", action="store_true", help="dump in a forked child")
    r.add_argument("--values", default="names", choices=_VALUES,
                   help="what to record besides the graph (default names; all adds "
                        "previews that may contain secrets)")
    r.add_argument("--prefix", default="heapsnap",
                   help="file name prefix: PREFIX-PID-TIMESTAMP.hsnap (default heapsnap)")
    try:
        opts, module, prog = _split_run_argv(argv[1:])
    except ValueError as e:
        sys.stderr.write("heapsnap: %s\n" % e)
        return 2
    a = r.parse_args(opts)
    if module is None and not prog:
        r.print_usage(sys.stderr)
        sys.stderr.write("heapsnap run: a script or -m module is needed\n")
        return 2
    try:
        _parse_signal(a.signal)
        _parse_size(a.rss_threshold)
        if not a.rss_interval > 0:
            raise ValueError("--rss-interval must be positive")
        _check_directory(a.dir)
        if module is None and not os.path.isfile(prog[0]):
            raise OSError("no such script: %r" % (prog[0],))
        if not sys.executable:
            raise OSError("sys.executable is unknown: cannot start the program")
        if sys.flags.ignore_environment or sys.flags.no_site:
            raise OSError("run needs the environment and the site module (no -E, -I, -S)")
    except (ValueError, OSError) as e:
        sys.stderr.write("heapsnap: %s\n" % e)
        return 2
    settings = [("signal", a.signal), ("dir", a.dir), ("at_exit", a.at_exit),
                ("rss_threshold", a.rss_threshold), ("rss_interval", a.rss_interval),
                ("fork", a.fork), ("values", a.values), ("prefix", a.prefix)]
    return _exec_with_triggers(settings, module, prog)


def _hex(s):
    return str(s).encode("utf-8", "surrogateescape").hex()


def _unhex(h):
    return bytes.fromhex(h).decode("utf-8", "surrogateescape")


_BOOTSTRAP = r"""# heapsnap run: installs the dump triggers at start-up, then removes itself
def _heapsnap_run():
    import os, sys
    env = os.environ
    here = env.pop("HEAPSNAP_RUN_BOOT")
    old = env.pop("HEAPSNAP_RUN_PYTHONPATH", None)
    if old is None:
        env.pop("PYTHONPATH", None)
    else:
        env["PYTHONPATH"] = old
    while here in sys.path:
        sys.path.remove(here)
    where = env.pop("HEAPSNAP_RUN_PATH")
    name = env.pop("HEAPSNAP_RUN_MODULE")
    settings = env.pop("HEAPSNAP_RUN_SETTINGS")
    for d in (os.path.join(here, "__pycache__"), here):
        if os.path.isdir(d):
            for f in os.listdir(d):
                if not os.path.isdir(os.path.join(d, f)):
                    os.unlink(os.path.join(d, f))
            os.rmdir(d)
    sys.path.insert(0, where)
    try:
        mod = __import__(name, fromlist=["_run_bootstrap"])
    finally:
        sys.path.remove(where)
    mod._run_bootstrap(settings)
    del sys.modules["sitecustomize"]
    try:    # the sitecustomize this one shadows, if any: it takes this one's place
        import sitecustomize
    except ImportError as e:
        if e.name != "sitecustomize":
            raise
        return False
    return True
try:
    _found = _heapsnap_run()
except BaseException as e:
    import os
    os.write(2, ("heapsnap: run: could not install the triggers: %s: %s\n"
                 % (type(e).__name__, e)).encode("utf-8", "backslashreplace"))
    os._exit(2)
if not _found:
    # no sitecustomize of the program's own: fail this import the way a missing one
    # does (site ignores it), so that no module 'sitecustomize' is left in sys.modules
    raise ImportError("no sitecustomize (heapsnap run's start-up hook removed itself)",
                      name="sitecustomize")
"""


def _exec_with_triggers(settings, module, prog):
    """Replace this process with `python [-m module] prog...`, the triggers installed by
    a sitecustomize start-up hook (in a temporary directory it deletes)."""
    import tempfile
    here = tempfile.mkdtemp(prefix="heapsnap-run-")
    with open(os.path.join(here, "sitecustomize.py"), "w") as f:
        f.write(_BOOTSTRAP)
    env = dict(os.environ)
    if "PYTHONPATH" in env:
        env["HEAPSNAP_RUN_PYTHONPATH"] = env["PYTHONPATH"]
        env["PYTHONPATH"] = here + os.pathsep + env["PYTHONPATH"]
    else:
        env["PYTHONPATH"] = here
    env["HEAPSNAP_RUN_BOOT"] = here
    me = os.path.abspath(__file__)
    if __name__.endswith(".dumper") and __name__.count(".") == 1:     # heapsnap.dumper
        env["HEAPSNAP_RUN_PATH"] = os.path.dirname(os.path.dirname(me))
        env["HEAPSNAP_RUN_MODULE"] = __name__
    else:       # the copied file, run as a script or imported as a module
        env["HEAPSNAP_RUN_PATH"] = os.path.dirname(me)
        env["HEAPSNAP_RUN_MODULE"] = os.path.splitext(os.path.basename(me))[0]
    env["HEAPSNAP_RUN_SETTINGS"] = " ".join("%s=%s" % (k, _hex(v)) for k, v in settings)
    try:
        import subprocess
        flags = subprocess._args_from_interpreter_flags()
    except Exception:
        flags = []
    argv = [sys.executable] + flags + (["-m", module] if module is not None else []) + prog
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, argv, env)
    except OSError as e:
        sys.stderr.write("heapsnap: cannot start %s: %s\n" % (sys.executable, e))
        import shutil
        shutil.rmtree(here, ignore_errors=True)
        return 2


def _run_bootstrap(settings):
    """In the program started by `run` (from its start-up hook): install the triggers."""
    kv = dict(item.split("=", 1) for item in settings.split())
    v = {k: _unhex(x) for k, x in kv.items()}
    install(signal=None if v["signal"] == "None" else v["signal"], directory=v["dir"],
            at_exit=v["at_exit"] == "True",
            rss_threshold=None if v["rss_threshold"] == "None" else v["rss_threshold"],
            rss_interval=float(v["rss_interval"]), fork=v["fork"] == "True",
            values=v["values"], prefix=v["prefix"])


if __name__ == "__main__":
    sys.exit(main())
