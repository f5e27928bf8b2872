//! SPEC section 7 steps 7 to 14: the contents of the sections whose frame `mod.rs`
//! has validated. Each check names the record (object, fact, edge...) and the section at
//! fault. The only allocations are sorted copies of key columns to find duplicates.

use super::{rec, Layout};
use crate::error::{Error, Result, Where};
use crate::format::read::{len_u64, to_usize};
use crate::format::{
    fact_kind, kind, object_flags, root_kind, type_flags, FactRecord, RootRecord, TypeRecord,
    ValueRecord, WideSizeRecord, LABEL_KEY_BIT, SIZE_SENTINEL, VALUE_TRUNCATED,
};

/// Step 7: the string table.
pub(super) fn check_strings(file: &[u8], l: &Layout, at: Where) -> Result<()> {
    let offs: &[u64] = l.col(file, kind::STRING_OFFSETS);
    let bytes = l.bytes(file, kind::STRING_BYTES);
    if l.strings < 1 {
        return Err(Error::invalid(
            at,
            "holds no string: string 0 (empty) is required",
        ));
    }
    if offs[0] != 0 {
        return Err(Error::invalid(
            rec("string", 0, kind::STRING_OFFSETS),
            format!("starts at {}, not 0", offs[0]),
        ));
    }
    if offs[1] != 0 {
        return Err(Error::invalid(
            rec("string", 0, kind::STRING_OFFSETS),
            format!("string 0 must be empty, has length {}", offs[1]),
        ));
    }
    let total = len_u64(bytes.len());
    for s in 0..l.strings {
        let (a, b) = (offs[s], offs[s + 1]);
        let at = rec("string", s, kind::STRING_OFFSETS);
        if b < a {
            return Err(Error::invalid(
                at,
                format!("ends at {b}, before its start {a}"),
            ));
        }
        if b > total {
            return Err(Error::invalid(
                at,
                format!("ends at {b}, past the end of STRING_BYTES ({total} bytes)"),
            ));
        }
        // a <= b <= total <= usize::MAX: the casts cannot truncate.
        let text = &bytes[a as usize..b as usize];
        if let Err(e) = std::str::from_utf8(text) {
            return Err(Error::invalid(
                rec("string", s, kind::STRING_BYTES),
                format!(
                    "not valid UTF-8 (at byte {} of STRING_BYTES)",
                    a + len_u64(e.valid_up_to())
                ),
            ));
        }
    }
    if offs[l.strings] != total {
        return Err(Error::invalid(
            rec("string", l.strings, kind::STRING_OFFSETS),
            format!(
                "last offset {} does not equal the STRING_BYTES length {total}",
                offs[l.strings]
            ),
        ));
    }
    Ok(())
}

/// Index of the first record whose key repeats an earlier one, if any.
fn first_duplicate<K: Ord + Copy>(keys: impl Iterator<Item = K>) -> Option<(usize, K)> {
    let mut v: Vec<(K, usize)> = keys.enumerate().map(|(i, k)| (k, i)).collect();
    v.sort_unstable();
    v.windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| (w[1].1, w[1].0))
        .min_by_key(|&(i, _)| i)
}

/// Step 8: facts.
pub(super) fn check_facts(file: &[u8], l: &Layout, strict: bool) -> Result<()> {
    let s = len_u64(l.strings);
    let facts: &[FactRecord] = l.col(file, kind::FACTS);
    for (i, f) in facts.iter().enumerate() {
        let at = rec("fact", i, kind::FACTS);
        if f.key == 0 || u64::from(f.key) >= s {
            return Err(Error::invalid(
                at,
                format!("key string id {} is 0 or >= string count {s}", f.key),
            ));
        }
        match f.kind {
            fact_kind::U64 | fact_kind::I64 | fact_kind::F64 => {}
            fact_kind::STRING if f.value >= s => {
                return Err(Error::invalid(
                    at,
                    format!("string value id {} >= string count {s}", f.value),
                ));
            }
            fact_kind::STRING => {}
            fact_kind::BOOL if f.value > 1 => {
                return Err(Error::invalid(
                    at,
                    format!("bool value {} is not 0 or 1", f.value),
                ));
            }
            fact_kind::BOOL => {}
            k if strict => {
                return Err(Error::invalid(at, format!("unknown fact kind {k}")));
            }
            _ => {}
        }
    }
    if let Some((i, k)) = first_duplicate(facts.iter().map(|f| f.key)) {
        return Err(Error::invalid(
            rec("fact", i, kind::FACTS),
            format!("key string id {k} repeats an earlier fact's key"),
        ));
    }
    Ok(())
}

