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

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::adoption;
use super::deployment::view::{Deployment, ReplicaSet};
use super::deployment::work::Work;
use super::fasthash::FastSet;
use super::gc;
use super::index::Index;
use super::json::{add, get, i64_at, name, namespace, parse_time, pruned, str_at};
use super::kubelet::{self, pod_ip};
use super::meta::{Cache, Object, just_after};
use super::model::{Action, Snapshot};
use super::replicaset::{self, PodNames};
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
    /// The facts read from the objects of the last snapshot, kept while the objects are
    /// unchanged. A cache, as `settled_pods`.
    objects: Cache,
}

/// The objects a pass over one owner read, as (uid, resourceVersion) in reading order.
type Inputs = Vec<(String, String)>;

fn inputs<'a>(objects: impl Iterator<Item = &'a Object>) -> Inputs {
    objects
        .map(|o| (o.meta.uid.clone(), o.meta.resource_version.clone()))
        .collect()
}

/// Whether `objects` are exactly the objects recorded in `recorded`, unchanged.
fn same_inputs<'a>(recorded: &[(String, String)], objects: impl Iterator<Item = &'a Object>) -> bool {
    let mut seen = 0;
    for object in objects {
        match recorded.get(seen) {
            Some((u, rv)) if *u == object.meta.uid && *rv == object.meta.resource_version => seen += 1,
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

/// When the next ready pod of a ReplicaSet with `minReadySeconds` becomes available.
fn next_available(rs: &Object, pods: &[&Object], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let min_ready = rs.meta.min_ready_seconds;
    if min_ready == 0 {
        return None;
    }
    pods.iter()
        .filter_map(|p| p.meta.ready_since)
        .filter_map(|t| t.checked_add_signed(chrono::Duration::seconds(min_ready)))
        .filter(|t| *t >= now)
        .map(just_after)
        .min()
}

/// The uids of `objects`.
fn uids<'a>(objects: &[&'a Object]) -> FastSet<&'a str> {
    objects.iter().map(|o| o.meta.uid.as_str()).collect()
}

