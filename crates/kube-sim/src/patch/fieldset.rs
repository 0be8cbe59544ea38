//! Sets of field paths, as tracked by server-side apply, and their `FieldsV1` encoding.
//!
//! A path is a list of [`PathElement`]s. A [`FieldSet`] is a tree whose nodes may themselves be
//! members of the set (a leaf, or a node shown with `"."` when it also has children).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// One step of a field path. Ordered as the API server orders them: fields by name, then
/// keys, then values, with key and value JSON compared by value (numbers numerically).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathElement {
    /// A struct or map field: `f:<name>`.
    Field(String),
    /// An associative-list element, by the canonical JSON of its key fields: `k:{"name":"web"}`.
    Key(String),
    /// A set element, by its JSON value: `v:"foo"`.
    Value(String),
}

impl PathElement {
    fn encode(&self) -> String {
        match self {
            Self::Field(name) => format!("f:{name}"),
            Self::Key(json) => format!("k:{json}"),
            Self::Value(json) => format!("v:{json}"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let (prefix, rest) = text.split_at_checked(2)?;
        match prefix {
            "f:" => Some(Self::Field(rest.to_owned())),
            "k:" => {
                let value: Value = serde_json::from_str(rest).ok()?;
                value.is_object().then(|| Self::Key(value.to_string()))
            }
            "v:" => {
                let value: Value = serde_json::from_str(rest).ok()?;
                Some(Self::Value(value.to_string()))
            }
            _ => None,
        }
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Field(a), Self::Field(b)) => a.cmp(b),
            (Self::Key(a), Self::Key(b)) | (Self::Value(a), Self::Value(b)) => {
                let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
                compare_values(&parse(a), &parse(b)).then_with(|| a.cmp(b))
            }
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            Self::Field(_) => 0,
            Self::Key(_) => 1,
            Self::Value(_) => 2,
        }
    }
}

/// The total order of values used for sorting set and key elements: numbers < strings <
/// booleans < lists < maps < null; maps compare by size, then field by field.
fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let c = compare_values(p, q);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<_> = x.iter().collect();
            let mut ys: Vec<_> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            xs.len().cmp(&ys.len()).then_with(|| {
                for ((kx, vx), (ky, vy)) in xs.iter().zip(&ys) {
                    let c = kx.cmp(ky).then_with(|| compare_values(vx, vy));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                Ordering::Equal
            })
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

impl fmt::Display for PathElement {
    /// The API server's path syntax: `.spec`, `[name="web"]`, `[="foo"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(name) => write!(f, ".{name}"),
            Self::Key(json) => {
                let parsed: Map<String, Value> = serde_json::from_str(json).unwrap_or_default();
                let parts: Vec<String> = parsed.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", parts.join(","))
            }
            Self::Value(json) => write!(f, "[={json}]"),
        }
    }
}

/// A field path.
pub type Path = Vec<PathElement>;

/// Renders a path the way the API server prints it in conflict messages.
pub fn path_to_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// The error for a `fieldsV1` value that is not a valid encoding.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid fieldsV1 entry {entry:?}")]
pub struct FieldsDecodeError {
    /// The offending key.
    pub entry: String,
}

impl FieldsDecodeError {
    /// A stable label for the error.
    pub fn kind(&self) -> &'static str {
        "invalid_fields_v1"
    }
}

