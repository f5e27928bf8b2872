//! `heapsnap redact`: a copy of a dump without value previews (and, with `--names`,
//! without the program's names), keeping the graph intact.
//!
//! The object and edge columns (addresses, types, sizes, refcounts, flags, edge starts
//! and targets) and the roots' objects, kinds and details are copied unchanged; the
//! string table is rebuilt from the strings the copy still refers to, so a dropped
//! string leaves no trace in the file. Without `--names`, VALUES records of kinds STR,
//! BYTES and NUMBER are dropped. With `--names`, every type name and module name
//! (except those of the interpreter's own types, module `builtins`, which analyses rely
//! on and which name nothing of the program's), root label, NAME value and edge label
//! becomes a placeholder (`type_17`, `module_3`, `root_2`, `name_5`, `attr_4`, `key_9`),
//! the same placeholder for the same original string. Facts are kept.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::cli::DumpArgs;
use crate::error::{Error, Result};
use crate::format::writer::{write_columns, Columns};
use crate::format::{FactRecord, RootRecord, TypeRecord, ValueRecord, FORMAT_MINOR, LABEL_KEY_BIT};
use crate::output::write_atomically;
use crate::report::text::escape;
use crate::report::{emit, Output};
use crate::snapshot::{Snapshot, Verify};

/// VALUES kind NAME (SPEC 4.7); every other kind is a preview.
const VALUE_NAME: u16 = 1;

#[derive(Serialize)]
struct RedactData {
    input: String,
    output: String,
    names: bool,
    previews_removed: u64,
    names_replaced: u64,
    strings_before: u64,
    strings_after: u64,
}

/// The new string table: each distinct string once, `""` as id 0.
struct Strings {
    ids: HashMap<String, u32>,
    list: Vec<String>,
    /// A non-zero id for `""`, once needed.
    empty: Option<u32>,
}

impl Strings {
    fn new() -> Strings {
        Strings {
            ids: HashMap::from([(String::new(), 0)]),
            list: vec![String::new()],
            empty: None,
        }
    }

    fn intern(&mut self, s: &str) -> Result<u32> {
        if let Some(&id) = self.ids.get(s) {
            return Ok(id);
        }
        let id = u32::try_from(self.list.len())
            .ok()
            .filter(|&id| id < LABEL_KEY_BIT)
            .ok_or_else(|| Error::input("redact: too many strings"))?;
        self.ids.insert(s.to_owned(), id);
        self.list.push(s.to_owned());
        Ok(id)
    }

    /// Like `intern`, for fields where id 0 means "none": an empty string gets an id of
    /// its own (strings need not be unique).
    fn intern_nz(&mut self, s: &str) -> Result<u32> {
        if !s.is_empty() {
            return self.intern(s);
        }
        if let Some(id) = self.empty {
            return Ok(id);
        }
        let id = u32::try_from(self.list.len())
            .ok()
            .filter(|&id| id < LABEL_KEY_BIT)
            .ok_or_else(|| Error::input("redact: too many strings"))?;
        self.list.push(String::new());
        self.empty = Some(id);
        Ok(id)
    }
}

/// Placeholders of one category: `prefix_N`, numbered from 1 by first appearance of
/// the original string.
struct Placeholders {
    prefix: &'static str,
    seen: HashMap<String, u32>,
}

impl Placeholders {
    fn new(prefix: &'static str) -> Placeholders {
        Placeholders {
            prefix,
            seen: HashMap::new(),
        }
    }

    fn get(&mut self, original: &str) -> String {
        let next = self.seen.len() as u32 + 1;
        let n = *self.seen.entry(original.to_owned()).or_insert(next);
        format!("{}_{n}", self.prefix)
    }
}

/// Counts of what a redaction changed.
struct Outcome {
    bytes: Vec<u8>,
    previews_removed: u64,
    names_replaced: u64,
    strings_after: u64,
}

