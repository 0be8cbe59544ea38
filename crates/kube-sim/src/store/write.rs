//! The write path: create, update, patch (four kinds) and the shared commit step
//! (defaulting, validation, managed fields, generation, no-op detection, persist, event).
//!
//! The commit step is split in two: [`Store::decide`] computes the object to store from the
//! stored version without the state lock, and `persist` stores it under the lock. Only the
//! reading of the stored version, the resourceVersion, the uid of a new object and the
//! persisting itself happen under the lock.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::fields::{meta_mut, meta_str, obj_mut, remove_field_path, same_but_volatile, timestamp};
use super::history::{Change, EventType};
use super::options::{FieldValidation, PatchKind, WriteOptions, WriteOutcome};
use super::resources::{ResourceType, Subresource};
use super::{Key, State, StateGuard, Store, StoreError};
use crate::{patch, schema};

/// Resources whose main-resource writes ignore `status`.
fn has_status(resource: &ResourceType) -> bool {
    resource.has_subresource(Subresource::Status)
}

fn initial_status(resource: &ResourceType) -> Option<Value> {
    match resource.plural {
        "namespaces" => Some(json!({"phase": "Active"})),
        "pods" => Some(json!({"phase": "Pending", "qosClass": "BestEffort"})),
        "services" => Some(json!({"loadBalancer": {}})),
        _ => None,
    }
}

fn check_type(resource: &ResourceType, body: &Value, required: bool) -> Result<(), StoreError> {
    let expected_version = resource.api_version();
    match body.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != expected_version => {
            return Err(StoreError::BadRequest(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected_version})"
            )));
        }
        None if required => {
            return Err(StoreError::BadRequest("apiVersion must be set".to_string()));
        }
        _ => {}
    }
    match body.get("kind").and_then(Value::as_str) {
        Some(k) if k != resource.kind => Err(StoreError::BadRequest(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            resource.kind
        ))),
        None if required => Err(StoreError::BadRequest("kind must be set".to_string())),
        _ => Ok(()),
    }
}

fn check_namespace(resource: &ResourceType, body: &mut Value, namespace: &str) -> Result<(), StoreError> {
    let meta = meta_mut(body);
    if !resource.namespaced {
        meta.remove("namespace");
        return Ok(());
    }
    match meta.get("namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() && ns != namespace => Err(StoreError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request".to_string(),
        )),
        _ => {
            meta.insert("namespace".into(), Value::String(namespace.to_string()));
            Ok(())
        }
    }
}

fn check_name(body: &Value, name: &str) -> Result<(), StoreError> {
    match meta_str(body, "name") {
        Some(n) if !n.is_empty() && n != name => Err(StoreError::BadRequest(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        ))),
        _ => Ok(()),
    }
}

/// Drops (or, under `Strict`, rejects) fields the schema does not know; returns warnings.
fn handle_unknown_fields(
    resource: &ResourceType,
    body: &mut Value,
    validation: FieldValidation,
    apply: bool,
) -> Result<Vec<String>, StoreError> {
    if validation == FieldValidation::Skip {
        return Ok(Vec::new());
    }
    let unknown = schema::unknown_fields(resource.kind, body);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    if validation == FieldValidation::Strict {
        let message = if apply {
            unknown
                .iter()
                .map(|p| format!("{p}: field not declared in schema"))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            let fields = unknown
                .iter()
                .map(|p| format!("unknown field \"{}\"", p.trim_start_matches('.')))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {fields}",
                kind = resource.kind,
                version = resource.version
            )
        };
        return Err(StoreError::BadRequest(message));
    }
    for path in &unknown {
        remove_field_path(body, path);
    }
    if validation == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    Ok(unknown
        .iter()
        .map(|p| format!("unknown field \"{}\"", p.trim_start_matches('.')))
        .collect())
}

/// Copies `status` (and, for Deployments, `metadata.annotations`) from `from` onto `onto`.
fn take_status(resource: &ResourceType, onto: &mut Value, from: &Value) {
    let map = obj_mut(onto);
    match from.get("status") {
        Some(status) => {
            map.insert("status".into(), status.clone());
        }
        None => {
            map.remove("status");
        }
    }
    if resource.plural == "deployments" {
        let annotations = from.pointer("/metadata/annotations").cloned();
        let meta = meta_mut(onto);
        match annotations {
            Some(a) => {
                meta.insert("annotations".into(), a);
            }
            None => {
                meta.remove("annotations");
            }
        }
    }
}

