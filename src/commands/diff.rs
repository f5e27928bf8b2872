//! `heapsnap diff`: compare two or three dumps of one process. The oldest and the newest
//! dump are compared (growth by type, new and grown retainers, new cycles); with three,
//! the objects born between the first two that are still alive in the third are added,
//! with their path shapes. What each result means is in [`crate::analysis::diff`].

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::{analyze, ObjectJson};
use crate::analysis::diff::{self as d, Side, TypeTable};
use crate::analysis::{Analysis, EdgeSet, Needs};
use crate::error::{Error, Result};
use crate::graph::NodeId;
use crate::names::{self, TypeNames};
use crate::progress::timing;
use crate::query::{example_line, types_line, EXAMPLE_MEMBERS};
use crate::report::text::{count, escape, quote, short_bytes};
use crate::report::{emit, Output};
use crate::snapshot::{Snapshot, Verify};

/// Members of an example cycle listed per group.
/// Example addresses listed per survivor type.
const EXAMPLE_SURVIVORS: usize = 5;
/// Path shapes listed per survivor type.
const SHAPES_PER_TYPE: usize = 3;

#[derive(Serialize)]
struct DiffData {
    /// The dumps, oldest first.
    dumps: Vec<DumpJson>,
    /// Labels of the two dumps compared (the first and the last).
    old: &'static str,
    new: &'static str,
    /// Doubts about the comparison (different processes, dumps out of order).
    notes: Vec<String>,
    objects_delta: i64,
    shallow_delta: i64,
    /// Types whose count or shallow bytes changed, by shallow growth.
    types: Vec<TypeRow>,
    more_types: u64,
    /// Objects not in the old dump, topmost in the new dump's dominator tree.
    new_retainers: Vec<NewRetainer>,
    more_new_retainers: More,
    /// Objects in both dumps whose retained size grew.
    grown_retainers: Vec<GrownRetainer>,
    more_grown_retainers: More,
    /// Cycle groups with more cycles in the new dump.
    new_cycles: Vec<CycleRow>,
    more_new_cycles: u64,
    /// With three dumps only.
    survivors: Option<SurvivorsJson>,
}

#[derive(Serialize)]
struct DumpJson {
    label: &'static str,
    path: String,
    objects: u64,
    edges: u64,
    shallow_bytes: u64,
    /// Objects no root reaches, for the dumps that were analysed (the first and the last).
    #[serde(skip_serializing_if = "Option::is_none")]
    unreachable_objects: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unreachable_bytes: Option<u64>,
}

#[derive(Serialize)]
struct TypeRow {
    #[serde(rename = "type")]
    ty: String,
    count_old: u64,
    count_new: u64,
    count_delta: i64,
    shallow_old: u64,
    shallow_new: u64,
    shallow_delta: i64,
}

