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
//! ```

mod duration;
mod error;
mod load;
mod raw;
mod settings;

pub use error::{ConfigError, Problem};
pub use load::typed;
pub use raw::{ENV_PREFIX, RawConfig};
pub use settings::{AuthSettings, QueueSettings, ServerSettings, Settings, TokenSettings};
