//! Terminal-safe text. Every string that comes from a dump (names, keys, previews, and
//! paths too) passes through [`escape`] before it reaches a terminal, so a hostile dump
//! cannot move the cursor, recolour the screen or reorder text with bidi controls. Also
//! a small helper for aligned `label  value` lines.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

use crate::error::{Error, Result};

/// True for characters that must not reach a terminal raw.
fn is_unsafe(c: char) -> bool {
    c.is_control() // C0, DEL, C1 (includes ESC and CSI)
        || matches!(c,
            '\u{00AD}'                  // soft hyphen (invisible)
            | '\u{034F}'                // combining grapheme joiner
            | '\u{061C}'                // Arabic letter mark
            | '\u{115F}' | '\u{1160}'   // Hangul fillers (blank)
            | '\u{17B4}' | '\u{17B5}'   // Khmer inherent vowels (invisible)
            | '\u{180B}'..='\u{180F}'   // Mongolian variation selectors, vowel separator
            | '\u{3164}' | '\u{FFA0}'   // Hangul fillers (blank)
            | '\u{200B}'..='\u{200F}'   // zero-width chars, LRM, RLM
            | '\u{2028}' | '\u{2029}'   // line and paragraph separators
            | '\u{202A}'..='\u{202E}'   // bidi embeddings and overrides
            | '\u{2060}'..='\u{2069}'   // word joiner, invisible operators, bidi isolates
            | '\u{FE00}'..='\u{FE0F}'   // variation selectors
            | '\u{FEFF}'                // byte order mark
            | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotation
            | '\u{E0000}'..='\u{E007F}' // tag characters (invisible text)
            | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
        )
}

/// Escapes `s` for a terminal: unsafe characters become `\u{..}` and a backslash becomes
/// `\\`, so the output is unambiguous. Borrowed when nothing needs escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) || c == '\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_unsafe(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Escapes `s` and wraps it in double quotes (a `"` inside becomes `\"`).
pub fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s).replace('"', "\\\""))
}

/// Writes `(label, value)` rows with the values aligned in one column.
pub fn write_rows<W: Write>(out: &mut W, rows: &[(String, String)]) -> Result<()> {
    let width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    for (label, value) in rows {
        writeln!(out, "{label:<width$}  {value}")
            .map_err(|e| Error::io("cannot write output", e))?;
    }
    Ok(())
}

/// `n` bytes in a human unit (`1.5 MiB`), with the exact count for large values.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {} ({n} bytes)", UNITS[unit])
}

/// `n` bytes in a short human unit for tables: `512 B`, `1.5 KiB`, `12.0 MiB`.
pub fn short_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `n` with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `part / whole` as a percentage with one decimal (`0.0` when `whole` is 0).
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi_only() {
        assert!(matches!(escape("plain café ☃"), Cow::Borrowed(_)));
        assert_eq!(escape("a\x1b[31mb"), "a\\u{1b}[31mb");
        assert_eq!(
            escape("\u{202E}x\u{2066}\u{200F}"),
            "\\u{202e}x\\u{2066}\\u{200f}"
        );
        assert_eq!(
            escape("tab\tnl\n\u{7f}\u{85}"),
            "tab\\u{9}nl\\u{a}\\u{7f}\\u{85}"
        );
        assert_eq!(escape("back\\slash"), "back\\\\slash");
        // invisible characters that could hide or disguise text
        assert_eq!(
            escape("a\u{AD}b\u{FE0F}c\u{E0041}d\u{3164}"),
            "a\\u{ad}b\\u{fe0f}c\\u{e0041}d\\u{3164}"
        );
        assert!(matches!(escape("emoji 😀 and ß"), Cow::Borrowed(_)));
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
    }

    #[test]
    fn counts_and_short_units() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(short_bytes(1023), "1023 B");
        assert_eq!(short_bytes(1536), "1.5 KiB");
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(5, 0), 0.0);
    }

    #[test]
    fn human_bytes_units() {
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB (1536 bytes)");
        assert_eq!(human_bytes(10 << 20), "10.0 MiB (10485760 bytes)");
    }
}
