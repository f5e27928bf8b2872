"""Test-only pure-Python reader for heapsnap files (format/SPEC.md).

decode(data) validates the layout, checksums and per-section rules and returns the
vector-JSON shaped dict (format/vectors/README.md); Snapshot adds lookups for tests.
"""

import struct
import zlib

MAGIC = b"\x89HSNAP\r\n"
END = b"HSNAPEND"
REQUIRED = set(range(1, 12)) | {13}
WIDTH = {1: 16, 2: 8, 3: 1, 4: 24, 5: 8, 6: 4, 7: 4, 8: 4, 9: 4, 10: 8, 11: 8, 12: 4,
         13: 24, 14: 16, 15: 16}
FACT_KINDS = {1: "u64", 2: "i64", 3: "f64", 4: "string", 5: "bool"}


class FormatError(ValueError):
    pass


def _check(cond, msg):
    if not cond:
        raise FormatError(msg)


def _arr(buf, fmt, width):
    n = len(buf) // width
    return list(struct.unpack("<" + fmt * n, buf)) if n else []


def sections(data):
    n = len(data)
    _check(n >= 48 and n % 8 == 0, "bad length %d" % n)
    _check(data[:8] == MAGIC, "bad magic")
    major, minor, res = struct.unpack_from("<HHI", data, 8)
    _check(major == 1 and res == 0, "bad header")
    table_off, count, table_crc = struct.unpack_from("<QII", data, n - 32)
    _check(data[n - 16:n - 8] == bytes(8) and data[n - 8:] == END, "bad trailer")
    _check(table_off == n - 32 - 32 * count, "bad table offset")
    table = data[table_off:table_off + 32 * count]
    _check(zlib.crc32(data[:16] + table) & 0xFFFFFFFF == table_crc, "table crc")
    out = {}
    pos = 16
    last = 0
    for k in range(count):
        kind, crc, off, length, res = struct.unpack_from("<IIQQQ", table, 32 * k)
        _check(res == 0, "table reserved")
        _check(kind > last, "kinds not ascending")
        last = kind
        _check(off == pos, "section %d at %d, expected %d" % (kind, off, pos))
        end = off + length
        pad_end = (end + 7) // 8 * 8
        _check(pad_end <= table_off, "section past table")
        _check(data[end:pad_end] == bytes(pad_end - end), "non-zero padding")
        buf = data[off:end]
        _check(zlib.crc32(buf) & 0xFFFFFFFF == crc, "crc of section %d" % kind)
        _check(kind not in WIDTH or length % WIDTH[kind] == 0, "section %d length" % kind)
        out[kind] = buf
        pos = pad_end
    _check(pos == table_off, "table not right after sections")
    _check(REQUIRED <= set(out), "missing sections %s" % sorted(REQUIRED - set(out)))
    _check(12 not in out or any(out[12]), "EDGE_LABEL present but all zero")
    for k in (14, 15):
        _check(k not in out or len(out[k]) > 0, "empty optional section %d" % k)
    return out


