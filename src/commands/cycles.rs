//! `heapsnap cycles`: reference cycles grouped by the types of their members.

use std::io::Write;

use serde::Serialize;

use super::{analyze, open, write_summary, ObjectJson};
use crate::analysis::{EdgeSet, Needs, Summary};
use crate::cli::DumpArgs;
use crate::error::Result;
use crate::query::{example_line, types_line, EXAMPLE_MEMBERS};
use crate::report::text::{count, short_bytes};
use crate::report::{emit, Output};

/// Members of the example cycle listed per group.

#[derive(Serialize)]
struct CyclesData {
    summary: Summary,
    /// True if housekeeping edges were kept.
    all_edges: bool,
    /// Cycles in all groups (shown or not), and how many groups.
    cycles: u64,
    group_count: u64,
    groups: Vec<Group>,
}

#[derive(Serialize)]
struct Group {
    /// Each type with its number of members per cycle.
    types: Vec<TypeCount>,
    cycles: u64,
    objects: u64,
    shallow: u64,
    retained: u64,
    finalizer: bool,
    reachable_cycles: u64,
    /// Up to 8 members of the group's biggest cycle.
    example: Vec<ObjectJson>,
    example_size: u64,
    example_retained: u64,
}

#[derive(Serialize)]
struct TypeCount {
    #[serde(rename = "type")]
    ty: String,
    count: u32,
}

pub(super) fn run<W: Write>(
    args: &DumpArgs,
    limit: usize,
    all_edges: bool,
    out: &mut W,
) -> Result<()> {
    let snap = open(args)?;
    let a = analyze(
        &snap,
        &args.dump,
        Needs {
            dominators: true,
            paths: false,
            cycles: Some(EdgeSet::all_if(all_edges)),
        },
    )?;
    let groups = a.cycle_groups();
    let shown = if limit == 0 {
        groups.len()
    } else {
        limit.min(groups.len())
    };
    let data = CyclesData {
        summary: a.summary(),
        all_edges,
        cycles: groups.iter().map(|g| g.cycles).sum(),
        group_count: groups.len() as u64,
        groups: groups[..shown]
            .iter()
            .map(|g| Group {
                types: g
                    .types
                    .iter()
                    .map(|&(t, c)| TypeCount {
                        ty: a.names.get(t).to_owned(),
                        count: c,
                    })
                    .collect(),
                cycles: g.cycles,
                objects: g.objects,
                shallow: g.shallow,
                retained: g.retained,
                finalizer: g.finalizer,
                reachable_cycles: g.reachable,
                example: g
                    .example
                    .iter()
                    .take(EXAMPLE_MEMBERS)
                    .map(|&v| ObjectJson::new(&a, v))
                    .collect(),
                example_size: g.example.len() as u64,
                example_retained: g.example_retained,
            })
            .collect(),
    };
    emit(out, args.json, &data)
}

impl Output for CyclesData {
    const KIND: &'static str = "cycles";

    fn text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let data = self;
        if data.groups.is_empty() {
            writeln!(w, "no reference cycles")?;
        } else {
            writeln!(
                w,
                "{} reference cycles in {} groups{}",
                count(data.cycles),
                count(data.group_count),
                if data.all_edges {
                    " (all edges)"
                } else {
                    " (housekeeping edges left out; --all-edges keeps them)"
                }
            )?;
            writeln!(
                w,
                "{:>9}  {:>9}  {:>10}  {:>10}  {:>9}  types per cycle",
                "cycles", "objects", "shallow", "retained", "reachable"
            )?;
        }
        for g in &data.groups {
            let line = types_line(
                g.types.iter().map(|t| (t.ty.as_str(), t.count)),
                g.finalizer,
            );
            writeln!(
                w,
                "{:>9}  {:>9}  {:>10}  {:>10}  {:>9}  {line}",
                count(g.cycles),
                count(g.objects),
                short_bytes(g.shallow),
                short_bytes(g.retained),
                count(g.reachable_cycles)
            )?;
            writeln!(w, "{}", example_line(&g.example, g.example_size))?;
        }
        if data.groups.len() < data.group_count as usize {
            writeln!(
                w,
                "({} more groups; -n 0 shows all)",
                count(data.group_count - data.groups.len() as u64)
            )?;
        }
        write_summary(&data.summary, w)
    }
}