/// Rows not shown: how many, and what they retain (or gained) together.
#[derive(Serialize, Default)]
struct More {
    count: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct NewRetainer {
    #[serde(flatten)]
    object: ObjectJson,
    /// Its immediate dominator in the new dump (absent when that is the super-root).
    #[serde(skip_serializing_if = "Option::is_none")]
    held_by: Option<ObjectJson>,
    /// Why it is a root, when no single object dominates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    root: Option<String>,
}

#[derive(Serialize)]
struct GrownRetainer {
    /// The object in the new dump (`retained`: its retained bytes there).
    #[serde(flatten)]
    object: ObjectJson,
    /// Its index in the old dump, shallow and retained bytes there.
    index_old: u64,
    shallow_old: u64,
    retained_old: u64,
    retained_growth: u64,
}

#[derive(Serialize)]
struct TypeCount {
    #[serde(rename = "type")]
    ty: String,
    count: u32,
}

#[derive(Serialize)]
struct CycleRow {
    /// Each type with its number of members per cycle.
    types: Vec<TypeCount>,
    cycles_old: u64,
    cycles_new: u64,
    cycles_delta: i64,
    objects_old: u64,
    objects_new: u64,
    shallow_old: u64,
    shallow_new: u64,
    retained_old: u64,
    retained_new: u64,
    retained_delta: i64,
    finalizer: bool,
    /// Cycles of the group reachable from the roots in the new dump.
    reachable_cycles: u64,
    /// Up to 8 members of the group's biggest cycle in the new dump.
    example: Vec<ObjectJson>,
    example_size: u64,
    example_retained: u64,
}

#[derive(Serialize)]
struct SurvivorsJson {
    /// Objects of B with no equal (address, type, shallow size) in A.
    born: u64,
    born_shallow: u64,
    /// Those still in C (same address, type and shallow size).
    alive: u64,
    alive_shallow: u64,
    /// Of those, how many no root reaches in C.
    unreachable: u64,
    types: Vec<SurvivorType>,
    more_types: u64,
}

#[derive(Serialize)]
struct SurvivorType {
    #[serde(rename = "type")]
    ty: String,
    count: u64,
    shallow: u64,
    unreachable: u64,
    /// Addresses of the first few (in C's object order).
    examples: Vec<String>,
    /// Their shortest-path shapes in C, most objects first.
    paths: Vec<Shape>,
    more_paths: u64,
}

#[derive(Serialize)]
struct Shape {
    objects: u64,
    root: String,
    chain: String,
    example: String,
}

pub(super) fn run<W: Write>(
    dumps: &[PathBuf],
    limit: usize,
    json: bool,
    no_verify: bool,
    out: &mut W,
) -> Result<()> {
    if !(2..=3).contains(&dumps.len()) {
        return Err(Error::input("diff compares two or three dumps"));
    }
    let verify = if no_verify {
        Verify::SkipChecksums
    } else {
        Verify::Full
    };
    let snaps = dumps
        .iter()
        .map(|p| Snapshot::open(p, verify))
        .collect::<Result<Vec<Snapshot>>>()?;
    let last = snaps.len() - 1;
    let three = snaps.len() == 3;
    let labels: &[&'static str] = if three {
        &["A", "B", "C"]
    } else {
        &["old", "new"]
    };
    let old_needs = Needs {
        dominators: true,
        paths: false,
        cycles: Some(EdgeSet::WithoutHousekeeping),
    };
    let new_needs = Needs {
        paths: three,
        ..old_needs
    };
    let (old, new) = rayon::join(
        || analyze(&snaps[0], &dumps[0], old_needs),
        || analyze(&snaps[last], &dumps[last], new_needs),
    );
    let (old, new) = (old?, new?);
    let middle = three.then(|| TypeNames::new(&snaps[1]));
    let mut all_names = vec![&old.names];
    all_names.extend(middle.as_ref());
    all_names.push(&new.names);
    let table = TypeTable::new(&all_names);
    let side = |i: usize| Side {
        snap: &snaps[i],
        keys: table.keys(i),
    };

    let t = Instant::now();
    let at = d::same_address(&snaps[0], &snaps[last]).map_err(|e| e.in_file(&dumps[0]))?;
    let matched = d::matching(side(0), side(last), &at, false);
    drop(at);
    timing("diff.match", t);
    let t = Instant::now();
    let growth = d::type_growth(side(0), side(last), table.len());
    timing("diff.growth", t);
    let t = Instant::now();
    let new_retainers = d::new_retainers(&new, &matched);
    let grown = d::grown_retainers(&old, &new, &matched);
    drop(matched);
    timing("diff.retainers", t);
    let t = Instant::now();
    let cycles = d::cycle_growth(
        &old.cycle_groups(),
        table.keys(0),
        &new.cycle_groups(),
        table.keys(last),
    );
    timing("diff.cycles", t);
    let survivors = if three {
        Some(survivors(
            &new,
            side(0),
            side(1),
            side(2),
            &table,
            limit,
            dumps,
        )?)
    } else {
        None
    };

    let shown = |n: usize| if limit == 0 { n } else { limit.min(n) };
    let (old_total, new_total) = (
        snaps[0].total_shallow_size(),
        snaps[last].total_shallow_size(),
    );
    let nd = new.dom();
    let sr = new.graph.super_root();
    let n_new = shown(new_retainers.len());
    let n_grown = shown(grown.len());
    let n_types = shown(growth.len());
    let n_cycles = shown(cycles.len());
    let data = DiffData {
        dumps: snaps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let summary = match i {
                    0 => Some(old.summary()),
                    i if i == last => Some(new.summary()),
                    _ => None,
                };
                DumpJson {
                    label: labels[i],
                    path: dumps[i].display().to_string(),
                    objects: s.object_count() as u64,
                    edges: s.edge_count() as u64,
                    shallow_bytes: s.total_shallow_size(),
                    unreachable_objects: summary.as_ref().and_then(|s| s.unreachable_objects),
                    unreachable_bytes: summary.as_ref().and_then(|s| s.unreachable_bytes),
                }
            })
            .collect(),
        old: labels[0],
        new: labels[last],
        notes: notes(&snaps, labels),
        objects_delta: d::delta(
            snaps[0].object_count() as u64,
            snaps[last].object_count() as u64,
        ),
        shallow_delta: d::delta(old_total, new_total),
        types: growth[..n_types]
            .iter()
            .map(|g| TypeRow {
                ty: table.name(g.key).to_owned(),
                count_old: g.old_count,
                count_new: g.new_count,
                count_delta: g.count_delta(),
                shallow_old: g.old_shallow,
                shallow_new: g.new_shallow,
                shallow_delta: g.shallow_delta(),
            })
            .collect(),
        more_types: (growth.len() - n_types) as u64,
        new_retainers: new_retainers[..n_new]
            .iter()
            .map(|&v| {
                let p = nd.idom(v);
                NewRetainer {
                    object: ObjectJson::new(&new, v),
                    held_by: (p != sr).then(|| ObjectJson::new(&new, p)),
                    root: (p == sr).then(|| root_of(&new, v)),
                }
            })
            .collect(),
        more_new_retainers: More {
            count: (new_retainers.len() - n_new) as u64,
            bytes: new_retainers[n_new..]
                .iter()
                .fold(0u64, |s, &v| s.saturating_add(nd.retained(v))),
        },
        grown_retainers: grown[..n_grown]
            .iter()
            .map(|g| GrownRetainer {
                object: ObjectJson::new(&new, g.new),
                index_old: u64::from(g.old),
                shallow_old: old.size(g.old),
                retained_old: g.old_retained,
                retained_growth: g.growth(),
            })
            .collect(),
        more_grown_retainers: More {
            count: (grown.len() - n_grown) as u64,
            bytes: grown[n_grown..]
                .iter()
                .fold(0u64, |s, g| s.saturating_add(g.growth())),
        },
        new_cycles: cycles[..n_cycles]
            .iter()
            .map(|c| CycleRow {
                types: c
                    .types
                    .iter()
                    .map(|&(k, n)| TypeCount {
                        ty: table.name(k).to_owned(),
                        count: n,
                    })
                    .collect(),
                cycles_old: c.old.cycles,
                cycles_new: c.new.cycles,
                cycles_delta: d::delta(c.old.cycles, c.new.cycles),
                objects_old: c.old.objects,
                objects_new: c.new.objects,
                shallow_old: c.old.shallow,
                shallow_new: c.new.shallow,
                retained_old: c.old.retained,
                retained_new: c.new.retained,
                retained_delta: d::delta(c.old.retained, c.new.retained),
                finalizer: c.new.finalizer,
                reachable_cycles: c.new.reachable,
                example: c
                    .example
                    .iter()
                    .take(EXAMPLE_MEMBERS)
                    .map(|&v| ObjectJson::new(&new, v))
                    .collect(),
                example_size: c.example.len() as u64,
                example_retained: c.example_retained,
            })
            .collect(),
        more_new_cycles: (cycles.len() - n_cycles) as u64,
        survivors,
    };
    emit(out, json, &data)
}

