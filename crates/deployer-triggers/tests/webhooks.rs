//! Webhook fixtures of every provider, plus the refusals: unsigned, wrongly signed,
//! replayed, oversized, malformed and wrong-repository deliveries.

use chrono::{DateTime, Utc};
use deployer_triggers::pattern::RepositoryPattern;
use deployer_triggers::webhook::{
    Delivery, Headers, Hook, Hooks, IgnoreReason, MAX_BODY_BYTES, ReplayCache, WebhookError, distribution, dockerhub,
    generic, github, harbor, quay, sign_sha256,
};
use deployer_triggers::{ImageEvent, Provider};
use secrecy::SecretString;

const HUB_TOKEN: &str = "hub-token-acme-api-7f3c9a1e5b2d4f6a8c0e";
const HUB_OTHER_TOKEN: &str = "hub-token-acme-web-1a2b3c4d5e6f7a8b9c0d";
const REGISTRY_TOKEN: &str = "registry-bearer-0d9c8b7a6f5e4d3c2b1a";
const HARBOR_AUTH: &str = "Basic aGFyYm9yOnNlY3JldC1oYXJib3ItYXV0aA==";
const QUAY_TOKEN: &str = "quay-token-acme-9e8d7c6b5a4f3e2d1c0b";
const GITHUB_SECRET: &str = "github-webhook-secret-4b5c6d7e8f9a0b1c";
const GENERIC_SECRET: &str = "generic-webhook-secret-a1b2c3d4e5f6a7b8";

fn hook(name: &str, provider: Provider, secret: &str, repositories: &[&str]) -> Hook {
    let patterns = repositories
        .iter()
        .map(|p| RepositoryPattern::new(p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    Hook::new(name, provider, SecretString::from(secret), patterns)
}

fn hooks() -> Hooks {
    Hooks::new(vec![
        hook("hub-api", Provider::Dockerhub, HUB_TOKEN, &["acme/api"]),
        hook("hub-web", Provider::Dockerhub, HUB_OTHER_TOKEN, &["acme/web"]),
        hook(
            "registry",
            Provider::Distribution,
            REGISTRY_TOKEN,
            &["registry.example.com/acme/*"],
        ),
        hook("harbor", Provider::Harbor, HARBOR_AUTH, &["harbor.example.com/acme/*"]),
        hook("quay", Provider::Quay, QUAY_TOKEN, &["quay.io/acme/api"]),
        hook("github", Provider::Github, GITHUB_SECRET, &["ghcr.io/acme/*"]),
        hook(
            "generic",
            Provider::Generic,
            GENERIC_SECRET,
            &["registry.example.com/acme/api"],
        ),
    ])
}

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn headers(pairs: &[(&str, &str)]) -> Headers {
    Headers::new(pairs.iter().copied())
}

fn ok(result: Result<Delivery, WebhookError>) -> Delivery {
    result.unwrap_or_else(|e| panic!("delivery should be accepted: {e}"))
}

fn err(result: Result<Delivery, WebhookError>) -> WebhookError {
    match result {
        Ok(d) => panic!("delivery should be refused, got {d:?}"),
        Err(e) => e,
    }
}

/// `repository:tag@digest` of each event.
fn refs(events: &[ImageEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let mut s = e.repository.clone();
            if let Some(t) = &e.tag {
                s.push_str(&format!(":{t}"));
            }
            if let Some(d) = &e.digest {
                s.push_str(&format!("@{}", &d.as_str()[..15]));
            }
            s
        })
        .collect()
}

fn ignored_kinds(d: &Delivery) -> Vec<String> {
    d.ignored
        .iter()
        .map(|i| match &i.reason {
            IgnoreReason::NotAPush { action } => format!("not_a_push:{action}"),
            IgnoreReason::NotAManifest { .. } => "not_a_manifest".into(),
            IgnoreReason::Untagged => "untagged".into(),
            IgnoreReason::NotAContainer { package_type } => format!("not_a_container:{package_type}"),
            IgnoreReason::UnsupportedEvent { event } => format!("unsupported:{event}"),
            IgnoreReason::RepositoryNotAllowed { repository } => format!("not_allowed:{repository}"),
            IgnoreReason::InvalidReference { reason } => format!("invalid:{reason}"),
        })
        .collect()
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_138_000, 0).unwrap_or_default()
}

// Docker Hub

