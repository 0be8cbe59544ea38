//! Locating a scalar's exact bytes in the source, writing a new value in the same style,
//! and splicing replacements into the source while leaving every other byte alone.

use saphyr_parser::ScalarStyle;

use crate::tree::{NodeId, NodeKind, Tree};

/// How a scalar is quoted in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quote {
    /// `value`
    Plain,
    /// `'value'`
    Single,
    /// `"value"`
    Double,
}

/// The bytes of one scalar in the source: `src[start..end]` is the whole token, quotes included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    /// First byte of the token.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// How it is quoted.
    pub quote: Quote,
}

/// A replacement of `src[start..end]` by `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Splice {
    /// First byte replaced.
    pub start: usize,
    /// One past the last byte replaced (equal to `start` for an insertion).
    pub end: usize,
    /// The new text.
    pub text: String,
}

/// Finds the token of a single-line scalar whose text is exactly its value (plain), or its
/// value in quotes without escapes (quoted). Anything else cannot be rewritten safely in
/// place, and the reason is returned.
pub(crate) fn scalar_token(tree: &Tree<'_>, node: NodeId) -> Result<Token, &'static str> {
    let n = &tree.nodes[node];
    let NodeKind::Scalar { value, style } = &n.kind else {
        return Err("it is not a single value");
    };
    let src = tree.src;
    let start = n.start.byte;
    let rest = src.get(start..).unwrap_or("");
    match style {
        ScalarStyle::Literal | ScalarStyle::Folded => {
            Err("it is a block scalar (`|` or `>`); write it as a plain or quoted scalar on one line")
        }
        ScalarStyle::Plain => {
            if value.is_empty() {
                return Err("it is empty");
            }
            if rest.starts_with(value.as_str()) {
                Ok(Token {
                    start,
                    end: start + value.len(),
                    quote: Quote::Plain,
                })
            } else {
                Err("it spans several lines; write it on one line")
            }
        }
        ScalarStyle::SingleQuoted => {
            let bytes = rest.as_bytes();
            let mut i = 1;
            loop {
                match bytes.get(i) {
                    None => return Err("its closing quote was not found"),
                    Some(b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
                    Some(b'\'') => break,
                    Some(_) => i += 1,
                }
            }
            let inner = &rest[1..i];
            if inner.contains(['\n', '\r']) || inner.replace("''", "'") != *value {
                return Err("it spans several lines; write it on one line");
            }
            Ok(Token {
                start,
                end: start + i + 1,
                quote: Quote::Single,
            })
        }
        ScalarStyle::DoubleQuoted => {
            let bytes = rest.as_bytes();
            let mut i = 1;
            loop {
                match bytes.get(i) {
                    None => return Err("its closing quote was not found"),
                    Some(b'\\') => i += 2,
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            if rest[1..i] != *value {
                return Err("it uses escape sequences or spans several lines; write it on one line without escapes");
            }
            Ok(Token {
                start,
                end: start + i + 1,
                quote: Quote::Double,
            })
        }
    }
}

/// Writes `value` as a scalar in the given style. A plain scalar that would be read as
/// something other than this string (a number, a boolean, a flow collection, …) is double
/// quoted instead.
pub(crate) fn render(value: &str, quote: Quote) -> String {
    match quote {
        Quote::Single => format!("'{}'", value.replace('\'', "''")),
        Quote::Double => double_quoted(value),
        Quote::Plain if needs_quotes(value) => double_quoted(value),
        Quote::Plain => value.to_owned(),
    }
}

/// `"value"` with `\` and `"` escaped and control characters written as escapes.
pub(crate) fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `value` cannot be written as a plain scalar that reads back as the same string,
/// in block and flow context alike, under YAML 1.1 and 1.2 resolution rules.
pub(crate) fn needs_quotes(value: &str) -> bool {
    let Some(first) = value.chars().next() else {
        return true;
    };
    if !first.is_ascii_alphanumeric() {
        return true;
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | ':' | '@' | '-' | '+'))
    {
        return true;
    }
    let lower = value.to_ascii_lowercase();
    let reserved = [
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf",
    ];
    reserved.contains(&lower.as_str())
        || value
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '_' | ':' | '+' | '-'))
        || value.parse::<f64>().is_ok()
        || ["0x", "0o", "0b"].iter().any(|p| lower.starts_with(p))
}

/// Applies non-overlapping splices to `src`. Identical splices are applied once.
pub(crate) fn apply(src: &str, mut splices: Vec<Splice>) -> String {
    splices.sort_by_key(|s| (s.start, s.end));
    splices.dedup();
    let mut out = String::with_capacity(src.len() + splices.iter().map(|s| s.text.len()).sum::<usize>());
    let mut cursor = 0;
    for s in splices {
        // Splices come from distinct tokens and never overlap; an overlap would be skipped.
        if s.start < cursor {
            continue;
        }
        out.push_str(&src[cursor..s.start]);
        out.push_str(&s.text);
        cursor = s.end;
    }
    out.push_str(&src[cursor..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_like_values_stay_plain_but_ambiguous_ones_are_quoted() {
        assert!(!needs_quotes("nginx:1.25"));
        assert!(!needs_quotes("registry.example.com:5000/team/api@sha256:00ff"));
        assert!(needs_quotes("[::1]:5000/app:1"));
        assert!(needs_quotes("true"));
        assert!(needs_quotes("1.5"));
        assert!(needs_quotes("1:20"));
        assert!(needs_quotes("2001-12-14"));
        assert!(needs_quotes("0x1f"));
        assert!(needs_quotes("a b"));
        assert!(needs_quotes(""));
    }

    #[test]
    fn rendering_keeps_the_quote_style() {
        assert_eq!(render("x:1", Quote::Plain), "x:1");
        assert_eq!(render("x:1", Quote::Single), "'x:1'");
        assert_eq!(render("x:1", Quote::Double), "\"x:1\"");
        assert_eq!(render("it's", Quote::Single), "'it''s'");
        assert_eq!(render("yes", Quote::Plain), "\"yes\"");
    }

    #[test]
    fn splices_apply_in_order_and_leave_the_rest() {
        let out = apply(
            "a: 1\nb: 2\n",
            vec![
                Splice {
                    start: 8,
                    end: 9,
                    text: "20".into(),
                },
                Splice {
                    start: 3,
                    end: 4,
                    text: "10".into(),
                },
                Splice {
                    start: 3,
                    end: 4,
                    text: "10".into(),
                },
            ],
        );
        assert_eq!(out, "a: 10\nb: 20\n");
    }
}
