//! The `[[sinks.webhooks]]` entries.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use deployer_core::model::EventKind;

use crate::outbox::SinkName;
use crate::settings::SettingsError;

/// One `[[sinks.webhooks]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// A short name: the sink is called `webhook-<name>`.
    pub name: String,
    /// Where to POST (`https://…`; `http://` is accepted for receivers on the same host or
    /// network).
    pub url: String,
    /// The signing secret (prefer `secret_file` or `secret_env`). Without any, requests are
    /// not signed.
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// A file holding the signing secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// An environment variable holding the signing secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// How long one request may take.
    #[serde(default = "default_timeout", with = "crate::settings::duration")]
    pub timeout: Duration,
    /// Only these events are sent (all when unset).
    #[serde(default)]
    pub events: Option<Vec<EventKind>>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// A checked webhook configuration.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `webhook-<name>`.
    pub name: SinkName,
    /// The receiver.
    pub url: Url,
    /// The signing secret.
    pub secret: Option<SecretString>,
    /// The request timeout.
    pub timeout: Duration,
    /// The events sent (all when `None`).
    pub events: Option<HashSet<EventKind>>,
}

impl WebhookSettings {
    /// Checks the entry and reads its secret.
    ///
    /// # Errors
    /// [`SettingsError`] naming the invalid keys or the unreadable secret.
    pub fn build(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<WebhookConfig, SettingsError> {
        let key = format!("sinks.webhooks.{}", self.name);
        let mut problems = Vec::new();
        let name = SinkName::new(&format!("webhook-{}", self.name));
        if name.is_err() {
            problems.push(format!(
                "`{key}.name` must be lowercase letters, digits, `-` and `_` (at most 56)"
            ));
        }
        let url = match Url::parse(&self.url) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => Some(url),
            _ => {
                problems.push(format!("`{key}.url` must be an absolute `https://` or `http://` URL"));
                None
            }
        };
        if self.timeout.is_zero() {
            problems.push(format!("`{key}.timeout` must be positive"));
        }
        let (Ok(name), Some(url), true) = (name, url, problems.is_empty()) else {
            return Err(SettingsError::Invalid { problems });
        };
        let secret = crate::secret::resolve(
            &format!("{key}.secret"),
            self.secret.as_ref(),
            self.secret_file.as_deref(),
            self.secret_env.as_deref(),
            lookup,
        )?;
        Ok(WebhookConfig {
            name,
            url,
            secret,
            timeout: self.timeout,
            events: self.events.as_ref().map(|e| e.iter().copied().collect()),
        })
    }
}
