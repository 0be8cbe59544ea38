//! The in-memory object store: objects keyed by (resource, namespace, name), one global
//! resourceVersion counter, a bounded watch history, and the single write path every change
//! goes through (defaulting, validation, managed fields, no-op detection, events).
//!
//! The store is synchronous: each operation takes the state lock, does its work and releases
//! it. Watchers learn about new changes through a `tokio::sync::watch` channel carrying the
//! newest resourceVersion, then read the changes they have not seen from the history.

mod error;
mod fields;
mod history;
mod lifecycle;
mod list;
mod options;
mod resources;
mod scale;
mod selector;
mod status;
mod write;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

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
    objects: BTreeMap<Key, Arc<Value>>,
    rv: u64,
    history: history::History,
    rng: SimRng,
}

/// The object store shared by the HTTP handlers and the controller loop.
pub struct Store {
    state: Mutex<State>,
    clock: SimClock,
    latest: watch::Sender<u64>,
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
        let (latest, _) = watch::channel(0);
        let store = Self {
            state: Mutex::new(State {
                objects: BTreeMap::new(),
                rv: 0,
                history: history::History::new(history_limit),
                rng: SimRng::new(seed),
            }),
            clock,
            latest,
        };
        store.seed_namespaces();
        store
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic happened while it was held; the state itself
        // is always left consistent by the write path, so keep serving.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The clock this store stamps objects with.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// The newest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// A receiver that changes whenever a change is persisted.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
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

    /// Every object of a resource (in `namespace`, or all when `None`) with the current rv.
    pub fn all(&self, resource: &'static ResourceType, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let state = self.lock();
        let items = state
            .objects
            .iter()
            .filter(|(k, _)| k.resource == resource.plural)
            .filter(|(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
            .map(|(_, v)| Arc::clone(v))
            .collect();
        (items, state.rv)
    }

    /// The changes after `rv`, or a 410 Expired error when some were compacted away.
    pub fn changes_since(&self, rv: u64) -> Result<Vec<Change>, StoreError> {
        let state = self.lock();
        state
            .history
            .since(rv)
            .ok_or_else(|| StoreError::Expired(format!("too old resource version: {rv} ({})", state.history.floor())))
    }

    /// Drops the whole watch history; returns the compaction point.
    pub fn compact(&self) -> u64 {
        let mut state = self.lock();
        let rv = state.rv;
        state.history.compact(rv);
        rv
    }

    /// The oldest resourceVersion a watch may still start from.
    pub fn history_floor(&self) -> u64 {
        self.lock().history.floor()
    }

    /// Every stored object, grouped by resource, for the state dump.
    pub fn dump(&self) -> BTreeMap<&'static str, Vec<Value>> {
        let state = self.lock();
        let mut out: BTreeMap<&'static str, Vec<Value>> = BTreeMap::new();
        for (k, v) in &state.objects {
            out.entry(k.resource).or_default().push((**v).clone());
        }
        out
    }

    /// The Deployments, ReplicaSets and Pods of every namespace, as the controllers see them.
    pub fn snapshot(&self) -> crate::controllers::Snapshot {
        let state = self.lock();
        let pick = |plural: &str| -> Vec<Value> {
            state
                .objects
                .iter()
                .filter(|(k, _)| k.resource == plural)
                .map(|(_, v)| (**v).clone())
                .collect()
        };
        crate::controllers::Snapshot {
            deployments: pick("deployments"),
            replicasets: pick("replicasets"),
            pods: pick("pods"),
        }
    }

    fn publish(&self, rv: u64) {
        self.latest.send_replace(rv);
    }
}

impl State {
    pub(crate) fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    pub(crate) fn record(&mut self, change: Change) {
        self.history.push(change);
    }
}

#[cfg(test)]
mod tests;
