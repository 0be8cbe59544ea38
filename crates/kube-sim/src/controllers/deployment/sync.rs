//! `syncDeployment`: the entry of one Deployment controller pass.

use super::status::{Condition, PROGRESSING, reason};
use super::view::Strategy;
use super::work::Work;

impl Work<'_> {
    /// One step for the Deployment (spec §7.1); the writes are taken with [`Work::finish`].
    pub(crate) fn run(&mut self, name_taken: &dyn Fn(&str) -> bool) {
        self.find_new();
        if self.d.deleting {
            self.sync_deployment_status();
            return;
        }
        if self.check_paused_conditions() {
            return;
        }
        if let Some(i) = self.new
            && self.sync_existing_new_rs(i)
        {
            return;
        }
        if self.d.paused {
            self.scale();
            self.cleanup();
            self.sync_deployment_status();
            return;
        }
        if self.is_scaling_event() {
            self.scale();
            self.sync_deployment_status();
            return;
        }
        match self.d.strategy {
            Strategy::Recreate => self.rollout_recreate(name_taken),
            Strategy::RollingUpdate { .. } => self.rollout_rolling(name_taken),
        }
    }

    /// `checkPausedConditions`: records `DeploymentPaused` / `DeploymentResumed` (not over a
    /// `ProgressDeadlineExceeded`). Returns whether that was this pass's step.
    fn check_paused_conditions(&mut self) -> bool {
        if !self.d.has_progress_deadline() {
            return false;
        }
        let current = self.status.condition(PROGRESSING);
        if current.is_some_and(|c| c.reason == reason::TIMED_OUT) {
            return false;
        }
        let paused_recorded = current.is_some_and(|c| c.reason == reason::PAUSED);
        let condition = if self.d.paused && !paused_recorded {
            Condition::new(
                PROGRESSING,
                "Unknown",
                reason::PAUSED,
                "Deployment is paused".to_owned(),
                self.now,
            )
        } else if !self.d.paused && paused_recorded {
            Condition::new(
                PROGRESSING,
                "Unknown",
                reason::RESUMED,
                "Deployment is resumed".to_owned(),
                self.now,
            )
        } else {
            return false;
        };
        self.status.set_condition(condition);
        self.write_status = true;
        true
    }
}
