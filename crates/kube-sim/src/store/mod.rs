//! The in-memory object store: objects keyed by (resource, namespace, name), one global
//! resourceVersion counter, a bounded watch history, and the single write path every change
//! goes through (defaulting, validation, managed fields, no-op detection, events).
//!
//! The store is synchronous: each operation takes the state lock, does its work and releases
//! it. A write to an existing object does its costly part (patching, defaulting, validation,
//! managed fields) between two short lock sections, and persists only if the object did not
//! change in between (see `write`), so requests and the controller loop do not queue behind
//! one another's work. Objects are indexed by resource type (see [`objects`]), so reading one type never scans
//! the others. Watchers learn about new changes through `tokio::sync::watch` channels carrying
//! the newest resourceVersion, one per resource type and one per (resource type, namespace)
//! that someone watches, published after the state lock is released; they then read the
//! changes they have not seen from the history, which has its own lock so that watchers never
//! wait on writers. A write therefore wakes only the watchers of what it changed: the
//! controllers' Pod and ReplicaSet writes do not wake the Deployment watchers, and a change in
//! one namespace does not wake the watchers of another.

mod error;
mod fields;
mod history;
mod lifecycle;
mod list;
mod objects;
mod options;
mod resources;
mod scale;
mod selector;
mod status;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

use parking_lot::{FairMutex, FairMutexGuard};

use serde_json::Value;
use tokio::sync::watch;

use crate::clock::SimClock;
use crate::rng::SimRng;

pub use error::StoreError;
pub use fields::timestamp;
pub use history::{Change, EventType};
pub use list::{ListOptions, ListPage, ResourceVersionMatch};
pub use options::{
    DeleteOptions, DeleteOutcome, FieldValidation, PatchKind, PropagationPolicy, WriteOptions, WriteOutcome,
};
pub use resources::{RESOURCES, ResourceType, SUBRESOURCE_VERBS, Subresource, VERBS};
pub use selector::{FieldSelector, LabelSelector, SelectorError};
pub use status::ApiStatus;

/// How many changes the watch history keeps by default. The history is shared by every
/// resource type, so it is larger than kube-apiserver's per-type watch cache: a watcher of
/// Deployments should not expire merely because Pods and Events churned.
pub const DEFAULT_HISTORY: usize = 10_000;

/// The manager name the simulated controllers write with.
pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";

/// The namespaces every new store starts with.
pub const SEED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    resource: &'static str,
    namespace: String,
    name: String,
}

impl Key {
    pub(crate) fn new(resource: &ResourceType, namespace: &str, name: &str) -> Self {
        Self {
            resource: resource.plural,
            namespace: if resource.namespaced {
                namespace.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
}

pub(crate) struct State {
    objects: objects::Objects,
    rv: u64,
    rng: SimRng,
}

/// The object store shared by the HTTP handlers and the controller loop.
pub struct Store {
    /// A fair lock: the controller loop writes objects one after another in bursts, and a
    /// request handler waiting for the state gets it before the loop takes it again.
    state: FairMutex<State>,
    /// The watch history. Lock order: `state`, then `history`.
    history: Mutex<history::History>,
    clock: SimClock,
    /// The wake-up channels, created by the first watcher of each key.
    wakes: Mutex<HashMap<WakeKey, watch::Sender<u64>>>,
}

/// What a watcher waits on: every change to one resource type (`namespace` empty), or the
/// changes to that type in one namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct WakeKey {
    resource: &'static str,
    namespace: String,
}

/// The locked store state. Releasing it first unlocks the state, then announces the newest
/// change recorded under it to the watchers, so that waking them never holds the lock.
pub(crate) struct StateGuard<'a> {
    // Fields drop in declaration order: the lock is released before the announcement.
    guard: FairMutexGuard<'a, State>,
    announce: Announce<'a>,
}

/// Announces the changes recorded under the lock to their watchers when dropped.
struct Announce<'a> {
    store: &'a Store,
    /// The newest resourceVersion per resource type and namespace changed (namespace empty
    /// for cluster-scoped objects); a write touches one or a few, so a list beats a map.
    touched: Vec<(WakeKey, u64)>,
    /// Changes the history let go of under the lock, freed after it is released (freeing an
    /// object is a walk over all of it).
    dropped: Vec<Change>,
}

