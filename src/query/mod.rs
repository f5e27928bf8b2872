//! The query layer: each question a command answers, as plain data. The shapes here
//! are exactly what `--json` prints, and what the text, HTML and SVG renderers read:
//! an object ([`ObjectJson`]), a retention path ([`PathJson`], [`path_json`]), the
//! shared constants of several commands, and the one-line text forms of a cycle group
//! that `cycles` and `diff` share.

use serde::Serialize;

use crate::analysis::paths::Step as PathStep;
use crate::analysis::Analysis;
use crate::graph::NodeId;
use crate::names;
use crate::report::text::{count, escape};

/// Example members shown per cycle group (by `cycles`, `diff` and `report`).
pub const EXAMPLE_MEMBERS: usize = 8;

/// `info` and `report` hint at a native leak when Python objects are under this share
/// of the RSS.
pub const NATIVE_HINT_SHARE: f64 = 0.5;

/// The hint shown when Python objects are under half of the RSS.
pub const NATIVE_HINT: &str = "most of the RSS is outside Python objects: a native (C extension / allocator) leak or fragmentation is the likely cause";

/// Formats nanoseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub fn utc_iso(unix_ns: u64) -> String {
    let secs = unix_ns / 1_000_000_000;
    let millis = (unix_ns % 1_000_000_000) / 1_000_000;
    let days = (secs / 86_400) as i64; // < 2^64 / 86400e9: fits
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An object as it appears in JSON output. Addresses are hex strings: JSON numbers lose
/// precision above 2^53.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectJson {
    /// Object index.
    pub index: u64,
    /// Hex address.
    pub address: String,
    #[serde(rename = "type")]
    /// Type name (raw).
    pub ty: String,
    /// The dump's name or value preview of the object, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Shallow bytes.
    pub shallow: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Retained bytes, when dominators were computed.
    pub retained: Option<u64>,
}

impl ObjectJson {
    /// Object `v` of `a`.
    pub fn new(a: &Analysis<'_>, v: NodeId) -> ObjectJson {
        ObjectJson {
            index: u64::from(v),
            address: format!("{:#x}", a.snap.addresses()[v as usize]),
            ty: names::type_of(a.snap, &a.names, v).to_owned(),
            value: names::value_of(a.snap, v).map(|(_, text, _)| text.to_owned()),
            shallow: a.size(v),
            retained: a.dom.as_ref().map(|d| d.retained(v)),
        }
    }
}

/// One retention path as `path` prints it; `report` embeds the same.
#[derive(Serialize)]
pub struct PathJson {
    /// Why the first object is a root.
    pub root: String,
    /// The chain in one line: `module 'app' -> dict['cache'] -> list[3] -> Item`.
    pub chain: String,
    pub steps: Vec<Step>,
}

#[derive(Serialize)]
pub struct Step {
    /// The label of the reference from the previous step to this object, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
    pub object: ObjectJson,
}

/// The label of the reference into step `i` of `path`, if the dump has one.
fn label_into(a: &Analysis<'_>, path: &[PathStep], i: usize) -> Option<String> {
    let k = path[i].1?;
    names::edge_label(a.snap, &a.graph, path[i - 1].0, k)
}

/// The path in one line (see [`names::path_chain`]).
pub fn chain(a: &Analysis<'_>, path: &[PathStep], merged: bool) -> String {
    names::path_chain(a.snap, &a.graph, &a.names, path, merged)
}

/// The chain line and the steps of `path`.
fn render(a: &Analysis<'_>, path: &[PathStep]) -> (String, Vec<Step>) {
    let steps = (0..path.len())
        .map(|i| Step {
            edge: label_into(a, path, i),
            object: ObjectJson::new(a, path[i].0),
        })
        .collect();
    (chain(a, path, false), steps)
}

/// `path` (root first, as [`crate::analysis::Paths::paths_to`] gives it) with its
/// root's description, its one-line chain and its labelled steps.
pub fn path_json(a: &Analysis<'_>, path: &[PathStep]) -> PathJson {
    let (chain, steps) = render(a, path);
    PathJson {
        root: root_of(a, path[0].0),
        chain,
        steps,
    }
}

/// Why `v` is a root (`root` if the dump does not say).
pub fn root_of(a: &Analysis<'_>, v: NodeId) -> String {
    names::root_description(a.snap, &a.graph, v).unwrap_or_else(|| "root".to_owned())
}

/// A cycle group's types in one line: `Parent + Child x2 + 3 more types`, escaped, with
/// the finalizer mark (shared with `diff`).
pub fn types_line<'a>(
    types: impl ExactSizeIterator<Item = (&'a str, u32)>,
    finalizer: bool,
) -> String {
    const SHOWN: usize = 6;
    let total = types.len();
    let mut parts: Vec<String> = types
        .take(SHOWN)
        .map(|(ty, n)| {
            if n == 1 {
                escape(ty).into_owned()
            } else {
                format!("{} x{n}", escape(ty))
            }
        })
        .collect();
    if total > SHOWN {
        parts.push(format!("{} more types", total - SHOWN));
    }
    let mut line = parts.join(" + ");
    if finalizer {
        line.push_str("  [has __del__/finalizer]");
    }
    line
}

/// The `e.g. Type at 0x..., ... (+N more)` line under a cycle group (shared with `diff`).
pub fn example_line(example: &[ObjectJson], size: u64) -> String {
    let members: Vec<String> = example
        .iter()
        .map(|o| format!("{} at {}", escape(&o.ty), o.address))
        .collect();
    let rest = size.saturating_sub(example.len() as u64);
    let more = if rest > 0 {
        format!(" (+{} more)", count(rest))
    } else {
        String::new()
    };
    format!("{:>9}  e.g. {}{more}", "", members.join(", "))
}

#[cfg(test)]
mod tests {
    use super::utc_iso;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_iso(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            utc_iso(1_767_225_599_999_000_000),
            "2025-12-31T23:59:59.999Z"
        );
        assert_eq!(utc_iso(u64::MAX), "2554-07-21T23:34:33.709Z");
    }
}
