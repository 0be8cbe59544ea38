//! How big each scenario is: the full sizes of the issue, a quick pass, and a tiny one for
//! the smoke test.

/// Every size knob of every scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizes {
    /// `overhead`: request rates, per second.
    pub overhead_rates: Vec<f64>,
    /// `overhead`: seconds of load per rate.
    pub overhead_seconds: f64,
    /// `overhead`: applications.
    pub overhead_apps: usize,
    /// `overhead`: clusters.
    pub overhead_clusters: usize,
    /// `fleet`: applications, all requested at once.
    pub fleet_apps: usize,
    /// `fleet`: clusters.
    pub fleet_clusters: usize,
    /// `steady`: deploys per second.
    pub steady_rate: f64,
    /// `steady`: seconds.
    pub steady_seconds: f64,
    /// `steady`: applications.
    pub steady_apps: usize,
    /// `steady`: clusters.
    pub steady_clusters: usize,
    /// `growth`: repository sizes, in files.
    pub growth_files: Vec<usize>,
    /// `growth`: commits of history for the history case (0 skips it).
    pub growth_history: usize,
    /// `growth`: deploys measured per repository.
    pub growth_deploys: usize,
    /// `growth`: cluster counts for memory.
    pub growth_clusters: Vec<usize>,
    /// `growth`: deploys in flight at the largest cluster count.
    pub growth_in_flight: usize,
    /// `idle`: clusters configured.
    pub idle_clusters: usize,
    /// `idle`: seconds measured.
    pub idle_seconds: f64,
    /// `kube-sim`: Deployments.
    pub sim_deployments: usize,
    /// `kube-sim`: namespaces.
    pub sim_namespaces: usize,
    /// `kube-sim`: concurrent watches.
    pub sim_watchers: usize,
    /// `kube-sim`: LIST requests timed.
    pub sim_lists: usize,
    /// Baseline: scripted deploys per measurement.
    pub baseline_deploys: usize,
    /// `baseline`: applications deployed by both.
    pub baseline_apps: usize,
    /// `baseline`: clusters.
    pub baseline_clusters: usize,
}

impl Sizes {
    /// The sizes of the issue.
    pub fn full() -> Sizes {
        Sizes {
            overhead_rates: vec![1.0, 10.0, 100.0],
            overhead_seconds: 20.0,
            overhead_apps: 400,
            overhead_clusters: 4,
            fleet_apps: 2000,
            fleet_clusters: 20,
            steady_rate: 100.0,
            steady_seconds: 60.0,
            steady_apps: 1000,
            steady_clusters: 10,
            growth_files: vec![100, 1000, 10_000],
            growth_history: 100_000,
            growth_deploys: 100,
            growth_clusters: vec![1, 10, 100],
            growth_in_flight: 1000,
            idle_clusters: 20,
            idle_seconds: 30.0,
            sim_deployments: 1000,
            sim_namespaces: 50,
            sim_watchers: 100,
            sim_lists: 30,
            baseline_deploys: 40,
            baseline_apps: 100,
            baseline_clusters: 4,
        }
    }

    /// A pass of a few minutes: the same shapes, smaller.
    pub fn quick() -> Sizes {
        Sizes {
            overhead_rates: vec![1.0, 10.0, 100.0],
            overhead_seconds: 5.0,
            overhead_apps: 200,
            overhead_clusters: 4,
            fleet_apps: 400,
            fleet_clusters: 8,
            steady_rate: 100.0,
            steady_seconds: 10.0,
            steady_apps: 500,
            steady_clusters: 5,
            growth_files: vec![100, 1000, 10_000],
            growth_history: 10_000,
            growth_deploys: 20,
            growth_clusters: vec![1, 10],
            growth_in_flight: 200,
            idle_clusters: 20,
            idle_seconds: 10.0,
            sim_deployments: 300,
            sim_namespaces: 15,
            sim_watchers: 30,
            sim_lists: 10,
            baseline_deploys: 10,
            baseline_apps: 40,
            baseline_clusters: 2,
        }
    }

    /// A few deploys on one or two clusters, for the smoke test.
    pub fn tiny() -> Sizes {
        Sizes {
            overhead_rates: vec![20.0],
            overhead_seconds: 0.2,
            overhead_apps: 4,
            overhead_clusters: 2,
            fleet_apps: 6,
            fleet_clusters: 2,
            steady_rate: 20.0,
            steady_seconds: 0.3,
            steady_apps: 6,
            steady_clusters: 1,
            growth_files: vec![10, 30],
            growth_history: 50,
            growth_deploys: 2,
            growth_clusters: vec![1, 2],
            growth_in_flight: 4,
            idle_clusters: 2,
            idle_seconds: 0.5,
            sim_deployments: 6,
            sim_namespaces: 2,
            sim_watchers: 2,
            sim_lists: 2,
            baseline_deploys: 2,
            baseline_apps: 3,
            baseline_clusters: 1,
        }
    }
}
