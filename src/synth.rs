//! A deterministic generator of heap-shaped dumps, for benchmarks and scale tests:
//! `heapsnap synth --objects N [--edges-per-object K] [--seed S] -o FILE`.
//!
//! The shape imitates a Python heap: a `sys.modules`-like dict (an interpreter root)
//! over module objects (module roots) and type objects; a spanning tree laid out in
//! breadth-first order whose containers (dicts, lists, instances) have geometric
//! fan-outs with a few huge ones; power-law in-degrees (references skewed towards
//! modules, types and early objects); leaves (str, int, bytes) with no references;
//! instance-to-type references (housekeeping edges); parent back-references on 30% of
//! instances (two-object cycles, some of a type with a finalizer); one long linked chain
//! closed into a cycle; a few refcount-surplus and immortal objects, a few dangling
//! edges, garbage (objects no tree reaches), and edge labels on dicts and instances.
//!
//! Every object's content is a pure function of `(seed, index)`, so columns are
//! generated in parallel, chunk by chunk, and written in order: the output is the same
//! for any thread count and memory stays at 8 bytes per object beyond the output buffer.

use std::io::Write;

use rayon::prelude::*;

use crate::error::Result;
use crate::format::writer::Writer;
use crate::format::{
    fact_kind, kind, object_flags, root_kind, type_flags, FactRecord, RootRecord, TypeRecord,
    ValueRecord, FORMAT_MAJOR, FORMAT_MINOR, LABEL_KEY_BIT,
};

/// Generator parameters.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Number of objects (at least 16).
    pub objects: u64,
    /// Average references per object (approximate).
    pub edges_per_object: f64,
    /// Random seed.
    pub seed: u64,
}

/// What was written.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Written {
    /// Objects.
    pub objects: u64,
    /// Edges.
    pub edges: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Interp,
    Module,
    Type(u32),
    Str,
    Int,
    Bytes,
    Dict,
    List,
    Tuple,
    Function,
    Inst(u32),
    Chain,
}

/// Types of the synthetic heap: (name, module, flags). Instance classes come last.
const TYPES: [(&str, &str, u32); 16] = [
    ("dict", "builtins", type_flags::GC_TYPE),
    ("module", "builtins", type_flags::GC_TYPE),
    ("type", "builtins", type_flags::GC_TYPE),
    ("str", "builtins", 0),
    ("int", "builtins", 0),
    ("bytes", "builtins", 0),
    ("list", "builtins", type_flags::GC_TYPE),
    ("tuple", "builtins", type_flags::GC_TYPE),
    ("function", "builtins", type_flags::GC_TYPE),
    ("Node", "app.chain", HEAP),
    ("Session", "app.web", HEAP),
    ("Request", "app.web", HEAP),
    ("Channel", "app.bus", HEAP),
    ("Listener", "app.bus", HEAP),
    ("Resource", "app.io", HEAP | type_flags::HAS_FINALIZER),
    ("Config", "app.settings", HEAP | type_flags::MANAGED_DICT),
];
const HEAP: u32 = type_flags::HEAP_TYPE | type_flags::GC_TYPE;
const FIRST_CLASS: u32 = 10; // Session: instance classes are 10..16 (Node is the chain)
const T: u64 = TYPES.len() as u64;
/// Identifier pool for labels.
const KEYS: u32 = 1024;

