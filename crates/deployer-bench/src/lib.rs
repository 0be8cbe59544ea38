//! Benchmarks of k8s-app-deployer: the load harness behind the `deployer-bench` binary.
//!
//! Start with [`scenarios::run`]. A scenario builds a [`world::World`] (kube-sim clusters in
//! this process, a bare configuration repository on local disk, the Deployments already
//! running), starts the deployer on it ([`deployer::Deployer`]: a separate
//! `k8s-app-deployer serve` process for measurements, or in process for the smoke test),
//! drives it over HTTP ([`api::Api`], [`load`]), reads latencies back from the deployments'
//! phase times, and compares with the script a team writes without a deployer
//! ([`baseline`]). Results are [`report::ScenarioReport`]s, printed as Markdown and JSON.
//!
//! Like a binary, the harness reports failures with `anyhow` and context.

/// The deployer's HTTP API as the harness uses it.
pub mod api;
/// The scripted baseline.
pub mod baseline;
/// Table cell formatting.
pub mod cells;
/// The deployer's generated configuration file.
pub mod config;
/// Running the deployer under test.
pub mod deployer;
/// Names, paths and manifests of a world.
pub mod layout;
/// Pacing requests and reading outcomes.
pub mod load;
/// CPU and memory from `/proc`.
pub mod procfs;
/// The configuration repository generator.
pub mod repo;
/// Result tables and target checks.
pub mod report;
/// Background sampling of a process.
pub mod sampler;
/// The scenarios.
pub mod scenarios;
/// Percentiles.
pub mod stats;
/// A world: clusters, repository, configuration.
pub mod world;