/// A set of field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// True if the set holds no path.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds a path.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => self.member = true,
            Some((head, rest)) => self.children.entry(head.clone()).or_default().insert(rest),
        }
    }

    fn node(&self, path: &[PathElement]) -> Option<&FieldSet> {
        match path.split_first() {
            None => Some(self),
            Some((head, rest)) => self.children.get(head)?.node(rest),
        }
    }

    /// True if the path itself is in the set.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.node(path).is_some_and(|n| n.member)
    }

    /// True if the path or any path below it is in the set.
    pub fn contains_at_or_below(&self, path: &[PathElement]) -> bool {
        self.node(path).is_some_and(|n| !n.is_empty())
    }

    /// Every path in the set, parents before children, in the API server's order.
    pub fn members(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// The paths of `self` that are not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            let rest = match other.children.get(pe) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(pe.clone(), rest);
            }
        }
        out
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                let both = child.intersection(theirs);
                if !both.is_empty() {
                    out.children.insert(pe.clone(), both);
                }
            }
        }
        out
    }

    /// The `FieldsV1` JSON encoding.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".to_owned(), Value::Object(Map::new()));
        }
        for (pe, child) in &self.children {
            if !child.is_empty() {
                map.insert(pe.encode(), child.to_fields_v1());
            }
        }
        Value::Object(map)
    }

    /// Decodes a `FieldsV1` value.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, FieldsDecodeError> {
        let mut root = Self::decode_node(value)?;
        root.member = false;
        Ok(root)
    }

    fn decode_node(value: &Value) -> Result<FieldSet, FieldsDecodeError> {
        let Some(map) = value.as_object() else {
            return Err(FieldsDecodeError {
                entry: value.to_string(),
            });
        };
        let mut node = FieldSet {
            member: map.is_empty(),
            children: BTreeMap::new(),
        };
        for (key, child) in map {
            if key == "." {
                node.member = true;
                continue;
            }
            let pe = PathElement::decode(key).ok_or_else(|| FieldsDecodeError { entry: key.clone() })?;
            node.children.insert(pe, Self::decode_node(child)?);
        }
        Ok(node)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.to_owned())
    }

    #[test]
    fn fields_v1_round_trips_the_specification_example() {
        let encoded = json!({"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{}}}}}}});
        let set = FieldSet::from_fields_v1(&encoded).unwrap();
        assert!(set.contains(&[f("spec"), f("replicas")]));
        assert!(set.contains(&[f("spec"), f("template"), f("metadata"), f("labels")]));
        assert!(!set.contains(&[f("spec"), f("template")]));
        assert_eq!(set.to_fields_v1(), encoded);
        assert_eq!(set.to_fields_v1().to_string(), encoded.to_string());
    }

    #[test]
    fn paths_print_like_the_api_server() {
        let path = vec![
            f("spec"),
            f("containers"),
            PathElement::Key(r#"{"containerPort":80,"protocol":"TCP"}"#.to_owned()),
            f("name"),
        ];
        assert_eq!(
            path_to_string(&path),
            r#".spec.containers[containerPort=80,protocol="TCP"].name"#
        );
        assert_eq!(
            path_to_string(&[f("metadata"), f("finalizers"), PathElement::Value("\"a\"".into())]),
            r#".metadata.finalizers[="a"]"#
        );
    }

    #[test]
    fn set_algebra_keeps_only_the_expected_members() {
        let mut a = FieldSet::new();
        a.insert(&[f("spec"), f("replicas")]);
        a.insert(&[f("spec"), f("paused")]);
        let mut b = FieldSet::new();
        b.insert(&[f("spec"), f("replicas")]);
        assert_eq!(a.difference(&b).members(), vec![vec![f("spec"), f("paused")]]);
        assert_eq!(a.intersection(&b).members(), vec![vec![f("spec"), f("replicas")]]);
        assert_eq!(b.union(&a), a);
        assert!(a.contains_at_or_below(&[f("spec")]));
        assert!(b.difference(&a).is_empty());
    }

    #[test]
    fn keys_sort_numerically_after_fields() {
        let mut set = FieldSet::new();
        for port in [8080, 100, 80] {
            set.insert(&[PathElement::Key(format!(
                r#"{{"containerPort":{port},"protocol":"TCP"}}"#
            ))]);
        }
        set.insert(&[f("zeta")]);
        let keys: Vec<String> = set.to_fields_v1().as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "f:zeta",
                r#"k:{"containerPort":80,"protocol":"TCP"}"#,
                r#"k:{"containerPort":100,"protocol":"TCP"}"#,
                r#"k:{"containerPort":8080,"protocol":"TCP"}"#
            ]
        );
    }

    #[test]
    fn malformed_fields_v1_is_rejected() {
        assert!(FieldSet::from_fields_v1(&json!({"x:spec":{}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:spec":1})).is_err());
    }
}
