//! Small helpers over stored objects: metadata access, timestamps, no-op comparison and
//! removal of unknown fields.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Formats a time the way Kubernetes writes timestamps (`2025-01-01T00:00:00Z`).
pub fn timestamp(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A string field of `metadata`, if present.
pub fn meta_str<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get("metadata")?.get(key)?.as_str()
}

/// `metadata` as a mutable map, created when missing (and replacing a non-object).
pub fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let Value::Object(map) = object else {
        unreachable!("object was just made a map")
    };
    let meta = map.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("metadata was just made a map"),
    }
}

/// The object as a mutable map, replacing a non-object.
pub fn obj_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    match object {
        Value::Object(m) => m,
        _ => unreachable!("object was just made a map"),
    }
}

/// The object without what changes on every write even when nothing else does:
/// `metadata.resourceVersion` and the `time` of each managedFields entry.
pub fn comparable(object: &Value) -> Value {
    let mut copy = object.clone();
    let meta = meta_mut(&mut copy);
    meta.remove("resourceVersion");
    if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
        for entry in entries {
            if let Value::Object(e) = entry {
                e.remove("time");
            }
        }
    }
    copy
}

/// Whether two objects are equal but for what changes on every write even when nothing else
/// does (see [`comparable`]), without copying either.
pub fn same_but_volatile(a: &Value, b: &Value) -> bool {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return comparable(a) == comparable(b);
    };
    let empty = Map::new();
    let (Some(meta_a), Some(meta_b)) = (meta_of(a, &empty), meta_of(b, &empty)) else {
        // `comparable` replaces a metadata that is not a map.
        return comparable(&Value::Object(a.clone())) == comparable(&Value::Object(b.clone()));
    };
    equal_except(a, b, &["metadata"], |_, _, _| false)
        && equal_except(meta_a, meta_b, &["resourceVersion"], |key, x, y| {
            key == "managedFields" && same_managed_fields(x, y)
        })
}

/// The metadata map of an object (`empty` when it has none), or `None` when it is not a map.
fn meta_of<'a>(object: &'a Map<String, Value>, empty: &'a Map<String, Value>) -> Option<&'a Map<String, Value>> {
    match object.get("metadata") {
        None => Some(empty),
        Some(Value::Object(meta)) => Some(meta),
        Some(_) => None,
    }
}

/// Whether two maps hold the same entries, ignoring the keys in `skip`; `alike(key, x, y)`
/// tells whether two values of `key` that are not `==` still count as equal.
fn equal_except(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    skip: &[&str],
    alike: impl Fn(&str, &Value, &Value) -> bool,
) -> bool {
    let counted = |m: &Map<String, Value>| m.keys().filter(|k| !skip.contains(&k.as_str())).count();
    if counted(a) != counted(b) {
        return false;
    }
    a.iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .all(|(k, x)| b.get(k).is_some_and(|y| x == y || alike(k, x, y)))
}

/// Whether two `managedFields` lists are equal but for the `time` of their entries.
fn same_managed_fields(a: &Value, b: &Value) -> bool {
    let (Value::Array(a), Value::Array(b)) = (a, b) else {
        return a == b;
    };
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Value::Object(x), Value::Object(y)) => equal_except(x, y, &["time"], |_, _, _| false),
            _ => x == y,
        })
}

/// Removes the field at a path such as `.spec.foo` or `.spec.template.spec.containers[0].bar`.
pub fn remove_field_path(object: &mut Value, path: &str) {
    let segments: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    remove_segments(object, &segments);
}

fn remove_segments(value: &mut Value, segments: &[&str]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    let (key, index) = match first.split_once('[') {
        Some((k, idx)) => (k, idx.trim_end_matches(']').parse::<usize>().ok()),
        None => (*first, None),
    };
    let Value::Object(map) = value else { return };
    if rest.is_empty() && index.is_none() {
        map.remove(key);
        return;
    }
    let Some(child) = map.get_mut(key) else { return };
    match index {
        Some(i) => {
            if let Some(item) = child.as_array_mut().and_then(|a| a.get_mut(i)) {
                remove_segments(item, rest);
            }
        }
        None => remove_segments(child, rest),
    }
}

