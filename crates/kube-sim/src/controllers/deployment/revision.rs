//! Finding the new ReplicaSet, syncing revisions, creating the new ReplicaSet and cleaning up
//! old ones (`getNewReplicaSet`, `SetNewReplicaSetAnnotations`, `cleanupDeployment`).

use serde_json::{Value, json};

use super::status::{Condition, PROGRESSING, reason};
use super::view::{ANNOTATIONS_NOT_COPIED, REVISION, REVISION_HISTORY, ReplicaSet, Strategy};
use super::work::Work;
use crate::controllers::json::set;
use crate::controllers::template::{POD_TEMPLATE_HASH_LABEL, equal_ignoring_hash, pod_template_hash};

/// The longest `revision-history` annotation kept (`maxRevHistoryLengthInChars`).
const MAX_REVISION_HISTORY_CHARS: usize = 2000;

impl Work<'_> {
    /// `FindNewReplicaSet`: the oldest owned ReplicaSet whose template equals the
    /// Deployment's, ignoring the hash label.
    pub(crate) fn find_new(&mut self) {
        let (template, canonical) = (self.d.template, self.d.canonical);
        self.new = self.rss.iter().position(|rs| match (rs.canonical, canonical) {
            (Some(a), Some(b)) => a == b,
            _ => equal_ignoring_hash(rs.template, template),
        });
    }

    /// The highest revision among the old ReplicaSets (`MaxRevision`).
    fn max_old_revision(&self) -> i64 {
        self.old().iter().map(|i| self.rss[*i].revision()).max().unwrap_or(0)
    }

    /// `SetNewReplicaSetAnnotations`: copies the Deployment's annotations, raises the revision
    /// (recording the previous one in the revision history) and, for a ReplicaSet about to be
    /// created, sets the desired/max replicas. Returns whether anything changed.
    fn set_new_rs_annotations(&mut self, i: usize, new_revision: i64, exists: bool) -> bool {
        let desired = self.d.replicas;
        let max = desired + self.d.max_surge();
        let mut changed = false;
        let copied: Vec<(String, Value)> = self
            .d
            .annotations
            .iter()
            .filter(|(k, _)| !ANNOTATIONS_NOT_COPIED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let rs = &mut self.rss[i];
        for (k, v) in copied {
            if rs.annotations.get(&k) != Some(&v) {
                rs.annotations.insert(k, v);
                changed = true;
            }
        }
        let old_text = rs.annotations.get(REVISION).and_then(Value::as_str).map(str::to_owned);
        let old_revision = match old_text.as_deref().map(str::parse::<i64>) {
            None => 0,
            Some(Ok(r)) => r,
            Some(Err(_)) => return false,
        };
        if old_revision < new_revision {
            rs.annotations
                .insert(REVISION.to_owned(), json!(new_revision.to_string()));
            changed = true;
            if let Some(old_text) = old_text {
                let history = rs
                    .annotations
                    .get(REVISION_HISTORY)
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let value = append_revision_history(history, &old_text);
                if let Some(value) = value {
                    rs.annotations.insert(REVISION_HISTORY.to_owned(), json!(value));
                }
            }
        }
        if !exists {
            for (k, v) in [
                (super::view::DESIRED_REPLICAS, desired),
                (super::view::MAX_REPLICAS, max),
            ] {
                let v = json!(v.to_string());
                if rs.annotations.get(k) != Some(&v) {
                    rs.annotations.insert(k.to_owned(), v);
                    changed = true;
                }
            }
        }
        changed
    }

    /// `SetDeploymentRevision`.
    fn set_deployment_revision(&mut self, revision: &str) {
        if self.annotations.get(REVISION).and_then(Value::as_str) != Some(revision) {
            self.annotations.insert(REVISION.to_owned(), json!(revision));
        }
    }

    /// The existing-new-ReplicaSet half of `getNewReplicaSet`. Returns `true` when the
    /// ReplicaSet itself had to be updated (its annotations or minReadySeconds), which is
    /// this pass's only step.
    pub(crate) fn sync_existing_new_rs(&mut self, i: usize) -> bool {
        let new_revision = self.max_old_revision() + 1;
        let annotations_changed = self.set_new_rs_annotations(i, new_revision, true);
        let min_ready_changed = self.rss[i].min_ready_seconds != self.d.min_ready_seconds;
        if annotations_changed || min_ready_changed {
            self.rss[i].min_ready_seconds = self.d.min_ready_seconds;
            return true;
        }
        let revision = self.rss[i]
            .annotations
            .get(REVISION)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        self.set_deployment_revision(&revision);
        if self.d.has_progress_deadline() && self.status.condition(PROGRESSING).is_none() {
            let message = format!("Found new replica set \"{}\"", self.rss[i].name);
            self.status.set_condition(Condition::new(
                PROGRESSING,
                "True",
                reason::FOUND_NEW_RS,
                message,
                self.now,
            ));
            self.write_status = true;
        }
        false
    }

    /// `NewRSNewReplicas`: the size the new ReplicaSet may have now.
    pub(crate) fn new_rs_new_replicas(&self, i: usize) -> i64 {
        match self.d.strategy {
            Strategy::Recreate => self.d.replicas,
            Strategy::RollingUpdate { max_surge, .. } => {
                let surge = max_surge.scaled(self.d.replicas, true);
                let current = self.spec_sum(&self.all());
                let max_total = self.d.replicas + surge;
                let new = self.rss[i].replicas;
                if current >= max_total {
                    return new;
                }
                new + (max_total - current).min(self.d.replicas - new)
            }
        }
    }

    /// The creating half of `getNewReplicaSet`. Returns `false` on a hash collision, after
    /// raising `status.collisionCount` (the next pass tries again with a new hash).
    pub(crate) fn create_new_rs(&mut self, name_taken: &dyn Fn(&str) -> bool) -> bool {
        let hash = pod_template_hash(self.d.template, self.status.collision_count);
        let name = format!("{}-{}", self.d.name, hash);
        if name_taken(&name) {
            self.status.collision_count = Some(self.status.collision_count.unwrap_or(0) + 1);
            self.write_status = true;
            return false;
        }
        let new_revision = self.max_old_revision() + 1;
        let mut template = self.d.template.clone();
        set(
            &mut template,
            &["metadata", "labels", POD_TEMPLATE_HASH_LABEL],
            json!(hash),
        );
        let mut selector = self.d.selector.cloned().unwrap_or_else(|| json!({}));
        set(&mut selector, &["matchLabels", POD_TEMPLATE_HASH_LABEL], json!(hash));
        let labels = template
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or_else(|| json!({}));

        self.rss.push(ReplicaSet {
            obj: None,
            name: name.clone(),
            uid: String::new(),
            created: Some(self.now),
            replicas: 0,
            stored_replicas: 0,
            annotations: serde_json::Map::new(),
            stored_annotations: serde_json::Map::new(),
            min_ready_seconds: self.d.min_ready_seconds,
            stored_min_ready_seconds: self.d.min_ready_seconds,
            status_replicas: 0,
            ready_replicas: 0,
            available_replicas: 0,
            generation: 0,
            observed_generation: 0,
            deleting: false,
            template: self.d.template,
            canonical: self.d.canonical,
        });
        let i = self.rss.len() - 1;
        self.new = Some(i);
        let count = self.new_rs_new_replicas(i);
        self.rss[i].replicas = count;
        self.set_new_rs_annotations(i, new_revision, false);

        let mut spec = json!({"replicas": count});
        if self.d.min_ready_seconds != 0 {
            spec["minReadySeconds"] = json!(self.d.min_ready_seconds);
        }
        spec["selector"] = selector;
        spec["template"] = template;
        let object = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": self.d.namespace,
                "labels": labels,
                "annotations": Value::Object(self.rss[i].annotations.clone()),
                "ownerReferences": [{
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": self.d.name,
                    "uid": self.d.uid,
                    "controller": true,
                    "blockOwnerDeletion": true,
                }],
            },
            "spec": spec,
            "status": {"replicas": 0},
        });
        self.creates.push(object);
        if count > 0 {
            self.events.push((
                "ScalingReplicaSet",
                format!("Scaled up replica set {name} from 0 to {count}"),
            ));
        }
        self.set_deployment_revision(&new_revision.to_string());
        if self.d.has_progress_deadline() {
            let message = format!("Created new replica set \"{name}\"");
            self.status.set_condition(Condition::new(
                PROGRESSING,
                "True",
                reason::NEW_RS_CREATED,
                message,
                self.now,
            ));
        }
        self.write_status = true;
        true
    }

    /// `cleanupDeployment`: deletes the oldest old ReplicaSets beyond `revisionHistoryLimit`
    /// that have no replicas left.
    pub(crate) fn cleanup(&mut self) {
        let Some(limit) = self.d.revision_history_limit else {
            return;
        };
        let mut cleanable: Vec<usize> = self
            .old()
            .into_iter()
            .filter(|i| self.rss[*i].obj.is_some() && !self.rss[*i].deleting)
            .collect();
        let excess = cleanable.len() as i64 - limit;
        if excess <= 0 {
            return;
        }
        cleanable.sort_by_key(|i| (self.rss[*i].revision(), self.rss[*i].creation_key()));
        for i in cleanable.into_iter().take(excess as usize) {
            let rs = &self.rss[i];
            if rs.status_replicas != 0
                || rs.stored_replicas != 0
                || rs.generation > rs.observed_generation
                || rs.deleting
            {
                continue;
            }
            self.deletes.push(rs.name.clone());
        }
    }
}