/// What a write of `body` to the object `old` stores, and its subresource: a status write
/// changes only the status (see [`take_status`]); a main-resource write keeps the stored one.
fn scope_to_subresource(
    resource: &ResourceType,
    old: &Value,
    body: Cow<'_, Value>,
    subresource: Option<Subresource>,
) -> (Value, Option<&'static str>) {
    match subresource {
        Some(Subresource::Status) => {
            let mut new = old.clone();
            take_status(resource, &mut new, &body);
            (new, Some("status"))
        }
        _ => {
            let mut new = body.into_owned();
            if has_status(resource) {
                keep_status(&mut new, old);
            }
            (new, None)
        }
    }
}

/// Keeps the stored `status` on a main-resource write.
fn keep_status(onto: &mut Value, old: &Value) {
    let map = obj_mut(onto);
    match old.get("status") {
        Some(s) => {
            map.insert("status".into(), s.clone());
        }
        None => {
            map.remove("status");
        }
    }
}

const SYSTEM_FIELDS: &[&str] = &[
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// One write on its way into the store, after the request-specific merging.
pub(super) struct Commit<'a> {
    pub(super) resource: &'static ResourceType,
    pub(super) namespace: &'a str,
    pub(super) name: String,
    pub(super) old: Option<Arc<Value>>,
    pub(super) new: Value,
    pub(super) manager: &'a str,
    pub(super) subresource: Option<&'static str>,
    pub(super) managed_fields_done: bool,
    pub(super) dry_run: bool,
}

impl<'a> Commit<'a> {
    /// A change by `options`' manager of the stored object `old` (of `subresource`, when
    /// set) into `new`, its managed fields still to be worked out.
    pub(super) fn change(
        resource: &'static ResourceType,
        namespace: &'a str,
        name: &str,
        old: Arc<Value>,
        new: Value,
        subresource: Option<&'static str>,
        options: &'a WriteOptions,
    ) -> Self {
        Self {
            resource,
            namespace,
            name: name.to_string(),
            old: Some(old),
            new,
            manager: &options.manager,
            subresource,
            managed_fields_done: false,
            dry_run: options.dry_run,
        }
    }
}

/// The stored object a write changes, or `NotFound` when there is none.
fn existing_or_not_found(
    old: Option<Arc<Value>>,
    resource: &'static ResourceType,
    name: &str,
) -> Result<Arc<Value>, StoreError> {
    old.ok_or_else(|| StoreError::NotFound {
        resource,
        name: name.to_string(),
    })
}

/// What the commit step decided for a write, before anything is persisted.
pub(super) enum Decided {
    /// The write changes nothing: the stored object.
    Unchanged(Arc<Value>),
    /// A dry run: the object as it would be stored.
    DryRun(Value),
    /// The object to store (without its resourceVersion), or to remove for good when
    /// `remove_now` (a deletion whose last finalizer went away).
    Persist { new: Value, remove_now: bool },
}

