//! Property tests of the planner's safety claims: whatever the push and the observed files,
//! a deployment only ever goes where a rule allows it.

use chrono::DateTime;
use deployer_core::image::{ImageRef, Tag};
use deployer_core::model::{AppFile, ClusterName, Region, Target};
use deployer_triggers::plan::{Observed, ObservedFile, plan_image_event};
use deployer_triggers::rules::{Rules, TriggerSettings};
use deployer_triggers::{ImageEvent, Provider};
use proptest::prelude::*;

const CONFIG: &str = r#"
[environments.development]
targets = ["eu/dev-1"]
[environments.staging]
targets = ["eu/stage-1", "us/stage-1"]
[environments.production]
targets = ["eu/prod-1"]

[[rules]]
name = "api"
repositories = ["acme/api"]
files = ["api*"]
environments = ["development", "staging", "production"]
triggers = ["registry"]
tags = { semver = ">=1.0.0" }

[[rules]]
name = "web"
repositories = ["acme/web"]
files = ["web"]
environments = ["production"]
triggers = ["registry"]
allow_production_push = true
"#;

fn rules() -> Rules {
    let settings: TriggerSettings = toml::from_str(CONFIG).unwrap_or_else(|e| panic!("{e}"));
    Rules::from_settings(&settings).unwrap_or_else(|p| panic!("{p:?}"))
}

const CLUSTERS: [(&str, &str); 6] = [
    ("eu", "dev-1"),
    ("eu", "stage-1"),
    ("us", "stage-1"),
    ("eu", "prod-1"),
    ("us", "prod-9"),
    ("ap", "dev-1"),
];
const FILES: [&str; 5] = ["api", "api-eu", "web", "worker", "apiary"];
const REPOS: [&str; 4] = ["acme/api", "acme/web", "acme/worker", "other/api"];
const TAGS: [&str; 6] = ["1.0.0", "1.2.0", "v2.0.0", "0.9.0", "latest", "1.3.0-rc.1"];

/// Mostly the repositories the rules cover, sometimes any.
fn repo_index() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 1 => Just(1usize), 1 => 0..REPOS.len()]
}

/// Mostly semver tags, sometimes any.
fn tag_index() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0..3usize, 1 => 0..TAGS.len()]
}

fn observed_file() -> impl Strategy<Value = Option<ObservedFile>> {
    (
        0..CLUSTERS.len(),
        0..FILES.len(),
        prop::collection::vec((repo_index(), tag_index()), 0..3),
    )
        .prop_map(|(c, f, images)| {
            let (region, cluster) = CLUSTERS[c];
            let target = Target {
                region: Region::new(region).ok()?,
                cluster: ClusterName::new(cluster).ok()?,
                file: AppFile::new(FILES[f]).ok()?,
            };
            let images = images
                .into_iter()
                .filter_map(|(r, t)| ImageRef::parse(&format!("{}:{}", REPOS[r], TAGS[t])).ok())
                .collect();
            Some(ObservedFile { target, images })
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_registry_push_deploys_only_where_a_rule_allows_it(
        files in prop::collection::vec(observed_file(), 0..12),
        repo in repo_index(),
        tag in tag_index(),
    ) {
        let rules = rules();
        let image = ImageRef::parse(REPOS[repo]).unwrap_or_else(|e| panic!("{e}"));
        let event = ImageEvent {
            registry: "docker.io".into(),
            repository: image.normalized_repository(),
            tag: Tag::new(TAGS[tag]).ok(),
            digest: None,
            pushed_at: None,
            actor: None,
            provider: Provider::Dockerhub,
        };
        let observed = Observed { files: files.into_iter().flatten().collect(), ..Observed::default() };
        let now = DateTime::from_timestamp(1_764_138_000, 0).unwrap_or_default();
        let plan = plan_image_event(&event, &rules, &observed, now);
        let mut seen = std::collections::BTreeSet::new();
        for d in &plan.deployments {
            prop_assert!(seen.insert(d.target.clone()), "{} planned twice", d.target);
            let rule = rules.rules().iter().find(|r| r.name == d.rule);
            let rule = rule.ok_or_else(|| TestCaseError::fail("unknown rule"))?;
            prop_assert!(rule.covers_repository(&event.repository));
            prop_assert!(rule.covers_file(&d.target.file));
            prop_assert!(rule.covers_environment(&d.environment));
            let planned_tag = d.change.tag().ok_or_else(|| TestCaseError::fail("a push deploys a tag"))?;
            prop_assert!(rule.tags.check(planned_tag).is_ok());
            let env = rules.environment(&d.environment).ok_or_else(|| TestCaseError::fail("unknown environment"))?;
            prop_assert!(env.targets.contains(&d.target.cluster_key()));
            prop_assert!(env.accept_registry_push || rule.allow_production_push);
            let file = observed.files.iter().find(|f| f.target == d.target);
            let file = file.ok_or_else(|| TestCaseError::fail("target not observed"))?;
            prop_assert!(file.images.iter().any(|i| i.normalized_repository() == event.repository));
            prop_assert_eq!(d.image.normalized_repository(), event.repository.clone());
        }
        prop_assert!(!plan.deployments.is_empty() || !plan.skipped.is_empty(), "an empty plan must say why");
    }
}
