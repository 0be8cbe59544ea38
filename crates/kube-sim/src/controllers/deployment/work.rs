//! One pass of the Deployment controller over one Deployment: the working state, the shared
//! helpers (`scaleReplicaSet`, `calculateStatus`, `syncRolloutStatus`) and the writes it ends
//! with.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::status::{AVAILABLE, Condition, DeploymentStatus, PROGRESSING, REPLICA_FAILURE, reason};
use super::view::{DESIRED_REPLICAS, Deployment, MAX_REPLICAS, ReplicaSet};
use crate::controllers::events::{Subject, normal_event};
use crate::controllers::json::{parse_time, set};
use crate::controllers::model::Action;
use crate::rng::SimRng;

/// The working state of one pass.
pub(crate) struct Work<'a> {
    pub(crate) d: Deployment<'a>,
    /// The owned ReplicaSets (plus the one being created), sorted by creation.
    pub(crate) rss: Vec<ReplicaSet<'a>>,
    /// Index of the new ReplicaSet in `rss`.
    pub(crate) new: Option<usize>,
    /// The Deployment's status as this pass changes it (`d.Status` in the upstream code).
    pub(crate) status: DeploymentStatus,
    /// The Deployment's annotations as this pass changes them (the revision).
    pub(crate) annotations: serde_json::Map<String, Value>,
    /// Pods owned by the owned ReplicaSets, with the uid of their ReplicaSet.
    pub(crate) pods: Vec<(&'a str, &'a Value)>,
    pub(crate) now: DateTime<Utc>,
    /// ReplicaSets to create.
    pub(crate) creates: Vec<Value>,
    /// Names of ReplicaSets to delete.
    pub(crate) deletes: Vec<String>,
    /// `(reason, message)` of the events to record on the Deployment.
    pub(crate) events: Vec<(&'static str, String)>,
    /// Whether the pass ends with a status write (when anything changed).
    pub(crate) write_status: bool,
}

impl<'a> Work<'a> {
    pub(crate) fn new(
        d: Deployment<'a>,
        mut rss: Vec<ReplicaSet<'a>>,
        pods: Vec<(&'a str, &'a Value)>,
        now: DateTime<Utc>,
    ) -> Self {
        rss.sort_by_key(ReplicaSet::creation_key);
        Self {
            status: d.status.clone(),
            annotations: d.annotations.clone(),
            d,
            rss,
            new: None,
            pods,
            now,
            creates: Vec::new(),
            deletes: Vec::new(),
            events: Vec::new(),
            write_status: false,
        }
    }

    /// Indices of the old ReplicaSets (every owned one but the new one), by creation.
    pub(crate) fn old(&self) -> Vec<usize> {
        (0..self.rss.len()).filter(|i| Some(*i) != self.new).collect()
    }

    /// Indices of the old ReplicaSets with replicas (`FilterActiveReplicaSets`).
    pub(crate) fn active_old(&self) -> Vec<usize> {
        self.old().into_iter().filter(|i| self.rss[*i].replicas > 0).collect()
    }

    /// Σ spec.replicas of the given ReplicaSets (`GetReplicaCountForReplicaSets`).
    pub(crate) fn spec_sum(&self, idx: &[usize]) -> i64 {
        idx.iter().map(|i| self.rss[*i].replicas).sum()
    }

    /// Σ status.availableReplicas of the given ReplicaSets.
    pub(crate) fn available_sum(&self, idx: &[usize]) -> i64 {
        idx.iter().map(|i| self.rss[*i].available_replicas).sum()
    }

    /// Every index.
    pub(crate) fn all(&self) -> Vec<usize> {
        (0..self.rss.len()).collect()
    }

    /// `scaleReplicaSetAndRecordEvent`.
    pub(crate) fn scale_and_record(&mut self, i: usize, new_scale: i64) -> bool {
        if self.rss[i].replicas == new_scale {
            return false;
        }
        let op = if self.rss[i].replicas > new_scale { "down" } else { "up" };
        self.scale_replica_set(i, new_scale, op)
    }

