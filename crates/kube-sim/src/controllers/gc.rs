//! The garbage collector (spec §3.6): dependents whose owners are all gone are deleted
//! (Background propagation), and owners deleted with `propagationPolicy: Foreground` are
//! removed once their dependents are gone.
//!
//! Only Deployment and ReplicaSet owners can be checked (they are in the snapshot); an owner
//! reference of any other kind keeps its dependent alive.

use super::index::Index;
use super::meta::Object;
use super::model::Action;

/// Whether every owner of `obj` is a Deployment or ReplicaSet that no longer exists (an
/// owner with the same name but another uid counts as gone).
fn orphaned(obj: &Object, index: &Index<'_>) -> bool {
    obj.meta
        .apps_owners
        .as_ref()
        .is_some_and(|owners| owners.iter().all(|(kind, uid)| index.owner_kind(uid) != Some(kind)))
}

fn depends_on(obj: &Object, owner_uid: &str) -> bool {
    obj.meta.owner_uids.iter().any(|u| u == owner_uid)
}

fn delete(resource: &'static str, obj: &Object) -> Action {
    Action::Delete {
        resource,
        namespace: obj.meta.namespace.clone(),
        name: obj.meta.name.clone(),
    }
}

/// The garbage collector's writes for this snapshot.
pub(crate) fn collect(index: &Index<'_>) -> Vec<Action> {
    let mut out = Vec::new();
    for rs in &index.replicasets {
        if !rs.meta.deleting && orphaned(rs, index) {
            out.push(delete("replicasets", rs));
        }
    }
    for pod in &index.pods {
        if !pod.meta.deleting && orphaned(pod, index) {
            out.push(delete("pods", pod));
        }
    }
    for (owners, dependents, owner_resource, dependent_resource) in [
        (&index.deployments, &index.replicasets, "deployments", "replicasets"),
        (&index.replicasets, &index.pods, "replicasets", "pods"),
    ] {
        for owner in owners.iter().filter(|o| o.meta.foreground_deleting) {
            let deps: Vec<&&Object> = dependents.iter().filter(|d| depends_on(d, &owner.meta.uid)).collect();
            if deps.is_empty() {
                out.push(Action::Remove {
                    resource: owner_resource,
                    namespace: owner.meta.namespace.clone(),
                    name: owner.meta.name.clone(),
                });
            }
            for dep in deps.into_iter().filter(|d| !d.meta.deleting) {
                out.push(delete(dependent_resource, dep));
            }
        }
    }
    out
}
