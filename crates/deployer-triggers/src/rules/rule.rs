//! One routing rule: which repositories may deploy which files where, from which triggers.

use std::collections::BTreeSet;

use deployer_core::model::{AppFile, TriggerKind};
use serde::Serialize;

use super::{EnvironmentName, RuleTrigger, TagFilter};
use crate::pattern::{Glob, RepositoryPattern};

/// A validated rule.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// Its name (`rules[<index>]` when none was given).
    pub name: String,
    /// The repositories it covers.
    pub repositories: Vec<RepositoryPattern>,
    /// The application files it may change.
    pub files: Vec<Glob>,
    /// The environments it may deploy to.
    pub environments: Vec<EnvironmentName>,
    /// The trigger kinds it answers.
    pub triggers: BTreeSet<RuleTrigger>,
    /// The tags that qualify.
    pub tags: TagFilter,
    /// Whether registry pushes may reach environments that refuse them.
    pub allow_production_push: bool,
    /// Whether semver downgrades deploy without `force`.
    pub allow_downgrade: bool,
}

impl Rule {
    /// Whether the rule answers a trigger kind. `cli` and `ui` count as `api`; rollbacks
    /// never go through rules.
    pub fn answers(&self, kind: TriggerKind) -> bool {
        rule_trigger(kind).is_some_and(|t| self.triggers.contains(&t))
    }

    /// Whether the rule covers a normalised repository (`docker.io/acme/api`).
    pub fn covers_repository(&self, repository: &str) -> bool {
        self.repositories.iter().any(|p| p.matches(repository))
    }

    /// Whether the rule may change an application file.
    pub fn covers_file(&self, file: &AppFile) -> bool {
        self.files.iter().any(|g| g.matches(file.as_str()))
    }

    /// Whether the rule may deploy to an environment.
    pub fn covers_environment(&self, environment: &EnvironmentName) -> bool {
        self.environments.contains(environment)
    }

    /// The repository patterns, for messages (`docker.io/acme/api`, `ghcr.io/acme/*`).
    pub(crate) fn describe_repositories(&self) -> String {
        self.repositories
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The rule trigger a trigger kind counts as.
pub fn rule_trigger(kind: TriggerKind) -> Option<RuleTrigger> {
    match kind {
        TriggerKind::Registry => Some(RuleTrigger::Registry),
        TriggerKind::Ci => Some(RuleTrigger::Ci),
        TriggerKind::Api | TriggerKind::Cli | TriggerKind::Ui => Some(RuleTrigger::Api),
        TriggerKind::Rollback => None,
    }
}
