//! Typed views of a stored Deployment and of its ReplicaSets, as the controller works on them.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::status::DeploymentStatus;
use crate::controllers::json::{bool_at, created, get, i64_at, is_deleting, name, namespace, uid};

/// `deployment.kubernetes.io/revision`.
pub(crate) const REVISION: &str = "deployment.kubernetes.io/revision";
/// `deployment.kubernetes.io/revision-history`.
pub(crate) const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// `deployment.kubernetes.io/desired-replicas`.
pub(crate) const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `deployment.kubernetes.io/max-replicas`.
pub(crate) const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Annotations of a Deployment that are never copied to its ReplicaSets.
pub(crate) const ANNOTATIONS_NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// An `IntOrString` fencepost: an absolute number or a percentage of the replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fencepost {
    Count(i64),
    Percent(i64),
}

impl Fencepost {
    fn parse(v: Option<&Value>) -> Self {
        match v {
            Some(Value::Number(n)) => Fencepost::Count(n.as_i64().unwrap_or(0)),
            Some(Value::String(s)) => match s.strip_suffix('%') {
                Some(p) => Fencepost::Percent(p.trim().parse().unwrap_or(0)),
                None => Fencepost::Count(s.trim().parse().unwrap_or(0)),
            },
            _ => Fencepost::Percent(25),
        }
    }

    /// `GetScaledValueFromIntOrPercent`.
    pub(crate) fn scaled(self, total: i64, round_up: bool) -> i64 {
        match self {
            Fencepost::Count(n) => n,
            Fencepost::Percent(p) => {
                let product = p * total;
                if round_up {
                    product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0)
                } else {
                    product.div_euclid(100)
                }
            }
        }
    }
}

/// The Deployment strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    Recreate,
    RollingUpdate {
        max_surge: Fencepost,
        max_unavailable: Fencepost,
    },
}

/// A stored Deployment.
#[derive(Debug, Clone)]
pub(crate) struct Deployment<'a> {
    pub(crate) obj: &'a Value,
    pub(crate) name: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) uid: &'a str,
    pub(crate) generation: i64,
    pub(crate) replicas: i64,
    pub(crate) strategy: Strategy,
    pub(crate) min_ready_seconds: i64,
    pub(crate) revision_history_limit: Option<i64>,
    pub(crate) progress_deadline_seconds: Option<i64>,
    pub(crate) paused: bool,
    pub(crate) deleting: bool,
    pub(crate) template: &'a Value,
    /// The template's canonical form without the hash label, when the caller worked it out.
    pub(crate) canonical: Option<&'a Value>,
    pub(crate) selector: Option<&'a Value>,
    pub(crate) status: DeploymentStatus,
    pub(crate) annotations: Map<String, Value>,
}