impl Store {
    /// The decisions of the commit step: system fields, defaulting, validation, generation,
    /// managed fields and no-op detection. Reads nothing but its inputs, so it runs without
    /// the state lock; `uid` draws the uid of a new object (only called for one, from the
    /// store's generator under the lock, so that uids are drawn in write order).
    pub(super) fn decide(
        c: Commit<'_>,
        now_text: &str,
        uid: &mut dyn FnMut() -> String,
    ) -> Result<Decided, StoreError> {
        let Commit {
            resource,
            namespace,
            name,
            old,
            mut new,
            manager,
            subresource,
            managed_fields_done,
            dry_run,
        } = c;
        {
            let map = obj_mut(&mut new);
            map.insert("apiVersion".into(), Value::String(resource.api_version()));
            map.insert("kind".into(), Value::String(resource.kind.to_string()));
        }
        {
            let meta = meta_mut(&mut new);
            meta.insert("name".into(), Value::String(name.clone()));
            if resource.namespaced {
                meta.insert("namespace".into(), Value::String(namespace.to_string()));
            } else {
                meta.remove("namespace");
            }
            meta.remove("resourceVersion");
            meta.remove("selfLink");
            for field in SYSTEM_FIELDS {
                meta.remove(*field);
            }
            match old.as_deref() {
                Some(old) => {
                    for field in SYSTEM_FIELDS {
                        if let Some(v) = old.get("metadata").and_then(|m| m.get(*field)) {
                            meta.insert((*field).to_string(), v.clone());
                        }
                    }
                }
                None => {
                    meta.insert("uid".into(), Value::String(uid()));
                    meta.insert("creationTimestamp".into(), Value::String(now_text.to_string()));
                    if resource.tracks_generation() {
                        meta.insert("generation".into(), json!(1));
                    }
                }
            }
        }
        schema::apply_defaults(resource.kind, &mut new);
        if let Err(invalid) = schema::validate(resource.kind, &new, old.as_deref()) {
            return Err(StoreError::Invalid {
                resource,
                name: name.clone(),
                message: invalid.message(&resource.qualified_kind(), &name),
                causes: invalid.causes_json(),
            });
        }
        if let Some(old) = old.as_deref()
            && subresource != Some("status")
            && resource.tracks_generation()
        {
            let spec_changed = old.get("spec") != new.get("spec");
            let annotations_changed = resource.plural == "deployments"
                && old.pointer("/metadata/annotations") != new.pointer("/metadata/annotations");
            if spec_changed || annotations_changed {
                let generation = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
                meta_mut(&mut new).insert("generation".into(), json!(generation + 1));
            }
        }
        if !managed_fields_done {
            patch::record_update(old.as_deref(), &mut new, manager, subresource, now_text);
        }
        if let Some(old) = old.as_ref()
            && same_but_volatile(old, &new)
        {
            return Ok(Decided::Unchanged(Arc::clone(old)));
        }
        let finalizers_done = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
        let remove_now = old.is_some()
            && new.pointer("/metadata/deletionTimestamp").is_some()
            && finalizers_done
            && !matches!(resource.plural, "pods" | "namespaces");
        if dry_run {
            if let Some(rv) = old.as_deref().and_then(|o| meta_str(o, "resourceVersion")) {
                meta_mut(&mut new).insert("resourceVersion".into(), Value::String(rv.to_string()));
            }
            return Ok(Decided::DryRun(new));
        }
        Ok(Decided::Persist { new, remove_now })
    }

    /// Persists what [`Store::decide`] decided for the object at `key`, whose stored version
    /// was `old`: the only part of a write that needs the state lock. Returns the object as
    /// stored (or as it would be, on a dry run).
    fn persist(
        state: &mut StateGuard<'_>,
        resource: &'static ResourceType,
        key: Key,
        old: Option<Arc<Value>>,
        decided: Decided,
    ) -> Arc<Value> {
        let (mut new, remove_now) = match decided {
            Decided::Unchanged(object) => return object,
            Decided::DryRun(object) => return Arc::new(object),
            Decided::Persist { new, remove_now } => (new, remove_now),
        };
        let rv = state.next_rv();
        meta_mut(&mut new).insert("resourceVersion".into(), Value::String(rv.to_string()));
        let object = Arc::new(new);
        let event = if remove_now {
            state.objects.remove(&key);
            EventType::Deleted
        } else {
            state.objects.insert(key, Arc::clone(&object));
            if old.is_some() {
                EventType::Modified
            } else {
                EventType::Added
            }
        };
        state.record(Change::new(rv, event, resource, Arc::clone(&object), old));
        object
    }

    /// The single commit step every write ends in, all under the state lock (creates, the
    /// scale subresource). Returns the resulting object.
    pub(super) fn commit(&self, state: &mut StateGuard<'_>, c: Commit<'_>) -> Result<Arc<Value>, StoreError> {
        let now_text = timestamp(self.clock.now());
        let (resource, key, old) = (c.resource, Key::new(c.resource, c.namespace, &c.name), c.old.clone());
        let decided = Self::decide(c, &now_text, &mut || state.rng.uid())?;
        Ok(Self::persist(state, resource, key, old, decided))
    }

