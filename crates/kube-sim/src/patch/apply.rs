//! Server-side apply (spec §4.3): ownership of fields per manager, conflicts, forced
//! takeover, and removal of fields a manager stopped applying.

use std::fmt;

use serde_json::{Value, json};

use super::fieldset::{FieldSet, Path, path_to_string};
use super::managed::{Entry, Operation, api_version_of, read_entries, without_managed_fields, write_entries};
use super::walk::{Walker, get_at, prune_empty_ancestors, remove_at, strip_untracked};

/// Metadata the API server maintains; an applied configuration cannot change it.
const SERVER_METADATA: [&str; 7] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// One field that another manager owns and the apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The owning manager's name.
    pub manager: String,
    /// The owning entry's operation.
    pub operation: Operation,
    /// The owning entry's `apiVersion`.
    pub api_version: String,
    /// The owning entry's `time`.
    pub time: Option<String>,
    /// The owning entry's subresource.
    pub subresource: Option<String>,
    /// The field, in the API server's path syntax (`.spec.replicas`).
    pub field: String,
}

impl Conflict {
    /// The owner as the API server prints it: `"kubectl"`, `"mgr" using apps/v1 at <time>`,
    /// `"kube-controller-manager" with subresource "status" using apps/v1 at <time>`.
    pub fn owner(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
            if let Some(t) = &self.time {
                out.push_str(&format!(" at {t}"));
            }
        }
        out
    }
}

/// The conflicts that make an apply fail with 409.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyConflicts {
    /// The conflicts, sorted by owner then field.
    pub conflicts: Vec<Conflict>,
}

impl ApplyConflicts {
    /// The Status message, exactly as the API server words it.
    pub fn message(&self) -> String {
        if let [only] = self.conflicts.as_slice() {
            return format!(
                "Apply failed with 1 conflict: conflict with {}: {}",
                only.owner(),
                only.field
            );
        }
        let mut owners: Vec<String> = self.conflicts.iter().map(Conflict::owner).collect();
        owners.sort();
        owners.dedup();
        let mut lines = Vec::new();
        for owner in owners {
            lines.push(format!("conflicts with {owner}:"));
            for c in self.conflicts.iter().filter(|c| c.owner() == owner) {
                lines.push(format!("- {}", c.field));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            self.conflicts.len(),
            lines.join("\n")
        )
    }

    /// The Status `details.causes`, one `FieldManagerConflict` per conflict.
    pub fn causes(&self) -> Vec<Value> {
        self.conflicts
            .iter()
            .map(|c| json!({"reason":"FieldManagerConflict","message":format!("conflict with {}", c.owner()),"field":c.field}))
            .collect()
    }
}

impl fmt::Display for ApplyConflicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// Why an apply was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApplyError {
    /// Other managers own fields the apply would change (409 Conflict).
    #[error("{0}")]
    Conflicts(ApplyConflicts),
    /// The applied configuration is not usable (400 BadRequest).
    #[error("{0}")]
    Invalid(String),
}

impl ApplyError {
    /// A stable label for the variant.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Conflicts(_) => "apply_conflicts",
            Self::Invalid(_) => "apply_invalid",
        }
    }

    /// The HTTP status code the API server answers with.
    pub fn code(&self) -> u16 {
        match self {
            Self::Conflicts(_) => 409,
            Self::Invalid(_) => 400,
        }
    }
}

/// Server-side apply of `applied` by `manager` onto `current` (`None`: the object does not
/// exist yet and is created from the configuration).
///
/// Returns the new object with updated `metadata.managedFields`, before defaulting. `status`
/// in the configuration is ignored (main resource). Applying a configuration that changes
/// nothing returns `current` unchanged, byte for byte.
pub fn server_side_apply(
    current: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    server_side_apply_to(current, applied, manager, force, now, None)
}