/// The first IP address no pod uses, searching from the `next`th address on (the addresses
/// before it are known to be used), and the position after it.
fn free_ip(used: &BTreeSet<Cow<'_, str>>, next: usize) -> Option<(String, usize)> {
    (next..)
        .map(|n| (pod_ip(n), n))
        .find(|(ip, _)| !used.contains(ip.as_str()))
        .map(|(ip, n)| (ip, n + 1))
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
            objects: Cache::default(),
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
        // Pod statuses follow the rules: every object must be looked at again. (The facts
        // read from the objects do not depend on the rules.)
        self.settled_pods.clear();
        self.settled_deployments.clear();
        self.settled_replicasets.clear();
        &mut self.rules
    }

    /// Forgets every cache (the quiet objects and the facts read from the objects): the
    /// next pass reads everything again and must do exactly what it would have done.
    #[cfg(test)]
    pub(crate) fn forget_caches(&mut self) {
        self.settled_pods.clear();
        self.settled_deployments.clear();
        self.settled_replicasets.clear();
        self.objects = Cache::default();
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
        let current = self.objects.refresh(snapshot);
        let index = Index::new(&current);
        let mut out = gc::collect(&index);
        // ReplicaSets the collector deletes now get no pods created for them.
        let collected: BTreeSet<(&str, &str)> = out
            .iter()
            .filter_map(|a| match a {
                Action::Delete {
                    resource: "replicasets",
                    namespace,
                    name,
                } => index.replicaset_named(namespace, name),
                _ => None,
            })
            .map(|rs| (rs.meta.namespace.as_str(), rs.meta.name.as_str()))
            .collect();

        // ReplicaSets whose spec the Deployment controller updates in this pass.
        let mut rs_spec_written: BTreeSet<(&str, &str)> = BTreeSet::new();
        let mut claimed = BTreeSet::new();
        for d in &index.deployments {
            *due = earliest(*due, d.meta.progress_deadline);
            let actions = self.sync_deployment(d, &index, now, &mut claimed, learnt);
            for a in &actions {
                if let Action::Update {
                    resource: "replicasets",
                    object,
                } = a
                    && let Some(rs) = index.replicaset_named(namespace(object), name(object))
                {
                    rs_spec_written.insert((rs.meta.namespace.as_str(), rs.meta.name.as_str()));
                }
            }
            out.extend(actions);
        }

        let mut pod_names = PodNames::new(&index);
        let mut claimed = BTreeSet::new();
        for rs in &index.replicasets {
            let meta = &rs.meta;
            let pods = index.pods_of(&meta.uid);
            *due = earliest(*due, next_available(rs, pods, now));
            let key = (meta.namespace.as_str(), meta.name.as_str());
            if collected.contains(&key) {
                continue;
            }
            let orphans = index.orphan_pods(&meta.namespace);
            let read = || std::iter::once(*rs).chain(pods.iter().copied());
            let write_status = !rs_spec_written.contains(&key);
            // With no orphan to adopt, a ReplicaSet whose last pass wrote nothing and whose
            // pods are unchanged writes nothing again (the pods it creates or deletes and
            // its status follow from them), until one of its pods becomes available.
            let cacheable = orphans.is_empty() && write_status;
            if cacheable
                && still_quiet(self.settled_replicasets.get(meta.uid.as_str()), now)
                    .is_some_and(|r| same_inputs(r, read()))
            {
                continue;
            }
            let adoptions = adoption::adopt(rs, "ReplicaSet", orphans, "pods", &mut claimed);
            if !adoptions.is_empty() {
                out.extend(adoptions);
                continue;
            }
            let pod_values: Vec<&Value> = pods.iter().map(|p| p.value()).collect();
            let mut cx = replicaset::Context {
                rng: &mut self.rng,
                now,
                pod_names: &mut pod_names,
                created_pods: &mut self.created_pods,
                pod_start: &self.pod_start,
            };
            let actions = replicaset::sync(rs.value(), &pod_values, &mut cx, write_status);
            if cacheable && actions.is_empty() {
                let next = next_available(rs, pods, now);
                self.settled_replicasets
                    .insert(meta.uid.clone(), (inputs(read()), next));
            } else {
                self.settled_replicasets.remove(meta.uid.as_str());
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
        obj: &Object,
        index: &Index<'_>,
        now: DateTime<Utc>,
        claimed: &mut BTreeSet<String>,
        learnt: &mut bool,
    ) -> Vec<Action> {
        let meta = &obj.meta;
        let generation = meta.generation;
        let observed = meta.observed_generation;
        let first_sight = self.seen_generation.get(meta.uid.as_str()) != Some(&generation);
        if first_sight {
            self.seen_generation.insert(meta.uid.clone(), generation);
            *learnt = true;
        }
        if generation > observed && first_sight {
            return Vec::new();
        }
        let orphans = index.orphan_replicasets(&meta.namespace);
        let owned = index.replicasets_of(&meta.uid);
        let read = || {
            std::iter::once(obj)
                .chain(owned.iter().copied())
                .chain(owned.iter().flat_map(|rs| index.pods_of(&rs.meta.uid).iter().copied()))
        };
        // With no orphan to adopt, a Deployment whose last pass wrote nothing and whose
        // ReplicaSets and pods are unchanged writes nothing again, until its progress
        // deadline passes.
        if orphans.is_empty()
            && still_quiet(self.settled_deployments.get(meta.uid.as_str()), now).is_some_and(|r| same_inputs(r, read()))
        {
            return Vec::new();
        }
        let adoptions = adoption::adopt(obj, "Deployment", orphans, "replicasets", claimed);
        if !adoptions.is_empty() {
            self.settled_deployments.remove(meta.uid.as_str());
            return adoptions;
        }
        let d = Deployment {
            canonical: meta.template.as_deref(),
            ..Deployment::parse(obj.value())
        };
        let rss: Vec<ReplicaSet<'_>> = owned
            .iter()
            .map(|rs| ReplicaSet {
                canonical: rs.meta.template.as_deref(),
                ..ReplicaSet::parse(rs.value())
            })
            .collect();
        let pods: Vec<(&str, &Value)> = owned
            .iter()
            .flat_map(|rs| {
                index
                    .pods_of(&rs.meta.uid)
                    .iter()
                    .map(move |p| (rs.meta.uid.as_str(), p.value()))
            })
            .collect();
        let ns = d.namespace;
        let mut work = Work::new(d, rss, pods, now);
        work.run(&|candidate: &str| index.replicaset_exists(ns, candidate));
        let actions = work.finish(&mut self.rng);
        if actions.is_empty() && orphans.is_empty() {
            self.settled_deployments
                .insert(meta.uid.clone(), (inputs(read()), meta.progress_deadline));
        } else {
            self.settled_deployments.remove(meta.uid.as_str());
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
        // The IPs in use, gathered when a pod first needs a free one; free ones are handed
        // out in order, so the search goes on from the last one given.
        let mut used_ips: Option<BTreeSet<Cow<'_, str>>> = None;
        let mut next_ip = 0;
        for pod in &index.pods {
            let meta = &pod.meta;
            let pod_uid = meta.uid.as_str();
            if meta.deleting {
                let since = match self.terminating_since.get(pod_uid) {
                    Some(since) => *since,
                    None => {
                        self.terminating_since.insert(pod_uid.to_owned(), now);
                        *learnt = true;
                        now
                    }
                };
                let grace = i64_at(pod.value(), &["metadata", "deletionGracePeriodSeconds"])
                    .or_else(|| i64_at(pod.value(), &["spec", "terminationGracePeriodSeconds"]))
                    .unwrap_or(30)
                    .max(0);
                let grace = std::time::Duration::from_secs(grace as u64).min(self.profile.max_grace);
                let gone = add(since, grace);
                if now >= gone {
                    out.push(Action::Remove {
                        resource: "pods",
                        namespace: meta.namespace.clone(),
                        name: meta.name.clone(),
                    });
                } else {
                    *due = earliest(*due, Some(gone));
                }
                continue;
            }
            if meta.finished {
                continue;
            }
            let pod_rv = meta.resource_version.as_str();
            if let Some((settled_rv, next)) = self.settled_pods.get(pod_uid)
                && settled_rv.as_str() == pod_rv
                && next.is_none_or(|t| now < t)
            {
                *due = earliest(*due, *next);
                continue;
            }
            let start = match self.pod_start.get(pod_uid) {
                Some(t) => *t,
                None => {
                    let key = (meta.namespace.clone(), meta.name.clone());
                    let t = self
                        .created_pods
                        .remove(&key)
                        .or_else(|| str_at(pod.value(), &["status", "startTime"]).and_then(parse_time))
                        .unwrap_or(now);
                    self.pod_start.insert(pod_uid.to_owned(), t);
                    *learnt = true;
                    t
                }
            };
            let next = kubelet::next_status_change(pod.value(), start, now, &self.rules, &self.profile);
            *due = earliest(*due, next);
            let has_ip = meta.pod_ip.is_some();
            let ip: Cow<'_, str> = match &meta.pod_ip {
                Some(ip) => Cow::Borrowed(ip.as_str()),
                None => {
                    let used = used_ips.get_or_insert_with(|| {
                        index
                            .pods
                            .iter()
                            .filter_map(|p| p.meta.pod_ip.as_deref())
                            .map(Cow::Borrowed)
                            .collect()
                    });
                    let ip = match free_ip(used, next_ip) {
                        Some((ip, after)) => {
                            next_ip = after;
                            ip
                        }
                        None => String::new(),
                    };
                    used.insert(Cow::Owned(ip.clone()));
                    Cow::Owned(ip)
                }
            };
            let status = kubelet::pod_status(pod.value(), start, now, &self.rules, &self.profile, &ip);
            if pruned(&status) != get(pod.value(), &["status"]).and_then(pruned) {
                self.settled_pods.remove(pod_uid);
                let mut object = pod.value().clone();
                object["status"] = status;
                out.push(Action::UpdateStatus {
                    resource: "pods",
                    object,
                });
            } else if has_ip {
                // The status depends on the pod, its start, the time, the rules and its IP
                // (a pod without one is given a free one, which depends on the other pods).
                self.settled_pods.insert(pod_uid.to_owned(), (pod_rv.to_owned(), next));
            }
        }
        out
    }

    /// Drops what is remembered about objects that no longer exist.
    fn forget_vanished(&mut self, index: &Index<'_>, now: DateTime<Utc>, learnt: &mut bool) {
        let before = self.remembered();
        let deployments = uids(&index.deployments);
        self.seen_generation.retain(|u, _| deployments.contains(u.as_str()));
        let pods = uids(&index.pods);
        self.pod_start.retain(|u, _| pods.contains(u.as_str()));
        self.terminating_since.retain(|u, _| pods.contains(u.as_str()));
        self.created_pods.retain(|_, at| now - *at < CREATED_POD_MEMORY);
        if self.remembered() != before {
            *learnt = true;
        }
        self.settled_pods.retain(|u, _| pods.contains(u.as_str()));
        self.settled_deployments.retain(|u, _| deployments.contains(u.as_str()));
        let replicasets = uids(&index.replicasets);
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
