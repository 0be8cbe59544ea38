//! The ReplicaSet controller (spec §7.2): keeps `spec.replicas` active pods and reports the
//! ReplicaSet status.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::events::{Subject, normal_event};
use super::index::Index;
use super::json::{created, get, i64_at, is_deleting, name, namespace, selector_matches, set, str_at, uid};
use super::kubelet::{NODE_NAME, is_available, is_ready, phase, ready_since, restarts};
use super::model::Action;
use crate::rng::SimRng;

/// The most pods created or deleted for one ReplicaSet in one pass (`burstReplicas`).
const BURST_REPLICAS: usize = 500;

/// What the ReplicaSet controller shares across ReplicaSets in one pass.
pub(crate) struct Context<'c, 'i> {
    pub(crate) rng: &'c mut SimRng,
    pub(crate) now: DateTime<Utc>,
    /// Pod names in use, per namespace (stored ones and those created in this pass).
    pub(crate) pod_names: &'c mut PodNames<'i>,
    /// When each pod created by this controller was created (namespace, name).
    pub(crate) created_pods: &'c mut BTreeMap<(String, String), DateTime<Utc>>,
    /// The precise start of the pods the kubelet knows (by uid).
    pub(crate) pod_start: &'c BTreeMap<String, DateTime<Utc>>,
}

/// The pod names in use: the stored pods' and those created in this pass.
pub(crate) struct PodNames<'i> {
    stored: &'i Index<'i>,
    /// Names created in this pass, by namespace.
    created: BTreeMap<String, BTreeSet<String>>,
}

impl<'i> PodNames<'i> {
    /// The names of the pods of `stored`.
    pub(crate) fn new(stored: &'i Index<'i>) -> Self {
        Self {
            stored,
            created: BTreeMap::new(),
        }
    }

    /// Whether a pod of `namespace` has this name.
    pub(crate) fn contains(&self, namespace: &str, name: &str) -> bool {
        self.stored.pod_exists(namespace, name) || self.created.get(namespace).is_some_and(|n| n.contains(name))
    }

    /// Records a name given to a pod created in this pass.
    pub(crate) fn insert(&mut self, namespace: &str, name: &str) {
        self.created
            .entry(namespace.to_owned())
            .or_default()
            .insert(name.to_owned());
    }
}

/// Whether a pod counts towards its ReplicaSet (not terminating, not finished).
pub(crate) fn is_active(pod: &Value) -> bool {
    !is_deleting(pod) && !matches!(phase(pod), "Succeeded" | "Failed")
}

/// The order in which pods are deleted on scale-down (`ActivePodsWithRanks`, simplified):
/// unscheduled, pending, not ready, ready for a shorter time, more restarts, newer first.
fn deletion_key<'v>(pod: &'v Value, start: &BTreeMap<String, DateTime<Utc>>) -> impl Ord + use<'v> {
    let scheduled = str_at(pod, &["spec", "nodeName"]).is_some_and(|n| !n.is_empty());
    let phase_rank = match phase(pod) {
        "Pending" | "" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    let ready = is_ready(pod);
    let since = if ready { ready_since(pod) } else { None };
    let created_at = start.get(uid(pod)).copied().or_else(|| created(pod));
    (
        scheduled,
        phase_rank,
        ready,
        Reverse(since),
        Reverse(restarts(pod)),
        Reverse(created_at),
        Reverse(name(pod)),
    )
}

fn new_pod(rs: &Value, name: &str) -> Value {
    let template = get(rs, &["spec", "template"]).cloned().unwrap_or_else(|| json!({}));
    let mut metadata = json!({
        "name": name,
        "generateName": format!("{}-", super::json::name(rs)),
        "namespace": namespace(rs),
    });
    for key in ["labels", "annotations"] {
        if let Some(v) = template
            .pointer(&format!("/metadata/{key}"))
            .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
        {
            metadata[key] = v.clone();
        }
    }
    metadata["ownerReferences"] = json!([{
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": super::json::name(rs),
        "uid": uid(rs),
        "controller": true,
        "blockOwnerDeletion": true,
    }]);
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    set(&mut spec, &["nodeName"], json!(NODE_NAME));
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    })
}

