//! Registry webhooks and CI releases over HTTP, with the real `deployer-triggers` parsers and
//! planner: each provider's sample payload, every refusal, fan-out, the production, downgrade
//! and promotion guards, duplicates, and reloading the rules.

use std::collections::BTreeMap;
use std::time::Duration;

use deployer_server::config::{RawConfig, Settings, TriggerConfig};
use deployer_triggers::webhook::sign_sha256;
use serde_json::{Value, json};

use super::support::{TestServer, World, json_of, test_settings};

const FAST: Duration = Duration::from_millis(10);
const HUB_TOKEN: &str = "hub-token-acme-api-0123456789abcdef0123";
const QUAY_TOKEN: &str = "quay-token-acme-0123456789abcdef01234567";
const GITHUB_SECRET: &str = "github-hook-secret-0123456789abcdef0123";
const HARBOR_AUTH: &str = "Basic aGFyYm9yOnNlY3JldC1oYXJib3ItYXV0aA==";
const REGISTRY_TOKEN: &str = "registry-bearer-0123456789abcdef012345";
const GENERIC_SECRET: &str = "generic-hook-secret-0123456789abcdef012";

/// The hooks of every provider, bound to the repositories of the samples.
fn hooks() -> String {
    format!(
        r#"
        [[hooks]]
        name = "hub"
        provider = "dockerhub"
        secret = "{HUB_TOKEN}"
        repositories = ["acme/api"]
        [[hooks]]
        name = "quay"
        provider = "quay"
        secret = "{QUAY_TOKEN}"
        repositories = ["quay.io/acme/*"]
        [[hooks]]
        name = "ghcr"
        provider = "github"
        secret = "{GITHUB_SECRET}"
        repositories = ["ghcr.io/acme/*"]
        [[hooks]]
        name = "harbor"
        provider = "harbor"
        secret = "{HARBOR_AUTH}"
        repositories = ["harbor.example.com/acme/*"]
        [[hooks]]
        name = "registry"
        provider = "distribution"
        secret = "{REGISTRY_TOKEN}"
        repositories = ["registry.example.com/acme/*"]
        [[hooks]]
        name = "ci-hook"
        provider = "generic"
        secret = "{GENERIC_SECRET}"
        repositories = ["registry.example.com/acme/api"]
        "#
    )
}

/// Staging is `eu-west-1/stage-1`; production is the two other clusters.
const ENVIRONMENTS: &str = r#"
    [environments.staging]
    targets = ["eu-west-1/stage-1"]
    [environments.production]
    targets = ["us-west-2/prod-1", "eu-west-1/prod-2"]
"#;

/// One rule for every repository and file, on `environments`, for every trigger kind, for
/// semver tags only.
fn rule(environments: &str, extra: &str) -> String {
    format!(
        r#"
        [[rules]]
        name = "everything"
        repositories = ["*"]
        files = ["*"]
        environments = {environments}
        triggers = ["registry", "ci", "api"]
        tags = {{ semver = ">=1.0.0" }}
        {extra}
        "#
    )
}

fn config(text: &str) -> TriggerConfig {
    let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("test TOML: {e}"));
    TriggerConfig::from_table(Some(&toml::Value::Table(table)), &BTreeMap::new())
        .unwrap_or_else(|p| panic!("test trigger configuration: {p:?}"))
}

fn settings(triggers: &str) -> Settings {
    let mut settings = test_settings();
    settings.triggers = config(triggers);
    settings
}

async fn start(triggers: &str) -> TestServer {
    TestServer::start_with(World::for_triggers(FAST), settings(triggers)).await
}

fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../deployer-triggers/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

