//! A sorted, indexed view of a [`Snapshot`]: objects ordered by namespace and name, and
//! lookups by uid and by controller owner. Every controller iterates these orders, so no map
//! iteration order ever leaks into the output.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;

use super::json::{controller_uid, is_deleting, name, namespace, uid};
use super::model::Snapshot;

pub(crate) struct Index<'a> {
    pub(crate) deployments: Vec<&'a Value>,
    pub(crate) replicasets: Vec<&'a Value>,
    pub(crate) pods: Vec<&'a Value>,
    /// uid -> Kind, for Deployments and ReplicaSets.
    owners: BTreeMap<&'a str, &'static str>,
    rs_by_controller: BTreeMap<&'a str, Vec<&'a Value>>,
    pods_by_controller: BTreeMap<&'a str, Vec<&'a Value>>,
    rs_names: BTreeSet<(&'a str, &'a str)>,
    /// ReplicaSets without a controller owner and not being deleted, by namespace.
    orphan_rs: BTreeMap<&'a str, Vec<&'a Value>>,
    /// Pods without a controller owner and not being deleted, by namespace.
    orphan_pods: BTreeMap<&'a str, Vec<&'a Value>>,
}

/// The objects that could be adopted (no controller owner, not being deleted), by namespace,
/// in the order of `items`.
fn orphans<'a>(items: &[&'a Value]) -> BTreeMap<&'a str, Vec<&'a Value>> {
    let mut map: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for item in items {
        if controller_uid(item).is_none() && !is_deleting(item) {
            map.entry(namespace(item)).or_default().push(item);
        }
    }
    map
}

fn sorted(items: &[Arc<Value>]) -> Vec<&Value> {
    let mut v: Vec<&Value> = items.iter().map(|o| o.as_ref()).collect();
    v.sort_by(|a, b| (namespace(a), name(a), uid(a)).cmp(&(namespace(b), name(b), uid(b))));
    v
}

fn by_controller<'a>(items: &[&'a Value]) -> BTreeMap<&'a str, Vec<&'a Value>> {
    let mut map: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for item in items {
        if let Some(owner) = controller_uid(item) {
            map.entry(owner).or_default().push(item);
        }
    }
    map
}

impl<'a> Index<'a> {
    pub(crate) fn new(snapshot: &'a Snapshot) -> Self {
        let deployments = sorted(&snapshot.deployments);
        let replicasets = sorted(&snapshot.replicasets);
        let pods = sorted(&snapshot.pods);
        let mut owners = BTreeMap::new();
        for d in &deployments {
            owners.insert(uid(d), "Deployment");
        }
        for rs in &replicasets {
            owners.insert(uid(rs), "ReplicaSet");
        }
        Self {
            rs_by_controller: by_controller(&replicasets),
            pods_by_controller: by_controller(&pods),
            rs_names: replicasets.iter().map(|rs| (namespace(rs), name(rs))).collect(),
            orphan_rs: orphans(&replicasets),
            orphan_pods: orphans(&pods),
            owners,
            deployments,
            replicasets,
            pods,
        }
    }

    /// The Kind of the Deployment or ReplicaSet with this uid, if it exists.
    pub(crate) fn owner_kind(&self, uid: &str) -> Option<&'static str> {
        self.owners.get(uid).copied()
    }

    /// ReplicaSets whose controller is `uid`.
    pub(crate) fn replicasets_of(&self, uid: &str) -> &[&'a Value] {
        self.rs_by_controller.get(uid).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Pods whose controller is `uid`.
    pub(crate) fn pods_of(&self, uid: &str) -> &[&'a Value] {
        self.pods_by_controller.get(uid).map(Vec::as_slice).unwrap_or(&[])
    }

    /// ReplicaSets of `namespace` that could be adopted, by name.
    pub(crate) fn orphan_replicasets(&self, namespace: &str) -> &[&'a Value] {
        self.orphan_rs.get(namespace).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Pods of `namespace` that could be adopted, by name.
    pub(crate) fn orphan_pods(&self, namespace: &str) -> &[&'a Value] {
        self.orphan_pods.get(namespace).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether a ReplicaSet with this name exists in the namespace.
    pub(crate) fn replicaset_exists(&self, namespace: &str, name: &str) -> bool {
        self.rs_names.contains(&(namespace, name))
    }
}
