//! An ordered, indexed view of a snapshot: objects ordered by namespace, name and uid, and
//! lookups by uid, by controller owner and by name. Every controller iterates these orders,
//! so no map iteration order ever leaks into the output (the maps here are only looked up).
//!
//! The store hands out its objects in (namespace, name) order with unique keys (see
//! `Store::snapshot_with_rv` and `store/objects.rs`), which is already this order: the view
//! then only checks the order, and sorts only snapshots that come in another order.

use std::cmp::Ordering;
use std::sync::Arc;

use super::fasthash::FastMap;
use super::meta::{Current, Object};

pub(crate) struct Index<'a> {
    pub(crate) deployments: Vec<&'a Object>,
    pub(crate) replicasets: Vec<&'a Object>,
    pub(crate) pods: Vec<&'a Object>,
    /// uid -> Kind, for Deployments and ReplicaSets.
    owners: FastMap<&'a str, &'static str>,
    rs_by_controller: FastMap<&'a str, Vec<&'a Object>>,
    pods_by_controller: FastMap<&'a str, Vec<&'a Object>>,
    /// ReplicaSets without a controller owner and not being deleted, by namespace.
    orphan_rs: FastMap<&'a str, Vec<&'a Object>>,
    /// Pods without a controller owner and not being deleted, by namespace.
    orphan_pods: FastMap<&'a str, Vec<&'a Object>>,
}

/// The order every controller processes objects in.
fn key(o: &Object) -> (&str, &str, &str) {
    (&o.meta.namespace, &o.meta.name, &o.meta.uid)
}

/// `items` in (namespace, name, uid) order; a stable sort, done only when they are not in
/// that order already.
fn ordered(items: &[Arc<Object>]) -> Vec<&Object> {
    let mut v: Vec<&Object> = items.iter().map(AsRef::as_ref).collect();
    if !v.windows(2).all(|w| key(w[0]) <= key(w[1])) {
        v.sort_by(|a, b| key(a).cmp(&key(b)));
    }
    v
}

/// The objects that could be adopted (no controller owner, not being deleted), by namespace,
/// in the order of `items`.
fn orphans<'a>(items: &[&'a Object]) -> FastMap<&'a str, Vec<&'a Object>> {
    let mut map: FastMap<&str, Vec<&Object>> = FastMap::default();
    for item in items {
        if item.meta.controller_uid.is_none() && !item.meta.deleting {
            map.entry(item.meta.namespace.as_str()).or_default().push(item);
        }
    }
    map
}

fn by_controller<'a>(items: &[&'a Object]) -> FastMap<&'a str, Vec<&'a Object>> {
    let mut map: FastMap<&str, Vec<&Object>> = FastMap::default();
    map.reserve(items.len());
    for item in items {
        if let Some(owner) = &item.meta.controller_uid {
            map.entry(owner.as_str()).or_default().push(item);
        }
    }
    map
}

/// Whether an object named (`namespace`, `name`) is among `sorted` (in [`key`] order).
fn contains_name(sorted: &[&Object], namespace: &str, name: &str) -> bool {
    sorted
        .binary_search_by(|o| match o.meta.namespace.as_str().cmp(namespace) {
            Ordering::Equal => o.meta.name.as_str().cmp(name),
            other => other,
        })
        .is_ok()
}

