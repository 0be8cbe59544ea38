//! The Kubernetes resource endpoints (spec §3): URL parsing, verb dispatch, and the mapping
//! of each verb onto the store.

use std::time::Duration;

use axum::body::Body;
use http::{HeaderMap, Method, Response};
use serde_json::{Map, Value, json};

use super::context::SharedRef;
use super::faults::Verb;
use super::request::{self, Accept, PATCH_MEDIA_TYPES, Query};
use super::response;
use super::watch::{self, WatchRequest};
use crate::schema;
use crate::store::{
    ApiStatus, DeleteOptions, DeleteOutcome, FieldSelector, FieldValidation, LabelSelector, ListOptions, PatchKind,
    PropagationPolicy, ResourceType, ResourceVersionMatch, Store, StoreError, Subresource, WriteOptions,
};

/// A resource URL, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub resource: &'static ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<Subresource>,
}

/// Parses `/api/v1/...` and `/apis/apps/v1/...` resource paths. `None` means "unknown path".
pub(crate) fn parse_target(segments: &[&str]) -> Option<Target> {
    let (group, rest) = match segments {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", "apps", "v1", rest @ ..] => ("apps", rest),
        _ => return None,
    };
    let namespaced = |plural: &str| ResourceType::find(group, plural).filter(|r| r.namespaced);
    let any = |plural: &str| ResourceType::find(group, plural);
    let sub = |s: &str| Subresource::parse(s);
    let target = |resource, namespace: Option<&str>, name: Option<&str>, subresource| Target {
        resource,
        namespace: namespace.map(String::from),
        name: name.map(String::from),
        subresource,
    };
    match rest {
        ["namespaces", ns, plural] if namespaced(plural).is_some() => {
            Some(target(namespaced(plural)?, Some(ns), None, None))
        }
        ["namespaces", ns, plural, name] => Some(target(namespaced(plural)?, Some(ns), Some(name), None)),
        ["namespaces", ns, plural, name, s] => {
            let resource = namespaced(plural)?;
            let s = sub(s).filter(|s| resource.has_subresource(*s))?;
            Some(target(resource, Some(ns), Some(name), Some(s)))
        }
        [plural] => Some(target(any(plural)?, None, None, None)),
        [plural, name] => {
            let resource = any(plural).filter(|r| !r.namespaced)?;
            Some(target(resource, None, Some(name), None))
        }
        [plural, name, s] => {
            let resource = any(plural).filter(|r| !r.namespaced)?;
            let s = sub(s).filter(|s| resource.has_subresource(*s))?;
            Some(target(resource, None, Some(name), Some(s)))
        }
        _ => None,
    }
}

/// The fault-injection verb of a request.
pub(crate) fn verb_of(method: &Method, target: &Target, query: &Query) -> Verb {
    match *method {
        Method::GET if target.name.is_none() && query.flag("watch") => Verb::Watch,
        Method::GET if target.name.is_none() => Verb::List,
        Method::GET => Verb::Get,
        Method::POST => Verb::Create,
        Method::PUT => Verb::Update,
        Method::PATCH => Verb::Patch,
        _ => Verb::Delete,
    }
}

fn store_error(e: StoreError) -> ApiStatus {
    e.status()
}

