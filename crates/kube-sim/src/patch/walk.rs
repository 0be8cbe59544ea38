//! Walks over objects that know their shape: the field set of an applied configuration, the
//! comparison of two versions of an object, and navigation by field path.

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, Path, PathElement};
use super::shape::{ListShape, ObjectShape, element_key, is_embedded_struct, list_shape, object_shape};

/// Metadata fields the API server maintains itself; they are never owned by a manager.
const SYSTEM_METADATA: [&str; 11] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generateName",
];

/// A copy of `obj` without the fields no manager ever owns (`apiVersion`, `kind`, system
/// metadata). Only the fields kept are copied: `managedFields` is often the largest part.
pub(crate) fn strip_untracked(obj: &Value) -> Value {
    let Some(map) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        match (key.as_str(), value.as_object()) {
            ("apiVersion" | "kind", _) => {}
            ("metadata", Some(meta)) => {
                let kept: Map<String, Value> = meta
                    .iter()
                    .filter(|(field, _)| !SYSTEM_METADATA.contains(&field.as_str()))
                    .map(|(field, v)| (field.clone(), v.clone()))
                    .collect();
                if !kept.is_empty() {
                    out.insert(key.clone(), Value::Object(kept));
                }
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(out)
}

/// Everything `kind` knows to walk an object.
pub(crate) struct Walker<'a> {
    /// The object's kind, which decides a few shapes (`Service` selectors and ports).
    pub kind: &'a str,
}

/// Which paths changed between two versions of an object.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    /// Paths present only in the new version.
    pub added: FieldSet,
    /// Leaf paths whose value changed.
    pub modified: FieldSet,
    /// Paths present only in the old version.
    pub removed: FieldSet,
}

