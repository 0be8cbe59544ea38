//! `status`: show one deployment, or follow it to its end.

use std::process::ExitCode;

use serde_json::Value;

use crate::cli::StatusArgs;
use crate::client::ApiClient;
use crate::console::{out, outln};
use crate::exit;
use crate::output::summary;

/// Runs `status`.
pub async fn run(args: StatusArgs) -> ExitCode {
    let client = match ApiClient::new(&args.client) {
        Ok(c) => c,
        Err(e) => return crate::report_error(&e),
    };
    if args.wait {
        return super::deploy::wait_for(&client, &args.id, args.timeout, args.client.json).await;
    }
    match client.get(&format!("/api/v1/deployments/{}", args.id)).await {
        Ok(record) => {
            if args.client.json {
                outln!("{record}");
            } else {
                out!("{}", summary(&record));
            }
            match record.get("status").and_then(Value::as_str) {
                Some("failed") => ExitCode::from(exit::FAILED),
                _ => ExitCode::from(exit::SUCCEEDED),
            }
        }
        Err(e) => crate::report_error(&e),
    }
}