impl Announce<'_> {
    fn touch(&mut self, resource: &'static str, namespace: &str, rv: u64) {
        match self
            .touched
            .iter_mut()
            .find(|(key, _)| key.resource == resource && key.namespace == namespace)
        {
            Some((_, newest)) => *newest = (*newest).max(rv),
            None => self.touched.push((
                WakeKey {
                    resource,
                    namespace: namespace.to_string(),
                },
                rv,
            )),
        }
    }
}

impl Drop for Announce<'_> {
    fn drop(&mut self) {
        if !self.touched.is_empty() {
            self.store.publish(&self.touched);
        }
    }
}

impl Deref for StateGuard<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.guard
    }
}

impl DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// A store holding the seed namespaces, reading time from `clock` and drawing uids from a
    /// generator seeded with `seed`.
    pub fn new(clock: SimClock, seed: u64, history_limit: usize) -> Self {
        let store = Self {
            state: FairMutex::new(State {
                objects: objects::Objects::default(),
                rv: 0,
                rng: SimRng::new(seed),
            }),
            history: Mutex::new(history::History::new(history_limit)),
            clock,
            wakes: Mutex::new(HashMap::new()),
        };
        store.seed_namespaces();
        store
    }

    pub(crate) fn lock(&self) -> StateGuard<'_> {
        // A poisoned lock only means a panic happened while it was held; the state itself
        // is always left consistent by the write path, so keep serving.
        StateGuard {
            guard: self.state.lock(),
            announce: Announce {
                store: self,
                touched: Vec::new(),
                dropped: Vec::new(),
            },
        }
    }

    fn history(&self) -> MutexGuard<'_, history::History> {
        self.history.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The clock this store stamps objects with.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// The newest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// A receiver that changes whenever a change to an object of `resource` is persisted (in
    /// `namespace`, when given and the resource is namespaced). Changes to other objects do
    /// not wake it.
    pub fn subscribe(&self, resource: &ResourceType, namespace: Option<&str>) -> watch::Receiver<u64> {
        let key = WakeKey {
            resource: resource.plural,
            namespace: namespace
                .filter(|_| resource.namespaced)
                .unwrap_or_default()
                .to_string(),
        };
        let mut wakes = self.wakes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        wakes.entry(key).or_insert_with(|| watch::channel(0).0).subscribe()
    }

    /// Reads one object.
    pub fn get(&self, resource: &'static ResourceType, namespace: &str, name: &str) -> Result<Value, StoreError> {
        let state = self.lock();
        state
            .objects
            .get(&Key::new(resource, namespace, name))
            .map(|o| (**o).clone())
            .ok_or_else(|| StoreError::NotFound {
                resource,
                name: name.to_string(),
            })
    }

    /// Every object of a resource (in `namespace`, or all when `None`), in namespace/name
    /// order, with the current rv.
    pub fn all(&self, resource: &'static ResourceType, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let state = self.lock();
        let items = match namespace.filter(|_| resource.namespaced) {
            Some(ns) => state
                .objects
                .in_namespace(resource.plural, ns)
                .map(|(_, v)| Arc::clone(v))
                .collect(),
            None if namespace.is_some() => Vec::new(),
            None => {
                let mut items = Vec::with_capacity(state.objects.count(resource.plural));
                items.extend(state.objects.of(resource.plural).map(|(_, v)| Arc::clone(v)));
                items
            }
        };
        (items, state.rv)
    }

    /// The changes after `rv`, or a 410 Expired error when some were compacted away.
    pub fn changes_since(&self, rv: u64) -> Result<Vec<Change>, StoreError> {
        let history = self.history();
        history
            .since(rv)
            .ok_or_else(|| StoreError::Expired(format!("too old resource version: {rv} ({})", history.floor())))
    }

    /// The changes after `rv` to objects of `resource` (in `namespace`, when given), and the
    /// resourceVersion of the newest change after `rv` of any kind (`None` when there is
    /// none), or a 410 Expired error when some changes after `rv` were compacted away.
    pub fn changes_of_since(
        &self,
        rv: u64,
        resource: &ResourceType,
        namespace: Option<&str>,
    ) -> Result<(Vec<Change>, Option<u64>), StoreError> {
        let history = self.history();
        let namespace = namespace.filter(|_| resource.namespaced);
        history.since_of(rv, resource.plural, namespace).ok_or_else(|| {
            StoreError::Expired(format!(
                "too old resource version: {rv} ({})",
                history.floor_of(resource.plural, namespace)
            ))
        })
    }

    /// Drops the whole watch history; returns the compaction point.
    pub fn compact(&self) -> u64 {
        let state = self.lock();
        let rv = state.rv;
        self.history().compact(rv);
        rv
    }

    /// The oldest resourceVersion a watch may still start from.
    pub fn history_floor(&self) -> u64 {
        self.history().floor()
    }

    /// Every stored object, grouped by resource, for the state dump.
    pub fn dump(&self) -> BTreeMap<&'static str, Vec<Value>> {
        let state = self.lock();
        let mut out: BTreeMap<&'static str, Vec<Value>> = BTreeMap::new();
        for (k, v) in state.objects.iter() {
            out.entry(k.resource).or_default().push((**v).clone());
        }
        out
    }

    /// The Deployments, ReplicaSets and Pods of every namespace, as the controllers see them.
    pub fn snapshot(&self) -> crate::controllers::Snapshot {
        self.snapshot_with_rv().0
    }

    /// [`Store::snapshot`] and the resourceVersion it was taken at. The objects are shared
    /// with the store, not copied.
    pub fn snapshot_with_rv(&self) -> (crate::controllers::Snapshot, u64) {
        let state = self.lock();
        let pick = |plural: &str| -> Vec<Arc<Value>> {
            let mut items = Vec::with_capacity(state.objects.count(plural));
            items.extend(state.objects.of(plural).map(|(_, v)| Arc::clone(v)));
            items
        };
        let snapshot = crate::controllers::Snapshot {
            deployments: pick("deployments"),
            replicasets: pick("replicasets"),
            pods: pick("pods"),
        };
        (snapshot, state.rv)
    }

    /// Announces the newest changes to the watchers of their resource type and of their
    /// namespace; never moves an announced version backwards.
    fn publish(&self, touched: &[(WakeKey, u64)]) {
        let wakes = self.wakes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let announce = |key: &WakeKey, rv: u64| {
            if let Some(sender) = wakes.get(key) {
                sender.send_if_modified(|latest| {
                    let newer = rv > *latest;
                    if newer {
                        *latest = rv;
                    }
                    newer
                });
            }
        };
        for (key, rv) in touched {
            announce(key, *rv);
            if !key.namespace.is_empty() {
                let all_namespaces = WakeKey {
                    resource: key.resource,
                    namespace: String::new(),
                };
                announce(&all_namespaces, *rv);
            }
        }
    }
}

impl StateGuard<'_> {
    pub(crate) fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Appends a persisted change to the watch history; watchers hear of it when the state
    /// lock is released.
    pub(crate) fn record(&mut self, change: Change) {
        let namespace = if change.resource.namespaced {
            change
                .object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
        } else {
            ""
        };
        self.announce.touch(change.resource.plural, namespace, change.rv);
        let announce = &mut self.announce;
        announce.store.history().push(change, &mut announce.dropped);
    }
}

#[cfg(test)]
mod tests;
