//! The scenarios of the load harness, one file each, and what they share: the sizes, where
//! worlds live, and how the deployer is launched.

use std::path::PathBuf;
use std::time::Instant;

use crate::config::QueueOverrides;
use crate::deployer::Launch;
use crate::report::ScenarioReport;

/// Scenario `baseline`: the same applications deployed by the deployer and by the script.
pub mod baseline;
/// Scenario `fleet`: thousands of applications at once.
pub mod fleet;
/// Scenario `growth`: per-deploy cost as the repository and the cluster count grow.
pub mod growth;
/// Scenario `idle`: the service doing nothing.
pub mod idle;
/// Scenario `kube-sim`: the API server double at scale.
pub mod kube_sim;
/// Scenario `overhead`: per-deploy latency at 1, 10 and 100 requests per second.
pub mod overhead;
/// Scenario `steady`: a sustained rate with CPU and memory.
pub mod steady;

mod sizes;
pub use sizes::Sizes;

/// The scenarios by name, in the order `all` runs them.
pub const NAMES: [&str; 7] = ["overhead", "fleet", "steady", "growth", "idle", "kube-sim", "baseline"];

/// The niceness the simulated clusters' controller passes run at unless told otherwise: they
/// stand for control planes that have machines of their own, so they give way to the
/// deployer, the harness's requests and the clusters' API servers.
pub const CONTROLLER_NICENESS: i32 = 10;

/// What every scenario runs with.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// How to run the deployer.
    pub launch: Launch,
    /// Where worlds are created (one subdirectory each).
    pub root: PathBuf,
    /// The sizes.
    pub sizes: Sizes,
    /// Queue settings given to the deployer.
    pub queue: QueueOverrides,
    /// The niceness of the simulated clusters' controller passes.
    pub controller_niceness: i32,
}

impl Ctx {
    /// A fresh directory for a world called `name`.
    ///
    /// # Errors
    /// When an old one cannot be removed.
    pub fn world_dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.root.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        Ok(dir)
    }
}

/// Runs one scenario by name.
///
/// # Errors
/// An unknown name, or the scenario failing.
pub async fn run(ctx: &Ctx, name: &str) -> anyhow::Result<ScenarioReport> {
    let started = Instant::now();
    let mut report = match name {
        "overhead" => overhead::run(ctx).await?,
        "fleet" => fleet::run(ctx).await?,
        "steady" => steady::run(ctx).await?,
        "growth" => growth::run(ctx).await?,
        "idle" => idle::run(ctx).await?,
        "kube-sim" => kube_sim::run(ctx).await?,
        "baseline" => baseline::run(ctx).await?,
        other => anyhow::bail!("unknown scenario `{other}`; the scenarios are {}", NAMES.join(", ")),
    };
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
