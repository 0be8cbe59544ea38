//! What the planner decides: deployments to make and skips with their reasons.

use std::fmt;

use chrono::{DateTime, Utc};
use deployer_core::image::ImageRef;
use deployer_core::model::{DeployRequest, ImageChange, Method, Source, Target, TriggerKind};
use serde::Serialize;

use crate::event::DedupKey;
use crate::rules::{EnvironmentName, OnFailure};

/// The plan for one trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TriggerPlan {
    /// The kind of trigger planned.
    pub trigger: TriggerKind,
    /// Where it came from, for the deploy requests.
    pub source: Source,
    /// Its identity; record it with the time so later duplicates are recognised.
    pub dedup_key: DedupKey,
    /// The environment a release's branch maps to (`None` for registry pushes).
    pub environment: Option<EnvironmentName>,
    /// What will deploy.
    pub deployments: Vec<PlannedDeployment>,
    /// What will not, and why.
    pub skipped: Vec<Skip>,
    /// The earlier trigger this one duplicates; then nothing deploys.
    pub duplicate_of: Option<DuplicateOf>,
}

impl TriggerPlan {
    pub(crate) fn new(trigger: TriggerKind, source: Source, dedup_key: DedupKey) -> TriggerPlan {
        TriggerPlan {
            trigger,
            source,
            dedup_key,
            environment: None,
            deployments: Vec::new(),
            skipped: Vec::new(),
            duplicate_of: None,
        }
    }

    /// One line for logs and answers: `2 deployments planned, 1 skipped`.
    pub fn summary(&self) -> String {
        let d = self.deployments.len();
        let s = self.skipped.len();
        format!("{d} deployment{} planned, {s} skipped", if d == 1 { "" } else { "s" })
    }

    /// The deploy requests of the planned deployments, in order.
    pub fn requests(&self, requested_by: &str) -> Vec<DeployRequest> {
        self.deployments
            .iter()
            .map(|d| d.request(&self.source, requested_by))
            .collect()
    }
}

/// The earlier trigger a duplicate points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateOf {
    /// Its id.
    pub id: String,
    /// When it was handled.
    pub at: DateTime<Utc>,
}

/// One deployment the trigger makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedDeployment {
    /// Where.
    pub target: Target,
    /// The image after the change (the file's repository as written, new tag and digest).
    pub image: ImageRef,
    /// The change.
    pub change: ImageChange,
    /// The target's environment.
    pub environment: EnvironmentName,
    /// The rule that allowed it.
    pub rule: String,
    /// What to do if it fails.
    pub on_failure: OnFailure,
}

impl PlannedDeployment {
    /// The deploy request for the executor.
    pub fn request(&self, source: &Source, requested_by: &str) -> DeployRequest {
        DeployRequest {
            target: self.target.clone(),
            image: Some(self.image.clone()),
            container: None,
            change: self.change.clone(),
            method: Method::Apply,
            reason: Some(format!("{} trigger, rule `{}`", kind_name(source.kind), self.rule)),
            timeout: None,
            source: source.clone(),
            requested_by: requested_by.to_owned(),
            idempotency_key: None,
            environment: Some(self.environment.to_string()),
            force: false,
            rollback_of: None,
        }
    }
}

fn kind_name(kind: TriggerKind) -> &'static str {
    match kind {
        TriggerKind::Registry => "registry",
        TriggerKind::Ci => "ci",
        TriggerKind::Api => "api",
        TriggerKind::Cli => "cli",
        TriggerKind::Ui => "ui",
        TriggerKind::Rollback => "rollback",
    }
}

/// Something that will not deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    /// The target, when the reason concerns one.
    pub target: Option<Target>,
    /// The rule, when the reason concerns one.
    pub rule: Option<String>,
    /// The environment, when the reason concerns one.
    pub environment: Option<EnvironmentName>,
    /// Why.
    pub reason: SkipReason,
    /// The reason in words.
    pub message: String,
}

impl Skip {
    pub(crate) fn new(reason: SkipReason) -> Skip {
        Skip {
            target: None,
            rule: None,
            environment: None,
            message: reason.to_string(),
            reason,
        }
    }

    pub(crate) fn rule(mut self, rule: &str) -> Skip {
        self.rule = Some(rule.to_owned());
        self
    }

    pub(crate) fn environment(mut self, environment: &EnvironmentName) -> Skip {
        self.environment = Some(environment.clone());
        self
    }

    pub(crate) fn target(mut self, target: &Target) -> Skip {
        self.target = Some(target.clone());
        self
    }
}

/// Why a rule did not match a trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleMismatch {
    /// The rule.
    pub rule: String,
    /// Why it did not match.
    pub why: String,
}