def decode(data):
    s = sections(data)
    offs = _arr(s[2], "Q", 8)
    _check(offs and offs[0] == 0 and offs[-1] == len(s[3]), "string offsets")
    raw = s[3]
    strings = []
    for a, b in zip(offs, offs[1:]):
        _check(a <= b, "string offsets decrease")
        strings.append(raw[a:b].decode("utf-8"))
    _check(strings[0] == "", "string 0 not empty")
    S = len(strings)
    facts = []
    f = _arr(s[1], "IIQ", 16)
    keys = set()
    for i in range(0, len(f), 3):
        key, kind, value = f[i:i + 3]
        _check(0 < key < S and key not in keys and kind in FACT_KINDS, "fact %d" % (i // 3))
        keys.add(key)
        k = FACT_KINDS[kind]
        if k == "i64":
            value = struct.unpack("<q", struct.pack("<Q", value))[0]
        elif k == "f64":
            value = struct.unpack("<d", struct.pack("<Q", value))[0]
        elif k == "bool":
            _check(value in (0, 1), "bool fact")
            value = bool(value)
        elif k == "string":
            _check(value < S, "string fact")
        facts.append({"key": key, "kind": k, "value": value})
    t = _arr(s[4], "QIIII", 24)
    types = []
    for i in range(0, len(t), 5):
        addr, name, module, flags, res = t[i:i + 5]
        _check(0 < name < S and module < S and flags < 16 and res == 0, "type %d" % (i // 5))
        types.append({"address": addr, "name": name, "module": module, "flags": flags})
    _check(len({x["address"] for x in types}) == len(types), "duplicate type address")
    addr = _arr(s[5], "Q", 8)
    N = len(addr)
    otype = _arr(s[6], "I", 4)
    size = _arr(s[7], "I", 4)
    rc = _arr(s[8], "I", 4)
    flags = _arr(s[9], "I", 4)
    start = _arr(s[10], "Q", 8)
    target = _arr(s[11], "Q", 8)
    E = len(target)
    _check(len(otype) == len(size) == len(rc) == len(flags) == N and len(start) == N + 1,
           "column lengths")
    label = _arr(s[12], "I", 4) if 12 in s else [0] * E
    _check(len(label) == E, "label count")
    wide = dict(zip(*[iter(_arr(s.get(15, b""), "Q", 8))] * 2))
    _check(start[0] == 0 and start[-1] == E, "edge starts")
    objects = []
    for i in range(N):
        _check(otype[i] < len(types) and flags[i] < 128, "object %d" % i)
        _check(start[i] <= start[i + 1], "edge start %d" % i)
        sz = size[i]
        if sz == 0xFFFFFFFF:
            _check(i in wide, "wide size missing %d" % i)
            sz = wide[i]
        else:
            _check(i not in wide, "wide size extra %d" % i)
        edges = []
        for e in range(start[i], start[i + 1]):
            lab = label[e]
            _check((lab & 0x7FFFFFFF) < S, "label string %d" % e)
            _check(lab & 0x80000000 or lab == 0 or lab & 0x7FFFFFFF, "label 0")
            _check(not (flags[i] & 32 and lab), "label on positional object %d" % i)
            edges.append({"target": target[e], "label": lab})
        objects.append({"address": addr[i], "type": otype[i], "size": sz, "refcount": rc[i],
                        "flags": flags[i], "edges": edges})
    _check(len(set(addr)) == N, "duplicate addresses")
    roots = []
    r = _arr(s[13], "QIIQ", 24)
    for i in range(0, len(r), 4):
        obj, kind, lab, detail = r[i:i + 4]
        _check(obj < N and 1 <= kind <= 7 and lab < S, "root %d" % (i // 4))
        roots.append({"object": obj, "kind": kind, "label": lab, "detail": detail})
    values = []
    v = _arr(s.get(14, b""), "QIHH", 16)
    prev = -1
    for i in range(0, len(v), 4):
        obj, sid, kind, fl = v[i:i + 4]
        _check(prev < obj < N and sid < S and 1 <= kind <= 4 and fl < 2, "value %d" % (i // 4))
        prev = obj
        values.append({"object": obj, "string": sid, "kind": kind, "flags": fl})
    return {"format": [1, struct.unpack_from("<H", data, 10)[0]], "strings": strings,
            "facts": facts, "types": types, "objects": objects, "roots": roots,
            "values": values}


class Snapshot(object):
    """Decoded dump with lookups by address."""

    def __init__(self, d):
        self.d = d
        self.strings = d["strings"]
        self.types = d["types"]
        self.objects = d["objects"]
        self.by_addr = {o["address"]: i for i, o in enumerate(self.objects)}
        self.facts = {self.strings[f["key"]]: (self.strings[f["value"]]
                      if f["kind"] == "string" else f["value"]) for f in d["facts"]}
        self.values = {v["object"]: v for v in d["values"]}
        self.roots = d["roots"]

    @classmethod
    def load(cls, path):
        with open(path, "rb") as f:
            return cls(decode(f.read()))

    def obj(self, address):
        i = self.by_addr.get(address)
        return None if i is None else self.objects[i]

    def type_name(self, o):
        return self.strings[self.types[o["type"]]["name"]]

    def targets(self, o):
        return [e["target"] for e in o["edges"]]

    def label(self, lab):
        if lab & 0x80000000:
            return "[%r]" % self.strings[lab & 0x7FFFFFFF]
        return "." + self.strings[lab] if lab else ""

    def value_text(self, address):
        v = self.values.get(self.by_addr[address])
        return None if v is None else self.strings[v["string"]]

    def surplus(self):
        """Derived refcount-surplus roots (SPEC 4.6): {object index: surplus}."""
        found = [0] * len(self.objects)
        for o in self.objects:
            for e in o["edges"]:
                i = self.by_addr.get(e["target"])
                if i is not None:
                    found[i] += 1
        return {i: o["refcount"] - found[i] for i, o in enumerate(self.objects)
                if not o["flags"] & 0x10 and o["refcount"] > found[i]}

    def roots_of(self, address):
        i = self.by_addr[address]
        return [r for r in self.roots if r["object"] == i]
