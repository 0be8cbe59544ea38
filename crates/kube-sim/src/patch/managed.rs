//! `metadata.managedFields`: parsing and writing the entries, and the bookkeeping of non-apply
//! writes (create, update, non-apply patches, controller status writes).

use serde_json::{Map, Value, json};

use super::fieldset::FieldSet;
use super::walk::{Walker, strip_untracked};

/// The operation of a managed-fields entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write.
    Update,
}

impl Operation {
    /// The wire name (`Apply` or `Update`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "Apply",
            Self::Update => "Update",
        }
    }
}

/// One managed-fields entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: Option<String>,
    pub fields: FieldSet,
    pub subresource: Option<String>,
}

impl Entry {
    /// True if this entry belongs to the given manager, operation and subresource.
    pub fn is(&self, manager: &str, operation: Operation, subresource: Option<&str>) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.as_deref() == subresource
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("manager".into(), json!(self.manager));
        map.insert("operation".into(), json!(self.operation.as_str()));
        map.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            map.insert("time".into(), json!(t));
        }
        map.insert("fieldsType".into(), json!("FieldsV1"));
        map.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(s) = &self.subresource {
            map.insert("subresource".into(), json!(s));
        }
        Value::Object(map)
    }

    fn from_json(value: &Value) -> Option<Entry> {
        let obj = value.as_object()?;
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        let operation = match obj.get("operation").and_then(Value::as_str)? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return None,
        };
        let fields = match obj.get("fieldsV1") {
            Some(v) => FieldSet::from_fields_v1(v).ok()?,
            None => FieldSet::new(),
        };
        Some(Entry {
            manager: text("manager").unwrap_or_default(),
            operation,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            fields,
            subresource: text("subresource").filter(|s| !s.is_empty()),
        })
    }
}

/// The entries stored in `obj`, skipping any that cannot be decoded.
pub(crate) fn read_entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Entry::from_json).collect())
        .unwrap_or_default()
}

/// Writes the entries into `obj` in the API server's order (Apply before Update, then by time,
/// manager, apiVersion and subresource), dropping empty ones; no entry → no `managedFields`.
pub(crate) fn write_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| p.time.cmp(&q.time))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
    let Some(root) = obj.as_object_mut() else { return };
    let meta = root.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else { return };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert(
            "managedFields".into(),
            Value::Array(entries.iter().map(Entry::to_json).collect()),
        );
    }
}

/// The `apiVersion` recorded in entries for `obj`.
pub(crate) fn api_version_of(obj: &Value) -> String {
    obj.get("apiVersion").and_then(Value::as_str).unwrap_or("v1").to_owned()
}

/// A copy of `obj` without `metadata.managedFields`.
pub(crate) fn without_managed_fields(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    out
}

