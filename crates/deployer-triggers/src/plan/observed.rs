//! What the caller looked up before planning.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use deployer_core::image::{ImageRef, Tag};
use deployer_core::model::Target;
use serde::{Deserialize, Serialize};

use crate::event::DedupKey;
use crate::rules::EnvironmentName;

/// The state the planner decides on, as the caller observed it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Every application file that exists on the clusters of the environments concerned,
    /// with the images it references now.
    pub files: Vec<ObservedFile>,
    /// Pinned targets: automatic triggers leave them alone.
    pub pins: Vec<Pin>,
    /// The tags that succeeded, per environment (for promotion gates).
    pub succeeded: BTreeMap<EnvironmentName, Vec<Tag>>,
    /// Triggers handled recently, for deduplication.
    pub recent: Vec<RecentTrigger>,
}

/// One existing application file and its current images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedFile {
    /// The `region/cluster/file`.
    pub target: Target,
    /// The images the file references, as written.
    pub images: Vec<ImageRef>,
}

/// A pin on a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The pinned target.
    pub target: Target,
    /// Who pinned it.
    pub by: String,
    /// Why, in their words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A trigger handled before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentTrigger {
    /// Its identity.
    pub key: DedupKey,
    /// When it was handled.
    pub at: DateTime<Utc>,
    /// What it became (a release or deployment id), to point duplicates at.
    pub id: String,
}
