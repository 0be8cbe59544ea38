//! `deployer-bench`: the load harness of k8s-app-deployer.
//!
//! Runs a scenario (or `all`) against the deployer running as its own process, kube-sim
//! clusters in this process and a bare git remote on local disk, then prints each scenario's
//! results as Markdown and writes `results.md` and `results.json` into `--out`.
//! Exit codes: 0 every scenario ran (whether or not targets were met), 1 a scenario failed,
//! 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use deployer_bench::config::QueueOverrides;
use deployer_bench::deployer::Launch;
use deployer_bench::report::ScenarioReport;
use deployer_bench::scenarios::{self, Ctx, NAMES, Sizes};

/// The load harness of k8s-app-deployer.
///
/// Scenarios: overhead, fleet, steady, growth, idle, kube-sim, baseline, or all.
#[derive(Debug, Parser)]
#[command(name = "deployer-bench")]
struct Args {
    /// The scenario to run.
    scenario: String,
    /// Smaller sizes: a full pass in a few minutes.
    #[arg(long)]
    quick: bool,
    /// The `k8s-app-deployer` binary (default: the release binary of this workspace's target directory).
    #[arg(long, value_name = "PATH")]
    deployer: Option<PathBuf>,
    /// Run the deployer inside the harness instead of as its own process (CPU and memory then include the harness).
    #[arg(long)]
    in_process: bool,
    /// Where worlds are created (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Where `results.md` and `results.json` are written.
    #[arg(long, value_name = "DIR", default_value = "target/bench-results")]
    out: PathBuf,
    /// `[queue] concurrency` for the deployer (its default when absent).
    #[arg(long)]
    queue_concurrency: Option<usize>,
    /// `[queue] cluster_concurrency` for the deployer (its default when absent).
    #[arg(long)]
    cluster_concurrency: Option<usize>,
    /// The niceness (0 to 19) of the simulated clusters' controller passes. A real cluster's
    /// controllers run on machines of their own; 0 lets them compete with the deployer.
    #[arg(long, default_value_t = scenarios::CONTROLLER_NICENESS)]
    controller_niceness: i32,
    /// overhead: request rates per second, comma-separated.
    #[arg(long, value_delimiter = ',')]
    rates: Option<Vec<f64>>,
    /// overhead: seconds of load per rate.
    #[arg(long)]
    overhead_seconds: Option<f64>,
    /// overhead: applications.
    #[arg(long)]
    overhead_apps: Option<usize>,
    /// fleet: applications.
    #[arg(long)]
    fleet_apps: Option<usize>,
    /// fleet: clusters.
    #[arg(long)]
    fleet_clusters: Option<usize>,
    /// steady: deploys per second.
    #[arg(long)]
    steady_rate: Option<f64>,
    /// steady: seconds.
    #[arg(long)]
    steady_seconds: Option<f64>,
    /// steady: applications.
    #[arg(long)]
    steady_apps: Option<usize>,
    /// growth: repository sizes in files, comma-separated.
    #[arg(long, value_delimiter = ',')]
    growth_files: Option<Vec<usize>>,
    /// growth: commits of history (0 skips the history case).
    #[arg(long)]
    growth_history: Option<usize>,
    /// growth: deploys measured per repository.
    #[arg(long)]
    growth_deploys: Option<usize>,
    /// growth: cluster counts, comma-separated.
    #[arg(long, value_delimiter = ',')]
    growth_clusters: Option<Vec<usize>>,
    /// growth: deploys in flight at the largest cluster count.
    #[arg(long)]
    growth_in_flight: Option<usize>,
    /// idle: clusters configured.
    #[arg(long)]
    idle_clusters: Option<usize>,
    /// idle: seconds measured.
    #[arg(long)]
    idle_seconds: Option<f64>,
    /// kube-sim: Deployments.
    #[arg(long)]
    sim_deployments: Option<usize>,
    /// kube-sim: namespaces.
    #[arg(long)]
    sim_namespaces: Option<usize>,
    /// kube-sim: concurrent watches.
    #[arg(long)]
    sim_watchers: Option<usize>,
    /// Scripted deploys per baseline measurement.
    #[arg(long)]
    baseline_deploys: Option<usize>,
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *target = v;
    }
}