/// The redacted copy of `snap` as the bytes of a dump.
fn redact(snap: &Snapshot, names: bool) -> Result<Outcome> {
    let mut strings = Strings::new();
    let mut replaced = 0u64;
    let text = |id: u64| snap.string(id);

    let facts: Vec<FactRecord> = snap
        .facts()
        .iter()
        .map(|f| {
            let mut r = *f;
            r.key = strings.intern_nz(text(u64::from(f.key)))?;
            if f.kind == crate::format::fact_kind::STRING {
                r.value = u64::from(strings.intern(text(f.value))?);
            }
            Ok(r)
        })
        .collect::<Result<_>>()?;

    let mut modules = Placeholders::new("module");
    let types: Vec<TypeRecord> = snap
        .types()
        .iter()
        .enumerate()
        .map(|(t, r)| {
            let module = text(u64::from(r.module));
            let mut out = *r;
            if names && module != "builtins" {
                out.name = strings.intern(&format!("type_{t}"))?;
                replaced += 1;
                out.module = if r.module == 0 {
                    0
                } else {
                    replaced += 1;
                    strings.intern(&modules.get(module))?
                };
            } else {
                out.name = strings.intern_nz(text(u64::from(r.name)))?;
                out.module = strings.intern(module)?;
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;

    let mut root_names = Placeholders::new("root");
    let roots: Vec<RootRecord> = snap
        .roots()
        .iter()
        .map(|r| {
            let mut out = *r;
            out.label = match (r.label, names) {
                (0, _) => 0,
                (l, true) => {
                    replaced += 1;
                    strings.intern(&root_names.get(text(u64::from(l))))?
                }
                (l, false) => strings.intern_nz(text(u64::from(l)))?,
            };
            Ok(out)
        })
        .collect::<Result<_>>()?;

    let mut value_names = Placeholders::new("name");
    let mut previews_removed = 0u64;
    let mut values: Vec<ValueRecord> = Vec::new();
    for v in snap.values() {
        if v.kind != VALUE_NAME {
            previews_removed += 1;
            continue;
        }
        let original = text(u64::from(v.string));
        let mut out = *v;
        if names {
            out.string = strings.intern(&value_names.get(original))?;
            out.flags = 0;
            replaced += 1;
        } else {
            out.string = strings.intern(original)?;
        }
        values.push(out);
    }

    // Edge labels: one new id per distinct raw label.
    let mut attrs = Placeholders::new("attr");
    let mut keys = Placeholders::new("key");
    let mut label_map: HashMap<u32, u32> = HashMap::new();
    let labels: Vec<u32> = match snap.edge_labels() {
        None => Vec::new(),
        Some(labels) => labels
            .iter()
            .map(|&l| {
                if l == 0 || l == LABEL_KEY_BIT {
                    return Ok(l);
                }
                if let Some(&m) = label_map.get(&l) {
                    if names {
                        replaced += 1;
                    }
                    return Ok(m);
                }
                let key = l & LABEL_KEY_BIT;
                let original = text(u64::from(l & !LABEL_KEY_BIT));
                let id = if !names && key != 0 {
                    strings.intern(original)?
                } else if !names {
                    strings.intern_nz(original)?
                } else {
                    replaced += 1;
                    let p = if key != 0 {
                        keys.get(original)
                    } else {
                        attrs.get(original)
                    };
                    strings.intern(&p)?
                };
                let m = id | key;
                label_map.insert(l, m);
                Ok(m)
            })
            .collect::<Result<_>>()?,
    };

    let mut string_offsets = Vec::with_capacity(strings.list.len() + 1);
    let mut string_bytes = Vec::new();
    string_offsets.push(0u64);
    for s in &strings.list {
        string_bytes.extend_from_slice(s.as_bytes());
        string_offsets.push(string_bytes.len() as u64);
    }
    let (major, minor) = snap.version();
    let cols = Columns {
        major,
        minor,
        facts: &facts,
        string_offsets: &string_offsets,
        string_bytes: &string_bytes,
        types: &types,
        addresses: snap.addresses(),
        types_of: snap.types_of(),
        sizes: snap.sizes(),
        refcounts: snap.refcounts(),
        flags: snap.flags(),
        edge_starts: snap.edge_starts(),
        edge_targets: snap.edge_targets(),
        edge_labels: &labels,
        roots: &roots,
        values: &values,
        wide_sizes: snap.wide_sizes(),
    };
    let bytes = write_columns(Vec::new(), &cols)?;
    Ok(Outcome {
        bytes,
        previews_removed,
        names_replaced: replaced,
        strings_after: strings.list.len() as u64,
    })
}

pub(super) fn run<W: Write>(
    args: &DumpArgs,
    output: &Path,
    names: bool,
    out: &mut W,
) -> Result<()> {
    let snap = super::open(args)?;
    let (major, minor) = snap.version();
    if minor > FORMAT_MINOR {
        return Err(Error::input(format!(
            "format {major}.{minor} is newer than this heapsnap's 1.{FORMAT_MINOR}: it may hold \
             strings redact does not know about, so it is not redacted"
        ))
        .in_file(&args.dump));
    }
    let outcome = redact(&snap, names).map_err(|e| e.in_file(&args.dump))?;
    // The copy must be a valid dump before it replaces anything.
    Snapshot::from_bytes(&outcome.bytes, Verify::Full)
        .map_err(|e| Error::input(format!("redact: internal error, the copy is invalid: {e}")))?;
    write_atomically(output, |w| {
        w.write_all(&outcome.bytes)
            .map_err(|e| Error::io("cannot write", e).in_file(output))
    })?;
    let data = RedactData {
        input: args.dump.display().to_string(),
        output: output.display().to_string(),
        names,
        previews_removed: outcome.previews_removed,
        names_replaced: outcome.names_replaced,
        strings_before: snap.string_count() as u64,
        strings_after: outcome.strings_after,
    };
    emit(out, args.json, &data)
}

impl Output for RedactData {
    const KIND: &'static str = "redact";

    fn text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let data = self;
        writeln!(
            out,
            "wrote {}: {} previews removed, {} names replaced, {} of {} strings kept",
            escape(&data.output),
            data.previews_removed,
            data.names_replaced,
            data.strings_after,
            data.strings_before
        )
    }
}
