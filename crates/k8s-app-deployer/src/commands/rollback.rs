//! `rollback`: roll an application back (to a deployment, a tag, or its previous images) and
//! pin it, optionally waiting for the outcome.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::RollbackArgs;
use crate::client::ApiClient;
use crate::commands::deploy::{WAIT_MARGIN, wait_for};
use crate::console::{errln, outln};
use crate::exit;

/// The request body for `POST /api/v1/rollbacks`.
pub fn request_body(args: &RollbackArgs) -> Value {
    let mut body = json!({
        "region": args.region,
        "cluster": args.cluster,
        "file": args.file,
    });
    for (key, value) in [("to", &args.to), ("reason", &args.reason)] {
        if let Some(v) = value {
            body[key] = json!(v);
        }
    }
    if let Some(t) = args.timeout {
        body["timeout"] = json!(humantime::format_duration(t).to_string());
    }
    body
}

/// Runs `rollback`.
pub async fn run(args: RollbackArgs) -> ExitCode {
    let client = match ApiClient::new(&args.client) {
        Ok(c) => c,
        Err(e) => return crate::report_error(&e),
    };
    let accepted = match client.post("/api/v1/rollbacks", &request_body(&args)).await {
        Ok(v) => v,
        Err(e) => return crate::report_error(&e),
    };
    let id = accepted
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !args.wait {
        if args.client.json {
            outln!("{accepted}");
        } else {
            outln!("{id}");
            let undone = accepted.get("rollback_of").and_then(Value::as_str);
            match undone {
                Some(u) => errln!("rollback {id} of deployment {u} accepted"),
                None => errln!("rollback {id} accepted"),
            }
            errln!(
                "`{}/{}/{}` is pinned: registry and CI triggers leave it alone until `k8s-app-deployer unpin --region {} --cluster {} --file {}`",
                args.region,
                args.cluster,
                args.file,
                args.region,
                args.cluster,
                args.file
            );
        }
        return ExitCode::from(exit::SUCCEEDED);
    }
    let budget = args.timeout.map(|t| t + WAIT_MARGIN);
    wait_for(&client, &id, budget, args.client.json).await
}