impl Output for DiffData {
    const KIND: &'static str = "diff";

    fn text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        write_text(w, self)
    }
}

/// Why `v` (a child of the super-root in the dominator tree) is there.
fn root_of(a: &Analysis<'_>, v: NodeId) -> String {
    names::root_description(a.snap, &a.graph, v)
        .unwrap_or_else(|| "reachable from several roots".to_owned())
}

/// The three-dump part: survivors of C, by type, with examples and path shapes.
fn survivors(
    c: &Analysis<'_>,
    a_side: Side<'_>,
    b_side: Side<'_>,
    c_side: Side<'_>,
    table: &TypeTable,
    limit: usize,
    dumps: &[PathBuf],
) -> Result<SurvivorsJson> {
    let t = Instant::now();
    let s = d::survivors(a_side, b_side, c_side).map_err(|(i, e)| e.in_file(&dumps[i]))?;
    let paths = c.paths();
    let groups = d::survivors_by_type(c_side, &s.objects, |v| paths.depth(v).is_some());
    timing("diff.survivors", t);
    let t = Instant::now();
    let shown = if limit == 0 {
        groups.len()
    } else {
        limit.min(groups.len())
    };
    let hex = |v: NodeId| format!("{:#x}", c.snap.addresses()[v as usize]);
    let types = groups[..shown]
        .iter()
        .map(|g| {
            let shapes = d::path_shapes(c, &g.objects);
            SurvivorType {
                ty: table.name(g.key).to_owned(),
                count: g.objects.len() as u64,
                shallow: g.shallow,
                unreachable: g.unreachable,
                examples: g
                    .objects
                    .iter()
                    .take(EXAMPLE_SURVIVORS)
                    .map(|&v| hex(v))
                    .collect(),
                more_paths: shapes.len().saturating_sub(SHAPES_PER_TYPE) as u64,
                paths: shapes
                    .into_iter()
                    .take(SHAPES_PER_TYPE)
                    .map(|p| Shape {
                        objects: p.objects,
                        root: p.root,
                        chain: p.chain,
                        example: hex(p.example),
                    })
                    .collect(),
            }
        })
        .collect();
    timing("diff.path_shapes", t);
    Ok(SurvivorsJson {
        born: s.born,
        born_shallow: s.born_shallow,
        alive: s.objects.len() as u64,
        alive_shallow: groups.iter().fold(0u64, |t, g| t.saturating_add(g.shallow)),
        unreachable: groups.iter().map(|g| g.unreachable).sum(),
        more_types: (groups.len() - shown) as u64,
        types,
    })
}

