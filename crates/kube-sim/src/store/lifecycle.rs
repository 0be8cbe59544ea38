//! Deletion and the lifecycle work that follows it: graceful pod deletion, propagation
//! policies, namespace termination and the seed namespaces (spec §3.6).

use std::sync::Arc;

use chrono::Duration;
use serde_json::{Value, json};

use super::fields::{meta_mut, meta_str, owner_uids, timestamp};
use super::history::{Change, EventType};
use super::options::{DeleteOptions, DeleteOutcome, PropagationPolicy, WriteOptions};
use super::resources::ResourceType;
use super::{Key, SEED_NAMESPACES, StateGuard, Store, StoreError};

impl Store {
    pub(super) fn seed_namespaces(&self) {
        let Some(namespaces) = ResourceType::by_plural("namespaces") else {
            return;
        };
        for name in SEED_NAMESPACES {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            if let Err(error) = self.create(namespaces, "", body, &WriteOptions::new("kube-apiserver"), false) {
                tracing::error!(message = "Failed to seed a namespace.", namespace = name, %error);
            }
        }
    }

    /// Persists a changed object without the write pipeline (lifecycle bookkeeping).
    fn persist_modified(
        state: &mut StateGuard<'_>,
        resource: &'static ResourceType,
        key: Key,
        old: Arc<Value>,
        mut new: Value,
    ) -> Arc<Value> {
        let rv = state.next_rv();
        meta_mut(&mut new).insert("resourceVersion".into(), Value::String(rv.to_string()));
        let object = Arc::new(new);
        state.objects.insert(key, Arc::clone(&object));
        state.record(Change::new(
            rv,
            EventType::Modified,
            resource,
            Arc::clone(&object),
            Some(old),
        ));
        object
    }

    /// Removes an object, recording a DELETED event carrying a fresh resourceVersion.
    fn persist_removed(state: &mut StateGuard<'_>, resource: &'static ResourceType, key: &Key) -> Option<Arc<Value>> {
        let old = state.objects.remove(key)?;
        let rv = state.next_rv();
        let mut last = (*old).clone();
        meta_mut(&mut last).insert("resourceVersion".into(), Value::String(rv.to_string()));
        let last = Arc::new(last);
        state.record(Change::new(
            rv,
            EventType::Deleted,
            resource,
            Arc::clone(&last),
            Some(old),
        ));
        Some(last)
    }

    fn check_delete_preconditions(
        resource: &'static ResourceType,
        name: &str,
        object: &Value,
        options: &DeleteOptions,
    ) -> Result<(), StoreError> {
        let uid = meta_str(object, "uid").unwrap_or_default();
        if let Some(expected) = options.precondition_uid.as_deref().filter(|u| *u != uid) {
            return Err(StoreError::PreconditionFailed {
                resource,
                name: name.to_string(),
                detail: format!("UID in precondition: {expected}, UID in object meta: {uid}"),
            });
        }
        let rv = meta_str(object, "resourceVersion").unwrap_or_default();
        if let Some(expected) = options.precondition_rv.as_deref().filter(|r| *r != rv) {
            return Err(StoreError::PreconditionFailed {
                resource,
                name: name.to_string(),
                detail: format!("ResourceVersion in precondition: {expected}, ResourceVersion in object meta: {rv}"),
            });
        }
        Ok(())
    }

    /// Deletes an object (DELETE), honouring grace periods and the propagation policy.
    pub fn delete(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<DeleteOutcome, StoreError> {
        let mut state = self.lock();
        let key = Key::new(resource, namespace, name);
        let old = state.objects.get(&key).cloned().ok_or_else(|| StoreError::NotFound {
            resource,
            name: name.to_string(),
        })?;
        Self::check_delete_preconditions(resource, name, &old, options)?;
        let now = self.clock.now();
        let already_deleting = old.pointer("/metadata/deletionTimestamp").is_some();
        let policy = options.propagation.unwrap_or_default();
        let has_finalizers = old
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());

        let mut marked = (*old).clone();
        let pending = match resource.plural {
            "namespaces" => {
                if !already_deleting {
                    meta_mut(&mut marked).insert("deletionTimestamp".into(), Value::String(timestamp(now)));
                    if let Some(Value::Object(s)) = marked
                        .as_object_mut()
                        .map(|m| m.entry("status").or_insert_with(|| json!({})))
                    {
                        s.insert("phase".into(), json!("Terminating"));
                    }
                }
                true
            }
            "pods" => {
                let grace = options.grace_period.unwrap_or_else(|| {
                    old.pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                        .unwrap_or(30)
                });
                if grace <= 0 && !has_finalizers {
                    false
                } else {
                    if !already_deleting {
                        let meta = meta_mut(&mut marked);
                        meta.insert(
                            "deletionTimestamp".into(),
                            Value::String(timestamp(now + Duration::seconds(grace.max(0)))),
                        );
                        meta.insert("deletionGracePeriodSeconds".into(), json!(grace.max(0)));
                    }
                    true
                }
            }
            _ if policy == PropagationPolicy::Foreground || has_finalizers => {
                let meta = meta_mut(&mut marked);
                if !already_deleting {
                    meta.insert("deletionTimestamp".into(), Value::String(timestamp(now)));
                    meta.insert("deletionGracePeriodSeconds".into(), json!(0));
                }
                if policy == PropagationPolicy::Foreground {
                    let finalizers = meta.entry("finalizers").or_insert_with(|| json!([]));
                    if let Value::Array(f) = finalizers
                        && !f.iter().any(|v| v == "foregroundDeletion")
                    {
                        f.push(json!("foregroundDeletion"));
                    }
                }
                true
            }
            _ => false,
        };

        if pending {
            if options.dry_run || marked == *old {
                return Ok(DeleteOutcome::Pending(marked));
            }
            let object = Self::persist_modified(&mut state, resource, key, old, marked);
            drop(state);
            return Ok(DeleteOutcome::Pending(Arc::unwrap_or_clone(object)));
        }
        if options.dry_run {
            return Ok(DeleteOutcome::Removed((*old).clone()));
        }
        if policy == PropagationPolicy::Orphan {
            let uid = meta_str(&old, "uid").unwrap_or_default().to_string();
            Self::orphan_dependents(&mut state, &uid);
        }
        let removed = Self::persist_removed(&mut state, resource, &key);
        drop(state);
        match removed {
            Some(object) => Ok(DeleteOutcome::Removed(Arc::unwrap_or_clone(object))),
            None => Err(StoreError::NotFound {
                resource,
                name: name.to_string(),
            }),
        }
    }