/// The manager of a write: `fieldManager`, else the User-Agent before its first `/`.
fn manager(query: &Query, headers: &HeaderMap) -> String {
    if let Some(m) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|m| !m.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

fn field_validation(query: &Query) -> Result<FieldValidation, ApiStatus> {
    match query.get("fieldValidation") {
        None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
        Some("Strict") => Ok(FieldValidation::Strict),
        Some("Ignore") => Ok(FieldValidation::Ignore),
        Some(other) => Err(ApiStatus::bad_request(format!(
            "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
        ))),
    }
}

fn write_options(query: &Query, headers: &HeaderMap) -> Result<WriteOptions, ApiStatus> {
    Ok(WriteOptions {
        manager: manager(query, headers),
        dry_run: query.dry_run()?,
        validation: field_validation(query)?,
    })
}

/// One request against a resource URL.
pub(crate) struct ApiRequest<'a> {
    pub shared: &'a SharedRef,
    pub method: Method,
    pub target: Target,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl ApiRequest<'_> {
    fn namespace(&self) -> &str {
        self.target.namespace.as_deref().unwrap_or_default()
    }

    fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Serves the request.
    pub(crate) fn serve(self) -> Response<Body> {
        match self.dispatch() {
            Ok(response) => response,
            Err(status) => response::status(&status),
        }
    }

    fn dispatch(&self) -> Result<Response<Body>, ApiStatus> {
        let item = self.target.name.is_some();
        match (&self.method, item) {
            (&Method::GET, false) if self.query.flag("watch") => self.watch(),
            (&Method::GET, false) => self.list(),
            (&Method::GET, true) => self.get(),
            (&Method::POST, false) if self.target.namespace.is_some() || !self.target.resource.namespaced => {
                self.create()
            }
            (&Method::PUT, true) => self.update(),
            (&Method::PATCH, true) => self.patch(),
            (&Method::DELETE, true) => self.delete(),
            (&Method::DELETE, false) => self.delete_collection(),
            _ => Err(ApiStatus::method_not_allowed()),
        }
    }

    fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or_default()
    }

    fn accept(&self) -> Accept {
        Accept::from_headers(&self.headers)
    }

    fn table(&self, objects: &[Value], resource_version: Option<String>, continue_token: Option<String>) -> Value {
        let mut table = schema::table(self.target.resource.kind, objects, true, self.shared.clock.now());
        if let Some(meta) = table
            .as_object_mut()
            .map(|t| t.entry("metadata").or_insert_with(|| json!({})))
            && let Some(meta) = meta.as_object_mut()
        {
            if let Some(rv) = resource_version {
                meta.insert("resourceVersion".into(), json!(rv));
            }
            if let Some(c) = continue_token {
                meta.insert("continue".into(), json!(c));
            }
        }
        match self.query.get("includeObject") {
            Some("Object") => {
                if let Some(rows) = table.get_mut("rows").and_then(Value::as_array_mut) {
                    for (row, object) in rows.iter_mut().zip(objects) {
                        row["object"] = object.clone();
                    }
                }
            }
            Some("None") => {
                if let Some(rows) = table.get_mut("rows").and_then(Value::as_array_mut) {
                    for row in rows.iter_mut() {
                        if let Some(r) = row.as_object_mut() {
                            r.remove("object");
                        }
                    }
                }
            }
            _ => {}
        }
        table
    }

    fn get(&self) -> Result<Response<Body>, ApiStatus> {
        let object = self
            .store()
            .get(self.target.resource, self.namespace(), self.name())
            .map_err(store_error)?;
        if self.target.subresource == Some(Subresource::Scale) {
            return Ok(response::json(200, &Store::scale_of(&object)));
        }
        if self.accept().table {
            let rv = object
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(String::from);
            return Ok(response::json(
                200,
                &self.table(std::slice::from_ref(&object), rv, None),
            ));
        }
        Ok(response::json(200, &object))
    }

    fn selectors(&self) -> Result<(LabelSelector, FieldSelector), ApiStatus> {
        let labels = LabelSelector::parse(self.query.get("labelSelector").unwrap_or_default())
            .map_err(|e| store_error(e.into()))?;
        let fields = FieldSelector::parse(
            self.query.get("fieldSelector").unwrap_or_default(),
            self.target.resource.plural,
        )
        .map_err(|e| store_error(e.into()))?;
        Ok((labels, fields))
    }

    fn list(&self) -> Result<Response<Body>, ApiStatus> {
        let (labels, fields) = self.selectors()?;
        let limit = match self.query.get("limit") {
            None | Some("") => 0,
            Some(l) => l
                .parse::<i64>()
                .map_err(|_| ApiStatus::bad_request(format!("invalid limit \"{l}\"")))?
                .max(0) as usize,
        };
        let rv_match = match self.query.get("resourceVersionMatch") {
            None | Some("") => ResourceVersionMatch::Unset,
            Some("NotOlderThan") => ResourceVersionMatch::NotOlderThan,
            Some("Exact") => ResourceVersionMatch::Exact,
            Some(other) => {
                return Err(ApiStatus::bad_request(format!(
                    "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
                )));
            }
        };
        let options = ListOptions {
            labels,
            fields,
            limit,
            continue_token: self.query.get("continue").map(String::from),
            resource_version: self.query.get("resourceVersion").map(String::from),
            rv_match,
        };
        let page = self
            .store()
            .list(self.target.resource, self.target.namespace.as_deref(), &options)
            .map_err(store_error)?;
        let rv = page.resource_version.to_string();
        if self.accept().table {
            let items: Vec<Value> = page.items.iter().map(|o| (**o).clone()).collect();
            return Ok(response::json(200, &self.table(&items, Some(rv), page.continue_token)));
        }
        let mut metadata = Map::new();
        metadata.insert("resourceVersion".into(), json!(rv));
        if let Some(c) = page.continue_token {
            metadata.insert("continue".into(), json!(c));
        }
        if let Some(r) = page.remaining {
            metadata.insert("remainingItemCount".into(), json!(r));
        }
        let resource = self.target.resource;
        Ok(response::json_list(
            &json!({
                "kind": format!("{}List", resource.kind),
                "apiVersion": resource.api_version(),
                "metadata": metadata,
            }),
            &page.items,
        ))
    }

    fn watch(&self) -> Result<Response<Body>, ApiStatus> {
        let (labels, fields) = self.selectors()?;
        let send_initial_events = self.query.flag("sendInitialEvents");
        let bookmarks = self.query.flag("allowWatchBookmarks");
        if send_initial_events && (self.query.get("resourceVersionMatch") != Some("NotOlderThan") || !bookmarks) {
            return Err(ApiStatus::new(
                422,
                "Invalid",
                "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled and resourceVersionMatch is set to NotOlderThan and allowWatchBookmarks is set to true",
            ));
        }
        if let Some(rv) = self.query.get("resourceVersion").filter(|r| !r.is_empty())
            && rv.parse::<u64>().is_err()
        {
            return Err(ApiStatus::bad_request(format!("invalid resource version \"{rv}\"")));
        }
        let timeout = match self.query.get("timeoutSeconds") {
            None | Some("") => None,
            Some(t) => {
                Some(Duration::from_secs(t.parse::<u64>().map_err(|_| {
                    ApiStatus::bad_request(format!("invalid timeoutSeconds \"{t}\""))
                })?))
            }
        };
        Ok(watch::start(
            SharedRef::clone(self.shared),
            WatchRequest {
                resource: self.target.resource,
                namespace: self.target.namespace.clone(),
                labels,
                fields,
                resource_version: self.query.get("resourceVersion").map(String::from),
                bookmarks,
                send_initial_events,
                timeout,
                table: self.accept().table,
            },
        ))
    }

    fn object_body(&self) -> Result<Value, ApiStatus> {
        let content_type = request::content_type(&self.headers);
        request::decode_object(&content_type, &self.body)
    }

    fn create(&self) -> Result<Response<Body>, ApiStatus> {
        let body = self.object_body()?;
        let options = write_options(&self.query, &self.headers)?;
        let outcome = self
            .store()
            .create(self.target.resource, self.namespace(), body, &options, false)
            .map_err(store_error)?;
        Ok(response::with_warnings(
            response::json(201, &outcome.object),
            &outcome.warnings,
        ))
    }

    fn update(&self) -> Result<Response<Body>, ApiStatus> {
        let body = self.object_body()?;
        let options = write_options(&self.query, &self.headers)?;
        if self.target.subresource == Some(Subresource::Scale) {
            let scale = self
                .store()
                .write_scale(
                    self.target.resource,
                    self.namespace(),
                    self.name(),
                    |_| Ok(body.clone()),
                    &options,
                )
                .map_err(store_error)?;
            return Ok(response::json(200, &scale));
        }
        let outcome = self
            .store()
            .update(
                self.target.resource,
                self.namespace(),
                self.name(),
                body,
                self.target.subresource,
                &options,
            )
            .map_err(store_error)?;
        Ok(response::with_warnings(
            response::json(200, &outcome.object),
            &outcome.warnings,
        ))
    }

    fn patch(&self) -> Result<Response<Body>, ApiStatus> {
        let content_type = request::content_type(&self.headers);
        let force = self.query.flag("force");
        let kind = match content_type.as_str() {
            "application/merge-patch+json" => PatchKind::Merge,
            "application/strategic-merge-patch+json" => PatchKind::Strategic,
            "application/json-patch+json" => PatchKind::Json,
            "application/apply-patch+yaml" => PatchKind::Apply { force },
            _ => return Err(request::unsupported_media(PATCH_MEDIA_TYPES)),
        };
        let is_apply = matches!(kind, PatchKind::Apply { .. });
        if is_apply && self.query.get("fieldManager").is_none_or(str::is_empty) {
            return Err(ApiStatus::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        if !is_apply && self.query.get("force").is_some() {
            return Err(ApiStatus::new(
                422,
                "Invalid",
                "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
            ));
        }
        let body: Value = if is_apply {
            request::parse_yaml(&self.body).map_err(|e| ApiStatus::bad_request(format!("error decoding YAML: {e}")))?
        } else {
            serde_json::from_slice(&self.body)
                .map_err(|e| ApiStatus::bad_request(format!("error decoding patch: {e}")))?
        };
        let options = write_options(&self.query, &self.headers)?;
        if self.target.subresource == Some(Subresource::Scale) {
            let scale = self
                .store()
                .write_scale(
                    self.target.resource,
                    self.namespace(),
                    self.name(),
                    |current| patch_scale(current, kind, &body),
                    &options,
                )
                .map_err(store_error)?;
            return Ok(response::json(200, &scale));
        }
        let outcome = self
            .store()
            .patch(
                self.target.resource,
                self.namespace(),
                self.name(),
                kind,
                &body,
                self.target.subresource,
                &options,
            )
            .map_err(store_error)?;
        let code = if outcome.created { 201 } else { 200 };
        Ok(response::with_warnings(
            response::json(code, &outcome.object),
            &outcome.warnings,
        ))
    }

    fn delete_options(&self) -> Result<DeleteOptions, ApiStatus> {
        let body: Value = if self.body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(&self.body)
                .map_err(|e| ApiStatus::bad_request(format!("couldn't get version/kind; json parse error: {e}")))?
        };
        let text = |key: &str| -> Option<String> {
            body.get(key)
                .and_then(Value::as_str)
                .map(String::from)
                .or_else(|| self.query.get(key).map(String::from))
        };
        let propagation = match text("propagationPolicy").as_deref() {
            None | Some("") => match body.get("orphanDependents").and_then(Value::as_bool) {
                Some(true) => Some(PropagationPolicy::Orphan),
                _ => None,
            },
            Some("Background") => Some(PropagationPolicy::Background),
            Some("Foreground") => Some(PropagationPolicy::Foreground),
            Some("Orphan") => Some(PropagationPolicy::Orphan),
            Some(other) => {
                return Err(ApiStatus::new(
                    422,
                    "Invalid",
                    format!(
                        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                    ),
                ));
            }
        };
        let grace_period = body
            .get("gracePeriodSeconds")
            .and_then(Value::as_i64)
            .or_else(|| self.query.get("gracePeriodSeconds").and_then(|g| g.parse().ok()));
        let dry_run = self.query.dry_run()?
            || body
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|d| d.iter().any(|v| v == "All"));
        Ok(DeleteOptions {
            propagation,
            grace_period,
            precondition_uid: body
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(String::from),
            precondition_rv: body
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(String::from),
            dry_run,
        })
    }

    fn delete(&self) -> Result<Response<Body>, ApiStatus> {
        if self.target.subresource.is_some() {
            return Err(ApiStatus::method_not_allowed());
        }
        let options = self.delete_options()?;
        let outcome = self
            .store()
            .delete(self.target.resource, self.namespace(), self.name(), &options)
            .map_err(store_error)?;
        Ok(match outcome {
            DeleteOutcome::Pending(object) => response::json(200, &object),
            DeleteOutcome::Removed(object) if self.target.resource.plural == "pods" => response::json(200, &object),
            DeleteOutcome::Removed(object) => response::json(200, &deleted_status(self.target.resource, &object)),
        })
    }

    fn delete_collection(&self) -> Result<Response<Body>, ApiStatus> {
        let (labels, fields) = self.selectors()?;
        let options = self.delete_options()?;
        let page = self
            .store()
            .list(
                self.target.resource,
                self.target.namespace.as_deref(),
                &ListOptions {
                    labels,
                    fields,
                    ..ListOptions::default()
                },
            )
            .map_err(store_error)?;
        let mut deleted = Vec::new();
        for object in &page.items {
            let ns = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match self.store().delete(self.target.resource, ns, name, &options) {
                Ok(DeleteOutcome::Pending(o) | DeleteOutcome::Removed(o)) => deleted.push(o),
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        let resource = self.target.resource;
        Ok(response::json(
            200,
            &json!({
                "kind": format!("{}List", resource.kind),
                "apiVersion": resource.api_version(),
                "metadata": {"resourceVersion": self.store().current_rv().to_string()},
                "items": deleted
            }),
        ))
    }
}

fn patch_scale(current: &Value, kind: PatchKind, body: &Value) -> Result<Value, StoreError> {
    match kind {
        PatchKind::Merge | PatchKind::Apply { .. } => Ok(crate::patch::merge_patch(current, body)),
        PatchKind::Strategic => crate::patch::strategic_merge_patch(current, body).map_err(StoreError::from),
        PatchKind::Json => crate::patch::json_patch(current, body).map_err(StoreError::from),
    }
}

/// The `Status` returned when a delete removed the object at once (spec §3.6).
fn deleted_status(resource: &ResourceType, object: &Value) -> Value {
    let mut details = Map::new();
    if let Some(name) = object.pointer("/metadata/name") {
        details.insert("name".into(), name.clone());
    }
    if !resource.group.is_empty() {
        details.insert("group".into(), json!(resource.group));
    }
    details.insert("kind".into(), json!(resource.plural));
    if let Some(uid) = object.pointer("/metadata/uid") {
        details.insert("uid".into(), uid.clone());
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths_parse_into_targets() {
        let t = parse_target(&["apis", "apps", "v1", "namespaces", "x", "deployments", "web", "scale"]);
        assert_eq!(
            t.as_ref().map(|t| (t.resource.plural, t.subresource)),
            Some(("deployments", Some(Subresource::Scale)))
        );
        let ns = parse_target(&["api", "v1", "namespaces", "team-a"]);
        assert_eq!(
            ns.map(|t| (t.resource.plural, t.name)),
            Some(("namespaces", Some("team-a".into())))
        );
        let pods = parse_target(&["api", "v1", "namespaces", "x", "pods"]);
        assert_eq!(
            pods.map(|t| (t.resource.plural, t.namespace, t.name)),
            Some(("pods", Some("x".into()), None))
        );
        let ns_status = parse_target(&["api", "v1", "namespaces", "x", "status"]);
        assert_eq!(ns_status.map(|t| t.subresource), Some(Some(Subresource::Status)));
        assert_eq!(parse_target(&["api", "v1", "namespaces", "x", "widgets"]), None);
        assert_eq!(parse_target(&["apis", "apps", "v1", "pods"]), None);
        assert_eq!(
            parse_target(&["api", "v1", "namespaces", "x", "pods", "p", "log"]),
            None
        );
    }
}