/// Managed-fields bookkeeping for a write that is not an apply: PUT, a merge, strategic-merge
/// or JSON patch, a create, or a controller's write (`subresource` is `Some("status")` for
/// status writes).
///
/// The fields that the write added or changed move to the entry `(manager, Update,
/// subresource)`, whose `time` becomes `now`; other managers lose them, and every manager loses
/// the fields the write removed. If the write changed nothing, the entries are left as they
/// were. `new.metadata.managedFields`, when the client sent a non-empty list, replaces the
/// stored entries (`[{}]` clears them), as the API server allows.
pub fn record_update(old: Option<&Value>, new: &mut Value, manager: &str, subresource: Option<&str>, now: &str) {
    let sent = new.pointer("/metadata/managedFields").and_then(Value::as_array);
    let mut entries = match (sent, old) {
        (Some(items), _) if items.iter().all(|i| i.as_object().is_some_and(Map::is_empty)) && !items.is_empty() => {
            Vec::new()
        }
        (Some(items), _) if !items.is_empty() => read_entries(new),
        (_, Some(old)) => read_entries(old),
        (_, None) => Vec::new(),
    };
    let kind = new.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
    let walker = Walker { kind: &kind };
    // `strip_untracked` drops `managedFields` with the other system metadata.
    let before = old.map(strip_untracked).unwrap_or_else(|| json!({}));
    let after = strip_untracked(new);
    let cmp = walker.compare(&before, &after);
    let changed = cmp.added.union(&cmp.modified);
    for entry in &mut entries {
        entry.fields = entry.fields.difference(&cmp.removed);
        if !entry.is(manager, Operation::Update, subresource) {
            entry.fields = entry.fields.difference(&changed);
        }
    }
    if !changed.is_empty() {
        let api_version = api_version_of(new);
        match entries
            .iter_mut()
            .find(|e| e.is(manager, Operation::Update, subresource))
        {
            Some(entry) => {
                entry.fields = entry.fields.union(&changed);
                entry.time = Some(now.to_owned());
                entry.api_version = api_version;
            }
            None => entries.push(Entry {
                manager: manager.to_owned(),
                operation: Operation::Update,
                api_version,
                time: Some(now.to_owned()),
                fields: changed,
                subresource: subresource.map(str::to_owned),
            }),
        }
    }
    write_entries(new, entries);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const T0: &str = "2025-01-01T00:00:00Z";
    const T1: &str = "2025-01-01T00:01:00Z";

    fn deployment(replicas: i64) -> Value {
        json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
               "spec":{"replicas":replicas,"selector":{"matchLabels":{"app":"web"}},
                       "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.25"}]}}}})
    }

    #[test]
    fn create_records_every_field_under_the_update_entry_of_the_manager() {
        let mut obj = deployment(2);
        record_update(None, &mut obj, "kubectl-create", None, T0);
        let entries = obj["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["manager"], "kubectl-create");
        assert_eq!(entries[0]["operation"], "Update");
        assert_eq!(entries[0]["apiVersion"], "apps/v1");
        assert_eq!(entries[0]["time"], T0);
        assert_eq!(
            entries[0]["fieldsV1"],
            json!({"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{}}}}}}})
        );
    }

    #[test]
    fn an_update_that_changes_nothing_keeps_the_entries_byte_identical() {
        let mut old = deployment(2);
        record_update(None, &mut old, "kubectl-create", None, T0);
        let mut new = old.clone();
        new["metadata"].as_object_mut().unwrap().remove("managedFields");
        record_update(Some(&old), &mut new, "other", None, T1);
        assert_eq!(new.to_string(), old.to_string());
    }

    #[test]
    fn an_update_takes_the_changed_field_from_other_managers() {
        let mut old = deployment(2);
        record_update(None, &mut old, "kubectl-create", None, T0);
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(3);
        record_update(Some(&old), &mut new, "kubectl-scale", Some("scale"), T1);
        let entries = read_entries(&new);
        assert_eq!(entries.len(), 2);
        let scale = entries.iter().find(|e| e.manager == "kubectl-scale").unwrap();
        assert_eq!(scale.subresource.as_deref(), Some("scale"));
        assert_eq!(scale.fields.to_fields_v1(), json!({"f:spec":{"f:replicas":{}}}));
        let create = entries.iter().find(|e| e.manager == "kubectl-create").unwrap();
        assert!(create.fields.to_fields_v1()["f:spec"].get("f:replicas").is_none());
    }

    #[test]
    fn a_controller_status_write_is_recorded_with_the_status_subresource() {
        let old = deployment(2);
        let mut new = old.clone();
        new["status"] = json!({"observedGeneration":1,"replicas":2});
        new["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision":"1"});
        record_update(Some(&old), &mut new, "kube-controller-manager", Some("status"), T1);
        let entries = new["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries[0]["subresource"], "status");
        assert_eq!(
            entries[0]["fieldsV1"],
            json!({"f:metadata":{"f:annotations":{".":{},"f:deployment.kubernetes.io/revision":{}}},"f:status":{"f:observedGeneration":{},"f:replicas":{}}})
        );
    }

    #[test]
    fn a_client_sending_an_empty_entry_clears_the_managed_fields() {
        let mut old = deployment(2);
        record_update(None, &mut old, "kubectl-create", None, T0);
        let mut new = old.clone();
        new["metadata"]["managedFields"] = json!([{}]);
        record_update(Some(&old), &mut new, "kubectl", None, T1);
        assert!(new["metadata"].get("managedFields").is_none());
    }
}
