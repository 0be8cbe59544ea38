//! The bounded watch history: every persisted change, in resourceVersion order.
//!
//! A change carries its object's JSON text, computed once on first use and shared by every
//! watcher that sends it, so an event is serialised once however many watchers receive it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::Value;

use super::resources::ResourceType;

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object changed.
    Modified,
    /// The object was removed.
    Deleted,
}

impl EventType {
    /// The wire name (`ADDED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One persisted change.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// What happened.
    pub event: EventType,
    /// The resource type of the object.
    pub resource: &'static ResourceType,
    /// The object after the change (the final state for deletions).
    pub object: Arc<Value>,
    /// The object before the change, for selector transitions.
    pub previous: Option<Arc<Value>>,
    /// The JSON text of `object`, once someone asked for it.
    encoded: Arc<OnceLock<Bytes>>,
}

impl Change {
    /// A change producing `rv`.
    pub fn new(
        rv: u64,
        event: EventType,
        resource: &'static ResourceType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) -> Self {
        Self {
            rv,
            event,
            resource,
            object,
            previous,
            encoded: Arc::new(OnceLock::new()),
        }
    }

    /// The JSON text of the object after the change (compact, as `Value::to_string`),
    /// serialised on first use and shared by every clone of this change.
    pub fn object_json(&self) -> Bytes {
        self.encoded
            .get_or_init(|| Bytes::from(self.object.to_string()))
            .clone()
    }
}

/// Changes retained for watches; older ones are compacted away.
#[derive(Debug)]
pub struct History {
    changes: VecDeque<Change>,
    limit: usize,
    /// Every change with an rv at or below this has been dropped.
    floor: u64,
    /// Per resource type, the newest of its changes that was dropped to make room. A watch of
    /// one type expires only when changes of that type were lost, as with kube-apiserver's
    /// watch cache per type: Pods churning does not expire a quiet Deployment watch.
    dropped_of: HashMap<&'static str, u64>,
    /// The same per resource type and namespace, for watches of one namespace (which are
    /// woken only by changes in it, and so may be far behind the others).
    dropped_in: HashMap<&'static str, HashMap<String, u64>>,
    /// Every change at or below this was dropped by an explicit compaction.
    compacted: u64,
}

impl History {
    /// An empty history keeping at most `limit` changes.
    pub fn new(limit: usize) -> Self {
        Self {
            changes: VecDeque::new(),
            limit: limit.max(1),
            floor: 0,
            dropped_of: HashMap::new(),
            dropped_in: HashMap::new(),
            compacted: 0,
        }
    }

    /// Records a change, dropping the oldest when full. The dropped changes are moved into
    /// `dropped`, so that the caller can free them once it holds no lock.
    pub fn push(&mut self, change: Change, dropped_changes: &mut Vec<Change>) {
        self.changes.push_back(change);
        while self.changes.len() > self.limit {
            if let Some(dropped) = self.changes.pop_front() {
                self.floor = dropped.rv;
                self.dropped_of.insert(dropped.resource.plural, dropped.rv);
                if let Some(namespace) = dropped.object.pointer("/metadata/namespace").and_then(Value::as_str) {
                    let in_type = self.dropped_in.entry(dropped.resource.plural).or_default();
                    match in_type.get_mut(namespace) {
                        Some(rv) => *rv = dropped.rv,
                        None => {
                            in_type.insert(namespace.to_owned(), dropped.rv);
                        }
                    }
                }
                dropped_changes.push(dropped);
            }
        }
    }

    /// Drops every retained change: watches from any older resourceVersion get 410.
    pub fn compact(&mut self, current: u64) {
        self.changes.clear();
        self.floor = current;
        self.compacted = current;
    }

    /// The compaction point.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// The oldest resourceVersion a watch of `plural` (in `namespace`, when given) may start
    /// from: no change of that type (in that namespace) after it was dropped.
    pub fn floor_of(&self, plural: &'static str, namespace: Option<&str>) -> u64 {
        let dropped = match namespace {
            Some(ns) => self.dropped_in.get(plural).and_then(|in_type| in_type.get(ns)),
            None => self.dropped_of.get(plural),
        };
        self.compacted.max(dropped.copied().unwrap_or(0))
    }

    /// The changes after `rv` to objects of `plural` (in `namespace`, when given), and the
    /// resourceVersion of the newest change after `rv` of any kind; `None` when some changes
    /// after `rv` were compacted away.
    pub fn since_of(
        &self,
        rv: u64,
        plural: &'static str,
        namespace: Option<&str>,
    ) -> Option<(Vec<Change>, Option<u64>)> {
        if rv < self.floor_of(plural, namespace) {
            return None;
        }
        let start = self.changes.partition_point(|c| c.rv <= rv);
        let newest = self.changes.back().map(|c| c.rv).filter(|newest| *newest > rv);
        let matching = self
            .changes
            .range(start..)
            .filter(|c| c.resource.plural == plural)
            .filter(|c| {
                namespace.is_none_or(|ns| c.object.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
            })
            .cloned()
            .collect();
        Some((matching, newest))
    }

    /// The changes after `rv`, or `None` when some of them were compacted away.
    pub fn since(&self, rv: u64) -> Option<Vec<Change>> {
        if rv < self.floor {
            return None;
        }
        let start = self.changes.partition_point(|c| c.rv <= rv);
        Some(self.changes.range(start..).cloned().collect())
    }
}
