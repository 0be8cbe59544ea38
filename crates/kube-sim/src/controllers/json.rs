//! Small helpers to read and write objects in their stored JSON form, and to format times
//! the way the API server does (RFC 3339, UTC, whole seconds).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// The value at `path` (object keys only).
pub(crate) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| cur.get(*key))
}

/// The string at `path`.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

/// The integer at `path`.
pub(crate) fn i64_at(v: &Value, path: &[&str]) -> Option<i64> {
    get(v, path).and_then(Value::as_i64)
}

/// The boolean at `path`, `false` when absent.
pub(crate) fn bool_at(v: &Value, path: &[&str]) -> bool {
    get(v, path).and_then(Value::as_bool).unwrap_or(false)
}

/// The object at `path`, creating empty objects along the way (replacing non-objects).
pub(crate) fn object_mut<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for key in path {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        cur = cur
            .as_object_mut()?
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    cur.as_object_mut()
}

/// Sets `path` to `value`, creating parent objects as needed.
pub(crate) fn set(v: &mut Value, path: &[&str], value: Value) {
    if let Some((last, parents)) = path.split_last()
        && let Some(map) = object_mut(v, parents)
    {
        map.insert((*last).to_owned(), value);
    }
}

/// Removes the key at `path`, if present.
pub(crate) fn remove(v: &mut Value, path: &[&str]) {
    if let Some((last, parents)) = path.split_last()
        && let Some(Value::Object(map)) = parents.iter().try_fold(&mut *v, |cur, key| cur.get_mut(*key))
    {
        map.shift_remove(*last);
    }
}

/// `metadata.namespace` (empty for cluster-scoped objects).
pub(crate) fn namespace(v: &Value) -> &str {
    str_at(v, &["metadata", "namespace"]).unwrap_or("")
}

/// `metadata.name`.
pub(crate) fn name(v: &Value) -> &str {
    str_at(v, &["metadata", "name"]).unwrap_or("")
}

/// `metadata.uid`.
pub(crate) fn uid(v: &Value) -> &str {
    str_at(v, &["metadata", "uid"]).unwrap_or("")
}

/// Whether `metadata.deletionTimestamp` is set.
pub(crate) fn is_deleting(v: &Value) -> bool {
    get(v, &["metadata", "deletionTimestamp"]).is_some_and(|t| !t.is_null())
}

/// `metadata.creationTimestamp`, parsed.
pub(crate) fn created(v: &Value) -> Option<DateTime<Utc>> {
    str_at(v, &["metadata", "creationTimestamp"]).and_then(parse_time)
}

/// The uid of the controller owner (`ownerReferences[controller=true]`).
pub(crate) fn controller_uid(v: &Value) -> Option<&str> {
    owner_refs(v)
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .and_then(|r| r.get("uid").and_then(Value::as_str))
}

/// The owner references of an object.
pub(crate) fn owner_refs(v: &Value) -> impl Iterator<Item = &Value> {
    get(v, &["metadata", "ownerReferences"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// A string map such as `metadata.labels` (non-string values are skipped).
pub(crate) fn string_map(v: Option<&Value>) -> Vec<(&str, &str)> {
    v.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.as_str(), s)))
        .collect()
}

/// Formats a time as the API server does: `2025-01-01T00:00:00Z`.
pub(crate) fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses an RFC 3339 time.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Adds a std duration to a time, saturating.
pub(crate) fn add(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A copy of `v` without nulls, empty strings, empty objects and empty lists (recursively);
/// `None` when nothing is left. This is the "semantic" view of Go's omitempty encoding.
pub(crate) fn pruned(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Object(map) => {
            let out: Map<String, Value> = map
                .iter()
                .filter_map(|(k, v)| pruned(v).map(|v| (k.clone(), v)))
                .collect();
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) => {
            // Elements keep their positions: an empty element stays as an empty object.
            if items.is_empty() {
                return None;
            }
            Some(Value::Array(
                items
                    .iter()
                    .map(|i| pruned(i).unwrap_or_else(|| Value::Object(Map::new())))
                    .collect(),
            ))
        }
        other => Some(other.clone()),
    }
}

/// A copy of `v` whose object keys are sorted at every level (a canonical encoding).
pub(crate) fn sorted_keys(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .filter_map(|k| map.get(k).map(|v| (k.clone(), sorted_keys(v))))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

/// Whether `labels` satisfy a `LabelSelector` (`matchLabels` and `matchExpressions`). An
/// empty or missing selector matches nothing, as for controllers.
pub(crate) fn selector_matches(selector: Option<&Value>, labels: Option<&Value>) -> bool {
    let Some(selector) = selector.filter(|s| s.as_object().is_some_and(|m| !m.is_empty())) else {
        return false;
    };
    let labels = string_map(labels);
    let label = |k: &str| labels.iter().find(|(lk, _)| *lk == k).map(|(_, v)| *v);
    let match_labels = string_map(selector.get("matchLabels"));
    if !match_labels.iter().all(|(k, v)| label(k) == Some(v)) {
        return false;
    }
    let expressions = selector.get("matchExpressions").and_then(Value::as_array);
    expressions.into_iter().flatten().all(|e| {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match e.get("operator").and_then(Value::as_str) {
            Some("In") => label(key).is_some_and(|v| values.contains(&v)),
            Some("NotIn") => label(key).is_none_or(|v| !values.contains(&v)),
            Some("Exists") => label(key).is_some(),
            Some("DoesNotExist") => label(key).is_none(),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pruning_drops_nulls_and_empty_values_but_keeps_zero_and_false() {
        let v =
            json!({"a": null, "b": {}, "c": [], "d": "", "e": 0, "f": false, "g": {"h": {"i": null}}, "j": [{}, 1]});
        assert_eq!(pruned(&v), Some(json!({"e": 0, "f": false, "j": [{}, 1]})));
    }

    #[test]
    fn set_and_remove_work_on_nested_paths() {
        let mut v = json!({});
        set(&mut v, &["a", "b", "c"], json!(1));
        assert_eq!(v, json!({"a": {"b": {"c": 1}}}));
        remove(&mut v, &["a", "b", "c"]);
        assert_eq!(v, json!({"a": {"b": {}}}));
        remove(&mut v, &["x", "y"]);
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels = json!({"app": "web", "tier": "front"});
        assert!(selector_matches(
            Some(&json!({"matchLabels": {"app": "web"}})),
            Some(&labels)
        ));
        assert!(!selector_matches(
            Some(&json!({"matchLabels": {"app": "db"}})),
            Some(&labels)
        ));
        assert!(!selector_matches(Some(&json!({})), Some(&labels)));
        let expr = json!({"matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "back"]},
            {"key": "canary", "operator": "DoesNotExist"}
        ]});
        assert!(selector_matches(Some(&expr), Some(&labels)));
        let expr = json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]});
        assert!(!selector_matches(Some(&expr), Some(&labels)));
    }

    #[test]
    fn times_are_formatted_with_whole_seconds() {
        let t = parse_time("2025-01-01T00:00:01.750Z").unwrap_or_default();
        assert_eq!(format_time(t), "2025-01-01T00:00:01Z");
    }
}