#[test]
fn a_docker_hub_push_becomes_one_event_for_the_normalised_repository() {
    let d = ok(dockerhub::receive(&hooks(), HUB_TOKEN, &fixture("dockerhub/push.json")));
    assert_eq!(d.hook, "hub-api");
    assert_eq!(refs(&d.events), ["docker.io/acme/api:1.4.2"]);
    let e = &d.events[0];
    assert_eq!((e.registry.as_str(), e.provider), ("docker.io", Provider::Dockerhub));
    assert_eq!(e.actor.as_deref(), Some("acmebot"));
    assert_eq!(e.pushed_at.map(|t| t.timestamp()), Some(1_764_138_000));
    assert_eq!(e.digest, None, "Docker Hub sends no digest");
    assert_eq!(
        d.callback_url.as_deref(),
        Some("https://registry.hub.docker.com/u/acme/api/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/")
    );
}

#[test]
fn a_legacy_docker_hub_payload_with_a_float_timestamp_is_accepted() {
    let d = ok(dockerhub::receive(
        &hooks(),
        HUB_TOKEN,
        &fixture("dockerhub/push-legacy-float.json"),
    ));
    assert_eq!(refs(&d.events), ["docker.io/acme/api:latest"]);
    assert_eq!(d.events[0].pushed_at.map(|t| t.timestamp()), Some(1_417_566_161));
}

#[test]
fn a_docker_hub_token_used_for_another_repository_is_refused() {
    let e = err(dockerhub::receive(
        &hooks(),
        HUB_TOKEN,
        &fixture("dockerhub/other-repository.json"),
    ));
    assert_eq!(e.to_string(), "repository acme/web is not allowed for this hook");
    assert_eq!(e.kind(), "repository_not_allowed");
    assert!(
        ok(dockerhub::receive(
            &hooks(),
            HUB_OTHER_TOKEN,
            &fixture("dockerhub/other-repository.json")
        ))
        .hook
            == "hub-web"
    );
}

#[test]
fn an_unknown_docker_hub_token_is_refused() {
    let e = err(dockerhub::receive(
        &hooks(),
        "guessed-token",
        &fixture("dockerhub/push.json"),
    ));
    assert_eq!(e.to_string(), "unknown hook token");
    assert!(e.is_authentication());
    let e = err(dockerhub::receive(
        &hooks(),
        &HUB_TOKEN[..HUB_TOKEN.len() - 1],
        &fixture("dockerhub/push.json"),
    ));
    assert_eq!(e.kind(), "unknown_hook_token", "a prefix of the token is not the token");
}

#[test]
fn a_docker_hub_payload_without_a_tag_names_the_missing_field() {
    let e = err(dockerhub::receive(
        &hooks(),
        HUB_TOKEN,
        &fixture("dockerhub/missing-tag.json"),
    ));
    assert_eq!(e.to_string(), "payload field `push_data.tag` is missing or empty");
}

#[test]
fn without_a_configured_hook_every_delivery_is_refused() {
    let e = err(dockerhub::receive(
        &Hooks::default(),
        HUB_TOKEN,
        &fixture("dockerhub/push.json"),
    ));
    assert_eq!(e.to_string(), "no dockerhub hook is configured");
}

#[test]
fn malformed_json_is_refused_with_the_parser_position() {
    let e = err(dockerhub::receive(&hooks(), HUB_TOKEN, b"{\"push_data\": {\"tag\": "));
    assert_eq!(e.kind(), "invalid_json");
    assert!(
        e.to_string()
            .starts_with("payload is not valid JSON: EOF while parsing"),
        "{e}"
    );
    let e = err(dockerhub::receive(
        &hooks(),
        HUB_TOKEN,
        b"{\"push_data\": 3, \"repository\": {}}",
    ));
    assert_eq!(e.kind(), "unexpected_shape");
}

#[test]
fn oversized_bodies_are_refused_by_every_provider_before_authentication() {
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let none = headers(&[]);
    let mut replay = ReplayCache::default();
    let results = [
        dockerhub::receive(&hooks(), "wrong", &body),
        quay::receive(&hooks(), "wrong", &body),
        distribution::receive(&hooks(), &none, &body),
        harbor::receive(&hooks(), &none, &body),
        github::receive(&hooks(), &none, &body),
        generic::receive(&hooks(), &none, &body, now(), &mut replay),
    ];
    for result in results {
        assert_eq!(err(result).kind(), "payload_too_large");
    }
}

