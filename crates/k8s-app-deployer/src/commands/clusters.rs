//! `clusters`: what runs where.

use std::process::ExitCode;

use serde_json::Value;

use crate::cli::ClientArgs;
use crate::client::ApiClient;
use crate::console::outln;
use crate::exit;

/// Runs `clusters`.
pub async fn run(args: ClientArgs) -> ExitCode {
    let client = match ApiClient::new(&args) {
        Ok(c) => c,
        Err(e) => return crate::report_error(&e),
    };
    match client.get("/api/v1/clusters").await {
        Ok(v) => {
            if args.json {
                outln!("{v}");
                return ExitCode::from(exit::SUCCEEDED);
            }
            let clusters = v.get("clusters").and_then(Value::as_array).cloned().unwrap_or_default();
            for c in clusters {
                let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                let configured = c.get("configured").and_then(Value::as_bool).unwrap_or(true);
                let reachable = match (configured, c.get("reachable").and_then(Value::as_bool)) {
                    (false, _) => "no credentials configured: commit-only",
                    (true, Some(true)) => "reachable",
                    (true, Some(false)) => "UNREACHABLE",
                    (true, None) => "unknown",
                };
                outln!("{}/{}  ({reachable})", s("region"), s("cluster"));
                for app in c.get("apps").and_then(Value::as_array).cloned().unwrap_or_default() {
                    let images: Vec<String> = app
                        .get("images")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                        .unwrap_or_default();
                    outln!(
                        "  {:<24} {}",
                        app.get("file").and_then(Value::as_str).unwrap_or(""),
                        images.join(", ")
                    );
                }
            }
            ExitCode::from(exit::SUCCEEDED)
        }
        Err(e) => crate::report_error(&e),
    }
}
