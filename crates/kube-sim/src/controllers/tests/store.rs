//! A miniature store for the tests: it applies [`Action`]s to a [`Snapshot`] the way the real
//! store does (uids, a global resourceVersion, generation bumps, resourceVersion
//! preconditions, graceful pod deletion) and keeps the events.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::clock::Profile;
use crate::controllers::json::{add, format_time, name, namespace};
use crate::controllers::{Action, Controllers, Snapshot};
use crate::images::ImageRules;
use crate::rng::SimRng;

pub(super) fn t0() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_735_689_600, 0).unwrap_or_default()
}

/// Test timings: tick 100 ms, pods ready after 1 s, terminating pods gone after 1 s.
pub(super) fn profile() -> Profile {
    Profile {
        tick: Duration::from_millis(100),
        pod_ready_after: Duration::from_secs(1),
        max_grace: Duration::from_secs(1),
        speed: 1.0,
    }
}

/// A defaulted Deployment `name` with `replicas` replicas of `image` in `default`.
pub(super) fn deployment(name: &str, replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "web", "image": image, "resources": {}}],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                }
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        }
    })
}

/// One row of what a watcher of a Deployment sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    pub generation: i64,
    pub observed: i64,
    pub replicas: i64,
    pub updated: i64,
    pub ready: i64,
    pub available: i64,
    pub progressing: String,
}

pub(super) struct Store {
    pub snapshot: Snapshot,
    pub events: Vec<Value>,
    pub now: DateTime<Utc>,
    pub dropped: usize,
    pub controllers: Controllers,
    pub profile: Profile,
    rv: u64,
    rng: SimRng,
}

fn resource_list<'a>(snapshot: &'a mut Snapshot, resource: &str) -> Option<&'a mut Vec<Arc<Value>>> {
    match resource {
        "deployments" => Some(&mut snapshot.deployments),
        "replicasets" => Some(&mut snapshot.replicasets),
        "pods" => Some(&mut snapshot.pods),
        _ => None,
    }
}

fn position(list: &[Arc<Value>], ns: &str, n: &str) -> Option<usize> {
    list.iter().position(|o| namespace(o) == ns && name(o) == n)
}

impl Store {
    pub fn new(seed: u64) -> Self {
        Self::with_rules(seed, ImageRules::new())
    }

    pub fn with_rules(seed: u64, rules: ImageRules) -> Self {
        Self::with_profile(seed, rules, profile())
    }

    pub fn with_profile(seed: u64, rules: ImageRules, profile: Profile) -> Self {
        Self {
            snapshot: Snapshot::default(),
            events: Vec::new(),
            now: t0(),
            dropped: 0,
            controllers: Controllers::new(seed, rules, profile.clone()),
            profile,
            rv: 0,
            rng: SimRng::new(seed ^ 0x5eed),
        }
    }

    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    /// Creates an object as the API server does.
    pub fn create(&mut self, resource: &str, mut obj: Value) {
        obj["metadata"]["uid"] = json!(self.rng.uid());
        obj["metadata"]["resourceVersion"] = json!(self.next_rv());
        obj["metadata"]["creationTimestamp"] = json!(format_time(self.now));
        if matches!(resource, "deployments" | "replicasets") {
            obj["metadata"]["generation"] = json!(1);
        }
        if resource == "events" {
            self.events.push(obj);
        } else if let Some(list) = resource_list(&mut self.snapshot, resource) {
            list.push(Arc::new(obj));
        }
    }

    /// A user write of a Deployment's spec/metadata (generation bumps when spec or
    /// annotations change).
    pub fn update_deployment(&mut self, n: &str, change: impl FnOnce(&mut Value)) {
        let rv = self.next_rv();
        if let Some(i) = position(&self.snapshot.deployments, "default", n) {
            let d = Arc::make_mut(&mut self.snapshot.deployments[i]);
            let before = (d["spec"].clone(), d["metadata"]["annotations"].clone());
            change(d);
            if before != (d["spec"].clone(), d["metadata"]["annotations"].clone()) {
                let g = d["metadata"]["generation"].as_i64().unwrap_or(0);
                d["metadata"]["generation"] = json!(g + 1);
            }
            d["metadata"]["resourceVersion"] = json!(rv);
        }
    }

