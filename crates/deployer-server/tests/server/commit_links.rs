//! Deployment records link their configuration-repository commit (`commit_url`) when
//! `[git] commit_url` says where commits are shown, in every answer that carries a record.

use std::time::Duration;

use deployer_server::config::{RawConfig, Settings};
use serde_json::{Value, json};

use super::openapi::{assert_valid, check, document};
use super::support::{TestServer, World, api_body, json_of, test_settings};

const TEMPLATE: &str = "https://git.example.com/org/config/-/commit/{sha}";

/// The test settings, with `[git]` read the way the service reads its file.
fn linked_settings() -> Settings {
    let raw = RawConfig::from_parts(
        &format!("[git]\nremote = \"/srv/git/config.git\"\ncommit_url = \"{TEMPLATE}\"\n"),
        Vec::new(),
    );
    let parsed = Settings::from_raw(&raw).unwrap_or_else(|e| panic!("{e}"));
    let mut settings = test_settings();
    settings.server.commit_links = parsed.server.commit_links;
    settings
}

/// The page `record`'s commit should link to.
fn page_of(record: &Value) -> String {
    let sha = record["commit_sha"]
        .as_str()
        .unwrap_or_else(|| panic!("no commit_sha in {record}"));
    TEMPLATE.replace("{sha}", sha)
}

#[tokio::test]
async fn records_link_their_commit_in_waits_gets_lists_events_and_the_overview() {
    let doc = document();
    let server = TestServer::start_with(World::new(Duration::from_millis(10)), linked_settings()).await;

    let waited = json_of(server.post("/api/v1/deployments?wait=true", &api_body("v2")).await, 200).await;
    assert_eq!(waited["status"], "succeeded", "{waited}");
    assert_eq!(waited["commit_url"], json!(page_of(&waited)), "{waited}");
    check(&doc, "/api/v1/deployments", "post", 200, &waited);
    let id = waited["id"].as_str().unwrap_or_default().to_owned();

    let record = server.get_json(&format!("/api/v1/deployments/{id}"), 200).await;
    assert_eq!(record["commit_url"], json!(page_of(&record)));
    check(&doc, "/api/v1/deployments/{id}", "get", 200, &record);

    let page = server.get_json("/api/v1/deployments?limit=5", 200).await;
    assert_eq!(page["items"][0]["id"], json!(id));
    assert_eq!(page["items"][0]["commit_url"], json!(page_of(&record)));
    check(&doc, "/api/v1/deployments", "get", 200, &page);

    let stream = server
        .get(&format!("/api/v1/deployments/{id}/events"))
        .await
        .text()
        .await
        .unwrap_or_default();
    let events: Vec<Value> = stream
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect();
    let last = events.last().unwrap_or_else(|| panic!("no events in {stream}"));
    assert_eq!(last["kind"], "succeeded");
    assert_eq!(last["record"]["commit_url"], json!(page_of(&record)));
    assert!(
        events[0]["record"].get("commit_url").is_none(),
        "the `queued` event has no commit yet, so no link: {}",
        events[0]
    );
    let event_schema = &doc["paths"]["/api/v1/deployments/{id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
        ["schema"];
    for event in &events {
        assert_valid(&doc, event_schema, event, "an SSE event");
    }

    let clusters = server.get_json("/api/v1/clusters", 200).await;
    let api = clusters["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["region"] == "us-west-2" && c["cluster"] == "prod-1")
        .flat_map(|c| c["apps"].as_array().cloned().unwrap_or_default())
        .find(|a| a["file"] == "api")
        .unwrap_or_else(|| panic!("no us-west-2/prod-1/api in {clusters}"));
    assert_eq!(api["last_deployment"]["commit_url"], json!(page_of(&record)));
    check(&doc, "/api/v1/clusters", "get", 200, &clusters);

    let mut dry = api_body("v3");
    dry["method"] = json!("dry-run");
    let preview = json_of(server.post("/api/v1/deployments?wait=true", &dry).await, 200).await;
    assert!(
        preview.get("commit_sha").is_none() && preview.get("commit_url").is_none(),
        "a dry run commits nothing, so it links nothing: {preview}"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_a_template_or_a_well_known_remote_records_carry_no_commit_url() {
    let server = TestServer::start(Duration::from_millis(10)).await;
    let waited = json_of(server.post("/api/v1/deployments?wait=true", &api_body("v2")).await, 200).await;
    assert!(waited["commit_sha"].is_string(), "{waited}");
    assert!(waited.get("commit_url").is_none(), "{waited}");
    let id = waited["id"].as_str().unwrap_or_default();
    let record = server.get_json(&format!("/api/v1/deployments/{id}"), 200).await;
    assert!(record.get("commit_url").is_none(), "{record}");
    server.stop().await;
}