impl Walker<'_> {
    /// The field set of an applied configuration: leaves, granular map nodes and list elements.
    pub fn field_set(&self, config: &Value) -> FieldSet {
        let mut set = FieldSet::new();
        if let Some(map) = config.as_object() {
            let mut fields = Vec::new();
            self.object_fields(map, &mut fields, &mut Vec::new(), &mut set);
        }
        set
    }

    fn object_fields(&self, map: &Map<String, Value>, fields: &mut Vec<String>, path: &mut Path, set: &mut FieldSet) {
        for (k, v) in map {
            fields.push(k.clone());
            path.push(PathElement::Field(k.clone()));
            self.value_fields(v, fields, path, set);
            path.pop();
            fields.pop();
        }
    }

    fn value_fields(&self, value: &Value, fields: &mut Vec<String>, path: &mut Path, set: &mut FieldSet) {
        match value {
            Value::Object(map) => match object_shape(self.kind, fields) {
                _ if map.is_empty() => set.insert(path),
                ObjectShape::Atomic => set.insert(path),
                ObjectShape::Map => {
                    set.insert(path);
                    self.object_fields(map, fields, path, set);
                }
                ObjectShape::Struct => self.object_fields(map, fields, path, set),
            },
            Value::Array(items) => match list_shape(self.kind, fields) {
                _ if items.is_empty() => set.insert(path),
                ListShape::Atomic => set.insert(path),
                ListShape::Set => {
                    for item in items {
                        path.push(PathElement::Value(item.to_string()));
                        set.insert(path);
                        path.pop();
                    }
                }
                ListShape::Keyed(keys) => {
                    for item in items {
                        let Some(key) = element_key(item, keys) else { continue };
                        path.push(PathElement::Key(key));
                        set.insert(path);
                        if let Some(map) = item.as_object() {
                            self.object_fields(map, fields, path, set);
                        }
                        path.pop();
                    }
                }
            },
            _ => set.insert(path),
        }
    }

    /// Every path of a value that appears, as the API server's comparison records it.
    fn insert_all(&self, value: &Value, fields: &mut Vec<String>, path: &mut Path, set: &mut FieldSet) {
        let atomic_object = value.is_object() && object_shape(self.kind, fields) == ObjectShape::Atomic;
        if !((value.is_object() || value.is_array()) && is_embedded_struct(fields)) {
            set.insert(path);
        }
        if atomic_object {
            return;
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    fields.push(k.clone());
                    path.push(PathElement::Field(k.clone()));
                    self.insert_all(v, fields, path, set);
                    path.pop();
                    fields.pop();
                }
            }
            Value::Array(items) => match list_shape(self.kind, fields) {
                ListShape::Atomic => {}
                ListShape::Set => {
                    for item in items {
                        path.push(PathElement::Value(item.to_string()));
                        set.insert(path);
                        path.pop();
                    }
                }
                ListShape::Keyed(keys) => {
                    for item in items {
                        let Some(key) = element_key(item, keys) else { continue };
                        path.push(PathElement::Key(key));
                        set.insert(path);
                        if let Some(map) = item.as_object() {
                            for (k, v) in map {
                                fields.push(k.clone());
                                path.push(PathElement::Field(k.clone()));
                                self.insert_all(v, fields, path, set);
                                path.pop();
                                fields.pop();
                            }
                        }
                        path.pop();
                    }
                }
            },
            _ => {}
        }
    }

    /// Compares two versions of an object (both already stripped of untracked fields).
    pub fn compare(&self, old: &Value, new: &Value) -> Comparison {
        let mut cmp = Comparison::default();
        self.compare_at(old, new, &mut Vec::new(), &mut Vec::new(), &mut cmp);
        cmp
    }

    fn compare_at(&self, old: &Value, new: &Value, fields: &mut Vec<String>, path: &mut Path, cmp: &mut Comparison) {
        match (old, new) {
            (Value::Object(a), Value::Object(b))
                if !(a.is_empty() && b.is_empty())
                    && (path.is_empty() || object_shape(self.kind, fields) != ObjectShape::Atomic) =>
            {
                for (k, va) in a {
                    fields.push(k.clone());
                    path.push(PathElement::Field(k.clone()));
                    match b.get(k) {
                        Some(vb) => self.compare_at(va, vb, fields, path, cmp),
                        None => self.insert_all(va, fields, path, &mut cmp.removed),
                    }
                    path.pop();
                    fields.pop();
                }
                for (k, vb) in b {
                    if !a.contains_key(k) {
                        fields.push(k.clone());
                        path.push(PathElement::Field(k.clone()));
                        self.insert_all(vb, fields, path, &mut cmp.added);
                        path.pop();
                        fields.pop();
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) if !(a.is_empty() && b.is_empty()) => {
                match list_shape(self.kind, fields) {
                    ListShape::Atomic => {
                        if a != b {
                            cmp.modified.insert(path);
                        }
                    }
                    ListShape::Set => {
                        for item in a.iter().filter(|i| !b.contains(i)) {
                            path.push(PathElement::Value(item.to_string()));
                            cmp.removed.insert(path);
                            path.pop();
                        }
                        for item in b.iter().filter(|i| !a.contains(i)) {
                            path.push(PathElement::Value(item.to_string()));
                            cmp.added.insert(path);
                            path.pop();
                        }
                    }
                    ListShape::Keyed(keys) => {
                        let keyed = |items: &[Value]| -> Vec<(String, Value)> {
                            items
                                .iter()
                                .filter_map(|i| element_key(i, keys).map(|k| (k, i.clone())))
                                .collect()
                        };
                        let (ka, kb) = (keyed(a), keyed(b));
                        for (key, va) in &ka {
                            path.push(PathElement::Key(key.clone()));
                            match kb.iter().find(|(k, _)| k == key) {
                                Some((_, vb)) => self.compare_element(va, vb, fields, path, cmp),
                                None => self.insert_element(va, fields, path, &mut cmp.removed),
                            }
                            path.pop();
                        }
                        for (key, vb) in &kb {
                            if !ka.iter().any(|(k, _)| k == key) {
                                path.push(PathElement::Key(key.clone()));
                                self.insert_element(vb, fields, path, &mut cmp.added);
                                path.pop();
                            }
                        }
                    }
                }
            }
            _ => {
                if old != new {
                    cmp.modified.insert(path);
                }
            }
        }
    }

    fn compare_element(&self, a: &Value, b: &Value, fields: &mut Vec<String>, path: &mut Path, cmp: &mut Comparison) {
        // An element is always a struct, whatever the name of its list.
        let (Some(ma), Some(mb)) = (a.as_object(), b.as_object()) else {
            if a != b {
                cmp.modified.insert(path);
            }
            return;
        };
        for (k, va) in ma {
            fields.push(k.clone());
            path.push(PathElement::Field(k.clone()));
            match mb.get(k) {
                Some(vb) => self.compare_at(va, vb, fields, path, cmp),
                None => self.insert_all(va, fields, path, &mut cmp.removed),
            }
            path.pop();
            fields.pop();
        }
        for (k, vb) in mb {
            if !ma.contains_key(k) {
                fields.push(k.clone());
                path.push(PathElement::Field(k.clone()));
                self.insert_all(vb, fields, path, &mut cmp.added);
                path.pop();
                fields.pop();
            }
        }
    }

    fn insert_element(&self, element: &Value, fields: &mut Vec<String>, path: &mut Path, set: &mut FieldSet) {
        set.insert(path);
        if let Some(map) = element.as_object() {
            for (k, v) in map {
                fields.push(k.clone());
                path.push(PathElement::Field(k.clone()));
                self.insert_all(v, fields, path, set);
                path.pop();
                fields.pop();
            }
        }
    }

    /// Merges an applied configuration into the live object: maps and structs merge, keyed
    /// lists merge per element, sets unite, everything else is replaced.
    pub fn merge(&self, live: &Value, applied: &Value) -> Value {
        self.merge_at(live, applied, &mut Vec::new(), true)
    }

    fn merge_at(&self, live: &Value, applied: &Value, fields: &mut Vec<String>, is_struct: bool) -> Value {
        match (live, applied) {
            (Value::Object(l), Value::Object(a))
                if is_struct || object_shape(self.kind, fields) != ObjectShape::Atomic =>
            {
                let mut out = l.clone();
                for (k, va) in a {
                    if va.is_null() {
                        out.remove(k);
                        continue;
                    }
                    fields.push(k.clone());
                    let merged = match l.get(k) {
                        Some(vl) => self.merge_at(vl, va, fields, false),
                        None => va.clone(),
                    };
                    fields.pop();
                    out.insert(k.clone(), merged);
                }
                Value::Object(out)
            }
            (Value::Array(l), Value::Array(a)) => match list_shape(self.kind, fields) {
                ListShape::Atomic => applied.clone(),
                ListShape::Set => {
                    let mut out = l.clone();
                    out.extend(a.iter().filter(|i| !l.contains(i)).cloned());
                    Value::Array(out)
                }
                ListShape::Keyed(keys) => Value::Array(self.merge_keyed(l, a, keys, fields)),
            },
            _ => applied.clone(),
        }
    }

    /// Merges two associative lists in the API server's order: items only in the live list
    /// keep their place, applied items come in the applied order, shared items are merged.
    fn merge_keyed(&self, live: &[Value], applied: &[Value], keys: &[&str], fields: &mut Vec<String>) -> Vec<Value> {
        let lk: Vec<Option<String>> = live.iter().map(|i| element_key(i, keys)).collect();
        let rk: Vec<Option<String>> = applied.iter().map(|i| element_key(i, keys)).collect();
        let in_rhs = |k: &Option<String>| k.is_some() && rk.contains(k);
        let mut shared = rk
            .iter()
            .flatten()
            .filter(|k| lk.iter().flatten().any(|l| l == *k))
            .cloned()
            .collect::<Vec<String>>()
            .into_iter();
        let mut next_shared = shared.next();
        let mut merged_rhs: Vec<String> = Vec::new();
        let mut out = Vec::with_capacity(live.len() + applied.len());
        let (mut li, mut ri) = (0, 0);
        while li < live.len() || ri < applied.len() {
            if li < live.len() && ri < applied.len() {
                if lk[li].is_some() && lk[li] == rk[ri] {
                    out.push(self.merge_at(&live[li], &applied[ri], fields, true));
                    merged_rhs.extend(rk[ri].clone());
                    if next_shared == rk[ri] {
                        next_shared = shared.next();
                    }
                    li += 1;
                    ri += 1;
                    continue;
                }
                if in_rhs(&lk[li]) && next_shared.is_some() && next_shared != lk[li] {
                    li += 1;
                    continue;
                }
            }
            if li < live.len() {
                if !in_rhs(&lk[li]) {
                    out.push(live[li].clone());
                    li += 1;
                    continue;
                }
                if lk[li].as_ref().is_some_and(|k| merged_rhs.contains(k)) || ri >= applied.len() {
                    li += 1;
                    continue;
                }
            }
            if ri < applied.len() {
                let live_item = rk[ri]
                    .as_ref()
                    .and_then(|k| lk.iter().position(|l| l.as_ref() == Some(k)));
                out.push(match live_item {
                    Some(i) => self.merge_at(&live[i], &applied[ri], fields, true),
                    None => applied[ri].clone(),
                });
                merged_rhs.extend(rk[ri].clone());
                if next_shared == rk[ri] {
                    next_shared = shared.next();
                }
                ri += 1;
            }
        }
        out
    }
}

/// The value at `path`, if any.
pub(crate) fn get_at<'v>(value: &'v Value, path: &[PathElement]) -> Option<&'v Value> {
    let Some((head, rest)) = path.split_first() else {
        return Some(value);
    };
    let child = match head {
        PathElement::Field(name) => value.as_object()?.get(name)?,
        PathElement::Key(key) => {
            let items = value.as_array()?;
            let wanted: Map<String, Value> = serde_json::from_str(key).ok()?;
            let keys: Vec<&str> = wanted.keys().map(String::as_str).collect();
            items
                .iter()
                .find(|i| element_key(i, &keys).as_deref() == Some(key.as_str()))?
        }
        PathElement::Value(json) => value.as_array()?.iter().find(|i| i.to_string() == *json)?,
    };
    get_at(child, rest)
}