    fn orphan_dependents(state: &mut StateGuard<'_>, owner_uid: &str) {
        let dependents: Vec<(Key, Arc<Value>)> = state
            .objects
            .iter()
            .filter(|(_, v)| owner_uids(v).iter().any(|u| u == owner_uid))
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        for (key, old) in dependents {
            let Some(resource) = ResourceType::by_plural(key.resource) else {
                continue;
            };
            let mut new = (*old).clone();
            let meta = meta_mut(&mut new);
            if let Some(Value::Array(refs)) = meta.get_mut("ownerReferences") {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
                if refs.is_empty() {
                    meta.remove("ownerReferences");
                }
            }
            Self::persist_modified(state, resource, key, old, new);
        }
    }

    /// Removes an object for good (the end of a pod's grace period). Returns its final state.
    pub fn remove(&self, resource: &'static ResourceType, namespace: &str, name: &str) -> Result<Value, StoreError> {
        let mut state = self.lock();
        let removed = Self::persist_removed(&mut state, resource, &Key::new(resource, namespace, name));
        drop(state);
        match removed {
            Some(object) => Ok(Arc::unwrap_or_clone(object)),
            None => Err(StoreError::NotFound {
                resource,
                name: name.to_string(),
            }),
        }
    }

    /// One pass of the lifecycle work the namespace controller and the garbage collector do:
    /// empties and then removes terminating namespaces, and finishes foreground deletions.
    /// Returns whether it changed anything; when it did not, another pass over the same
    /// objects does not either.
    pub fn housekeeping(&self) -> bool {
        let mut state = self.lock();
        let mut changed = false;
        let now = self.clock.now();

        let terminating: Vec<String> = state
            .objects
            .of("namespaces")
            .filter(|(_, v)| v.pointer("/metadata/deletionTimestamp").is_some())
            .map(|(k, _)| k.name.clone())
            .collect();
        for ns in terminating {
            let contents: Vec<Key> = state
                .objects
                .keys()
                .filter(|k| k.resource != "namespaces" && k.namespace == ns)
                .cloned()
                .collect();
            let target = if contents.is_empty() {
                vec![Key {
                    resource: "namespaces",
                    namespace: String::new(),
                    name: ns.clone(),
                }]
            } else {
                contents
            };
            for key in target {
                if let Some(resource) = ResourceType::by_plural(key.resource)
                    && Self::persist_removed(&mut state, resource, &key).is_some()
                {
                    changed = true;
                }
            }
        }

        // Scanning every object (Events included) at every tick would hold the lock for
        // milliseconds at scale; the index counts the owners in foreground deletion.
        let foreground: Vec<(Key, Arc<Value>)> = if state.objects.in_foreground_deletion() == 0 {
            Vec::new()
        } else {
            state
                .objects
                .iter()
                .filter(|(_, v)| super::objects::in_foreground_deletion(v))
                .map(|(k, v)| (k.clone(), Arc::clone(v)))
                .collect()
        };
        for (key, owner) in foreground {
            let uid = meta_str(&owner, "uid").unwrap_or_default().to_string();
            let dependents: Vec<(Key, Arc<Value>)> = state
                .objects
                .iter()
                .filter(|(_, v)| owner_uids(v).contains(&uid))
                .map(|(k, v)| (k.clone(), Arc::clone(v)))
                .collect();
            if dependents.is_empty() {
                if let Some(resource) = ResourceType::by_plural(key.resource)
                    && Self::persist_removed(&mut state, resource, &key).is_some()
                {
                    changed = true;
                }
                continue;
            }
            for (dep_key, dep) in dependents {
                if dep.pointer("/metadata/deletionTimestamp").is_some() {
                    continue;
                }
                let Some(resource) = ResourceType::by_plural(dep_key.resource) else {
                    continue;
                };
                let dep_uid = meta_str(&dep, "uid").unwrap_or_default().to_string();
                let has_own_dependents = state.objects.values().any(|v| owner_uids(v).contains(&dep_uid));
                if resource.plural != "pods" && !has_own_dependents {
                    if Self::persist_removed(&mut state, resource, &dep_key).is_some() {
                        changed = true;
                    }
                    continue;
                }
                let mut marked = (*dep).clone();
                let meta = meta_mut(&mut marked);
                if resource.plural == "pods" {
                    let grace = dep
                        .pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                        .unwrap_or(30);
                    meta.insert(
                        "deletionTimestamp".into(),
                        Value::String(timestamp(now + Duration::seconds(grace))),
                    );
                    meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
                } else {
                    meta.insert("deletionTimestamp".into(), Value::String(timestamp(now)));
                    meta.insert("deletionGracePeriodSeconds".into(), json!(0));
                    meta.insert("finalizers".into(), json!(["foregroundDeletion"]));
                }
                Self::persist_modified(&mut state, resource, dep_key, dep, marked);
                changed = true;
            }
        }
        drop(state);
        changed
    }
}
