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
//! # Quiet ticks
//! After each tick, [`Controllers::next_pass`] tells whether another tick over the same
//! objects could do anything: a tick that wrote nothing and learnt nothing new is repeated
//! identically by every later tick until the objects change or a timer falls due (a pod's
//! next status change, the end of a grace period, `minReadySeconds`, a progress deadline,
//! forgetting a created pod). A caller may skip ticks until then.
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
use super::deployment::status::reason;
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

/// When the controllers next need a tick, if the objects do not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextPass {
    /// The last tick wrote or learnt something: tick again.
    Now,
    /// Nothing to do before this time.
    At(DateTime<Utc>),
    /// Nothing to do until the objects change.
    OnChange,
}

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
    /// What the last tick leaves for the next one.
    next_pass: NextPass,
    /// Pods (by uid) whose stored status was found current, with the resourceVersion it was
    /// checked at and when it next changes: until then, and while the pod stays at that
    /// resourceVersion, the kubelet need not compute its status again. A cache only: it
    /// never changes what a tick does.
    settled_pods: BTreeMap<String, (String, Option<DateTime<Utc>>)>,
    /// Deployments (by uid) whose last pass wrote nothing, with what that pass read and its
    /// progress deadline: while those objects are unchanged and the deadline has not
    /// passed, a pass would write nothing again. A cache, as `settled_pods`.
    settled_deployments: BTreeMap<String, (Inputs, Option<DateTime<Utc>>)>,
    /// The same for ReplicaSets, with when their next pod becomes available.
    settled_replicasets: BTreeMap<String, (Inputs, Option<DateTime<Utc>>)>,
}

/// The objects a pass over one owner read, as (uid, resourceVersion) in reading order.
type Inputs = Vec<(String, String)>;

fn resource_version(object: &Value) -> &str {
    str_at(object, &["metadata", "resourceVersion"]).unwrap_or("")
}

fn inputs<'a>(objects: impl Iterator<Item = &'a Value>) -> Inputs {
    objects
        .map(|o| (uid(o).to_owned(), resource_version(o).to_owned()))
        .collect()
}

/// Whether `objects` are exactly the objects recorded in `recorded`, unchanged.
fn same_inputs<'a>(recorded: &[(String, String)], objects: impl Iterator<Item = &'a Value>) -> bool {
    let mut seen = 0;
    for object in objects {
        match recorded.get(seen) {
            Some((u, rv)) if u.as_str() == uid(object) && rv.as_str() == resource_version(object) => seen += 1,
            _ => return false,
        }
    }
    seen == recorded.len()
}

/// Whether a cached quiet pass may stand in for a pass at `now`.
fn still_quiet(entry: Option<&(Inputs, Option<DateTime<Utc>>)>, now: DateTime<Utc>) -> Option<&Inputs> {
    entry
        .filter(|(_, due)| due.is_none_or(|t| now < t))
        .map(|(recorded, _)| recorded)
}

/// The earlier of two optional times.
fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The first moment strictly after `t`, for conditions written as `t < now`.
fn just_after(t: DateTime<Utc>) -> DateTime<Utc> {
    t.checked_add_signed(chrono::Duration::nanoseconds(1)).unwrap_or(t)
}

