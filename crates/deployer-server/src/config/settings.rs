//! The typed settings: one section per concern, each with its defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use deployer_core::execute::ExecSettings;
use secrecy::SecretString;
use serde::Deserialize;

/// The whole service configuration.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `[server]`: the HTTP listener and its limits.
    pub server: ServerSettings,
    /// `[auth]`: who may call the API.
    pub auth: AuthSettings,
    /// `[queue]`: how deployments are scheduled.
    pub queue: QueueSettings,
    /// `[executor]`: rollout timeouts and retries of the executor.
    pub executor: ExecSettings,
    /// `[git]`: the configuration repository; `deployer-git`'s `GitSettings`, read with
    /// [`super::typed`] by whoever opens the repository.
    pub git: Option<toml::Table>,
    /// `[store]`: the history store; `deployer-store`'s `StoreSettings`, read with [`super::typed`].
    pub store: Option<toml::Table>,
    /// `[sinks]`: where events are delivered; `deployer-sinks`' `SinksSettings`, read with
    /// [`super::typed`] by whoever starts the delivery workers.
    pub sinks: Option<toml::Table>,
    /// `[[clusters]]`: one entry per cluster; `deployer-kube`'s `ClusterSettings`, read with
    /// [`super::typed`].
    pub clusters: Vec<toml::Table>,
    /// `[triggers]`: environments, branch routes, rules and webhook hooks, validated. It is
    /// the one section that can be reloaded while the service runs (see
    /// [`crate::triggers::TriggerReloader`]).
    pub triggers: super::TriggerConfig,
    /// `[[policies]]`: what happens when a deployment fails, per environment, region or cluster.
    pub policies: Vec<super::PolicySettings>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// The largest request body accepted, in bytes (larger ones get a 413).
    pub body_limit_bytes: usize,
    /// Requests handled at once; beyond it new requests get a 503 with `Retry-After`.
    pub max_in_flight: usize,
    /// How long `?wait=true` waits when the request gives no `timeout`.
    #[serde(with = "super::duration")]
    pub wait_default: Duration,
    /// The longest `?wait=true` timeout accepted.
    #[serde(with = "super::duration")]
    pub wait_max: Duration,
    /// How often an idle event stream sends a keep-alive comment.
    #[serde(with = "super::duration")]
    pub sse_keep_alive: Duration,
    /// How long open connections get to finish when the service stops.
    #[serde(with = "super::duration")]
    pub shutdown_grace: Duration,
    /// `[server.tls]`: serve HTTPS with this certificate and key (reloaded when they change).
    pub tls: Option<crate::transport::tls::TlsSettings>,
    /// How answers link commits of the configuration repository (`commit_url` of deployment
    /// records): set by [`Settings::from_raw`] from `[git] commit_url`, or derived from
    /// `[git] remote`. Not a `[server]` key.
    #[serde(skip)]
    pub commit_links: super::CommitLinks,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit_bytes: 1024 * 1024,
            max_in_flight: 512,
            wait_default: Duration::from_secs(120),
            wait_max: Duration::from_secs(900),
            sse_keep_alive: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
            tls: None,
            commit_links: super::CommitLinks::default(),
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// `[[auth.tokens]]`: the bearer tokens accepted.
    pub tokens: Vec<TokenSettings>,
    /// `[auth.rate_limits]`: requests per token and per client address.
    #[serde(alias = "rate_limit")]
    pub rate_limits: deployer_auth::RateLimitSettings,
}

/// One `[[auth.tokens]]` entry. Exactly one of `token`, `token_file` and `token_env` is given;
/// after validation `token` holds the secret whichever way it was given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// The token's name: it becomes `requested_by` of the deployments made with it.
    pub name: String,
    /// The secret itself (prefer `token_file` or `token_env`).
    #[serde(default)]
    pub token: Option<SecretString>,
    /// A file holding the secret (surrounding whitespace is ignored).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// An environment variable holding the secret.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Whether requests with this token may name the person they act for (`requested_by`).
    #[serde(default)]
    pub act_for_users: bool,
    /// What the token may do (`["deploy:staging/*/*/*", "read:*"]`); `admin:*` when absent.
    #[serde(default)]
    pub scopes: Option<deployer_auth::Scopes>,
}

/// `[queue]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSettings {
    /// Deployments committing or applying at once, over all targets. A deployment gives its
    /// place back once it watches its rollout (waiting, mostly), so this bounds the work on
    /// the repository and the clusters, not the rollouts in progress.
    pub concurrency: usize,
    /// Deployments waiting or running at once; beyond it requests get a 503.
    pub capacity: usize,
    /// Deployments waiting or running for one target; beyond it requests get a 429.
    pub per_target: usize,
    /// How long running deployments get to finish when the service stops.
    #[serde(with = "super::duration")]
    pub shutdown_deadline: Duration,
    /// Deployments running at once on one cluster, so that a slow or unreachable cluster
    /// never takes every worker from the others.
    pub cluster_concurrency: usize,
    /// How long a deployment waits for an unreachable configuration repository before it runs
    /// anyway (and fails, saying the repository is unavailable).
    #[serde(with = "super::duration")]
    pub repo_wait: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            concurrency: 128,
            capacity: 10_000,
            per_target: 100,
            shutdown_deadline: Duration::from_secs(30),
            cluster_concurrency: 32,
            repo_wait: Duration::from_secs(300),
        }
    }
}