async fn webhook(server: &TestServer, path: &str, headers: &[Header], body: Vec<u8>) -> reqwest::Response {
    let mut request = server
        .client
        .post(server.url(path))
        .header("Content-Type", "application/json");
    for (k, v) in headers {
        request = request.header(*k, v);
    }
    request
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// A header name and value.
type Header = (&'static str, String);

/// A refused delivery: what it is, its path, headers and body, and the status and code expected.
type Refusal = (&'static str, String, Vec<Header>, Vec<u8>, u16, &'static str);

fn github_headers(body: &[u8]) -> Vec<Header> {
    vec![
        ("X-GitHub-Event", "package".to_owned()),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned()),
        ("X-Hub-Signature-256", sign_sha256(GITHUB_SECRET.as_bytes(), &[body])),
    ]
}

fn generic_headers(body: &[u8]) -> Vec<Header> {
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = sign_sha256(GENERIC_SECRET.as_bytes(), &[ts.as_bytes(), b".", body]);
    vec![("X-Deployer-Timestamp", ts), ("X-Deployer-Signature", signature)]
}

/// `region/cluster/file` of each deployment of an answer.
fn targets(answer: &Value) -> Vec<String> {
    let mut out: Vec<String> = answer["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let t = &d["target"];
            format!(
                "{}/{}/{}",
                t["region"].as_str().unwrap_or_default(),
                t["cluster"].as_str().unwrap_or_default(),
                t["file"].as_str().unwrap_or_default()
            )
        })
        .collect();
    out.sort();
    out
}

