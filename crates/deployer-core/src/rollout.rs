//! The rollout verdict: is this workload's rollout done, still going, or failed?
//!
//! These are the rules of `kubectl rollout status` (1.32) for Deployments, StatefulSets and
//! DaemonSets, including the `observedGeneration` check: right after an apply the status
//! still describes the previous generation, and judging it then would report success before
//! the controller has even seen the change.

use serde::{Deserialize, Serialize};

use crate::model::RolloutSummary;

/// What a workload's status says, reduced to what the verdict needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum WorkloadStatus {
    /// An `apps/v1` Deployment.
    Deployment {
        /// Its name.
        name: String,
        /// `metadata.generation`.
        generation: i64,
        /// `status.observedGeneration`.
        observed_generation: i64,
        /// `spec.replicas`.
        desired: i64,
        /// `status.replicas`.
        replicas: i64,
        /// `status.updatedReplicas`.
        updated: i64,
        /// `status.readyReplicas`.
        ready: i64,
        /// `status.availableReplicas`.
        available: i64,
        /// The reason of the `Progressing` condition, if any.
        progressing_reason: Option<String>,
        /// `spec.progressDeadlineSeconds`.
        progress_deadline_seconds: Option<i64>,
    },
    /// An `apps/v1` StatefulSet.
    StatefulSet {
        /// Its name.
        name: String,
        /// `metadata.generation`.
        generation: i64,
        /// `status.observedGeneration`.
        observed_generation: i64,
        /// `spec.replicas`.
        desired: i64,
        /// `status.readyReplicas`.
        ready: i64,
        /// `status.updatedReplicas`.
        updated: i64,
        /// `status.currentRevision`.
        current_revision: String,
        /// `status.updateRevision`.
        update_revision: String,
        /// Whether `spec.updateStrategy.type` is `RollingUpdate` (the default).
        rolling_update: bool,
        /// `spec.updateStrategy.rollingUpdate.partition`.
        partition: i64,
    },
    /// An `apps/v1` DaemonSet.
    DaemonSet {
        /// Its name.
        name: String,
        /// `metadata.generation`.
        generation: i64,
        /// `status.observedGeneration`.
        observed_generation: i64,
        /// `status.desiredNumberScheduled`.
        desired: i64,
        /// `status.updatedNumberScheduled`.
        updated: i64,
        /// `status.numberAvailable`.
        available: i64,
        /// `status.numberReady`.
        ready: i64,
        /// Whether `spec.updateStrategy.type` is `RollingUpdate` (the default).
        rolling_update: bool,
    },
}

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RolloutVerdict {
    /// Still going; the message is what `kubectl rollout status` would print.
    Waiting {
        /// kubectl's words.
        message: String,
    },
    /// Done.
    Succeeded {
        /// kubectl's words.
        message: String,
    },
    /// It will not finish by itself.
    Failed {
        /// A stable code (`progress_deadline_exceeded`).
        code: String,
        /// kubectl's words.
        message: String,
    },
}

impl RolloutVerdict {
    /// Whether the rollout has ended, one way or the other.
    pub fn is_final(&self) -> bool {
        !matches!(self, RolloutVerdict::Waiting { .. })
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            RolloutVerdict::Waiting { message }
            | RolloutVerdict::Succeeded { message }
            | RolloutVerdict::Failed { message, .. } => message,
        }
    }
}

fn waiting(message: String) -> RolloutVerdict {
    RolloutVerdict::Waiting { message }
}

