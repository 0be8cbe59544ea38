//! Security: scoped tokens end to end, the audit log, rate limits, input limits, commit
//! trailers, response headers and HTTPS, against the real router over HTTP.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use deployer_auth::{Expiry, Quota, RateLimitSettings, Scopes, TokenName};
use deployer_core::execute::{ExecSettings, Executor, Ports};
use deployer_core::model::ClusterKey;
use deployer_core::ports::{Clock, ConfigRepo, SystemClock};
use deployer_server::auth::{Chain, StaticTokens, StoreTokens};
use deployer_server::config::{Settings, TriggerConfig};
use deployer_server::transport::tls::TlsSettings;
use deployer_server::{Dependencies, Hub, Server};
use deployer_store::{DatabaseUrl, HistoryStore, StoreSettings};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::fakes::{LineManifests, MemClusters};
use super::support::{World, api_body, target, test_settings};

/// `admin:*` (a configured token without `scopes`).
const ADMIN: &str = "admin-token-0123456789abcdef";
/// `deploy:production/us-west-2/*/api`.
const CI: &str = "ci-narrow-token-0123456789";
/// `read:*`.
const READER: &str = "reader-token-0123456789ab";

/// A service with scoped configured tokens, issued tokens in SQLite, and the audit log.
struct Secured {
    base: String,
    client: reqwest::Client,
    world: World,
    store: Arc<dyn HistoryStore>,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

fn scopes(text: &str) -> Scopes {
    text.parse().unwrap_or_else(|e| panic!("scopes {text}: {e}"))
}

/// Settings whose `production` environment holds both production clusters.
fn secured_settings() -> Settings {
    let mut settings = test_settings();
    let table: toml::Table = "[environments.production]\ntargets = [\"us-west-2/prod-1\", \"eu-west-1/prod-2\"]\n"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    settings.triggers = TriggerConfig::from_table(Some(&toml::Value::Table(table)), &BTreeMap::new())
        .unwrap_or_else(|p| panic!("{p:?}"));
    settings
}

impl Secured {
    async fn start(settings: Settings) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let store_settings = StoreSettings::with_url(DatabaseUrl::sqlite_file(dir.path().join("deployer.db")));
        let store = deployer_store::open(&store_settings)
            .await
            .unwrap_or_else(|e| panic!("open store: {e}"));
        let world = World::new(Duration::from_millis(20));
        let hub = Arc::new(Hub::new());
        let west = target("us-west-2", "prod-1", "x").cluster_key();
        let eu: ClusterKey = target("eu-west-1", "prod-2", "x").cluster_key();
        let clusters = Arc::new(
            MemClusters::default()
                .with(west, world.west.clone())
                .with(eu, world.eu.clone()),
        );
        let manifests = Arc::new(LineManifests);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let ports = Ports {
            repo: world.repo.clone(),
            clusters: clusters.clone(),
            store: world.store.clone(),
            manifests: manifests.clone(),
            clock: clock.clone(),
            notifier: hub.clone(),
        };
        let exec = ExecSettings {
            progress_interval: Duration::from_millis(5),
            retries: 1,
            ..ExecSettings::default()
        };
        let configured = StaticTokens::new()
            .with("admin", ADMIN, false)
            .with_scopes("ci", CI, false, scopes("deploy:production/us-west-2/*/api"))
            .with_scopes("reader", READER, false, scopes("read:*"));
        let tokens_store: Arc<dyn deployer_store::TokenStore> = store.clone();
        let authenticator = Chain::new()
            .then(Arc::new(configured))
            .then(Arc::new(StoreTokens::new(tokens_store, clock.clone())));
        let deps = Dependencies {
            engine: Arc::new(Executor::new(ports, exec)),
            store: world.store.clone(),
            repo: world.repo.clone(),
            clusters,
            manifests,
            authenticator: Arc::new(authenticator),
            hub,
            clock,
            triggers: world.triggers.clone(),
            releases: world.triggers.clone(),
            pins: world.triggers.clone(),
        };
        let https = settings.server.tls.is_some();
        let audit: Arc<dyn deployer_store::AuditStore> = store.clone();
        let server = Server::start(deps, settings)
            .await
            .unwrap_or_else(|e| panic!("start: {e}"))
            .with_audit(audit);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            base: format!("{}://{addr}", if https { "https" } else { "http" }),
            client: reqwest::Client::new(),
            world,
            store,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// Calls the API; returns the status, the JSON body (or `null`) and the headers.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null), headers)
    }

