//! A benchmark world: kube-sim clusters in this process (fast profile), a kubeconfig for
//! them, a bare configuration repository on local disk, the Deployments already running in
//! the clusters, and the deployer's configuration file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use kube_sim::clock::Profile;
use kube_sim::server::{SimCluster, SimOptions, kubeconfig_for};

use crate::config::{self, ConfigInputs, QueueOverrides};
use crate::deployer::{self, Deployer, Launch};
use crate::layout::{self, App, ClusterSpec};
use crate::repo::{self, RepoPlan};

/// The field manager the deployer applies with (`deployer_kube::FIELD_MANAGER`); the seeded
/// objects use it too, so that the deployer owns what it will change.
pub const FIELD_MANAGER: &str = deployer_kube::FIELD_MANAGER;

/// How big a world is.
#[derive(Debug, Clone, Default)]
pub struct WorldSpec {
    /// Simulated clusters.
    pub clusters: usize,
    /// Applications, spread over the clusters.
    pub apps: usize,
    /// Files in the repository that are never deployed.
    pub filler: usize,
    /// Commits of history below the tip.
    pub history: usize,
    /// Queue settings for the deployer.
    pub queue: QueueOverrides,
    /// The niceness of the simulated clusters' controller passes (see
    /// `kube_sim::server::SimOptions::controller_niceness`).
    pub controller_niceness: i32,
}

/// A running world.
pub struct World {
    /// Its directory (everything lives below it).
    pub dir: PathBuf,
    /// The clusters, as configured.
    pub clusters: Vec<ClusterSpec>,
    /// The simulated clusters, in the same order.
    pub sims: Vec<SimCluster>,
    /// The applications.
    pub apps: Vec<App>,
    /// The bare remote.
    pub remote: PathBuf,
    /// The kubeconfig with one context per cluster.
    pub kubeconfig: PathBuf,
    /// The deployer's configuration file.
    pub config: PathBuf,
    /// The deployer's bearer token.
    pub token: String,
    /// The deployer's listen address.
    pub listen: String,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("dir", &self.dir)
            .field("clusters", &self.clusters.len())
            .finish_non_exhaustive()
    }
}

/// Starts `count` simulated clusters named after `specs`' contexts.
///
/// # Errors
/// When a cluster cannot listen.
pub async fn start_sims(specs: &[ClusterSpec], controller_niceness: i32) -> anyhow::Result<Vec<SimCluster>> {
    let mut sims = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let mut options = SimOptions::named(spec.context());
        options.profile = Profile::fast();
        options.seed = 7000 + i as u64;
        options.controller_niceness = controller_niceness;
        sims.push(
            SimCluster::start(options)
                .await
                .with_context(|| format!("cannot start cluster {}", spec.context()))?,
        );
    }
    Ok(sims)
}

/// Server-side applies `manifest` (YAML of one Deployment in `default`) to a cluster.
///
/// # Errors
/// When the cluster refuses it.
pub async fn apply_deployment(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    manifest: String,
) -> anyhow::Result<()> {
    let response = client
        .patch(format!(
            "{base}/apis/apps/v1/namespaces/default/deployments/{name}?fieldManager={FIELD_MANAGER}"
        ))
        .header("Content-Type", "application/apply-patch+yaml")
        .body(manifest)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!(
            "applying {name} answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

impl World {
    /// Creates the world below `dir` (which must not exist yet or be empty).
    ///
    /// # Errors
    /// When a cluster, the repository or a file cannot be made.
    pub async fn create(dir: &Path, spec: &WorldSpec) -> anyhow::Result<World> {
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        let clusters = layout::clusters(spec.clusters.max(1));
        let apps = layout::apps(spec.apps, clusters.len());
        let sims = start_sims(&clusters, spec.controller_niceness).await?;
        let kubeconfig = dir.join("kubeconfig");
        let refs: Vec<&SimCluster> = sims.iter().collect();
        std::fs::write(&kubeconfig, kubeconfig_for(&refs))?;

        let remote = dir.join("config-repo.git");
        let plan = RepoPlan {
            apps: apps.clone(),
            filler: spec.filler,
            history: spec.history,
        };
        let (remote_for_git, clusters_for_git) = (remote.clone(), clusters.clone());
        tokio::task::spawn_blocking(move || repo::create_remote(&remote_for_git, &clusters_for_git, &plan)).await??;

        let world_token = format!("bench-{:016x}{:08x}", std::process::id(), fastish_random());
        let listen = format!("127.0.0.1:{}", deployer::free_port()?);
        let config = dir.join("deployer.toml");
        std::fs::write(
            &config,
            config::render(&ConfigInputs {
                listen: listen.clone(),
                token: &world_token,
                remote: &remote,
                clone_dir: &dir.join("clone"),
                database: &dir.join("deployer.db"),
                kubeconfig: &kubeconfig,
                clusters: &clusters,
                queue: spec.queue,
            }),
        )?;
        let world = World {
            dir,
            clusters,
            sims,
            apps,
            remote,
            kubeconfig,
            config,
            token: world_token,
            listen,
        };
        world.seed_clusters().await?;
        Ok(world)
    }

    /// Applies every application at `v0`, as the deployer would have.
    async fn seed_clusters(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        let results: Vec<anyhow::Result<()>> =
            futures::stream::iter(self.apps.iter().map(|app| {
                let base = self.sims[app.cluster].url();
                let client = client.clone();
                async move {
                    apply_deployment(&client, &base, &app.name, layout::manifest(&app.name, &layout::tag(0))).await
                }
            }))
            .buffer_unordered(32)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// The cluster of an application.
    pub fn cluster_of(&self, app: &App) -> &ClusterSpec {
        &self.clusters[app.cluster]
    }

    /// Starts the deployer on this world and waits until it is ready.
    ///
    /// # Errors
    /// See [`Deployer::start`].
    pub async fn start_deployer(&self, launch: &Launch) -> anyhow::Result<Deployer> {
        Deployer::start(
            launch,
            &self.config,
            &self.listen,
            &self.dir.join("deployer.log"),
            Duration::from_secs(120),
        )
        .await
    }

    /// Stops the simulated clusters.
    pub async fn shutdown(self) {
        for sim in self.sims {
            sim.shutdown().await;
        }
    }
}

/// A little entropy for tokens (not for security: the deployer listens on loopback only).
fn fastish_random() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ 0x5bd1_e995
}
