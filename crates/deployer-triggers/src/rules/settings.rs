//! The `[triggers]` configuration section, as written by the operator.
//!
//! ```toml
//! [triggers]
//! dedup_window = "10m"
//!
//! [triggers.environments.staging]
//! targets = ["eu-west-1/stage-1"]
//!
//! [triggers.environments.production]
//! targets = ["eu-west-1/prod-1", "us-east-1/prod-1"]
//! promotion_from = "staging"       # a tag reaches production only after it succeeded in staging
//! on_failure = "rollback"
//!
//! [[triggers.branches]]             # replaces the default dev/stage/master/main mapping
//! pattern = "release/*"
//! environment = "staging"
//!
//! [[triggers.rules]]
//! name = "api"
//! repositories = ["acme/api"]
//! files = ["api", "api-*"]
//! environments = ["staging", "production"]
//! triggers = ["registry", "ci"]
//! tags = { semver = ">=1.0.0, <2.0.0" }
//! allow_production_push = true
//!
//! [[triggers.hooks]]
//! name = "dockerhub-acme"
//! provider = "dockerhub"
//! secret_env = "DOCKERHUB_HOOK_TOKEN"
//! repositories = ["acme/*"]
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::webhook::HookSettings;

/// The `[triggers]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriggerSettings {
    /// `[triggers.environments.<name>]`. `development`, `staging` and `production` always
    /// exist (with no targets unless configured here); other names add environments.
    pub environments: BTreeMap<String, EnvironmentSettings>,
    /// `[[triggers.branches]]`: which CI branch releases to which environment, first match
    /// wins. When given, it replaces the default `dev` → `development`, `stage` → `staging`,
    /// `master` and `main` → `production`.
    pub branches: Option<Vec<BranchSettings>>,
    /// `[[triggers.rules]]`: which image repositories may deploy which files where, from which
    /// triggers. Nothing deploys without a rule.
    pub rules: Vec<RuleSettings>,
    /// `[[triggers.hooks]]`: the webhook credentials and the repositories each may speak for.
    pub hooks: Vec<HookSettings>,
    /// How long an identical trigger (same repository, tag, digest and source) is treated as
    /// a duplicate of the first. `0s` turns deduplication off.
    #[serde(with = "humantime_duration")]
    pub dedup_window: Duration,
}

impl Default for TriggerSettings {
    fn default() -> Self {
        Self {
            environments: BTreeMap::new(),
            branches: None,
            rules: Vec::new(),
            hooks: Vec::new(),
            dedup_window: Duration::from_secs(600),
        }
    }
}

/// One `[triggers.environments.<name>]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvironmentSettings {
    /// The clusters of the environment, as `region/cluster`. A cluster belongs to at most
    /// one environment.
    pub targets: Vec<String>,
    /// Whether registry pushes may deploy here. Defaults to `false` for `production` and
    /// `true` for every other environment; a rule with `allow_production_push = true` lifts
    /// the refusal for its own repositories.
    pub accept_registry_push: Option<bool>,
    /// A promotion gate: a tag may deploy here only once it succeeded in this environment.
    pub promotion_from: Option<String>,
    /// What the executor does when a deployment here fails. Defaults to `rollback` for
    /// `production` and `stop` elsewhere.
    pub on_failure: Option<OnFailure>,
}

/// What to do when a deployment fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Deploy the previous image again.
    Rollback,
    /// Leave things as they are and report.
    Stop,
}

/// One `[[triggers.branches]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchSettings {
    /// A glob over branch names (`master`, `release/*`).
    pub pattern: String,
    /// The environment releases of matching branches go to.
    pub environment: String,
}

/// One `[[triggers.rules]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// A name for messages and history; defaults to `rules[<index>]`.
    #[serde(default)]
    pub name: Option<String>,
    /// Image repositories the rule covers, as patterns over normalised repositories
    /// (`acme/api` is `docker.io/acme/api`; `ghcr.io/acme/*`; `*` for all).
    pub repositories: Vec<String>,
    /// Application files the rule may change, as globs over the file stem (`api`, `api-*`).
    pub files: Vec<String>,
    /// Environments the rule may deploy to.
    pub environments: Vec<String>,
    /// Trigger kinds the rule answers: `registry`, `ci`, `api`.
    pub triggers: Vec<RuleTrigger>,
    /// Which tags qualify; every tag when absent.
    #[serde(default)]
    pub tags: Option<TagFilterSettings>,
    /// Lets registry pushes reach environments that refuse them (`production` by default).
    #[serde(default)]
    pub allow_production_push: bool,
    /// Lets a tag that is a semver downgrade of the current one deploy without `force`.
    #[serde(default)]
    pub allow_downgrade: bool,
}

/// A trigger kind a rule answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleTrigger {
    /// Registry push webhooks.
    Registry,
    /// CI releases (`POST /api/v1/releases` with a `ci` field).
    Ci,
    /// Releases by people through the API.
    Api,
}

impl RuleTrigger {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleTrigger::Registry => "registry",
            RuleTrigger::Ci => "ci",
            RuleTrigger::Api => "api",
        }
    }
}

/// `tags = { … }` of a rule: exactly one of `glob`, `regex`, `semver`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TagFilterSettings {
    /// A glob over the tag (`v*`, `main-*`).
    pub glob: Option<String>,
    /// A regular expression matched against the whole tag (`[0-9]+\.[0-9]+\.[0-9]+`).
    pub regex: Option<String>,
    /// A semver range in Cargo's syntax (`>=1.2.0, <2.0.0`, `^1.2`, `~1.2`, `1.*`); a
    /// leading `v` on tags is accepted and space-separated comparators are too.
    pub semver: Option<String>,
    /// Whether pre-release tags (`1.3.0-rc.1`) may match a semver range.
    pub prerelease: bool,
}

/// Serde for a humantime duration (`"90s"`, `"10m"`).
mod humantime_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}