    fn precondition_holds(list: &[Arc<Value>], obj: &Value) -> Option<usize> {
        let i = position(list, namespace(obj), name(obj))?;
        (list[i]["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]).then_some(i)
    }

    /// Applies the controllers' actions in order.
    pub fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Create { resource, object } => {
                    let exists = resource_list(&mut self.snapshot, resource)
                        .is_some_and(|l| position(l, namespace(&object), name(&object)).is_some());
                    if exists {
                        self.dropped += 1;
                    } else {
                        self.create(resource, object);
                    }
                }
                Action::Update { resource, object } => {
                    let rv = self.next_rv();
                    let Some(list) = resource_list(&mut self.snapshot, resource) else {
                        continue;
                    };
                    let Some(i) = Self::precondition_holds(list, &object) else {
                        self.dropped += 1;
                        continue;
                    };
                    let old = (*list[i]).clone();
                    let mut new = object;
                    new["status"] = old["status"].clone();
                    let spec_changed = old["spec"] != new["spec"]
                        || (resource == "deployments"
                            && old["metadata"]["annotations"] != new["metadata"]["annotations"]);
                    if spec_changed {
                        let g = old["metadata"]["generation"].as_i64().unwrap_or(0);
                        new["metadata"]["generation"] = json!(g + 1);
                    }
                    new["metadata"]["resourceVersion"] = json!(rv);
                    list[i] = Arc::new(new);
                }
                Action::UpdateStatus { resource, object } => {
                    let rv = self.next_rv();
                    let Some(list) = resource_list(&mut self.snapshot, resource) else {
                        continue;
                    };
                    let Some(i) = Self::precondition_holds(list, &object) else {
                        self.dropped += 1;
                        continue;
                    };
                    let stored = Arc::make_mut(&mut list[i]);
                    stored["status"] = object["status"].clone();
                    if resource == "deployments" {
                        stored["metadata"]["annotations"] = object["metadata"]["annotations"].clone();
                    }
                    stored["metadata"]["resourceVersion"] = json!(rv);
                }
                Action::Delete {
                    resource,
                    namespace: ns,
                    name: n,
                } => {
                    let now = format_time(self.now);
                    let rv = self.next_rv();
                    let Some(list) = resource_list(&mut self.snapshot, resource) else {
                        continue;
                    };
                    let Some(i) = position(list, &ns, &n) else { continue };
                    if resource == "pods" {
                        let pod = Arc::make_mut(&mut list[i]);
                        if pod["metadata"].get("deletionTimestamp").is_none() {
                            let grace = pod["spec"]["terminationGracePeriodSeconds"].as_i64().unwrap_or(30);
                            pod["metadata"]["deletionTimestamp"] = json!(now);
                            pod["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
                            pod["metadata"]["resourceVersion"] = json!(rv);
                        }
                    } else {
                        list.remove(i);
                    }
                }
                Action::Remove {
                    resource,
                    namespace: ns,
                    name: n,
                } => {
                    let Some(list) = resource_list(&mut self.snapshot, resource) else {
                        continue;
                    };
                    if let Some(i) = position(list, &ns, &n) {
                        list.remove(i);
                    }
                }
            }
        }
    }

    /// One tick at `now` (time does not move on by itself).
    pub fn tick_at(&mut self, now: DateTime<Utc>) -> Vec<Action> {
        self.now = now;
        let actions = self.controllers.tick(&self.snapshot, now);
        self.apply(actions.clone());
        actions
    }

