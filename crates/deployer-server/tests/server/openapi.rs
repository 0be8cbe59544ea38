//! The checked-in OpenAPI document against the router and against real answers.

use std::collections::BTreeSet;
use std::time::Duration;

use deployer_server::api::{Access, endpoints, openapi::DOCUMENT};
use serde_json::{Value, json};

use super::support::{TestServer, World, api_body, test_settings};

pub(super) fn document() -> Value {
    serde_json::from_str(DOCUMENT).unwrap_or_else(|e| panic!("openapi/openapi.json is not JSON: {e}"))
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external $ref {r}"));
            let target = doc.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {r}"));
            resolve(doc, target)
        }
        None => schema,
    }
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

/// Checks `value` against `schema`: types, enums, required fields, closed objects, items and
/// `oneOf` (as "matches one of"). Returns every mismatch with its JSON path.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = resolve(doc, schema);
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let all: Vec<Vec<String>> = options.iter().map(|o| validate(doc, o, value, at)).collect();
        if all.iter().any(Vec::is_empty) {
            return Vec::new();
        }
        return vec![format!("{at}: matches none of oneOf: {all:?}")];
    }
    let mut errors = Vec::new();
    if let Some(ty) = schema.get("type").and_then(Value::as_str)
        && !type_matches(ty, value)
    {
        return vec![format!("{at}: expected {ty}, got {value}")];
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(map) = value.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !map.contains_key(name) {
                errors.push(format!("{at}: required `{name}` is missing"));
            }
        }
        for (key, v) in map {
            match (props.and_then(|p| p.get(key)), schema.get("additionalProperties")) {
                (Some(prop), _) => errors.extend(validate(doc, prop, v, &format!("{at}.{key}"))),
                (None, Some(Value::Bool(false))) => errors.push(format!("{at}: `{key}` is not in the schema")),
                (None, Some(extra @ Value::Object(_))) => {
                    errors.extend(validate(doc, extra, v, &format!("{at}.{key}")))
                }
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            errors.extend(validate(doc, items, v, &format!("{at}[{i}]")));
        }
    }
    errors
}

pub(super) fn assert_valid(doc: &Value, schema: &Value, value: &Value, what: &str) {
    let errors = validate(doc, schema, value, "$");
    assert!(
        errors.is_empty(),
        "{what} does not match its schema:\n{}\nvalue: {value}",
        errors.join("\n")
    );
}

fn response<'a>(doc: &'a Value, path: &str, method: &str, status: u16) -> &'a Value {
    doc["paths"][path][method]["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| panic!("{method} {path} does not document status {status}"))
}

/// Checks a real answer against the documented response, and an error's code against the
/// codes documented for that status.
pub(super) fn check(doc: &Value, path: &str, method: &str, status: u16, body: &Value) {
    let documented = response(doc, path, method, status);
    let schema = &documented["content"]["application/json"]["schema"];
    assert!(!schema.is_null(), "{method} {path} {status} documents no JSON schema");
    assert_valid(doc, schema, body, &format!("{method} {path} {status}"));
    if let Some(code) = body.pointer("/error/code").and_then(Value::as_str) {
        let description = documented["description"].as_str().unwrap_or_default();
        assert!(
            description.contains(&format!("`{code}`")),
            "{method} {path} {status} does not list code `{code}`"
        );
    }
}

#[test]
fn the_document_lists_exactly_the_routes_the_router_serves() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            documented.insert((method.to_uppercase(), path.clone()));
            let public = op
                .get("security")
                .is_some_and(|s| s.as_array().is_some_and(Vec::is_empty));
            let served = endpoints()
                .into_iter()
                .find(|e| e.method.as_str() == method.to_uppercase() && e.path == path);
            if let Some(e) = served {
                assert_eq!(
                    public,
                    e.access != Access::Token,
                    "{method} {path}: security does not match the router"
                );
            }
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
        }
    }
    let served: BTreeSet<(String, String)> = endpoints()
        .into_iter()
        .map(|e| (e.method.to_string(), e.path.to_owned()))
        .collect();
    assert_eq!(documented, served, "openapi/openapi.json and the router disagree");
}

