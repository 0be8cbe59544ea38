//! The parameters and results of writes and deletes.

use serde_json::Value;

/// What to do with fields the schema does not know (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Reject the request with 400.
    Strict,
    /// Drop the fields and return a `Warning` header for each (the server default).
    #[default]
    Warn,
    /// Drop the fields silently.
    Ignore,
    /// Do not look for unknown fields: for kube-sim's own controller writes, whose objects
    /// are built from stored (already checked) objects and hold only schema fields. Never
    /// chosen by a request.
    Skip,
}

/// The PATCH content types (spec §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/json-patch+json`.
    Json,
    /// `application/apply-patch+yaml`, with the `force` parameter.
    Apply {
        /// Take over conflicting fields.
        force: bool,
    },
}

/// Parameters shared by every write.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// The field manager the change is recorded under.
    pub manager: String,
    /// `dryRun=All`: do everything but persist.
    pub dry_run: bool,
    /// `fieldValidation`.
    pub validation: FieldValidation,
}

impl WriteOptions {
    /// Options for a plain write by `manager`.
    pub fn new(manager: impl Into<String>) -> Self {
        Self {
            manager: manager.into(),
            dry_run: false,
            validation: FieldValidation::default(),
        }
    }
}

/// The result of a successful write.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The object as stored (or as it would be, on a dry run).
    pub object: Value,
    /// Whether the write created the object (apply may create).
    pub created: bool,
    /// `Warning` header texts (unknown fields under `Warn`).
    pub warnings: Vec<String>,
}

/// `propagationPolicy` of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PropagationPolicy {
    /// Remove the owner now; dependents are collected afterwards.
    #[default]
    Background,
    /// Remove dependents first, then the owner.
    Foreground,
    /// Remove the owner and strip the owner references of its dependents.
    Orphan,
}

/// The body of a delete (`DeleteOptions`).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// How dependents are handled; `None` uses the resource default (Background).
    pub propagation: Option<PropagationPolicy>,
    /// `gracePeriodSeconds`.
    pub grace_period: Option<i64>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_rv: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

/// What a delete did.
#[derive(Debug, Clone)]
pub enum DeleteOutcome {
    /// The object is gone; this is its final state.
    Removed(Value),
    /// The object is marked for deletion (graceful, foreground, namespace) and still exists.
    Pending(Value),
}