    /// Waits for an audit entry matching `wanted` (entries are written asynchronously).
    async fn audit_entry(&self, query: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let (status, page, _) = self
                .call(Method::GET, &format!("/api/v1/audit?{query}"), Some(ADMIN), None)
                .await;
            assert_eq!(status, 200, "{page}");
            if let Some(found) = page["entries"].as_array().into_iter().flatten().find(|e| wanted(e)) {
                return found.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no audit entry for `{query}` matches; got {page}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Secured {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_narrow_token_acts_inside_its_scope_and_gets_403_naming_the_scope_outside() {
    let s = Secured::start(secured_settings()).await;
    let (status, accepted, _) = s
        .call(Method::POST, "/api/v1/deployments", Some(CI), Some(&api_body("v2")))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap_or_default().to_owned();
    let (status, _, _) = s
        .call(Method::GET, &format!("/api/v1/deployments/{id}"), Some(CI), None)
        .await;
    assert_eq!(status, 200, "deploying a target allows reading its deployments");
    let one_target = "/api/v1/deployments?region=us-west-2&cluster=prod-1&file=api";
    assert_eq!(s.call(Method::GET, one_target, Some(CI), None).await.0, 200);

    let eu = json!({"region": "eu-west-1", "cluster": "prod-2", "file": "api", "tag": "v2"});
    let web = json!({"region": "us-west-2", "cluster": "prod-1", "file": "web", "tag": "v2"});
    let refused: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::POST,
            "/api/v1/deployments".into(),
            Some(eu),
            "deploy:production/eu-west-1/prod-2/api",
        ),
        (
            Method::POST,
            "/api/v1/deployments".into(),
            Some(web),
            "deploy:production/us-west-2/prod-1/web",
        ),
        (Method::GET, "/api/v1/deployments".into(), None, "read:*"),
        (Method::GET, "/api/v1/clusters".into(), None, "read:*"),
        (
            Method::PUT,
            "/api/v1/pins/us-west-2/prod-1/api".into(),
            Some(json!({"reason": "hold"})),
            "pin:production/us-west-2/prod-1/api",
        ),
        (
            Method::POST,
            format!("/api/v1/deployments/{id}/rollback"),
            Some(json!({})),
            "rollback:production/us-west-2/prod-1/api",
        ),
        (
            Method::POST,
            "/api/v1/rollbacks".into(),
            Some(json!({"region": "us-west-2", "cluster": "prod-1", "file": "api"})),
            "rollback:production/us-west-2/prod-1/api",
        ),
        (Method::GET, "/api/v1/audit".into(), None, "admin:*"),
    ];
    for (method, path, body, needed) in refused {
        let (status, answer, _) = s.call(method.clone(), &path, Some(CI), body.as_ref()).await;
        assert_eq!(
            (status, code(&answer)),
            (403, "missing_scope"),
            "{method} {path}: {answer}"
        );
        assert!(
            message(&answer).contains(&format!("`{needed}`")),
            "{method} {path}: the message names `{needed}`: {answer}"
        );
    }
    let (status, answer, _) = s
        .call(Method::POST, "/api/v1/deployments", Some(READER), Some(&api_body("v3")))
        .await;
    assert_eq!((status, code(&answer)), (403, "missing_scope"));
    assert_eq!(
        s.call(Method::GET, "/api/v1/deployments", Some(READER), None).await.0,
        200
    );
    assert!(s.world.eu.applied().is_empty(), "nothing reached the refused cluster");

    let denied = s
        .audit_entry("identity=ci/config&outcome=denied&action=deploy", |e| {
            e["detail"] == "missing_scope: deploy:production/eu-west-1/prod-2/api"
        })
        .await;
    assert_eq!(denied["status_code"], 403);
    assert_eq!(denied["target"], "eu-west-1/prod-2/api");
    assert_eq!(denied["client_ip"], "127.0.0.1");
    let allowed = s
        .audit_entry("identity=ci/config&outcome=allowed&action=deploy", |e| {
            e["status_code"] == 202
        })
        .await;
    assert_eq!(allowed["target"], "us-west-2/prod-1/api");
}

#[tokio::test]
async fn a_release_deploys_only_the_targets_its_token_may_deploy() {
    let mut settings = secured_settings();
    let table: toml::Table = r#"
        [environments.production]
        targets = ["us-west-2/prod-1", "eu-west-1/prod-2"]
        [[rules]]
        name = "api"
        repositories = ["*"]
        files = ["api"]
        environments = ["production"]
        triggers = ["ci"]
    "#
    .parse()
    .unwrap_or_else(|e| panic!("{e}"));
    settings.triggers = TriggerConfig::from_table(Some(&toml::Value::Table(table)), &BTreeMap::new())
        .unwrap_or_else(|p| panic!("{p:?}"));
    let s = Secured::start(settings).await;
    let body =
        json!({"image": "registry.example.com/team/api", "tag": "1.5.0", "branch": "main", "ci": "github-actions"});
    let (status, answer, _) = s.call(Method::POST, "/api/v1/releases", Some(CI), Some(&body)).await;
    assert_eq!(status, 202, "{answer}");
    let deployed: Vec<String> = answer["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "{}/{}/{}",
                d["target"]["region"].as_str().unwrap_or(""),
                d["target"]["cluster"].as_str().unwrap_or(""),
                d["target"]["file"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(deployed, ["us-west-2/prod-1/api"], "{answer}");
    let skipped = &answer["skipped"][0];
    assert_eq!(skipped["reason"], "missing_scope", "{answer}");
    assert!(
        skipped["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`deploy:production/eu-west-1/prod-2/api`"),
        "{answer}"
    );
    let release = answer["release_id"].as_str().unwrap_or_default();
    let (status, _, _) = s
        .call(Method::GET, &format!("/api/v1/releases/{release}"), Some(CI), None)
        .await;
    assert_eq!(status, 200, "the token may read the release of the targets it deployed");
    s.audit_entry("identity=ci/config&outcome=denied&action=deploy", |e| {
        e["target"] == "eu-west-1/prod-2/api" && e["detail"] == "missing_scope: deploy:production/eu-west-1/prod-2/api"
    })
    .await;
}

#[tokio::test]
async fn issued_tokens_work_until_revoked_and_every_refusal_is_audited() {
    let s = Secured::start(secured_settings()).await;
    let now = chrono::Utc::now();
    let name = TokenName::new("release-bot").unwrap_or_else(|e| panic!("{e}"));
    let issued = deployer_store::tokens::create(
        &*s.store,
        name,
        scopes("deploy:*/us-west-2/prod-1/*"),
        Expiry::Never,
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("create: {e}"));
    let token = issued.token.expose_secret().to_owned();
    let (status, answer, _) = s
        .call(Method::POST, "/api/v1/deployments", Some(&token), Some(&api_body("v2")))
        .await;
    assert_eq!(status, 202, "{answer}");
    deployer_store::tokens::revoke(&*s.store, &issued.record.id, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("revoke: {e}"));
    let (status, answer, headers) = s
        .call(Method::POST, "/api/v1/deployments", Some(&token), Some(&api_body("v3")))
        .await;
    assert_eq!((status, code(&answer)), (401, "invalid_token"));
    assert!(headers.contains_key("www-authenticate"));
    let (status, answer, _) = s.call(Method::GET, "/api/v1/pins", None, None).await;
    assert_eq!((status, code(&answer)), (401, "missing_token"));
    let (status, _, _) = s
        .call(
            Method::GET,
            "/api/v1/pins",
            Some("kad_0000000000000000000000000000000000000000000"),
            None,
        )
        .await;
    assert_eq!(status, 401);

    let identity = format!("release-bot/{}", issued.record.id);
    s.audit_entry(&format!("identity={identity}&outcome=allowed"), |e| {
        e["status_code"] == 202
    })
    .await;
    let revoked = format!("revoked_token: {}", issued.record.id);
    s.audit_entry("identity=anonymous&outcome=denied", |e| e["detail"] == revoked.as_str())
        .await;
    for detail in ["missing_token", "unknown_token"] {
        let entry = s
            .audit_entry("identity=anonymous&outcome=denied", |e| e["detail"] == detail)
            .await;
        assert_eq!(entry["status_code"], 401);
    }
    // Paging: newest first, one at a time, without repeats.
    let (_, first, _) = s
        .call(
            Method::GET,
            "/api/v1/audit?identity=anonymous&limit=1",
            Some(ADMIN),
            None,
        )
        .await;
    let before = first["next_before"]
        .as_i64()
        .unwrap_or_else(|| panic!("no next page: {first}"));
    let (_, second, _) = s
        .call(
            Method::GET,
            &format!("/api/v1/audit?identity=anonymous&limit=1&before={before}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert!(second["entries"][0]["seq"].as_i64() < Some(before), "{second}");
    let (status, answer, _) = s
        .call(Method::GET, "/api/v1/audit?outcome=maybe", Some(ADMIN), None)
        .await;
    assert_eq!((status, code(&answer)), (400, "invalid_query"));
}

#[tokio::test]
async fn tokens_and_addresses_over_their_rate_get_429_with_retry_after() {
    let mut settings = secured_settings();
    let quota = |n| Quota::new(n, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    settings.auth.rate_limits = RateLimitSettings {
        per_token: quota(3),
        per_ip: quota(8),
        max_keys: 100,
    };
    let s = Secured::start(settings).await;
    for _ in 0..3 {
        assert_eq!(s.call(Method::GET, "/api/v1/pins", Some(READER), None).await.0, 200);
    }
    let (status, answer, headers) = s.call(Method::GET, "/api/v1/pins", Some(READER), None).await;
    assert_eq!((status, code(&answer)), (429, "rate_limited"), "{answer}");
    let retry: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=20).contains(&retry), "Retry-After {retry}");
    // Another token has its own bucket; the address has used 4 of its 8.
    assert_eq!(s.call(Method::GET, "/api/v1/pins", Some(CI), None).await.0, 403);
    for _ in 0..3 {
        assert_eq!(s.call(Method::GET, "/api/v1/pins", None, None).await.0, 401);
    }
    let (status, answer, headers) = s.call(Method::GET, "/api/v1/pins", None, None).await;
    assert_eq!(
        (status, code(&answer)),
        (429, "rate_limited"),
        "the address is limited before any token check"
    );
    assert!(headers.contains_key("retry-after"));
    // The address is over its limit: read the log from the store.
    let filter = deployer_store::AuditFilter {
        identity: Some("reader/config".to_owned()),
        ..deployer_store::AuditFilter::default()
    };
    let page = deployer_store::AuditPage {
        limit: 100,
        before: None,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let entries = s.store.query_audit(&filter, &page).await.unwrap_or_default();
        if entries
            .iter()
            .any(|e| e.detail.as_deref() == Some("rate_limited: token") && e.status_code == Some(429))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no audit entry for the refusal: {entries:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn oversized_deep_or_long_bodies_are_refused_before_any_handler() {
    let s = Secured::start(secured_settings()).await;
    let (status, accepted, _) = s
        .call(Method::POST, "/api/v1/deployments", Some(ADMIN), Some(&api_body("v2")))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap_or_default().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, record, _) = s
            .call(Method::GET, &format!("/api/v1/deployments/{id}"), Some(ADMIN), None)
            .await;
        if record["status"] == "succeeded" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deployment did not succeed: {record}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut huge = api_body("v3");
    huge["reason"] = json!("x".repeat(2 * 1024 * 1024));
    let deep: Value =
        serde_json::from_str(&format!("{}{}", "[".repeat(65), "]".repeat(65))).unwrap_or_else(|e| panic!("{e}"));
    let mut deep_body = api_body("v2");
    deep_body["source"] = json!({ "ci": deep });
    let mut long_string = api_body("v2");
    long_string["idempotency_key"] = json!("k".repeat(20 * 1024));
    for (what, body, status, expected) in [
        ("2 MiB", huge, 413, "body_too_large"),
        ("65 levels", deep_body, 400, "json_too_deep"),
        ("20 KiB string", long_string, 400, "string_too_long"),
    ] {
        let (got, answer, _) = s
            .call(Method::POST, "/api/v1/deployments", Some(ADMIN), Some(&body))
            .await;
        assert_eq!((got, code(&answer)), (status, expected), "{what}: {answer}");
    }
    let long_reason = "r".repeat(1001);
    let mut deploy = api_body("v2");
    deploy["reason"] = json!(long_reason);
    let rollback = json!({"region": "us-west-2", "cluster": "prod-1", "file": "api", "reason": long_reason});
    for (method, path, body) in [
        (Method::POST, "/api/v1/deployments", deploy),
        (Method::POST, "/api/v1/rollbacks", rollback),
        (
            Method::PUT,
            "/api/v1/pins/us-west-2/prod-1/api",
            json!({"reason": long_reason}),
        ),
    ] {
        let (got, answer, _) = s.call(method.clone(), path, Some(ADMIN), Some(&body)).await;
        assert_eq!(
            got, 422,
            "{method} {path}: a 1001-character reason is refused: {answer}"
        );
    }
    let (_, page, _) = s.call(Method::GET, "/api/v1/deployments", Some(ADMIN), None).await;
    assert_eq!(
        page["items"].as_array().map(Vec::len),
        Some(1),
        "nothing more was deployed: {page}"
    );
}

#[tokio::test]
async fn a_reason_cannot_add_a_trailer_to_the_commit() {
    let s = Secured::start(secured_settings()).await;
    let mut body = api_body("v2");
    body["reason"] = json!("urgent fix\nDeployment-Id: forged\r\nRequested-By: mallory\u{2028}Rollback-Of: x");
    let (status, accepted, _) = s
        .call(Method::POST, "/api/v1/deployments", Some(ADMIN), Some(&body))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap_or_default().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.world.repo.subjects().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no commit was made");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let repo = &s.world.repo;
    let trailer = |k: &'static str, v: &'static str| async move { repo.find_commit_with_trailer(k, v).await };
    assert!(trailer("Deployment-Id", "forged").await.ok().flatten().is_none());
    assert!(trailer("Requested-By", "mallory").await.ok().flatten().is_none());
    assert!(
        repo.find_commit_with_trailer("Deployment-Id", &id)
            .await
            .ok()
            .flatten()
            .is_some(),
        "the real trailer is there"
    );
    assert!(
        repo.subjects()
            .iter()
            .all(|subject| !subject.contains(['\n', '\r', '\u{2028}']))
    );
}

#[tokio::test]
async fn webhook_rejections_are_audited_without_the_secret_in_the_url() {
    let s = Secured::start(secured_settings()).await;
    let secret_in_url = "/webhooks/dockerhub/not-a-real-hook-token-0123456789";
    let (status, _, _) = s.call(Method::POST, secret_in_url, None, Some(&json!({}))).await;
    assert!((400..500).contains(&status), "refused: {status}");
    let (status, _, _) = s
        .call(
            Method::POST,
            "/webhooks/distribution/nobody",
            None,
            Some(&json!({"events": []})),
        )
        .await;
    assert!((400..500).contains(&status));
    let hub = s
        .audit_entry("action=webhook", |e| e["identity"] == "webhook:dockerhub")
        .await;
    assert_ne!(hub["outcome"], "allowed");
    assert!(!hub.to_string().contains("not-a-real-hook-token"), "{hub}");
    s.audit_entry("action=webhook", |e| e["identity"] == "webhook:distribution/nobody")
        .await;
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_plain_http_no_hsts() {
    let s = Secured::start(secured_settings()).await;
    for (path, token) in [
        ("/healthz", None),
        ("/api/v1/pins", None),
        ("/api/v1/pins", Some(ADMIN)),
    ] {
        let (_, _, headers) = s.call(Method::GET, path, token, None).await;
        assert_eq!(
            headers.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..])
        );
        assert_eq!(
            headers.get("referrer-policy").map(|v| v.as_bytes()),
            Some(&b"no-referrer"[..])
        );
        assert!(!headers.contains_key("strict-transport-security"), "{path}");
    }
}

/// Writes a CA-signed certificate for `127.0.0.1` to `dir` and returns the CA's PEM.
fn write_certificate(dir: &Path, ca_name: &str) -> String {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let fail = |e: rcgen::Error| -> ! { panic!("rcgen: {e}") };
    let ca_key = KeyPair::generate().unwrap_or_else(|e| fail(e));
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| fail(e));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let ca_cert = ca.self_signed(&ca_key).unwrap_or_else(|e| fail(e));
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap_or_else(|e| fail(e));
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap_or_else(|e| fail(e))
        .signed_by(&key, &issuer)
        .unwrap_or_else(|e| fail(e));
    // Key first, so that a reader never sees a new certificate with the old key for long.
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap_or_else(|e| panic!("{e}"));
    ca_cert.pem()
}

fn trusting(ca_pem: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn https_serves_the_configured_certificate_with_hsts_and_reloads_it_when_it_changes() {
    let certs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let first_ca = write_certificate(certs.path(), "first-ca");
    let mut settings = secured_settings();
    settings.server.tls = Some(TlsSettings {
        cert_file: certs.path().join("cert.pem"),
        key_file: certs.path().join("key.pem"),
        reload_interval: Duration::from_millis(100),
    });
    let s = Secured::start(settings).await;
    let url = format!("{}/api/v1/pins", s.base);
    let answer = trusting(&first_ca)
        .get(&url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("HTTPS with the first certificate: {e}"));
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(
        answer.headers().get("strict-transport-security").map(|v| v.as_bytes()),
        Some(&b"max-age=31536000"[..])
    );
    let plain = s.base.replacen("https", "http", 1);
    assert!(
        reqwest::get(format!("{plain}/healthz")).await.is_err(),
        "plain HTTP is not served"
    );

    // Modification times have a coarse resolution on some file systems.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second_ca = write_certificate(certs.path(), "second-ca");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if trusting(&second_ca).get(&url).bearer_auth(ADMIN).send().await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        trusting(&first_ca).get(&url).send().await.is_err(),
        "the old certificate is no longer served"
    );
}

#[test]
fn an_unreadable_certificate_is_a_configuration_problem_at_start_up() {
    let raw = deployer_server::config::RawConfig::from_parts(
        "[server.tls]\ncert_file = \"/nonexistent/tls.crt\"\nkey_file = \"/nonexistent/tls.key\"\n",
        Vec::new(),
    );
    let problems = Settings::from_raw(&raw).err().map(|e| e.problems).unwrap_or_default();
    let tls = problems.iter().find(|p| p.key == "server.tls");
    assert!(
        tls.is_some_and(|p| p.message.contains("/nonexistent/tls.crt")),
        "{problems:?}"
    );
}