fn event(cx: &mut Context<'_, '_>, rs: &Value, reason: &str, message: String) -> Action {
    let subject = Subject {
        object: rs,
        kind: "ReplicaSet",
        api_version: "apps/v1",
        component: "replicaset-controller",
    };
    let object = normal_event(cx.rng, &subject, reason, message, cx.now);
    Action::Create {
        resource: "events",
        object,
    }
}

/// The status the ReplicaSet should report for its pods (`calculateStatus`).
fn status(rs: &Value, pods: &[&Value], now: DateTime<Utc>) -> Value {
    let min_ready = i64_at(rs, &["spec", "minReadySeconds"]).unwrap_or(0);
    let template_labels = get(rs, &["spec", "template", "metadata", "labels"]);
    let active: Vec<&&Value> = pods.iter().filter(|p| is_active(p)).collect();
    let fully_labeled = active
        .iter()
        .filter(|p| {
            let selector = template_labels.map(|l| json!({"matchLabels": l}));
            selector.is_none() || selector_matches(selector.as_ref(), get(p, &["metadata", "labels"]))
        })
        .count();
    let ready = active.iter().filter(|p| is_ready(p)).count();
    let available = active.iter().filter(|p| is_available(p, min_ready, now)).count();
    let mut s = Map::new();
    s.insert("replicas".to_owned(), json!(active.len()));
    for (k, v) in [
        ("fullyLabeledReplicas", fully_labeled as i64),
        ("readyReplicas", ready as i64),
        ("availableReplicas", available as i64),
    ] {
        if v != 0 {
            s.insert(k.to_owned(), json!(v));
        }
    }
    if let Some(g) = i64_at(rs, &["metadata", "generation"]).filter(|g| *g != 0) {
        s.insert("observedGeneration".to_owned(), json!(g));
    }
    if let Some(c) = get(rs, &["status", "conditions"]).filter(|c| c.as_array().is_some_and(|a| !a.is_empty())) {
        s.insert("conditions".to_owned(), c.clone());
    }
    Value::Object(s)
}

/// One pass over one ReplicaSet: create or delete pods, then (unless `write_status` is
/// false) write its status when it changed. `pods` are the pods it controls.
pub(crate) fn sync(rs: &Value, pods: &[&Value], cx: &mut Context<'_, '_>, write_status: bool) -> Vec<Action> {
    let mut out = Vec::new();
    if !is_deleting(rs) {
        let want = i64_at(rs, &["spec", "replicas"]).unwrap_or(1).max(0) as usize;
        let mut active: Vec<&Value> = pods.iter().copied().filter(|p| is_active(p)).collect();
        let ns = namespace(rs).to_owned();
        if active.len() < want {
            for _ in 0..(want - active.len()).min(BURST_REPLICAS) {
                let pod_name = loop {
                    let candidate = format!("{}-{}", name(rs), cx.rng.suffix(5));
                    if !cx.pod_names.contains(&ns, &candidate) {
                        break candidate;
                    }
                };
                cx.pod_names.insert(&ns, &pod_name);
                cx.created_pods.insert((ns.clone(), pod_name.clone()), cx.now);
                out.push(Action::Create {
                    resource: "pods",
                    object: new_pod(rs, &pod_name),
                });
                out.push(event(cx, rs, "SuccessfulCreate", format!("Created pod: {pod_name}")));
            }
        } else if active.len() > want {
            active.sort_by_cached_key(|p| deletion_key(p, cx.pod_start));
            let excess = (active.len() - want).min(BURST_REPLICAS);
            for pod in active.into_iter().take(excess) {
                out.push(Action::Delete {
                    resource: "pods",
                    namespace: ns.clone(),
                    name: name(pod).to_owned(),
                });
                out.push(event(cx, rs, "SuccessfulDelete", format!("Deleted pod: {}", name(pod))));
            }
        }
    }
    if write_status {
        let new_status = status(rs, pods, cx.now);
        if rs.get("status") != Some(&new_status) {
            let mut object = rs.clone();
            object["status"] = new_status;
            out.push(Action::UpdateStatus {
                resource: "replicasets",
                object,
            });
        }
    }
    out
}
