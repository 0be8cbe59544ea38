//! The `[sinks.slack]` section.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use deployer_core::model::EventKind;

use crate::environment::EnvironmentName;
use crate::outbox::SinkName;
use crate::settings::SettingsError;

/// `[sinks.slack]`. Exactly one of the bot token and the webhook URL is given, each inline,
/// in a file or in an environment variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    /// The sink's name (default `slack`).
    #[serde(default = "default_name")]
    pub name: String,
    /// A bot token (`xoxb-…`): messages are updated in place.
    #[serde(default)]
    pub bot_token: Option<SecretString>,
    /// A file holding the bot token.
    #[serde(default)]
    pub bot_token_file: Option<PathBuf>,
    /// An environment variable holding the bot token.
    #[serde(default)]
    pub bot_token_env: Option<String>,
    /// An incoming webhook URL (it is a secret: anyone holding it can post).
    #[serde(default)]
    pub webhook_url: Option<SecretString>,
    /// A file holding the webhook URL.
    #[serde(default)]
    pub webhook_url_file: Option<PathBuf>,
    /// An environment variable holding the webhook URL.
    #[serde(default)]
    pub webhook_url_env: Option<String>,
    /// Bot mode: the channel per environment, with a required `default` entry.
    #[serde(default)]
    pub channels: BTreeMap<String, String>,
    /// A link to a commit of the configuration repository, with `{sha}` where the SHA goes
    /// (`https://github.com/acme/config/commit/{sha}`).
    #[serde(default)]
    pub commit_url_template: Option<String>,
    /// The Web API base URL (default `https://slack.com/api/`).
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// How long one request may take.
    #[serde(default = "default_timeout", with = "crate::settings::duration")]
    pub timeout: Duration,
    /// Which events to send (default: all with a bot token, `succeeded` and `failed` with a
    /// webhook).
    #[serde(default)]
    pub events: Option<Vec<EventKind>>,
}

fn default_name() -> String {
    "slack".to_owned()
}

fn default_api_base() -> String {
    "https://slack.com/api/".to_owned()
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// How messages reach Slack.
#[derive(Debug, Clone)]
pub enum SlackMode {
    /// An incoming webhook.
    Webhook {
        /// The hook's URL.
        url: SecretString,
    },
    /// The Web API with a bot token.
    Bot {
        /// The token.
        token: SecretString,
        /// Where each environment's messages go.
        channels: ChannelRoutes,
    },
}

/// Channels per environment, with a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRoutes {
    by_environment: BTreeMap<EnvironmentName, String>,
    default: String,
}

impl ChannelRoutes {
    /// Routes with a default channel and per-environment overrides.
    pub fn new(default: String, by_environment: BTreeMap<EnvironmentName, String>) -> Self {
        Self {
            by_environment,
            default,
        }
    }

    /// The channel for an environment.
    pub fn channel(&self, environment: Option<&EnvironmentName>) -> &str {
        environment
            .and_then(|e| self.by_environment.get(e))
            .unwrap_or(&self.default)
    }
}

/// A commit link template holding `{sha}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitUrlTemplate(String);

impl CommitUrlTemplate {
    /// Checks that the template is an absolute http(s) URL holding `{sha}`.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn new(template: &str) -> Result<Self, String> {
        if !template.contains("{sha}") {
            return Err("must contain `{sha}`".to_owned());
        }
        match Url::parse(&template.replace("{sha}", "0")) {
            Ok(u) if matches!(u.scheme(), "https" | "http") => Ok(Self(template.to_owned())),
            _ => Err("must be an absolute `https://` URL".to_owned()),
        }
    }

    /// The link to `sha`.
    pub fn url(&self, sha: &str) -> String {
        self.0.replace("{sha}", sha)
    }
}

/// A checked Slack configuration.
#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// The sink's name.
    pub name: SinkName,
    /// Bot or webhook.
    pub mode: SlackMode,
    /// The commit link template.
    pub commit_url: Option<CommitUrlTemplate>,
    /// The Web API base URL, ending in `/`.
    pub api_base: Url,
    /// The request timeout.
    pub timeout: Duration,
    /// The events sent.
    pub events: HashSet<EventKind>,
}

