//! Accepting, validating, reading and listing deployments; authentication; health.

use std::time::Duration;

use serde_json::{Value, json};

use super::support::{CLI_TOKEN, TestServer, api_body, json_of};

const FAST: Duration = Duration::from_millis(10);

async fn error_of(response: reqwest::Response, status: u16) -> (String, String) {
    let body = json_of(response, status).await;
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
        .to_owned();
    let message = body["error"]["message"].as_str().unwrap_or_default().to_owned();
    (code, message)
}

#[tokio::test]
async fn a_valid_request_is_accepted_with_an_id_and_links() {
    let server = TestServer::start(FAST).await;
    let body = json_of(server.deploy(&api_body("v2")).await, 202).await;
    let id = body["id"].as_str().unwrap_or_default();
    assert_eq!(id.len(), 26);
    assert_eq!(body["status"], "queued");
    assert_eq!(body["links"]["self"], format!("/api/v1/deployments/{id}"));
    assert_eq!(body["links"]["events"], format!("/api/v1/deployments/{id}/events"));
    let record = server.finished(id).await;
    assert_eq!(record.status.as_str(), "succeeded");
    assert_eq!(record.request.requested_by, "ci");
    assert!(
        server
            .world
            .repo
            .content("us-west-2/prod-1/apps/api.yaml")
            .contains("team/api:v2")
    );
    server.stop().await;
}

