//! Escaping at the output sinks, in one dependency-free leaf module. Every string that
//! comes from a dump (names, keys, previews, and paths too) passes through [`escape`]
//! before it reaches a terminal, so a hostile dump cannot move the cursor, recolour the
//! screen or reorder text with bidi controls; [`markup`] makes a string safe inside
//! HTML or SVG (XML) as well. Strings are kept raw everywhere else: escaping is the job
//! of whatever prints them, once (the fatal-error line in `main` included).

use std::borrow::Cow;
use std::fmt::Write as _;

/// True for characters that must not reach a terminal raw.
pub fn is_unsafe(c: char) -> bool {
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

/// The markup language of [`markup`]: they differ only in how `'` is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Markup {
    /// HTML text and attributes (`'` as `&#39;`, which HTML 4 knows too).
    Html,
    /// XML (SVG) text and attributes (`'` as `&apos;`).
    Xml,
}

/// Text for inside an HTML or XML element or attribute: escaped for a terminal first
/// ([`escape`]), then `& < > " '` as entities. U+FFFE and U+FFFF (not XML characters)
/// become `\u{..}` too.
pub fn markup(s: &str, lang: Markup) -> String {
    let safe = escape(s);
    let mut out = String::with_capacity(safe.len() + 8);
    for c in safe.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' if lang == Markup::Html => out.push_str("&#39;"),
            '\'' => out.push_str("&apos;"),
            '\u{FFFE}' | '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_escapes_entities_controls_and_non_characters() {
        assert_eq!(
            markup("<a href='x'>&\"</a>", Markup::Xml),
            "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(
            markup("<a href=\"x\">'&'</a>", Markup::Html),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        for lang in [Markup::Html, Markup::Xml] {
            assert_eq!(
                markup("a\x1b[31m\u{202E}b\n", lang),
                "a\\u{1b}[31m\\u{202e}b\\u{a}"
            );
            assert_eq!(markup("x\u{FFFE}\u{FFFF}", lang), "x\\u{fffe}\\u{ffff}");
            assert_eq!(markup("plain café ☃", lang), "plain café ☃");
            assert_eq!(markup("a\\b", lang), "a\\\\b");
        }
    }

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
    fn escape_and_quote() {
        assert!(matches!(escape("plain café"), Cow::Borrowed(_)));
        assert_eq!(escape("a\\b\x07\u{2066}"), "a\\\\b\\u{7}\\u{2066}");
        assert_eq!(quote("say \"hi\"\n"), "\"say \\\"hi\\\"\\u{a}\"");
    }
}
