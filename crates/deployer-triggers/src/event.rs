//! The normalised trigger inputs: image pushes from registries and releases from CI.

use std::fmt;

use chrono::{DateTime, Utc};
use deployer_core::image::{Digest, ImageRef, Tag};
use deployer_core::model::{AppFile, TriggerKind};
use serde::{Deserialize, Serialize};

/// The registry or sender a webhook came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// Docker Hub repository webhooks (unsigned; a secret token in the URL).
    Dockerhub,
    /// Docker Distribution (registry v2) notification envelopes, also used by GitLab.
    Distribution,
    /// Harbor `PUSH_ARTIFACT` webhooks.
    Harbor,
    /// Quay repository push notifications.
    Quay,
    /// GitHub `package` / `registry_package` events for ghcr.io.
    Github,
    /// The deployer's own signed JSON webhook.
    Generic,
}

impl Provider {
    /// Every provider, for messages that list the allowed values.
    pub const ALL: [Provider; 6] = [
        Provider::Dockerhub,
        Provider::Distribution,
        Provider::Harbor,
        Provider::Quay,
        Provider::Github,
        Provider::Generic,
    ];

    /// Whether the sender signs with an HMAC, so the hook needs the secret itself rather
    /// than its hash (`github`, `generic`).
    pub fn signs_with_hmac(self) -> bool {
        matches!(self, Provider::Github | Provider::Generic)
    }

    /// The wire name (`dockerhub`, `distribution`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Dockerhub => "dockerhub",
            Provider::Distribution => "distribution",
            Provider::Harbor => "harbor",
            Provider::Quay => "quay",
            Provider::Github => "github",
            Provider::Generic => "generic",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One pushed image, whatever registry announced it.
///
/// The payload of an unsigned webhook is only a hint: the digest, when absent, should be
/// resolved from the registry before deploying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEvent {
    /// The registry domain (`docker.io`, `ghcr.io`, `registry.example.com:5000`).
    pub registry: String,
    /// The normalised repository, domain included (`docker.io/acme/api`).
    pub repository: String,
    /// The pushed tag.
    pub tag: Option<Tag>,
    /// The pushed manifest digest, when the payload carries one.
    pub digest: Option<Digest>,
    /// When the registry says the push happened.
    pub pushed_at: Option<DateTime<Utc>>,
    /// Who pushed, as the registry names them.
    pub actor: Option<String>,
    /// Which kind of webhook announced it.
    pub provider: Provider,
}

impl ImageEvent {
    /// Builds an event from an image reference found in a payload; the repository is
    /// normalised (`acme/api` becomes `docker.io/acme/api`).
    pub(crate) fn from_reference(image: &ImageRef, provider: Provider) -> ImageEvent {
        let repository = image.normalized_repository();
        let registry = repository
            .split_once('/')
            .map_or_else(String::new, |(d, _)| d.to_owned());
        ImageEvent {
            registry,
            repository,
            tag: image.tag().cloned(),
            digest: image.digest().cloned(),
            pushed_at: None,
            actor: None,
            provider,
        }
    }

    /// The event's identity for deduplication.
    pub fn dedup_key(&self) -> DedupKey {
        DedupKey {
            repository: self.repository.clone(),
            tag: self.tag.as_ref().map(|t| t.to_string()),
            digest: self.digest.as_ref().map(|d| d.to_string()),
            source: format!("registry:{}", self.provider),
        }
    }
}

/// A release announced by CI (`POST /api/v1/releases`) or by a person through the API.
///
/// Exactly one of `image` and `app` names what was released; the server validates the body
/// into this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRequest {
    /// The released image repository (a tag or digest in it is ignored; see `tag`, `digest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
    /// The released application, as an application file stem, when no image is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppFile>,
    /// The released tag.
    pub tag: Tag,
    /// The digest of the released tag, when CI knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The branch that was built; it chooses the environment.
    pub branch: String,
    /// The application commit that was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// A link to the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_url: Option<String>,
    /// The CI system (`semaphore`, `github-actions`, …). Absent when a person releases
    /// through the API; the trigger kind is then `api` instead of `ci`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<String>,
    /// Restrict the release to these application files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<AppFile>,
    /// Deploy even when the tag is a semver downgrade of the current one.
    #[serde(default)]
    pub force: bool,
}

impl ReleaseRequest {
    /// The trigger kind: `ci` when a CI system is named, `api` otherwise.
    pub fn trigger_kind(&self) -> TriggerKind {
        if self.ci.is_some() {
            TriggerKind::Ci
        } else {
            TriggerKind::Api
        }
    }

    /// The release's identity for deduplication.
    pub fn dedup_key(&self) -> DedupKey {
        let repository = match (&self.image, &self.app) {
            (Some(image), _) => image.normalized_repository(),
            (None, Some(app)) => format!("app:{app}"),
            (None, None) => String::new(),
        };
        DedupKey {
            repository,
            tag: Some(self.tag.to_string()),
            digest: self.digest.as_ref().map(|d| d.to_string()),
            source: match &self.ci {
                Some(ci) => format!("ci:{ci}:{}", self.branch),
                None => format!("api:{}", self.branch),
            },
        }
    }
}

/// What makes two triggers the same: `(repository, tag, digest)` plus where they came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DedupKey {
    /// The normalised repository (`docker.io/acme/api`), or `app:<file>` for app releases.
    pub repository: String,
    /// The tag.
    pub tag: Option<String>,
    /// The digest.
    pub digest: Option<String>,
    /// The source (`registry:dockerhub`, `ci:semaphore:master`, `api:master`).
    pub source: String,
}

impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        write!(f, " from {}", self.source)
    }
}
