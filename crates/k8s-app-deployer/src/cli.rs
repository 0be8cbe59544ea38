//! Command-line flags: what the user typed, validated, with no side effects.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Ship container images to Kubernetes through git: edit the tag in the configuration
/// repository, commit, push, server-side apply, and watch the rollout.
#[derive(Debug, Parser)]
#[command(name = "k8s-app-deployer", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the deployer service.
    Serve(ServeArgs),
    /// Run the deployer on built-in simulated clusters, a local configuration repository and
    /// SQLite: nothing to install or configure.
    Demo(DemoArgs),
    /// Request a deployment of one application file to one cluster.
    Deploy(DeployArgs),
    /// Announce a build: the branch selects the environment, the deployer's rules the targets.
    Release(ReleaseArgs),
    /// Show one deployment.
    Status(StatusArgs),
    /// List past and running deployments.
    History(HistoryArgs),
    /// List the configured clusters, their applications and current images.
    Clusters(ClientArgs),
    /// Roll an application back (to a deployment, a tag, or the images its latest deployment
    /// replaced) and pin it.
    Rollback(RollbackArgs),
    /// Pin an application: registry and CI triggers leave it alone.
    Pin(PinArgs),
    /// Lift an application's pin.
    Unpin(PinArgs),
    /// Create, list and revoke API tokens in the configured store (run on the server host).
    Token(TokenArgs),
}

