//! CI releases: one build of one image, fanned out into deployments.
//!
//! The deployments are created first, each carrying the release id as its `release_id`; the
//! release is then recorded with their ids. If the process stops in between, the deployments
//! still list under the release id (`DeploymentFilter::release_id`), only the release's own
//! record is missing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use deployer_core::image::{ImageRef, Tag};
use deployer_core::model::DeploymentId;
use deployer_core::ports::StoreError;

use crate::ids::ReleaseId;

/// One CI release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    /// Its id.
    pub id: ReleaseId,
    /// When it was received.
    pub at: DateTime<Utc>,
    /// The tag that was built.
    pub tag: Tag,
    /// The image that was built (repository, without the tag).
    pub image: ImageRef,
    /// The branch that was built.
    pub branch: Option<String>,
    /// The environment the CI asked for.
    pub environment: Option<String>,
    /// The application commit that was built (stored in the `commit_sha` column).
    pub commit: Option<String>,
    /// A link to the CI build.
    pub build_url: Option<String>,
    /// The deployments it created.
    pub deployment_ids: Vec<DeploymentId>,
}

/// CI releases, implemented by both backends.
#[async_trait]
pub trait ReleaseStore: Send + Sync {
    /// Records a release.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when its id is already recorded.
    async fn create_release(&self, release: &ReleaseRecord) -> Result<(), StoreError>;

    /// One release.
    async fn get_release(&self, id: ReleaseId) -> Result<Option<ReleaseRecord>, StoreError>;
}