struct Shape {
    n: u64,
    modules: u64,
    chain_start: u64,
    popular: u64,
    seed: u64,
    extra_mean: f64,
    /// First tree child of each object (`n + 1` entries, non-decreasing).
    first_child: Vec<u32>,
    /// Parent in the tree (u32::MAX for none).
    parent: Vec<u32>,
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Rng(u64);

impl Rng {
    fn new(seed: u64, i: u64, stream: u64) -> Rng {
        Rng(mix(seed ^ mix(i.wrapping_mul(8).wrapping_add(stream))))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Geometric with the given mean (>= 0).
    fn geometric(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        let p = 1.0 / (1.0 + mean);
        let u = self.unit().max(1e-300);
        (u.ln() / (1.0 - p).ln()).floor().min(1e9) as u64
    }
}

impl Shape {
    fn new(p: &Params) -> Shape {
        let n = p.objects.max(16);
        let modules = (n / 10_000).clamp(1, 1000);
        let chain_len = (n / 50).min(500_000);
        let chain_start = n - chain_len;
        let popular = (n / 50).max(256).min(n);
        let mut s = Shape {
            n,
            modules,
            chain_start,
            popular,
            seed: p.seed,
            extra_mean: 0.0,
            first_child: Vec::new(),
            parent: Vec::new(),
        };
        // Tree: children ranges laid out breadth-first, each object's fan-out by kind.
        let mut first = Vec::with_capacity(n as usize + 1);
        let mut parent = vec![u32::MAX; n as usize];
        let mut next = 1u64;
        let mut containers = 0u64;
        for i in 0..n {
            next = next.max(i + 1).min(chain_start.max(i + 1));
            first.push(next as u32);
            let f = if i < chain_start { s.fanout(i) } else { 0 };
            let end = (next + f).min(chain_start);
            for j in next..end {
                parent[j as usize] = i as u32;
            }
            next = end.max(next);
            if s.is_container(i) {
                containers += 1;
            }
        }
        first.push(next.max(n) as u32);
        // Reference budget beyond tree, chain, type and back-references, spread over
        // the containers.
        let fixed = n as f64 * 1.3;
        s.extra_mean =
            ((p.edges_per_object * n as f64 - fixed) / containers.max(1) as f64).max(0.0);
        s.first_child = first;
        s.parent = parent;
        s
    }

    fn kind(&self, i: u64) -> Kind {
        if i == 0 {
            return Kind::Interp;
        }
        if i <= self.modules {
            return Kind::Module;
        }
        if i <= self.modules + T {
            return Kind::Type((i - self.modules - 1) as u32);
        }
        if i >= self.chain_start {
            return Kind::Chain;
        }
        let r = Rng::new(self.seed, i, 0).below(1000);
        match r {
            0..=299 => Kind::Str,
            300..=399 => Kind::Int,
            400..=429 => Kind::Bytes,
            430..=579 => Kind::Dict,
            580..=679 => Kind::List,
            680..=779 => Kind::Tuple,
            780..=819 => Kind::Function,
            _ => Kind::Inst(FIRST_CLASS + (r % (T - u64::from(FIRST_CLASS))) as u32),
        }
    }

    fn is_container(&self, i: u64) -> bool {
        !matches!(
            self.kind(i),
            Kind::Str | Kind::Int | Kind::Bytes | Kind::Type(_)
        )
    }

    fn fanout(&self, i: u64) -> u64 {
        let mut r = Rng::new(self.seed, i, 1);
        match self.kind(i) {
            Kind::Interp => self.modules + T,
            Kind::Module => 5 + r.geometric(30.0),
            Kind::Type(_) => r.below(3),
            Kind::Dict if r.below(20_000) == 0 => 5_000 + r.below(20_000),
            Kind::List if r.below(10_000) == 0 => 10_000 + r.below(50_000),
            Kind::Dict => r.geometric(2.5),
            Kind::List => r.geometric(3.0),
            Kind::Tuple => r.below(4),
            Kind::Function => r.below(2),
            Kind::Inst(_) => r.geometric(1.6),
            Kind::Str | Kind::Int | Kind::Bytes | Kind::Chain => 0,
        }
    }

    fn type_index(&self, i: u64) -> u32 {
        match self.kind(i) {
            Kind::Interp | Kind::Dict => 0,
            Kind::Module => 1,
            Kind::Type(_) => 2,
            Kind::Str => 3,
            Kind::Int => 4,
            Kind::Bytes => 5,
            Kind::List => 6,
            Kind::Tuple => 7,
            Kind::Function => 8,
            Kind::Chain => 9,
            Kind::Inst(c) => c,
        }
    }

