//! Every error is an exact Kubernetes `Status` (spec §5), and the HTTP surface honours the
//! query and media-type rules of spec §3 and §6, checked with raw HTTP against the binary.

mod common;

use common::Sim;
use serde_json::{Value, json};

fn status(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not a JSON body ({e}): {body}"))
}

#[allow(clippy::too_many_arguments)]
fn assert_status(
    sim: &Sim,
    method: &str,
    path: &str,
    body: Option<&str>,
    content_type: &str,
    code: u16,
    reason: &str,
    message: &str,
) -> Value {
    let (got, text) = sim.http_with(method, path, body, content_type, &[]);
    let parsed = status(&text);
    assert_eq!(got, code, "{method} {path}: {text}");
    assert_eq!(parsed["kind"], "Status", "{text}");
    assert_eq!(parsed["apiVersion"], "v1", "{text}");
    assert_eq!(parsed["status"], "Failure", "{text}");
    assert_eq!(parsed["code"], code, "{text}");
    assert_eq!(parsed["reason"], reason, "{text}");
    assert_eq!(parsed["message"], message, "{text}");
    parsed
}

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn deployment(labels: Value) -> String {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}
        }
    })
    .to_string()
}

#[test]
fn unknown_paths_methods_and_media_types_get_exact_statuses() {
    let sim = Sim::start(&[]);
    let unknown = assert_status(
        &sim,
        "GET",
        "/api/v1/namespaces/default/widgets",
        None,
        "application/json",
        404,
        "NotFound",
        "the server could not find the requested resource",
    );
    assert_eq!(unknown["details"], json!({}));
    assert_status(
        &sim,
        "GET",
        "/openapi/v2",
        None,
        "application/json",
        404,
        "NotFound",
        "the server could not find the requested resource",
    );
    assert_status(
        &sim,
        "POST",
        &format!("{DEPLOYMENTS}/web"),
        Some("{}"),
        "application/json",
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    );
    assert_status(
        &sim,
        "POST",
        DEPLOYMENTS,
        Some("x=1"),
        "application/x-www-form-urlencoded",
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
    );
    assert_status(
        &sim,
        "PATCH",
        &format!("{DEPLOYMENTS}/web"),
        Some("{}"),
        "text/plain",
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json",
    );
    let (code, body) = sim.http("POST", DEPLOYMENTS, Some("{\"metadata\": "));
    assert_eq!(
        (code, status(&body)["reason"].clone()),
        (400, json!("BadRequest")),
        "{body}"
    );
    let (code, body) = sim.http_with(
        "PATCH",
        &format!("{DEPLOYMENTS}/web?fieldManager=x"),
        Some("a: [b"),
        "application/apply-patch+yaml",
        &[],
    );
    assert_eq!(
        (code, status(&body)["reason"].clone()),
        (400, json!("BadRequest")),
        "{body}"
    );
    let (code, body) = sim.http_with(
        "PATCH",
        &format!("{DEPLOYMENTS}/web"),
        Some("{}"),
        "application/apply-patch+yaml",
        &[],
    );
    assert_eq!(code, 400, "apply needs a fieldManager: {body}");
    let (code, body) = sim.http_with(
        "PATCH",
        &format!("{DEPLOYMENTS}/web?force=true"),
        Some("{}"),
        "application/merge-patch+json",
        &[],
    );
    assert_eq!(code, 422, "force is only for apply: {body}");
}

#[test]
fn object_errors_name_the_resource_exactly() {
    let sim = Sim::start(&[]);
    let missing = assert_status(
        &sim,
        "GET",
        &format!("{DEPLOYMENTS}/web"),
        None,
        "application/json",
        404,
        "NotFound",
        "deployments.apps \"web\" not found",
    );
    assert_eq!(
        missing["details"],
        json!({"name": "web", "group": "apps", "kind": "deployments"})
    );
    assert_status(
        &sim,
        "GET",
        "/api/v1/namespaces/nope",
        None,
        "application/json",
        404,
        "NotFound",
        "namespaces \"nope\" not found",
    );
    assert_status(
        &sim,
        "POST",
        "/apis/apps/v1/namespaces/nope/deployments",
        Some(&deployment(json!({"app": "web"}))),
        "application/json",
        404,
        "NotFound",
        "namespaces \"nope\" not found",
    );
    assert_status(
        &sim,
        "PUT",
        &format!("{DEPLOYMENTS}/web"),
        Some(&deployment(json!({"app": "web"}))),
        "application/json",
        404,
        "NotFound",
        "deployments.apps \"web\" not found",
    );

    let invalid = assert_status(
        &sim,
        "POST",
        DEPLOYMENTS,
        Some(&deployment(json!({"app": "x"}))),
        "application/json",
        422,
        "Invalid",
        "Deployment.apps \"web\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`",
    );
    assert_eq!(invalid["details"]["kind"], "Deployment");
    assert_eq!(
        invalid["details"]["causes"][0]["field"],
        "spec.template.metadata.labels"
    );

    let (code, created) = sim.http("POST", DEPLOYMENTS, Some(&deployment(json!({"app": "web"}))));
    assert_eq!(code, 201, "{created}");
    assert_status(
        &sim,
        "POST",
        DEPLOYMENTS,
        Some(&deployment(json!({"app": "web"}))),
        "application/json",
        409,
        "AlreadyExists",
        "deployments.apps \"web\" already exists",
    );
    let mut stale: Value = status(&created);
    stale["metadata"]["resourceVersion"] = json!("1");
    assert_status(
        &sim,
        "PUT",
        &format!("{DEPLOYMENTS}/web"),
        Some(&stale.to_string()),
        "application/json",
        409,
        "Conflict",
        "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again",
    );

    let (code, body) = sim.http("GET", &format!("{DEPLOYMENTS}?labelSelector=a%20b"), None);
    assert_eq!(
        (code, status(&body)["reason"].clone()),
        (400, json!("BadRequest")),
        "{body}"
    );
    assert_status(
        &sim,
        "GET",
        &format!("{DEPLOYMENTS}?fieldSelector=spec.foo%3D1"),
        None,
        "application/json",
        400,
        "BadRequest",
        "field label not supported: spec.foo",
    );
}

