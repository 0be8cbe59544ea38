//! Table-driven tests of the planner: every guard, the fan-out, and the patterns.

use chrono::{DateTime, Duration, Utc};
use deployer_core::image::{Digest, ImageRef, Tag};
use deployer_core::model::{AppFile, ClusterName, ImageChange, Region, Target, TriggerKind};

use super::*;
use crate::event::{ImageEvent, Provider, ReleaseRequest};
use crate::rules::{EnvironmentName, Rules, TriggerSettings};

const CONFIG: &str = r#"
[environments.development]
targets = ["eu/dev-1", "eu/dev-2"]
[environments.staging]
targets = ["eu/stage-1", "us/stage-1"]
[environments.production]
targets = ["eu/prod-1", "us/prod-1"]
promotion_from = "staging"

[[rules]]
name = "api"
repositories = ["acme/api"]
files = ["api", "api-*"]
environments = ["development", "staging", "production"]
triggers = ["registry", "ci", "api"]
tags = { semver = ">=1.0.0" }

[[rules]]
name = "web"
repositories = ["ghcr.io/acme/web"]
files = ["web"]
environments = ["production"]
triggers = ["registry"]
tags = { glob = "v*" }
allow_production_push = true

[[rules]]
name = "worker"
repositories = ["acme/worker", "acme/worker-gpu"]
files = ["worker"]
environments = ["staging"]
triggers = ["ci"]
tags = { regex = "main-[0-9a-f]{7}" }
"#;