/// When a Deployment's progress deadline passes (`DeploymentTimedOut` turns true), if its
/// rollout is still being timed.
fn progress_deadline(d: &Value) -> Option<DateTime<Utc>> {
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

/// When the next ready pod of a ReplicaSet with `minReadySeconds` becomes available.
fn next_available(rs: &Value, pods: &[&Value], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let min_ready = i64_at(rs, &["spec", "minReadySeconds"]).unwrap_or(0);
    if min_ready == 0 {
        return None;
    }
    pods.iter()
        .filter(|p| replicaset::is_active(p) && kubelet::is_ready(p))
        .filter_map(|p| kubelet::ready_since(p))
        .filter_map(|t| t.checked_add_signed(chrono::Duration::seconds(min_ready)))
        .filter(|t| *t >= now)
        .map(just_after)
        .min()
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
            next_pass: NextPass::Now,
            settled_pods: BTreeMap::new(),
            settled_deployments: BTreeMap::new(),
            settled_replicasets: BTreeMap::new(),
        }
    }

    /// When the next tick is needed if the objects stay as the last tick saw them: a tick
    /// before then would write nothing and change nothing (see "Quiet ticks" above).
    pub fn next_pass(&self) -> NextPass {
        self.next_pass
    }

    /// The image behaviour rules, for reading.
    pub fn rules(&self) -> &ImageRules {
        &self.rules
    }

    /// The image behaviour rules, to change at runtime (`PUT /_sim/images/...`).
    pub fn rules_mut(&mut self) -> &mut ImageRules {
        // Pod statuses follow the rules: every object must be looked at again.
        self.settled_pods.clear();
        self.settled_deployments.clear();
        self.settled_replicasets.clear();
        &mut self.rules
    }

    /// The timing profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// One controller pass: at most one logical step per object (spec §7), returning the
    /// writes to make, in order.
    pub fn tick(&mut self, snapshot: &Snapshot, now: DateTime<Utc>) -> Vec<Action> {
        let mut learnt = false;
        let mut due = None;
        let out = self.pass(snapshot, now, &mut learnt, &mut due);
        self.next_pass = if learnt || !out.is_empty() {
            NextPass::Now
        } else {
            due.map_or(NextPass::OnChange, NextPass::At)
        };
        out
    }

    /// One tick; sets `learnt` when the remembered state changed and lowers `due` to the
    /// earliest timer it sees.
    fn pass(
        &mut self,
        snapshot: &Snapshot,
        now: DateTime<Utc>,
        learnt: &mut bool,
        due: &mut Option<DateTime<Utc>>,
    ) -> Vec<Action> {
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
            *due = earliest(*due, progress_deadline(d));
            let actions = self.sync_deployment(d, &index, now, &mut claimed, learnt);
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
            *due = earliest(*due, next_available(rs, index.pods_of(uid(rs)), now));
            if collected.contains(&(namespace(rs).to_owned(), name(rs).to_owned())) {
                continue;
            }
            let orphans = index.orphan_pods(namespace(rs));
            let pods = index.pods_of(uid(rs));
            let read = || std::iter::once(*rs).chain(pods.iter().copied());
            let write_status = !rs_spec_written.contains(&(namespace(rs).to_owned(), name(rs).to_owned()));
            // With no orphan to adopt, a ReplicaSet whose last pass wrote nothing and whose
            // pods are unchanged writes nothing again (the pods it creates or deletes and
            // its status follow from them), until one of its pods becomes available.
            let cacheable = orphans.is_empty() && write_status;
            if cacheable
                && still_quiet(self.settled_replicasets.get(uid(rs)), now).is_some_and(|r| same_inputs(r, read()))
            {
                continue;
            }
            let adoptions = adoption::adopt(rs, "ReplicaSet", orphans, "pods", &mut claimed);
            if !adoptions.is_empty() {
                out.extend(adoptions);
                continue;
            }
            let mut cx = replicaset::Context {
                rng: &mut self.rng,
                now,
                pod_names: &mut pod_names,
                created_pods: &mut self.created_pods,
                pod_start: &self.pod_start,
            };
            let actions = replicaset::sync(rs, pods, &mut cx, write_status);
            if cacheable && actions.is_empty() {
                let next = next_available(rs, pods, now);
                self.settled_replicasets
                    .insert(uid(rs).to_owned(), (inputs(read()), next));
            } else {
                self.settled_replicasets.remove(uid(rs));
            }
            out.extend(actions);
        }

        out.extend(self.kubelet(&index, now, learnt, due));
        self.forget_vanished(&index, now, learnt);
        let forget = self
            .created_pods
            .values()
            .filter_map(|at| at.checked_add_signed(CREATED_POD_MEMORY))
            .min();
        *due = earliest(*due, forget);
        out
    }

    fn sync_deployment(
        &mut self,
        obj: &Value,
        index: &Index<'_>,
        now: DateTime<Utc>,
        claimed: &mut BTreeSet<String>,
        learnt: &mut bool,
    ) -> Vec<Action> {
        let generation = i64_at(obj, &["metadata", "generation"]).unwrap_or(0);
        let observed = i64_at(obj, &["status", "observedGeneration"]).unwrap_or(0);
        let first_sight = self.seen_generation.get(uid(obj)) != Some(&generation);
        if first_sight {
            self.seen_generation.insert(uid(obj).to_owned(), generation);
            *learnt = true;
        }
        if generation > observed && first_sight {
            return Vec::new();
        }
        let orphans = index.orphan_replicasets(namespace(obj));
        let owned = index.replicasets_of(uid(obj));
        let read = || {
            std::iter::once(obj)
                .chain(owned.iter().copied())
                .chain(owned.iter().flat_map(|rs| index.pods_of(uid(rs)).iter().copied()))
        };
        // With no orphan to adopt, a Deployment whose last pass wrote nothing and whose
        // ReplicaSets and pods are unchanged writes nothing again, until its progress
        // deadline passes.
        if orphans.is_empty()
            && still_quiet(self.settled_deployments.get(uid(obj)), now).is_some_and(|r| same_inputs(r, read()))
        {
            return Vec::new();
        }
        let adoptions = adoption::adopt(obj, "Deployment", orphans, "replicasets", claimed);
        if !adoptions.is_empty() {
            self.settled_deployments.remove(uid(obj));
            return adoptions;
        }
        let d = Deployment::parse(obj);
        let rss: Vec<ReplicaSet<'_>> = owned.iter().map(|rs| ReplicaSet::parse(rs)).collect();
        let pods: Vec<(&str, &Value)> = owned
            .iter()
            .flat_map(|rs| index.pods_of(uid(rs)).iter().map(move |p| (uid(rs), *p)))
            .collect();
        let ns = d.namespace;
        let mut work = Work::new(d, rss, pods, now);
        work.run(&|candidate: &str| index.replicaset_exists(ns, candidate));
        let actions = work.finish(&mut self.rng);
        if actions.is_empty() && orphans.is_empty() {
            self.settled_deployments
                .insert(uid(obj).to_owned(), (inputs(read()), progress_deadline(obj)));
        } else {
            self.settled_deployments.remove(uid(obj));
        }
        actions
    }

    /// The simulated kubelet: pod statuses, and removal of terminating pods after their
    /// grace period.
    fn kubelet(
        &mut self,
        index: &Index<'_>,
        now: DateTime<Utc>,
        learnt: &mut bool,
        due: &mut Option<DateTime<Utc>>,
    ) -> Vec<Action> {
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
                let since = match self.terminating_since.get(&pod_uid) {
                    Some(since) => *since,
                    None => {
                        self.terminating_since.insert(pod_uid, now);
                        *learnt = true;
                        now
                    }
                };
                let grace = i64_at(pod, &["metadata", "deletionGracePeriodSeconds"])
                    .or_else(|| i64_at(pod, &["spec", "terminationGracePeriodSeconds"]))
                    .unwrap_or(30)
                    .max(0);
                let grace = std::time::Duration::from_secs(grace as u64).min(self.profile.max_grace);
                let gone = add(since, grace);
                if now >= gone {
                    out.push(Action::Remove {
                        resource: "pods",
                        namespace: namespace(pod).to_owned(),
                        name: name(pod).to_owned(),
                    });
                } else {
                    *due = earliest(*due, Some(gone));
                }
                continue;
            }
            if matches!(kubelet::phase(pod), "Succeeded" | "Failed") {
                continue;
            }
            let pod_rv = str_at(pod, &["metadata", "resourceVersion"]).unwrap_or("");
            if let Some((settled_rv, next)) = self.settled_pods.get(&pod_uid)
                && settled_rv.as_str() == pod_rv
                && next.is_none_or(|t| now < t)
            {
                *due = earliest(*due, *next);
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
                    *learnt = true;
                    t
                }
            };
            let next = kubelet::next_status_change(pod, start, now, &self.rules, &self.profile);
            *due = earliest(*due, next);
            let has_ip = str_at(pod, &["status", "podIP"]).is_some();
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
                self.settled_pods.remove(&pod_uid);
                let mut object = (*pod).clone();
                object["status"] = status;
                out.push(Action::UpdateStatus {
                    resource: "pods",
                    object,
                });
            } else if has_ip {
                // The status depends on the pod, its start, the time, the rules and its IP
                // (a pod without one is given a free one, which depends on the other pods).
                self.settled_pods.insert(pod_uid, (pod_rv.to_owned(), next));
            }
        }
        out
    }

    /// Drops what is remembered about objects that no longer exist.
    fn forget_vanished(&mut self, index: &Index<'_>, now: DateTime<Utc>, learnt: &mut bool) {
        let before = self.remembered();
        let deployments: BTreeSet<&str> = index.deployments.iter().map(|d| uid(d)).collect();
        self.seen_generation.retain(|u, _| deployments.contains(u.as_str()));
        let pods: BTreeSet<&str> = index.pods.iter().map(|p| uid(p)).collect();
        self.pod_start.retain(|u, _| pods.contains(u.as_str()));
        self.terminating_since.retain(|u, _| pods.contains(u.as_str()));
        self.created_pods.retain(|_, at| now - *at < CREATED_POD_MEMORY);
        if self.remembered() != before {
            *learnt = true;
        }
        self.settled_pods.retain(|u, _| pods.contains(u.as_str()));
        self.settled_deployments.retain(|u, _| deployments.contains(u.as_str()));
        let replicasets: BTreeSet<&str> = index.replicasets.iter().map(|rs| uid(rs)).collect();
        self.settled_replicasets.retain(|u, _| replicasets.contains(u.as_str()));
    }

    /// How many entries each memory holds (they only shrink in `forget_vanished`).
    fn remembered(&self) -> [usize; 4] {
        [
            self.seen_generation.len(),
            self.pod_start.len(),
            self.terminating_since.len(),
            self.created_pods.len(),
        ]
    }
}