/// Doubts about the comparison: dumps of different processes (addresses then mean
/// nothing across them), or dumps given out of order.
fn notes(snaps: &[Snapshot], labels: &[&str]) -> Vec<String> {
    let mut notes = Vec::new();
    let pids: Vec<Option<u64>> = snaps.iter().map(|s| s.fact_u64("pid")).collect();
    if let Some(first) = pids.iter().flatten().next() {
        if pids.iter().flatten().any(|p| p != first) {
            let list: Vec<String> = pids
                .iter()
                .zip(labels)
                .map(|(p, l)| match p {
                    Some(p) => format!("{p} in {l}"),
                    None => format!("unknown in {l}"),
                })
                .collect();
            notes.push(format!(
                "the dumps are of different processes (pid {}): objects are matched by \
                 address, which means nothing across processes",
                list.join(", ")
            ));
        }
    }
    let times: Vec<Option<u64>> = snaps.iter().map(|s| s.fact_u64("time.unix_ns")).collect();
    for i in 1..snaps.len() {
        if let (Some(a), Some(b)) = (times[i - 1], times[i]) {
            if b < a {
                notes.push(format!(
                    "{} was dumped before {}: give the dumps oldest first",
                    labels[i],
                    labels[i - 1]
                ));
            }
        }
    }
    notes
}

// ---------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------