fn sizes(args: &Args) -> Sizes {
    let mut s = if args.quick { Sizes::quick() } else { Sizes::full() };
    set(&mut s.overhead_rates, args.rates.clone());
    set(&mut s.overhead_seconds, args.overhead_seconds);
    set(&mut s.overhead_apps, args.overhead_apps);
    set(&mut s.fleet_apps, args.fleet_apps);
    set(&mut s.fleet_clusters, args.fleet_clusters);
    set(&mut s.steady_rate, args.steady_rate);
    set(&mut s.steady_seconds, args.steady_seconds);
    set(&mut s.steady_apps, args.steady_apps);
    set(&mut s.growth_files, args.growth_files.clone());
    set(&mut s.growth_history, args.growth_history);
    set(&mut s.growth_deploys, args.growth_deploys);
    set(&mut s.growth_clusters, args.growth_clusters.clone());
    set(&mut s.growth_in_flight, args.growth_in_flight);
    set(&mut s.idle_clusters, args.idle_clusters);
    set(&mut s.idle_seconds, args.idle_seconds);
    set(&mut s.sim_deployments, args.sim_deployments);
    set(&mut s.sim_namespaces, args.sim_namespaces);
    set(&mut s.sim_watchers, args.sim_watchers);
    set(&mut s.baseline_deploys, args.baseline_deploys);
    s
}

fn write_results(out: &std::path::Path, reports: &[ScenarioReport], errors: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let markdown: String = reports.iter().map(ScenarioReport::markdown).collect();
    std::fs::write(out.join("results.md"), markdown)?;
    let json = serde_json::json!({ "scenarios": reports, "errors": errors });
    std::fs::write(out.join("results.json"), serde_json::to_vec_pretty(&json)?)?;
    Ok(())
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let names: Vec<&str> = match args.scenario.as_str() {
        "all" => NAMES.to_vec(),
        one if NAMES.contains(&one) => vec![one],
        other => {
            eprintln!(
                "error: unknown scenario `{other}`\n\nhint: the scenarios are {}, or `all`",
                NAMES.join(", ")
            );
            return ExitCode::from(2);
        }
    };
    let launch = match (&args.deployer, args.in_process) {
        (_, true) => Launch::InProcess,
        (Some(binary), false) => Launch::Process { binary: binary.clone() },
        (None, false) => Launch::release_binary(),
    };
    let temp = match &args.work_dir {
        Some(_) => None,
        None => match tempfile::Builder::new().prefix("deployer-bench-").tempdir() {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: cannot create a work directory: {e}");
                return ExitCode::from(1);
            }
        },
    };
    let root = args
        .work_dir
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()))
        .unwrap_or_default();
    let ctx = Ctx {
        launch,
        root,
        sizes: sizes(&args),
        queue: QueueOverrides {
            concurrency: args.queue_concurrency,
            cluster_concurrency: args.cluster_concurrency,
        },
        controller_niceness: args.controller_niceness,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        eprintln!("==> {name}");
        match runtime.block_on(scenarios::run(&ctx, name)) {
            Ok(report) => {
                println!("{}", report.markdown());
                reports.push(report);
            }
            Err(e) => {
                eprintln!("error: scenario `{name}` failed: {e:#}");
                errors.push(format!("{name}: {e:#}"));
            }
        }
        if let Err(e) = write_results(&args.out, &reports, &errors) {
            eprintln!("error: cannot write the results into `{}`: {e:#}", args.out.display());
            return ExitCode::from(1);
        }
    }
    drop(temp);
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