#[test]
fn lists_page_watches_replay_and_old_versions_expire() {
    let sim = Sim::start(&[]);
    for i in 0..3 {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}")}}).to_string();
        assert_eq!(
            sim.http("POST", "/api/v1/namespaces/default/configmaps", Some(&body)).0,
            201
        );
    }
    let page = sim.get_json("/api/v1/namespaces/default/configmaps?&limit=2");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["metadata"]["remainingItemCount"], 1);
    let token = page["metadata"]["continue"].as_str().unwrap_or_default().to_string();
    let rest = sim.get_json(&format!(
        "/api/v1/namespaces/default/configmaps?limit=2&continue={token}"
    ));
    assert_eq!(rest["items"][0]["metadata"]["name"], "c2");
    assert!(rest["metadata"].get("continue").is_none());

    let rv: u64 = page["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let (code, body) = sim.http(
        "GET",
        &format!(
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={}&timeoutSeconds=1",
            rv - 2
        ),
        None,
    );
    assert_eq!(code, 200);
    let events: Vec<Value> = body.lines().map(status).collect();
    assert_eq!(
        events.iter().map(|e| e["type"].clone()).collect::<Vec<_>>(),
        vec![json!("ADDED"), json!("ADDED")]
    );
    assert_eq!(events[1]["object"]["kind"], "ConfigMap");

    let (code, body) = sim.http(
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1&allowWatchBookmarks=true",
        None,
    );
    assert_eq!(code, 200);
    let events: Vec<Value> = body.lines().map(status).collect();
    assert_eq!(events.iter().filter(|e| e["type"] == "ADDED").count(), 3);
    let last = events.last().cloned().unwrap_or_default();
    assert_eq!(last["type"], "BOOKMARK", "a bookmark precedes the timeout");
    assert_eq!(last["object"]["kind"], "ConfigMap");

    let later = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later"}}).to_string();
    assert_eq!(
        sim.http("POST", "/api/v1/namespaces/default/configmaps", Some(&later))
            .0,
        201
    );
    assert_eq!(sim.http("POST", "/_sim/compact", None).0, 200);
    let (_, body) = sim.http(
        "GET",
        &format!(
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={}",
            rv - 2
        ),
        None,
    );
    let error = status(body.lines().next().unwrap_or_default());
    assert_eq!(error["type"], "ERROR");
    assert_eq!(error["object"]["code"], 410);
    assert_eq!(error["object"]["reason"], "Expired");
    let (code, body) = sim.http(
        "GET",
        &format!("/api/v1/namespaces/default/configmaps?limit=2&continue={token}"),
        None,
    );
    assert_eq!(
        (code, status(&body)["reason"].clone()),
        (410, json!("Expired")),
        "{body}"
    );
}

#[test]
fn the_token_is_required_everywhere_when_set() {
    let sim = Sim::start(&["--token", "t0k"]);
    assert_eq!(sim.http("GET", "/api/v1/namespaces", None).0, 200);
    let (code, _, body) = sim.http_full(
        "GET",
        "/version",
        None,
        "application/json",
        &[("Authorization", "Bearer wrong")],
    );
    assert_eq!(code, 401);
    assert_eq!(
        status(&body),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "details": {}, "code": 401})
    );
}

