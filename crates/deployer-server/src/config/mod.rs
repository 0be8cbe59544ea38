//! The service configuration, in two phases.
//!
//! [`RawConfig`] collects what the operator wrote (a TOML file) and the environment
//! (`K8S_APP_DEPLOYER_<SECTION>_<KEY>`, `__` for deeper keys) without acting on it.
//! [`Settings::from_raw`] then checks everything at once and reports every problem with its
//! key path and a hint, reads the secrets that live in files or variables, and returns typed
//! settings. Nothing reads the environment after that.
//!
//! ```toml
//! [server]
//! listen = "0.0.0.0:8080"
//!
//! [queue]
//! concurrency = 64
//!
//! [[auth.tokens]]
//! name = "ci"
//! token_env = "DEPLOYER_CI_TOKEN"
//! scopes = ["deploy:staging/*/*/*", "read:*"]   # `admin:*` when absent
//!
//! [auth.rate_limits]
//! per_token = { requests = 6000, per = "1m" }
//!
//! [triggers.environments.staging]
//! targets = ["eu-west-1/stage-1"]
//! ```
//!
//! `[triggers]` is `deployer_triggers::rules::TriggerSettings` (see `docs/triggers.md`); it is
//! the only section [`crate::triggers::TriggerReloader`] reloads while the service runs.

/// Links from configuration-repository commits to their pages (`[git] commit_url`).
pub mod commit_links;
mod duration;
mod error;
mod load;
mod policies;
mod raw;
mod settings;
mod triggers;

pub use commit_links::{CommitLinks, CommitUrlTemplate};
pub use error::{ConfigError, Problem};
pub use load::typed;
pub use policies::{OnFailure, PolicySettings, on_failure_for};
pub use raw::{ENV_PREFIX, RawConfig};
pub use settings::{AuthSettings, QueueSettings, ServerSettings, Settings, TokenSettings};
pub use triggers::TriggerConfig;
