//! The trigger configuration in force, swapped whole on reload.
//!
//! Handlers take a snapshot ([`LiveTriggers::current`]) once per request and route with it to
//! the end, so a reload never changes the rules under a request and never blocks one: the
//! lock is held only to clone or replace an `Arc`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use deployer_triggers::Provider;

use crate::config::{ConfigError, RawConfig, TriggerConfig};

/// The trigger configuration in force.
#[derive(Debug)]
pub struct LiveTriggers {
    current: RwLock<Arc<TriggerConfig>>,
}

impl LiveTriggers {
    /// Starts with `config`.
    pub fn new(config: TriggerConfig) -> Self {
        Self {
            current: RwLock::new(Arc::new(config)),
        }
    }

    /// The configuration in force now.
    pub fn current(&self) -> Arc<TriggerConfig> {
        // A panic while holding the lock cannot leave a half-written `Arc`.
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn replace(&self, config: TriggerConfig) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
    }
}

/// What a successful reload put in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reloaded {
    /// The number of rules.
    pub rules: usize,
    /// The number of environments.
    pub environments: usize,
    /// The number of webhook hooks.
    pub hooks: usize,
}

/// Reloads the `[triggers]` section while the service runs (cheap to clone). Get one from
/// [`crate::Server::trigger_reloader`].
#[derive(Debug, Clone)]
pub struct TriggerReloader {
    live: Arc<LiveTriggers>,
}

impl TriggerReloader {
    pub(crate) fn new(live: Arc<LiveTriggers>) -> Self {
        Self { live }
    }

    /// Validates the `[triggers]` section of `raw` and puts it in force. On any problem the
    /// rules in force stay, and every problem is logged with its key path.
    ///
    /// # Errors
    /// The [`ConfigError`] listing the problems.
    pub fn reload(&self, raw: &RawConfig) -> Result<Reloaded, ConfigError> {
        match TriggerConfig::from_raw(raw) {
            Ok(config) => {
                let summary = Reloaded {
                    rules: config.rules.rules().len(),
                    environments: config.rules.environments().count(),
                    hooks: Provider::ALL.iter().map(|p| config.hooks.of(*p).count()).sum(),
                };
                self.live.replace(config);
                tracing::info!(
                    message = "Trigger configuration reloaded.",
                    rules = summary.rules,
                    environments = summary.environments,
                    hooks = summary.hooks
                );
                Ok(summary)
            }
            Err(e) => {
                for p in &e.problems {
                    tracing::error!(
                        message = "Trigger configuration problem; keeping the rules in force.",
                        key = %p.key,
                        problem = %p.message,
                        hint = p.hint.as_deref().unwrap_or(""),
                    );
                }
                Err(e)
            }
        }
    }

    /// Reads the configuration file again (and the environment) and reloads from it.
    ///
    /// # Errors
    /// As [`TriggerReloader::reload`]; also when the file cannot be read.
    pub fn reload_from(&self, path: Option<&Path>) -> Result<Reloaded, ConfigError> {
        match RawConfig::collect(path) {
            Ok(raw) => self.reload(&raw),
            Err(e) => {
                for p in &e.problems {
                    tracing::error!(message = "Cannot read the configuration; keeping the rules in force.", key = %p.key, problem = %p.message);
                }
                Err(e)
            }
        }
    }
}

/// Reloads the trigger configuration from `path` on every `SIGHUP`, until the process ends.
/// A reload that fails keeps the rules in force (the problems are logged). On platforms
/// without `SIGHUP`, or when the handler cannot be installed, it waits forever.
pub async fn reload_on_hangup(reloader: TriggerReloader, path: Option<PathBuf>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hangups) => {
                while hangups.recv().await.is_some() {
                    tracing::info!(message = "SIGHUP received; reloading the trigger configuration.");
                    // Problems are logged by the reloader; the rules in force stay.
                    let _ = reloader.reload_from(path.as_deref());
                }
            }
            Err(error) => {
                tracing::warn!(message = "Cannot listen for SIGHUP; trigger rules will not reload.", error = %error);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (&reloader, &path);
    std::future::pending::<()>().await;
}
