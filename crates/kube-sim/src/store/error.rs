//! Why a store operation failed, and the `Status` each failure is served as (spec §5).

use serde_json::Value;

use super::resources::ResourceType;
use super::selector::SelectorError;
use super::status::ApiStatus;

/// A failed read or write; every variant maps to one exact Kubernetes `Status`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The patch body could not be applied.
    #[error("{message}")]
    PatchRejected {
        /// HTTP code (400 or 422).
        code: u16,
        /// Status reason.
        reason: &'static str,
        /// The message.
        message: String,
    },
    /// The object does not exist.
    #[error("{} \"{name}\" not found", resource.qualified_plural())]
    NotFound {
        /// Its resource type.
        resource: &'static ResourceType,
        /// Its name.
        name: String,
    },
    /// The namespace of a namespaced write does not exist.
    #[error("namespaces \"{0}\" not found")]
    NamespaceNotFound(String),
    /// The name is taken.
    #[error("{} \"{name}\" already exists", resource.qualified_plural())]
    AlreadyExists {
        /// Its resource type.
        resource: &'static ResourceType,
        /// Its name.
        name: String,
    },
    /// A resourceVersion precondition failed.
    #[error("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", resource.qualified_plural())]
    Conflict {
        /// Its resource type.
        resource: &'static ResourceType,
        /// Its name.
        name: String,
    },
    /// A delete precondition (uid or resourceVersion) failed.
    #[error("Precondition failed: {detail}")]
    PreconditionFailed {
        /// Its resource type.
        resource: &'static ResourceType,
        /// Its name.
        name: String,
        /// What differed, as kube-apiserver words it.
        detail: String,
    },
    /// Server-side apply found fields owned by other managers.
    #[error("{message}")]
    ApplyConflict {
        /// Its resource type.
        resource: &'static ResourceType,
        /// Its name.
        name: String,
        /// `Apply failed with N conflict(s): …`.
        message: String,
        /// One `FieldManagerConflict` cause per field.
        causes: Vec<Value>,
    },
    /// The object failed validation.
    #[error("{message}")]
    Invalid {
        /// Its resource type.
        resource: &'static ResourceType,
        /// Its name.
        name: String,
        /// `Deployment.apps "web" is invalid: …`.
        message: String,
        /// One cause per field error.
        causes: Vec<Value>,
    },
    /// The request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The selector does not parse.
    #[error(transparent)]
    Selector(#[from] SelectorError),
    /// Creating content in a namespace that is being deleted.
    #[error("{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated", resource.qualified_plural())]
    NamespaceTerminating {
        /// Its resource type.
        resource: &'static ResourceType,
        /// Its name.
        name: String,
        /// The terminating namespace.
        namespace: String,
    },
    /// The requested resourceVersion or continue token is older than the retained history.
    #[error("{0}")]
    Expired(String),
    /// The requested resourceVersion is newer than any the store has reached.
    #[error("Too large resource version: {requested}, current: {current}")]
    TooLargeResourceVersion {
        /// What the client asked for.
        requested: u64,
        /// The newest resourceVersion.
        current: u64,
    },
}

impl StoreError {
    /// A stable name for this error, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PatchRejected { .. } => "patch_rejected",
            Self::NotFound { .. } => "not_found",
            Self::NamespaceNotFound(_) => "namespace_not_found",
            Self::AlreadyExists { .. } => "already_exists",
            Self::Conflict { .. } => "conflict",
            Self::PreconditionFailed { .. } => "precondition_failed",
            Self::ApplyConflict { .. } => "apply_conflict",
            Self::Invalid { .. } => "invalid",
            Self::BadRequest(_) => "bad_request",
            Self::Selector(_) => "bad_selector",
            Self::NamespaceTerminating { .. } => "namespace_terminating",
            Self::Expired(_) => "expired",
            Self::TooLargeResourceVersion { .. } => "too_large_resource_version",
        }
    }

    /// The `Status` this error is served as.
    pub fn status(&self) -> ApiStatus {
        let message = self.to_string();
        match self {
            Self::PatchRejected { code, reason, .. } => ApiStatus::new(*code, reason, message),
            Self::NotFound { resource, name } => {
                ApiStatus::new(404, "NotFound", message).with_target(name, resource.group, resource.plural)
            }
            Self::NamespaceNotFound(name) => {
                ApiStatus::new(404, "NotFound", message).with_target(name, "", "namespaces")
            }
            Self::AlreadyExists { resource, name } => {
                ApiStatus::new(409, "AlreadyExists", message).with_target(name, resource.group, resource.plural)
            }
            Self::Conflict { resource, name } | Self::PreconditionFailed { resource, name, .. } => {
                ApiStatus::new(409, "Conflict", message).with_target(name, resource.group, resource.plural)
            }
            Self::ApplyConflict { causes, .. } => ApiStatus::new(409, "Conflict", message).with_causes(causes.clone()),
            Self::Invalid {
                resource, name, causes, ..
            } => ApiStatus::new(422, "Invalid", message)
                .with_target(name, resource.group, resource.kind)
                .with_causes(causes.clone()),
            Self::BadRequest(_) | Self::Selector(_) => ApiStatus::bad_request(message),
            Self::NamespaceTerminating { resource, name, .. } => {
                ApiStatus::new(403, "Forbidden", message).with_target(name, resource.group, resource.plural)
            }
            Self::Expired(_) => ApiStatus::new(410, "Expired", message),
            Self::TooLargeResourceVersion { .. } => ApiStatus::new(504, "Timeout", message).with_retry_after(1),
        }
    }
}

impl From<crate::patch::PatchError> for StoreError {
    fn from(err: crate::patch::PatchError) -> Self {
        Self::PatchRejected {
            code: err.code(),
            reason: err.reason(),
            message: err.to_string(),
        }
    }
}
