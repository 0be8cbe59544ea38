//! The two planning entry points and the steps they share.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use deployer_core::image::{Digest, ImageRef, Tag};
use deployer_core::model::{AppFile, ImageChange, Source, Target, TriggerKind};

use super::{DuplicateOf, Observed, ObservedFile, PlannedDeployment, RuleMismatch, Skip, SkipReason, TriggerPlan};
use crate::event::{ImageEvent, ReleaseRequest};
use crate::rules::{Environment, Rule, Rules, semver_of};

/// Plans a registry push.
///
/// Rules answering `registry` whose repositories cover the event's repository apply; each
/// deploys to its environments, except those refusing registry pushes (`production` by
/// default) unless the rule sets `allow_production_push`.
pub fn plan_image_event(event: &ImageEvent, rules: &Rules, observed: &Observed, now: DateTime<Utc>) -> TriggerPlan {
    let source = Source {
        kind: TriggerKind::Registry,
        ..Source::default()
    };
    let mut plan = TriggerPlan::new(TriggerKind::Registry, source, event.dedup_key());
    if is_duplicate(&mut plan, rules, observed, now) {
        return plan;
    }
    let Some(tag) = &event.tag else {
        plan.skipped.push(Skip::new(SkipReason::Untagged));
        return plan;
    };
    let matched = matching_rules(rules, tag, &mut plan, |rule| {
        if !rule.answers(TriggerKind::Registry) {
            return Err("does not answer `registry` triggers".to_owned());
        }
        if !rule.covers_repository(&event.repository) {
            return Err(format!(
                "covers {}, not {}",
                rule.describe_repositories(),
                event.repository
            ));
        }
        Ok(())
    });
    let request = Change {
        tag,
        digest: event.digest.as_ref(),
        kind: TriggerKind::Registry,
        force: false,
        observed,
        only: &[],
    };
    let mut claimed = BTreeSet::new();
    for rule in matched {
        for env_name in &rule.environments {
            let Some(env) = rules.environment(env_name) else {
                continue;
            };
            if !env.accept_registry_push && !rule.allow_production_push {
                let reason = SkipReason::RegistryPushRefused {
                    environment: env.name.clone(),
                };
                plan.skipped
                    .push(Skip::new(reason).rule(&rule.name).environment(&env.name));
                continue;
            }
            let select = Select::Repository(&event.repository);
            plan_environment(&mut plan, rule, env, &select, &request, &mut claimed);
        }
    }
    plan
}

/// Plans a release from CI or from a person.
///
/// The branch chooses the environment. Rules answering the trigger kind (`ci` when the
/// request names a CI system, `api` otherwise) and covering that environment apply when
/// they cover the named image's repository, or, for an `app` release, the app's file.
pub fn plan_release(release: &ReleaseRequest, rules: &Rules, observed: &Observed, now: DateTime<Utc>) -> TriggerPlan {
    let kind = release.trigger_kind();
    let source = Source {
        kind,
        ci: release.ci.clone(),
        branch: Some(release.branch.clone()),
        commit: release.commit.clone(),
        build_url: release.build_url.clone(),
    };
    let mut plan = TriggerPlan::new(kind, source, release.dedup_key());
    if release.image.is_none() && release.app.is_none() {
        plan.skipped.push(Skip::new(SkipReason::NothingNamed));
        return plan;
    }
    if is_duplicate(&mut plan, rules, observed, now) {
        return plan;
    }
    let Some(env) = rules
        .environment_for_branch(&release.branch)
        .and_then(|name| rules.environment(name))
    else {
        let routes = rules
            .branches()
            .iter()
            .map(|r| format!("`{}` → {}", r.pattern, r.environment))
            .collect();
        let branch = release.branch.chars().take(200).collect();
        plan.skipped
            .push(Skip::new(SkipReason::NoEnvironmentForBranch { branch, routes }));
        return plan;
    };
    plan.environment = Some(env.name.clone());
    let repository = release.image.as_ref().map(ImageRef::normalized_repository);
    let matched = matching_rules(rules, &release.tag, &mut plan, |rule| {
        if !rule.answers(kind) {
            return Err(format!(
                "does not answer `{}` triggers",
                if kind == TriggerKind::Ci { "ci" } else { "api" }
            ));
        }
        if !rule.covers_environment(&env.name) {
            return Err(format!("does not deploy to `{}`", env.name));
        }
        if let Some(repository) = &repository
            && !rule.covers_repository(repository)
        {
            return Err(format!("covers {}, not {repository}", rule.describe_repositories()));
        }
        if let Some(app) = &release.app
            && !rule.covers_file(app)
        {
            return Err(format!("does not cover file `{app}`"));
        }
        if !release.files.is_empty() && !release.files.iter().any(|f| rule.covers_file(f)) {
            return Err("covers none of the requested files".to_owned());
        }
        Ok(())
    });
    let mut only: Vec<AppFile> = release.files.clone();
    if let Some(app) = &release.app {
        only.push(app.clone());
    }
    let request = Change {
        tag: &release.tag,
        digest: release.digest.as_ref(),
        kind,
        force: release.force,
        observed,
        only: &only,
    };
    let mut claimed = BTreeSet::new();
    for rule in matched {
        let select = match &repository {
            Some(repository) => Select::Repository(repository),
            None => Select::RuleRepositories(rule),
        };
        plan_environment(&mut plan, rule, env, &select, &request, &mut claimed);
    }
    plan
}

