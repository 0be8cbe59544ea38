//! What every controller pass reads of every object (identity, owners, resourceVersion, and
//! the timers that follow from the object alone), extracted once per stored version of an
//! object and kept across passes.
//!
//! Stored objects are `Arc<Value>`s shared with the store and never changed once stored: a
//! write stores a new `Arc`. So an object's facts can be kept under the address of its `Arc`,
//! as long as the cache holds a reference to that `Arc` (which keeps the address from being
//! reused and the value from being changed through `Arc::make_mut`). A pass then reads each
//! unchanged object's facts with one lookup instead of a dozen JSON key searches, and only the
//! objects written since the last pass are read again.

use std::collections::hash_map::Entry;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::deployment::status::reason;
use super::fasthash::FastMap;
use super::json::{controller_uid, get, i64_at, is_deleting, name, namespace, owner_refs, parse_time, str_at, uid};
use super::kubelet;
use super::model::Snapshot;
use super::replicaset;
use super::template::canonical_ignoring_hash;

/// The resource an object is stored as (which facts are worth extracting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Deployment,
    ReplicaSet,
    Pod,
}

/// The facts of one stored object that the passes read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Meta {
    /// `metadata.namespace` (empty when absent).
    pub(crate) namespace: String,
    /// `metadata.name` (empty when absent).
    pub(crate) name: String,
    /// `metadata.uid` (empty when absent).
    pub(crate) uid: String,
    /// `metadata.resourceVersion` (empty when absent).
    pub(crate) resource_version: String,
    /// The uid of the controller owner (see [`controller_uid`]).
    pub(crate) controller_uid: Option<String>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub(crate) deleting: bool,
    /// Whether it is being deleted with the `foregroundDeletion` finalizer.
    pub(crate) foreground_deleting: bool,
    /// The uid of every owner reference that has one.
    pub(crate) owner_uids: Vec<String>,
    /// (Kind, uid) of its owners when it has some and every one is an `apps/*` Deployment or
    /// ReplicaSet; `None` otherwise (the garbage collector never deletes it then).
    pub(crate) apps_owners: Option<Vec<(&'static str, String)>>,
    /// `metadata.generation` (0 when absent).
    pub(crate) generation: i64,
    /// `status.observedGeneration` (0 when absent).
    pub(crate) observed_generation: i64,
    /// Deployments: when the progress deadline passes (see [`progress_deadline`]).
    pub(crate) progress_deadline: Option<DateTime<Utc>>,
    /// ReplicaSets: `spec.minReadySeconds` (0 when absent).
    pub(crate) min_ready_seconds: i64,
    /// Pods: whether `status.phase` is `Succeeded` or `Failed`.
    pub(crate) finished: bool,
    /// Pods: `status.podIP`.
    pub(crate) pod_ip: Option<String>,
    /// Pods: when an active, Ready pod became ready (`None` for any other pod).
    pub(crate) ready_since: Option<DateTime<Utc>>,
    /// Deployments and ReplicaSets: `spec.template` in the form `FindNewReplicaSet` compares
    /// (see [`canonical_ignoring_hash`]), worked out once per stored version instead of once
    /// per pass and ReplicaSet.
    pub(crate) template: Option<Arc<Value>>,
}

/// The first moment strictly after `t`, for conditions written as `t < now`.
pub(crate) fn just_after(t: DateTime<Utc>) -> DateTime<Utc> {
    t.checked_add_signed(chrono::Duration::nanoseconds(1)).unwrap_or(t)
}

/// When a Deployment's progress deadline passes (`DeploymentTimedOut` turns true), if its
/// rollout is still being timed.
pub(crate) fn progress_deadline(d: &Value) -> Option<DateTime<Utc>> {
    let deadline = i64_at(d, &["spec", "progressDeadlineSeconds"])?;
    let condition = get(d, &["status", "conditions"])?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Progressing"))?;
    let why = condition.get("reason").and_then(Value::as_str).unwrap_or("");
    if why == reason::NEW_RS_AVAILABLE || why == reason::TIMED_OUT {
        return None;
    }
    let from = parse_time(condition.get("lastUpdateTime").and_then(Value::as_str)?)?;
    Some(just_after(
        from.checked_add_signed(chrono::Duration::seconds(deadline))?,
    ))
}

