//! `serve`: run the service from a configuration file and the environment.

use std::process::ExitCode;

use deployer_server::config::{RawConfig, Settings};
use tracing::{error, info};

use crate::cli::ServeArgs;
use crate::console::errln;
use crate::{exit, service, telemetry};

/// Runs `serve`.
pub async fn run(args: ServeArgs) -> ExitCode {
    telemetry::init(args.log_format);
    let path = args.config.exists().then_some(args.config.as_path());
    if path.is_none() && args.config.as_os_str() != "deployer.toml" {
        errln!("error: configuration file `{}` does not exist", args.config.display());
        errln!("\nhint: pass `--config PATH`, or set every key with `K8S_APP_DEPLOYER_<SECTION>_<KEY>`");
        return ExitCode::from(exit::REJECTED);
    }
    let settings = match RawConfig::collect(path).and_then(|raw| Settings::from_raw(&raw)) {
        Ok(s) => s,
        Err(e) => return config_error(&e),
    };
    let adapters = match service::adapter_settings(&settings) {
        Ok(a) => a,
        Err(e) => return config_error(&e),
    };
    let reload_from = path.map(std::path::Path::to_path_buf);
    serve(settings, adapters, reload_from).await
}

fn config_error(e: &deployer_server::config::ConfigError) -> ExitCode {
    errln!("error: the configuration is invalid");
    for p in &e.problems {
        errln!("  {}: {}", p.key, p.message);
        if let Some(h) = &p.hint {
            errln!("    hint: {h}");
        }
    }
    ExitCode::from(exit::REJECTED)
}

/// Starts the service and serves until SIGTERM or Ctrl-C. On SIGHUP the `[triggers]` section
/// is reloaded from `reload_from` (and the environment); a bad reload keeps the rules in force.
pub async fn serve(
    settings: Settings,
    adapters: service::AdapterSettings,
    reload_from: Option<std::path::PathBuf>,
) -> ExitCode {
    let listen = settings.server.listen;
    let server = match service::start(settings, adapters).await {
        Ok(s) => s,
        Err(e) => {
            errln!("error: {e:#}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            errln!("error: cannot listen on {listen}: {e}");
            errln!("\nhint: choose another address with `[server] listen` or `--listen`");
            return ExitCode::from(exit::FAILED);
        }
    };
    info!(message = "Listening.", address = %listen);
    tokio::spawn(deployer_server::reload_on_hangup(
        server.trigger_reloader(),
        reload_from,
    ));
    match server.serve(listener, deployer_server::shutdown_signal()).await {
        Ok(()) => ExitCode::from(exit::SUCCEEDED),
        Err(e) => {
            error!(message = "The server stopped with an error.", error = %e);
            ExitCode::from(exit::FAILED)
        }
    }
}