    /// `scaleReplicaSet`: sets the size and the desired/max annotations; records a
    /// `ScalingReplicaSet` event when the size changes. Returns whether it did.
    pub(crate) fn scale_replica_set(&mut self, i: usize, new_scale: i64, op: &str) -> bool {
        let desired = self.d.replicas;
        let max = desired + self.d.max_surge();
        let rs = &mut self.rss[i];
        let size_changes = rs.replicas != new_scale;
        let annotations_change = rs.desired_replicas() != Some(desired) || rs.max_replicas() != Some(max);
        if !(size_changes || annotations_change) {
            return false;
        }
        let old = rs.replicas;
        rs.replicas = new_scale;
        rs.annotations
            .insert(DESIRED_REPLICAS.to_owned(), json!(desired.to_string()));
        rs.annotations.insert(MAX_REPLICAS.to_owned(), json!(max.to_string()));
        if size_changes {
            let message = format!("Scaled {op} replica set {} from {old} to {new_scale}", rs.name);
            self.events.push(("ScalingReplicaSet", message));
        }
        size_changes
    }

    /// `calculateStatus`: counts from the ReplicaSets, conditions carried over, `Available`
    /// recomputed.
    pub(crate) fn calculate_status(&self) -> DeploymentStatus {
        let all = self.all();
        let available = self.available_sum(&all);
        let total = self.spec_sum(&all);
        let mut status = DeploymentStatus {
            observed_generation: self.d.generation,
            replicas: self.rss.iter().map(|r| r.status_replicas).sum(),
            updated_replicas: self.new.map(|i| self.rss[i].status_replicas).unwrap_or(0),
            ready_replicas: self.rss.iter().map(|r| r.ready_replicas).sum(),
            available_replicas: available,
            unavailable_replicas: (total - available).max(0),
            conditions: self.status.conditions.clone(),
            collision_count: self.status.collision_count,
        };
        let condition = if available >= self.d.replicas - self.d.max_unavailable() {
            Condition::new(
                AVAILABLE,
                "True",
                reason::MIN_AVAILABLE,
                "Deployment has minimum availability.".to_owned(),
                self.now,
            )
        } else {
            Condition::new(
                AVAILABLE,
                "False",
                reason::MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.".to_owned(),
                self.now,
            )
        };
        status.set_condition(condition);
        status
    }

    /// `syncDeploymentStatus`: the counts and `Available`, without progress estimation.
    pub(crate) fn sync_deployment_status(&mut self) {
        self.status = self.calculate_status();
        self.write_status = true;
    }

    fn subject(&self, what: &str) -> String {
        match self.new {
            Some(i) => format!("ReplicaSet \"{}\" {what}", self.rss[i].name),
            None => format!("Deployment \"{}\" {what}", self.d.name),
        }
    }

    /// `syncRolloutStatus`: the counts, `Available`, and `Progressing` estimated against the
    /// previous status and the progress deadline.
    pub(crate) fn sync_rollout_status(&mut self) {
        let mut new = self.calculate_status();
        if !self.d.has_progress_deadline() {
            new.remove_condition(PROGRESSING);
        }
        let current = self.status.condition(PROGRESSING).cloned();
        let is_complete = new.replicas == new.updated_replicas
            && current.as_ref().is_some_and(|c| c.reason == reason::NEW_RS_AVAILABLE);
        if self.d.has_progress_deadline() && !is_complete {
            if deployment_complete(&self.d, &new) {
                let message = self.subject("has successfully progressed.");
                new.set_condition(Condition::new(
                    PROGRESSING,
                    "True",
                    reason::NEW_RS_AVAILABLE,
                    message,
                    self.now,
                ));
            } else if deployment_progressing(&self.status, &new) {
                let message = self.subject("is progressing.");
                let mut condition = Condition::new(PROGRESSING, "True", reason::RS_UPDATED, message, self.now);
                if let Some(current) = &current {
                    if current.status == "True" {
                        condition.last_transition_time = current.last_transition_time.clone();
                    }
                    new.remove_condition(PROGRESSING);
                }
                new.set_condition(condition);
            } else if self.timed_out(&new) {
                let message = self.subject("has timed out progressing.");
                new.set_condition(Condition::new(
                    PROGRESSING,
                    "False",
                    reason::TIMED_OUT,
                    message,
                    self.now,
                ));
            }
        }
        new.remove_condition(REPLICA_FAILURE);
        self.status = new;
        self.write_status = true;
    }