/// (Kind, uid) of every owner when each is an `apps/*` Deployment or ReplicaSet.
fn apps_owners(v: &Value) -> Option<Vec<(&'static str, String)>> {
    let mut owners = Vec::new();
    for r in owner_refs(v) {
        let apps = r
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("apps/"));
        let kind = match r.get("kind").and_then(Value::as_str) {
            Some("Deployment") if apps => "Deployment",
            Some("ReplicaSet") if apps => "ReplicaSet",
            _ => return None,
        };
        let owner_uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
        owners.push((kind, owner_uid.to_owned()));
    }
    (!owners.is_empty()).then_some(owners)
}

impl Meta {
    /// Reads the facts of `v`, stored as `kind`.
    pub(crate) fn read(v: &Value, kind: Kind) -> Self {
        let deleting = is_deleting(v);
        let pod = kind == Kind::Pod;
        let finished = pod && matches!(kubelet::phase(v), "Succeeded" | "Failed");
        Self {
            namespace: namespace(v).to_owned(),
            name: name(v).to_owned(),
            uid: uid(v).to_owned(),
            resource_version: str_at(v, &["metadata", "resourceVersion"]).unwrap_or("").to_owned(),
            controller_uid: controller_uid(v).map(str::to_owned),
            deleting,
            foreground_deleting: deleting
                && get(v, &["metadata", "finalizers"])
                    .and_then(Value::as_array)
                    .is_some_and(|f| f.iter().any(|v| v.as_str() == Some("foregroundDeletion"))),
            owner_uids: owner_refs(v)
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .map(str::to_owned)
                .collect(),
            apps_owners: apps_owners(v),
            generation: i64_at(v, &["metadata", "generation"]).unwrap_or(0),
            observed_generation: i64_at(v, &["status", "observedGeneration"]).unwrap_or(0),
            progress_deadline: if kind == Kind::Deployment {
                progress_deadline(v)
            } else {
                None
            },
            min_ready_seconds: if kind == Kind::ReplicaSet {
                i64_at(v, &["spec", "minReadySeconds"]).unwrap_or(0)
            } else {
                0
            },
            finished,
            pod_ip: if pod {
                str_at(v, &["status", "podIP"]).map(str::to_owned)
            } else {
                None
            },
            ready_since: if pod && replicaset::is_active(v) && kubelet::is_ready(v) {
                kubelet::ready_since(v)
            } else {
                None
            },
            template: (kind != Kind::Pod).then(|| {
                Arc::new(canonical_ignoring_hash(
                    get(v, &["spec", "template"]).unwrap_or(&Value::Null),
                ))
            }),
        }
    }
}

/// A stored object with its facts.
#[derive(Debug)]
pub(crate) struct Object {
    /// The stored object (shared with the store and the snapshot).
    value: Arc<Value>,
    /// Its facts.
    pub(crate) meta: Meta,
}

impl Object {
    fn new(value: &Arc<Value>, kind: Kind) -> Self {
        Self {
            meta: Meta::read(value, kind),
            value: Arc::clone(value),
        }
    }

    /// The stored object.
    pub(crate) fn value(&self) -> &Value {
        &self.value
    }
}

/// The objects of one resource seen by recent passes, by the address of their `Arc`, with the
/// number of the last pass that saw each.
#[derive(Debug, Clone, Default)]
struct Table {
    objects: FastMap<usize, (Arc<Object>, u64)>,
    pass: u64,
}