/// Removes the value at `path`. Returns true if something was removed.
pub(crate) fn remove_at(value: &mut Value, path: &[PathElement]) -> bool {
    let Some((last, parent_path)) = path.split_last() else {
        return false;
    };
    let Some(parent) = get_mut_at(value, parent_path) else {
        return false;
    };
    match (last, parent) {
        (PathElement::Field(name), Value::Object(map)) => map.remove(name).is_some(),
        (PathElement::Key(key), Value::Array(items)) => {
            let Ok(wanted) = serde_json::from_str::<Map<String, Value>>(key) else {
                return false;
            };
            let keys: Vec<&str> = wanted.keys().map(String::as_str).collect();
            let before = items.len();
            items.retain(|i| element_key(i, &keys).as_deref() != Some(key.as_str()));
            items.len() != before
        }
        (PathElement::Value(json), Value::Array(items)) => {
            let before = items.len();
            items.retain(|i| i.to_string().as_str() != json.as_str());
            items.len() != before
        }
        _ => false,
    }
}

fn get_mut_at<'v>(value: &'v mut Value, path: &[PathElement]) -> Option<&'v mut Value> {
    let Some((head, rest)) = path.split_first() else {
        return Some(value);
    };
    let child = match head {
        PathElement::Field(name) => value.as_object_mut()?.get_mut(name)?,
        PathElement::Key(key) => {
            let wanted: Map<String, Value> = serde_json::from_str(key).ok()?;
            let keys: Vec<&str> = wanted.keys().map(String::as_str).collect();
            value
                .as_array_mut()?
                .iter_mut()
                .find(|i| element_key(i, &keys).as_deref() == Some(key.as_str()))?
        }
        PathElement::Value(json) => value.as_array_mut()?.iter_mut().find(|i| i.to_string() == *json)?,
    };
    get_mut_at(child, rest)
}

