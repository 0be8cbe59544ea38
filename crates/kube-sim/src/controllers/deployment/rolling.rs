//! The RollingUpdate and Recreate strategies (`rolling.go`, `recreate.go`), one step per pass.

use serde_json::Value;

use super::work::{Work, deployment_complete};

impl Work<'_> {
    /// `rolloutRolling`: create the new ReplicaSet, or scale it up, or scale old ones down, or
    /// clean up; then sync the status.
    pub(crate) fn rollout_rolling(&mut self, name_taken: &dyn Fn(&str) -> bool) {
        if self.new.is_none() {
            if self.create_new_rs(name_taken) {
                self.sync_rollout_status();
            }
            return;
        }
        if self.reconcile_new() || self.reconcile_old() {
            self.sync_rollout_status();
            return;
        }
        if deployment_complete(&self.d, &self.status) {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    /// `reconcileNewReplicaSet`.
    fn reconcile_new(&mut self) -> bool {
        let Some(i) = self.new else { return false };
        let replicas = self.rss[i].replicas;
        if replicas == self.d.replicas {
            return false;
        }
        if replicas > self.d.replicas {
            return self.scale_and_record(i, self.d.replicas);
        }
        let target = self.new_rs_new_replicas(i);
        self.scale_and_record(i, target)
    }

    /// `reconcileOldReplicaSets`: first shrink old ReplicaSets by their unhealthy replicas,
    /// then by the available surplus, never below the minimum availability.
    fn reconcile_old(&mut self) -> bool {
        let Some(new) = self.new else { return false };
        let old = self.active_old();
        if self.spec_sum(&old) == 0 {
            return false;
        }
        let all_pods = self.spec_sum(&self.all());
        let min_available = self.d.replicas - self.d.max_unavailable();
        let new_unavailable = self.rss[new].replicas - self.rss[new].available_replicas;
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let cleaned = self.cleanup_unhealthy_replicas(&old, max_scaled_down);
        let scaled = self.scale_down_old_for_rolling_update(&old, new);
        cleaned + scaled > 0
    }

    fn cleanup_unhealthy_replicas(&mut self, old: &[usize], max_cleanup: i64) -> i64 {
        let mut total = 0;
        for &i in old {
            if total >= max_cleanup {
                break;
            }
            let (replicas, available) = (self.rss[i].replicas, self.rss[i].available_replicas);
            if replicas == 0 || replicas == available {
                continue;
            }
            let count = (max_cleanup - total).min(replicas - available);
            self.scale_and_record(i, replicas - count);
            total += count;
        }
        total
    }

    fn scale_down_old_for_rolling_update(&mut self, old: &[usize], new: usize) -> i64 {
        let min_available = self.d.replicas - self.d.max_unavailable();
        let mut counted = old.to_vec();
        counted.push(new);
        let available = self.available_sum(&counted);
        if available <= min_available {
            return 0;
        }
        let to_scale_down = available - min_available;
        let mut total = 0;
        for &i in old {
            if total >= to_scale_down {
                break;
            }
            let replicas = self.rss[i].replicas;
            if replicas == 0 {
                continue;
            }
            let count = replicas.min(to_scale_down - total);
            self.scale_and_record(i, replicas - count);
            total += count;
        }
        total
    }

    /// `rolloutRecreate`: scale every old ReplicaSet to 0, wait until no old pod is left,
    /// then create (or scale) the new ReplicaSet to the full size.
    pub(crate) fn rollout_recreate(&mut self, name_taken: &dyn Fn(&str) -> bool) {
        let mut scaled_down = false;
        for i in self.active_old() {
            scaled_down |= self.scale_and_record(i, 0);
        }
        if scaled_down || self.old_pods_running() {
            self.sync_rollout_status();
            return;
        }
        let Some(new) = self.new else {
            if self.create_new_rs(name_taken) {
                self.sync_rollout_status();
            }
            return;
        };
        self.scale_and_record(new, self.d.replicas);
        if deployment_complete(&self.d, &self.status) {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    /// `oldPodsRunning`: old ReplicaSets still report replicas, or a pod of an old
    /// ReplicaSet (terminating ones included) is not finished.
    fn old_pods_running(&self) -> bool {
        if self.old().iter().map(|i| self.rss[*i].status_replicas).sum::<i64>() > 0 {
            return true;
        }
        let new_uid = self.new.map(|i| self.rss[i].uid.as_str());
        self.pods.iter().any(|(owner, pod)| {
            Some(*owner) != new_uid
                && !matches!(
                    pod.pointer("/status/phase").and_then(Value::as_str),
                    Some("Succeeded" | "Failed")
                )
        })
    }
}
