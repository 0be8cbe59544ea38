//! The garbage collector (spec §3.6): dependents whose owners are all gone are deleted
//! (Background propagation), and owners deleted with `propagationPolicy: Foreground` are
//! removed once their dependents are gone.
//!
//! Only Deployment and ReplicaSet owners can be checked (they are in the snapshot); an owner
//! reference of any other kind keeps its dependent alive.

use serde_json::Value;

use super::index::Index;
use super::json::{get, is_deleting, name, namespace, owner_refs, uid};
use super::model::Action;

/// Whether every owner of `obj` is a Deployment or ReplicaSet that no longer exists (an
/// owner with the same name but another uid counts as gone).
fn orphaned(obj: &Value, index: &Index<'_>) -> bool {
    let mut refs = owner_refs(obj).peekable();
    if refs.peek().is_none() {
        return false;
    }
    refs.all(|r| {
        let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
        let apps = r
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("apps/"));
        let owner_uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
        apps && matches!(kind, "Deployment" | "ReplicaSet") && index.owner_kind(owner_uid) != Some(kind)
    })
}

fn foreground_deleting(obj: &Value) -> bool {
    is_deleting(obj)
        && get(obj, &["metadata", "finalizers"])
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().any(|v| v.as_str() == Some("foregroundDeletion")))
}

fn depends_on(obj: &Value, owner_uid: &str) -> bool {
    owner_refs(obj).any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
}

fn delete(resource: &'static str, obj: &Value) -> Action {
    Action::Delete {
        resource,
        namespace: namespace(obj).to_owned(),
        name: name(obj).to_owned(),
    }
}

/// The garbage collector's writes for this snapshot.
pub(crate) fn collect(index: &Index<'_>) -> Vec<Action> {
    let mut out = Vec::new();
    for rs in &index.replicasets {
        if !is_deleting(rs) && orphaned(rs, index) {
            out.push(delete("replicasets", rs));
        }
    }
    for pod in &index.pods {
        if !is_deleting(pod) && orphaned(pod, index) {
            out.push(delete("pods", pod));
        }
    }
    for (owners, dependents, owner_resource, dependent_resource) in [
        (&index.deployments, &index.replicasets, "deployments", "replicasets"),
        (&index.replicasets, &index.pods, "replicasets", "pods"),
    ] {
        for owner in owners.iter().filter(|o| foreground_deleting(o)) {
            let deps: Vec<&&Value> = dependents.iter().filter(|d| depends_on(d, uid(owner))).collect();
            if deps.is_empty() {
                out.push(Action::Remove {
                    resource: owner_resource,
                    namespace: namespace(owner).to_owned(),
                    name: name(owner).to_owned(),
                });
            }
            for dep in deps.into_iter().filter(|d| !is_deleting(d)) {
                out.push(delete(dependent_resource, dep));
            }
        }
    }
    out
}