// Distribution

fn bearer() -> Headers {
    headers(&[("authorization", &format!("Bearer {REGISTRY_TOKEN}"))])
}

#[test]
fn a_distribution_envelope_keeps_only_tagged_manifest_pushes_of_allowed_repositories() {
    let d = ok(distribution::receive(
        &hooks(),
        &bearer(),
        &fixture("distribution/envelope.json"),
    ));
    assert_eq!(refs(&d.events), ["registry.example.com/acme/api:1.4.2@sha256:4c1b9b0f"]);
    assert_eq!(d.events[0].actor.as_deref(), Some("ci"));
    assert_eq!(
        d.events[0].pushed_at.map(|t| t.to_rfc3339()),
        Some("2026-11-26T06:00:01+00:00".to_owned())
    );
    assert_eq!(
        ignored_kinds(&d),
        [
            "not_a_manifest",
            "untagged",
            "not_a_push:pull",
            "not_allowed:registry.example.com/other/secret-app"
        ]
    );
    assert!(
        d.ignored[0].what.starts_with("events[0] (320678d8"),
        "{:?}",
        d.ignored[0]
    );
}

#[test]
fn a_distribution_envelope_of_layers_only_is_ignored_not_refused() {
    let d = ok(distribution::receive(
        &hooks(),
        &bearer(),
        &fixture("distribution/layers-only.json"),
    ));
    assert!(d.is_ignored());
    assert_eq!(ignored_kinds(&d), ["not_a_manifest", "not_a_push:mount"]);
}

#[test]
fn distribution_deliveries_need_the_configured_bearer_token() {
    let body = fixture("distribution/envelope.json");
    let e = err(distribution::receive(&hooks(), &headers(&[]), &body));
    assert_eq!(e.to_string(), "missing Authorization header");
    let e = err(distribution::receive(
        &hooks(),
        &headers(&[("Authorization", "Basic abc")]),
        &body,
    ));
    assert_eq!(
        e.to_string(),
        "malformed Authorization header: expected `Bearer <token>`"
    );
    let e = err(distribution::receive(
        &hooks(),
        &headers(&[("Authorization", "Bearer nope")]),
        &body,
    ));
    assert_eq!(
        e.to_string(),
        "credentials do not match any configured distribution hook"
    );
}

// Harbor

#[test]
fn a_harbor_push_lists_one_event_per_resource() {
    let d = ok(harbor::receive(
        &hooks(),
        &headers(&[("Authorization", HARBOR_AUTH)]),
        &fixture("harbor/push-artifact.json"),
    ));
    assert_eq!(
        refs(&d.events),
        [
            "harbor.example.com/acme/api:1.4.2@sha256:3e2b8d4f",
            "harbor.example.com/acme/api:stable@sha256:3e2b8d4f"
        ]
    );
    assert_eq!(d.events[0].actor.as_deref(), Some("robot$ci"));
    assert_eq!(d.events[0].provider, Provider::Harbor);
}

#[test]
fn a_harbor_pull_is_ignored() {
    let d = ok(harbor::receive(
        &hooks(),
        &headers(&[("Authorization", HARBOR_AUTH)]),
        &fixture("harbor/pull-artifact.json"),
    ));
    assert!(d.is_ignored());
    assert_eq!(ignored_kinds(&d), ["not_a_push:PULL_ARTIFACT"]);
}

#[test]
fn harbor_deliveries_need_the_configured_authorization_value() {
    let body = fixture("harbor/push-artifact.json");
    assert_eq!(
        err(harbor::receive(&hooks(), &headers(&[]), &body)).kind(),
        "missing_header"
    );
    let e = err(harbor::receive(
        &hooks(),
        &headers(&[("Authorization", "Basic d3Jvbmc=")]),
        &body,
    ));
    assert_eq!(e.kind(), "bad_credentials");
    let narrow = Hooks::new(vec![hook(
        "harbor",
        Provider::Harbor,
        HARBOR_AUTH,
        &["harbor.example.com/acme/web"],
    )]);
    let e = err(harbor::receive(
        &narrow,
        &headers(&[("Authorization", HARBOR_AUTH)]),
        &body,
    ));
    assert_eq!(
        e.to_string(),
        "repository harbor.example.com/acme/api is not allowed for this hook"
    );
}

// Quay