/// Judges a workload's status exactly as `kubectl rollout status` does.
pub fn rollout_verdict(status: &WorkloadStatus) -> RolloutVerdict {
    match status {
        WorkloadStatus::Deployment {
            name,
            generation,
            observed_generation,
            desired,
            replicas,
            updated,
            available,
            progressing_reason,
            ..
        } => {
            if generation > observed_generation {
                return waiting("Waiting for deployment spec update to be observed...".to_owned());
            }
            if progressing_reason.as_deref() == Some("ProgressDeadlineExceeded") {
                return RolloutVerdict::Failed {
                    code: "progress_deadline_exceeded".to_owned(),
                    message: format!("deployment \"{name}\" exceeded its progress deadline"),
                };
            }
            if updated < desired {
                return waiting(format!(
                    "Waiting for deployment \"{name}\" rollout to finish: {updated} out of {desired} new replicas have been updated..."
                ));
            }
            if replicas > updated {
                return waiting(format!(
                    "Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...",
                    replicas - updated
                ));
            }
            if available < updated {
                return waiting(format!(
                    "Waiting for deployment \"{name}\" rollout to finish: {available} of {updated} updated replicas are available..."
                ));
            }
            RolloutVerdict::Succeeded {
                message: format!("deployment \"{name}\" successfully rolled out"),
            }
        }
        WorkloadStatus::StatefulSet {
            generation,
            observed_generation,
            desired,
            ready,
            updated,
            current_revision,
            update_revision,
            rolling_update,
            partition,
            ..
        } => {
            if !rolling_update {
                return RolloutVerdict::Succeeded {
                    message: "statefulset uses the OnDelete strategy: pods update when deleted".to_owned(),
                };
            }
            if *observed_generation == 0 || generation > observed_generation {
                return waiting("Waiting for statefulset spec update to be observed...".to_owned());
            }
            if ready < desired {
                return waiting(format!("Waiting for {} pods to be ready...", desired - ready));
            }
            if *partition > 0 {
                let target = desired - partition;
                if *updated < target {
                    return waiting(format!(
                        "Waiting for partitioned roll out to finish: {updated} out of {target} new pods have been updated..."
                    ));
                }
                return RolloutVerdict::Succeeded {
                    message: format!("partitioned roll out complete: {updated} new pods have been updated..."),
                };
            }
            if update_revision != current_revision {
                return waiting(format!(
                    "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
                ));
            }
            RolloutVerdict::Succeeded {
                message: format!("statefulset rolling update complete {ready} pods at revision {current_revision}..."),
            }
        }
        WorkloadStatus::DaemonSet {
            name,
            generation,
            observed_generation,
            desired,
            updated,
            available,
            rolling_update,
            ..
        } => {
            if !rolling_update {
                return RolloutVerdict::Succeeded {
                    message: "daemon set uses the OnDelete strategy: pods update when deleted".to_owned(),
                };
            }
            if generation > observed_generation {
                return waiting("Waiting for daemon set spec update to be observed...".to_owned());
            }
            if updated < desired {
                return waiting(format!(
                    "Waiting for daemon set \"{name}\" rollout to finish: {updated} out of {desired} new pods have been updated..."
                ));
            }
            if available < desired {
                return waiting(format!(
                    "Waiting for daemon set \"{name}\" rollout to finish: {available} of {desired} updated pods are available..."
                ));
            }
            RolloutVerdict::Succeeded {
                message: format!("daemon set \"{name}\" successfully rolled out"),
            }
        }
    }
}

impl WorkloadStatus {
    /// The replica counts for the record.
    pub fn summary(&self, namespace: &str, verdict: &RolloutVerdict) -> RolloutSummary {
        let (kind, name, desired, updated, ready, available) = match self {
            WorkloadStatus::Deployment {
                name,
                desired,
                updated,
                ready,
                available,
                ..
            } => ("Deployment", name, *desired, *updated, *ready, *available),
            WorkloadStatus::StatefulSet {
                name,
                desired,
                updated,
                ready,
                ..
            } => ("StatefulSet", name, *desired, *updated, *ready, *ready),
            WorkloadStatus::DaemonSet {
                name,
                desired,
                updated,
                ready,
                available,
                ..
            } => ("DaemonSet", name, *desired, *updated, *ready, *available),
        };
        RolloutSummary {
            kind: kind.to_owned(),
            name: name.clone(),
            namespace: namespace.to_owned(),
            desired,
            updated,
            ready,
            available,
            message: verdict.message().to_owned(),
        }
    }