impl<'a> Index<'a> {
    pub(crate) fn new(current: &'a Current) -> Self {
        let deployments = ordered(&current.deployments);
        let replicasets = ordered(&current.replicasets);
        let pods = ordered(&current.pods);
        let mut owners = FastMap::default();
        owners.reserve(deployments.len() + replicasets.len());
        for d in &deployments {
            owners.insert(d.meta.uid.as_str(), "Deployment");
        }
        for rs in &replicasets {
            owners.insert(rs.meta.uid.as_str(), "ReplicaSet");
        }
        Self {
            rs_by_controller: by_controller(&replicasets),
            pods_by_controller: by_controller(&pods),
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
    pub(crate) fn replicasets_of(&self, uid: &str) -> &[&'a Object] {
        self.rs_by_controller.get(uid).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Pods whose controller is `uid`.
    pub(crate) fn pods_of(&self, uid: &str) -> &[&'a Object] {
        self.pods_by_controller.get(uid).map(Vec::as_slice).unwrap_or(&[])
    }

    /// ReplicaSets of `namespace` that could be adopted, by name.
    pub(crate) fn orphan_replicasets(&self, namespace: &str) -> &[&'a Object] {
        self.orphan_rs.get(namespace).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Pods of `namespace` that could be adopted, by name.
    pub(crate) fn orphan_pods(&self, namespace: &str) -> &[&'a Object] {
        self.orphan_pods.get(namespace).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether a ReplicaSet with this name exists in the namespace.
    pub(crate) fn replicaset_exists(&self, namespace: &str, name: &str) -> bool {
        contains_name(&self.replicasets, namespace, name)
    }

    /// The ReplicaSet with this name in the namespace, if one exists.
    pub(crate) fn replicaset_named(&self, namespace: &str, name: &str) -> Option<&'a Object> {
        let at = self
            .replicasets
            .binary_search_by(|o| match o.meta.namespace.as_str().cmp(namespace) {
                Ordering::Equal => o.meta.name.as_str().cmp(name),
                other => other,
            })
            .ok()?;
        self.replicasets.get(at).copied()
    }

    /// Whether a pod with this name exists in the namespace.
    pub(crate) fn pod_exists(&self, namespace: &str, name: &str) -> bool {
        contains_name(&self.pods, namespace, name)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::{Value, json};

    use super::*;
    use crate::clock::{ClockMode, SimClock};
    use crate::controllers::meta::Cache;
    use crate::controllers::model::Snapshot;
    use crate::store::{ResourceType, Store, WriteOptions};

    fn object(ns: &str, name: &str, uid: &str) -> Arc<Value> {
        Arc::new(json!({"metadata": {"namespace": ns, "name": name, "uid": uid}}))
    }

    fn names(objects: &[&Object]) -> Vec<String> {
        objects
            .iter()
            .map(|o| format!("{}/{}/{}", o.meta.namespace, o.meta.name, o.meta.uid))
            .collect()
    }

    #[test]
    fn snapshots_in_any_order_are_processed_by_namespace_name_and_uid() {
        let snapshot = Snapshot {
            pods: vec![
                object("b", "x", "1"),
                object("a", "z", "2"),
                object("a", "y", "9"),
                object("a", "y", "3"),
                object("", "w", "4"),
            ],
            ..Snapshot::default()
        };
        let current = Cache::default().refresh(&snapshot);
        let index = Index::new(&current);
        assert_eq!(names(&index.pods), ["/w/4", "a/y/3", "a/y/9", "a/z/2", "b/x/1"]);
        assert!(index.pod_exists("a", "z"));
        assert!(index.pod_exists("", "w"));
        assert!(!index.pod_exists("a", "x"));
        assert!(!index.pod_exists("b", "y"));
    }

    #[test]
    fn snapshots_of_the_store_come_in_the_order_the_controllers_process_objects() {
        let t0 = Utc
            .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_else(Utc::now);
        let store = Store::new(SimClock::new(ClockMode::Manual, t0), 1, 1_000);
        let namespaces = ResourceType::by_plural("namespaces");
        let pods = ResourceType::by_plural("pods");
        assert!(namespaces.is_some() && pods.is_some());
        let (Some(namespaces), Some(pods)) = (namespaces, pods) else {
            return;
        };
        for ns in ["zeta", "alpha", "mid"] {
            let created = store.create(
                namespaces,
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                &WriteOptions::new("test"),
                false,
            );
            assert!(created.is_ok(), "{created:?}");
        }
        // Created out of order, in three namespaces (and `default`).
        for (ns, name) in [
            ("zeta", "b"),
            ("alpha", "web-2"),
            ("default", "a"),
            ("mid", "c"),
            ("alpha", "web-10"),
            ("alpha", "web-1"),
            ("zeta", "a"),
        ] {
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            });
            let created = store.create(pods, ns, pod, &WriteOptions::new("test"), false);
            assert!(created.is_ok(), "{created:?}");
        }
        let snapshot = store.snapshot();
        let keys: Vec<(String, String)> = snapshot
            .pods
            .iter()
            .map(|p| {
                let at = |k: &str| p["metadata"][k].as_str().unwrap_or_default().to_owned();
                (at("namespace"), at("name"))
            })
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "the store's snapshot is not in strict (namespace, name) order: {keys:?}"
        );
        let current = Cache::default().refresh(&snapshot);
        let index = Index::new(&current);
        let processed: Vec<(String, String)> = index
            .pods
            .iter()
            .map(|p| (p.meta.namespace.clone(), p.meta.name.clone()))
            .collect();
        assert_eq!(processed, keys, "the index reordered the store's snapshot");
    }

    #[test]
    fn owners_orphans_and_names_are_indexed() {
        let owned = |name: &str, owner: &str| {
            Arc::new(
                json!({"metadata": {"namespace": "n", "name": name, "uid": format!("u-{name}"),
                "ownerReferences": [{"uid": owner, "controller": true}]}}),
            )
        };
        let deleting = Arc::new(json!({"metadata": {"namespace": "n", "name": "gone", "uid": "u-gone",
            "deletionTimestamp": "2025-01-01T00:00:00Z"}}));
        let snapshot = Snapshot {
            deployments: vec![object("n", "web", "d1")],
            replicasets: vec![owned("web-2", "d1"), owned("web-1", "d1"), object("n", "loose", "r3")],
            pods: vec![
                owned("web-1-b", "u-web-1"),
                owned("web-1-a", "u-web-1"),
                deleting,
                object("m", "free", "p9"),
            ],
        };
        let current = Cache::default().refresh(&snapshot);
        let index = Index::new(&current);
        assert_eq!(index.owner_kind("d1"), Some("Deployment"));
        assert_eq!(index.owner_kind("u-web-1"), Some("ReplicaSet"));
        assert_eq!(index.owner_kind("p9"), None);
        assert_eq!(
            names(index.replicasets_of("d1")),
            ["n/web-1/u-web-1", "n/web-2/u-web-2"]
        );
        assert_eq!(
            names(index.pods_of("u-web-1")),
            ["n/web-1-a/u-web-1-a", "n/web-1-b/u-web-1-b"]
        );
        assert!(index.pods_of("u-web-2").is_empty());
        assert_eq!(names(index.orphan_replicasets("n")), ["n/loose/r3"]);
        assert!(index.orphan_pods("n").is_empty(), "a deleting pod is no orphan");
        assert_eq!(names(index.orphan_pods("m")), ["m/free/p9"]);
        assert!(index.replicaset_exists("n", "web-2"));
        assert!(!index.replicaset_exists("m", "web-2"));
        assert_eq!(
            index.replicaset_named("n", "loose").map(|o| o.meta.uid.as_str()),
            Some("r3")
        );
        assert!(index.replicaset_named("n", "absent").is_none());
    }
}