/// [`server_side_apply`] through a subresource. With `Some("status")` only the configuration's
/// `status` (and metadata) is applied, `spec` is ignored, and the manager's entry is recorded
/// with `subresource: "status"`; the caller keeps everything but status (and, for
/// Deployments, annotations) from the stored object.
pub fn server_side_apply_to(
    current: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
    subresource: Option<&str>,
) -> Result<Value, ApplyError> {
    let Some(map) = applied.as_object() else {
        return Err(ApplyError::Invalid(
            "the applied configuration must be an object".into(),
        ));
    };
    let kind = match map.get("kind").and_then(Value::as_str) {
        Some(k) if !k.is_empty() => k.to_owned(),
        _ => {
            return Err(ApplyError::Invalid(
                "Object 'Kind' is missing in the applied configuration".into(),
            ));
        }
    };
    if map.get("apiVersion").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(ApplyError::Invalid(
            "Object 'apiVersion' is missing in the applied configuration".into(),
        ));
    }
    let mut config = without_managed_fields(applied);
    if let Some(meta) = config.get_mut("metadata").and_then(Value::as_object_mut) {
        // The server keeps its own system fields, whatever the configuration says.
        for field in SERVER_METADATA {
            meta.remove(field);
        }
    }
    if let Some(obj) = config.as_object_mut() {
        obj.remove(if subresource == Some("status") {
            "spec"
        } else {
            "status"
        });
    }
    let walker = Walker { kind: &kind };
    let config_set = walker.field_set(&strip_untracked(&config));
    let api_version = api_version_of(applied);

    let Some(current) = current else {
        let mut created = config;
        let entry = Entry {
            manager: manager.to_owned(),
            operation: Operation::Apply,
            api_version,
            time: Some(now.to_owned()),
            fields: config_set,
            subresource: subresource.map(str::to_owned),
        };
        write_entries(&mut created, vec![entry]);
        return Ok(created);
    };

    let old_entries = read_entries(current);
    let live = without_managed_fields(current);
    let merged = walker.merge(&live, &config);
    let cmp = walker.compare(&strip_untracked(&live), &strip_untracked(&merged));
    let changed = cmp.added.union(&cmp.modified);

    let mut entries = old_entries.clone();
    let mut conflicts = Vec::new();
    for entry in entries
        .iter_mut()
        .filter(|e| !e.is(manager, Operation::Apply, subresource))
    {
        let clash = entry.fields.intersection(&changed);
        for path in clash.members() {
            conflicts.push((entry.clone(), path));
        }
        if force {
            entry.fields = entry.fields.difference(&clash);
        }
        entry.fields = entry.fields.difference(&cmp.removed);
    }
    if !conflicts.is_empty() && !force {
        return Err(ApplyError::Conflicts(collect_conflicts(conflicts)));
    }

    let previous = entries
        .iter()
        .position(|e| e.is(manager, Operation::Apply, subresource));
    let last_set = previous.map(|i| entries[i].fields.clone()).unwrap_or_default();
    let others = entries
        .iter()
        .filter(|e| !e.is(manager, Operation::Apply, subresource))
        .fold(FieldSet::new(), |acc, e| acc.union(&e.fields));
    let mut result = merged;
    let owned = others.union(&config_set);
    remove_abandoned(&mut result, &last_set.difference(&config_set), &owned);

    let object_changed = result != live;
    match previous {
        Some(i) => {
            let entry = &mut entries[i];
            if object_changed || entry.fields != config_set {
                entry.time = Some(now.to_owned());
            }
            entry.fields = config_set;
            entry.api_version = api_version;
        }
        None => entries.push(Entry {
            manager: manager.to_owned(),
            operation: Operation::Apply,
            api_version,
            time: Some(now.to_owned()),
            fields: config_set,
            subresource: subresource.map(str::to_owned),
        }),
    }
    entries.retain(|e| !e.fields.is_empty());
    if !object_changed && entries == old_entries {
        return Ok(current.clone());
    }
    write_entries(&mut result, entries);
    Ok(result)
}

/// Removes the paths a manager stopped applying, unless a manager (another one, or this one
/// through a field below it) still owns them or something below them.
fn remove_abandoned(obj: &mut Value, abandoned: &FieldSet, owned: &FieldSet) {
    for path in abandoned.members() {
        if owned.contains_at_or_below(&path) || get_at(obj, &path).is_none() {
            continue;
        }
        if remove_at(obj, &path) {
            prune_empty_ancestors(obj, &path, owned);
        }
    }
}

fn collect_conflicts(found: Vec<(Entry, Path)>) -> ApplyConflicts {
    let mut conflicts: Vec<(String, Path, Conflict)> = found
        .into_iter()
        .map(|(e, path)| {
            let c = Conflict {
                manager: e.manager,
                operation: e.operation,
                api_version: e.api_version,
                time: e.time,
                subresource: e.subresource,
                field: path_to_string(&path),
            };
            (c.owner(), path, c)
        })
        .collect();
    conflicts.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    ApplyConflicts {
        conflicts: conflicts.into_iter().map(|(_, _, c)| c).collect(),
    }
}

/// The manager's applied field set for an object, decoded from its managed fields (for
/// diagnostics and tests).
pub fn applied_fields(obj: &Value, manager: &str) -> Option<Value> {
    read_entries(obj)
        .into_iter()
        .find(|e| e.is(manager, Operation::Apply, None))
        .map(|e| e.fields.to_fields_v1())
}