impl SlackSettings {
    /// Checks the section and reads its secret.
    ///
    /// # Errors
    /// [`SettingsError`] naming every invalid key, or the unreadable secret.
    pub fn build(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<SlackConfig, SettingsError> {
        let mut problems = Vec::new();
        let name = SinkName::new(&self.name)
            .map_err(|e| problems.push(format!("`sinks.slack.name`: {e}")))
            .ok();
        let commit_url = match self
            .commit_url_template
            .as_deref()
            .map(CommitUrlTemplate::new)
            .transpose()
        {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("`sinks.slack.commit_url_template` {e}"));
                None
            }
        };
        let base = if self.api_base.ends_with('/') {
            self.api_base.clone()
        } else {
            format!("{}/", self.api_base)
        };
        let api_base = Url::parse(&base)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .or_else(|| {
                problems.push("`sinks.slack.api_base` must be an absolute `https://` URL".to_owned());
                None
            });
        if self.timeout.is_zero() {
            problems.push("`sinks.slack.timeout` must be positive".to_owned());
        }
        let mut routes = BTreeMap::new();
        let mut default = None;
        for (env, channel) in &self.channels {
            if channel.trim().is_empty() {
                problems.push(format!("`sinks.slack.channels.{env}` must name a channel"));
            } else if env == "default" {
                default = Some(channel.clone());
            } else {
                match EnvironmentName::new(env) {
                    Ok(e) => {
                        routes.insert(e, channel.clone());
                    }
                    Err(e) => problems.push(format!("`sinks.slack.channels`: {e}")),
                }
            }
        }
        if !problems.is_empty() {
            return Err(SettingsError::Invalid { problems });
        }
        let token = crate::secret::resolve(
            "sinks.slack.bot_token",
            self.bot_token.as_ref(),
            self.bot_token_file.as_deref(),
            self.bot_token_env.as_deref(),
            lookup,
        )?;
        let hook = crate::secret::resolve(
            "sinks.slack.webhook_url",
            self.webhook_url.as_ref(),
            self.webhook_url_file.as_deref(),
            self.webhook_url_env.as_deref(),
            lookup,
        )?;
        let mode = match (token, hook) {
            (Some(token), None) => {
                let Some(default) = default else {
                    return Err(SettingsError::invalid(
                        "`sinks.slack.channels` needs a `default` entry with a bot token, e.g. `channels = { default = \"#deploys\" }`",
                    ));
                };
                SlackMode::Bot {
                    token,
                    channels: ChannelRoutes::new(default, routes),
                }
            }
            (None, Some(url)) => {
                if !self.channels.is_empty() {
                    return Err(SettingsError::invalid(
                        "`sinks.slack.channels` needs a bot token: an incoming webhook always posts to its own channel",
                    ));
                }
                let parsed = Url::parse(secrecy::ExposeSecret::expose_secret(&url)).ok();
                if !parsed.is_some_and(|u| matches!(u.scheme(), "https" | "http")) {
                    return Err(SettingsError::invalid(
                        "`sinks.slack.webhook_url` must be an absolute `https://` URL",
                    ));
                }
                SlackMode::Webhook { url }
            }
            (Some(_), Some(_)) => {
                return Err(SettingsError::invalid(
                    "give either a Slack bot token or a webhook URL, not both",
                ));
            }
            (None, None) => {
                return Err(SettingsError::invalid(
                    "`sinks.slack` needs `bot_token` (or `bot_token_file`, `bot_token_env`) or `webhook_url` (or `_file`, `_env`)",
                ));
            }
        };
        let events = match (&self.events, &mode) {
            (Some(list), _) => list.iter().copied().collect(),
            (None, SlackMode::Bot { .. }) => [
                EventKind::Queued,
                EventKind::Committed,
                EventKind::Applied,
                EventKind::Progress,
                EventKind::Succeeded,
                EventKind::Failed,
                EventKind::Unchanged,
            ]
            .into_iter()
            .collect(),
            (None, SlackMode::Webhook { .. }) => [EventKind::Succeeded, EventKind::Failed].into_iter().collect(),
        };
        let (Some(name), Some(api_base)) = (name, api_base) else {
            return Err(SettingsError::invalid("invalid `sinks.slack`"));
        };
        Ok(SlackConfig {
            name,
            mode,
            commit_url,
            api_base,
            timeout: self.timeout,
            events,
        })
    }
}
