//! Routing rules and environments: the configuration that decides where a trigger may
//! deploy.
//!
//! An **environment** is a named group of clusters (`region/cluster`) with a policy:
//! whether registry pushes may deploy there, an optional promotion gate, and what to do on
//! failure. **Branch routes** map CI branches to environments. A **rule** says which image
//! repositories may change which application files in which environments, from which
//! trigger kinds, for which tags. Nothing deploys without a rule; the planner reports why
//! each rule did or did not apply.

mod environment;
mod rule;
mod settings;
mod table;
mod tag_filter;
#[cfg(test)]
mod tests;
mod validate;

pub use environment::{DEFAULT_ENVIRONMENTS, Environment, EnvironmentName, InvalidEnvironmentName, PRODUCTION};
pub use rule::{Rule, rule_trigger};
pub use settings::{
    BranchSettings, EnvironmentSettings, OnFailure, RuleSettings, RuleTrigger, TagFilterSettings, TriggerSettings,
};
pub use table::{BranchRoute, Rules};
pub use tag_filter::{TagFilter, semver_of};
pub use validate::DEFAULT_BRANCHES;