/// Appends `old` to a comma-separated revision history, dropping the oldest entries to stay
/// within the length limit; `None` when even that is not enough.
fn append_revision_history(history: &str, old: &str) -> Option<String> {
    if history.is_empty() {
        return Some(old.to_owned());
    }
    let entries: Vec<&str> = history.split(',').collect();
    let mut total = history.len() + old.len() + 1;
    let mut start = 0;
    while total > MAX_REVISION_HISTORY_CHARS && start < entries.len() {
        total -= entries[start].len() + 1;
        start += 1;
    }
    if total > MAX_REVISION_HISTORY_CHARS {
        return None;
    }
    let mut kept: Vec<&str> = entries[start..].to_vec();
    kept.push(old);
    Some(kept.join(","))
}

#[cfg(test)]
mod tests {
    use super::append_revision_history;

    #[test]
    fn revision_history_appends_and_trims_the_oldest_entries() {
        assert_eq!(append_revision_history("", "1").as_deref(), Some("1"));
        assert_eq!(append_revision_history("1,3", "5").as_deref(), Some("1,3,5"));
        let long = vec!["1234"; 400].join(",");
        let appended = append_revision_history(&long, "99").unwrap_or_default();
        assert!(appended.len() <= 2000);
        assert!(appended.ends_with(",99"));
    }
}