impl Table {
    /// The objects of `items`, in order, with their facts; forgets the objects no longer in
    /// `items`.
    fn refresh(&mut self, items: &[Arc<Value>], kind: Kind) -> Vec<Arc<Object>> {
        self.pass += 1;
        let pass = self.pass;
        let mut live = 0;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let object = match self.objects.entry(Arc::as_ptr(item) as usize) {
                Entry::Occupied(mut known) => {
                    let (object, seen) = known.get_mut();
                    if *seen != pass {
                        *seen = pass;
                        live += 1;
                    }
                    Arc::clone(object)
                }
                Entry::Vacant(slot) => {
                    live += 1;
                    let object = Arc::new(Object::new(item, kind));
                    slot.insert((Arc::clone(&object), pass));
                    object
                }
            };
            out.push(object);
        }
        if self.objects.len() > live {
            self.objects.retain(|_, (_, seen)| *seen == pass);
        }
        out
    }

    fn len(&self) -> usize {
        self.objects.len()
    }
}

/// The objects of a snapshot with their facts, in snapshot order.
#[derive(Debug, Default)]
pub(crate) struct Current {
    pub(crate) deployments: Vec<Arc<Object>>,
    pub(crate) replicasets: Vec<Arc<Object>>,
    pub(crate) pods: Vec<Arc<Object>>,
}

/// The facts of the objects of the last snapshot, kept for the next pass.
#[derive(Clone, Default)]
pub(crate) struct Cache {
    deployments: Table,
    replicasets: Table,
    pods: Table,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("deployments", &self.deployments.len())
            .field("replicasets", &self.replicasets.len())
            .field("pods", &self.pods.len())
            .finish()
    }
}

