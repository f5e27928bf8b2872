//! `heapsnap path`: why an object is alive. Shortest reference paths from the roots to
//! an object, with edge labels where the dump has them; for a type name, the paths to
//! all of its instances, merged when they run through the same types and labels.

use std::collections::HashMap;
use std::io::Write;

use serde::Serialize;

use super::{analyze, open, write_summary, ObjectJson};
use crate::analysis::{Analysis, Needs, Summary};
use crate::cli::DumpArgs;
use crate::error::{Error, Result};
use crate::graph::NodeId;
use crate::names;
use crate::query::{chain, path_json, root_of, PathJson};
use crate::report::text::{count, escape};
use crate::report::{emit, Output};

#[derive(Serialize)]
struct ObjectPaths {
    summary: Summary,
    target: ObjectJson,
    /// Distance from the nearest root, absent if unreachable.
    depth: Option<u32>,
    paths: Vec<PathJson>,
    /// Why the target is a root (text only).
    #[serde(skip)]
    target_root: String,
}

#[derive(Serialize)]
struct TypePaths {
    summary: Summary,
    #[serde(rename = "type")]
    ty: String,
    instances: u64,
    unreachable_instances: u64,
    /// Distinct paths by the types and labels along them, most instances first.
    groups: Vec<TypeGroup>,
    more_groups: u64,
}

#[derive(Serialize)]
struct TypeGroup {
    /// Instances whose shortest path has this shape.
    instances: u64,
    root: String,
    chain: String,
    /// One instance with this path.
    example: ObjectJson,
}

pub(super) fn run<W: Write>(args: &DumpArgs, target: &str, k: usize, out: &mut W) -> Result<()> {
    let snap = open(args)?;
    let a = analyze(
        &snap,
        &args.dump,
        Needs {
            dominators: true,
            paths: true,
            ..Needs::default()
        },
    )?;
    let k = k.max(1);
    match names::parse_object_ref(a.snap, &a.graph, target) {
        Some(v) => object_paths(&a, v.map_err(Error::input)?, k, args.json, out),
        None => type_paths(&a, target, k, args.json, out),
    }
}

fn object_paths<W: Write>(
    a: &Analysis<'_>,
    v: NodeId,
    k: usize,
    json: bool,
    out: &mut W,
) -> Result<()> {
    let paths = a.paths().paths_to(&a.graph, v, k);
    let data = ObjectPaths {
        summary: a.summary(),
        target: ObjectJson::new(a, v),
        depth: a.paths().depth(v),
        paths: paths.iter().map(|p| path_json(a, p)).collect(),
        target_root: root_of(a, v),
    };
    emit(out, json, &data)
}

impl Output for ObjectPaths {
    const KIND: &'static str = "path";

    fn text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let data = self;
        let t = &data.target;
        let what = format!("{} at {}", escape(&t.ty), t.address);
        match data.depth {
            None => writeln!(
                out,
                "{what} is not reachable from any root: it is garbage awaiting collection"
            ),
            Some(0) => writeln!(
                out,
                "{what} is itself a root: {}",
                escape(&data.target_root)
            ),
            Some(d) => writeln!(
                out,
                "{what} is alive: {} path{} shown, the shortest {} reference{} long",
                data.paths.len(),
                if data.paths.len() == 1 { "" } else { "s" },
                d,
                if d == 1 { "" } else { "s" }
            ),
        }?;
        for (i, p) in data.paths.iter().enumerate() {
            if data.depth == Some(0) {
                break;
            }
            writeln!(out, "\npath {} from {}:", i + 1, escape(&p.root))?;
            writeln!(out, "  {}", escape(&p.chain))?;
            for s in &p.steps {
                let o = &s.object;
                let value = o
                    .value
                    .as_ref()
                    .map(|v| {
                        let clipped: String = v.chars().take(names::PREVIEW_CHARS).collect();
                        format!(" {}", crate::report::text::quote(&clipped))
                    })
                    .unwrap_or_default();
                writeln!(
                    out,
                    "    {:<24} {}{} at {}",
                    escape(
                        s.edge
                            .as_deref()
                            .unwrap_or(if std::ptr::eq(s, &p.steps[0]) {
                                ""
                            } else {
                                "->"
                            })
                    ),
                    escape(&o.ty),
                    value,
                    o.address
                )?;
            }
        }
        writeln!(out)?;
        write_summary(&data.summary, out)
    }
}

fn type_paths<W: Write>(
    a: &Analysis<'_>,
    name: &str,
    k: usize,
    json: bool,
    out: &mut W,
) -> Result<()> {
    let types = a.names.find(a.snap, name);
    if types.is_empty() {
        let mut near: Vec<&str> = a
            .names
            .all()
            .iter()
            .map(String::as_str)
            .filter(|n| n.to_lowercase().contains(&name.to_lowercase()))
            .collect();
        near.sort_unstable();
        near.dedup();
        near.truncate(5);
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!(" (did you mean {}?)", near.join(", "))
        };
        return Err(Error::input(format!(
            "\"{name}\" is not an address (0x...), an object index (#N) or a type in the dump{hint}"
        )));
    }
    let paths = a.paths();
    let type_of = a.snap.types_of();
    let mut instances = 0u64;
    let mut unreachable = 0u64;
    // Shape of a path: the types and labels along it, excluding addresses.
    let mut groups: HashMap<(String, String), (u64, NodeId)> = HashMap::new();
    for v in 0..a.graph.len() as NodeId {
        if !types.contains(&type_of[v as usize]) {
            continue;
        }
        instances += 1;
        let Some(p) = paths.steps_to(&a.graph, v) else {
            unreachable += 1;
            continue;
        };
        let key = (root_of(a, p[0].0), chain(a, &p, true));
        let e = groups.entry(key).or_insert((0, v));
        e.0 += 1;
    }
    let mut list: Vec<((String, String), (u64, NodeId))> = groups.into_iter().collect();
    list.sort_by(|x, y| y.1 .0.cmp(&x.1 .0).then_with(|| x.0.cmp(&y.0)));
    let shown = k.min(list.len());
    let data = TypePaths {
        summary: a.summary(),
        ty: name.to_owned(),
        instances,
        unreachable_instances: unreachable,
        more_groups: (list.len() - shown) as u64,
        groups: list
            .into_iter()
            .take(shown)
            .map(|((root, chain), (n, v))| TypeGroup {
                instances: n,
                root,
                chain,
                example: ObjectJson::new(a, v),
            })
            .collect(),
    };
    emit(out, json, &data)
}

impl Output for TypePaths {
    const KIND: &'static str = "path";

    fn text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let data = self;
        writeln!(
            out,
            "{} instances of {}{}",
            count(data.instances),
            escape(&data.ty),
            if data.unreachable_instances > 0 {
                format!(
                    " ({} unreachable: garbage awaiting collection)",
                    count(data.unreachable_instances)
                )
            } else {
                String::new()
            }
        )?;
        for g in &data.groups {
            writeln!(
                out,
                "\n{} reached by: {}\n  from {} (e.g. {} at {})",
                count(g.instances),
                escape(&g.chain),
                escape(&g.root),
                escape(&g.example.ty),
                g.example.address
            )?;
        }
        if data.more_groups > 0 {
            writeln!(
                out,
                "\n({} more path shapes; -k raises the number shown)",
                count(data.more_groups)
            )?;
        }
        writeln!(out)?;
        write_summary(&data.summary, out)
    }
}