/// Marks the plan as a duplicate when an identical trigger was handled within the window.
fn is_duplicate(plan: &mut TriggerPlan, rules: &Rules, observed: &Observed, now: DateTime<Utc>) -> bool {
    let window = rules.dedup_window();
    if window <= chrono::Duration::zero() {
        return false;
    }
    let earlier = observed
        .recent
        .iter()
        .filter(|r| r.key == plan.dedup_key && r.at <= now && now - r.at < window)
        .max_by_key(|r| r.at);
    let Some(earlier) = earlier else { return false };
    plan.duplicate_of = Some(DuplicateOf {
        id: earlier.id.clone(),
        at: earlier.at,
    });
    plan.skipped.push(Skip::new(SkipReason::Duplicate {
        of: earlier.id.clone(),
        at: earlier.at,
    }));
    true
}

/// The rules that apply, in order. A rule failing only its tag filter gets a skip of its
/// own; when none applies, one skip lists every rule and why it did not.
fn matching_rules<'r>(
    rules: &'r Rules,
    tag: &Tag,
    plan: &mut TriggerPlan,
    applies: impl Fn(&Rule) -> Result<(), String>,
) -> Vec<&'r Rule> {
    let mut matched = Vec::new();
    let mut considered = Vec::new();
    for rule in rules.rules() {
        match applies(rule) {
            Err(why) => considered.push(RuleMismatch {
                rule: rule.name.clone(),
                why,
            }),
            Ok(()) => match rule.tags.check(tag) {
                Ok(()) => matched.push(rule),
                Err(why) => {
                    considered.push(RuleMismatch {
                        rule: rule.name.clone(),
                        why: why.clone(),
                    });
                    plan.skipped
                        .push(Skip::new(SkipReason::TagFilterMismatch { why }).rule(&rule.name));
                }
            },
        }
    }
    if matched.is_empty() {
        plan.skipped.push(Skip::new(SkipReason::NoRuleMatched { considered }));
    }
    matched
}

/// What a trigger asks the images to become, and what it is checked against.
struct Change<'a> {
    tag: &'a Tag,
    digest: Option<&'a Digest>,
    kind: TriggerKind,
    force: bool,
    /// The observed state.
    observed: &'a Observed,
    /// Restrict to these files (none: every file the rule covers).
    only: &'a [AppFile],
}