impl Cache {
    /// The objects of `snapshot` with their facts, reading only the objects not seen by the
    /// last pass; forgets the objects no longer stored.
    pub(crate) fn refresh(&mut self, snapshot: &Snapshot) -> Current {
        Current {
            deployments: self.deployments.refresh(&snapshot.deployments, Kind::Deployment),
            replicasets: self.replicasets.refresh(&snapshot.replicasets, Kind::ReplicaSet),
            pods: self.pods.refresh(&snapshot.pods, Kind::Pod),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, rv: &str) -> Arc<Value> {
        Arc::new(json!({
            "metadata": {
                "name": name, "namespace": "ns", "uid": format!("uid-{name}"), "resourceVersion": rv,
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "uid": "rs-1", "controller": true}
                ]
            },
            "status": {"phase": "Running", "podIP": "10.244.0.2"}
        }))
    }

    fn pods(items: Vec<Arc<Value>>) -> Snapshot {
        Snapshot {
            pods: items,
            ..Snapshot::default()
        }
    }

    #[test]
    fn facts_match_what_the_json_helpers_read() {
        let v = json!({
            "metadata": {
                "name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "42", "generation": 3,
                "deletionTimestamp": "2025-01-01T00:00:00Z", "finalizers": ["foregroundDeletion"],
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "uid": "d1", "controller": true},
                    {"apiVersion": "v1", "kind": "ConfigMap", "uid": "c1"},
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet"}
                ]
            },
            "spec": {"minReadySeconds": 5},
            "status": {"observedGeneration": 2}
        });
        let meta = Meta::read(&v, Kind::ReplicaSet);
        assert_eq!(
            (meta.namespace.as_str(), meta.name.as_str(), meta.uid.as_str()),
            ("default", "web", "u1")
        );
        assert_eq!(meta.resource_version, "42");
        assert_eq!(meta.controller_uid.as_deref(), Some("d1"));
        assert!(meta.deleting && meta.foreground_deleting);
        assert_eq!(meta.owner_uids, ["d1", "c1"]);
        assert_eq!(meta.apps_owners, None, "a ConfigMap owner keeps it alive");
        assert_eq!((meta.generation, meta.observed_generation), (3, 2));
        assert_eq!(meta.min_ready_seconds, 5);
        assert_eq!(meta.pod_ip, None);

        let bare = Meta::read(&json!({}), Kind::Pod);
        assert_eq!((bare.name.as_str(), bare.uid.as_str()), ("", ""));
        assert!(!bare.deleting && !bare.finished);
        assert_eq!(bare.apps_owners, None, "no owner, nothing to collect");
        let owned = Meta::read(&pod("p", "1"), Kind::Pod);
        assert_eq!(owned.apps_owners, Some(vec![("ReplicaSet", "rs-1".to_owned())]));
        assert_eq!(owned.pod_ip.as_deref(), Some("10.244.0.2"));
    }

    #[test]
    fn the_progress_deadline_is_timed_from_the_last_progress_update() {
        let mut d = json!({
            "spec": {"progressDeadlineSeconds": 600},
            "status": {"conditions": [
                {"type": "Progressing", "reason": "ReplicaSetUpdated", "lastUpdateTime": "2025-01-01T00:00:00Z"}
            ]}
        });
        let due = Meta::read(&d, Kind::Deployment).progress_deadline;
        assert_eq!(
            due.map(|t| t.to_rfc3339()),
            Some("2025-01-01T00:10:00.000000001+00:00".to_owned())
        );
        d["status"]["conditions"][0]["reason"] = json!(reason::NEW_RS_AVAILABLE);
        assert_eq!(Meta::read(&d, Kind::Deployment).progress_deadline, None);
    }

    #[test]
    fn an_unchanged_object_is_read_once_and_a_new_version_again() {
        let mut cache = Cache::default();
        let (a, b) = (pod("a", "1"), pod("b", "1"));
        let first = cache.refresh(&pods(vec![a.clone(), b.clone()]));
        let b2 = pod("b", "2");
        let second = cache.refresh(&pods(vec![a.clone(), b2.clone()]));
        assert!(
            Arc::ptr_eq(&first.pods[0], &second.pods[0]),
            "the unchanged pod was read again"
        );
        assert!(!Arc::ptr_eq(&first.pods[1], &second.pods[1]));
        assert_eq!(second.pods[1].meta.resource_version, "2");
        assert!(std::ptr::eq(second.pods[1].value(), b2.as_ref()));
        assert_eq!(cache.pods.len(), 2, "the replaced version is forgotten");
    }

    #[test]
    fn the_cache_keeps_only_the_objects_of_the_last_snapshot() {
        let mut cache = Cache::default();
        let items: Vec<Arc<Value>> = (0..10).map(|i| pod(&format!("p{i}"), "1")).collect();
        cache.refresh(&pods(items.clone()));
        assert_eq!(cache.pods.len(), 10);
        let current = cache.refresh(&pods(items[3..5].to_vec()));
        assert_eq!(cache.pods.len(), 2);
        let names: Vec<&str> = current.pods.iter().map(|o| o.meta.name.as_str()).collect();
        assert_eq!(names, ["p3", "p4"]);
        cache.refresh(&Snapshot::default());
        assert_eq!(cache.pods.len(), 0);
    }

    #[test]
    fn a_cached_object_cannot_change_under_its_address() {
        let mut cache = Cache::default();
        let mut a = pod("a", "1");
        cache.refresh(&pods(vec![a.clone()]));
        let before = Arc::as_ptr(&a);
        // The cache holds the object too: changing it copies it to a new address.
        Arc::make_mut(&mut a)["metadata"]["resourceVersion"] = json!("2");
        assert_ne!(Arc::as_ptr(&a), before);
        let current = cache.refresh(&pods(vec![a]));
        assert_eq!(current.pods[0].meta.resource_version, "2");
    }

    #[test]
    fn the_same_object_listed_twice_is_kept() {
        let mut cache = Cache::default();
        let a = pod("a", "1");
        let current = cache.refresh(&pods(vec![a.clone(), a.clone()]));
        assert_eq!(current.pods.len(), 2);
        assert_eq!(cache.pods.len(), 1);
        cache.refresh(&pods(vec![a.clone(), a]));
        assert_eq!(cache.pods.len(), 1);
    }
}
