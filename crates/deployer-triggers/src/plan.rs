//! The trigger planner: from a trigger, the rules and the observed state to a plan that
//! says what will deploy where, and why everything else will not.
//!
//! Both entry points are pure: the caller looks everything up first (the files that exist
//! and their images, pins, which tags succeeded where, recent triggers) and passes it in
//! [`Observed`], with the time.
//!
//! Candidate targets of a rule are every `(region, cluster)` of the rule's environments
//! (for a release: of the branch's environment only) times the application files existing
//! there whose stem matches the rule's `files`. A target claimed by an earlier rule is not
//! considered again. Each candidate then passes the guards, in order: the file must use an
//! image of the repository, the target must not be pinned (for automatic triggers), the
//! promotion gate must be open, and the tag must not be a semver downgrade.

mod observed;
mod outcome;
mod route;
#[cfg(test)]
mod tests;

pub use observed::{Observed, ObservedFile, Pin, RecentTrigger};
pub use outcome::{DuplicateOf, PlannedDeployment, RuleMismatch, Skip, SkipReason, TriggerPlan};
pub use route::{plan_image_event, plan_release};