impl<'a> Deployment<'a> {
    pub(crate) fn parse(obj: &'a Value) -> Self {
        let strategy = match get(obj, &["spec", "strategy", "type"]).and_then(Value::as_str) {
            Some("Recreate") => Strategy::Recreate,
            _ => Strategy::RollingUpdate {
                max_surge: Fencepost::parse(get(obj, &["spec", "strategy", "rollingUpdate", "maxSurge"])),
                max_unavailable: Fencepost::parse(get(obj, &["spec", "strategy", "rollingUpdate", "maxUnavailable"])),
            },
        };
        Self {
            obj,
            name: name(obj),
            namespace: namespace(obj),
            uid: uid(obj),
            generation: i64_at(obj, &["metadata", "generation"]).unwrap_or(0),
            replicas: i64_at(obj, &["spec", "replicas"]).unwrap_or(1).max(0),
            strategy,
            min_ready_seconds: i64_at(obj, &["spec", "minReadySeconds"]).unwrap_or(0),
            revision_history_limit: i64_at(obj, &["spec", "revisionHistoryLimit"]),
            progress_deadline_seconds: i64_at(obj, &["spec", "progressDeadlineSeconds"])
                .filter(|s| *s != i64::from(i32::MAX)),
            paused: bool_at(obj, &["spec", "paused"]),
            deleting: is_deleting(obj),
            template: get(obj, &["spec", "template"]).unwrap_or(&Value::Null),
            canonical: None,
            selector: get(obj, &["spec", "selector"]),
            status: DeploymentStatus::from_value(obj.get("status")),
            annotations: get(obj, &["metadata", "annotations"])
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// `ResolveFenceposts`: (surge, unavailable), with unavailable 1 when both are 0.
    pub(crate) fn fenceposts(&self) -> (i64, i64) {
        match self.strategy {
            Strategy::Recreate => (0, 0),
            Strategy::RollingUpdate {
                max_surge,
                max_unavailable,
            } => {
                let surge = max_surge.scaled(self.replicas, true);
                let unavailable = max_unavailable.scaled(self.replicas, false);
                if surge == 0 && unavailable == 0 {
                    (0, 1)
                } else {
                    (surge, unavailable)
                }
            }
        }
    }

    /// `MaxSurge`.
    pub(crate) fn max_surge(&self) -> i64 {
        self.fenceposts().0
    }

    /// `MaxUnavailable`: 0 for Recreate or 0 replicas, at most the replicas.
    pub(crate) fn max_unavailable(&self) -> i64 {
        if self.strategy == Strategy::Recreate || self.replicas == 0 {
            return 0;
        }
        self.fenceposts().1.min(self.replicas)
    }

    /// `HasProgressDeadline`.
    pub(crate) fn has_progress_deadline(&self) -> bool {
        self.progress_deadline_seconds.is_some()
    }
}

/// A ReplicaSet owned by the Deployment: the stored values and the working values the
/// controller is changing during this pass.
#[derive(Debug, Clone)]
pub(crate) struct ReplicaSet<'a> {
    /// The stored object; `None` for the ReplicaSet being created in this pass.
    pub(crate) obj: Option<&'a Value>,
    pub(crate) name: String,
    pub(crate) uid: String,
    pub(crate) created: Option<DateTime<Utc>>,
    pub(crate) replicas: i64,
    pub(crate) stored_replicas: i64,
    pub(crate) annotations: Map<String, Value>,
    pub(crate) stored_annotations: Map<String, Value>,
    pub(crate) min_ready_seconds: i64,
    pub(crate) stored_min_ready_seconds: i64,
    pub(crate) status_replicas: i64,
    pub(crate) ready_replicas: i64,
    pub(crate) available_replicas: i64,
    pub(crate) generation: i64,
    pub(crate) observed_generation: i64,
    pub(crate) deleting: bool,
    pub(crate) template: &'a Value,
    /// The template's canonical form without the hash label, when the caller worked it out.
    pub(crate) canonical: Option<&'a Value>,
}

impl<'a> ReplicaSet<'a> {
    pub(crate) fn parse(obj: &'a Value) -> Self {
        let annotations = get(obj, &["metadata", "annotations"])
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let replicas = i64_at(obj, &["spec", "replicas"]).unwrap_or(1);
        let min_ready = i64_at(obj, &["spec", "minReadySeconds"]).unwrap_or(0);
        let n = |k: &str| i64_at(obj, &["status", k]).unwrap_or(0);
        Self {
            obj: Some(obj),
            name: name(obj).to_owned(),
            uid: uid(obj).to_owned(),
            created: created(obj),
            replicas,
            stored_replicas: replicas,
            stored_annotations: annotations.clone(),
            annotations,
            min_ready_seconds: min_ready,
            stored_min_ready_seconds: min_ready,
            status_replicas: n("replicas"),
            ready_replicas: n("readyReplicas"),
            available_replicas: n("availableReplicas"),
            generation: i64_at(obj, &["metadata", "generation"]).unwrap_or(0),
            observed_generation: n("observedGeneration"),
            deleting: is_deleting(obj),
            template: get(obj, &["spec", "template"]).unwrap_or(&Value::Null),
            canonical: None,
        }
    }

    fn annotation_i64(&self, key: &str) -> Option<i64> {
        self.annotations
            .get(key)
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
    }

    /// The revision annotation (0 when absent or invalid).
    pub(crate) fn revision(&self) -> i64 {
        self.annotation_i64(REVISION).unwrap_or(0)
    }

    /// The desired-replicas annotation.
    pub(crate) fn desired_replicas(&self) -> Option<i64> {
        self.annotation_i64(DESIRED_REPLICAS)
    }

    /// The max-replicas annotation.
    pub(crate) fn max_replicas(&self) -> Option<i64> {
        self.annotation_i64(MAX_REPLICAS)
    }

    /// Whether the working values differ from the stored ones.
    pub(crate) fn changed(&self) -> bool {
        self.replicas != self.stored_replicas
            || self.annotations != self.stored_annotations
            || self.min_ready_seconds != self.stored_min_ready_seconds
    }

    /// The order of `ReplicaSetsByCreationTimestamp` (creation time, then name).
    pub(crate) fn creation_key(&self) -> (Option<DateTime<Utc>>, String) {
        (self.created, self.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i64, surge: Value, unavailable: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"replicas": replicas, "strategy": {
            "type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}})
    }

    #[test]
    fn surge_rounds_up_and_unavailable_rounds_down() {
        let obj = deployment(2, json!("25%"), json!("25%"));
        let d = Deployment::parse(&obj);
        assert_eq!(d.fenceposts(), (1, 0));
        let obj = deployment(10, json!("25%"), json!("25%"));
        assert_eq!(Deployment::parse(&obj).fenceposts(), (3, 2));
        let obj = deployment(3, json!(2), json!("50%"));
        assert_eq!(Deployment::parse(&obj).fenceposts(), (2, 1));
    }

    #[test]
    fn both_fenceposts_zero_makes_one_unavailable() {
        let obj = deployment(1, json!("25%"), json!("25%"));
        let d = Deployment::parse(&obj);
        assert_eq!(d.fenceposts(), (1, 0));
        let obj = deployment(3, json!(0), json!("10%"));
        let d = Deployment::parse(&obj);
        assert_eq!(d.fenceposts(), (0, 1));
        assert_eq!(d.max_unavailable(), 1);
    }

    #[test]
    fn recreate_and_zero_replicas_allow_no_unavailability() {
        let obj = json!({"spec": {"replicas": 3, "strategy": {"type": "Recreate"}}});
        let d = Deployment::parse(&obj);
        assert_eq!((d.max_surge(), d.max_unavailable()), (0, 0));
        let obj = deployment(0, json!(1), json!(1));
        assert_eq!(Deployment::parse(&obj).max_unavailable(), 0);
    }
}
