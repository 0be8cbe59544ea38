//! Reading a workload object into the
//! [`WorkloadStatus`](deployer_core::rollout::WorkloadStatus) that the rollout verdict judges.
//!
//! Absent fields read as Kubernetes defaults: the API server leaves zero counts out
//! (`availableReplicas` is absent when it is 0), `spec.replicas` defaults to 1 and the update
//! strategy to `RollingUpdate`.

use std::fmt;

use deployer_core::rollout::WorkloadStatus;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::core::ApiResource;
use serde_json::Value;

/// The kinds whose rollout can be watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
}

impl WorkloadKind {
    /// The workload kind called `kind`, or `None` for kinds without a rollout.
    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "Deployment" => Some(Self::Deployment),
            "StatefulSet" => Some(Self::StatefulSet),
            "DaemonSet" => Some(Self::DaemonSet),
            _ => None,
        }
    }

    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
        }
    }

    /// The resource serving it.
    pub fn resource(self) -> ApiResource {
        match self {
            Self::Deployment => ApiResource::erase::<Deployment>(&()),
            Self::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
            Self::DaemonSet => ApiResource::erase::<DaemonSet>(&()),
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The object could not be read as its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} object could not be read: {message}")]
pub struct MalformedObject {
    /// The kind expected.
    pub kind: WorkloadKind,
    /// What was wrong.
    pub message: String,
}

impl MalformedObject {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        "malformed_object"
    }
}

/// Reads a workload object (as JSON) into its status.
///
/// # Errors
/// [`MalformedObject`] when the JSON is not a valid object of that kind.
pub fn workload_status(kind: WorkloadKind, object: Value) -> Result<WorkloadStatus, MalformedObject> {
    let malformed = |err: serde_json::Error| MalformedObject {
        kind,
        message: err.to_string(),
    };
    Ok(match kind {
        WorkloadKind::Deployment => deployment_status(&serde_json::from_value(object).map_err(malformed)?),
        WorkloadKind::StatefulSet => statefulset_status(&serde_json::from_value(object).map_err(malformed)?),
        WorkloadKind::DaemonSet => daemonset_status(&serde_json::from_value(object).map_err(malformed)?),
    })
}

fn count(value: Option<i32>) -> i64 {
    i64::from(value.unwrap_or(0))
}

/// A Deployment's status.
pub fn deployment_status(d: &Deployment) -> WorkloadStatus {
    let spec = &d.spec;
    let status = d.status.as_ref();
    WorkloadStatus::Deployment {
        name: d.metadata.name.clone().unwrap_or_default(),
        generation: d.metadata.generation.unwrap_or(0),
        observed_generation: status.and_then(|s| s.observed_generation).unwrap_or(0),
        desired: i64::from(spec.replicas.unwrap_or(1)),
        replicas: count(status.and_then(|s| s.replicas)),
        updated: count(status.and_then(|s| s.updated_replicas)),
        ready: count(status.and_then(|s| s.ready_replicas)),
        available: count(status.and_then(|s| s.available_replicas)),
        progressing_reason: status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_.as_deref() == Some("Progressing")))
            .and_then(|c| c.reason.clone()),
        progress_deadline_seconds: spec.progress_deadline_seconds.map(i64::from),
    }
}

/// A StatefulSet's status.
pub fn statefulset_status(s: &StatefulSet) -> WorkloadStatus {
    let spec = &s.spec;
    let status = s.status.as_ref();
    let strategy = spec.update_strategy.as_ref();
    WorkloadStatus::StatefulSet {
        name: s.metadata.name.clone().unwrap_or_default(),
        generation: s.metadata.generation.unwrap_or(0),
        observed_generation: status.and_then(|st| st.observed_generation).unwrap_or(0),
        desired: i64::from(spec.replicas.unwrap_or(1)),
        ready: count(status.and_then(|st| st.ready_replicas)),
        updated: count(status.and_then(|st| st.updated_replicas)),
        current_revision: status.and_then(|st| st.current_revision.clone()).unwrap_or_default(),
        update_revision: status.and_then(|st| st.update_revision.clone()).unwrap_or_default(),
        rolling_update: strategy.and_then(|u| u.type_.as_deref()) != Some("OnDelete"),
        partition: count(
            strategy
                .and_then(|u| u.rolling_update.as_ref())
                .and_then(|r| r.partition),
        ),
    }
}