#[test]
fn every_reference_resolves_and_every_example_matches_its_schema() {
    let doc = document();
    fn walk(doc: &Value, node: &Value, examples: &mut Vec<(Value, Value, String)>, at: String) {
        match node {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref") {
                    let _ = resolve(doc, &json!({ "$ref": r }));
                }
                if let (Some(schema), Some(example)) = (map.get("schema"), map.get("example")) {
                    examples.push((schema.clone(), example.clone(), at.clone()));
                }
                if let Some(list) = map.get("examples").and_then(Value::as_array) {
                    for e in list {
                        examples.push((node.clone(), e.clone(), at.clone()));
                    }
                }
                for (k, v) in map {
                    walk(doc, v, examples, format!("{at}/{k}"));
                }
            }
            Value::Array(list) => {
                for (i, v) in list.iter().enumerate() {
                    walk(doc, v, examples, format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }
    let mut examples = Vec::new();
    walk(&doc, &doc, &mut examples, String::new());
    assert!(examples.len() >= 10, "the document has examples");
    for (schema, example, at) in examples {
        let mut schema = schema;
        if let Some(map) = schema.as_object_mut() {
            map.remove("examples");
        }
        assert_valid(&doc, &schema, &example, &format!("the example at {at}"));
    }
}

async fn json_answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

#[tokio::test]
async fn real_answers_match_the_documented_schemas() {
    let doc = document();
    let mut settings = test_settings();
    settings.queue.per_target = 1;
    let server = TestServer::start_with(World::new(Duration::from_millis(10)), settings).await;
    let deployments = "/api/v1/deployments";

    let served = server
        .client
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served.text().await.unwrap_or_default(), DOCUMENT);
    for path in ["/healthz", "/readyz"] {
        let (status, body) = json_answer(
            server
                .client
                .get(server.url(path))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await;
        check(&doc, path, "get", status, &body);
    }

    let (status, waited) = json_answer(server.post("/api/v1/deployments?wait=true", &api_body("v2")).await).await;
    check(&doc, deployments, "post", status, &waited);
    let id = waited["id"].as_str().unwrap_or_default().to_owned();
    let mut keyed = api_body("v3");
    keyed["idempotency_key"] = json!("k-1");
    keyed["method"] = json!("dry-run");
    let (status, accepted) = json_answer(server.deploy(&keyed).await).await;
    assert_eq!(status, 202);
    check(&doc, deployments, "post", status, &accepted);
    let (status, again) = json_answer(server.deploy(&keyed).await).await;
    assert_eq!(status, 200);
    check(&doc, deployments, "post", status, &again);
    let dry = server.finished(accepted["id"].as_str().unwrap_or_default()).await;
    keyed["tag"] = json!("v9");
    let (status, reused) = json_answer(server.deploy(&keyed).await).await;
    assert_eq!(status, 409);
    check(&doc, deployments, "post", status, &reused);
    assert!(dry.dry_run.is_some());

    let (status, record) = json_answer(
        server
            .get(&format!(
                "{deployments}/{}",
                accepted["id"].as_str().unwrap_or_default()
            ))
            .await,
    )
    .await;
    check(&doc, "/api/v1/deployments/{id}", "get", status, &record);
    let (status, page) = json_answer(server.get("/api/v1/deployments?limit=1").await).await;
    check(&doc, deployments, "get", status, &page);
    assert!(page["next"].is_string());
    let (status, clusters) = json_answer(server.get("/api/v1/clusters").await).await;
    check(&doc, "/api/v1/clusters", "get", status, &clusters);

    let events = server
        .get(&format!("{deployments}/{id}/events"))
        .await
        .text()
        .await
        .unwrap_or_default();
    let event_schema = &doc["paths"]["/api/v1/deployments/{id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
        ["schema"];
    let datas: Vec<Value> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert!(datas.len() >= 4);
    for data in &datas {
        assert_valid(&doc, event_schema, data, "an SSE event");
    }

    let gate = server.world.west.gate();
    let held = server.deploy_id(&api_body("v4")).await;
    let errors: Vec<(&str, &str, reqwest::Response)> = vec![
        (deployments, "post", server.deploy(&api_body("v5")).await),
        (deployments, "post", server.deploy(&json!({"region": "us-west-2", "cluster": "nope", "file": "api", "tag": "v2"})).await),
        (deployments, "post", server.deploy(&json!({"region": "us-west-2", "cluster": "prod-1", "file": "a/b", "tag": "v2"})).await),
        (deployments, "post", server.deploy(&json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "x": 1})).await),
        (deployments, "post", server.deploy(&json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": "v2", "requested_by": "bob"})).await),
        (deployments, "post", server.deploy(&json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": "v2", "reason": "x".repeat(2 << 20)})).await),
        (deployments, "post", server.client.post(server.url(deployments)).json(&api_body("v2")).send().await.unwrap_or_else(|e| panic!("{e}"))),
        (deployments, "get", server.get("/api/v1/deployments?limit=1000").await),
        (deployments, "get", server.get("/api/v1/deployments?x=1").await),
        ("/api/v1/deployments/{id}", "get", server.get("/api/v1/deployments/nope").await),
        ("/api/v1/deployments/{id}/events", "get", server.get("/api/v1/deployments/nope/events").await),
    ];
    let mut statuses = BTreeSet::new();
    for (path, method, r) in errors {
        let (status, body) = json_answer(r).await;
        statuses.insert(status);
        check(&doc, path, method, status, &body);
    }
    assert_eq!(statuses, BTreeSet::from([400, 401, 403, 404, 413, 422, 429]));
    gate.add_permits(1);
    server.finished(&held).await;
    server.stop().await;
}