#[test]
fn a_quay_push_becomes_one_event_per_updated_tag() {
    let d = ok(quay::receive(&hooks(), QUAY_TOKEN, &fixture("quay/repo-push.json")));
    assert_eq!(refs(&d.events), ["quay.io/acme/api:1.4.2", "quay.io/acme/api:latest"]);
    let legacy = ok(quay::receive(
        &hooks(),
        QUAY_TOKEN,
        &fixture("quay/repo-push-legacy.json"),
    ));
    assert_eq!(refs(&legacy.events), ["quay.io/acme/api:1.4.2"]);
}

#[test]
fn a_quay_token_is_not_a_docker_hub_token() {
    let e = err(quay::receive(&hooks(), HUB_TOKEN, &fixture("quay/repo-push.json")));
    assert_eq!(e.kind(), "unknown_hook_token");
}

// GitHub

fn github_headers(event: &str, signature: &str) -> Headers {
    headers(&[
        ("X-GitHub-Event", event),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("X-Hub-Signature-256", signature),
    ])
}

fn signed(body: &[u8]) -> String {
    sign_sha256(GITHUB_SECRET.as_bytes(), &[body])
}

#[test]
fn a_signed_ghcr_package_event_becomes_an_event_with_tag_and_digest() {
    let body = fixture("github/package-published.json");
    let d = ok(github::receive(
        &hooks(),
        &github_headers("package", &signed(&body)),
        &body,
    ));
    assert_eq!(refs(&d.events), ["ghcr.io/acme/api:1.4.2@sha256:5f0c8d3e"]);
    assert_eq!(d.events[0].actor.as_deref(), Some("octocat"));
    assert_eq!(d.delivery_id.as_deref(), Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
}

#[test]
fn an_unsigned_github_delivery_is_refused() {
    let body = fixture("github/package-published.json");
    let e = err(github::receive(
        &hooks(),
        &headers(&[("X-GitHub-Event", "package")]),
        &body,
    ));
    assert_eq!(e.to_string(), "missing X-Hub-Signature-256 header");
}

#[test]
fn a_wrongly_signed_or_tampered_github_delivery_is_refused() {
    let body = fixture("github/package-published.json");
    let wrong = sign_sha256(b"another-secret-entirely-0000000000", &[&body]);
    let e = err(github::receive(&hooks(), &github_headers("package", &wrong), &body));
    assert_eq!(e.to_string(), "signature does not match");
    let mut tampered = body.clone();
    let at = tampered.iter().position(|&b| b == b'4').unwrap_or(0);
    tampered[at] = b'5';
    let e = err(github::receive(
        &hooks(),
        &github_headers("package", &signed(&body)),
        &tampered,
    ));
    assert_eq!(e.kind(), "signature_mismatch");
}

#[test]
fn github_test_vector_signature_is_accepted_before_the_body_is_parsed() {
    let hooks = Hooks::new(vec![hook(
        "vector",
        Provider::Github,
        "It's a Secret to Everybody",
        &["*"],
    )]);
    let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let e = err(github::receive(
        &hooks,
        &github_headers("package", signature),
        b"Hello, World!",
    ));
    assert_eq!(e.kind(), "invalid_json", "the signature passed, the body is not JSON");
}

#[test]
fn untagged_and_non_container_packages_and_pings_are_ignored() {
    let untagged = fixture("github/registry-package-untagged.json");
    let d = ok(github::receive(
        &hooks(),
        &github_headers("registry_package", &signed(&untagged)),
        &untagged,
    ));
    assert_eq!(ignored_kinds(&d), ["untagged"]);
    let npm = fixture("github/package-npm.json");
    let d = ok(github::receive(
        &hooks(),
        &github_headers("package", &signed(&npm)),
        &npm,
    ));
    assert_eq!(ignored_kinds(&d), ["not_a_container:npm"]);
    let ping = br#"{"zen":"Design for failure.","hook_id":1}"#;
    let d = ok(github::receive(&hooks(), &github_headers("ping", &signed(ping)), ping));
    assert_eq!(ignored_kinds(&d), ["unsupported:ping"]);
}

#[test]
fn a_github_package_outside_the_hook_repositories_is_refused() {
    let narrow = Hooks::new(vec![hook(
        "github",
        Provider::Github,
        GITHUB_SECRET,
        &["ghcr.io/acme/web"],
    )]);
    let body = fixture("github/package-published.json");
    let e = err(github::receive(
        &narrow,
        &github_headers("package", &signed(&body)),
        &body,
    ));
    assert_eq!(
        e.to_string(),
        "repository ghcr.io/acme/api is not allowed for this hook"
    );
}

// Generic

fn generic_headers(timestamp: i64, body: &[u8]) -> Headers {
    let ts = timestamp.to_string();
    let signature = sign_sha256(GENERIC_SECRET.as_bytes(), &[ts.as_bytes(), b".", body]);
    headers(&[("X-Deployer-Timestamp", &ts), ("X-Deployer-Signature", &signature)])
}

#[test]
fn a_signed_generic_push_is_accepted_once() {
    let body = fixture("generic/push.json");
    let mut replay = ReplayCache::new(16);
    let h = generic_headers(now().timestamp() - 10, &body);
    let d = ok(generic::receive(&hooks(), &h, &body, now(), &mut replay));
    assert_eq!(refs(&d.events), ["registry.example.com/acme/api:1.4.2@sha256:7b2e0f5a"]);
    let e = err(generic::receive(&hooks(), &h, &body, now(), &mut replay));
    assert_eq!(e.to_string(), "signature already seen: replays are refused");
}

#[test]
fn generic_timestamps_outside_the_window_are_refused() {
    let body = fixture("generic/push.json");
    let mut replay = ReplayCache::default();
    let old = generic_headers(now().timestamp() - 301, &body);
    let e = err(generic::receive(&hooks(), &old, &body, now(), &mut replay));
    assert_eq!(e.to_string(), "timestamp too old: replays are refused");
    let ahead = generic_headers(now().timestamp() + 61, &body);
    assert_eq!(
        err(generic::receive(&hooks(), &ahead, &body, now(), &mut replay)).kind(),
        "timestamp_in_future"
    );
    let edge = generic_headers(now().timestamp() - 300, &body);
    assert!(generic::receive(&hooks(), &edge, &body, now(), &mut replay).is_ok());
}

#[test]
fn a_generic_timestamp_changed_after_signing_breaks_the_signature() {
    let body = fixture("generic/push.json");
    let signed_headers = generic_headers(now().timestamp() - 400, &body);
    let signature = signed_headers
        .get("X-Deployer-Signature")
        .unwrap_or_default()
        .to_owned();
    let fresh = now().timestamp().to_string();
    let forged = headers(&[("X-Deployer-Timestamp", &fresh), ("X-Deployer-Signature", &signature)]);
    let e = err(generic::receive(
        &hooks(),
        &forged,
        &body,
        now(),
        &mut ReplayCache::default(),
    ));
    assert_eq!(e.kind(), "signature_mismatch");
}

#[test]
fn generic_deliveries_without_headers_or_with_bad_payloads_are_refused() {
    let body = fixture("generic/push.json");
    let mut replay = ReplayCache::default();
    let e = err(generic::receive(&hooks(), &headers(&[]), &body, now(), &mut replay));
    assert_eq!(e.to_string(), "missing X-Deployer-Signature header");
    let extra = br#"{"image":"registry.example.com/acme/api","tag":"1","deploy_to":"production"}"#;
    let e = err(generic::receive(
        &hooks(),
        &generic_headers(now().timestamp(), extra),
        extra,
        now(),
        &mut replay,
    ));
    assert_eq!(e.kind(), "unexpected_shape");
    let other = br#"{"image":"registry.example.com/acme/web","tag":"1"}"#;
    let e = err(generic::receive(
        &hooks(),
        &generic_headers(now().timestamp(), other),
        other,
        now(),
        &mut replay,
    ));
    assert_eq!(
        e.to_string(),
        "repository registry.example.com/acme/web is not allowed for this hook"
    );
    let tagged = br#"{"image":"registry.example.com/acme/api:2","tag":"1"}"#;
    let e = err(generic::receive(
        &hooks(),
        &generic_headers(now().timestamp(), tagged),
        tagged,
        now(),
        &mut replay,
    ));
    assert_eq!(
        e.to_string(),
        "payload field `image` must name a repository, without tag or digest"
    );
    let deep = format!("{{\"image\":{}1{}}}", "[".repeat(64), "]".repeat(64));
    let e = err(generic::receive(
        &hooks(),
        &generic_headers(now().timestamp(), deep.as_bytes()),
        deep.as_bytes(),
        now(),
        &mut replay,
    ));
    assert_eq!(e.kind(), "too_deep");
}
