//! The controllers' input ([`Snapshot`]) and output ([`Action`]).

use std::sync::Arc;

use serde_json::Value;

/// Every Deployment, ReplicaSet and Pod of every namespace, exactly as stored. The objects
/// are shared with the store (taking a snapshot copies no object); the controllers copy only
/// the objects they write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Stored Deployments.
    pub deployments: Vec<Arc<Value>>,
    /// Stored ReplicaSets.
    pub replicasets: Vec<Arc<Value>>,
    /// Stored Pods.
    pub pods: Vec<Arc<Value>>,
}

/// One write the controllers ask the store to make, through the normal storage path (so that
/// resource versions, managed fields and watch events all happen). The store records these
/// writes with the manager `kube-controller-manager`.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create an object (`replicasets`, `pods`, `events`). The store assigns uid,
    /// resourceVersion, creationTimestamp and generation.
    Create {
        /// The resource plural.
        resource: &'static str,
        /// The object to create.
        object: Value,
    },
    /// Replace the spec and metadata of an existing object. Its `metadata.resourceVersion` is
    /// a precondition: when stale, the store drops the action and the next tick retries.
    Update {
        /// The resource plural.
        resource: &'static str,
        /// The whole object as it should be stored.
        object: Value,
    },
    /// Replace the status (and, for deployments, `metadata.annotations`) through the status
    /// subresource; `metadata.resourceVersion` is a precondition as for [`Action::Update`].
    UpdateStatus {
        /// The resource plural.
        resource: &'static str,
        /// The whole object with its new status.
        object: Value,
    },
    /// Delete an object: pods gracefully (the store sets `deletionTimestamp`), replicasets at
    /// once (their pods are then garbage collected).
    Delete {
        /// The resource plural.
        resource: &'static str,
        /// The namespace.
        namespace: String,
        /// The name.
        name: String,
    },
    /// Remove an object for good: a terminating pod whose grace period is over, or an owner
    /// deleted with `propagationPolicy: Foreground` once its dependents are gone.
    Remove {
        /// The resource plural.
        resource: &'static str,
        /// The namespace.
        namespace: String,
        /// The name.
        name: String,
    },
}

impl Action {
    /// The resource plural the action writes.
    pub fn resource(&self) -> &'static str {
        match self {
            Action::Create { resource, .. }
            | Action::Update { resource, .. }
            | Action::UpdateStatus { resource, .. }
            | Action::Delete { resource, .. }
            | Action::Remove { resource, .. } => resource,
        }
    }
}
