//! The `[triggers]` section: typed as `deployer_triggers::rules::TriggerSettings` and validated
//! into the routing [`Rules`] and the webhook [`Hooks`].
//!
//! The same function checks the section at start-up and at every reload, so a reload accepts
//! exactly what a start would.

use std::collections::BTreeMap;
use std::sync::Arc;

use deployer_triggers::rules::{Rules, TriggerSettings};
use deployer_triggers::webhook::{Hooks, SecretSource};
use secrecy::SecretString;

use super::error::{ConfigError, Problem};
use super::load::typed;
use super::raw::RawConfig;

/// The validated trigger configuration: what the webhooks and releases route with.
#[derive(Debug, Clone)]
pub struct TriggerConfig {
    /// Environments, branch routes and rules.
    pub rules: Arc<Rules>,
    /// The webhook credentials and the repositories each may speak for.
    pub hooks: Arc<Hooks>,
}

impl Default for TriggerConfig {
    /// No rules and no hooks: the default environments and branch routes, nothing deploys.
    fn default() -> Self {
        let rules = Rules::from_settings(&TriggerSettings::default())
            .expect("the default `[triggers]` settings (no rules, no hooks) are valid");
        Self {
            rules: Arc::new(rules),
            hooks: Arc::new(Hooks::default()),
        }
    }
}

impl TriggerConfig {
    /// Types and validates a `[triggers]` table (absent: the defaults). Secrets given with
    /// `secret_file` are read from disk, those given with `secret_env` from `env`.
    ///
    /// # Errors
    /// Every problem found, each with its key path below `triggers` (`triggers.rules[2].tags`).
    pub fn from_table(table: Option<&toml::Value>, env: &BTreeMap<String, String>) -> Result<Self, Vec<Problem>> {
        let settings: TriggerSettings = match table {
            None => TriggerSettings::default(),
            Some(value) if !value.is_table() => {
                return Err(vec![
                    Problem::new("triggers", "must be a table").hint("write it as `[triggers]`"),
                ]);
            }
            Some(value) => typed("triggers", value.clone()).map_err(|e| e.problems)?,
        };
        let mut read_secret = |source: SecretSource<'_>| read_secret(source, env);
        let (rules, hooks) = settings.validate(&mut read_secret).map_err(|problems| {
            problems
                .into_iter()
                .map(|p| {
                    let problem = Problem::new(format!("triggers.{}", p.key_path), p.message);
                    match p.hint {
                        Some(hint) => problem.hint(hint),
                        None => problem,
                    }
                })
                .collect::<Vec<_>>()
        })?;
        Ok(Self {
            rules: Arc::new(rules),
            hooks: Arc::new(hooks),
        })
    }
}

impl TriggerConfig {
    /// The `[triggers]` section of freshly collected configuration, for a reload. Problems met
    /// while collecting (an unreadable file, invalid TOML) count too: a broken file reloads
    /// nothing.
    ///
    /// # Errors
    /// A [`ConfigError`] listing every problem.
    pub fn from_raw(raw: &RawConfig) -> Result<Self, ConfigError> {
        let mut problems = raw.problems.clone();
        match Self::from_table(raw.table.get("triggers"), &raw.env) {
            Ok(config) if problems.is_empty() => Ok(config),
            Ok(_) => Err(ConfigError { problems }),
            Err(more) => {
                problems.extend(more);
                Err(ConfigError { problems })
            }
        }
    }
}

fn read_secret(source: SecretSource<'_>, env: &BTreeMap<String, String>) -> Result<SecretString, String> {
    match source {
        SecretSource::File(path) => std::fs::read_to_string(path)
            .map(|text| SecretString::from(text.trim().to_owned()))
            .map_err(|e| format!("cannot read `{}`: {}", path.display(), e.kind())),
        SecretSource::Env(var) => env
            .get(var)
            .map(|v| SecretString::from(v.trim().to_owned()))
            .ok_or_else(|| format!("variable `{var}` is not set")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Value {
        let parsed: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}"));
        toml::Value::Table(parsed)
    }

    #[test]
    fn the_default_configuration_has_the_default_environments_and_no_rules() {
        let config = TriggerConfig::default();
        assert!(config.rules.rules().is_empty());
        assert_eq!(config.rules.environments().count(), 3);
    }

    #[test]
    fn problems_carry_the_full_key_path_and_secrets_come_from_the_environment() {
        let text = r#"
            [environments.staging]
            targets = ["eu-west-1/stage-1"]
            [[rules]]
            name = "api"
            repositories = ["acme/api"]
            files = ["api"]
            environments = ["nowhere"]
            triggers = ["registry"]
            [[hooks]]
            name = "hub"
            provider = "dockerhub"
            secret_env = "HUB_TOKEN"
            repositories = ["acme/api"]
        "#;
        let problems = TriggerConfig::from_table(Some(&table(text)), &BTreeMap::new())
            .err()
            .unwrap_or_default();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(
            keys.iter().any(|k| k.starts_with("triggers.rules[0].environments")),
            "{keys:?}"
        );
        assert!(keys.contains(&"triggers.hooks[0].secret_env"), "{keys:?}");

        let fixed = text.replace("\"nowhere\"", "\"staging\"");
        let env = BTreeMap::from([("HUB_TOKEN".to_owned(), "0123456789abcdef0123456789abcdef".to_owned())]);
        let config = TriggerConfig::from_table(Some(&table(&fixed)), &env).map_err(|p| format!("{p:?}"));
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.rules.rules().len(), 1);
    }

    #[test]
    fn unknown_keys_are_reported_with_their_path() {
        let problems = TriggerConfig::from_table(Some(&table("dedup = \"1m\"")), &BTreeMap::new())
            .err()
            .unwrap_or_default();
        assert_eq!(problems.first().map(|p| p.key.as_str()), Some("triggers.dedup"));
    }
}
