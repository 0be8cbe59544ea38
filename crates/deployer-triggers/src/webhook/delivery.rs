//! What an accepted webhook delivery yields.

use std::fmt;

use serde::Serialize;

use crate::event::ImageEvent;

/// An authenticated, parsed delivery.
///
/// A delivery with no events and some ignored entries is a success for the sender (answer
/// 2xx) that triggers nothing: say so in the answer and the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The hook that authenticated it.
    pub hook: String,
    /// The deployable pushes it announces.
    pub events: Vec<ImageEvent>,
    /// What it announces that is not deployable, and why.
    pub ignored: Vec<Ignored>,
    /// Docker Hub's legacy callback URL, only when it points at Docker Hub over HTTPS;
    /// acknowledging it is best-effort and may be skipped.
    pub callback_url: Option<String>,
    /// The sender's delivery id (`X-GitHub-Delivery`, a Distribution event id), for logs and
    /// deduplication.
    pub delivery_id: Option<String>,
}

impl Delivery {
    pub(crate) fn new(hook: &str) -> Delivery {
        Delivery {
            hook: hook.to_owned(),
            events: Vec::new(),
            ignored: Vec::new(),
            callback_url: None,
            delivery_id: None,
        }
    }

    /// Whether nothing in the delivery can be deployed.
    pub fn is_ignored(&self) -> bool {
        self.events.is_empty()
    }

    pub(crate) fn ignore(&mut self, what: impl Into<String>, reason: IgnoreReason) {
        self.ignored.push(Ignored {
            what: what.into(),
            reason,
        });
    }
}

/// One part of a delivery that triggers nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    /// What it was (`event 2`, `docker.io/acme/api`, `package published`).
    pub what: String,
    /// Why it triggers nothing.
    pub reason: IgnoreReason,
}

/// Why part of a delivery triggers nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum IgnoreReason {
    /// The event is not a push (`pull`, `delete`, `PULL_ARTIFACT`, …).
    NotAPush {
        /// The action or type the sender gave.
        action: String,
    },
    /// The pushed object is a layer or another blob, not a manifest.
    NotAManifest {
        /// Its media type.
        media_type: String,
    },
    /// The pushed manifest has no tag (a per-platform manifest of a multi-arch push).
    Untagged,
    /// The package is not a container image.
    NotAContainer {
        /// The package type the sender gave.
        package_type: String,
    },
    /// The sender names an event this receiver does not handle (`ping`, `issues`, …).
    UnsupportedEvent {
        /// The event name.
        event: String,
    },
    /// The repository is not among the hook's repositories (in batched envelopes only;
    /// single-repository deliveries are refused instead).
    RepositoryNotAllowed {
        /// The repository.
        repository: String,
    },
    /// The event's image reference is invalid.
    InvalidReference {
        /// Why.
        reason: String,
    },
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoreReason::NotAPush { action } => write!(f, "`{action}` is not a push"),
            IgnoreReason::NotAManifest { media_type } => write!(f, "`{media_type}` is a layer or blob, not a manifest"),
            IgnoreReason::Untagged => f.write_str("the pushed manifest has no tag"),
            IgnoreReason::NotAContainer { package_type } => {
                write!(f, "package type `{package_type}` is not a container")
            }
            IgnoreReason::UnsupportedEvent { event } => write!(f, "event `{event}` does not trigger deployments"),
            IgnoreReason::RepositoryNotAllowed { repository } => {
                write!(f, "repository {repository} is not allowed for this hook")
            }
            IgnoreReason::InvalidReference { reason } => write!(f, "invalid image reference: {reason}"),
        }
    }
}