#[tokio::test]
async fn invalid_requests_get_their_status_and_code() {
    let server = TestServer::start(FAST).await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"region": "us-west-2", "cluster": "nope", "file": "api", "tag": "v2"}),
            404,
            "cluster_not_found",
        ),
        (
            json!({"region": "us-west-2", "cluster": "prod-1", "file": "missing", "tag": "v2"}),
            404,
            "file_not_found",
        ),
        (
            json!({"region": "us-west-2", "cluster": "prod-1", "file": "../../etc/passwd", "tag": "v2"}),
            422,
            "invalid_file",
        ),
        (
            json!({"region": "US West", "cluster": "prod-1", "file": "api", "tag": "v2"}),
            422,
            "invalid_region",
        ),
        (
            json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": "v2 beta"}),
            422,
            "invalid_tag",
        ),
        (
            json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "image": "Registry/UPPER:v2"}),
            422,
            "invalid_image",
        ),
        (
            json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": "v2", "method": "yolo"}),
            422,
            "invalid_method",
        ),
        (
            json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": "v2", "timeout": "soon"}),
            422,
            "invalid_timeout",
        ),
        (
            json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": "v2", "colour": "red"}),
            400,
            "unknown_field",
        ),
        (
            json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": 2}),
            400,
            "invalid_body",
        ),
        (
            json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": "v2", "requested_by": "alice"}),
            403,
            "requested_by_not_allowed",
        ),
        (
            json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "image": "registry.example.com/other/x:v2"}),
            422,
            "no_matching_image",
        ),
    ];
    for (body, status, code) in cases {
        let (got, message) = error_of(server.deploy(&body).await, status).await;
        assert_eq!(got, code, "for {body}: {message}");
    }
    let (_, message) = error_of(
        server
            .deploy(&json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "tag": "v2", "method": "yolo"}))
            .await,
        422,
    )
    .await;
    assert!(
        message.contains("`apply`, `commit-only`, `dry-run`, `restart`"),
        "{message}"
    );
    let not_json = server
        .client
        .post(server.url("/api/v1/deployments"))
        .bearer_auth(super::support::TOKEN)
        .body("{")
        .send()
        .await;
    let (code, _) = error_of(not_json.unwrap_or_else(|e| panic!("{e}")), 400).await;
    assert_eq!(code, "invalid_body");
    assert!(server.world.repo.subjects().is_empty(), "nothing was committed");
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let server = TestServer::start(FAST).await;
    let mut body = api_body("v2");
    body["reason"] = Value::String("x".repeat(2 * 1024 * 1024));
    let (code, _) = error_of(server.deploy(&body).await, 413).await;
    assert_eq!(code, "body_too_large");
    server.stop().await;
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_with_a_challenge() {
    let server = TestServer::start(FAST).await;
    let missing = server
        .client
        .post(server.url("/api/v1/deployments"))
        .json(&api_body("v2"))
        .send()
        .await;
    let missing = missing.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        missing
            .headers()
            .get("www-authenticate")
            .is_some_and(|v| v.as_bytes().starts_with(b"Bearer"))
    );
    assert_eq!(error_of(missing, 401).await.0, "missing_token");
    let bad = server
        .client
        .get(server.url("/api/v1/deployments"))
        .bearer_auth("wrong-token-0123456789")
        .send()
        .await;
    let bad = bad.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        bad.headers()
            .get("www-authenticate")
            .is_some_and(|v| v.to_str().unwrap_or_default().contains("invalid_token"))
    );
    assert_eq!(error_of(bad, 401).await.0, "invalid_token");
    for open in ["/healthz", "/readyz", "/api/openapi.json"] {
        let r = server
            .client
            .get(server.url(open))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status().as_u16(), 200, "{open} should be open");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_trusted_client_names_the_person_behind_its_token() {
    let server = TestServer::start(FAST).await;
    let mut body = api_body("v2");
    body["requested_by"] = json!("alice");
    body["source"] = json!({"kind": "cli"});
    let r = server
        .client
        .post(server.url("/api/v1/deployments"))
        .bearer_auth(CLI_TOKEN)
        .json(&body)
        .send()
        .await;
    let accepted = json_of(r.unwrap_or_else(|e| panic!("{e}")), 202).await;
    let record = server.finished(accepted["id"].as_str().unwrap_or_default()).await;
    assert_eq!(record.request.requested_by, "cli:alice");
    server.stop().await;
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_deployment() {
    let server = TestServer::start(FAST).await;
    let mut body = api_body("v2");
    body["idempotency_key"] = json!("build-4711");
    let first = json_of(server.deploy(&body).await, 202).await;
    let again = json_of(server.deploy(&body).await, 200).await;
    assert_eq!(first["id"], again["id"]);
    server.finished(first["id"].as_str().unwrap_or_default()).await;
    let page = server.get_json("/api/v1/deployments", 200).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(server.world.repo.subjects().len(), 1);
    let mut other = api_body("v3");
    other["idempotency_key"] = json!("build-4711");
    let (code, _) = error_of(server.deploy(&other).await, 409).await;
    assert_eq!(code, "idempotency_key_reused");
    server.stop().await;
}

#[tokio::test]
async fn wait_returns_the_final_record() {
    let server = TestServer::start(FAST).await;
    let r = server
        .post("/api/v1/deployments?wait=true&timeout=20s", &api_body("v3"))
        .await;
    let record = json_of(r, 200).await;
    assert_eq!(record["status"], "succeeded");
    assert_eq!(record["timed_out"], false);
    assert_eq!(record["new_images"][0], "registry.example.com/team/api:v3");
    assert!(record["commit_sha"].is_string());
    server.stop().await;
}

#[tokio::test]
async fn wait_that_times_out_returns_the_current_record_flagged() {
    let server = TestServer::start(FAST).await;
    let gate = server.world.west.gate();
    let r = server
        .post("/api/v1/deployments?wait=true&timeout=300ms", &api_body("v3"))
        .await;
    let record = json_of(r, 200).await;
    assert_eq!(record["timed_out"], true);
    assert_eq!(record["status"], "running");
    gate.add_permits(1);
    server.finished(record["id"].as_str().unwrap_or_default()).await;
    server.stop().await;
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404() {
    let server = TestServer::start(FAST).await;
    let (code, _) = error_of(server.get("/api/v1/deployments/01JDZZZZZZZZZZZZZZZZZZZZZZ").await, 404).await;
    assert_eq!(code, "deployment_not_found");
    let (code, _) = error_of(server.get("/api/v1/deployments/..%2F..%2Fetc").await, 404).await;
    assert_eq!(code, "deployment_not_found");
    let (code, _) = error_of(server.get("/api/v1/deployments/not-an-id/events").await, 404).await;
    assert_eq!(code, "deployment_not_found");
    let (code, _) = error_of(server.get("/api/v1/nothing-here").await, 404).await;
    assert_eq!(code, "not_found");
    let id = server.deploy_id(&api_body("v2")).await;
    let record = server.get_json(&format!("/api/v1/deployments/{id}"), 200).await;
    assert_eq!(record["id"], id.as_str());
    assert_eq!(record["request"]["target"]["file"], "api");
    server.stop().await;
}

#[tokio::test]
async fn the_history_is_paged_newest_first_with_a_cursor() {
    let server = TestServer::start(FAST).await;
    let mut ids = Vec::new();
    for tag in ["v2", "v3", "v4", "v5", "v6"] {
        let mut body = api_body(tag);
        body["method"] = json!("commit-only");
        ids.push(server.deploy_id(&body).await);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for id in &ids {
        server.finished(id).await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/deployments?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = server.get_json(&path, 200).await;
        pages += 1;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 2);
        seen.extend(items.iter().filter_map(|r| r["id"].as_str().map(str::to_owned)));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/deployments?limit=2&before={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    let filtered = server
        .get_json(
            "/api/v1/deployments?region=us-west-2&cluster=prod-1&file=api&status=succeeded",
            200,
        )
        .await;
    assert_eq!(filtered["items"].as_array().map(Vec::len), Some(5));
    let none = server.get_json("/api/v1/deployments?cluster=prod-2", 200).await;
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0));
    assert!(none.get("next").is_none());
    for (query, status, code) in [
        ("limit=0", 422, "invalid_limit"),
        ("status=done", 422, "invalid_status"),
        ("before=xyz", 422, "invalid_cursor"),
        ("region=US", 422, "invalid_region"),
        ("colour=red", 400, "invalid_query"),
    ] {
        let (got, _) = error_of(server.get(&format!("/api/v1/deployments?{query}")).await, status).await;
        assert_eq!(got, code, "for {query}");
    }
    server.stop().await;
}

#[tokio::test]
async fn clusters_list_reachability_apps_and_current_images() {
    let server = TestServer::start(FAST).await;
    let body = server.get_json("/api/v1/clusters", 200).await;
    let clusters = body["clusters"].as_array().cloned().unwrap_or_default();
    assert_eq!(clusters.len(), 2);
    assert_eq!(clusters[0]["region"], "eu-west-1");
    let west = &clusters[1];
    assert_eq!(west["cluster"], "prod-1");
    assert_eq!(west["reachable"], true);
    let apps: Vec<&str> = west["apps"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["file"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(apps, ["api", "web"]);
    assert_eq!(west["apps"][1]["images"][0], "registry.example.com/team/web:v1");
    assert_eq!(west["apps"][1]["path"], "us-west-2/prod-1/apps/web.yaml");
    server.stop().await;
}

#[tokio::test]
async fn health_and_readiness_report_ok_while_serving() {
    let server = TestServer::start(FAST).await;
    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json_of(ready, 200).await["status"], "ready");
    let health = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json_of(health, 200).await["status"], "ok");
    server.stop().await;
}

#[tokio::test]
async fn a_restart_commits_a_restart_annotation_and_keeps_the_images() {
    let server = TestServer::start(FAST).await;
    let body =
        json!({"region": "us-west-2", "cluster": "prod-1", "file": "web.yaml", "method": "restart", "reason": "stuck"});
    let record = json_of(server.post("/api/v1/deployments?wait=true", &body).await, 200).await;
    assert_eq!(record["status"], "succeeded");
    assert_eq!(record["request"]["change"]["type"], "none");
    let content = server.world.repo.content("us-west-2/prod-1/apps/web.yaml");
    assert!(
        content.contains("restartedAt: ") && content.contains("team/web:v1"),
        "{content}"
    );
    server.stop().await;
}