/// `+1,234`, `-5`, `0`.
fn signed(n: i64) -> String {
    match n {
        0 => "0".to_owned(),
        n if n > 0 => format!("+{}", count(n as u64)),
        n => format!("-{}", count(n.unsigned_abs())),
    }
}

/// `+1.5 KiB`, `-200 B`, `0 B`.
fn signed_bytes(n: i64) -> String {
    match n {
        0 => "0 B".to_owned(),
        n if n > 0 => format!("+{}", short_bytes(n as u64)),
        n => format!("-{}", short_bytes(n.unsigned_abs())),
    }
}

/// `TYPE 'value' at 0x...`, escaped.
fn what(o: &ObjectJson) -> String {
    match &o.value {
        Some(v) => {
            let clipped: String = v.chars().take(names::PREVIEW_CHARS).collect();
            format!("{} {} at {}", escape(&o.ty), quote(&clipped), o.address)
        }
        None => format!("{} at {}", escape(&o.ty), o.address),
    }
}

fn write_more(out: &mut dyn Write, m: &More, together: &str) -> std::io::Result<()> {
    if m.count > 0 {
        writeln!(
            out,
            "(+{} more, {} {together}; -n 0 shows all)",
            count(m.count),
            short_bytes(m.bytes)
        )?;
    }
    Ok(())
}

fn write_text(out: &mut dyn Write, data: &DiffData) -> std::io::Result<()> {
    let (old, new) = (data.old, data.new);
    for dump in &data.dumps {
        writeln!(
            out,
            "{:<3} {}: {} objects, {}",
            dump.label,
            escape(&dump.path),
            count(dump.objects),
            short_bytes(dump.shallow_bytes)
        )?;
    }
    writeln!(
        out,
        "{new} against {old}: {} objects, {}",
        signed(data.objects_delta),
        signed_bytes(data.shallow_delta)
    )?;
    for n in &data.notes {
        writeln!(out, "note: {}", escape(n))?;
    }

    writeln!(out, "\ngrowth by type, {new} against {old}")?;
    if data.types.is_empty() {
        writeln!(out, "  no type changed")?;
    } else {
        writeln!(
            out,
            "{:>12}  {:>10}  {:>10}  {:>11}  type",
            "count", "+count", "shallow", "+shallow"
        )?;
        for t in &data.types {
            writeln!(
                out,
                "{:>12}  {:>10}  {:>10}  {:>11}  {}",
                count(t.count_new),
                signed(t.count_delta),
                short_bytes(t.shallow_new),
                signed_bytes(t.shallow_delta),
                escape(&t.ty)
            )?;
        }
        if data.more_types > 0 {
            writeln!(
                out,
                "({} more types; -n 0 shows all)",
                count(data.more_types)
            )?;
        }
    }

    writeln!(
        out,
        "\nnew retainers: objects not in {old}, topmost in {new}'s dominator tree"
    )?;
    if data.new_retainers.is_empty() {
        writeln!(out, "  none")?;
    } else {
        writeln!(out, "{:>10}  {:>10}  object", "retained", "shallow")?;
        for r in &data.new_retainers {
            let by = match (&r.held_by, &r.root) {
                (Some(h), _) => format!("held by {}", what(h)),
                (None, Some(root)) => format!("[root: {}]", escape(root)),
                (None, None) => String::new(),
            };
            writeln!(
                out,
                "{:>10}  {:>10}  {}  {by}",
                short_bytes(r.object.retained.unwrap_or(0)),
                short_bytes(r.object.shallow),
                what(&r.object)
            )?;
        }
        write_more(out, &data.more_new_retainers, "retained together")?;
    }

    writeln!(
        out,
        "\ngrown retainers: in both dumps, retaining more in {new} (not those with a child \
         that grew by half as much)"
    )?;
    if data.grown_retainers.is_empty() {
        writeln!(out, "  none")?;
    } else {
        writeln!(out, "{:>10}  {:>10}  object", "+retained", "retained")?;
        for g in &data.grown_retainers {
            writeln!(
                out,
                "{:>10}  {:>10}  {}  (was {})",
                format!("+{}", short_bytes(g.retained_growth)),
                short_bytes(g.object.retained.unwrap_or(0)),
                what(&g.object),
                short_bytes(g.retained_old)
            )?;
        }
        write_more(out, &data.more_grown_retainers, "gained together")?;
    }

    writeln!(
        out,
        "\nnew cycles: cycle groups with more cycles in {new} than in {old}"
    )?;
    if data.new_cycles.is_empty() {
        writeln!(out, "  none")?;
    } else {
        writeln!(
            out,
            "{:>9}  {:>9}  {:>10}  {:>11}  types per cycle",
            "+cycles", "cycles", "retained", "+retained"
        )?;
        for c in &data.new_cycles {
            let line = types_line(
                c.types.iter().map(|t| (t.ty.as_str(), t.count)),
                c.finalizer,
            );
            writeln!(
                out,
                "{:>9}  {:>9}  {:>10}  {:>11}  {line}",
                signed(c.cycles_delta),
                count(c.cycles_new),
                short_bytes(c.retained_new),
                signed_bytes(c.retained_delta)
            )?;
            writeln!(out, "{}", example_line(&c.example, c.example_size))?;
        }
        if data.more_new_cycles > 0 {
            writeln!(
                out,
                "({} more groups; -n 0 shows all)",
                count(data.more_new_cycles)
            )?;
        }
    }

    if let Some(s) = &data.survivors {
        write_survivors(out, s)?;
    }
    Ok(())
}