    fn address(&self, i: u64) -> u64 {
        // A bijection on 34-bit indexes (odd multiplier), spread over two regions.
        let scrambled = i.wrapping_mul(0x9E37_79B1) & ((1 << 34) - 1);
        let region = if i.is_multiple_of(3) {
            0x5555_0000_0000
        } else {
            0x7f00_0000_0000
        };
        region + (scrambled << 4)
    }

    /// The references of object `i`: `(target index or u64::MAX for dangling, label)`.
    fn edges(&self, i: u64, out: &mut Vec<(u64, u32)>) {
        out.clear();
        let kind = self.kind(i);
        let mut r = Rng::new(self.seed, i, 2);
        let key = |r: &mut Rng| 1 + r.below(u64::from(KEYS)) as u32;
        let label = |r: &mut Rng| match kind {
            Kind::Dict | Kind::Module => LABEL_KEY_BIT | key(r),
            Kind::Inst(_) | Kind::Chain => key(r),
            _ => 0,
        };
        if i < self.chain_start {
            let (a, b) = (
                self.first_child[i as usize],
                self.first_child[i as usize + 1],
            );
            for j in a..b {
                if self.parent.get(j as usize) != Some(&(i as u32)) {
                    break;
                }
                out.push((u64::from(j), label(&mut r)));
            }
        }
        match kind {
            Kind::Interp => out.push((self.chain_start, 0)),
            Kind::Chain => {
                let next = if i + 1 < self.n {
                    i + 1
                } else {
                    self.chain_start
                };
                out.push((next, key(&mut r)));
                out.push((self.modules + 1 + 9, 0));
            }
            Kind::Inst(c) => {
                out.push((self.modules + 1 + u64::from(c), 0));
                let p = self.parent[i as usize];
                if p != u32::MAX && r.below(10) < 3 {
                    out.push((u64::from(p), key(&mut r)));
                }
            }
            _ => {}
        }
        if self.is_container(i) && kind != Kind::Interp {
            let extra = r.geometric(self.extra_mean);
            for _ in 0..extra {
                let roll = r.below(10_000);
                let t = if roll == 0 {
                    u64::MAX
                } else if roll < 5_000 {
                    let u = r.unit();
                    ((u * u * u * u) * self.popular as f64) as u64
                } else if roll < 8_500 {
                    i.saturating_sub(1 + r.below(1000))
                } else {
                    r.below(self.n)
                };
                let t = if t == u64::MAX { t } else { t.min(self.n - 1) };
                out.push((t, label(&mut r)));
            }
        }
        if matches!(kind, Kind::List | Kind::Tuple) {
            for e in out.iter_mut() {
                e.1 = 0;
            }
        }
    }