/// Where the API is and how to authenticate.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The deployer's URL.
    #[arg(long, env = "K8S_APP_DEPLOYER_URL", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The API token.
    #[arg(long, env = "K8S_APP_DEPLOYER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file (TOML). Every key can also be set with an environment variable
    /// `K8S_APP_DEPLOYER_<SECTION>_<KEY>`.
    #[arg(long, short = 'c', env = "K8S_APP_DEPLOYER_CONFIG", default_value = "deployer.toml")]
    pub config: PathBuf,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The address the API listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Where the demo keeps its repository, database and kubeconfig (a temporary directory
    /// by default).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// How fast the simulated pods become ready.
    #[arg(long, value_enum, default_value_t = DemoProfile::Realistic)]
    pub profile: DemoProfile,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Timing of the demo's simulated clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoProfile {
    /// Pods become ready in a fraction of a second (for scripts and tests).
    Fast,
    /// Pods take a few seconds each, as a real cluster would.
    Realistic,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// `deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The region (first directory of the configuration repository).
    #[arg(long)]
    pub region: String,
    /// The cluster (second directory).
    #[arg(long)]
    pub cluster: String,
    /// The application file, `apps/<file>.yaml` (with or without the extension).
    #[arg(long)]
    pub file: String,
    /// The new image tag.
    #[arg(long, required_unless_present = "image", conflicts_with = "image")]
    pub tag: Option<String>,
    /// A full image reference (`repo:tag`, `repo@sha256:…`); only images of that repository change.
    #[arg(long)]
    pub image: Option<String>,
    /// How to deploy: `apply`, `commit-only`, `dry-run` or `restart`.
    #[arg(long, default_value = "apply")]
    pub method: String,
    /// The container to change, when the file has several application images.
    #[arg(long)]
    pub container: Option<String>,
    /// Why (goes into the commit message).
    #[arg(long)]
    pub reason: Option<String>,
    /// A key that makes a retried request return the first deployment.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Wait for the rollout's real outcome and exit with its code.
    #[arg(long)]
    pub wait: bool,
    /// The rollout timeout sent to the server (`90s`, `10m`); with `--wait`, the client waits
    /// this long plus 30 s for the outcome, then exits 70.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Connection flags.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `release`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The tag that was built.
    #[arg(long)]
    pub tag: String,
    /// The image repository that was built, without tag (`registry.example.com/team/api`).
    #[arg(long, required_unless_present = "app", conflicts_with = "app")]
    pub image: Option<String>,
    /// The application file that was built, when the image is not named.
    #[arg(long)]
    pub app: Option<String>,
    /// The branch that was built (selects the environment); defaults from the CI environment.
    #[arg(long)]
    pub branch: Option<String>,
    /// The application commit; defaults from the CI environment.
    #[arg(long)]
    pub commit: Option<String>,
    /// A link to the build; defaults from the CI environment.
    #[arg(long)]
    pub build_url: Option<String>,
    /// Only these application files (repeat the flag or separate with commas).
    #[arg(long, value_delimiter = ',')]
    pub files: Vec<String>,
    /// A key that makes a retried release return the first one.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Deploy even a semver downgrade.
    #[arg(long)]
    pub force: bool,
    /// Wait until every deployment ended and exit with the combined outcome.
    #[arg(long)]
    pub wait: bool,
    /// How long the server waits with `--wait` (at most its `server.wait_max`).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Connection flags.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The deployment id.
    pub id: String,
    /// Follow the deployment until it ends, then exit with its code.
    #[arg(long)]
    pub wait: bool,
    /// How long to wait with `--wait`.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Connection flags.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this region.
    #[arg(long)]
    pub region: Option<String>,
    /// Only this cluster.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Only this file.
    #[arg(long)]
    pub file: Option<String>,
    /// Only this status (`queued`, `running`, `succeeded`, `failed`, `unchanged`).
    #[arg(long)]
    pub status: Option<String>,
    /// How many to show.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Connection flags.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The region.
    #[arg(long)]
    pub region: String,
    /// The cluster.
    #[arg(long)]
    pub cluster: String,
    /// The application file.
    #[arg(long)]
    pub file: String,
    /// A deployment id (go back to what it deployed) or a tag; by default, undo the latest
    /// succeeded deployment that changed images.
    #[arg(long)]
    pub to: Option<String>,
    /// Why (goes into the commit message and the pin).
    #[arg(long)]
    pub reason: Option<String>,
    /// Wait for the rollback's real outcome and exit with its code.
    #[arg(long)]
    pub wait: bool,
    /// The rollout timeout sent to the server; with `--wait`, the client waits this long plus
    /// 30 s, then exits 70.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Connection flags.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `pin` and `unpin`.
#[derive(Debug, Args)]
pub struct PinArgs {
    /// The region.
    #[arg(long)]
    pub region: String,
    /// The cluster.
    #[arg(long)]
    pub cluster: String,
    /// The application file.
    #[arg(long)]
    pub file: String,
    /// Why (shown to whoever is refused by the pin).
    #[arg(long)]
    pub reason: Option<String>,
    /// Connection flags.
    #[command(flatten)]
    pub client: ClientArgs,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration ({e}); use e.g. `90s` or `10m`"))
}

/// `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The service's configuration file: its `[store]` holds the tokens.
    #[arg(
        long,
        short = 'c',
        env = "K8S_APP_DEPLOYER_CONFIG",
        default_value = "deployer.toml",
        global = true
    )]
    pub config: PathBuf,
    /// Print JSON instead of text (`token list`).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// The `token` commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token and print it once.
    Create(TokenCreateArgs),
    /// List every token with its status.
    List,
    /// Revoke a token by its id (or the whole token); it is refused from the next request on.
    Revoke(TokenRevokeArgs),
}

/// `token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Who or what uses the token (`ci-release`, `alice@example.com`); it becomes the
    /// `requested_by` of its deployments.
    #[arg(long)]
    pub name: String,
    /// A scope, `actions:targets` (`deploy:staging/*/*/api-*`, `read:*`, `admin:*`); repeat
    /// for more.
    #[arg(long = "scope", required = true)]
    pub scopes: Vec<String>,
    /// How long the token lives (`30d`, `12h`, `1y`, at most ten years) or `never`.
    #[arg(long, default_value = "90d")]
    pub expires: String,
}

/// `token revoke`.
#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The token's id, as `token list` shows it, or the whole token.
    pub id: String,
}
