//! From settings to [`Rules`]: every check, every problem reported with its key path.

use std::collections::{BTreeMap, BTreeSet};

use deployer_core::model::{ClusterKey, ClusterName, Region};
use secrecy::SecretString;

use super::{
    BranchRoute, BranchSettings, DEFAULT_ENVIRONMENTS, Environment, EnvironmentName, EnvironmentSettings, OnFailure,
    Rule, RuleSettings, Rules, TagFilter, TagFilterSettings, TriggerSettings,
};
use crate::pattern::{Glob, RepositoryPattern};
use crate::problem::ConfigProblem;
use crate::webhook::{Hooks, SecretSource};

/// The default branch routes: `dev`, `stage`, `master`, `main`.
pub const DEFAULT_BRANCHES: [(&str, &str); 4] = [
    ("dev", "development"),
    ("stage", "staging"),
    ("master", "production"),
    ("main", "production"),
];

impl TriggerSettings {
    /// Validates the whole section: the rules and the hooks. Secrets given by file or
    /// variable are read through `read_secret`.
    ///
    /// # Errors
    /// Every problem found, rules first, then hooks.
    pub fn validate(
        &self,
        read_secret: &mut dyn FnMut(SecretSource<'_>) -> Result<SecretString, String>,
    ) -> Result<(Rules, Hooks), Vec<ConfigProblem>> {
        let rules = Rules::from_settings(self);
        let hooks = Hooks::from_settings(&self.hooks, read_secret);
        match (rules, hooks) {
            (Ok(rules), Ok(hooks)) => Ok((rules, hooks)),
            (rules, hooks) => {
                let mut problems = rules.err().unwrap_or_default();
                problems.extend(hooks.err().unwrap_or_default());
                Err(problems)
            }
        }
    }
}

impl Rules {
    /// Validates the environments, branch routes and rules of the section (hooks are
    /// validated by [`Hooks::from_settings`]).
    ///
    /// # Errors
    /// Every problem found, each with its key path (`rules[2].tags.semver`).
    pub fn from_settings(settings: &TriggerSettings) -> Result<Rules, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let environments = environments(&settings.environments, &mut problems);
        let known: BTreeSet<EnvironmentName> = environments.keys().cloned().collect();
        let branches = branches(settings.branches.as_deref(), &known, &mut problems);
        let mut names = BTreeSet::new();
        let rules: Vec<Rule> = settings
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let rule = rule(i, r, &known, &mut problems)?;
                if !names.insert(rule.name.clone()) {
                    problems.push(ConfigProblem::new(
                        format!("rules[{i}].name"),
                        format!("rule name `{}` is used twice", rule.name),
                    ));
                }
                Some(rule)
            })
            .collect();
        let dedup_window = match chrono::Duration::from_std(settings.dedup_window) {
            Ok(d) if d <= chrono::Duration::days(7) => d,
            _ => {
                problems.push(
                    ConfigProblem::new("dedup_window", "is longer than 7 days")
                        .hint("a few minutes is typical, e.g. `10m`"),
                );
                chrono::Duration::zero()
            }
        };
        if problems.is_empty() {
            Ok(Rules {
                environments,
                branches,
                rules,
                dedup_window,
            })
        } else {
            Err(problems)
        }
    }
}

fn environments(
    configured: &BTreeMap<String, EnvironmentSettings>,
    problems: &mut Vec<ConfigProblem>,
) -> BTreeMap<EnvironmentName, Environment> {
    let defaults = DEFAULT_ENVIRONMENTS
        .iter()
        .map(|n| ((*n).to_owned(), EnvironmentSettings::default()));
    let mut all: BTreeMap<String, EnvironmentSettings> = defaults.collect();
    all.extend(configured.iter().map(|(k, v)| (k.clone(), v.clone())));
    let names: BTreeSet<&str> = all.keys().map(String::as_str).collect();
    let mut owner: BTreeMap<ClusterKey, String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (name_text, s) in &all {
        let key = |k: &str| format!("environments.{name_text}.{k}");
        let name = match EnvironmentName::new(name_text) {
            Ok(n) => n,
            Err(e) => {
                problems.push(ConfigProblem::new(format!("environments.{name_text}"), e.to_string()));
                continue;
            }
        };
        let mut targets = Vec::new();
        for (j, t) in s.targets.iter().enumerate() {
            let tkey = format!("environments.{name_text}.targets[{j}]");
            match cluster_key(t) {
                Ok(ck) => {
                    if let Some(other) = owner.insert(ck.clone(), name_text.clone()) {
                        problems.push(
                            ConfigProblem::new(tkey, format!("cluster `{ck}` is also in environment `{other}`"))
                                .hint("a cluster belongs to exactly one environment"),
                        );
                    } else {
                        targets.push(ck);
                    }
                }
                Err(message) => {
                    problems.push(ConfigProblem::new(tkey, message).hint("write targets as `region/cluster`"))
                }
            }
        }
        let promotion_from = match &s.promotion_from {
            None => None,
            Some(from) if from == name_text => {
                problems.push(ConfigProblem::new(
                    key("promotion_from"),
                    "an environment cannot gate on itself",
                ));
                None
            }
            Some(from) if !names.contains(from.as_str()) => {
                problems.push(
                    ConfigProblem::new(key("promotion_from"), format!("unknown environment `{from}`"))
                        .hint(format!("known environments: {}", list(names.iter()))),
                );
                None
            }
            Some(from) => EnvironmentName::new(from).ok(),
        };
        let production = name.is_production();
        let environment = Environment {
            accept_registry_push: s.accept_registry_push.unwrap_or(!production),
            on_failure: s.on_failure.unwrap_or(if production {
                OnFailure::Rollback
            } else {
                OnFailure::Stop
            }),
            promotion_from,
            targets,
            name: name.clone(),
        };
        out.insert(name, environment);
    }
    check_promotion_cycles(&out, problems);
    out
}