fn rules() -> Rules {
    let settings: TriggerSettings = toml::from_str(CONFIG).unwrap_or_else(|e| panic!("{e}"));
    Rules::from_settings(&settings).unwrap_or_else(|p| panic!("{p:?}"))
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

fn target(path: &str) -> Target {
    let parts: Vec<&str> = path.split('/').collect();
    let built = (|| {
        Some(Target {
            region: Region::new(*parts.first()?).ok()?,
            cluster: ClusterName::new(*parts.get(1)?).ok()?,
            file: AppFile::new(*parts.get(2)?).ok()?,
        })
    })();
    built.unwrap_or_else(|| panic!("bad target {path}"))
}

fn image(text: &str) -> ImageRef {
    ImageRef::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn tag(text: &str) -> Tag {
    Tag::new(text).unwrap_or_else(|e| panic!("{e}"))
}

fn env(name: &str) -> EnvironmentName {
    EnvironmentName::new(name).unwrap_or_else(|e| panic!("{e}"))
}

fn file(path: &str, images: &[&str]) -> ObservedFile {
    ObservedFile {
        target: target(path),
        images: images.iter().map(|i| image(i)).collect(),
    }
}

/// The state used by most cases.
fn observed() -> Observed {
    Observed {
        files: vec![
            file("eu/dev-1/api", &["acme/api:1.0.0"]),
            file("eu/dev-2/web", &["ghcr.io/acme/web:v1"]),
            file("eu/stage-1/api", &["docker.io/acme/api:1.2.0", "nginx:1.25"]),
            file("eu/stage-1/api-eu", &["acme/api:v1.2.0"]),
            file("us/stage-1/api", &["acme/api:1.2.0"]),
            file("us/stage-1/api-sidecar", &["nginx:1.25"]),
            file(
                "eu/stage-1/worker",
                &["acme/worker:main-aaaaaaa", "acme/worker-gpu:main-aaaaaaa"],
            ),
            file("eu/stage-1/other", &["redis:7"]),
            file("eu/prod-1/api", &["acme/api:1.1.0"]),
            file("us/prod-1/api", &["acme/api:1.1.0"]),
            file("eu/prod-1/web", &["ghcr.io/acme/web:v1"]),
        ],
        ..Observed::default()
    }
}

fn push(repository: &str, t: &str) -> ImageEvent {
    let mut event = ImageEvent::from_reference(&image(repository).with_tag(tag(t)), Provider::Dockerhub);
    event.provider = if repository.starts_with("ghcr.io") {
        Provider::Github
    } else {
        Provider::Dockerhub
    };
    event
}

fn release(branch: &str, image_text: Option<&str>, t: &str) -> ReleaseRequest {
    ReleaseRequest {
        image: image_text.map(image),
        app: None,
        tag: tag(t),
        digest: None,
        branch: branch.to_owned(),
        commit: Some("0a1b2c3".to_owned()),
        build_url: Some("https://ci.example.com/builds/42".to_owned()),
        ci: Some("semaphore".to_owned()),
        files: Vec::new(),
        force: false,
    }
}

/// `deployed` targets and `(target or "-", reason kind)` skips, for compact assertions.
fn outline(plan: &TriggerPlan) -> (Vec<String>, Vec<(String, &'static str)>) {
    let deployed = plan
        .deployments
        .iter()
        .map(|d| format!("{} {}", d.target, d.image))
        .collect();
    let skipped = plan
        .skipped
        .iter()
        .map(|s| {
            let at = s
                .target
                .as_ref()
                .map(ToString::to_string)
                .or_else(|| s.environment.as_ref().map(|e| e.to_string()));
            (at.unwrap_or_else(|| "-".to_owned()), s.reason.kind())
        })
        .collect();
    (deployed, skipped)
}

fn strs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn skips(items: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    items.iter().map(|(a, k)| ((*a).to_owned(), *k)).collect()
}

#[test]
fn registry_pushes_follow_the_rules_and_every_guard_says_why() {
    struct Case {
        name: &'static str,
        event: ImageEvent,
        observed: Observed,
        deployed: Vec<String>,
        skipped: Vec<(String, &'static str)>,
    }
    let pinned = Observed {
        pins: vec![Pin {
            target: target("eu/stage-1/api"),
            by: "alice".into(),
            reason: Some("incident 42".into()),
        }],
        ..observed()
    };
    let web_succeeded_in_staging = Observed {
        succeeded: [(env("staging"), vec![tag("v2")])].into_iter().collect(),
        ..observed()
    };
    let cases = vec![
        Case {
            name: "a semver push fans out to development and staging, production refuses registry pushes",
            event: push("acme/api", "1.3.0"),
            observed: observed(),
            deployed: strs(&[
                "eu/dev-1/api acme/api:1.3.0",
                "eu/stage-1/api docker.io/acme/api:1.3.0",
                "eu/stage-1/api-eu acme/api:1.3.0",
                "us/stage-1/api acme/api:1.3.0",
            ]),
            skipped: skips(&[
                ("us/stage-1/api-sidecar", "image_not_in_file"),
                ("production", "registry_push_refused"),
            ]),
        },
        Case {
            name: "a repository no rule covers deploys nothing",
            event: push("acme/other", "1.0.0"),
            observed: observed(),
            deployed: vec![],
            skipped: skips(&[("-", "no_rule_matched")]),
        },
        Case {
            name: "a tag outside the semver filter deploys nothing",
            event: push("acme/api", "latest"),
            observed: observed(),
            deployed: vec![],
            skipped: skips(&[("-", "tag_filter_mismatch"), ("-", "no_rule_matched")]),
        },
        Case {
            name: "pre-releases are refused without prerelease = true",
            event: push("acme/api", "1.3.0-rc.1"),
            observed: observed(),
            deployed: vec![],
            skipped: skips(&[("-", "tag_filter_mismatch"), ("-", "no_rule_matched")]),
        },
        Case {
            name: "a semver downgrade is refused where the current tag is newer",
            event: push("acme/api", "1.1.0"),
            observed: observed(),
            deployed: strs(&["eu/dev-1/api acme/api:1.1.0"]),
            skipped: skips(&[
                ("eu/stage-1/api", "downgrade"),
                ("eu/stage-1/api-eu", "downgrade"),
                ("us/stage-1/api", "downgrade"),
                ("us/stage-1/api-sidecar", "image_not_in_file"),
                ("production", "registry_push_refused"),
            ]),
        },
        Case {
            name: "a pinned target is left alone",
            event: push("acme/api", "1.3.0"),
            observed: pinned,
            deployed: strs(&[
                "eu/dev-1/api acme/api:1.3.0",
                "eu/stage-1/api-eu acme/api:1.3.0",
                "us/stage-1/api acme/api:1.3.0",
            ]),
            skipped: skips(&[
                ("eu/stage-1/api", "pinned"),
                ("us/stage-1/api-sidecar", "image_not_in_file"),
                ("production", "registry_push_refused"),
            ]),
        },
        Case {
            name: "an explicit rule lets a push reach production but the promotion gate holds it",
            event: push("ghcr.io/acme/web", "v2"),
            observed: observed(),
            deployed: vec![],
            skipped: skips(&[("eu/prod-1/web", "promotion_gate")]),
        },
        Case {
            name: "the promotion gate opens once the tag succeeded in staging",
            event: push("ghcr.io/acme/web", "v2"),
            observed: web_succeeded_in_staging,
            deployed: strs(&["eu/prod-1/web ghcr.io/acme/web:v2"]),
            skipped: vec![],
        },
        Case {
            name: "a glob tag filter refuses tags that do not match",
            event: push("ghcr.io/acme/web", "2.0"),
            observed: observed(),
            deployed: vec![],
            skipped: skips(&[("-", "tag_filter_mismatch"), ("-", "no_rule_matched")]),
        },
        Case {
            name: "an untagged push deploys nothing",
            event: ImageEvent {
                tag: None,
                ..push("acme/api", "1.3.0")
            },
            observed: observed(),
            deployed: vec![],
            skipped: skips(&[("-", "untagged")]),
        },
        Case {
            name: "an environment without matching files says so",
            event: push("acme/api", "1.3.0"),
            observed: Observed {
                files: vec![file("eu/stage-1/api", &["acme/api:1.2.0"])],
                ..observed()
            },
            deployed: strs(&["eu/stage-1/api acme/api:1.3.0"]),
            skipped: skips(&[
                ("development", "no_matching_files"),
                ("production", "registry_push_refused"),
            ]),
        },
    ];
    for case in cases {
        let plan = plan_image_event(&case.event, &rules(), &case.observed, now());
        let (deployed, skipped) = outline(&plan);
        assert_eq!(deployed, case.deployed, "{}: deployments", case.name);
        assert_eq!(skipped, case.skipped, "{}: skips {:#?}", case.name, plan.skipped);
        assert_eq!(plan.trigger, TriggerKind::Registry, "{}", case.name);
    }
}

#[test]
fn releases_route_by_branch_and_fan_out_to_every_cluster() {
    struct Case {
        name: &'static str,
        release: ReleaseRequest,
        observed: Observed,
        environment: Option<&'static str>,
        deployed: Vec<String>,
        skipped: Vec<(String, &'static str)>,
    }
    let succeeded = Observed {
        succeeded: [(env("staging"), vec![tag("1.3.0")])].into_iter().collect(),
        ..observed()
    };
    let pinned = Observed {
        pins: vec![Pin {
            target: target("eu/stage-1/api"),
            by: "alice".into(),
            reason: None,
        }],
        ..observed()
    };
    let cases = vec![
        Case {
            name: "master fans out to both production clusters once staging succeeded",
            release: release("master", Some("acme/api"), "1.3.0"),
            observed: succeeded,
            environment: Some("production"),
            deployed: strs(&["eu/prod-1/api acme/api:1.3.0", "us/prod-1/api acme/api:1.3.0"]),
            skipped: vec![],
        },
        Case {
            name: "master is held by the promotion gate until staging succeeded",
            release: release("main", Some("acme/api"), "1.3.0"),
            observed: observed(),
            environment: Some("production"),
            deployed: vec![],
            skipped: skips(&[("eu/prod-1/api", "promotion_gate"), ("us/prod-1/api", "promotion_gate")]),
        },
        Case {
            name: "stage fans out to every matching file of both staging clusters",
            release: release("stage", Some("acme/api"), "1.3.0"),
            observed: observed(),
            environment: Some("staging"),
            deployed: strs(&[
                "eu/stage-1/api docker.io/acme/api:1.3.0",
                "eu/stage-1/api-eu acme/api:1.3.0",
                "us/stage-1/api acme/api:1.3.0",
            ]),
            skipped: skips(&[("us/stage-1/api-sidecar", "image_not_in_file")]),
        },
        Case {
            name: "requested files restrict the fan-out",
            release: ReleaseRequest {
                files: vec![AppFile::new("api-eu").unwrap_or_else(|e| panic!("{e}"))],
                ..release("stage", Some("acme/api"), "1.3.0")
            },
            observed: observed(),
            environment: Some("staging"),
            deployed: strs(&["eu/stage-1/api-eu acme/api:1.3.0"]),
            skipped: vec![],
        },
        Case {
            name: "a release naming neither image nor app deploys nothing",
            release: release("stage", None, "1.3.0"),
            observed: observed(),
            environment: None,
            deployed: vec![],
            skipped: skips(&[("-", "nothing_named")]),
        },
        Case {
            name: "a branch without a route deploys nothing",
            release: release("feature/login", Some("acme/api"), "1.3.0"),
            observed: observed(),
            environment: None,
            deployed: vec![],
            skipped: skips(&[("-", "no_environment_for_branch")]),
        },
        Case {
            name: "a rule that does not deploy to the branch's environment does not match",
            release: release("dev", Some("acme/worker"), "main-abc1234"),
            observed: observed(),
            environment: Some("development"),
            deployed: vec![],
            skipped: skips(&[("-", "no_rule_matched")]),
        },
        Case {
            name: "an app release is ambiguous when the file has two covered repositories",
            release: ReleaseRequest {
                app: Some(AppFile::new("worker").unwrap_or_else(|e| panic!("{e}"))),
                ..release("stage", None, "main-abc1234")
            },
            observed: observed(),
            environment: Some("staging"),
            deployed: vec![],
            skipped: skips(&[("eu/stage-1/worker", "ambiguous_image")]),
        },
        Case {
            name: "naming the image resolves the ambiguity",
            release: release("stage", Some("acme/worker"), "main-abc1234"),
            observed: observed(),
            environment: Some("staging"),
            deployed: strs(&["eu/stage-1/worker acme/worker:main-abc1234"]),
            skipped: vec![],
        },
        Case {
            name: "an app release uses the file's own image repository",
            release: ReleaseRequest {
                app: Some(AppFile::new("api-eu").unwrap_or_else(|e| panic!("{e}"))),
                ..release("stage", None, "1.3.0")
            },
            observed: observed(),
            environment: Some("staging"),
            deployed: strs(&["eu/stage-1/api-eu acme/api:1.3.0"]),
            skipped: vec![],
        },
        Case {
            name: "a person's release does not match a ci-only rule",
            release: ReleaseRequest {
                ci: None,
                ..release("stage", Some("acme/worker"), "main-abc1234")
            },
            observed: observed(),
            environment: Some("staging"),
            deployed: vec![],
            skipped: skips(&[("-", "no_rule_matched")]),
        },
        Case {
            name: "a downgrade is refused without force",
            release: release("stage", Some("acme/api"), "1.0.5"),
            observed: observed(),
            environment: Some("staging"),
            deployed: vec![],
            skipped: skips(&[
                ("eu/stage-1/api", "downgrade"),
                ("eu/stage-1/api-eu", "downgrade"),
                ("us/stage-1/api", "downgrade"),
                ("us/stage-1/api-sidecar", "image_not_in_file"),
            ]),
        },
        Case {
            name: "force deploys a downgrade",
            release: ReleaseRequest {
                force: true,
                files: vec![AppFile::new("api").unwrap_or_else(|e| panic!("{e}"))],
                ..release("stage", Some("acme/api"), "1.0.5")
            },
            observed: observed(),
            environment: Some("staging"),
            deployed: strs(&[
                "eu/stage-1/api docker.io/acme/api:1.0.5",
                "us/stage-1/api acme/api:1.0.5",
            ]),
            skipped: vec![],
        },
        Case {
            name: "a ci release leaves a pinned target alone",
            release: ReleaseRequest {
                files: vec![AppFile::new("api").unwrap_or_else(|e| panic!("{e}"))],
                ..release("stage", Some("acme/api"), "1.3.0")
            },
            observed: pinned.clone(),
            environment: Some("staging"),
            deployed: strs(&["us/stage-1/api acme/api:1.3.0"]),
            skipped: skips(&[("eu/stage-1/api", "pinned")]),
        },
        Case {
            name: "a person's release is not stopped by a pin",
            release: ReleaseRequest {
                ci: None,
                files: vec![AppFile::new("api").unwrap_or_else(|e| panic!("{e}"))],
                ..release("stage", Some("acme/api"), "1.3.0")
            },
            observed: pinned,
            environment: Some("staging"),
            deployed: strs(&[
                "eu/stage-1/api docker.io/acme/api:1.3.0",
                "us/stage-1/api acme/api:1.3.0",
            ]),
            skipped: vec![],
        },
    ];
    for case in cases {
        let plan = plan_release(&case.release, &rules(), &case.observed, now());
        let (deployed, skipped) = outline(&plan);
        assert_eq!(
            plan.environment.as_ref().map(|e| e.as_str()),
            case.environment,
            "{}: environment",
            case.name
        );
        assert_eq!(deployed, case.deployed, "{}: deployments", case.name);
        assert_eq!(skipped, case.skipped, "{}: skips {:#?}", case.name, plan.skipped);
    }
}

#[test]
fn a_duplicate_within_the_window_deploys_nothing_and_points_at_the_first() {
    let event = push("acme/api", "1.3.0");
    let recent = |minutes: i64| RecentTrigger {
        key: event.dedup_key(),
        at: now() - Duration::minutes(minutes),
        id: "rel-1".into(),
    };
    let within = Observed {
        recent: vec![recent(3)],
        ..observed()
    };
    let plan = plan_image_event(&event, &rules(), &within, now());
    assert!(plan.deployments.is_empty());
    assert_eq!(plan.duplicate_of.as_ref().map(|d| d.id.as_str()), Some("rel-1"));
    assert_eq!(
        plan.skipped.iter().map(|s| s.reason.kind()).collect::<Vec<_>>(),
        ["duplicate"]
    );

    let outside = Observed {
        recent: vec![recent(11)],
        ..observed()
    };
    let plan = plan_image_event(&event, &rules(), &outside, now());
    assert_eq!(plan.duplicate_of, None);
    assert_eq!(plan.deployments.len(), 4);

    let other_source = Observed {
        recent: vec![RecentTrigger {
            key: ImageEvent {
                provider: Provider::Quay,
                ..event.clone()
            }
            .dedup_key(),
            ..recent(1)
        }],
        ..observed()
    };
    assert_eq!(
        plan_image_event(&event, &rules(), &other_source, now()).duplicate_of,
        None
    );

    let rel = release("stage", Some("acme/api"), "1.3.0");
    let seen = Observed {
        recent: vec![RecentTrigger {
            key: rel.dedup_key(),
            at: now(),
            id: "rel-2".into(),
        }],
        ..observed()
    };
    let plan = plan_release(&rel, &rules(), &seen, now());
    assert_eq!(plan.duplicate_of.map(|d| d.id), Some("rel-2".to_owned()));
    assert!(plan.deployments.is_empty());
}

#[test]
fn no_rule_matched_lists_every_rule_and_why() {
    let plan = plan_image_event(&push("acme/other", "1.0.0"), &rules(), &observed(), now());
    assert_eq!(
        plan.skipped.first().map(|s| s.message.as_str()),
        Some(
            "no rule matched: `api` covers `docker.io/acme/api`, not docker.io/acme/other; \
             `web` covers `ghcr.io/acme/web`, not docker.io/acme/other; \
             `worker` does not answer `registry` triggers"
        )
    );
}

#[test]
fn skip_messages_name_the_pin_the_gate_and_the_versions() {
    let observed = Observed {
        pins: vec![Pin {
            target: target("eu/stage-1/api"),
            by: "alice".into(),
            reason: Some("incident 42".into()),
        }],
        ..observed()
    };
    let plan = plan_image_event(&push("acme/api", "1.1.0"), &rules(), &observed, now());
    let messages: Vec<&str> = plan.skipped.iter().map(|s| s.message.as_str()).collect();
    assert!(
        messages.contains(&"the target is pinned by `alice`: incident 42"),
        "{messages:#?}"
    );
    assert!(
        messages.contains(
            &"`1.1.0` is a semver downgrade from `v1.2.0`; use `force` (or `allow_downgrade` on the rule) to deploy it"
        ),
        "{messages:#?}"
    );
    assert!(
        messages.contains(
            &"environment `production` refuses registry pushes; a rule must set `allow_production_push = true` to allow them"
        ),
        "{messages:#?}"
    );
    let gate = plan_image_event(&push("ghcr.io/acme/web", "v2"), &rules(), &Observed::default(), now());
    assert_eq!(
        gate.skipped.first().map(|s| s.message.as_str()),
        Some("no existing file matches the rule's files on the 2 clusters of `production`")
    );
    let gate = plan_image_event(&push("ghcr.io/acme/web", "v2"), &rules(), &self::observed(), now());
    assert_eq!(
        gate.skipped.first().map(|s| s.message.as_str()),
        Some("promotion gate: tag `v2` has not succeeded in `staging` yet")
    );
}

#[test]
fn a_digest_makes_the_change_tag_and_digest_and_requests_carry_the_source() {
    let digest = Digest::new(&format!("sha256:{}", "ab".repeat(32))).unwrap_or_else(|e| panic!("{e}"));
    let rel = ReleaseRequest {
        digest: Some(digest.clone()),
        ..release("dev", Some("acme/api"), "1.3.0")
    };
    let plan = plan_release(&rel, &rules(), &observed(), now());
    assert_eq!(plan.deployments.len(), 1);
    let d = &plan.deployments[0];
    assert_eq!(
        d.change,
        ImageChange::TagAndDigest {
            tag: tag("1.3.0"),
            digest: digest.clone()
        }
    );
    assert_eq!(d.image.to_string(), format!("acme/api:1.3.0@{digest}"));
    assert_eq!(d.rule, "api");
    assert_eq!(d.environment.as_str(), "development");
    let requests = plan.requests("ci:semaphore");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].source.kind, TriggerKind::Ci);
    assert_eq!(requests[0].source.branch.as_deref(), Some("dev"));
    assert_eq!(requests[0].source.commit.as_deref(), Some("0a1b2c3"));
    assert_eq!(requests[0].requested_by, "ci:semaphore");
    assert_eq!(requests[0].target, target("eu/dev-1/api"));
    assert_eq!(plan.summary(), "1 deployment planned, 0 skipped");
}

#[test]
fn a_target_claimed_by_an_earlier_rule_is_not_planned_twice() {
    let text = format!(
        "{CONFIG}\n[[rules]]\nname = \"api-again\"\nrepositories = [\"acme/*\"]\nfiles = [\"*\"]\nenvironments = [\"development\"]\ntriggers = [\"registry\"]\n"
    );
    let settings: TriggerSettings = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let rules = Rules::from_settings(&settings).unwrap_or_else(|p| panic!("{p:?}"));
    let plan = plan_image_event(&push("acme/api", "1.3.0"), &rules, &observed(), now());
    let dev: Vec<(String, String)> = plan
        .deployments
        .iter()
        .filter(|d| d.environment.as_str() == "development")
        .map(|d| (d.target.to_string(), d.rule.clone()))
        .collect();
    assert_eq!(dev, [("eu/dev-1/api".to_owned(), "api".to_owned())]);
    let web = plan
        .skipped
        .iter()
        .find(|s| s.target == Some(target("eu/dev-2/web")))
        .map(|s| s.reason.kind());
    assert_eq!(web, Some("image_not_in_file"));
}
