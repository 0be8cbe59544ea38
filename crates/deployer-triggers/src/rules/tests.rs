//! Validation of the `[triggers]` section.

use super::*;
use crate::problem::ConfigProblem;

fn settings(text: &str) -> TriggerSettings {
    toml::from_str(text).unwrap_or_else(|e| panic!("fixture should deserialize: {e}"))
}

fn rules(text: &str) -> Rules {
    Rules::from_settings(&settings(text)).unwrap_or_else(|p| panic!("fixture should validate: {p:?}"))
}

fn problems(text: &str) -> Vec<ConfigProblem> {
    match Rules::from_settings(&settings(text)) {
        Ok(_) => panic!("fixture should be refused"),
        Err(p) => p,
    }
}

fn env(name: &str) -> EnvironmentName {
    EnvironmentName::new(name).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn an_empty_section_has_the_three_default_environments_and_branches() {
    let r = rules("");
    let names: Vec<&str> = r.environments().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["development", "production", "staging"]);
    let production = r.environment(&env("production"));
    assert_eq!(production.map(|e| e.accept_registry_push), Some(false));
    assert_eq!(production.map(|e| e.on_failure), Some(OnFailure::Rollback));
    assert_eq!(
        r.environment(&env("staging")).map(|e| e.accept_registry_push),
        Some(true)
    );
    assert_eq!(
        r.environment(&env("staging")).map(|e| e.on_failure),
        Some(OnFailure::Stop)
    );
    let route = |b: &str| r.environment_for_branch(b).map(|e| e.to_string());
    assert_eq!(route("dev").as_deref(), Some("development"));
    assert_eq!(route("stage").as_deref(), Some("staging"));
    assert_eq!(route("master").as_deref(), Some("production"));
    assert_eq!(route("main").as_deref(), Some("production"));
    assert_eq!(route("refs/heads/main").as_deref(), Some("production"));
    assert_eq!(route("origin/dev").as_deref(), Some("development"));
    assert_eq!(route("feature/x"), None);
    assert_eq!(r.dedup_window(), chrono::Duration::minutes(10));
}

#[test]
fn configured_branch_patterns_replace_the_defaults_and_the_first_match_wins() {
    let r = rules(
        r#"
        [[branches]]
        pattern = "release/hotfix-*"
        environment = "production"
        [[branches]]
        pattern = "release/*"
        environment = "staging"
        "#,
    );
    let route = |b: &str| r.environment_for_branch(b).map(|e| e.to_string());
    assert_eq!(route("release/hotfix-12").as_deref(), Some("production"));
    assert_eq!(route("release/1.4").as_deref(), Some("staging"));
    assert_eq!(route("master"), None);
}

#[test]
fn a_full_configuration_validates_into_rules() {
    let r = rules(
        r#"
        dedup_window = "2m"
        [environments.staging]
        targets = ["eu-west-1/stage-1"]
        [environments.production]
        targets = ["eu-west-1/prod-1", "us-east-1/prod-1"]
        promotion_from = "staging"
        [environments.qa]
        targets = ["eu-west-1/qa-1"]
        accept_registry_push = false
        on_failure = "rollback"

        [[rules]]
        name = "api"
        repositories = ["acme/api"]
        files = ["api", "api-*.yaml"]
        environments = ["staging", "production"]
        triggers = ["registry", "ci"]
        tags = { semver = ">=1.0.0 <2.0.0", prerelease = true }
        allow_production_push = true
        "#,
    );
    assert_eq!(r.dedup_window(), chrono::Duration::minutes(2));
    let production = r.environment(&env("production"));
    assert_eq!(production.map(|e| e.targets.len()), Some(2));
    assert_eq!(production.and_then(|e| e.promotion_from.clone()), Some(env("staging")));
    let qa = r.environment(&env("qa"));
    assert_eq!(
        qa.map(|e| (e.accept_registry_push, e.on_failure)),
        Some((false, OnFailure::Rollback))
    );
    let rule = &r.rules()[0];
    assert_eq!(rule.name, "api");
    assert_eq!(rule.repositories[0].as_str(), "docker.io/acme/api");
    assert_eq!(
        rule.files.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        ["api", "api-*"]
    );
    assert_eq!(rule.tags.to_string(), "semver `>=1.0.0, <2.0.0` with pre-releases");
}

