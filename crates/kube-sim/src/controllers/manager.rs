//! [`Controllers`]: the state kept between ticks and the order in which the controllers run.
//!
//! # Controller lag
//! A Deployment whose `metadata.generation` is above its `status.observedGeneration` is first
//! only *observed*: the tick that sees a generation for the first time records it (per uid)
//! and does nothing else for that Deployment; the next tick acts on it. A spec change is
//! therefore never acted upon in the tick that first sees it, and a watcher always sees
//! `generation > observedGeneration` for at least one tick period (spec §0.5 and §7.3).
//!
//! # Adoption
//! Before its step, a Deployment adopts ReplicaSets without a controller owner that its
//! selector matches, and a ReplicaSet adopts such pods; an adoption is that object's step for
//! the tick.
//!
//! # Order within a tick
//! Garbage collection, then the Deployment controller, then the ReplicaSet controller, then
//! the kubelet. Each works on the same snapshot, so the effect of a write is seen one tick
//! later, as through an informer. A ReplicaSet whose spec the Deployment controller updates
//! in a tick does not get a status write in that tick (it would fail its resourceVersion
//! precondition anyway).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::adoption;
use super::deployment::view::{Deployment, ReplicaSet};
use super::deployment::work::Work;
use super::gc;
use super::index::Index;
use super::json::{add, get, i64_at, is_deleting, name, namespace, parse_time, pruned, str_at, uid};
use super::kubelet::{self, pod_ip};
use super::model::{Action, Snapshot};
use super::replicaset;
use crate::clock::Profile;
use crate::images::ImageRules;
use crate::rng::SimRng;

/// How long a pod this controller created is waited for in the snapshots before it is
/// forgotten (its creation was dropped).
const CREATED_POD_MEMORY: chrono::Duration = chrono::Duration::seconds(60);

/// The simulated kube-controller-manager and kubelet.
#[derive(Debug, Clone)]
pub struct Controllers {
    rng: SimRng,
    rules: ImageRules,
    profile: Profile,
    /// The generation each Deployment (by uid) was last seen with.
    seen_generation: BTreeMap<String, i64>,
    /// The start of each pod (by uid), with sub-second precision.
    pod_start: BTreeMap<String, DateTime<Utc>>,
    /// Pods created by the ReplicaSet controller and not yet seen: (namespace, name) -> when.
    created_pods: BTreeMap<(String, String), DateTime<Utc>>,
    /// When each terminating pod (by uid) was first seen terminating.
    terminating_since: BTreeMap<String, DateTime<Utc>>,
}

impl Controllers {
    /// Controllers whose generated names and uids come from `seed`.
    pub fn new(seed: u64, rules: ImageRules, profile: Profile) -> Self {
        Self {
            rng: SimRng::new(seed),
            rules,
            profile,
            seen_generation: BTreeMap::new(),
            pod_start: BTreeMap::new(),
            created_pods: BTreeMap::new(),
            terminating_since: BTreeMap::new(),
        }
    }

    /// The image behaviour rules, for reading.
    pub fn rules(&self) -> &ImageRules {
        &self.rules
    }

    /// The image behaviour rules, to change at runtime (`PUT /_sim/images/...`).
    pub fn rules_mut(&mut self) -> &mut ImageRules {
        &mut self.rules
    }

    /// The timing profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// One controller pass: at most one logical step per object (spec §7), returning the
    /// writes to make, in order.
    pub fn tick(&mut self, snapshot: &Snapshot, now: DateTime<Utc>) -> Vec<Action> {
        let index = Index::new(snapshot);
        let mut out = gc::collect(&index);
        // ReplicaSets the collector deletes now get no pods created for them.
        let collected: BTreeSet<(String, String)> = out
            .iter()
            .filter_map(|a| match a {
                Action::Delete {
                    resource: "replicasets",
                    namespace,
                    name,
                } => Some((namespace.clone(), name.clone())),
                _ => None,
            })
            .collect();

        let mut rs_spec_written: BTreeSet<(String, String)> = BTreeSet::new();
        let mut claimed = BTreeSet::new();
        for d in &index.deployments {
            let actions = self.sync_deployment(d, &index, now, &mut claimed);
            for a in &actions {
                if let Action::Update {
                    resource: "replicasets",
                    object,
                } = a
                {
                    rs_spec_written.insert((namespace(object).to_owned(), name(object).to_owned()));
                }
            }
            out.extend(actions);
        }

        let mut pod_names: BTreeSet<(String, String)> = index
            .pods
            .iter()
            .map(|p| (namespace(p).to_owned(), name(p).to_owned()))
            .collect();
        let mut claimed = BTreeSet::new();
        for rs in &index.replicasets {
            if collected.contains(&(namespace(rs).to_owned(), name(rs).to_owned())) {
                continue;
            }
            let adoptions = adoption::adopt(rs, "ReplicaSet", &index.pods, "pods", &mut claimed);
            if !adoptions.is_empty() {
                out.extend(adoptions);
                continue;
            }
            let write_status = !rs_spec_written.contains(&(namespace(rs).to_owned(), name(rs).to_owned()));
            let mut cx = replicaset::Context {
                rng: &mut self.rng,
                now,
                pod_names: &mut pod_names,
                created_pods: &mut self.created_pods,
                pod_start: &self.pod_start,
            };
            out.extend(replicaset::sync(rs, index.pods_of(uid(rs)), &mut cx, write_status));
        }

        out.extend(self.kubelet(&index, now));
        self.forget_vanished(&index, now);
        out
    }

