//! Server-side apply of manifest documents.
//!
//! Each document is applied on its own with the field manager [`FIELD_MANAGER`], in the order
//! of the file, and the first refusal stops the apply. The decisions (which object a document
//! names, which namespace it goes to, which URL serves it) are plain functions; [`apply_all`](crate::apply::apply_all)
//! does the I/O.

use deployer_core::ports::{AppliedObject, ApplyOptions, ClusterError};
use kube::core::params::{Patch, PatchParams};
use kube::core::{ApiResource, Request};
use serde_json::Value;

use crate::discovery::{DiscoveryCache, ResolveError};
use crate::error::CallError;
use crate::transport::Transport;

/// The field manager of every apply: the fields we set are owned under this name.
pub const FIELD_MANAGER: &str = "k8s-app-deployer";

/// The object a manifest document names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentId {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if the document names one.
    pub namespace: Option<String>,
}

impl DocumentId {
    /// `Deployment/web`, as errors name objects.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// Reads the object a document names.
///
/// # Errors
/// [`ClusterError::Rejected`] (code 400) when the document is not an object or lacks
/// `apiVersion`, `kind` or `metadata.name`: the API server would refuse it the same way.
pub fn document_id(document: &Value, index: usize) -> Result<DocumentId, ClusterError> {
    let text = |pointer: &str| {
        document
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let kind = text("/kind");
    let name = text("/metadata/name");
    let object = format!("{}/{}", kind.unwrap_or("<no kind>"), name.unwrap_or("<no name>"));
    let refuse = |what: &str| ClusterError::Rejected {
        object: object.clone(),
        code: 400,
        message: format!("document {} of the manifest has no `{what}`", index + 1),
    };
    if !document.is_object() {
        return Err(ClusterError::Rejected {
            object: object.clone(),
            code: 400,
            message: format!("document {} of the manifest is not a mapping", index + 1),
        });
    }
    let api_version = text("/apiVersion").ok_or_else(|| refuse("apiVersion"))?;
    let kind = kind.ok_or_else(|| refuse("kind"))?;
    let name = name.ok_or_else(|| refuse("metadata.name"))?;
    Ok(DocumentId {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        namespace: text("/metadata/namespace").map(str::to_owned),
    })
}

/// Puts a document in its namespace: namespaced objects that name none get `default`;
/// cluster-scoped objects lose any namespace they name. Returns the namespace used.
pub fn place_in_namespace(document: &mut Value, namespaced: bool, default: &str) -> Option<String> {
    let metadata = document.get_mut("metadata").and_then(Value::as_object_mut)?;
    if !namespaced {
        metadata.remove("namespace");
        return None;
    }
    let named = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let namespace = named.unwrap_or_else(|| default.to_owned());
    metadata.insert("namespace".to_owned(), Value::String(namespace.clone()));
    Some(namespace)
}

/// The collection URL of a resource (`/apis/apps/v1/namespaces/default/deployments`).
pub fn collection_path(resource: &ApiResource, namespace: Option<&str>) -> String {
    let root = if resource.group.is_empty() {
        format!("/api/{}", resource.version)
    } else {
        format!("/apis/{}/{}", resource.group, resource.version)
    };
    match namespace {
        Some(ns) => format!("{root}/namespaces/{ns}/{}", resource.plural),
        None => format!("{root}/{}", resource.plural),
    }
}

/// The parameters of an apply with these options.
pub fn patch_params(options: ApplyOptions) -> PatchParams {
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.dry_run = options.dry_run;
    params.force = options.force;
    params
}

/// Applies every document, in order.
///
/// # Errors
/// The first document's failure: [`ClusterError::UnknownKind`], [`ClusterError::Rejected`]
/// with the API server's message, or [`ClusterError::Unreachable`] once retries are spent.
pub async fn apply_all(
    transport: &Transport,
    discovery: &DiscoveryCache,
    default_namespace: &str,
    documents: &[Value],
    options: ApplyOptions,
) -> Result<Vec<AppliedObject>, ClusterError> {
    let params = patch_params(options);
    let mut applied = Vec::with_capacity(documents.len());
    for (index, document) in documents.iter().enumerate() {
        let id = document_id(document, index)?;
        let label = id.label();
        let resolved = discovery
            .resolve(transport, &id.api_version, &id.kind)
            .await
            .map_err(|err| match err {
                ResolveError::UnknownKind { api_version, kind } => ClusterError::UnknownKind { api_version, kind },
                ResolveError::Discovery { source, .. } => source.into_cluster_error(&label),
            })?;
        let mut body = document.clone();
        let namespace = place_in_namespace(&mut body, resolved.namespaced, default_namespace);
        let request = Request::new(collection_path(&resolved.resource, namespace.as_deref()))
            .patch(&id.name, &params, &Patch::Apply(&body))
            .map_err(|err| {
                CallError::InvalidRequest {
                    message: err.to_string(),
                }
                .into_cluster_error(&label)
            })?;
        let reply = transport
            .call(request)
            .await
            .map_err(|err| err.into_cluster_error(&label))?;
        let object: Value = reply.json().map_err(|err| err.into_cluster_error(&label))?;
        tracing::debug!(
            message = "Applied object.",
            object = %label,
            namespace = namespace.as_deref().unwrap_or(""),
            dry_run = options.dry_run,
        );
        applied.push(AppliedObject {
            kind: id.kind,
            namespace: namespace.unwrap_or_default(),
            name: id.name,
            generation: object
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0),
        });
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_document_names_its_object() {
        let doc = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        assert_eq!(
            document_id(&doc, 0),
            Ok(DocumentId {
                api_version: "apps/v1".to_owned(),
                kind: "Deployment".to_owned(),
                name: "web".to_owned(),
                namespace: None
            })
        );
    }

    #[test]
    fn a_document_without_a_name_is_refused_before_any_request() {
        let doc = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
        let err = document_id(&doc, 2);
        assert_eq!(
            err,
            Err(ClusterError::Rejected {
                object: "ConfigMap/<no name>".to_owned(),
                code: 400,
                message: "document 3 of the manifest has no `metadata.name`".to_owned(),
            })
        );
    }

    #[test]
    fn namespaced_objects_without_a_namespace_get_the_default() {
        let mut doc = json!({"kind": "Service", "metadata": {"name": "web"}});
        assert_eq!(place_in_namespace(&mut doc, true, "team-a"), Some("team-a".to_owned()));
        assert_eq!(doc["metadata"]["namespace"], "team-a");
    }

    #[test]
    fn a_namespace_named_by_the_manifest_is_kept() {
        let mut doc = json!({"kind": "Service", "metadata": {"name": "web", "namespace": "other"}});
        assert_eq!(place_in_namespace(&mut doc, true, "team-a"), Some("other".to_owned()));
        assert_eq!(doc["metadata"]["namespace"], "other");
    }

    #[test]
    fn cluster_scoped_objects_have_no_namespace() {
        let mut doc = json!({"kind": "Namespace", "metadata": {"name": "team-a", "namespace": "x"}});
        assert_eq!(place_in_namespace(&mut doc, false, "default"), None);
        assert!(doc["metadata"].get("namespace").is_none());
    }

    #[test]
    fn paths_follow_the_api_layout() {
        let deployments = ApiResource {
            group: "apps".to_owned(),
            version: "v1".to_owned(),
            api_version: "apps/v1".to_owned(),
            kind: "Deployment".to_owned(),
            plural: "deployments".to_owned(),
        };
        assert_eq!(
            collection_path(&deployments, Some("default")),
            "/apis/apps/v1/namespaces/default/deployments"
        );
        let namespaces = ApiResource {
            group: String::new(),
            version: "v1".to_owned(),
            api_version: "v1".to_owned(),
            kind: "Namespace".to_owned(),
            plural: "namespaces".to_owned(),
        };
        assert_eq!(collection_path(&namespaces, None), "/api/v1/namespaces");
    }

    #[test]
    fn apply_requests_carry_the_field_manager_force_and_dry_run() -> Result<(), kube::core::request::Error> {
        let params = patch_params(ApplyOptions {
            dry_run: true,
            force: true,
        });
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}});
        let request =
            Request::new("/api/v1/namespaces/default/configmaps").patch("cfg", &params, &Patch::Apply(&body))?;
        let query = request.uri().query().unwrap_or_default().to_owned();
        assert!(query.contains("fieldManager=k8s-app-deployer"), "{query}");
        assert!(query.contains("force=true"), "{query}");
        assert!(query.contains("dryRun=All"), "{query}");
        assert_eq!(
            request.headers()[http::header::CONTENT_TYPE],
            "application/apply-patch+yaml"
        );
        Ok(())
    }
}