#[test]
fn every_problem_is_reported_with_its_key_path() {
    let found = problems(
        r#"
        dedup_window = "30d"
        [environments.production]
        targets = ["eu-west-1", "eu-west-1/prod-1"]
        promotion_from = "stagging"
        [environments.staging]
        targets = ["eu-west-1/prod-1"]
        [environments.Bad]
        [[branches]]
        pattern = "release/*"
        environment = "preprod"

        [[rules]]
        repositories = []
        files = ["a/b"]
        environments = []
        triggers = []

        [[rules]]
        name = "web"
        repositories = ["acme/web"]
        files = ["web"]
        environments = ["production"]
        triggers = ["ci"]
        tags = { glob = "v*", regex = "v.*" }
        allow_production_push = true

        [[rules]]
        name = "api"
        repositories = ["acme/api"]
        files = ["api"]
        environments = ["production"]
        triggers = ["ci"]
        tags = { semver = ">=1.x.y" }

        [[rules]]
        name = "api"
        repositories = ["acme/api"]
        files = ["api"]
        environments = ["staging"]
        triggers = ["api"]
        tags = { regex = "(" , prerelease = true }
        "#,
    );
    let keys: Vec<&str> = found.iter().map(|p| p.key_path.as_str()).collect();
    assert_eq!(
        keys,
        [
            "environments.Bad",
            "environments.production.targets[0]",
            "environments.production.promotion_from",
            "environments.staging.targets[0]",
            "branches[0].environment",
            "rules[0].repositories",
            "rules[0].files[0]",
            "rules[0].environments",
            "rules[0].triggers",
            "rules[1].allow_production_push",
            "rules[1].tags",
            "rules[2].tags.semver",
            "rules[3].tags.prerelease",
            "dedup_window",
        ],
        "{found:#?}"
    );
    let semver = found
        .iter()
        .find(|p| p.key_path == "rules[2].tags.semver")
        .map(|p| p.to_string());
    assert!(
        semver
            .as_deref()
            .is_some_and(|s| s.starts_with("rules[2].tags.semver: invalid range \">=1.x.y\": ")),
        "{semver:?}"
    );
    let cluster = found
        .iter()
        .find(|p| p.key_path == "environments.staging.targets[0]")
        .map(|p| p.message.as_str());
    assert_eq!(
        cluster,
        Some("cluster `eu-west-1/prod-1` is also in environment `production`")
    );
}

#[test]
fn duplicate_rule_names_and_invalid_regexes_are_reported() {
    let found = problems(
        r#"
        [[rules]]
        name = "api"
        repositories = ["acme/api"]
        files = ["api"]
        environments = ["staging"]
        triggers = ["ci"]
        [[rules]]
        name = "api"
        repositories = ["acme/api"]
        files = ["api"]
        environments = ["staging"]
        triggers = ["ci"]
        tags = { regex = "(" }
        [[rules]]
        name = "api"
        repositories = ["acme/api"]
        files = ["api"]
        environments = ["staging"]
        triggers = ["ci"]
        "#,
    );
    let shown: Vec<String> = found.iter().map(|p| format!("{}: {}", p.key_path, p.message)).collect();
    assert_eq!(shown.len(), 2, "{shown:#?}");
    assert!(
        shown[0].starts_with("rules[1].tags.regex: invalid regex `(`: "),
        "{shown:#?}"
    );
    assert_eq!(shown[1], "rules[2].name: rule name `api` is used twice");
}

#[test]
fn promotion_gates_may_not_form_a_cycle() {
    let found = problems(
        r#"
        [environments.staging]
        promotion_from = "production"
        [environments.production]
        promotion_from = "staging"
        "#,
    );
    let keys: Vec<&str> = found.iter().map(|p| p.key_path.as_str()).collect();
    assert_eq!(
        keys,
        [
            "environments.production.promotion_from",
            "environments.staging.promotion_from"
        ]
    );
}

#[test]
fn unknown_keys_are_refused_when_deserializing() {
    for text in [
        "colour = 1",
        "[environments.production]\ntarget = []",
        "[[rules]]\nrepositories=[]\nfiles=[]\nenvironments=[]\ntriggers=[]\nallow_prod_push = true",
        "[[rules]]\nrepositories=[]\nfiles=[]\nenvironments=[]\ntriggers=[\"push\"]",
        "[[rules]]\nrepositories=[]\nfiles=[]\nenvironments=[]\ntriggers=[]\ntags = { semvar = \"1\" }",
    ] {
        let parsed: Result<TriggerSettings, _> = toml::from_str(text);
        assert!(parsed.is_err(), "{text:?} should be refused");
    }
}

#[test]
fn hooks_are_validated_with_the_rest_and_secrets_are_read_through_the_caller() {
    let s = settings(
        r#"
        [[rules]]
        repositories = ["acme/api"]
        files = ["api"]
        environments = ["staging"]
        triggers = ["bogus-free"]
        "#
        .replace("bogus-free", "registry")
        .as_str(),
    );
    let mut s = s;
    s.hooks = toml::from_str::<TriggerSettings>(
        r#"
        [[hooks]]
        name = "hub"
        provider = "dockerhub"
        secret_env = "HUB_TOKEN"
        repositories = ["acme/*"]
        [[hooks]]
        name = "hub"
        provider = "github"
        secret = "short"
        repositories = []
        [[hooks]]
        name = "harbor"
        provider = "harbor"
        secret_file = "/run/secrets/harbor"
        secret_env = "HARBOR"
        repositories = ["harbor.example.com/acme/*"]
        "#,
    )
    .map(|t| t.hooks)
    .unwrap_or_default();
    let mut asked = Vec::new();
    let mut read = |source: crate::webhook::SecretSource<'_>| {
        asked.push(format!("{source:?}"));
        Ok(secrecy::SecretString::from("x".repeat(40)))
    };
    let found = s.validate(&mut read).err().unwrap_or_default();
    let keys: Vec<&str> = found.iter().map(|p| p.key_path.as_str()).collect();
    assert_eq!(
        keys,
        [
            "hooks[1].name",
            "hooks[1].secret",
            "hooks[1].repositories",
            "hooks[2].secret"
        ]
    );
    assert_eq!(asked, ["Env(\"HUB_TOKEN\")"]);
    s.hooks.truncate(1);
    assert!(
        s.validate(&mut |_| Ok(secrecy::SecretString::from("y".repeat(40))))
            .is_ok()
    );
}
