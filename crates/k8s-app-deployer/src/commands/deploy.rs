//! `deploy`: request a deployment, optionally wait for its real outcome.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::DeployArgs;
use crate::client::{ApiClient, ClientError, is_terminal};
use crate::console::{errln, out, outln};
use crate::exit;
use crate::output::{Progress, summary};

/// The request body for `POST /api/v1/deployments`.
pub fn request_body(args: &DeployArgs) -> Value {
    let mut body = json!({
        "region": args.region,
        "cluster": args.cluster,
        "file": args.file,
        "method": args.method,
        "source": source_from_env(),
    });
    let fields = [
        ("tag", &args.tag),
        ("image", &args.image),
        ("container", &args.container),
        ("reason", &args.reason),
        ("idempotency_key", &args.idempotency_key),
    ];
    for (key, value) in fields {
        if let Some(v) = value {
            body[key] = json!(v);
        }
    }
    if let Some(t) = args.timeout {
        body["timeout"] = json!(humantime::format_duration(t).to_string());
    }
    body
}

/// The CI context of the environment, when run inside a known CI system.
pub fn source_from_env() -> Value {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (ci, branch, commit, build_url) = if var("SEMAPHORE").is_some() || var("SEMAPHORE_GIT_SHA").is_some() {
        let url = match (var("SEMAPHORE_ORGANIZATION_URL"), var("SEMAPHORE_WORKFLOW_ID")) {
            (Some(org), Some(wf)) => Some(format!("{org}/workflows/{wf}")),
            _ => None,
        };
        (
            Some("semaphore"),
            var("SEMAPHORE_GIT_BRANCH"),
            var("SEMAPHORE_GIT_SHA"),
            url,
        )
    } else if var("GITHUB_ACTIONS").is_some() {
        let url = match (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
            (Some(s), Some(r), Some(id)) => Some(format!("{s}/{r}/actions/runs/{id}")),
            _ => None,
        };
        (Some("github-actions"), var("GITHUB_REF_NAME"), var("GITHUB_SHA"), url)
    } else if var("GITLAB_CI").is_some() {
        (
            Some("gitlab-ci"),
            var("CI_COMMIT_BRANCH").or_else(|| var("CI_COMMIT_REF_NAME")),
            var("CI_COMMIT_SHA"),
            var("CI_PIPELINE_URL"),
        )
    } else if var("CIRCLECI").is_some() {
        (
            Some("circleci"),
            var("CIRCLE_BRANCH"),
            var("CIRCLE_SHA1"),
            var("CIRCLE_BUILD_URL"),
        )
    } else if var("JENKINS_URL").is_some() {
        let branch =
            var("BRANCH_NAME").or_else(|| var("GIT_BRANCH").map(|b| b.trim_start_matches("origin/").to_owned()));
        (Some("jenkins"), branch, var("GIT_COMMIT"), var("BUILD_URL"))
    } else {
        (None, None, None, None)
    };
    let mut source = json!({"kind": if ci.is_some() { "ci" } else { "cli" }});
    for (k, v) in [
        ("ci", ci.map(str::to_owned)),
        ("branch", branch),
        ("commit", commit),
        ("build_url", build_url),
    ] {
        if let Some(v) = v {
            source[k] = json!(v);
        }
    }
    source
}

/// Runs `deploy`.
pub async fn run(args: DeployArgs) -> ExitCode {
    let client = match ApiClient::new(&args.client) {
        Ok(c) => c,
        Err(e) => return crate::report_error(&e),
    };
    let accepted = match client.post("/api/v1/deployments", &request_body(&args)).await {
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
            errln!("deployment {id} accepted; follow it with `k8s-app-deployer status {id} --wait`");
        }
        return ExitCode::from(exit::SUCCEEDED);
    }
    // The rollout itself may take `--timeout`; committing and applying come on top of it.
    let budget = args.timeout.map(|t| t + WAIT_MARGIN);
    wait_for(&client, &id, budget, args.client.json).await
}

/// How much longer than the rollout timeout `deploy --wait --timeout` waits, so that the
/// server's own verdict (with the pods' reasons) arrives before the client gives up.
pub const WAIT_MARGIN: Duration = Duration::from_secs(30);

/// Follows a deployment to its end (or the timeout) and returns the exit code.
pub async fn wait_for(client: &ApiClient, id: &str, timeout: Option<Duration>, json: bool) -> ExitCode {
    let mut progress = Progress::new();
    if !json {
        errln!("deployment {id}: waiting for the outcome");
    }
    let follow = client.follow(id, |kind, record| {
        if !json {
            progress.show(kind, record);
        }
    });
    let outcome = match timeout {
        Some(t) => match tokio::time::timeout(t, follow).await {
            Ok(r) => r,
            Err(_) => {
                let current = client
                    .get(&format!("/api/v1/deployments/{id}"))
                    .await
                    .unwrap_or_default();
                if json {
                    outln!("{}", json!({"timed_out": true, "deployment": current}));
                } else {
                    out!("{}", summary(&current));
                    errln!(
                        "error: gave up waiting after {}; the deployment goes on\n\nhint: follow it with `k8s-app-deployer status {id} --wait`",
                        humantime::format_duration(t)
                    );
                }
                return ExitCode::from(exit::TIMED_OUT);
            }
        },
        None => follow.await,
    };
    match outcome {
        Ok(record) => {
            if json {
                outln!("{record}");
            } else {
                out!("{}", summary(&record));
            }
            if !is_terminal(&record) {
                return ExitCode::from(exit::TIMED_OUT);
            }
            exit::for_status(record.get("status").and_then(Value::as_str).unwrap_or(""))
        }
        Err(e) => crate::report_error(&e),
    }
}

/// Whether an error is a rejection (exit 2) or an outage (exit 69).
pub fn exit_code_for(e: &ClientError) -> ExitCode {
    if e.is_rejection() {
        ExitCode::from(exit::REJECTED)
    } else {
        ExitCode::from(exit::UNAVAILABLE)
    }
}