#[test]
fn injected_faults_answer_with_the_configured_status() {
    let sim = Sim::start(&[]);
    let faults = r#"{"verbs":{"list":{"rate":1.0,"code":429,"retryAfterSeconds":7}}}"#;
    assert_eq!(sim.http("PUT", "/_sim/faults", Some(faults)).0, 200);
    let (code, head, body) = sim.http_full("GET", "/api/v1/namespaces", None, "application/json", &[]);
    assert_eq!(code, 429, "{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 7"), "{head}");
    assert_eq!(status(&body)["reason"], "TooManyRequests");
    assert_eq!(
        sim.http("GET", "/api/v1/namespaces/default", None).0,
        200,
        "other verbs are unaffected"
    );
    assert_eq!(sim.http("PUT", "/_sim/faults", Some("{}")).0, 200);
    assert_eq!(sim.http("GET", "/api/v1/namespaces", None).0, 200);
    assert_eq!(
        sim.http(
            "PUT",
            "/_sim/faults",
            Some(r#"{"verbs":{"get":{"rate":1,"code":404}}}"#)
        )
        .0,
        400
    );

    assert_eq!(
        sim.http("PUT", "/_sim/faults", Some(r#"{"latencyMs":300,"expireWatches":true}"#))
            .0,
        200
    );
    let started = std::time::Instant::now();
    assert_eq!(sim.http("GET", "/api/v1/namespaces/default", None).0, 200);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "latency is added"
    );
    let (code, body) = sim.http("GET", "/api/v1/namespaces?watch=true&resourceVersion=0", None);
    assert_eq!(code, 200);
    let first = status(body.lines().next().unwrap_or_default());
    assert_eq!(
        (first["type"].clone(), first["object"]["code"].clone()),
        (json!("ERROR"), json!(410)),
        "{body}"
    );
    assert_eq!(sim.get_json("/_sim/faults")["latencyMs"], 300);
}

#[test]
fn watches_follow_selector_transitions_and_stream_initial_events() {
    let sim = Sim::start(&[]);
    let cm = |name: &str, tier: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"tier": tier}}})
            .to_string()
    };
    assert_eq!(
        sim.http("POST", "/api/v1/namespaces/default/configmaps", Some(&cm("a", "front")))
            .0,
        201
    );
    let start = sim.get_json("/api/v1/namespaces/default/configmaps")["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let relabel = |tier: &str| {
        let patch = json!({"metadata": {"labels": {"tier": tier}}}).to_string();
        let (code, body) = sim.http_with(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/a",
            Some(&patch),
            "application/merge-patch+json",
            &[],
        );
        assert_eq!(code, 200, "{body}");
    };
    relabel("back");
    relabel("front");
    let (_, body) = sim.http(
        "GET",
        &format!("/api/v1/namespaces/default/configmaps?watch=true&labelSelector=tier%3Dfront&resourceVersion={start}&timeoutSeconds=1"),
        None,
    );
    let types: Vec<Value> = body.lines().map(|l| status(l)["type"].clone()).collect();
    assert_eq!(types, vec![json!("DELETED"), json!("ADDED")], "{body}");

    let (code, body) = sim.http(
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true",
        None,
    );
    assert_eq!(
        (code, status(&body)["reason"].clone()),
        (422, json!("Invalid")),
        "{body}"
    );
    let (_, body) = sim.http(
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
        None,
    );
    let events: Vec<Value> = body.lines().map(status).collect();
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(
        events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
}

#[test]
fn the_manual_clock_moves_only_when_advanced_and_image_rules_change_at_runtime() {
    let sim = Sim::start(&["--clock", "manual", "--seed", "9"]);
    let (code, body) = sim.http_with(
        "PUT",
        "/_sim/images/nginx%3A1.25",
        Some(r#"{"behaviour":"never-ready"}"#),
        "application/json",
        &[],
    );
    assert_eq!(code, 200, "{body}");
    let manifest = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}
    })
    .to_string();
    let (code, body) = sim.http_with(
        "PATCH",
        &format!("{DEPLOYMENTS}/web?fieldManager=test"),
        Some(&manifest),
        "application/apply-patch+yaml",
        &[],
    );
    assert_eq!(code, 201, "apply creates: {body}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        sim.get_json(&format!("{DEPLOYMENTS}/web"))
            .get("status")
            .is_none_or(|s| s.get("observedGeneration").is_none())
    );
    let advanced = sim.get_json("/_sim/state");
    assert_eq!(advanced["time"], "2025-01-01T00:00:00Z");
    let (code, body) = sim.http("POST", "/_sim/advance", Some(r#"{"seconds": 10}"#));
    assert_eq!(code, 200, "{body}");
    assert_eq!(status(&body)["time"], "2025-01-01T00:00:10Z");
    let deployment = sim.get_json(&format!("{DEPLOYMENTS}/web"));
    assert_eq!(deployment["status"]["observedGeneration"], 1, "{deployment}");
    assert_eq!(deployment["status"]["updatedReplicas"], 1, "{deployment}");
    assert!(
        deployment["status"].get("availableReplicas").is_none(),
        "never-ready pods are not available: {deployment}"
    );
    let pods = sim.get_json("/api/v1/namespaces/default/pods");
    assert_eq!(
        pods["items"][0]["status"]["conditions"]
            .as_array()
            .map(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "False")),
        Some(true)
    );
}