    fn sync_deployment(
        &mut self,
        obj: &Value,
        index: &Index<'_>,
        now: DateTime<Utc>,
        claimed: &mut BTreeSet<String>,
    ) -> Vec<Action> {
        let generation = i64_at(obj, &["metadata", "generation"]).unwrap_or(0);
        let observed = i64_at(obj, &["status", "observedGeneration"]).unwrap_or(0);
        let first_sight = self.seen_generation.insert(uid(obj).to_owned(), generation) != Some(generation);
        if generation > observed && first_sight {
            return Vec::new();
        }
        let adoptions = adoption::adopt(obj, "Deployment", &index.replicasets, "replicasets", claimed);
        if !adoptions.is_empty() {
            return adoptions;
        }
        let d = Deployment::parse(obj);
        let owned = index.replicasets_of(d.uid);
        let rss: Vec<ReplicaSet<'_>> = owned.iter().map(|rs| ReplicaSet::parse(rs)).collect();
        let pods: Vec<(&str, &Value)> = owned
            .iter()
            .flat_map(|rs| index.pods_of(uid(rs)).iter().map(move |p| (uid(rs), *p)))
            .collect();
        let ns = d.namespace;
        let mut work = Work::new(d, rss, pods, now);
        work.run(&|candidate: &str| index.replicaset_exists(ns, candidate));
        work.finish(&mut self.rng)
    }

    /// The simulated kubelet: pod statuses, and removal of terminating pods after their
    /// grace period.
    fn kubelet(&mut self, index: &Index<'_>, now: DateTime<Utc>) -> Vec<Action> {
        let mut out = Vec::new();
        let mut used_ips: BTreeSet<String> = index
            .pods
            .iter()
            .filter_map(|p| str_at(p, &["status", "podIP"]))
            .map(str::to_owned)
            .collect();
        for pod in &index.pods {
            let pod_uid = uid(pod).to_owned();
            if is_deleting(pod) {
                let since = *self.terminating_since.entry(pod_uid).or_insert(now);
                let grace = i64_at(pod, &["metadata", "deletionGracePeriodSeconds"])
                    .or_else(|| i64_at(pod, &["spec", "terminationGracePeriodSeconds"]))
                    .unwrap_or(30)
                    .max(0);
                let grace = std::time::Duration::from_secs(grace as u64).min(self.profile.max_grace);
                if now >= add(since, grace) {
                    out.push(Action::Remove {
                        resource: "pods",
                        namespace: namespace(pod).to_owned(),
                        name: name(pod).to_owned(),
                    });
                }
                continue;
            }
            if matches!(kubelet::phase(pod), "Succeeded" | "Failed") {
                continue;
            }
            let key = (namespace(pod).to_owned(), name(pod).to_owned());
            let start = match self.pod_start.get(&pod_uid) {
                Some(t) => *t,
                None => {
                    let t = self
                        .created_pods
                        .remove(&key)
                        .or_else(|| str_at(pod, &["status", "startTime"]).and_then(parse_time))
                        .unwrap_or(now);
                    self.pod_start.insert(pod_uid.clone(), t);
                    t
                }
            };
            let ip = match str_at(pod, &["status", "podIP"]) {
                Some(ip) => ip.to_owned(),
                None => {
                    let ip = (0..).map(pod_ip).find(|ip| !used_ips.contains(ip)).unwrap_or_default();
                    used_ips.insert(ip.clone());
                    ip
                }
            };
            let status = kubelet::pod_status(pod, start, now, &self.rules, &self.profile, &ip);
            if pruned(&status) != get(pod, &["status"]).and_then(pruned) {
                let mut object = (*pod).clone();
                object["status"] = status;
                out.push(Action::UpdateStatus {
                    resource: "pods",
                    object,
                });
            }
        }
        out
    }

    /// Drops what is remembered about objects that no longer exist.
    fn forget_vanished(&mut self, index: &Index<'_>, now: DateTime<Utc>) {
        let deployments: BTreeSet<&str> = index.deployments.iter().map(|d| uid(d)).collect();
        self.seen_generation.retain(|u, _| deployments.contains(u.as_str()));
        let pods: BTreeSet<&str> = index.pods.iter().map(|p| uid(p)).collect();
        self.pod_start.retain(|u, _| pods.contains(u.as_str()));
        self.terminating_since.retain(|u, _| pods.contains(u.as_str()));
        self.created_pods.retain(|_, at| now - *at < CREATED_POD_MEMORY);
    }
}