    /// `DeploymentTimedOut`.
    fn timed_out(&self, status: &DeploymentStatus) -> bool {
        let Some(deadline) = self.d.progress_deadline_seconds else {
            return false;
        };
        let Some(condition) = status.condition(PROGRESSING) else {
            return false;
        };
        if condition.reason == reason::NEW_RS_AVAILABLE {
            return false;
        }
        if condition.reason == reason::TIMED_OUT {
            return true;
        }
        parse_time(&condition.last_update_time)
            .is_some_and(|from| from + chrono::Duration::seconds(deadline) < self.now)
    }

    /// The writes of the pass, in order: ReplicaSet creations, updates and deletions, the
    /// events, then the Deployment status (only when it changed).
    pub(crate) fn finish(self, rng: &mut SimRng) -> Vec<Action> {
        let mut out = Vec::new();
        for object in self.creates {
            out.push(Action::Create {
                resource: "replicasets",
                object,
            });
        }
        for rs in &self.rss {
            if let Some(obj) = rs.obj
                && rs.changed()
            {
                let mut object = obj.clone();
                set(&mut object, &["spec", "replicas"], json!(rs.replicas));
                set(
                    &mut object,
                    &["metadata", "annotations"],
                    Value::Object(rs.annotations.clone()),
                );
                if rs.min_ready_seconds != rs.stored_min_ready_seconds {
                    set(&mut object, &["spec", "minReadySeconds"], json!(rs.min_ready_seconds));
                }
                out.push(Action::Update {
                    resource: "replicasets",
                    object,
                });
            }
        }
        for name in self.deletes {
            out.push(Action::Delete {
                resource: "replicasets",
                namespace: self.d.namespace.to_owned(),
                name,
            });
        }
        for (reason, message) in self.events {
            let subject = Subject {
                object: self.d.obj,
                kind: "Deployment",
                api_version: "apps/v1",
                component: "deployment-controller",
            };
            let object = normal_event(rng, &subject, reason, message, self.now);
            out.push(Action::Create {
                resource: "events",
                object,
            });
        }
        if self.write_status && (self.status != self.d.status || self.annotations != self.d.annotations) {
            let mut object = self.d.obj.clone();
            object["status"] = self.status.to_value();
            if !self.annotations.is_empty() || self.d.obj.pointer("/metadata/annotations").is_some() {
                set(
                    &mut object,
                    &["metadata", "annotations"],
                    Value::Object(self.annotations),
                );
            }
            out.push(Action::UpdateStatus {
                resource: "deployments",
                object,
            });
        }
        out
    }
}

/// `DeploymentComplete`.
pub(crate) fn deployment_complete(d: &Deployment<'_>, status: &DeploymentStatus) -> bool {
    status.updated_replicas == d.replicas
        && status.replicas == d.replicas
        && status.available_replicas == d.replicas
        && status.observed_generation >= d.generation
}

/// `DeploymentProgressing`: more updated, ready or available replicas, or fewer old ones.
pub(crate) fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let old_old = old.replicas - old.updated_replicas;
    let new_old = new.replicas - new.updated_replicas;
    new.updated_replicas > old.updated_replicas
        || new_old < old_old
        || new.ready_replicas > old.ready_replicas
        || new.available_replicas > old.available_replicas
}
