//! The `[sinks]` configuration section, and building the sinks from it.
//!
//! ```toml
//! [sinks]
//! source = "/k8s-app-deployer/eu-prod"          # CloudEvents `source`
//!
//! [sinks.environments]                          # `<region>/<cluster>` or `<region>` → name
//! "eu-west-1" = "production"
//! "eu-west-1/canary-1" = "canary"
//!
//! [sinks.delivery]                              # every field optional
//! max_attempts = 12
//! backoff_base = "1s"
//! backoff_max = "10m"
//!
//! [sinks.kafka]                                 # see `kafka::KafkaSettings`
//! [sinks.slack]                                 # see `slack::SlackSettings`
//! [[sinks.webhooks]]                            # see `webhook::WebhookSettings`
//! ```
//!
//! [`SinksSettings::build`](crate::settings::SinksSettings::build) checks every field, reads the secrets once and returns the sinks;
//! nothing reads the environment or the files afterwards.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::backoff::Backoff;
use crate::cloudevents::{Encoder, EventSource};
use crate::delivery::Sink;
use crate::environment::Environments;
use crate::kafka::{KafkaSettings, KafkaSink};
use crate::outbox::SinkName;
use crate::slack::{MemoryMessageRefs, MessageRefs, SlackSettings, SlackSink};
use crate::webhook::{WebhookSettings, WebhookSink};
use crate::worker::WorkerSettings;

/// The `[sinks]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinksSettings {
    /// The CloudEvents `source` of every event (default `/k8s-app-deployer`).
    pub source: EventSource,
    /// `[sinks.environments]`: which environment each region or cluster belongs to.
    pub environments: Environments,
    /// `[sinks.delivery]`: retries and polling of the workers.
    pub delivery: DeliverySettings,
    /// `[sinks.kafka]`: a Kafka topic.
    pub kafka: Option<KafkaSettings>,
    /// `[sinks.slack]`: Slack.
    pub slack: Option<SlackSettings>,
    /// `[[sinks.webhooks]]`: signed HTTP webhooks.
    pub webhooks: Vec<WebhookSettings>,
}

/// `[sinks.delivery]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySettings {
    /// Deliveries of one event before it is marked dead.
    pub max_attempts: u32,
    /// The delay after the first failure; it doubles after each.
    #[serde(with = "duration")]
    pub backoff_base: Duration,
    /// The longest delay between two attempts.
    #[serde(with = "duration")]
    pub backoff_max: Duration,
    /// How often each worker looks for new events when nothing wakes it.
    #[serde(with = "duration")]
    pub poll_interval: Duration,
    /// Events claimed at once.
    pub batch_size: usize,
    /// The longest `Retry-After` honoured.
    #[serde(with = "duration")]
    pub max_retry_after: Duration,
    /// A delivery taking longer than this is a retryable failure.
    #[serde(with = "duration")]
    pub delivery_timeout: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        let w = WorkerSettings::default();
        Self {
            max_attempts: w.max_attempts,
            backoff_base: w.backoff.base,
            backoff_max: w.backoff.max,
            poll_interval: w.poll_interval,
            batch_size: w.batch_size,
            max_retry_after: w.max_retry_after,
            delivery_timeout: w.delivery_timeout,
        }
    }
}

impl DeliverySettings {
    /// The worker settings these give.
    pub fn worker_settings(&self) -> WorkerSettings {
        WorkerSettings {
            max_attempts: self.max_attempts,
            backoff: Backoff {
                base: self.backoff_base,
                max: self.backoff_max,
            },
            poll_interval: self.poll_interval,
            batch_size: self.batch_size,
            max_retry_after: self.max_retry_after,
            delivery_timeout: self.delivery_timeout,
        }
    }

    fn problems(&self, out: &mut Vec<String>) {
        if self.max_attempts == 0 {
            out.push("`sinks.delivery.max_attempts` must be at least 1".to_owned());
        }
        if self.batch_size == 0 {
            out.push("`sinks.delivery.batch_size` must be at least 1".to_owned());
        }
        if self.backoff_base.is_zero() || self.backoff_max < self.backoff_base {
            out.push("`sinks.delivery.backoff_base` must be positive and at most `backoff_max`".to_owned());
        }
        if self.poll_interval.is_zero() {
            out.push("`sinks.delivery.poll_interval` must be positive".to_owned());
        }
    }
}