    fn size(&self, i: u64, degree: u64) -> u32 {
        let mut r = Rng::new(self.seed, i, 3);
        let s = match self.kind(i) {
            Kind::Interp => 36_960,
            Kind::Module => 72,
            Kind::Type(_) => 1_064,
            Kind::Str => 49 + r.below(200),
            Kind::Int => 28,
            Kind::Bytes => 33 + r.below(2_000),
            Kind::Dict => 64 + 24 * degree.next_power_of_two(),
            Kind::List => 56 + 8 * degree,
            Kind::Tuple => 40 + 8 * degree,
            Kind::Function => 152,
            Kind::Inst(_) => 48 + 8 * r.below(4),
            Kind::Chain => 56,
        };
        s.min(u64::from(u32::MAX - 1)) as u32
    }
}

/// Objects per generated chunk.
const CHUNK: u64 = 1 << 16;

/// Writes a synthetic dump to `out`.
pub fn generate<W: Write>(p: &Params, out: W) -> Result<Written> {
    let s = Shape::new(p);
    let n = s.n;
    // Strings: 0 "", type names and modules, module names, identifiers, misc.
    let mut strings: Vec<String> = vec![String::new()];
    let intern = |x: &str, strings: &mut Vec<String>| -> u32 {
        strings.push(x.to_owned());
        (strings.len() - 1) as u32
    };
    let key_base = strings.len() as u32; // keys are 1..=KEYS: the first KEYS strings
    for k in 0..KEYS {
        intern(&format!("attr_{k}"), &mut strings);
    }
    debug_assert_eq!(key_base, 1);
    let type_recs: Vec<TypeRecord> = TYPES
        .iter()
        .enumerate()
        .map(|(t, &(name, module, flags))| TypeRecord {
            address: s.address(s.modules + 1 + t as u64),
            name: intern(name, &mut strings),
            module: intern(module, &mut strings),
            flags,
            reserved: 0,
        })
        .collect();
    let module_names: Vec<u32> = (0..s.modules)
        .map(|m| intern(&format!("app.module_{m}"), &mut strings))
        .collect();
    let sys_modules = intern("sys.modules", &mut strings);
    let k_gen = intern("generator", &mut strings);
    let v_gen = intern("heapsnap synth", &mut strings);
    let k_seed = intern("synth_seed", &mut strings);
    let k_ptr = intern("pointer_size", &mut strings);

    let mut w = Writer::new(out, FORMAT_MAJOR, FORMAT_MINOR)?;
    w.section(
        kind::FACTS,
        &[
            FactRecord {
                key: k_gen,
                kind: fact_kind::STRING,
                value: u64::from(v_gen),
            },
            FactRecord {
                key: k_seed,
                kind: fact_kind::U64,
                value: p.seed,
            },
            FactRecord {
                key: k_ptr,
                kind: fact_kind::U64,
                value: 8,
            },
        ],
    )?;
    let mut offsets = vec![0u64];
    let mut bytes = Vec::new();
    for x in &strings {
        bytes.extend_from_slice(x.as_bytes());
        offsets.push(bytes.len() as u64);
    }
    w.section(kind::STRING_OFFSETS, &offsets)?;
    w.section(kind::STRING_BYTES, &bytes)?;
    w.section(kind::TYPES, &type_recs)?;

    // Edge lists are generated once per chunk for degrees, targets and labels.
    let chunks: Vec<(u64, u64)> = (0..n.div_ceil(CHUNK))
        .map(|c| (c * CHUNK, ((c + 1) * CHUNK).min(n)))
        .collect();
    let column =
        |w: &mut Writer<W>, k: u32, f: &(dyn Fn(u64, u64) -> Vec<u8> + Sync)| -> Result<()> {
            w.begin_section(k)?;
            for batch in chunks.chunks(32) {
                let parts: Vec<Vec<u8>> = batch.par_iter().map(|&(a, b)| f(a, b)).collect();
                for part in parts {
                    w.write_bytes(&part)?;
                }
            }
            w.end_section()
        };
    let degrees = |a: u64, b: u64| -> Vec<u64> {
        let mut buf = Vec::new();
        (a..b)
            .map(|i| {
                s.edges(i, &mut buf);
                buf.len() as u64
            })
            .collect()
    };
    column(&mut w, kind::OBJECT_ADDRESS, &|a, b| {
        let v: Vec<u64> = (a..b).map(|i| s.address(i)).collect();
        bytemuck::cast_slice(&v).to_vec()
    })?;
    column(&mut w, kind::OBJECT_TYPE, &|a, b| {
        let v: Vec<u32> = (a..b).map(|i| s.type_index(i)).collect();
        bytemuck::cast_slice(&v).to_vec()
    })?;
    column(&mut w, kind::OBJECT_SIZE, &|a, b| {
        let d = degrees(a, b);
        let v: Vec<u32> = (a..b).zip(d).map(|(i, d)| s.size(i, d)).collect();
        bytemuck::cast_slice(&v).to_vec()
    })?;
    column(&mut w, kind::OBJECT_REFCOUNT, &|a, b| {
        // 0 (no surplus) for most; a few objects held from outside the dump.
        let v: Vec<u32> = (a..b)
            .map(|i| u32::from(Rng::new(s.seed, i, 4).below(2_000) == 0) * 1_000)
            .collect();
        bytemuck::cast_slice(&v).to_vec()
    })?;
    column(&mut w, kind::OBJECT_FLAGS, &|a, b| {
        let v: Vec<u32> = (a..b)
            .map(|i| {
                let k = s.kind(i);
                let mut f = 0;
                if s.is_container(i) || matches!(k, Kind::Type(_)) {
                    f |= object_flags::GC_TRACKED;
                }
                if matches!(k, Kind::List | Kind::Tuple) {
                    f |= object_flags::POSITIONAL_EDGES;
                }
                if matches!(k, Kind::Int | Kind::Str) && Rng::new(s.seed, i, 5).below(1_000) == 0 {
                    f |= object_flags::REFCOUNT_UNKNOWN;
                }
                f
            })
            .collect();
        bytemuck::cast_slice(&v).to_vec()
    })?;
    // Edge starts: a running sum across chunks (sequential carry, parallel degrees).
    w.begin_section(kind::OBJECT_EDGE_START)?;
    let mut total = 0u64;
    w.write_records(&[0u64])?;
    for batch in chunks.chunks(32) {
        let parts: Vec<Vec<u64>> = batch.par_iter().map(|&(a, b)| degrees(a, b)).collect();
        for part in parts {
            let starts: Vec<u64> = part
                .iter()
                .map(|&d| {
                    total += d;
                    total
                })
                .collect();
            w.write_records(&starts)?;
        }
    }
    w.end_section()?;
    column(&mut w, kind::EDGE_TARGET, &|a, b| {
        let mut buf = Vec::new();
        let mut v: Vec<u64> = Vec::new();
        for i in a..b {
            s.edges(i, &mut buf);
            v.extend(buf.iter().map(|&(t, _)| {
                if t == u64::MAX {
                    0x10 // never an object address (all are >= 0x5555_0000_0000)
                } else {
                    s.address(t)
                }
            }));
        }
        bytemuck::cast_slice(&v).to_vec()
    })?;
    column(&mut w, kind::EDGE_LABEL, &|a, b| {
        let mut buf = Vec::new();
        let mut v: Vec<u32> = Vec::new();
        for i in a..b {
            s.edges(i, &mut buf);
            v.extend(buf.iter().map(|&(_, l)| l));
        }
        bytemuck::cast_slice(&v).to_vec()
    })?;
    let mut roots = vec![RootRecord {
        object: 0,
        kind: root_kind::INTERPRETER,
        label: sys_modules,
        detail: 0,
    }];
    for (m, &name) in module_names.iter().enumerate() {
        roots.push(RootRecord {
            object: 1 + m as u64,
            kind: root_kind::MODULE,
            label: name,
            detail: 0,
        });
    }
    w.section(kind::ROOTS, &roots)?;
    let mut values: Vec<ValueRecord> = module_names
        .iter()
        .enumerate()
        .map(|(m, &name)| ValueRecord {
            object: 1 + m as u64,
            string: name,
            kind: 1,
            flags: 0,
        })
        .collect();
    values.extend(type_recs.iter().enumerate().map(|(t, r)| ValueRecord {
        object: s.modules + 1 + t as u64,
        string: r.name,
        kind: 1,
        flags: 0,
    }));
    w.section(kind::VALUES, &values)?;
    let mut out = w.finish()?;
    out.flush()
        .map_err(|e| crate::error::Error::io("cannot write", e))?;
    Ok(Written {
        objects: n,
        edges: total,
    })
}