/// A promotion gate that loops back (`a` from `b`, `b` from `a`) could never open.
fn check_promotion_cycles(envs: &BTreeMap<EnvironmentName, Environment>, problems: &mut Vec<ConfigProblem>) {
    for start in envs.keys() {
        let mut seen = BTreeSet::new();
        let mut current = start;
        while let Some(next) = envs.get(current).and_then(|e| e.promotion_from.as_ref()) {
            if next == start {
                problems.push(
                    ConfigProblem::new(
                        format!("environments.{start}.promotion_from"),
                        "promotion gates form a cycle",
                    )
                    .hint("a cycle of gates means no tag can ever deploy"),
                );
                break;
            }
            if !seen.insert(next) {
                break;
            }
            current = next;
        }
    }
}

fn cluster_key(text: &str) -> Result<ClusterKey, String> {
    let Some((region, cluster)) = text.split_once('/') else {
        return Err(format!("target `{text}` is not `region/cluster`"));
    };
    let region = Region::new(region).map_err(|e| e.to_string())?;
    let cluster = ClusterName::new(cluster).map_err(|e| e.to_string())?;
    Ok(ClusterKey { region, cluster })
}

fn branches(
    configured: Option<&[BranchSettings]>,
    known: &BTreeSet<EnvironmentName>,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<BranchRoute> {
    let Some(configured) = configured else {
        return DEFAULT_BRANCHES
            .iter()
            .filter_map(|(p, e)| {
                Some(BranchRoute {
                    pattern: Glob::new(p).ok()?,
                    environment: EnvironmentName::new(e).ok()?,
                })
            })
            .collect();
    };
    let mut out = Vec::new();
    for (i, b) in configured.iter().enumerate() {
        let pattern = Glob::new(b.pattern.trim())
            .map_err(|e| problems.push(ConfigProblem::new(format!("branches[{i}].pattern"), e.to_string())))
            .ok();
        let environment = known_environment(&b.environment, known, &format!("branches[{i}].environment"), problems);
        if let (Some(pattern), Some(environment)) = (pattern, environment) {
            out.push(BranchRoute { pattern, environment });
        }
    }
    out
}

fn known_environment(
    name: &str,
    known: &BTreeSet<EnvironmentName>,
    key: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<EnvironmentName> {
    match EnvironmentName::new(name) {
        Ok(n) if known.contains(&n) => Some(n),
        Ok(_) => {
            problems.push(
                ConfigProblem::new(key, format!("unknown environment `{name}`"))
                    .hint(format!("known environments: {}", list(known.iter()))),
            );
            None
        }
        Err(e) => {
            problems.push(ConfigProblem::new(key, e.to_string()));
            None
        }
    }
}

fn rule(
    i: usize,
    r: &RuleSettings,
    known: &BTreeSet<EnvironmentName>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Rule> {
    let before = problems.len();
    let key = |k: &str| format!("rules[{i}].{k}");
    let name = r
        .name
        .clone()
        .map(|n| n.trim().to_owned())
        .unwrap_or_else(|| format!("rules[{i}]"));
    if name.is_empty() {
        problems.push(ConfigProblem::new(key("name"), "is empty").hint("leave it out to use `rules[<index>]`"));
    }
    if r.repositories.is_empty() {
        problems.push(
            ConfigProblem::new(key("repositories"), "a rule must list the image repositories it covers")
                .hint("write `repositories = [\"*\"]` to cover every repository on purpose"),
        );
    }
    let repositories: Vec<RepositoryPattern> = r
        .repositories
        .iter()
        .enumerate()
        .filter_map(|(j, p)| {
            RepositoryPattern::new(p.trim())
                .map_err(|e| {
                    problems.push(ConfigProblem::new(
                        format!("rules[{i}].repositories[{j}]"),
                        e.to_string(),
                    ))
                })
                .ok()
        })
        .collect();
    if r.files.is_empty() {
        problems.push(
            ConfigProblem::new(key("files"), "a rule must list the application files it may change")
                .hint("globs over the file stem, e.g. `files = [\"api\", \"api-*\"]`"),
        );
    }
    let files: Vec<Glob> = r
        .files
        .iter()
        .enumerate()
        .filter_map(|(j, p)| {
            let p = p.trim();
            let stem = p.strip_suffix(".yaml").or_else(|| p.strip_suffix(".yml")).unwrap_or(p);
            if stem.contains('/') {
                problems.push(
                    ConfigProblem::new(format!("rules[{i}].files[{j}]"), format!("`{p}` contains `/`"))
                        .hint("files are matched by stem only; environments choose the clusters"),
                );
                return None;
            }
            Glob::new(stem)
                .map_err(|e| problems.push(ConfigProblem::new(format!("rules[{i}].files[{j}]"), e.to_string())))
                .ok()
        })
        .collect();
    if r.environments.is_empty() {
        problems.push(ConfigProblem::new(
            key("environments"),
            "a rule must list the environments it may deploy to",
        ));
    }
    let mut environments: Vec<EnvironmentName> = Vec::new();
    for (j, e) in r.environments.iter().enumerate() {
        if let Some(name) = known_environment(e, known, &format!("rules[{i}].environments[{j}]"), problems)
            && !environments.contains(&name)
        {
            environments.push(name);
        }
    }
    if r.triggers.is_empty() {
        problems.push(
            ConfigProblem::new(key("triggers"), "a rule must list the trigger kinds it answers")
                .hint("any of `registry`, `ci`, `api`"),
        );
    }
    if r.allow_production_push && !r.triggers.contains(&super::RuleTrigger::Registry) {
        problems.push(
            ConfigProblem::new(
                key("allow_production_push"),
                "has no effect: the rule does not answer `registry` triggers",
            )
            .hint("add `registry` to `triggers` or remove `allow_production_push`"),
        );
    }
    let tags = tag_filter(i, r.tags.as_ref(), problems);
    if problems.len() > before {
        return None;
    }
    Some(Rule {
        name,
        repositories,
        files,
        environments,
        triggers: r.triggers.iter().copied().collect(),
        tags: tags?,
        allow_production_push: r.allow_production_push,
        allow_downgrade: r.allow_downgrade,
    })
}

fn tag_filter(i: usize, t: Option<&TagFilterSettings>, problems: &mut Vec<ConfigProblem>) -> Option<TagFilter> {
    let Some(t) = t else {
        return Some(TagFilter::Any);
    };
    let key = |k: &str| format!("rules[{i}].tags.{k}");
    let given = [t.glob.is_some(), t.regex.is_some(), t.semver.is_some()]
        .iter()
        .filter(|g| **g)
        .count();
    if given != 1 {
        problems.push(
            ConfigProblem::new(
                format!("rules[{i}].tags"),
                "give exactly one of `glob`, `regex`, `semver`",
            )
            .hint("leave `tags` out to accept every tag"),
        );
        return None;
    }
    if t.prerelease && t.semver.is_none() {
        problems.push(ConfigProblem::new(
            key("prerelease"),
            "applies only to `semver` filters",
        ));
        return None;
    }
    if let Some(glob) = &t.glob {
        return Glob::new(glob)
            .map(TagFilter::Glob)
            .map_err(|e| problems.push(ConfigProblem::new(key("glob"), e.to_string())))
            .ok();
    }
    if let Some(regex) = &t.regex {
        return TagFilter::regex(regex)
            .map_err(|e| {
                problems.push(ConfigProblem::new(
                    key("regex"),
                    format!("invalid regex `{regex}`: {e}"),
                ))
            })
            .ok();
    }
    let range = t.semver.as_deref().unwrap_or_default();
    TagFilter::semver(range, t.prerelease)
        .map_err(|e| {
            problems.push(
                ConfigProblem::new(key("semver"), format!("invalid range \"{range}\": {e}"))
                    .hint("ranges use Cargo's syntax: `>=1.2.0, <2.0.0`, `^1.2`, `~1.2`, `1.*`"),
            );
        })
        .ok()
}

fn list<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}