fn write_survivors(out: &mut dyn Write, s: &SurvivorsJson) -> std::io::Result<()> {
    writeln!(
        out,
        "\nsurvivors: objects born between A and B (not in A) still alive in C (same address, \
         type and size)"
    )?;
    let unreachable = if s.unreachable > 0 {
        format!(
            "; {} unreachable in C (garbage awaiting collection)",
            count(s.unreachable)
        )
    } else {
        String::new()
    };
    writeln!(
        out,
        "{} of the {} objects ({}) born between A and B are alive in C ({}){unreachable}",
        count(s.alive),
        count(s.born),
        short_bytes(s.born_shallow),
        short_bytes(s.alive_shallow)
    )?;
    if s.types.is_empty() {
        return Ok(());
    }
    writeln!(out, "{:>12}  {:>10}  type", "count", "shallow")?;
    for t in &s.types {
        let unreachable = if t.unreachable > 0 {
            format!("  ({} unreachable)", count(t.unreachable))
        } else {
            String::new()
        };
        writeln!(
            out,
            "{:>12}  {:>10}  {}{unreachable}",
            count(t.count),
            short_bytes(t.shallow),
            escape(&t.ty)
        )?;
        let more = t.count - t.examples.len() as u64;
        writeln!(
            out,
            "{:>12}  e.g. {}{}",
            "",
            t.examples.join(", "),
            if more > 0 {
                format!(" (+{} more)", count(more))
            } else {
                String::new()
            }
        )?;
        for p in &t.paths {
            writeln!(
                out,
                "{:>12}  {} via {}  [root: {}]",
                "",
                count(p.objects),
                escape(&p.chain),
                escape(&p.root)
            )?;
        }
        if t.more_paths > 0 {
            writeln!(
                out,
                "{:>12}  ({} more path shapes)",
                "",
                count(t.more_paths)
            )?;
        }
    }
    if s.more_types > 0 {
        writeln!(out, "({} more types; -n 0 shows all)", count(s.more_types))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_numbers() {
        assert_eq!(signed(0), "0");
        assert_eq!(signed(1234), "+1,234");
        assert_eq!(signed(-5), "-5");
        assert_eq!(signed(i64::MIN), "-9,223,372,036,854,775,808");
        assert_eq!(signed_bytes(0), "0 B");
        assert_eq!(signed_bytes(1536), "+1.5 KiB");
        assert_eq!(signed_bytes(-200), "-200 B");
    }
}