    /// One tick at the current time, then time moves on by the profile's tick.
    pub fn tick(&mut self) -> Vec<Action> {
        let actions = self.controllers.tick(&self.snapshot, self.now);
        self.apply(actions.clone());
        self.now = add(self.now, self.profile.tick);
        actions
    }

    /// Ticks until `done` holds (checked after each tick) or `max` ticks have run; returns the
    /// number of ticks, or `None` when `done` never held.
    pub fn run_until(&mut self, max: usize, mut done: impl FnMut(&Store) -> bool) -> Option<usize> {
        for n in 1..=max {
            self.tick();
            if done(self) {
                return Some(n);
            }
        }
        None
    }

    pub fn deployment(&self, n: &str) -> &Value {
        self.snapshot
            .deployments
            .iter()
            .map(|d| d.as_ref())
            .find(|d| name(d) == n)
            .unwrap_or(&Value::Null)
    }

    /// ReplicaSets sorted by revision.
    pub fn replicasets(&self) -> Vec<&Value> {
        let mut v: Vec<&Value> = self.snapshot.replicasets.iter().map(|rs| rs.as_ref()).collect();
        v.sort_by_key(|rs| revision(rs));
        v
    }

    pub fn live_pods(&self) -> Vec<&Value> {
        self.snapshot
            .pods
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| p["metadata"].get("deletionTimestamp").is_none())
            .collect()
    }

    pub fn seen(&self, n: &str) -> Seen {
        let d = self.deployment(n);
        let i = |v: &Value| v.as_i64().unwrap_or(0);
        let progressing = d["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"))
            .and_then(|c| c["reason"].as_str())
            .unwrap_or("")
            .to_owned();
        Seen {
            generation: i(&d["metadata"]["generation"]),
            observed: i(&d["status"]["observedGeneration"]),
            replicas: i(&d["status"]["replicas"]),
            updated: i(&d["status"]["updatedReplicas"]),
            ready: i(&d["status"]["readyReplicas"]),
            available: i(&d["status"]["availableReplicas"]),
            progressing,
        }
    }

    /// Messages of the ScalingReplicaSet events, in order.
    pub fn scaling_events(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["reason"] == "ScalingReplicaSet")
            .filter_map(|e| e["message"].as_str().map(str::to_owned))
            .collect()
    }

    /// Whether the Deployment's rollout is complete by kubectl's rule.
    pub fn rolled_out(&self, n: &str) -> bool {
        rollout_status(self.deployment(n)) == format!("deployment \"{n}\" successfully rolled out")
    }
}

pub(super) fn revision(rs: &Value) -> i64 {
    rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// `kubectl rollout status` (1.32) for one observed Deployment (spec §7.4).
pub(super) fn rollout_status(d: &Value) -> String {
    let i = |v: &Value| v.as_i64().unwrap_or(0);
    let n = d["metadata"]["name"].as_str().unwrap_or("");
    if i(&d["metadata"]["generation"]) > i(&d["status"]["observedGeneration"]) {
        return "Waiting for deployment spec update to be observed...".to_owned();
    }
    let s = &d["status"];
    let reason = s["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"))
        .and_then(|c| c["reason"].as_str());
    if reason == Some("ProgressDeadlineExceeded") {
        return format!("error: deployment \"{n}\" exceeded its progress deadline");
    }
    let desired = i(&d["spec"]["replicas"]);
    let (replicas, updated, available) = (i(&s["replicas"]), i(&s["updatedReplicas"]), i(&s["availableReplicas"]));
    if updated < desired {
        format!(
            "Waiting for deployment \"{n}\" rollout to finish: {updated} out of {desired} new replicas have been updated..."
        )
    } else if replicas > updated {
        format!(
            "Waiting for deployment \"{n}\" rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        )
    } else if available < updated {
        format!(
            "Waiting for deployment \"{n}\" rollout to finish: {available} of {updated} updated replicas are available..."
        )
    } else {
        format!("deployment \"{n}\" successfully rolled out")
    }
}
