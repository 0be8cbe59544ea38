//! `kube-sim`: run a simulated Kubernetes API server until SIGTERM or SIGINT.
//!
//! Prints the bound address as one line on stdout, writes a kubeconfig, and logs to stderr.
//! Exit codes: 0 after a signal, 2 for usage or configuration errors, 1 if serving failed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use kube_sim::clock::{ClockMode, Profile};
use kube_sim::images::ImageRules;
use kube_sim::server::{SimCluster, SimOptions};

/// Timing profiles.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProfileArg {
    /// Quick timings for tests (tick 25 ms, pods ready after 150 ms).
    Fast,
    /// Timings of a small real cluster (tick 100 ms, pods ready after 2 s).
    Realistic,
}

/// Clock modes.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ClockArg {
    /// Simulated time follows wall time.
    Realtime,
    /// Time moves only through `POST /_sim/advance`.
    Manual,
}

/// A Kubernetes API server double with simulated Deployment, ReplicaSet and Pod controllers.
///
/// Prints the bound address as one line on stdout, writes a kubeconfig (one cluster, user and
/// context named after --cluster-name, namespace `default`) and serves until SIGTERM or
/// SIGINT. The simulation is controlled through `/_sim/` (advance, images, compact,
/// drop-watches, pause-controllers, resume-controllers, faults, state, requests). Logs go to
/// stderr; set RUST_LOG=debug to log every request.
#[derive(Debug, Parser)]
#[command(name = "kube-sim", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port. The bound address is printed on stdout.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Write a kubeconfig for the cluster to this path.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Name of the cluster, its kubeconfig context and user.
    #[arg(long, default_value = "kube-sim")]
    cluster_name: String,
    /// Seed of every random choice (uids, pod name suffixes, fault rolls).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Require `Authorization: Bearer <TOKEN>` on every request (401 otherwise).
    #[arg(long, env = "KUBE_SIM_TOKEN")]
    token: Option<String>,
    /// Serve HTTPS with a fresh self-signed CA (written into the kubeconfig).
    #[arg(long)]
    tls: bool,
    /// YAML file of per-image pod behaviour rules; the first matching rule wins.
    ///
    /// A list such as `- {match: "registry.example.com/web:*", behaviour: ready, after: 2s}`;
    /// behaviours are `ready`, `never-ready`, `image-pull-error`, `crash-loop` and
    /// `ready-then-fail`. Without a matching rule, tags ending in `-never-ready`, `-bad-pull` or
    /// `-crash` select those behaviours and anything else becomes ready.
    #[arg(long, value_name = "RULES.yaml")]
    images: Option<PathBuf>,
    /// Timing profile.
    #[arg(long, value_enum, default_value = "realistic")]
    profile: ProfileArg,
    /// Clock mode.
    #[arg(long, value_enum, default_value = "realtime")]
    clock: ClockArg,
}

fn options(args: &Args) -> anyhow::Result<SimOptions> {
    let images = match &args.images {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read image rules `{}`", path.display()))?;
            ImageRules::from_yaml(&text).with_context(|| format!("invalid image rules in `{}`", path.display()))?
        }
        None => ImageRules::default(),
    };
    Ok(SimOptions {
        name: args.cluster_name.clone(),
        listen: args.listen,
        seed: args.seed,
        token: args.token.clone().filter(|t| !t.is_empty()),
        tls: args.tls,
        images,
        profile: match args.profile {
            ProfileArg::Fast => Profile::fast(),
            ProfileArg::Realistic => Profile::realistic(),
        },
        clock: match args.clock {
            ClockArg::Realtime => ClockMode::Realtime,
            ClockArg::Manual => ClockMode::Manual,
        },
        ..SimOptions::default()
    })
}

/// Listens for SIGTERM and SIGINT; resolves when one arrives.
fn listen_for_signals() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("failed to listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("failed to listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Listen before announcing the address: a signal sent as soon as the address is read
    // must stop the server cleanly, not kill it.
    let signalled = listen_for_signals()?;
    let cluster = SimCluster::start(options(&args)?).await?;
    if let Some(path) = &args.kubeconfig_out {
        std::fs::write(path, cluster.kubeconfig())
            .with_context(|| format!("failed to write the kubeconfig to `{}`", path.display()))?;
    }
    println!("{}", cluster.addr());
    signalled.await;
    cluster.shutdown().await;
    Ok(())
}

fn main() -> ExitCode {
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