/// A DaemonSet's status.
pub fn daemonset_status(d: &DaemonSet) -> WorkloadStatus {
    let status = d.status.as_ref();
    let strategy = d.spec.update_strategy.as_ref();
    WorkloadStatus::DaemonSet {
        name: d.metadata.name.clone().unwrap_or_default(),
        generation: d.metadata.generation.unwrap_or(0),
        observed_generation: status.and_then(|st| st.observed_generation).unwrap_or(0),
        desired: status.map_or(0, |st| i64::from(st.desired_number_scheduled)),
        updated: count(status.and_then(|st| st.updated_number_scheduled)),
        available: count(status.and_then(|st| st.number_available)),
        ready: status.map_or(0, |st| i64::from(st.number_ready)),
        rolling_update: strategy.and_then(|u| u.type_.as_deref()) != Some("OnDelete"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deployer_core::rollout::{RolloutVerdict, rollout_verdict};
    use serde_json::json;

    /// A Deployment as the API server shows it a moment after an image change: the status
    /// still describes generation 1.
    fn deployment_just_applied() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "generation": 2,
                         "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": 2, "progressDeadlineSeconds": 600,
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
                       "availableReplicas": 2,
                       "conditions": [
                           {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                           {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
        })
    }

    #[test]
    fn a_deployment_reads_every_count_and_its_progressing_reason() -> Result<(), MalformedObject> {
        let status = workload_status(WorkloadKind::Deployment, deployment_just_applied())?;
        assert_eq!(
            status,
            WorkloadStatus::Deployment {
                name: "web".to_owned(),
                generation: 2,
                observed_generation: 1,
                desired: 2,
                replicas: 2,
                updated: 2,
                ready: 2,
                available: 2,
                progressing_reason: Some("NewReplicaSetAvailable".to_owned()),
                progress_deadline_seconds: Some(600),
            }
        );
        // Old status, new generation: the verdict must wait.
        assert!(matches!(rollout_verdict(&status), RolloutVerdict::Waiting { .. }));
        Ok(())
    }

    #[test]
    fn absent_counts_read_as_zero_and_absent_replicas_as_one() -> Result<(), MalformedObject> {
        let object = json!({
            "metadata": {"name": "web", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "web", "image": "x"}]}}},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1}
        });
        let status = workload_status(WorkloadKind::Deployment, object)?;
        let WorkloadStatus::Deployment {
            desired,
            ready,
            available,
            progressing_reason,
            ..
        } = &status
        else {
            panic!("expected a Deployment status, got {status:?}");
        };
        assert_eq!((*desired, *ready, *available), (1, 0, 0));
        assert_eq!(progressing_reason, &None);
        assert_eq!(
            rollout_verdict(&status).message(),
            "Waiting for deployment \"web\" rollout to finish: 0 of 1 updated replicas are available..."
        );
        Ok(())
    }

    #[test]
    fn a_deployment_past_its_deadline_fails() -> Result<(), MalformedObject> {
        let mut object = deployment_just_applied();
        object["status"] = json!({
            "observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                            "message": "ReplicaSet \"web-5d8c\" has timed out progressing."}]
        });
        let verdict = rollout_verdict(&workload_status(WorkloadKind::Deployment, object)?);
        assert!(matches!(verdict, RolloutVerdict::Failed { ref code, .. } if code == "progress_deadline_exceeded"));
        Ok(())
    }

    #[test]
    fn a_statefulset_reads_revisions_and_partition() -> Result<(), MalformedObject> {
        let object = json!({
            "metadata": {"name": "db", "generation": 3},
            "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                     "template": {"spec": {"containers": [{"name": "db", "image": "pg"}]}},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}},
            "status": {"observedGeneration": 3, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 2,
                       "currentRevision": "db-1", "updateRevision": "db-2"}
        });
        let status = workload_status(WorkloadKind::StatefulSet, object)?;
        assert_eq!(
            status,
            WorkloadStatus::StatefulSet {
                name: "db".to_owned(),
                generation: 3,
                observed_generation: 3,
                desired: 3,
                ready: 3,
                updated: 2,
                current_revision: "db-1".to_owned(),
                update_revision: "db-2".to_owned(),
                rolling_update: true,
                partition: 1,
            }
        );
        assert!(matches!(rollout_verdict(&status), RolloutVerdict::Succeeded { .. }));
        Ok(())
    }

    #[test]
    fn a_daemonset_with_on_delete_has_no_rolling_update() -> Result<(), MalformedObject> {
        let object = json!({
            "metadata": {"name": "agent", "generation": 2},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"spec": {"containers": [{"name": "a", "image": "agent"}]}},
                     "updateStrategy": {"type": "OnDelete"}},
            "status": {"observedGeneration": 2, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                       "numberMisscheduled": 0, "numberReady": 1, "updatedNumberScheduled": 1, "numberAvailable": 1}
        });
        let status = workload_status(WorkloadKind::DaemonSet, object)?;
        let WorkloadStatus::DaemonSet {
            desired,
            updated,
            available,
            ready,
            rolling_update,
            ..
        } = status
        else {
            panic!("expected a DaemonSet status");
        };
        assert_eq!(
            (desired, updated, available, ready, rolling_update),
            (3, 1, 1, 1, false)
        );
        Ok(())
    }

    #[test]
    fn an_object_of_the_wrong_shape_is_malformed() {
        let err = workload_status(WorkloadKind::Deployment, json!({"spec": {"replicas": "two"}}));
        assert!(err.is_err());
    }

    #[test]
    fn only_apps_workloads_have_a_rollout() {
        assert_eq!(WorkloadKind::parse("Deployment"), Some(WorkloadKind::Deployment));
        assert_eq!(WorkloadKind::parse("ConfigMap"), None);
        assert_eq!(WorkloadKind::DaemonSet.resource().plural, "daemonsets");
    }
}
