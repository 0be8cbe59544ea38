//! `history`: list deployments.

use std::process::ExitCode;

use serde_json::Value;

use crate::cli::HistoryArgs;
use crate::client::ApiClient;
use crate::console::outln;
use crate::exit;
use crate::output::target;

fn query(args: &HistoryArgs) -> String {
    let mut pairs = vec![format!("limit={}", args.limit)];
    for (k, v) in [
        ("region", &args.region),
        ("cluster", &args.cluster),
        ("file", &args.file),
        ("status", &args.status),
    ] {
        if let Some(v) = v {
            pairs.push(format!("{k}={}", url_encode(v)));
        }
    }
    pairs.join("&")
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `history`.
pub async fn run(args: HistoryArgs) -> ExitCode {
    let client = match ApiClient::new(&args.client) {
        Ok(c) => c,
        Err(e) => return crate::report_error(&e),
    };
    match client.get(&format!("/api/v1/deployments?{}", query(&args))).await {
        Ok(page) => {
            if args.client.json {
                outln!("{page}");
                return ExitCode::from(exit::SUCCEEDED);
            }
            let items = page.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
            if items.is_empty() {
                outln!("No deployments found.");
                return ExitCode::from(exit::SUCCEEDED);
            }
            outln!(
                "{:<26}  {:<10}  {:<36}  {:<20}  CREATED",
                "ID",
                "STATUS",
                "TARGET",
                "NEW IMAGE"
            );
            for d in items {
                let new = d
                    .get("new_images")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                    .unwrap_or("-")
                    .rsplit('/')
                    .next()
                    .unwrap_or("-")
                    .to_owned();
                outln!(
                    "{:<26}  {:<10}  {:<36}  {:<20}  {}",
                    d.get("id").and_then(Value::as_str).unwrap_or(""),
                    d.get("status").and_then(Value::as_str).unwrap_or(""),
                    target(&d),
                    new,
                    d.get("created_at").and_then(Value::as_str).unwrap_or("")
                );
            }
            ExitCode::from(exit::SUCCEEDED)
        }
        Err(e) => crate::report_error(&e),
    }
}
