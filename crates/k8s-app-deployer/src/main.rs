//! The `k8s-app-deployer` binary: the service (`serve`, `demo`) and its command-line client.
//!
//! Exit codes: 0 succeeded or unchanged, 1 failed, 2 rejected (bad input, not allowed,
//! usage error), 69 the deployer could not be reached, 70 timed out waiting.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod client;
mod commands;
mod console;
mod events;
mod exit;
mod output;
mod service;
mod telemetry;

use cli::{Cli, Command};
use console::errln;

/// Prints an API or transport error in the CLI's style and returns its exit code.
pub(crate) fn report_error(e: &client::ClientError) -> ExitCode {
    match e {
        client::ClientError::Api { hint, code, .. } => {
            errln!("error: {e} [{code}]");
            if let Some(h) = hint {
                errln!("\nhint: {h}");
            }
        }
        client::ClientError::Transport { .. } => {
            errln!("error: {e}");
            errln!("\nhint: check `--server` / `K8S_APP_DEPLOYER_URL`, and that the deployer is running");
        }
    }
    commands::deploy::exit_code_for(e)
}

/// The most threads for blocking work (the configuration repository's git operations, and the
/// demo's simulated clusters). A burst of requests each reading the repository used to start a
/// thread apiece (Tokio allows 512), and every thread costs a stack and soon a malloc arena of
/// its own; beyond a few per core they add memory, not throughput. Work beyond the limit waits
/// for a free thread.
const MAX_BLOCKING_THREADS: usize = 16;

/// Bounds the service's malloc arenas and fixes its thresholds (see `deployer-malloc`), before
/// any thread starts, and starts the thread that gives freed memory back. Settings the operator
/// made in the environment win; a refused value is reported, and it and the ones after it stay
/// at glibc's defaults.
fn tune_heap() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let planned = deployer_malloc::plan(cores, |name| std::env::var(name).ok());
    if let Err(e) = deployer_malloc::apply(&planned) {
        errln!("warning: {e}; the allocator keeps its defaults for the rest");
    }
    if let Err(e) = deployer_malloc::start_trimmer(deployer_malloc::TRIM_EVERY) {
        errln!("warning: cannot start the heap trimmer ({e}); freed memory is given back less often");
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::REJECTED
            } else {
                exit::SUCCEEDED
            });
        }
    };
    if matches!(cli.command, Command::Serve(_) | Command::Demo(_)) {
        tune_heap();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Deploy(args) => commands::deploy::run(args).await,
            Command::Release(args) => commands::release::run(args).await,
            Command::Status(args) => commands::status::run(args).await,
            Command::History(args) => commands::history::run(args).await,
            Command::Clusters(args) => commands::clusters::run(args).await,
            Command::Rollback(args) => commands::rollback::run(args).await,
            Command::Pin(args) => commands::pin::pin(args).await,
            Command::Unpin(args) => commands::pin::unpin(args).await,
            Command::Serve(args) => commands::serve::run(args).await,
            Command::Demo(args) => commands::demo::run(args).await,
            Command::Token(args) => commands::token::run(args).await,
        }
    })
}
