//! Property tests: no parser panics, whatever the bytes or the JSON, once authenticated.

use chrono::{DateTime, Utc};
use deployer_triggers::Provider;
use deployer_triggers::pattern::RepositoryPattern;
use deployer_triggers::webhook::{
    Headers, Hook, Hooks, ReplayCache, distribution, dockerhub, generic, github, harbor, quay, sign_sha256,
};
use proptest::prelude::*;
use secrecy::SecretString;

const TOKEN: &str = "property-test-token-0123456789abcdef";

fn hooks() -> Hooks {
    let all = || vec![RepositoryPattern::new("*").unwrap_or_else(|e| panic!("{e}"))];
    Hooks::new(
        Provider::ALL
            .iter()
            .map(|p| Hook::new(p.as_str(), *p, SecretString::from(TOKEN), all()))
            .collect(),
    )
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_138_000, 0).unwrap_or_default()
}

/// Runs every provider on `body` with valid credentials; results may be errors, never panics.
fn run_all(body: &[u8]) {
    let hooks = hooks();
    let _ = dockerhub::receive(&hooks, TOKEN, body);
    let _ = quay::receive(&hooks, TOKEN, body);
    let bearer = format!("Bearer {TOKEN}");
    let _ = distribution::receive(&hooks, &Headers::new([("Authorization", bearer.as_str())]), body);
    let _ = harbor::receive(&hooks, &Headers::new([("Authorization", TOKEN)]), body);
    let signature = sign_sha256(TOKEN.as_bytes(), &[body]);
    for event in ["package", "registry_package"] {
        let h = Headers::new([("X-GitHub-Event", event), ("X-Hub-Signature-256", signature.as_str())]);
        let _ = github::receive(&hooks, &h, body);
    }
    let ts = now().timestamp().to_string();
    let signature = sign_sha256(TOKEN.as_bytes(), &[ts.as_bytes(), b".", body]);
    let h = Headers::new([
        ("X-Deployer-Timestamp", ts.as_str()),
        ("X-Deployer-Signature", signature.as_str()),
    ]);
    let _ = generic::receive(&hooks, &h, body, now(), &mut ReplayCache::new(4));
}

fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[a-z0-9:/@._+ -]{0,40}".prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        let keys = prop_oneof![
            Just("events".to_owned()),
            Just("action".to_owned()),
            Just("target".to_owned()),
            Just("mediaType".to_owned()),
            Just("tag".to_owned()),
            Just("repository".to_owned()),
            Just("request".to_owned()),
            Just("host".to_owned()),
            Just("push_data".to_owned()),
            Just("repo_name".to_owned()),
            Just("type".to_owned()),
            Just("event_data".to_owned()),
            Just("resources".to_owned()),
            Just("resource_url".to_owned()),
            Just("updated_tags".to_owned()),
            Just("docker_url".to_owned()),
            Just("package".to_owned()),
            Just("package_version".to_owned()),
            Just("container_metadata".to_owned()),
            Just("image".to_owned()),
            Just("digest".to_owned()),
            "[a-z_]{1,12}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_parser_panics_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        run_all(&body);
    }

    #[test]
    fn no_parser_panics_on_arbitrary_json(value in json()) {
        run_all(value.to_string().as_bytes());
    }

    #[test]
    fn no_parser_panics_on_provider_shaped_json_with_arbitrary_values(
        repo in ".{0,60}",
        tag in ".{0,40}",
        digest in "(sha256:[0-9a-fA-F]{0,70})|.{0,20}",
        host in ".{0,30}",
        number in any::<f64>(),
    ) {
        let payloads = [
            serde_json::json!({"push_data": {"tag": tag, "pushed_at": number}, "repository": {"repo_name": repo}, "callback_url": host}),
            serde_json::json!({"events": [{"action": "push", "timestamp": host, "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": repo, "tag": tag, "digest": digest}, "request": {"host": host}}]}),
            serde_json::json!({"type": "PUSH_ARTIFACT", "occur_at": number, "event_data": {"resources": [{"resource_url": format!("{host}/{repo}:{tag}"), "tag": tag, "digest": digest}]}}),
            serde_json::json!({"docker_url": format!("{host}/{repo}"), "updated_tags": [tag]}),
            serde_json::json!({"action": "published", "package": {"name": repo, "namespace": host, "package_type": "CONTAINER", "package_version": {"name": digest, "container_metadata": {"tag": {"name": tag, "digest": digest}}}}}),
            serde_json::json!({"image": repo, "tag": tag, "digest": digest}),
        ];
        for payload in payloads {
            run_all(payload.to_string().as_bytes());
        }
    }
}
