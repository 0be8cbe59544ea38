//! The validated routing table: environments, branch routes and rules.

use std::collections::BTreeMap;

use chrono::Duration;
use deployer_core::model::ClusterKey;
use serde::Serialize;

use super::{Environment, EnvironmentName, Rule};
use crate::pattern::Glob;

/// A branch route: releases of branches matching `pattern` go to `environment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BranchRoute {
    /// A glob over branch names.
    pub pattern: Glob,
    /// The environment.
    pub environment: EnvironmentName,
}

/// The validated trigger configuration the planner routes with. Build it with
/// [`Rules::from_settings`].
#[derive(Debug, Clone, Serialize)]
pub struct Rules {
    pub(super) environments: BTreeMap<EnvironmentName, Environment>,
    pub(super) branches: Vec<BranchRoute>,
    pub(super) rules: Vec<Rule>,
    #[serde(skip)]
    pub(super) dedup_window: Duration,
}

impl Rules {
    /// An environment by name.
    pub fn environment(&self, name: &EnvironmentName) -> Option<&Environment> {
        self.environments.get(name)
    }

    /// Every environment, by name.
    pub fn environments(&self) -> impl Iterator<Item = &Environment> {
        self.environments.values()
    }

    /// The environment a cluster belongs to.
    pub fn environment_of(&self, cluster: &ClusterKey) -> Option<&Environment> {
        self.environments.values().find(|e| e.targets.contains(cluster))
    }

    /// The branch routes, in order.
    pub fn branches(&self) -> &[BranchRoute] {
        &self.branches
    }

    /// The environment releases of `branch` go to: the first matching route. A leading
    /// `refs/heads/` (git) or `origin/` (Jenkins' `GIT_BRANCH`) is ignored.
    pub fn environment_for_branch(&self, branch: &str) -> Option<&EnvironmentName> {
        let branch = branch.trim();
        let branch = branch.strip_prefix("refs/heads/").unwrap_or(branch);
        let branch = branch.strip_prefix("origin/").unwrap_or(branch);
        self.branches
            .iter()
            .find(|r| r.pattern.matches(branch))
            .map(|r| &r.environment)
    }

    /// The rules, in configuration order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How long an identical trigger counts as a duplicate.
    pub fn dedup_window(&self) -> Duration {
        self.dedup_window
    }
}