/// The owner references of an object.
pub fn owner_uids(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comparable_ignores_resource_version_and_managed_field_times() {
        let a = json!({"metadata": {"resourceVersion": "1", "managedFields": [{"manager": "m", "time": "t1"}]}, "spec": {}});
        let b = json!({"metadata": {"resourceVersion": "2", "managedFields": [{"manager": "m", "time": "t2"}]}, "spec": {}});
        assert_eq!(comparable(&a), comparable(&b));
    }

    #[test]
    fn the_comparison_without_copies_agrees_with_comparable() {
        let base = json!({"apiVersion": "v1", "metadata": {"name": "a", "resourceVersion": "1", "managedFields": [{"manager": "m", "time": "t1", "fieldsV1": {}}]}, "data": {"k": "v"}});
        let variants = [
            json!({"apiVersion": "v1", "metadata": {"name": "a", "resourceVersion": "9", "managedFields": [{"manager": "m", "time": "t2", "fieldsV1": {}}]}, "data": {"k": "v"}}),
            json!({"metadata": {"resourceVersion": "9", "name": "a", "managedFields": [{"time": "t2", "manager": "m", "fieldsV1": {}}]}, "data": {"k": "v"}, "apiVersion": "v1"}),
            json!({"apiVersion": "v1", "metadata": {"name": "a", "managedFields": [{"manager": "m", "fieldsV1": {}}]}, "data": {"k": "v"}}),
            json!({"apiVersion": "v1", "metadata": {"name": "a", "managedFields": [{"manager": "n", "time": "t1", "fieldsV1": {}}]}, "data": {"k": "v"}}),
            json!({"apiVersion": "v1", "metadata": {"name": "a", "resourceVersion": "1"}, "data": {"k": "v"}}),
            json!({"apiVersion": "v1", "metadata": {"name": "a", "resourceVersion": "1", "managedFields": [{"manager": "m", "time": "t1", "fieldsV1": {}}]}, "data": {"k": "w"}}),
            json!({"apiVersion": "v1", "metadata": {"name": "a", "resourceVersion": "1", "managedFields": [{"manager": "m", "time": "t1", "fieldsV1": {}}], "labels": {}}, "data": {"k": "v"}}),
            json!({"apiVersion": "v1", "metadata": {"name": "a", "resourceVersion": "1", "managedFields": [{"manager": "m", "time": "t1", "fieldsV1": {}}]}, "data": {"k": "v"}, "x": 1}),
            json!({"apiVersion": "v1", "data": {"k": "v"}}),
            json!({"apiVersion": "v1", "metadata": {"resourceVersion": "3"}, "data": {"k": "v"}}),
            json!({"apiVersion": "v1", "metadata": "text", "data": {"k": "v"}}),
            json!({"apiVersion": "v1", "metadata": {"managedFields": "text"}, "data": {"k": "v"}}),
            json!("text"),
        ];
        let mut differing = 0;
        for a in std::iter::once(&base).chain(&variants) {
            for b in std::iter::once(&base).chain(&variants) {
                let expected = comparable(a) == comparable(b);
                differing += usize::from(!expected);
                assert_eq!(same_but_volatile(a, b), expected, "{a} vs {b}");
            }
        }
        assert!(differing > 50, "the cases barely differ");
    }

    #[test]
    fn field_paths_with_list_indexes_are_removed() {
        let mut obj = json!({"spec": {"foo": 1, "template": {"spec": {"containers": [{"name": "a", "bar": 2}]}}}});
        remove_field_path(&mut obj, ".spec.foo");
        remove_field_path(&mut obj, ".spec.template.spec.containers[0].bar");
        assert_eq!(
            obj,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}})
        );
    }
}