/// Step 9: types.
pub(super) fn check_types(file: &[u8], l: &Layout, strict: bool) -> Result<()> {
    let s = len_u64(l.strings);
    let types: &[TypeRecord] = l.col(file, kind::TYPES);
    for (i, t) in types.iter().enumerate() {
        let at = rec("type", i, kind::TYPES);
        if t.name == 0 || u64::from(t.name) >= s {
            return Err(Error::invalid(
                at,
                format!("name string id {} is 0 or >= string count {s}", t.name),
            ));
        }
        if u64::from(t.module) >= s {
            return Err(Error::invalid(
                at,
                format!("module string id {} >= string count {s}", t.module),
            ));
        }
        if strict && t.flags & !type_flags::KNOWN != 0 {
            return Err(Error::invalid(
                at,
                format!(
                    "reserved flag bits set: {:#x}",
                    t.flags & !type_flags::KNOWN
                ),
            ));
        }
        if t.reserved != 0 {
            return Err(Error::invalid(
                at,
                format!("reserved field is {:#x}, not 0", t.reserved),
            ));
        }
    }
    if let Some((i, a)) = first_duplicate(types.iter().map(|t| t.address)) {
        return Err(Error::invalid(
            rec("type", i, kind::TYPES),
            format!("address {a:#x} repeats an earlier type's address"),
        ));
    }
    Ok(())
}

/// Step 10: object columns, wide sizes, edge starts.
pub(super) fn check_objects(file: &[u8], l: &Layout, strict: bool) -> Result<()> {
    let n = l.objects;
    let t = len_u64(l.types);
    let types_of: &[u32] = l.col(file, kind::OBJECT_TYPE);
    let flags: &[u32] = l.col(file, kind::OBJECT_FLAGS);
    let sizes: &[u32] = l.col(file, kind::OBJECT_SIZE);
    let starts: &[u64] = l.col(file, kind::OBJECT_EDGE_START);
    let wide: &[WideSizeRecord] = l.col(file, kind::WIDE_SIZES);
    for (i, &ty) in types_of.iter().enumerate() {
        if u64::from(ty) >= t {
            return Err(Error::invalid(
                rec("object", i, kind::OBJECT_TYPE),
                format!("type index {ty} >= type count {t}"),
            ));
        }
    }
    if strict {
        if let Some(i) = flags.iter().position(|&f| f & !object_flags::KNOWN != 0) {
            return Err(Error::invalid(
                rec("object", i, kind::OBJECT_FLAGS),
                format!(
                    "reserved flag bits set: {:#x}",
                    flags[i] & !object_flags::KNOWN
                ),
            ));
        }
    }
    let mut prev: Option<u64> = None;
    for (j, w) in wide.iter().enumerate() {
        let at = rec("wide size", j, kind::WIDE_SIZES);
        if prev.is_some_and(|p| w.object <= p) {
            return Err(Error::invalid(
                at,
                format!(
                    "object index {} is not greater than the previous record's",
                    w.object
                ),
            ));
        }
        prev = Some(w.object);
        let size = usize::try_from(w.object)
            .ok()
            .and_then(|o| sizes.get(o))
            .copied()
            .ok_or_else(|| {
                Error::invalid(at, format!("object index {} >= object count {n}", w.object))
            })?;
        if size != SIZE_SENTINEL {
            return Err(Error::invalid(
                at,
                format!(
                    "object {} has OBJECT_SIZE {size}, not the 0xFFFFFFFF sentinel",
                    w.object
                ),
            ));
        }
        if w.size < u64::from(SIZE_SENTINEL) {
            return Err(Error::invalid(
                at,
                format!(
                    "size {} is below 0xFFFFFFFF: it belongs in OBJECT_SIZE",
                    w.size
                ),
            ));
        }
    }
    let mut j = 0usize;
    for (i, &size) in sizes.iter().enumerate() {
        if size == SIZE_SENTINEL {
            if wide.get(j).map(|w| w.object) != Some(len_u64(i)) {
                return Err(Error::invalid(
                    rec("object", i, kind::OBJECT_SIZE),
                    "size is the 0xFFFFFFFF sentinel but WIDE_SIZES has no record for it",
                ));
            }
            j += 1;
        }
    }
    let e = len_u64(l.edges);
    if starts[0] != 0 {
        return Err(Error::invalid(
            rec("object", 0, kind::OBJECT_EDGE_START),
            format!("first edge start is {}, not 0", starts[0]),
        ));
    }
    for i in 0..n {
        if starts[i + 1] < starts[i] {
            return Err(Error::invalid(
                rec("object", i, kind::OBJECT_EDGE_START),
                format!(
                    "edges end at {} before they start at {}: edge starts must not decrease",
                    starts[i + 1],
                    starts[i]
                ),
            ));
        }
    }
    if starts[n] != e {
        return Err(Error::invalid(
            rec("object", n, kind::OBJECT_EDGE_START),
            format!(
                "last edge start {} does not equal the edge count {e}",
                starts[n]
            ),
        ));
    }
    Ok(())
}