/// How the image to change is found in a file.
enum Select<'a> {
    /// Images of this normalised repository.
    Repository(&'a str),
    /// Images of any repository the rule covers; exactly one repository must be present.
    RuleRepositories(&'a Rule),
}

/// Plans one rule in one environment: every cluster × every existing file the rule covers.
fn plan_environment(
    plan: &mut TriggerPlan,
    rule: &Rule,
    env: &Environment,
    select: &Select<'_>,
    change: &Change<'_>,
    claimed: &mut BTreeSet<Target>,
) {
    let only = change.only;
    let mut candidates: Vec<_> = change
        .observed
        .files
        .iter()
        .filter(|f| env.targets.contains(&f.target.cluster_key()))
        .filter(|f| rule.covers_file(&f.target.file))
        .filter(|f| only.is_empty() || only.contains(&f.target.file))
        .collect();
    candidates.sort_by(|a, b| a.target.cmp(&b.target));
    candidates.dedup_by(|a, b| a.target == b.target);
    if candidates.is_empty() {
        let reason = SkipReason::NoMatchingFiles {
            environment: env.name.clone(),
            clusters: env.targets.len(),
        };
        plan.skipped
            .push(Skip::new(reason).rule(&rule.name).environment(&env.name));
        return;
    }
    for file in candidates {
        if !claimed.insert(file.target.clone()) {
            continue;
        }
        let skip = |reason: SkipReason| {
            Skip::new(reason)
                .rule(&rule.name)
                .environment(&env.name)
                .target(&file.target)
        };
        match check_target(rule, env, file, select, change) {
            Ok(current) => {
                let (image, image_change) = match change.digest {
                    Some(d) => (
                        current.with_tag_and_digest(change.tag.clone(), d.clone()),
                        ImageChange::TagAndDigest {
                            tag: change.tag.clone(),
                            digest: d.clone(),
                        },
                    ),
                    None => (
                        current.with_tag(change.tag.clone()),
                        ImageChange::Tag {
                            tag: change.tag.clone(),
                        },
                    ),
                };
                plan.deployments.push(PlannedDeployment {
                    target: file.target.clone(),
                    image,
                    change: image_change,
                    environment: env.name.clone(),
                    rule: rule.name.clone(),
                    on_failure: env.on_failure,
                });
            }
            Err(reason) => plan.skipped.push(skip(reason)),
        }
    }
}

/// The guards of one target, in order; on success, the file's current image to change.
fn check_target<'f>(
    rule: &Rule,
    env: &Environment,
    file: &'f ObservedFile,
    select: &Select<'_>,
    change: &Change<'_>,
) -> Result<&'f ImageRef, SkipReason> {
    let (observed, target) = (change.observed, &file.target);
    let current = select_image(&file.images, select)?;
    if change.kind.is_automatic()
        && let Some(pin) = observed.pins.iter().find(|p| &p.target == target)
    {
        return Err(SkipReason::Pinned {
            by: pin.by.clone(),
            reason: pin.reason.clone(),
        });
    }
    if let Some(from) = &env.promotion_from {
        let succeeded = observed
            .succeeded
            .get(from)
            .is_some_and(|tags| tags.contains(change.tag));
        if !succeeded {
            return Err(SkipReason::PromotionGate {
                tag: change.tag.to_string(),
                from: from.clone(),
            });
        }
    }
    if !change.force
        && !rule.allow_downgrade
        && let Some(current_tag) = current.tag()
        && let (Some(old), Some(new)) = (semver_of(current_tag), semver_of(change.tag))
        && new < old
    {
        return Err(SkipReason::Downgrade {
            current: current_tag.to_string(),
            requested: change.tag.to_string(),
        });
    }
    Ok(current)
}

fn select_image<'f>(images: &'f [ImageRef], select: &Select<'_>) -> Result<&'f ImageRef, SkipReason> {
    match select {
        Select::Repository(repository) => images
            .iter()
            .find(|i| i.normalized_repository() == *repository)
            .ok_or_else(|| SkipReason::ImageNotInFile {
                repository: (*repository).to_owned(),
            }),
        Select::RuleRepositories(rule) => {
            let covered: Vec<&ImageRef> = images
                .iter()
                .filter(|i| rule.covers_repository(&i.normalized_repository()))
                .collect();
            let repositories: BTreeSet<String> = covered.iter().map(|i| i.normalized_repository()).collect();
            match (covered.first(), repositories.len()) {
                (Some(first), 1) => Ok(first),
                (None, _) => Err(SkipReason::ImageNotInFile {
                    repository: rule.describe_repositories(),
                }),
                _ => Err(SkipReason::AmbiguousImage {
                    repositories: repositories.into_iter().collect(),
                }),
            }
        }
    }
}