    /// A write of the object at (`resource`, `namespace`, `name`) that replaces it with what
    /// `decide` makes of the stored version (`None` when there is none) at the given time.
    ///
    /// `decide` runs without the state lock: the lock is taken to read the stored version,
    /// and again to persist the result when that version is still the stored one and the
    /// time (to the second, as timestamps are written) has not moved on. Otherwise the write
    /// is decided again, under the lock. Either way the result is the one the write would
    /// have had all under the lock at the moment it is persisted, but request handlers and
    /// the controllers never wait on one another's defaulting, validation, patching and
    /// managed-fields work. `check` runs under the lock before each decision and before
    /// persisting (e.g. the namespace of an object to create must accept writes).
    fn write_object<T>(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
        check: impl Fn(&State, Option<&Arc<Value>>) -> Result<(), StoreError>,
        decide: impl Fn(Option<Arc<Value>>, &str, &mut dyn FnMut() -> String) -> Result<(Decided, T), StoreError>,
    ) -> Result<(Arc<Value>, T), StoreError> {
        let key = Key::new(resource, namespace, name);
        let mut state = self.lock();
        let old = state.objects.get(&key).cloned();
        check(&state, old.as_ref())?;
        // A write that creates the object draws its uid: it stays under the lock throughout.
        if let Some(stored) = old {
            drop(state);
            let now_text = timestamp(self.clock.now());
            let old = Some(stored);
            let (decided, extra) = decide(old.clone(), &now_text, &mut String::new)?;
            state = self.lock();
            let unchanged = match (state.objects.get(&key), old.as_ref()) {
                (Some(current), Some(old)) => Arc::ptr_eq(current, old),
                _ => false,
            };
            if unchanged && check(&state, old.as_ref()).is_ok() && timestamp(self.clock.now()) == now_text {
                return Ok((Self::persist(&mut state, resource, key, old, decided), extra));
            }
            // Someone wrote in between: decide again, holding the lock.
            drop(decided);
        }
        let old = state.objects.get(&key).cloned();
        check(&state, old.as_ref())?;
        let now_text = timestamp(self.clock.now());
        let (decided, extra) = decide(old.clone(), &now_text, &mut || state.rng.uid())?;
        Ok((Self::persist(&mut state, resource, key, old, decided), extra))
    }

    fn ensure_namespace_writable(
        state: &State,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        if !resource.namespaced {
            return Ok(());
        }
        let key = Key {
            resource: "namespaces",
            namespace: String::new(),
            name: namespace.to_string(),
        };
        let ns = state
            .objects
            .get(&key)
            .ok_or_else(|| StoreError::NamespaceNotFound(namespace.to_string()))?;
        if ns.pointer("/metadata/deletionTimestamp").is_some()
            || ns.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
        {
            return Err(StoreError::NamespaceTerminating {
                resource,
                name: name.to_string(),
                namespace: namespace.to_string(),
            });
        }
        Ok(())
    }

    fn prepare_new_object(resource: &ResourceType, object: &mut Value, keep_given_status: bool) {
        if !keep_given_status {
            let map = obj_mut(object);
            map.remove("status");
            if let Some(status) = initial_status(resource) {
                map.insert("status".into(), status);
            }
        }
        if resource.plural == "namespaces" {
            let name = meta_str(object, "name").unwrap_or_default().to_string();
            let meta = meta_mut(object);
            let labels = meta.entry("labels").or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(l) = labels {
                l.insert("kubernetes.io/metadata.name".into(), Value::String(name));
            }
            let spec = obj_mut(object).entry("spec").or_insert_with(|| json!({}));
            if let Value::Object(s) = spec {
                s.entry("finalizers").or_insert_with(|| json!(["kubernetes"]));
            }
        }
    }

    /// Creates an object (POST). `keep_given_status` keeps the body's status (controller writes).
    pub fn create(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        body: Value,
        options: &WriteOptions,
        keep_given_status: bool,
    ) -> Result<WriteOutcome, StoreError> {
        let (object, warnings) = self.create_shared(resource, namespace, body, options, keep_given_status)?;
        Ok(WriteOutcome {
            object: Arc::unwrap_or_clone(object),
            created: true,
            warnings,
        })
    }

