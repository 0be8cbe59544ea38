//! Which resource serves a kind: discovery, cached per cluster.
//!
//! Only the group-versions that manifests name are fetched (`/api/v1`, `/apis/apps/v1`, …),
//! once each. When a kind is missing from a cached list, the list is fetched once more
//! (a CRD may have been installed since), and only then is the kind declared unknown.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::core::ApiResource;

use crate::error::CallError;
use crate::transport::Transport;

/// A resource that serves a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Whether its objects live in a namespace.
    pub namespaced: bool,
}

/// Why a kind could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The cluster does not serve this kind (or its group-version).
    #[error("the cluster does not serve {api_version} {kind}")]
    UnknownKind {
        /// The apiVersion asked for.
        api_version: String,
        /// The kind asked for.
        kind: String,
    },
    /// Discovery itself failed.
    #[error("discovery of {api_version} failed")]
    Discovery {
        /// The group-version being discovered.
        api_version: String,
        /// The failure.
        #[source]
        source: CallError,
    },
}

impl ResolveError {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ResolveError::UnknownKind { .. } => "unknown_kind",
            ResolveError::Discovery { .. } => "discovery_failed",
        }
    }
}

/// The discovery cache of one cluster.
#[derive(Debug, Default)]
pub struct DiscoveryCache {
    /// apiVersion → the resources it serves (`None`: the group-version is not served).
    lists: Mutex<HashMap<String, Option<Vec<Resolved>>>>,
}

impl DiscoveryCache {
    /// Finds the resource serving `kind` in `api_version`, asking the server when the cache
    /// does not know it.
    ///
    /// # Errors
    /// [`ResolveError::UnknownKind`] when the server does not serve it either;
    /// [`ResolveError::Discovery`] when the server could not be asked.
    pub async fn resolve(
        &self,
        transport: &Transport,
        api_version: &str,
        kind: &str,
    ) -> Result<Resolved, ResolveError> {
        if let Some(found) = self.cached(api_version, kind) {
            return Ok(found);
        }
        let fetched = fetch(transport, api_version).await?;
        let found = fetched
            .as_ref()
            .and_then(|list| list.iter().find(|r| r.resource.kind == kind).cloned());
        if let Ok(mut lists) = self.lists.lock() {
            lists.insert(api_version.to_owned(), fetched);
        }
        found.ok_or_else(|| ResolveError::UnknownKind {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        })
    }

    fn cached(&self, api_version: &str, kind: &str) -> Option<Resolved> {
        let lists = self.lists.lock().ok()?;
        lists
            .get(api_version)?
            .as_ref()?
            .iter()
            .find(|r| r.resource.kind == kind)
            .cloned()
    }
}

/// Splits an apiVersion into group and version (`v1` → `("", "v1")`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// The discovery path of a group-version.
pub fn discovery_path(api_version: &str) -> String {
    match split_api_version(api_version) {
        ("", version) => format!("/api/{version}"),
        (group, version) => format!("/apis/{group}/{version}"),
    }
}

/// The top-level resources of a discovery document (subresources such as `deployments/status`
/// are left out).
pub fn resources_of(api_version: &str, list: &APIResourceList) -> Vec<Resolved> {
    let (group, version) = split_api_version(api_version);
    list.resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .map(|r| Resolved {
            resource: ApiResource {
                group: group.to_owned(),
                version: version.to_owned(),
                api_version: api_version.to_owned(),
                kind: r.kind.clone(),
                plural: r.name.clone(),
            },
            namespaced: r.namespaced,
        })
        .collect()
}

async fn fetch(transport: &Transport, api_version: &str) -> Result<Option<Vec<Resolved>>, ResolveError> {
    let discovery_error = |source| ResolveError::Discovery {
        api_version: api_version.to_owned(),
        source,
    };
    let request = http::Request::get(discovery_path(api_version))
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|err| {
            discovery_error(CallError::InvalidRequest {
                message: err.to_string(),
            })
        })?;
    match transport.call(request).await {
        Ok(reply) => {
            let list: APIResourceList = reply.json().map_err(discovery_error)?;
            Ok(Some(resources_of(api_version, &list)))
        }
        Err(CallError::Api { code: 404, .. }) => Ok(None),
        Err(err) => Err(discovery_error(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_split_into_group_and_version() {
        assert_eq!(split_api_version("v1"), ("", "v1"));
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(discovery_path("v1"), "/api/v1");
        assert_eq!(discovery_path("networking.k8s.io/v1"), "/apis/networking.k8s.io/v1");
    }

    #[test]
    fn subresources_are_not_kinds() -> Result<(), serde_json::Error> {
        let list: APIResourceList = serde_json::from_value(serde_json::json!({
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1",
            "resources": [
                {"name": "deployments", "singularName": "deployment", "namespaced": true, "kind": "Deployment", "verbs": ["get"]},
                {"name": "deployments/status", "singularName": "", "namespaced": true, "kind": "Deployment", "verbs": ["get"]},
                {"name": "deployments/scale", "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get"]}
            ]
        }))?;
        let resources = resources_of("apps/v1", &list);
        assert_eq!(resources.len(), 1);
        assert_eq!(resources[0].resource.plural, "deployments");
        assert_eq!(resources[0].resource.group, "apps");
        assert!(resources[0].namespaced);
        Ok(())
    }
}
