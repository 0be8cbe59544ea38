//! The write path: create, update, patch (four kinds) and the shared commit step
//! (defaulting, validation, managed fields, generation, no-op detection, persist, event).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::fields::{comparable, meta_mut, meta_str, obj_mut, remove_field_path, timestamp};
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

impl Store {
    /// The single commit step every write ends in. Returns the resulting object and whether it
    /// changed anything.
    pub(super) fn commit(&self, state: &mut StateGuard<'_>, c: Commit<'_>) -> Result<(Value, bool), StoreError> {
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
        let now = self.clock.now();
        let now_text = timestamp(now);
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
                    meta.insert("uid".into(), Value::String(state.rng.uid()));
                    meta.insert("creationTimestamp".into(), Value::String(now_text.clone()));
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
            patch::record_update(old.as_deref(), &mut new, manager, subresource, &now_text);
        }
        if let Some(old) = old.as_deref()
            && comparable(old) == comparable(&new)
        {
            return Ok((old.clone(), false));
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
            return Ok((new, true));
        }
        let rv = state.next_rv();
        meta_mut(&mut new).insert("resourceVersion".into(), Value::String(rv.to_string()));
        let key = Key::new(resource, namespace, &name);
        let object = Arc::new(new.clone());
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
        state.record(Change::new(rv, event, resource, object, old));
        Ok((new, true))
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
        mut body: Value,
        options: &WriteOptions,
        keep_given_status: bool,
    ) -> Result<WriteOutcome, StoreError> {
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
        Self::prepare_new_object(resource, &mut body, keep_given_status);
        let (object, _) = self.commit(
            &mut state,
            Commit {
                resource,
                namespace,
                name,
                old: None,
                new: body,
                manager: &options.manager,
                subresource: None,
                managed_fields_done: false,
                dry_run: options.dry_run,
            },
        )?;
        Ok(WriteOutcome {
            object,
            created: true,
            warnings,
        })
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
        mut body: Value,
        subresource: Option<Subresource>,
        options: &WriteOptions,
    ) -> Result<WriteOutcome, StoreError> {
        if !body.is_object() {
            return Err(StoreError::BadRequest(
                "the body of the request must be an object".into(),
            ));
        }
        check_type(resource, &body, false)?;
        check_name(&body, name)?;
        check_namespace(resource, &mut body, namespace)?;
        let warnings = handle_unknown_fields(resource, &mut body, options.validation, false)?;
        let mut state = self.lock();
        let old = Self::existing(&state, resource, namespace, name)?;
        Self::check_rv_precondition(resource, name, &body, &old)?;
        let (new, sub) = match subresource {
            Some(Subresource::Status) => {
                let mut new = (*old).clone();
                take_status(resource, &mut new, &body);
                (new, Some("status"))
            }
            _ => {
                if has_status(resource) {
                    keep_status(&mut body, &old);
                }
                (body, None)
            }
        };
        let (object, _) = self.commit(
            &mut state,
            Commit {
                resource,
                namespace,
                name: name.to_string(),
                old: Some(old),
                new,
                manager: &options.manager,
                subresource: sub,
                managed_fields_done: false,
                dry_run: options.dry_run,
            },
        )?;
        Ok(WriteOutcome {
            object,
            created: false,
            warnings,
        })
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
        let mut state = self.lock();
        let old = Self::existing(&state, resource, namespace, name)?;
        let mut patched = patch_fn(&old, body)?;
        Self::check_rv_precondition(resource, name, &patched, &old)?;
        check_name(&patched, name)?;
        let warnings = handle_unknown_fields(resource, &mut patched, options.validation, false)?;
        let (new, sub) = match subresource {
            Some(Subresource::Status) => {
                let mut new = (*old).clone();
                take_status(resource, &mut new, &patched);
                (new, Some("status"))
            }
            _ => {
                if has_status(resource) {
                    keep_status(&mut patched, &old);
                }
                (patched, None)
            }
        };
        let (object, _) = self.commit(
            &mut state,
            Commit {
                resource,
                namespace,
                name: name.to_string(),
                old: Some(old),
                new,
                manager: &options.manager,
                subresource: sub,
                managed_fields_done: false,
                dry_run: options.dry_run,
            },
        )?;
        Ok(WriteOutcome {
            object,
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
        let mut state = self.lock();
        let old = state.objects.get(&Key::new(resource, namespace, name)).cloned();
        if let Some(old) = old.as_deref() {
            Self::check_rv_precondition(resource, name, &applied, old)?;
        } else {
            if subresource.is_some() {
                return Err(StoreError::NotFound {
                    resource,
                    name: name.to_string(),
                });
            }
            Self::ensure_namespace_writable(&state, resource, namespace, name)?;
        }
        meta_mut(&mut applied).remove("resourceVersion");
        let now_text = timestamp(self.clock.now());
        let merged = patch::server_side_apply(old.as_deref(), &applied, &options.manager, force, &now_text).map_err(
            |e| match e {
                patch::ApplyError::Conflicts(c) => StoreError::ApplyConflict {
                    resource,
                    name: name.to_string(),
                    message: c.message(),
                    causes: c.causes(),
                },
                other => StoreError::BadRequest(other.to_string()),
            },
        )?;
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
        let (object, _) = self.commit(
            &mut state,
            Commit {
                resource,
                namespace,
                name: name.to_string(),
                old,
                new,
                manager: &options.manager,
                subresource: sub,
                managed_fields_done: true,
                dry_run: options.dry_run,
            },
        )?;
        Ok(WriteOutcome {
            object,
            created,
            warnings,
        })
    }
}