    /// [`Store::create`], returning the stored object itself (shared with the store) and the
    /// warnings.
    pub(crate) fn create_shared(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        mut body: Value,
        options: &WriteOptions,
        keep_given_status: bool,
    ) -> Result<(Arc<Value>, Vec<String>), StoreError> {
        if !body.is_object() {
            return Err(StoreError::BadRequest(
                "the body of the request must be an object".into(),
            ));
        }
        check_type(resource, &body, false)?;
        check_namespace(resource, &mut body, namespace)?;
        if meta_str(&body, "resourceVersion").is_some_and(|rv| !rv.is_empty()) {
            return Err(StoreError::BadRequest(
                "resourceVersion should not be set on objects to be created".into(),
            ));
        }
        let warnings = handle_unknown_fields(resource, &mut body, options.validation, false)?;
        let mut state = self.lock();
        let name = match meta_str(&body, "name").filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => match meta_str(&body, "generateName").filter(|n| !n.is_empty()) {
                Some(prefix) => format!("{prefix}{}", state.rng.suffix(5)),
                None => {
                    return Err(StoreError::Invalid {
                        resource,
                        name: String::new(),
                        message: format!(
                            "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                            resource.qualified_kind()
                        ),
                        causes: vec![
                            json!({"reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name"}),
                        ],
                    });
                }
            },
        };
        meta_mut(&mut body).insert("name".into(), Value::String(name.clone()));
        Self::ensure_namespace_writable(&state, resource, namespace, &name)?;
        if state.objects.contains_key(&Key::new(resource, namespace, &name)) {
            return Err(StoreError::AlreadyExists { resource, name });
        }
        // The uid is drawn under the lock, in write order; the rest is decided without it.
        let uid = state.rng.uid();
        drop(state);
        Self::prepare_new_object(resource, &mut body, keep_given_status);
        let key = Key::new(resource, namespace, &name);
        let commit = |new: Value, now_text: &str| {
            let commit = Commit {
                resource,
                namespace,
                name: name.clone(),
                old: None,
                new,
                manager: &options.manager,
                subresource: None,
                managed_fields_done: false,
                dry_run: options.dry_run,
            };
            Self::decide(commit, now_text, &mut || uid.clone())
        };
        let now_text = timestamp(self.clock.now());
        let spare = body.clone();
        let mut decided = commit(body, &now_text)?;
        let mut state = self.lock();
        Self::ensure_namespace_writable(&state, resource, namespace, &name)?;
        if state.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists { resource, name });
        }
        let now_text_at_persist = timestamp(self.clock.now());
        if now_text_at_persist != now_text {
            // The clock moved on to the next second: stamp the object with the time it is
            // stored at.
            decided = commit(spare, &now_text_at_persist)?;
        }
        Ok((Self::persist(&mut state, resource, key, None, decided), warnings))
    }

    pub(super) fn existing(
        state: &State,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Value>, StoreError> {
        state
            .objects
            .get(&Key::new(resource, namespace, name))
            .cloned()
            .ok_or_else(|| StoreError::NotFound {
                resource,
                name: name.to_string(),
            })
    }

    pub(super) fn check_rv_precondition(
        resource: &'static ResourceType,
        name: &str,
        body: &Value,
        old: &Value,
    ) -> Result<(), StoreError> {
        match meta_str(body, "resourceVersion") {
            Some(rv) if !rv.is_empty() && Some(rv) != meta_str(old, "resourceVersion") => Err(StoreError::Conflict {
                resource,
                name: name.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Replaces an object (PUT), or its status with `subresource = Some(Status)`.
    pub fn update(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
        body: Value,
        subresource: Option<Subresource>,
        options: &WriteOptions,
    ) -> Result<WriteOutcome, StoreError> {
        let (object, warnings) = self.update_shared(resource, namespace, name, body, subresource, options)?;
        Ok(WriteOutcome {
            object: Arc::unwrap_or_clone(object),
            created: false,
            warnings,
        })
    }

    /// [`Store::update`], returning the stored object itself (shared with the store) and the
    /// warnings.
    pub(crate) fn update_shared(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
        mut body: Value,
        subresource: Option<Subresource>,
        options: &WriteOptions,
    ) -> Result<(Arc<Value>, Vec<String>), StoreError> {
        if !body.is_object() {
            return Err(StoreError::BadRequest(
                "the body of the request must be an object".into(),
            ));
        }
        check_type(resource, &body, false)?;
        check_name(&body, name)?;
        check_namespace(resource, &mut body, namespace)?;
        let warnings = handle_unknown_fields(resource, &mut body, options.validation, false)?;
        let (written, ()) = self.write_object(
            resource,
            namespace,
            name,
            |_, _| Ok(()),
            |old, now_text, uid| {
                let old = existing_or_not_found(old, resource, name)?;
                Self::check_rv_precondition(resource, name, &body, &old)?;
                let (new, sub) = scope_to_subresource(resource, &old, Cow::Borrowed(&body), subresource);
                let commit = Commit::change(resource, namespace, name, old, new, sub, options);
                Ok((Self::decide(commit, now_text, uid)?, ()))
            },
        )?;
        Ok((written, warnings))
    }

    /// Patches an object (PATCH) with one of the four patch kinds; apply may create it.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
        kind: PatchKind,
        body: &Value,
        subresource: Option<Subresource>,
        options: &WriteOptions,
    ) -> Result<WriteOutcome, StoreError> {
        let patch_fn: fn(&Value, &Value) -> Result<Value, patch::PatchError> = match kind {
            PatchKind::Apply { force } => {
                return self.apply(resource, namespace, name, body, force, subresource, options);
            }
            PatchKind::Merge => |old, body| Ok(patch::merge_patch(old, body)),
            PatchKind::Strategic => patch::strategic_merge_patch,
            PatchKind::Json => patch::json_patch,
        };
        if kind != PatchKind::Json && !body.is_object() {
            return Err(StoreError::BadRequest(
                "json: cannot unmarshal into Go value of type map[string]interface {}".into(),
            ));
        }
        let (written, warnings) = self.write_object(
            resource,
            namespace,
            name,
            |_, _| Ok(()),
            |old, now_text, uid| {
                let old = existing_or_not_found(old, resource, name)?;
                let mut patched = patch_fn(&old, body)?;
                Self::check_rv_precondition(resource, name, &patched, &old)?;
                check_name(&patched, name)?;
                let warnings = handle_unknown_fields(resource, &mut patched, options.validation, false)?;
                let (new, sub) = scope_to_subresource(resource, &old, Cow::Owned(patched), subresource);
                let commit = Commit::change(resource, namespace, name, old, new, sub, options);
                Ok((Self::decide(commit, now_text, uid)?, warnings))
            },
        )?;
        Ok(WriteOutcome {
            object: Arc::unwrap_or_clone(written),
            created: false,
            warnings,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
        body: &Value,
        force: bool,
        subresource: Option<Subresource>,
        options: &WriteOptions,
    ) -> Result<WriteOutcome, StoreError> {
        if !body.is_object() {
            return Err(StoreError::BadRequest(
                "error decoding YAML: the applied configuration must be an object".into(),
            ));
        }
        let mut applied = body.clone();
        check_type(resource, &applied, true)?;
        check_name(&applied, name)?;
        check_namespace(resource, &mut applied, namespace)?;
        meta_mut(&mut applied).insert("name".into(), Value::String(name.to_string()));
        let warnings = handle_unknown_fields(resource, &mut applied, options.validation, true)?;
        let wanted_rv = meta_str(&applied, "resourceVersion")
            .filter(|rv| !rv.is_empty())
            .map(str::to_owned);
        meta_mut(&mut applied).remove("resourceVersion");
        let (written, created) = self.write_object(
            resource,
            namespace,
            name,
            |state, old| match old {
                Some(_) => Ok(()),
                None if subresource.is_some() => Err(StoreError::NotFound {
                    resource,
                    name: name.to_string(),
                }),
                None => Self::ensure_namespace_writable(state, resource, namespace, name),
            },
            |old, now_text, uid| {
                if let Some(old) = old.as_deref()
                    && wanted_rv.is_some()
                    && wanted_rv.as_deref() != meta_str(old, "resourceVersion")
                {
                    return Err(StoreError::Conflict {
                        resource,
                        name: name.to_string(),
                    });
                }
                let merged = patch::server_side_apply(old.as_deref(), &applied, &options.manager, force, now_text)
                    .map_err(|e| match e {
                        patch::ApplyError::Conflicts(c) => StoreError::ApplyConflict {
                            resource,
                            name: name.to_string(),
                            message: c.message(),
                            causes: c.causes(),
                        },
                        other => StoreError::BadRequest(other.to_string()),
                    })?;
                let (new, sub) = match (old.as_deref(), subresource) {
                    (Some(old), Some(Subresource::Status)) => {
                        let mut new = old.clone();
                        take_status(resource, &mut new, &merged);
                        if let Some(mf) = merged.pointer("/metadata/managedFields") {
                            meta_mut(&mut new).insert("managedFields".into(), mf.clone());
                        }
                        (new, Some("status"))
                    }
                    (Some(old), _) => {
                        let mut new = merged;
                        if has_status(resource) {
                            keep_status(&mut new, old);
                        }
                        (new, None)
                    }
                    (None, _) => {
                        let mut new = merged;
                        Self::prepare_new_object(resource, &mut new, false);
                        (new, None)
                    }
                };
                let created = old.is_none();
                let commit = Commit {
                    resource,
                    namespace,
                    name: name.to_string(),
                    old,
                    new,
                    manager: &options.manager,
                    subresource: sub,
                    managed_fields_done: true,
                    dry_run: options.dry_run,
                };
                Ok((Self::decide(commit, now_text, uid)?, created))
            },
        )?;
        Ok(WriteOutcome {
            object: Arc::unwrap_or_clone(written),
            created,
            warnings,
        })
    }
}
