//! Turning a manifest file into JSON objects for server-side apply.
//!
//! Scalars resolve as `kubectl` resolves them (its YAML reader follows YAML 1.1): `yes`,
//! `no`, `on`, `off`, `y` and `n` are booleans as well as `true` and `false`; `~`, `null` and
//! nothing are null; integers may be written in decimal, `0x` hex, `0o` or leading-zero octal
//! and `0b` binary, with `_` separators; quoted scalars are always strings and timestamps
//! stay strings. `<<` merge keys are applied (explicit keys win). Anchors and aliases are
//! expanded within the bounds of [`Limits`]. Empty and comment-only documents are skipped; a
//! `kind: List` document contributes its `items`, as `kubectl apply` does.

use saphyr_parser::ScalarStyle;
use serde_json::{Map, Number, Value};

use crate::error::EditError;
use crate::images::decode;
use crate::limits::Limits;
use crate::tree::{self, NodeId, NodeKind, NodeTag, Tree};

/// The file's objects as JSON, in file order, each with `apiVersion`, `kind` and
/// `metadata.name`.
///
/// # Errors
/// The parsing errors of [`list_images`](crate::list_images), and
/// [`EditError::InvalidDocument`] for a document that is not a mapping, lacks `apiVersion`,
/// `kind` or `metadata.name`, uses a custom tag, a non-scalar key or a number JSON cannot
/// hold (`.inf`, `.nan`).
pub fn parse_documents(content: &[u8], limits: &Limits) -> Result<Vec<Value>, EditError> {
    let src = decode(content)?;
    let tree = tree::parse(src, limits)?;
    let mut out = Vec::new();
    for doc in &tree.documents {
        let Some(root) = doc.root else { continue };
        if tree.is_null(root) {
            continue;
        }
        let conv = Converter {
            tree: &tree,
            document: doc.index,
        };
        let value = conv.value(root)?;
        let line = tree.nodes[root].start.line;
        let is_list = value.get("kind").and_then(Value::as_str) == Some("List") && value.get("items").is_some();
        if is_list {
            let Some(Value::Array(items)) = value.get("items").cloned() else {
                return Err(conv.invalid(root, "the `items` of a `List` must be a sequence".to_owned()));
            };
            for item in items {
                check_object(&item, doc.index, line)?;
                out.push(item);
            }
        } else {
            check_object(&value, doc.index, line)?;
            out.push(value);
        }
    }
    Ok(out)
}

fn check_object(value: &Value, document: usize, line: usize) -> Result<(), EditError> {
    let invalid = |reason: &str| EditError::InvalidDocument {
        document,
        line,
        reason: reason.to_owned(),
    };
    let Some(obj) = value.as_object() else {
        return Err(invalid("a document must be a mapping"));
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    if !text(obj.get("apiVersion")) {
        return Err(invalid("it has no `apiVersion`"));
    }
    if !text(obj.get("kind")) {
        return Err(invalid("it has no `kind`"));
    }
    if !text(obj.get("metadata").and_then(|m| m.get("name"))) {
        return Err(invalid("it has no `metadata.name`"));
    }
    Ok(())
}

struct Converter<'t, 's> {
    tree: &'t Tree<'s>,
    document: usize,
}

impl Converter<'_, '_> {
    fn invalid(&self, node: NodeId, reason: String) -> EditError {
        EditError::InvalidDocument {
            document: self.document,
            line: self.tree.nodes[node].start.line,
            reason,
        }
    }

    fn value(&self, id: NodeId) -> Result<Value, EditError> {
        let id = self.tree.resolve(id);
        let node = &self.tree.nodes[id];
        if let Some(NodeTag::Other(tag)) = &node.tag {
            return Err(self.invalid(id, format!("the custom tag `{tag}` is not supported")));
        }
        match &node.kind {
            NodeKind::Scalar { value, style } => {
                let tag = match &node.tag {
                    Some(NodeTag::Core(t)) => Some(t.as_str()),
                    _ => None,
                };
                self.scalar(id, value, *style, tag)
            }
            NodeKind::Seq(items) => items
                .iter()
                .map(|&i| self.value(i))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            NodeKind::Map(_) => {
                let mut map = Map::new();
                self.fill(id, &mut map, true)?;
                Ok(Value::Object(map))
            }
            NodeKind::Alias(_) => Err(self.invalid(id, "an alias could not be resolved".to_owned())),
        }
    }

    /// Adds the pairs of a mapping to `map`: explicit keys always (`explicit`), merged keys
    /// only where absent.
    fn fill(&self, id: NodeId, map: &mut Map<String, Value>, explicit: bool) -> Result<(), EditError> {
        let Some(pairs) = self.tree.pairs(id) else {
            return Err(self.invalid(
                id,
                "a `<<` merge key must refer to a mapping or a list of mappings".to_owned(),
            ));
        };
        let mut merges = Vec::new();
        for &(k, v) in pairs {
            if self.tree.is_merge_key(k) {
                merges.push(v);
                continue;
            }
            let key = self.key(k)?;
            if explicit || !map.contains_key(&key) {
                let value = self.value(v)?;
                map.insert(key, value);
            }
        }
        for m in merges {
            match self.tree.items(m) {
                Some(sources) => {
                    for &s in sources {
                        self.fill(s, map, false)?;
                    }
                }
                None => self.fill(m, map, false)?,
            }
        }
        Ok(())
    }

    fn key(&self, k: NodeId) -> Result<String, EditError> {
        match self.tree.scalar(k) {
            Some(s) => Ok(s.to_owned()),
            None => Err(self.invalid(k, "mapping keys must be scalars".to_owned())),
        }
    }

    fn scalar(&self, id: NodeId, value: &str, style: ScalarStyle, tag: Option<&str>) -> Result<Value, EditError> {
        let bad = |what: &str| self.invalid(id, format!("`{}` is not a valid {what}", value.escape_default()));
        let quoted = style != ScalarStyle::Plain;
        match tag {
            Some("str" | "binary" | "timestamp") => return Ok(Value::String(value.to_owned())),
            Some("null") => {
                return if is_null(value) || value.is_empty() {
                    Ok(Value::Null)
                } else {
                    Err(bad("null"))
                };
            }
            Some("bool") => return parse_bool(value).map(Value::Bool).ok_or_else(|| bad("boolean")),
            Some("int") => return parse_int(value).ok_or_else(|| bad("integer")),
            Some("float") => return self.float(id, value)?.ok_or_else(|| bad("number")),
            Some("map" | "seq") => return Err(bad("scalar for its `!!map` or `!!seq` tag")),
            Some(other) if quoted => return Err(self.invalid(id, format!("the tag `!!{other}` is not supported"))),
            _ => {}
        }
        if quoted {
            return Ok(Value::String(value.to_owned()));
        }
        if is_null(value) {
            return Ok(Value::Null);
        }
        if let Some(b) = parse_bool(value) {
            return Ok(Value::Bool(b));
        }
        if let Some(n) = parse_int(value) {
            return Ok(n);
        }
        if let Some(n) = self.float(id, value)? {
            return Ok(n);
        }
        Ok(Value::String(value.to_owned()))
    }

    /// A YAML float, `None` when `value` is not one; an error for infinities and NaN.
    fn float(&self, id: NodeId, value: &str) -> Result<Option<Value>, EditError> {
        let lower = value.to_ascii_lowercase();
        if matches!(lower.trim_start_matches(['+', '-']), ".inf" | ".nan") {
            return Err(self.invalid(
                id,
                format!("`{value}` cannot be represented in JSON; quote it if it is a string"),
            ));
        }
        if !looks_like_float(value) {
            return Ok(None);
        }
        Ok(value
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number))
    }
}

fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// Integers as YAML 1.1 (and Go's `strconv.ParseInt(s, 0, 64)` after dropping `_`) read them.
fn parse_int(value: &str) -> Option<Value> {
    let plain = value.replace('_', "");
    let (negative, digits) = match plain.as_bytes().first()? {
        b'-' => (true, &plain[1..]),
        b'+' => (false, &plain[1..]),
        _ => (false, plain.as_str()),
    };
    if digits.is_empty() || value.starts_with('_') {
        return None;
    }
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o").or_else(|| digits.strip_prefix("0O")) {
        (8, o)
    } else if let Some(b) = digits.strip_prefix("0b").or_else(|| digits.strip_prefix("0B")) {
        (2, b)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if negative {
        let n = i64::try_from(magnitude)
            .ok()
            .map(|m| -m)
            .or((magnitude == 1 << 63).then_some(i64::MIN))?;
        Some(Value::Number(n.into()))
    } else {
        Some(Value::Number(magnitude.into()))
    }
}

/// `[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?`
fn looks_like_float(value: &str) -> bool {
    let b = value.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_start = i;
    while i < b.len() && (b[i].is_ascii_digit() || (b[i] == b'_' && i > int_start)) {
        i += 1;
    }
    let had_int = i > int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
        if !had_int && i == frac_start {
            return false;
        }
    } else if !had_int {
        return false;
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        i += 1;
        if i < b.len() && matches!(b[i], b'+' | b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_yaml_1_1() {
        assert_eq!(parse_int("42"), Some(Value::from(42)));
        assert_eq!(parse_int("-42"), Some(Value::from(-42)));
        assert_eq!(parse_int("0x1F"), Some(Value::from(31)));
        assert_eq!(parse_int("0755"), Some(Value::from(493)));
        assert_eq!(parse_int("0o17"), Some(Value::from(15)));
        assert_eq!(parse_int("0b101"), Some(Value::from(5)));
        assert_eq!(parse_int("1_000"), Some(Value::from(1000)));
        assert_eq!(parse_int("0"), Some(Value::from(0)));
        assert_eq!(parse_int("1.5"), None);
        assert_eq!(parse_int("08"), None);
        assert_eq!(parse_int("v1"), None);
        assert_eq!(parse_int("-"), None);
    }

    #[test]
    fn floats_are_recognised_by_shape() {
        for f in ["1.5", "-0.5", ".5", "1e3", "1.0E-2", "3."] {
            assert!(looks_like_float(f), "{f}");
        }
        for s in ["1.2.3", "e3", ".", "1e", "v1.0", "1.5a"] {
            assert!(!looks_like_float(s), "{s}");
        }
    }
}
