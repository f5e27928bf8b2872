//! The HTML report page: one self-contained file, readable offline. The page
//! (`template.html`, compiled in) holds its CSS and script inline and a Content Security
//! Policy that forbids every fetch; its script draws the report from the data embedded
//! as JSON in a `<script type="application/json">` element.
//!
//! Dump strings never reach the page as markup:
//! - every string of the embedded data is first escaped as for a terminal
//!   ([`crate::escape::escape`]: control, invisible and bidi characters become
//!   visible `\u{..}` escapes), then the JSON text has `<`, `>`, `&`, U+2028 and U+2029
//!   written as `\uXXXX` escapes, so no `</script>` or `<!--` can end or bend the
//!   element; the script inserts text with `textContent` only;
//! - the little rendered here (title, subtitle) is escaped the same way, then
//!   HTML-escaped.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::escape::{escape, markup, Markup};

/// The page, with `{{title}}`, `{{subtitle}}`, `{{version}}` and `{{data}}` markers.
pub const TEMPLATE: &str = include_str!("template.html");

/// JSON text made safe inside a `<script>` element: `<`, `>`, `&`, U+2028 and U+2029
/// become `\uXXXX` escapes. Outside strings JSON has none of them, so the result is
/// the same JSON value.
pub fn escape_script_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 64);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Applies [`escape`] to every string in `v` (object keys are ours, not escaped).
fn escape_strings(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(e) = escape(s) {
                *s = e;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(escape_strings),
        Value::Object(map) => map.values_mut().for_each(escape_strings),
        _ => {}
    }
}

/// `data` as JSON for a `<script type="application/json">` element: every string
/// terminal-escaped, then the text script-escaped ([`escape_script_json`]).
pub fn embed_json<T: Serialize>(data: &T) -> Result<String> {
    let mut value =
        serde_json::to_value(data).map_err(|e| Error::input(format!("cannot encode JSON: {e}")))?;
    escape_strings(&mut value);
    let json = serde_json::to_string(&value)
        .map_err(|e| Error::input(format!("cannot encode JSON: {e}")))?;
    Ok(escape_script_json(&json))
}

/// Text shown on the page as markup: terminal-escaped, then HTML-escaped.
fn page_text(s: &str) -> String {
    markup(s, Markup::Html)
}

/// Writes the page: `title` and `subtitle` (raw strings) rendered here, `data` embedded
/// for the script.
pub fn write_page<W: Write, T: Serialize>(
    out: &mut W,
    title: &str,
    subtitle: &str,
    data: &T,
) -> Result<()> {
    let data = embed_json(data)?;
    let (title, subtitle) = (page_text(title), page_text(subtitle));
    let mut rest = TEMPLATE;
    let write = |out: &mut W, s: &str| {
        out.write_all(s.as_bytes())
            .map_err(|e| Error::io("cannot write output", e))
    };
    // One pass over the template: substituted text is never scanned for markers.
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let name = &rest[start + 2..start + len];
        let value = match name {
            "title" => title.as_str(),
            "subtitle" => subtitle.as_str(),
            "version" => env!("CARGO_PKG_VERSION"),
            "data" => data.as_str(),
            _ => {
                // Not a marker (the script may contain `{{`): keep it as it is.
                write(out, &rest[..start + 2])?;
                rest = &rest[start + 2..];
                continue;
            }
        };
        write(out, &rest[..start])?;
        write(out, value)?;
        rest = &rest[start + len + 2..];
    }
    write(out, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_element() {
        let v = serde_json::json!({"t": "</script><script>alert(1)</script>&\u{2028}\u{2029}"});
        let s = embed_json(&v).unwrap();
        assert!(
            !s.contains('<') && !s.contains('>') && !s.contains('&'),
            "{s}"
        );
        assert!(!s.contains('\u{2028}') && !s.contains('\u{2029}'), "{s}");
        // Line separators are terminal-escaped first: they show as \u{2028}.
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            back["t"],
            "</script><script>alert(1)</script>&\\u{2028}\\u{2029}"
        );
        // The script escaping alone keeps the value.
        let raw = "{\"a\":\"<\u{2028}>&\"}";
        let back: Value = serde_json::from_str(&escape_script_json(raw)).unwrap();
        assert_eq!(back["a"], "<\u{2028}>&");
    }

    #[test]
    fn html_escaping() {
        assert_eq!(page_text("a\u{202E}b<'"), "a\\u{202e}b&lt;&#39;");
    }

    #[test]
    fn template_has_each_marker_once() {
        for (m, n) in [
            ("{{title}}", 2),
            ("{{subtitle}}", 1),
            ("{{version}}", 2),
            ("{{data}}", 1),
        ] {
            assert_eq!(TEMPLATE.matches(m).count(), n, "{m}");
        }
        assert_eq!(TEMPLATE.matches("{{").count(), 6, "no other marker");
        let mut page = Vec::new();
        write_page(&mut page, "T<", "S&", &serde_json::json!({"k": "v"})).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains("<title>T&lt;</title>"));
        assert!(page.contains("S&amp;"));
        assert!(page.contains(r#"{"k":"v"}"#));
        assert!(!page.contains("{{data}}"));
    }
}
