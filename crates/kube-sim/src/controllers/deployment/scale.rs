//! Scaling events: proportional scaling of every active ReplicaSet when the Deployment's
//! replicas change (`isScalingEvent`, `scale`, `GetProportion`).

use std::cmp::Reverse;

use super::view::Strategy;
use super::work::Work;

impl Work<'_> {
    /// `isScalingEvent`: an active ReplicaSet was sized for another replica count.
    pub(crate) fn is_scaling_event(&self) -> bool {
        self.rss
            .iter()
            .filter(|rs| rs.replicas > 0 && rs.obj.is_some())
            .any(|rs| rs.desired_replicas().is_some_and(|d| d != self.d.replicas))
    }

    /// `FindActiveOrLatest`.
    fn active_or_latest(&self) -> Option<usize> {
        let mut old = self.old();
        if self.new.is_none() && old.is_empty() {
            return None;
        }
        old.sort_by_key(|i| Reverse(self.rss[*i].creation_key()));
        let mut candidates = old.clone();
        candidates.extend(self.new);
        let active: Vec<usize> = candidates.into_iter().filter(|i| self.rss[*i].replicas > 0).collect();
        match active.len() {
            0 => self.new.or_else(|| old.first().copied()),
            1 => active.first().copied(),
            _ => None,
        }
    }

    /// `IsSaturated`.
    fn is_saturated(&self, i: usize) -> bool {
        let rs = &self.rss[i];
        rs.replicas == self.d.replicas
            && rs.desired_replicas() == Some(self.d.replicas)
            && rs.available_replicas == self.d.replicas
    }

    /// `scale`: bring the ReplicaSets to the Deployment's size, proportionally during a
    /// rolling update.
    pub(crate) fn scale(&mut self) {
        if let Some(i) = self.active_or_latest() {
            if self.rss[i].replicas != self.d.replicas {
                self.scale_and_record(i, self.d.replicas);
            }
            return;
        }
        if self.new.is_some_and(|i| self.is_saturated(i)) {
            for i in self.active_old() {
                self.scale_and_record(i, 0);
            }
            return;
        }
        if !matches!(self.d.strategy, Strategy::RollingUpdate { .. }) {
            return;
        }
        let mut active: Vec<usize> = self.all().into_iter().filter(|i| self.rss[*i].replicas > 0).collect();
        let current = self.spec_sum(&active);
        let allowed = if self.d.replicas > 0 {
            self.d.replicas + self.d.max_surge()
        } else {
            0
        };
        let to_add = allowed - current;
        let op = match to_add.signum() {
            1 => {
                // Bigger first; newer first among equals.
                active.sort_by_key(|i| (Reverse(self.rss[*i].replicas), Reverse(self.rss[*i].creation_key())));
                "up"
            }
            -1 => {
                // Bigger first; older first among equals.
                active.sort_by_key(|i| (Reverse(self.rss[*i].replicas), self.rss[*i].creation_key()));
                "down"
            }
            _ => "",
        };
        let mut added = 0;
        let mut sizes = Vec::with_capacity(active.len());
        for &i in &active {
            if to_add != 0 {
                let proportion = self.proportion(i, to_add, added);
                sizes.push(self.rss[i].replicas + proportion);
                added += proportion;
            } else {
                sizes.push(self.rss[i].replicas);
            }
        }
        for (pos, &i) in active.iter().enumerate() {
            let mut size = sizes[pos];
            if pos == 0 && to_add != 0 {
                size = (size + to_add - added).max(0);
            }
            self.scale_replica_set(i, size, op);
        }
    }

    /// `GetProportion`.
    fn proportion(&self, i: usize, to_add: i64, added: i64) -> i64 {
        let rs = &self.rss[i];
        if rs.replicas == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = self.fraction(i);
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// `getReplicaSetFraction`.
    fn fraction(&self, i: usize) -> i64 {
        let rs = &self.rss[i];
        if self.d.replicas == 0 {
            return -rs.replicas;
        }
        let max_replicas = self.d.replicas + self.d.max_surge();
        let before = rs.max_replicas().unwrap_or(self.d.status.replicas);
        if before == 0 {
            return 0;
        }
        let size = (rs.replicas * max_replicas) as f64 / before as f64;
        size.round() as i64 - rs.replicas
    }
}
