//! `pin` and `unpin`: hold an application where it is (automatic triggers leave it alone), or
//! let them deploy it again.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::{ClientArgs, PinArgs};
use crate::client::ClientError;
use crate::console::{errln, outln};
use crate::exit;

/// The API path of the pin of one application.
pub fn pin_path(args: &PinArgs) -> String {
    format!("/api/v1/pins/{}/{}/{}", args.region, args.cluster, args.file)
}

/// Sends `method path` with an optional JSON body and decodes the answer like the other
/// commands do.
async fn send(
    client: &ClientArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, ClientError> {
    let base = client.server.trim_end_matches('/').to_owned();
    let transport = |e: &reqwest::Error| ClientError::Transport {
        url: base.clone(),
        message: if e.is_connect() {
            "connection refused or unreachable".to_owned()
        } else if e.is_timeout() {
            "timed out".to_owned()
        } else {
            e.to_string()
        },
    };
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("k8s-app-deployer-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| transport(&e))?;
    let mut request = http.request(method, format!("{base}{path}"));
    if let Some(token) = &client.token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.map_err(|e| transport(&e))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| transport(&e))?;
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(value);
    }
    let text = |k: &str| {
        value
            .pointer(&format!("/error/{k}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Err(ClientError::Api {
        status: status.as_u16(),
        code: text("code").unwrap_or_else(|| "http_error".to_owned()),
        message: text("message").unwrap_or_else(|| format!("the server answered {status}")),
        hint: text("hint"),
    })
}

fn describe(pin: &Value) -> String {
    let text = |k: &str| pin.get(k).and_then(Value::as_str).unwrap_or("");
    let mut line = format!(
        "{}/{}/{} pinned by {} since {}",
        text("region"),
        text("cluster"),
        text("file"),
        text("pinned_by"),
        text("pinned_at")
    );
    if let Some(reason) = pin.get("reason").and_then(Value::as_str) {
        line.push_str(&format!(": {reason}"));
    }
    if let Some(id) = pin.get("deployment_id").and_then(Value::as_str) {
        line.push_str(&format!(" (held at deployment {id})"));
    }
    line
}

/// Runs `pin`.
pub async fn pin(args: PinArgs) -> ExitCode {
    let body = match &args.reason {
        Some(reason) => json!({ "reason": reason }),
        None => json!({}),
    };
    match send(&args.client, reqwest::Method::PUT, &pin_path(&args), Some(&body)).await {
        Ok(pin) => {
            if args.client.json {
                outln!("{pin}");
            } else {
                outln!("{}", describe(&pin));
            }
            ExitCode::from(exit::SUCCEEDED)
        }
        Err(e) => crate::report_error(&e),
    }
}

/// Runs `unpin`.
pub async fn unpin(args: PinArgs) -> ExitCode {
    match send(&args.client, reqwest::Method::DELETE, &pin_path(&args), None).await {
        Ok(pin) => {
            if args.client.json {
                outln!("{pin}");
            } else {
                outln!("unpinned {}/{}/{}", args.region, args.cluster, args.file);
                errln!("was: {}", describe(&pin));
            }
            ExitCode::from(exit::SUCCEEDED)
        }
        Err(e) => crate::report_error(&e),
    }
}