fn skip_reasons(answer: &Value) -> Vec<String> {
    answer["skipped"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn ids(answer: &Value) -> Vec<String> {
    answer["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| d["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn deployment_count(server: &TestServer) -> usize {
    let page = server.get_json("/api/v1/deployments?limit=200", 200).await;
    page["items"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn each_providers_sample_payload_deploys_the_file_that_uses_its_image() {
    let server = start(&format!("{ENVIRONMENTS}{}{}", rule(r#"["staging"]"#, ""), hooks())).await;
    let hub = fixture("dockerhub/push.json");
    let cases: Vec<(&str, String, Vec<Header>, Vec<u8>)> = vec![
        (
            "eu-west-1/stage-1/api",
            format!("/webhooks/dockerhub/{HUB_TOKEN}"),
            Vec::new(),
            hub,
        ),
        (
            "eu-west-1/stage-1/quay",
            format!("/webhooks/quay/{QUAY_TOKEN}"),
            Vec::new(),
            fixture("quay/repo-push.json"),
        ),
        (
            "eu-west-1/stage-1/ghcr",
            "/webhooks/github/ghcr".to_owned(),
            github_headers(&fixture("github/package-published.json")),
            fixture("github/package-published.json"),
        ),
        (
            "eu-west-1/stage-1/harbor",
            "/webhooks/harbor/harbor".to_owned(),
            vec![("Authorization", HARBOR_AUTH.to_owned())],
            fixture("harbor/push-artifact.json"),
        ),
        (
            "eu-west-1/stage-1/registry",
            "/webhooks/distribution/registry".to_owned(),
            vec![("Authorization", format!("Bearer {REGISTRY_TOKEN}"))],
            fixture("distribution/envelope.json"),
        ),
    ];
    let mut all = Vec::new();
    for (expected, path, headers, body) in cases {
        let answer = json_of(webhook(&server, &path, &headers, body).await, 200).await;
        assert_eq!(targets(&answer), [expected], "{path}: {answer}");
        assert!(answer["trigger_id"].is_string(), "{answer}");
        all.extend(ids(&answer));
    }
    for id in &all {
        let record = server.finished(id).await;
        assert_eq!(record.status.as_str(), "succeeded", "{id}");
        assert_eq!(record.request.source.kind.as_str(), "registry");
        assert_eq!(record.request.environment.as_deref(), Some("staging"));
        assert!(
            record.request.requested_by.starts_with("webhook:"),
            "{}",
            record.request.requested_by
        );
    }
    let repo = &server.world.repo;
    assert!(
        repo.content("eu-west-1/stage-1/apps/api.yaml")
            .contains("image: acme/api:1.4.2")
    );
    assert!(
        repo.content("eu-west-1/stage-1/apps/ghcr.yaml")
            .contains("ghcr.io/acme/api:1.4.2@sha256:5f0c")
    );
    assert!(
        repo.content("eu-west-1/stage-1/apps/harbor.yaml")
            .contains("harbor.example.com/acme/api:1.4.2@sha256:3e2b")
    );
    assert!(
        repo.content("us-west-2/prod-1/apps/api.yaml")
            .contains("acme/api:1.4.1"),
        "production untouched"
    );

    // The generic webhook deploys the same file as the registry's envelope.
    let body = fixture("generic/push.json");
    let answer = json_of(
        webhook(&server, "/webhooks/generic/ci-hook", &generic_headers(&body), body).await,
        200,
    )
    .await;
    assert_eq!(targets(&answer), ["eu-west-1/stage-1/registry"]);
    server.finished(&ids(&answer)[0]).await;

    // Docker Hub's callback was acknowledged in the background.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.callbacks.seen().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = server.callbacks.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0]
            .0
            .starts_with("https://registry.hub.docker.com/u/acme/api/hook/")
    );
    assert_eq!(seen[0].1.state, "success");

    // Every delivery is recorded, with its payload digest and the hook that sent it.
    let list = server.get_json("/api/v1/triggers?limit=200", 200).await;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    // Quay and Harbor announce two tags each: one trigger per pushed image.
    assert_eq!(items.len(), 8, "{list}");
    let hub_trigger = items
        .iter()
        .find(|t| t["source"] == "dockerhub")
        .unwrap_or_else(|| panic!("no dockerhub trigger in {list}"));
    assert_eq!(hub_trigger["identity"], "hub");
    assert_eq!(hub_trigger["outcome"], "accepted");
    assert_eq!(hub_trigger["matched_rules"], json!(["everything"]));
    assert!(
        hub_trigger["payload_digest"]
            .as_str()
            .unwrap_or_default()
            .starts_with("sha256:")
    );
    let one = server
        .get_json(
            &format!("/api/v1/triggers/{}", hub_trigger["id"].as_str().unwrap_or_default()),
            200,
        )
        .await;
    assert_eq!(one["deployment_ids"].as_array().map(Vec::len), Some(1));
    let latest = items
        .iter()
        .find(|t| t["source"] == "quay" && t["outcome"] == "ignored");
    assert!(
        latest.is_some_and(|t| t["reason"].as_str().unwrap_or_default().contains("semver")),
        "the `latest` tag of Quay's push is recorded with the reason it deployed nothing: {list}"
    );
    server.stop().await;
}

#[tokio::test]
async fn refused_deliveries_get_a_clear_4xx_and_deploy_nothing() {
    let server = start(&format!("{ENVIRONMENTS}{}{}", rule(r#"["staging"]"#, ""), hooks())).await;
    let github = fixture("github/package-published.json");
    let generic = fixture("generic/push.json");
    let replayed = generic_headers(&generic);
    let first = webhook(&server, "/webhooks/generic/ci-hook", &replayed, generic.clone()).await;
    let first = json_of(first, 200).await;
    let mut oversized =
        b"{\"push_data\":{\"tag\":\"1.4.2\"},\"repository\":{\"repo_name\":\"acme/api\"},\"pad\":\"".to_vec();
    oversized.extend(std::iter::repeat_n(b'x', 1024 * 1024));
    oversized.extend(b"\"}");
    let mut unsigned = github_headers(&github);
    unsigned.retain(|(k, _)| *k != "X-Hub-Signature-256");
    let mut wrongly_signed = github_headers(&github);
    wrongly_signed[2].1 = sign_sha256(b"not-the-secret-0123456789abcdef0123", &[&github]);
    let hub = format!("/webhooks/dockerhub/{HUB_TOKEN}");
    let cases: Vec<Refusal> = vec![
        (
            "unsigned",
            "/webhooks/github/ghcr".to_owned(),
            unsigned,
            github.clone(),
            401,
            "missing_header",
        ),
        (
            "wrongly signed",
            "/webhooks/github/ghcr".to_owned(),
            wrongly_signed,
            github.clone(),
            401,
            "signature_mismatch",
        ),
        (
            "replayed",
            "/webhooks/generic/ci-hook".to_owned(),
            replayed,
            generic,
            401,
            "replayed",
        ),
        (
            "oversized",
            hub.clone(),
            Vec::new(),
            oversized,
            413,
            "payload_too_large",
        ),
        (
            "malformed",
            hub.clone(),
            Vec::new(),
            b"{\"push_data\":".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "wrong shape",
            hub.clone(),
            Vec::new(),
            fixture("dockerhub/missing-tag.json"),
            400,
            "missing_field",
        ),
        (
            "wrong repository",
            hub,
            Vec::new(),
            fixture("dockerhub/other-repository.json"),
            403,
            "repository_not_allowed",
        ),
        (
            "unknown token",
            "/webhooks/dockerhub/not-a-token-0123456789abcdef0123".to_owned(),
            Vec::new(),
            fixture("dockerhub/push.json"),
            401,
            "unknown_hook_token",
        ),
        (
            "unknown hook",
            "/webhooks/harbor/nobody".to_owned(),
            vec![("Authorization", HARBOR_AUTH.to_owned())],
            fixture("harbor/push-artifact.json"),
            401,
            "unknown_hook",
        ),
    ];
    for (what, path, headers, body, status, code) in cases {
        let answer = json_of(webhook(&server, &path, &headers, body).await, status).await;
        // An oversized body may be refused by the request guard before the webhook reads it.
        let same = answer["error"]["code"] == code || (status == 413 && answer["error"]["code"] == "body_too_large");
        assert!(same, "{what}: expected `{code}`: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.len() > 10, "{what}: the message says what is wrong: {answer}");
    }
    assert_eq!(
        deployment_count(&server).await,
        1,
        "only the first generic delivery deployed"
    );
    let recorded = server.world.triggers.all();
    let outcomes: Vec<&str> = recorded.iter().map(|t| t.outcome.as_str()).collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "rejected").count(),
        3,
        "authenticated refusals (malformed, wrong shape, wrong repository) are recorded: {outcomes:?}"
    );
    server.finished(&ids(&first)[0]).await;
    server.stop().await;
}

#[tokio::test]
async fn a_branch_release_fans_out_to_every_cluster_of_its_environment() {
    let server = start(&format!("{ENVIRONMENTS}{}", rule(r#"["staging", "production"]"#, ""))).await;
    let body = json!({
        "image": "acme/api", "tag": "1.4.2", "branch": "main", "ci": "github-actions",
        "commit": "4f2a9c1", "build_url": "https://ci.example.com/builds/7"
    });
    let answer = json_of(server.post("/api/v1/releases?wait=true&timeout=30s", &body).await, 200).await;
    assert_eq!(answer["environment"], "production");
    assert_eq!(targets(&answer), ["eu-west-1/prod-2/api", "us-west-2/prod-1/api"]);
    assert_eq!(answer["outcome"], "succeeded", "{answer}");
    assert_eq!(answer["timed_out"], false);
    let release = answer["release_id"].as_str().unwrap_or_default().to_owned();
    for id in ids(&answer) {
        let record = server.finished(&id).await;
        assert_eq!(record.release_id.as_deref(), Some(release.as_str()));
        assert_eq!(record.request.source.kind.as_str(), "ci");
        assert_eq!(record.request.source.commit.as_deref(), Some("4f2a9c1"));
        assert_eq!(record.request.environment.as_deref(), Some("production"));
    }
    let read = server.get_json(&format!("/api/v1/releases/{release}"), 200).await;
    assert_eq!(targets(&read), ["eu-west-1/prod-2/api", "us-west-2/prod-1/api"]);
    assert_eq!(read["outcome"], "succeeded");
    assert!(
        server
            .world
            .repo
            .content("eu-west-1/stage-1/apps/api.yaml")
            .contains("1.4.1"),
        "staging untouched"
    );

    // A branch without an environment deploys nothing and says why.
    let feature = json!({"image": "acme/api", "tag": "1.4.3", "branch": "feature/x", "ci": "github-actions"});
    let answer = json_of(server.post("/api/v1/releases", &feature).await, 200).await;
    assert_eq!(answer["outcome"], "rejected");
    assert_eq!(skip_reasons(&answer), ["no_environment_for_branch"]);
    let missing = server.get("/api/v1/releases/01JDQ3V6X8W5M2R4T7Y9B0C1D2").await;
    assert_eq!(json_of(missing, 404).await["error"]["code"], "release_not_found");
    server.stop().await;
}

#[tokio::test]
async fn a_registry_push_to_production_is_refused_without_a_rule_allowing_it() {
    let server = start(&format!(
        "{ENVIRONMENTS}{}{}",
        rule(r#"["staging", "production"]"#, ""),
        hooks()
    ))
    .await;
    let push = || fixture("dockerhub/push.json");
    let path = format!("/webhooks/dockerhub/{HUB_TOKEN}");
    let answer = json_of(webhook(&server, &path, &[], push()).await, 200).await;
    assert_eq!(targets(&answer), ["eu-west-1/stage-1/api"]);
    let refused = answer["skipped"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["reason"] == "registry_push_refused")
        .unwrap_or_else(|| panic!("production is not refused: {answer}"));
    assert_eq!(refused["environment"], "production");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("allow_production_push")
    );
    server.finished(&ids(&answer)[0]).await;
    server.stop().await;

    // With the rule allowing it, the same push reaches both production clusters too.
    let allowing = rule(r#"["staging", "production"]"#, "allow_production_push = true");
    let server = start(&format!("{ENVIRONMENTS}{allowing}{}", hooks())).await;
    let answer = json_of(webhook(&server, &path, &[], push()).await, 200).await;
    assert_eq!(
        targets(&answer),
        ["eu-west-1/prod-2/api", "eu-west-1/stage-1/api", "us-west-2/prod-1/api"]
    );
    for id in ids(&answer) {
        server.finished(&id).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_semver_downgrade_is_refused_unless_forced() {
    let server = start(&format!("{ENVIRONMENTS}{}", rule(r#"["staging"]"#, ""))).await;
    let body = json!({"app": "api", "tag": "1.4.0", "branch": "stage", "ci": "semaphore"});
    let answer = json_of(server.post("/api/v1/releases", &body).await, 200).await;
    assert_eq!(answer["outcome"], "rejected");
    assert_eq!(skip_reasons(&answer), ["downgrade"]);
    assert!(
        answer["skipped"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("force")
    );
    assert_eq!(deployment_count(&server).await, 0);

    let forced = json!({"app": "api", "tag": "1.4.0", "branch": "stage", "ci": "semaphore", "force": true});
    let answer = json_of(server.post("/api/v1/releases?wait=true", &forced).await, 200).await;
    assert_eq!(targets(&answer), ["eu-west-1/stage-1/api"]);
    assert_eq!(answer["outcome"], "succeeded");
    assert!(
        server
            .world
            .repo
            .content("eu-west-1/stage-1/apps/api.yaml")
            .contains("acme/api:1.4.0")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_duplicate_delivery_is_absorbed() {
    let server = start(&format!("{ENVIRONMENTS}{}{}", rule(r#"["staging"]"#, ""), hooks())).await;
    let path = format!("/webhooks/dockerhub/{HUB_TOKEN}");
    let first = json_of(webhook(&server, &path, &[], fixture("dockerhub/push.json")).await, 200).await;
    let again = json_of(webhook(&server, &path, &[], fixture("dockerhub/push.json")).await, 200).await;
    assert_eq!(
        ids(&again),
        ids(&first),
        "the duplicate answers with the first delivery's deployments"
    );
    assert_eq!(again["duplicate_of"], first["trigger_id"]);
    assert_eq!(skip_reasons(&again), ["duplicate"]);
    assert_eq!(deployment_count(&server).await, 1);

    // The same holds for a release retried with its idempotency key.
    let body = json!({"image": "acme/api", "tag": "1.5.0", "branch": "stage", "ci": "semaphore", "idempotency_key": "build-42"});
    let made = server.post("/api/v1/releases", &body).await;
    let made = json_of(made, 202).await;
    let retried = json_of(server.post("/api/v1/releases", &body).await, 200).await;
    assert_eq!(retried["release_id"], made["release_id"]);
    assert_eq!(ids(&retried), ids(&made));
    assert_eq!(deployment_count(&server).await, 2);
    for id in ids(&first).into_iter().chain(ids(&made)) {
        server.finished(&id).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn the_promotion_gate_holds_until_the_tag_succeeded_in_staging() {
    let gated = r#"
        [environments.staging]
        targets = ["eu-west-1/stage-1"]
        [environments.production]
        targets = ["us-west-2/prod-1", "eu-west-1/prod-2"]
        promotion_from = "staging"
    "#;
    let server = start(&format!("{gated}{}", rule(r#"["staging", "production"]"#, ""))).await;
    let release = |branch: &str| json!({"image": "acme/api", "tag": "1.4.2", "branch": branch, "ci": "semaphore"});
    let held = json_of(server.post("/api/v1/releases", &release("master")).await, 200).await;
    assert_eq!(held["outcome"], "rejected");
    assert_eq!(skip_reasons(&held), ["promotion_gate", "promotion_gate"]);
    assert!(
        held["skipped"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("staging")
    );

    let staged = json_of(server.post("/api/v1/releases?wait=true", &release("stage")).await, 200).await;
    assert_eq!(staged["outcome"], "succeeded", "{staged}");

    let promoted = json_of(server.post("/api/v1/releases?wait=true", &release("master")).await, 200).await;
    assert_eq!(promoted["outcome"], "succeeded", "{promoted}");
    assert_eq!(targets(&promoted), ["eu-west-1/prod-2/api", "us-west-2/prod-1/api"]);
    server.stop().await;
}

#[tokio::test]
async fn a_rules_reload_takes_effect_and_a_bad_reload_keeps_the_rules_in_force() {
    let server = start(&format!("{ENVIRONMENTS}{}", hooks())).await;
    let path = format!("/webhooks/dockerhub/{HUB_TOKEN}");
    let answer = json_of(webhook(&server, &path, &[], fixture("dockerhub/push.json")).await, 200).await;
    assert_eq!(skip_reasons(&answer), ["no_rule_matched"]);

    let section = |body: &str| {
        let mut text = String::new();
        for line in body.lines() {
            let line = line.trim();
            let line = match line.strip_prefix("[[") {
                Some(rest) => format!("[[triggers.{rest}"),
                None => match line.strip_prefix('[') {
                    Some(rest) => format!("[triggers.{rest}"),
                    None => line.to_owned(),
                },
            };
            text.push_str(&line);
            text.push('\n');
        }
        text
    };
    let good = section(&format!("{ENVIRONMENTS}{}{}", rule(r#"["staging"]"#, ""), hooks()));
    let bad = good.replace("semver = \">=1.0.0\"", "semver = \"not a range\"");
    let err = server
        .reloader
        .reload(&RawConfig::from_parts(&bad, Vec::new()))
        .err()
        .unwrap_or_else(|| panic!("a bad range must be refused"));
    assert!(
        err.problems.iter().any(|p| p.key == "triggers.rules[0].tags.semver"),
        "{err}"
    );
    let still = json_of(webhook(&server, &path, &[], fixture("dockerhub/push.json")).await, 200).await;
    assert_eq!(skip_reasons(&still), ["no_rule_matched"], "the rules in force stay");

    let reloaded = server
        .reloader
        .reload(&RawConfig::from_parts(&good, Vec::new()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reloaded.rules, 1);
    let after = json_of(webhook(&server, &path, &[], fixture("dockerhub/push.json")).await, 200).await;
    assert_eq!(targets(&after), ["eu-west-1/stage-1/api"]);
    server.finished(&ids(&after)[0]).await;
    server.stop().await;
}

#[tokio::test]
async fn pinned_targets_are_left_alone_by_automatic_triggers() {
    let server = start(&format!("{ENVIRONMENTS}{}", rule(r#"["production"]"#, ""))).await;
    let pin = deployer_store::Pin {
        target: super::support::target("us-west-2", "prod-1", "api"),
        pinned_by: "alice".to_owned(),
        reason: Some("incident 42".to_owned()),
        deployment_id: None,
        pinned_at: chrono::Utc::now(),
    };
    deployer_store::PinStore::pin(server.world.triggers.as_ref(), &pin)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let body = json!({"image": "acme/api", "tag": "1.4.2", "branch": "main", "ci": "semaphore"});
    let answer = json_of(server.post("/api/v1/releases?wait=true", &body).await, 200).await;
    assert_eq!(targets(&answer), ["eu-west-1/prod-2/api"]);
    assert_eq!(skip_reasons(&answer), ["pinned"]);
    assert!(
        answer["skipped"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("incident 42")
    );
    server.stop().await;
}

#[tokio::test]
async fn trigger_answers_match_the_documented_schemas() {
    use super::openapi::{check, document};
    let doc = document();
    let server = start(&format!(
        "{ENVIRONMENTS}{}{}",
        rule(r#"["staging", "production"]"#, ""),
        hooks()
    ))
    .await;
    let hub = format!("/webhooks/dockerhub/{HUB_TOKEN}");
    let answers: Vec<(&str, &str, reqwest::Response)> = vec![
        (
            "/webhooks/dockerhub/{hook_token}",
            "post",
            webhook(&server, &hub, &[], fixture("dockerhub/push.json")).await,
        ),
        (
            "/webhooks/dockerhub/{hook_token}",
            "post",
            webhook(&server, &hub, &[], b"[".to_vec()).await,
        ),
        (
            "/webhooks/dockerhub/{hook_token}",
            "post",
            webhook(&server, &hub, &[], fixture("dockerhub/other-repository.json")).await,
        ),
        (
            "/webhooks/dockerhub/{hook_token}",
            "post",
            webhook(&server, &hub, &[], vec![b' '; 2 << 20]).await,
        ),
        (
            "/webhooks/distribution/{hook}",
            "post",
            webhook(
                &server,
                "/webhooks/distribution/registry",
                &[("Authorization", format!("Bearer {REGISTRY_TOKEN}"))],
                fixture("distribution/envelope.json"),
            )
            .await,
        ),
        (
            "/webhooks/github/{hook}",
            "post",
            webhook(
                &server,
                "/webhooks/github/ghcr",
                &[],
                fixture("github/package-published.json"),
            )
            .await,
        ),
        (
            "/api/v1/releases",
            "post",
            server
                .post(
                    "/api/v1/releases",
                    &json!({"image": "acme/api", "tag": "1.5.0", "branch": "stage", "ci": "semaphore"}),
                )
                .await,
        ),
        (
            "/api/v1/releases",
            "post",
            server
                .post(
                    "/api/v1/releases?wait=true",
                    &json!({"app": "api", "tag": "1.6.0", "branch": "stage"}),
                )
                .await,
        ),
        (
            "/api/v1/releases",
            "post",
            server
                .post("/api/v1/releases", &json!({"tag": "1.6.0", "branch": "stage"}))
                .await,
        ),
        (
            "/api/v1/releases",
            "post",
            server
                .post(
                    "/api/v1/releases",
                    &json!({"app": "api", "tag": "1.6.0", "branch": "stage", "colour": 1}),
                )
                .await,
        ),
        (
            "/api/v1/releases/{id}",
            "get",
            server.get("/api/v1/releases/nope").await,
        ),
        ("/api/v1/triggers", "get", server.get("/api/v1/triggers?limit=1").await),
        ("/api/v1/triggers", "get", server.get("/api/v1/triggers?limit=0").await),
        (
            "/api/v1/triggers/{id}",
            "get",
            server.get("/api/v1/triggers/nope").await,
        ),
    ];
    let mut statuses = std::collections::BTreeSet::new();
    let mut release_id = String::new();
    let mut trigger_id = String::new();
    for (path, method, response) in answers {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
        check(&doc, path, method, status, &body);
        statuses.insert(status);
        if path == "/api/v1/releases" && status == 202 {
            release_id = body["release_id"].as_str().unwrap_or_default().to_owned();
        }
        if path == "/api/v1/triggers" && status == 200 {
            trigger_id = body["items"][0]["id"].as_str().unwrap_or_default().to_owned();
            assert!(body["next"].is_string(), "{body}");
        }
    }
    assert_eq!(
        statuses,
        std::collections::BTreeSet::from([200, 202, 400, 401, 403, 404, 413, 422])
    );
    let release = server.get(&format!("/api/v1/releases/{release_id}")).await;
    check(&doc, "/api/v1/releases/{id}", "get", 200, &json_of(release, 200).await);
    let trigger = server.get(&format!("/api/v1/triggers/{trigger_id}")).await;
    check(&doc, "/api/v1/triggers/{id}", "get", 200, &json_of(trigger, 200).await);
    let deployments = server.get_json("/api/v1/deployments?limit=200", 200).await;
    check(&doc, "/api/v1/deployments", "get", 200, &deployments);
    server.stop().await;
}