/// Why something will not deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SkipReason {
    /// The same trigger was handled within the deduplication window.
    Duplicate {
        /// The earlier trigger's id.
        of: String,
        /// When it was handled.
        at: DateTime<Utc>,
    },
    /// A registry push without a tag.
    Untagged,
    /// A release that names neither an image nor an app.
    NothingNamed,
    /// The release's branch maps to no environment.
    NoEnvironmentForBranch {
        /// The branch.
        branch: String,
        /// The configured routes (`dev → development`).
        routes: Vec<String>,
    },
    /// No rule matched; each considered rule says why.
    NoRuleMatched {
        /// The rules and why each did not match.
        considered: Vec<RuleMismatch>,
    },
    /// The rule matched but its tag filter refused the tag.
    TagFilterMismatch {
        /// Why the filter refused it.
        why: String,
    },
    /// The environment refuses registry pushes and the rule does not allow them.
    RegistryPushRefused {
        /// The environment.
        environment: EnvironmentName,
    },
    /// No existing file of the environment's clusters matches the rule.
    NoMatchingFiles {
        /// The environment.
        environment: EnvironmentName,
        /// How many clusters it has.
        clusters: usize,
    },
    /// The file references no image of the repository.
    ImageNotInFile {
        /// The repository (or the rule's repository patterns).
        repository: String,
    },
    /// The file references images of several repositories the rule covers, and the release
    /// names none.
    AmbiguousImage {
        /// The repositories.
        repositories: Vec<String>,
    },
    /// The target is pinned.
    Pinned {
        /// Who pinned it.
        by: String,
        /// Why.
        reason: Option<String>,
    },
    /// The promotion gate is closed: the tag has not succeeded in the gating environment.
    PromotionGate {
        /// The tag.
        tag: String,
        /// The environment it must succeed in first.
        from: EnvironmentName,
    },
    /// The tag is a semver downgrade of the current one.
    Downgrade {
        /// The current tag.
        current: String,
        /// The requested tag.
        requested: String,
    },
}

impl SkipReason {
    /// A stable, low-cardinality name, usable as a metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            SkipReason::Duplicate { .. } => "duplicate",
            SkipReason::Untagged => "untagged",
            SkipReason::NothingNamed => "nothing_named",
            SkipReason::NoEnvironmentForBranch { .. } => "no_environment_for_branch",
            SkipReason::NoRuleMatched { .. } => "no_rule_matched",
            SkipReason::TagFilterMismatch { .. } => "tag_filter_mismatch",
            SkipReason::RegistryPushRefused { .. } => "registry_push_refused",
            SkipReason::NoMatchingFiles { .. } => "no_matching_files",
            SkipReason::ImageNotInFile { .. } => "image_not_in_file",
            SkipReason::AmbiguousImage { .. } => "ambiguous_image",
            SkipReason::Pinned { .. } => "pinned",
            SkipReason::PromotionGate { .. } => "promotion_gate",
            SkipReason::Downgrade { .. } => "downgrade",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Duplicate { of, at } => {
                write!(
                    f,
                    "duplicate of `{of}` handled at {}; identical triggers within the window are ignored",
                    at.to_rfc3339()
                )
            }
            SkipReason::Untagged => f.write_str("the push has no tag; only tagged pushes deploy"),
            SkipReason::NothingNamed => f.write_str("the release names neither an `image` nor an `app`"),
            SkipReason::NoEnvironmentForBranch { branch, routes } => {
                write!(
                    f,
                    "branch `{branch}` maps to no environment (routes: {})",
                    routes.join(", ")
                )
            }
            SkipReason::NoRuleMatched { considered } if considered.is_empty() => {
                f.write_str("no rule matched: no rules are configured")
            }
            SkipReason::NoRuleMatched { considered } => {
                let parts: Vec<String> = considered.iter().map(|m| format!("`{}` {}", m.rule, m.why)).collect();
                write!(f, "no rule matched: {}", parts.join("; "))
            }
            SkipReason::TagFilterMismatch { why } => f.write_str(why),
            SkipReason::RegistryPushRefused { environment } => write!(
                f,
                "environment `{environment}` refuses registry pushes; a rule must set `allow_production_push = true` to allow them"
            ),
            SkipReason::NoMatchingFiles { environment, clusters } => write!(
                f,
                "no existing file matches the rule's files on the {clusters} cluster{} of `{environment}`",
                if *clusters == 1 { "" } else { "s" }
            ),
            SkipReason::ImageNotInFile { repository } => write!(f, "the file references no image of {repository}"),
            SkipReason::AmbiguousImage { repositories } => write!(
                f,
                "the file references images of several covered repositories ({}); name the image in the release",
                repositories.join(", ")
            ),
            SkipReason::Pinned {
                by,
                reason: Some(reason),
            } => write!(f, "the target is pinned by `{by}`: {reason}"),
            SkipReason::Pinned { by, reason: None } => write!(f, "the target is pinned by `{by}`"),
            SkipReason::PromotionGate { tag, from } => {
                write!(f, "promotion gate: tag `{tag}` has not succeeded in `{from}` yet")
            }
            SkipReason::Downgrade { current, requested } => write!(
                f,
                "`{requested}` is a semver downgrade from `{current}`; use `force` (or `allow_downgrade` on the rule) to deploy it"
            ),
        }
    }
}