/// The configured sinks, ready for their workers.
pub struct BuiltSinks {
    /// One entry per sink, each to be driven by its own [`Worker`](crate::Worker).
    pub sinks: Vec<Arc<dyn Sink>>,
    /// The settings of every worker.
    pub worker: WorkerSettings,
}

impl BuiltSinks {
    /// The sink names: the store queues every event for each of them.
    pub fn names(&self) -> Vec<SinkName> {
        self.sinks.iter().map(|s| s.name().clone()).collect()
    }
}

impl std::fmt::Debug for BuiltSinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltSinks")
            .field("sinks", &self.names())
            .field("worker", &self.worker)
            .finish()
    }
}

/// A problem with the `[sinks]` section.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// One or more fields are invalid.
    #[error("invalid sinks settings: {}", problems.join("; "))]
    Invalid {
        /// Every problem found, naming its key.
        problems: Vec<String>,
    },
    /// A secret file could not be read.
    #[error("failed to read `{key}` file `{}`", path.display())]
    SecretFileUnreadable {
        /// The key naming the file.
        key: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The variable holding a secret is unset or empty.
    #[error("environment variable `{name}` named by `{key}` is not set")]
    SecretEnvMissing {
        /// The key naming the variable.
        key: String,
        /// The variable.
        name: String,
    },
    /// The Kafka CA file could not be read or holds no certificate.
    #[error("failed to load the Kafka CA file `{}`: {reason}", path.display())]
    CaFileUnusable {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be created.
    #[error("failed to create the HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

impl SettingsError {
    /// One invalid field.
    pub fn invalid(problem: impl Into<String>) -> Self {
        SettingsError::Invalid {
            problems: vec![problem.into()],
        }
    }

    /// A stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            SettingsError::Invalid { .. } => "invalid_settings",
            SettingsError::SecretFileUnreadable { .. } => "secret_file_unreadable",
            SettingsError::SecretEnvMissing { .. } => "secret_env_missing",
            SettingsError::CaFileUnusable { .. } => "ca_file_unusable",
            SettingsError::HttpClient(_) => "http_client",
        }
    }
}

impl SinksSettings {
    /// Checks everything, reads the secrets and builds the sinks, with Slack message
    /// references kept in memory (see [`SinksSettings::build_with_refs`]).
    ///
    /// # Errors
    /// [`SettingsError`] naming every invalid key, or the secret that could not be read.
    pub fn build(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<BuiltSinks, SettingsError> {
        self.build_with_refs(lookup, Arc::new(MemoryMessageRefs::default()))
    }

    /// Like [`SinksSettings::build`], keeping the Slack message of each deployment (to update
    /// it in place) in `slack_refs`.
    ///
    /// # Errors
    /// As [`SinksSettings::build`].
    pub fn build_with_refs(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        slack_refs: Arc<dyn MessageRefs>,
    ) -> Result<BuiltSinks, SettingsError> {
        let mut problems = Vec::new();
        self.delivery.problems(&mut problems);
        for key in self.environments.malformed_keys() {
            problems.push(format!(
                "`sinks.environments` key `{key}` must be `<region>` or `<region>/<cluster>`"
            ));
        }
        if !problems.is_empty() {
            return Err(SettingsError::Invalid { problems });
        }
        let encoder = Encoder {
            source: self.source.clone(),
            environments: self.environments.clone(),
        };
        let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
        if let Some(kafka) = &self.kafka {
            sinks.push(Arc::new(KafkaSink::new(kafka.build(lookup)?, encoder.clone())));
        }
        if let Some(slack) = &self.slack {
            let config = slack.build(lookup)?;
            sinks.push(Arc::new(SlackSink::new(config, encoder.clone(), slack_refs)?));
        }
        for hook in &self.webhooks {
            sinks.push(Arc::new(WebhookSink::new(hook.build(lookup)?, encoder.clone())?));
        }
        let mut names: Vec<&str> = sinks.iter().map(|s| s.name().as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(SettingsError::invalid(format!(
                "two sinks are named `{}`; give each a distinct `name`",
                w[0]
            )));
        }
        Ok(BuiltSinks {
            sinks,
            worker: self.delivery.worker_settings(),
        })
    }
}

/// Serde for a humantime duration (`"30s"`, `"10m"`).
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    /// Parses `"30s"`, `"10m"`, `"1h 30m"`.
    ///
    /// # Errors
    /// When the text is not a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}
