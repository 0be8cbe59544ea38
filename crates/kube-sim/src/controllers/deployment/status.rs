//! The Deployment status and its conditions, with the condition rules of
//! `deployment_util.go` (`SetDeploymentCondition`, `RemoveDeploymentCondition`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::controllers::json::format_time;

/// Condition type `Available`.
pub(crate) const AVAILABLE: &str = "Available";
/// Condition type `Progressing`.
pub(crate) const PROGRESSING: &str = "Progressing";
/// Condition type `ReplicaFailure`.
pub(crate) const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Reasons of the Deployment conditions.
pub(crate) mod reason {
    pub(crate) const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
    pub(crate) const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
    pub(crate) const RS_UPDATED: &str = "ReplicaSetUpdated";
    pub(crate) const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
    pub(crate) const TIMED_OUT: &str = "ProgressDeadlineExceeded";
    pub(crate) const PAUSED: &str = "DeploymentPaused";
    pub(crate) const RESUMED: &str = "DeploymentResumed";
    pub(crate) const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
    pub(crate) const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
}

/// One Deployment condition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Condition {
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) last_update_time: String,
    pub(crate) last_transition_time: String,
    pub(crate) reason: String,
    pub(crate) message: String,
}

impl Condition {
    /// A condition whose update and transition times are `now`.
    pub(crate) fn new(kind: &str, status: &str, reason: &str, message: String, now: DateTime<Utc>) -> Self {
        let time = format_time(now);
        Self {
            kind: kind.to_owned(),
            status: status.to_owned(),
            last_update_time: time.clone(),
            last_transition_time: time,
            reason: reason.to_owned(),
            message,
        }
    }

    fn from_value(v: &Value) -> Self {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        Self {
            kind: s("type"),
            status: s("status"),
            last_update_time: s("lastUpdateTime"),
            last_transition_time: s("lastTransitionTime"),
            reason: s("reason"),
            message: s("message"),
        }
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in [
            ("type", &self.kind),
            ("status", &self.status),
            ("lastUpdateTime", &self.last_update_time),
            ("lastTransitionTime", &self.last_transition_time),
            ("reason", &self.reason),
            ("message", &self.message),
        ] {
            if !v.is_empty() {
                m.insert(k.to_owned(), json!(v));
            }
        }
        Value::Object(m)
    }
}

/// `DeploymentStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct DeploymentStatus {
    pub(crate) observed_generation: i64,
    pub(crate) replicas: i64,
    pub(crate) updated_replicas: i64,
    pub(crate) ready_replicas: i64,
    pub(crate) available_replicas: i64,
    pub(crate) unavailable_replicas: i64,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) collision_count: Option<i64>,
}

impl DeploymentStatus {
    /// Reads a stored status (absent fields are zero).
    pub(crate) fn from_value(v: Option<&Value>) -> Self {
        let n = |k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_i64).unwrap_or(0);
        Self {
            observed_generation: n("observedGeneration"),
            replicas: n("replicas"),
            updated_replicas: n("updatedReplicas"),
            ready_replicas: n("readyReplicas"),
            available_replicas: n("availableReplicas"),
            unavailable_replicas: n("unavailableReplicas"),
            conditions: v
                .and_then(|v| v.get("conditions"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(Condition::from_value)
                .collect(),
            collision_count: v.and_then(|v| v.get("collisionCount")).and_then(Value::as_i64),
        }
    }

    /// The stored form, with Go's omitempty rules.
    pub(crate) fn to_value(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in [
            ("observedGeneration", self.observed_generation),
            ("replicas", self.replicas),
            ("updatedReplicas", self.updated_replicas),
            ("readyReplicas", self.ready_replicas),
            ("availableReplicas", self.available_replicas),
            ("unavailableReplicas", self.unavailable_replicas),
        ] {
            if v != 0 {
                m.insert(k.to_owned(), json!(v));
            }
        }
        if !self.conditions.is_empty() {
            m.insert(
                "conditions".to_owned(),
                Value::Array(self.conditions.iter().map(Condition::to_value).collect()),
            );
        }
        if let Some(c) = self.collision_count {
            m.insert("collisionCount".to_owned(), json!(c));
        }
        Value::Object(m)
    }

    /// The condition of a type.
    pub(crate) fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// `SetDeploymentCondition`: an identical status and reason is left alone; the transition
    /// time is kept when the status does not change; the condition moves to the end.
    pub(crate) fn set_condition(&mut self, mut condition: Condition) {
        if let Some(current) = self.condition(&condition.kind) {
            if current.status == condition.status && current.reason == condition.reason {
                return;
            }
            if current.status == condition.status {
                condition.last_transition_time = current.last_transition_time.clone();
            }
        }
        self.remove_condition(&condition.kind.clone());
        self.conditions.push(condition);
    }

    /// `RemoveDeploymentCondition`.
    pub(crate) fn remove_condition(&mut self, kind: &str) {
        self.conditions.retain(|c| c.kind != kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_735_689_600 + s, 0).unwrap_or_default()
    }

    #[test]
    fn status_round_trips_through_its_stored_form() {
        let mut s = DeploymentStatus {
            observed_generation: 2,
            replicas: 3,
            ..Default::default()
        };
        s.set_condition(Condition::new(
            AVAILABLE,
            "True",
            reason::MIN_AVAILABLE,
            "m".into(),
            at(0),
        ));
        s.collision_count = Some(0);
        let v = s.to_value();
        assert_eq!(v["replicas"], json!(3));
        assert!(v.get("availableReplicas").is_none());
        assert_eq!(DeploymentStatus::from_value(Some(&v)), s);
    }

    #[test]
    fn setting_a_condition_keeps_the_transition_time_while_the_status_holds() {
        let mut s = DeploymentStatus::default();
        s.set_condition(Condition::new(
            PROGRESSING,
            "True",
            reason::NEW_RS_CREATED,
            "a".into(),
            at(0),
        ));
        s.set_condition(Condition::new(
            AVAILABLE,
            "True",
            reason::MIN_AVAILABLE,
            "b".into(),
            at(1),
        ));
        // Same status and reason: untouched.
        s.set_condition(Condition::new(
            PROGRESSING,
            "True",
            reason::NEW_RS_CREATED,
            "c".into(),
            at(5),
        ));
        assert_eq!(s.condition(PROGRESSING).map(|c| c.message.as_str()), Some("a"));
        // Same status, new reason: new update time, old transition time, moved to the end.
        s.set_condition(Condition::new(
            PROGRESSING,
            "True",
            reason::RS_UPDATED,
            "d".into(),
            at(7),
        ));
        let c = s.conditions.last().cloned().unwrap_or_default();
        assert_eq!(
            (c.kind.as_str(), c.last_update_time.as_str()),
            (PROGRESSING, "2025-01-01T00:00:07Z")
        );
        assert_eq!(c.last_transition_time, "2025-01-01T00:00:00Z");
        // Status change: new transition time.
        s.set_condition(Condition::new(
            PROGRESSING,
            "False",
            reason::TIMED_OUT,
            "e".into(),
            at(9),
        ));
        assert_eq!(
            s.condition(PROGRESSING).map(|c| c.last_transition_time.as_str()),
            Some("2025-01-01T00:00:09Z")
        );
    }
}