/// Step 11: edge labels.
pub(super) fn check_labels(file: &[u8], l: &Layout) -> Result<()> {
    let Some(span) = l.spans[kind::EDGE_LABEL as usize] else {
        return Ok(());
    };
    let s = len_u64(l.strings);
    let labels: &[u32] = l.col(file, kind::EDGE_LABEL);
    if labels.iter().all(|&label| label == 0) {
        return Err(Error::invalid(
            Where::Section {
                kind: kind::EDGE_LABEL,
                offset: len_u64(span.offset),
            },
            "every label is 0 (a writer omits the section: SPEC 4)",
        ));
    }
    for (k, &label) in labels.iter().enumerate() {
        let id = label & !LABEL_KEY_BIT;
        if u64::from(id) >= s {
            return Err(Error::invalid(
                rec("edge", k, kind::EDGE_LABEL),
                format!("label {label:#x}: string id {id} >= string count {s}"),
            ));
        }
    }
    let flags: &[u32] = l.col(file, kind::OBJECT_FLAGS);
    let starts: &[u64] = l.col(file, kind::OBJECT_EDGE_START);
    let at = Where::Section {
        kind: kind::EDGE_LABEL,
        offset: len_u64(span.offset),
    };
    for (i, &f) in flags.iter().enumerate() {
        if f & object_flags::POSITIONAL_EDGES != 0 {
            // Step 10 ran first: starts[i] <= starts[i + 1] <= E = labels.len().
            let (Some(&a), Some(&b)) = (starts.get(i), starts.get(i + 1)) else {
                return Err(Error::invalid(at, format!("no edge start for object {i}")));
            };
            let a = to_usize(a, at, "edge start")?;
            let b = to_usize(b, at, "edge start")?;
            let Some(own) = labels.get(a..b) else {
                return Err(Error::invalid(
                    rec("object", i, kind::EDGE_LABEL),
                    format!(
                        "edges {a}..{b} are outside EDGE_LABEL ({} labels)",
                        labels.len()
                    ),
                ));
            };
            if let Some(k) = own.iter().position(|&x| x != 0) {
                return Err(Error::invalid(
                    rec("object", i, kind::EDGE_LABEL),
                    format!(
                        "has POSITIONAL_EDGES but its edge {k} (edge {}) has label {:#x}, not 0",
                        a + k,
                        own[k]
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Step 12: roots.
pub(super) fn check_roots(file: &[u8], l: &Layout, strict: bool) -> Result<()> {
    let s = len_u64(l.strings);
    let n = len_u64(l.objects);
    let roots: &[RootRecord] = l.col(file, kind::ROOTS);
    for (i, r) in roots.iter().enumerate() {
        let at = rec("root", i, kind::ROOTS);
        if r.object >= n {
            return Err(Error::invalid(
                at,
                format!("object index {} >= object count {n}", r.object),
            ));
        }
        if strict && !(1..=7).contains(&r.kind) {
            return Err(Error::invalid(at, format!("unknown root kind {}", r.kind)));
        }
        if r.kind == root_kind::REFCOUNT_SURPLUS {
            return Err(Error::invalid(
                at,
                "root kind 4 (refcount surplus) is derived by readers and must not be stored",
            ));
        }
        if u64::from(r.label) >= s {
            return Err(Error::invalid(
                at,
                format!("label string id {} >= string count {s}", r.label),
            ));
        }
        // SPEC 4.6: GC_GARBAGE and IMMORTAL have no label; only THREAD has a detail.
        let label_allowed = !matches!(r.kind, root_kind::GC_GARBAGE | root_kind::IMMORTAL);
        if r.label != 0 && !label_allowed && (1..=7).contains(&r.kind) {
            return Err(Error::invalid(
                at,
                format!("root kind {} has label {}, not 0", r.kind, r.label),
            ));
        }
        if r.detail != 0 && r.kind != root_kind::THREAD && (1..=7).contains(&r.kind) {
            return Err(Error::invalid(
                at,
                format!("root kind {} has detail {:#x}, not 0", r.kind, r.detail),
            ));
        }
    }
    Ok(())
}

/// Step 13: values.
pub(super) fn check_values(file: &[u8], l: &Layout, strict: bool) -> Result<()> {
    let s = len_u64(l.strings);
    let n = len_u64(l.objects);
    let values: &[ValueRecord] = l.col(file, kind::VALUES);
    let mut prev: Option<u64> = None;
    for (i, v) in values.iter().enumerate() {
        let at = rec("value", i, kind::VALUES);
        if prev.is_some_and(|p| v.object <= p) {
            return Err(Error::invalid(
                at,
                format!(
                    "object index {} is not greater than the previous record's",
                    v.object
                ),
            ));
        }
        prev = Some(v.object);
        if v.object >= n {
            return Err(Error::invalid(
                at,
                format!("object index {} >= object count {n}", v.object),
            ));
        }
        if u64::from(v.string) >= s {
            return Err(Error::invalid(
                at,
                format!("string id {} >= string count {s}", v.string),
            ));
        }
        if strict && !(1..=4).contains(&v.kind) {
            return Err(Error::invalid(at, format!("unknown value kind {}", v.kind)));
        }
        if strict && v.flags & !VALUE_TRUNCATED != 0 {
            return Err(Error::invalid(
                at,
                format!("reserved flag bits set: {:#x}", v.flags & !VALUE_TRUNCATED),
            ));
        }
    }
    Ok(())
}

/// Step 14: object addresses are unique. Copies and sorts the address column.
pub(crate) fn check_addresses(addresses: &[u64]) -> Result<()> {
    let mut sorted = addresses.to_vec();
    sorted.sort_unstable();
    let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) else {
        return Ok(());
    };
    let dup = w[0];
    let mut hits = addresses
        .iter()
        .enumerate()
        .filter(|&(_, &a)| a == dup)
        .map(|(i, _)| i);
    let first = hits.next().unwrap_or(0);
    let second = hits.next().unwrap_or(0);
    Err(Error::invalid(
        rec("object", second, kind::OBJECT_ADDRESS),
        format!("address {dup:#x} is also the address of object {first}"),
    ))
}