/// Removes empty objects and lists left behind at `path` and above, unless someone owns them.
pub(crate) fn prune_empty_ancestors(value: &mut Value, path: &[PathElement], owned: &FieldSet) {
    let mut current = path.to_vec();
    while current.len() > 1 {
        current.pop();
        let empty = match get_at(value, &current) {
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if !empty || owned.contains(&current) {
            return;
        }
        remove_at(value, &current);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stripping_keeps_only_what_managers_own() {
        let object = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "uid": "u-1",
                "resourceVersion": "7",
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                "labels": {"app": "web"}
            },
            "spec": {"replicas": 2}
        });
        assert_eq!(
            strip_untracked(&object),
            json!({"metadata": {"labels": {"app": "web"}}, "spec": {"replicas": 2}})
        );
    }

    #[test]
    fn metadata_of_system_fields_only_is_dropped_and_other_shapes_are_kept() {
        let object = json!({"kind": "Pod", "metadata": {"name": "p", "generation": 3}, "status": {"phase": "Running"}});
        assert_eq!(strip_untracked(&object), json!({"status": {"phase": "Running"}}));
        let odd = json!({"metadata": null, "spec": []});
        assert_eq!(strip_untracked(&odd), odd);
        assert_eq!(strip_untracked(&json!([1, 2])), json!([1, 2]));
    }
}