    /// The progress deadline, for Deployments that set one.
    pub fn progress_deadline_seconds(&self) -> Option<i64> {
        match self {
            WorkloadStatus::Deployment {
                progress_deadline_seconds,
                ..
            } => *progress_deadline_seconds,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(generation: i64, observed: i64, replicas: i64, updated: i64, available: i64) -> WorkloadStatus {
        WorkloadStatus::Deployment {
            name: "web".to_owned(),
            generation,
            observed_generation: observed,
            desired: 2,
            replicas,
            updated,
            ready: available,
            available,
            progressing_reason: None,
            progress_deadline_seconds: Some(600),
        }
    }

    #[test]
    fn a_status_from_the_previous_generation_is_never_success() {
        // Right after an apply: the old status says 2/2 available, but for generation 1.
        let v = rollout_verdict(&deployment(2, 1, 2, 2, 2));
        assert_eq!(
            v,
            waiting("Waiting for deployment spec update to be observed...".to_owned())
        );
    }

    #[test]
    fn deployment_walks_through_kubectls_messages() {
        let cases = [
            (
                deployment(2, 2, 3, 1, 2),
                "Waiting for deployment \"web\" rollout to finish: 1 out of 2 new replicas have been updated...",
            ),
            (
                deployment(2, 2, 3, 2, 2),
                "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...",
            ),
            (
                deployment(2, 2, 2, 2, 1),
                "Waiting for deployment \"web\" rollout to finish: 1 of 2 updated replicas are available...",
            ),
        ];
        for (status, message) in cases {
            assert_eq!(rollout_verdict(&status), waiting(message.to_owned()));
        }
        assert_eq!(
            rollout_verdict(&deployment(2, 2, 2, 2, 2)),
            RolloutVerdict::Succeeded {
                message: "deployment \"web\" successfully rolled out".to_owned()
            }
        );
    }

    #[test]
    fn progress_deadline_exceeded_fails_once_observed() {
        let mut s = deployment(3, 3, 3, 1, 2);
        if let WorkloadStatus::Deployment { progressing_reason, .. } = &mut s {
            *progressing_reason = Some("ProgressDeadlineExceeded".to_owned());
        }
        let v = rollout_verdict(&s);
        assert!(matches!(v, RolloutVerdict::Failed { ref code, .. } if code == "progress_deadline_exceeded"));
        assert_eq!(v.message(), "deployment \"web\" exceeded its progress deadline");
    }

    #[test]
    fn statefulset_waits_for_the_update_revision() {
        let mut s = WorkloadStatus::StatefulSet {
            name: "db".to_owned(),
            generation: 2,
            observed_generation: 2,
            desired: 3,
            ready: 3,
            updated: 1,
            current_revision: "db-1".to_owned(),
            update_revision: "db-2".to_owned(),
            rolling_update: true,
            partition: 0,
        };
        assert!(!rollout_verdict(&s).is_final());
        if let WorkloadStatus::StatefulSet {
            current_revision,
            updated,
            ..
        } = &mut s
        {
            *current_revision = "db-2".to_owned();
            *updated = 3;
        }
        assert!(matches!(rollout_verdict(&s), RolloutVerdict::Succeeded { .. }));
    }

    #[test]
    fn daemonset_needs_all_pods_available() {
        let s = WorkloadStatus::DaemonSet {
            name: "agent".to_owned(),
            generation: 4,
            observed_generation: 4,
            desired: 3,
            updated: 3,
            available: 2,
            ready: 2,
            rolling_update: true,
        };
        assert_eq!(
            rollout_verdict(&s).message(),
            "Waiting for daemon set \"agent\" rollout to finish: 2 of 3 updated pods are available..."
        );
    }
}
