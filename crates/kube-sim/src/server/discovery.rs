//! Non-resource endpoints: `/version`, legacy and aggregated discovery (spec §2.1–2.3) and the
//! OpenAPI v3 documents kubectl needs for `apply` (spec §2.4).

use serde_json::{Map, Value, json};

use crate::store::{RESOURCES, ResourceType, SUBRESOURCE_VERBS, Subresource, VERBS};

/// The `/version` document: kubectl's dispatcher picks kubectl 1.32 from `minor`.
pub(crate) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-double",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

fn group_resources(group: &str) -> impl Iterator<Item = &'static ResourceType> + '_ {
    RESOURCES.iter().filter(move |r| r.group == group)
}

/// `GET /api`.
pub(crate) fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

fn group_entry() -> Value {
    json!({
        "name": "apps",
        "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}
    })
}

/// `GET /apis`.
pub(crate) fn api_group_list() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group_entry()]})
}

/// `GET /apis/apps`.
pub(crate) fn api_group() -> Value {
    let mut group = group_entry();
    if let Value::Object(map) = &mut group {
        map.insert("kind".into(), json!("APIGroup"));
        map.insert("apiVersion".into(), json!("v1"));
    }
    group
}

fn scale_kind() -> Value {
    json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
}

/// `GET /api/v1` or `GET /apis/apps/v1`: the legacy resource list of one group.
pub(crate) fn api_resource_list(group: &str) -> Value {
    let mut resources = Vec::new();
    for r in group_resources(group) {
        let mut entry = Map::new();
        entry.insert("name".into(), json!(r.plural));
        entry.insert("singularName".into(), json!(r.singular));
        entry.insert("namespaced".into(), json!(r.namespaced));
        entry.insert("kind".into(), json!(r.kind));
        entry.insert("verbs".into(), json!(VERBS));
        if !r.short_names.is_empty() {
            entry.insert("shortNames".into(), json!(r.short_names));
        }
        if !r.categories.is_empty() {
            entry.insert("categories".into(), json!(r.categories));
        }
        resources.push(Value::Object(entry));
        for sub in r.subresources {
            let mut entry = Map::new();
            entry.insert("name".into(), json!(format!("{}/{}", r.plural, sub.as_str())));
            entry.insert("singularName".into(), json!(""));
            entry.insert("namespaced".into(), json!(r.namespaced));
            if *sub == Subresource::Scale {
                entry.insert("group".into(), json!("autoscaling"));
                entry.insert("version".into(), json!("v1"));
                entry.insert("kind".into(), json!("Scale"));
            } else {
                entry.insert("kind".into(), json!(r.kind));
            }
            entry.insert("verbs".into(), json!(SUBRESOURCE_VERBS));
            resources.push(Value::Object(entry));
        }
    }
    let group_version = if group.is_empty() {
        "v1".to_string()
    } else {
        format!("{group}/v1")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

fn discovery_resource(r: &ResourceType) -> Value {
    let response_kind = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let mut entry = Map::new();
    entry.insert("resource".into(), json!(r.plural));
    entry.insert("responseKind".into(), response_kind.clone());
    entry.insert(
        "scope".into(),
        json!(if r.namespaced { "Namespaced" } else { "Cluster" }),
    );
    entry.insert("singularResource".into(), json!(r.singular));
    entry.insert("verbs".into(), json!(VERBS));
    if !r.short_names.is_empty() {
        entry.insert("shortNames".into(), json!(r.short_names));
    }
    if !r.categories.is_empty() {
        entry.insert("categories".into(), json!(r.categories));
    }
    if !r.subresources.is_empty() {
        let subs: Vec<Value> = r
            .subresources
            .iter()
            .map(|s| {
                let kind = if *s == Subresource::Scale {
                    scale_kind()
                } else {
                    response_kind.clone()
                };
                json!({"subresource": s.as_str(), "responseKind": kind, "verbs": SUBRESOURCE_VERBS})
            })
            .collect();
        entry.insert("subresources".into(), Value::Array(subs));
    }
    Value::Object(entry)
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2`) of the core group (`/api`) or of the named
/// groups (`/apis`).
pub(crate) fn aggregated(core: bool) -> Value {
    let item = |group: &str| {
        let resources: Vec<Value> = group_resources(group).map(discovery_resource).collect();
        let metadata = if group.is_empty() {
            json!({})
        } else {
            json!({"name": group})
        };
        json!({"metadata": metadata, "versions": [{"version": "v1", "freshness": "Current", "resources": resources}]})
    };
    let items = if core { vec![item("")] } else { vec![item("apps")] };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// The content type of aggregated discovery responses.
pub(crate) const AGGREGATED_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

const CORE_HASH: &str = "5D3B8C1F0A7E4269B1C0D2E3F4A5B6C7D8E9F0A1B2C3D4E5F60718293A4B5C6D";
const APPS_HASH: &str = "9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B";

/// `GET /openapi/v3`: where each group-version document lives.
pub(crate) fn openapi_root() -> Value {
    json!({"paths": {
        "api/v1": {"serverRelativeURL": format!("/openapi/v3/api/v1?hash={CORE_HASH}")},
        "apis/apps/v1": {"serverRelativeURL": format!("/openapi/v3/apis/apps/v1?hash={APPS_HASH}")}
    }})
}

/// `GET /openapi/v3/api/v1` or `/openapi/v3/apis/apps/v1`: one item path per kind, whose
/// operations carry the group-version-kind and the `fieldValidation` parameter, so that kubectl
/// leaves validation to the server.
pub(crate) fn openapi_group_version(group: &str) -> Value {
    let mut paths = Map::new();
    for r in group_resources(group) {
        let prefix = if group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{group}/v1")
        };
        let item_path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        let collection_path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{prefix}/{}", r.plural)
        };
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let operation = |id: String| {
            json!({
                "operationId": id,
                "x-kubernetes-group-version-kind": gvk.clone(),
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}],
                "responses": {"200": {"description": "OK"}}
            })
        };
        let kind = r.kind;
        paths.insert(
            item_path,
            json!({
                "put": operation(format!("replace{kind}")),
                "patch": operation(format!("patch{kind}")),
                "get": {"operationId": format!("read{kind}"), "x-kubernetes-group-version-kind": gvk.clone(), "responses": {"200": {"description": "OK"}}}
            }),
        );
        paths.insert(collection_path, json!({"post": operation(format!("create{kind}"))}));
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}}
    })
}
