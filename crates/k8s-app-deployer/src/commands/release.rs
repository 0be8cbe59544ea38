//! `release`: announce a build to the deployer. The branch selects the environment, the
//! deployer's rules select the targets, and one deployment is made per target.
//!
//! Branch, commit and build URL default from the CI system's environment variables, so a CI
//! job only needs `k8s-app-deployer release --image … --tag … --wait`.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::ReleaseArgs;
use crate::client::ApiClient;
use crate::commands::deploy::source_from_env;
use crate::console::{errln, out, outln};
use crate::exit;
use crate::output::target;

/// The body of `POST /api/v1/releases`, with the CI context of `source` (as built by
/// [`source_from_env`]) filling what the flags leave out.
///
/// # Errors
/// A message when no branch is known.
pub fn request_body(args: &ReleaseArgs, source: &Value) -> Result<Value, String> {
    let from_env = |k: &str| source.get(k).and_then(Value::as_str).map(str::to_owned);
    let branch = args.branch.clone().or_else(|| from_env("branch")).ok_or_else(|| {
        "no branch is known: pass `--branch`, or run inside a CI job that names its branch".to_owned()
    })?;
    let mut body = json!({ "tag": args.tag, "branch": branch });
    let fields = [
        ("image", args.image.clone()),
        ("app", args.app.clone()),
        ("commit", args.commit.clone().or_else(|| from_env("commit"))),
        ("build_url", args.build_url.clone().or_else(|| from_env("build_url"))),
        ("ci", from_env("ci")),
        ("idempotency_key", args.idempotency_key.clone()),
    ];
    for (key, value) in fields {
        if let Some(v) = value {
            body[key] = json!(v);
        }
    }
    if !args.files.is_empty() {
        body["files"] = json!(args.files);
    }
    if args.force {
        body["force"] = json!(true);
    }
    Ok(body)
}

/// The exit code for a release answer: 0 when every deployment succeeded or was unchanged
/// (or, without `--wait`, when deployments were queued), 1 when one failed, 2 when nothing
/// was deployed, 70 when the wait timed out.
pub fn exit_code(answer: &Value) -> u8 {
    if answer.get("timed_out").and_then(Value::as_bool) == Some(true) {
        return exit::TIMED_OUT;
    }
    match answer.get("outcome").and_then(Value::as_str) {
        Some("succeeded" | "queued" | "running") => exit::SUCCEEDED,
        Some("failed") => exit::FAILED,
        _ => exit::REJECTED,
    }
}

/// A human summary of a release answer.
pub fn summary(answer: &Value) -> String {
    let text = |k: &str| answer.get(k).and_then(Value::as_str).unwrap_or("");
    let mut out = format!("release {} {}\n", text("release_id"), text("outcome"));
    if !text("environment").is_empty() {
        out.push_str(&format!("  environment: {}\n", text("environment")));
    }
    for d in answer
        .get("deployments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let status = d.get("status").and_then(Value::as_str).unwrap_or("");
        let id = d.get("id").and_then(Value::as_str).unwrap_or("");
        let wrapped = json!({ "request": { "target": d.get("target").cloned().unwrap_or_default() } });
        out.push_str(&format!("  {:<10} {} ({id})\n", status, target(&wrapped)));
    }
    let mut unrelated = 0;
    for s in answer.get("skipped").and_then(Value::as_array).into_iter().flatten() {
        let reason = s.get("reason").and_then(Value::as_str).unwrap_or("");
        if reason == "image_not_in_file" {
            unrelated += 1;
            continue;
        }
        let message = s.get("message").and_then(Value::as_str).unwrap_or("");
        match s.get("target").filter(|t| t.is_object()) {
            Some(t) => {
                let wrapped = json!({ "request": { "target": t } });
                out.push_str(&format!("  skipped    {}: {message} [{reason}]\n", target(&wrapped)));
            }
            None => out.push_str(&format!("  skipped    {message} [{reason}]\n")),
        }
    }
    if unrelated > 0 {
        out.push_str(&format!(
            "  ({unrelated} other file{} of the environment {} not use the image; `--json` lists them)\n",
            if unrelated == 1 { "" } else { "s" },
            if unrelated == 1 { "does" } else { "do" }
        ));
    }
    out
}

/// Runs `release`.
pub async fn run(args: ReleaseArgs) -> ExitCode {
    let body = match request_body(&args, &source_from_env()) {
        Ok(b) => b,
        Err(message) => {
            errln!("error: {message}");
            return ExitCode::from(exit::REJECTED);
        }
    };
    let client = match ApiClient::new(&args.client) {
        Ok(c) => c,
        Err(e) => return crate::report_error(&e),
    };
    let mut path = "/api/v1/releases".to_owned();
    if args.wait {
        path.push_str("?wait=true");
        if let Some(t) = args.timeout {
            path.push_str(&format!("&timeout={}s", t.as_secs().max(1)));
        }
        if !args.client.json {
            errln!("release of `{}`: waiting for every deployment to end", args.tag);
        }
    }
    let answer = match client.post(&path, &body).await {
        Ok(v) => v,
        Err(e) => return crate::report_error(&e),
    };
    if args.client.json {
        outln!("{answer}");
    } else {
        out!("{}", summary(&answer));
    }
    let code = exit_code(&answer);
    if !args.client.json {
        match code {
            exit::REJECTED => errln!(
                "error: the release deployed nothing\n\nhint: each `skipped` line says why; the rules are in `[triggers]` of the deployer's configuration"
            ),
            exit::TIMED_OUT => errln!(
                "error: gave up waiting; the deployments go on\n\nhint: follow them with `k8s-app-deployer status <id> --wait`"
            ),
            _ => {}
        }
    }
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ReleaseArgs {
        ReleaseArgs {
            tag: "v1.4.2".to_owned(),
            image: Some("registry.example.com/team/api".to_owned()),
            app: None,
            branch: None,
            commit: None,
            build_url: None,
            files: Vec::new(),
            idempotency_key: None,
            force: false,
            wait: false,
            timeout: None,
            client: crate::cli::ClientArgs {
                server: "http://127.0.0.1:8080".to_owned(),
                token: None,
                json: false,
            },
        }
    }

    #[test]
    fn the_ci_environment_fills_branch_commit_and_build_url() {
        let source = json!({"kind": "ci", "ci": "semaphore", "branch": "master", "commit": "4f2a9c1", "build_url": "https://x/wf/1"});
        let body = request_body(&args(), &source).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["branch"], "master");
        assert_eq!(body["ci"], "semaphore");
        assert_eq!(body["commit"], "4f2a9c1");
        assert_eq!(body["image"], "registry.example.com/team/api");
        let mut flagged = args();
        flagged.branch = Some("stage".to_owned());
        let body = request_body(&flagged, &source).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["branch"], "stage", "a flag wins over the environment");
    }

    #[test]
    fn without_a_branch_the_release_is_refused_before_any_call() {
        let err = request_body(&args(), &json!({"kind": "cli"})).err().unwrap_or_default();
        assert!(err.contains("--branch"), "{err}");
    }

    #[test]
    fn the_summary_counts_files_that_do_not_use_the_image_instead_of_listing_them() {
        let unrelated = json!({"target": {"region": "r", "cluster": "c", "file": "api"}, "reason": "image_not_in_file", "message": "x"});
        let gate = json!({"target": {"region": "r", "cluster": "c", "file": "web"}, "reason": "promotion_gate", "message": "promotion gate: not yet"});
        let answer = json!({"release_id": "01J", "outcome": "rejected", "deployments": [], "skipped": [unrelated.clone(), unrelated, gate]});
        let text = summary(&answer);
        assert!(
            text.contains("r/c/web: promotion gate: not yet [promotion_gate]"),
            "{text}"
        );
        assert!(
            text.contains("(2 other files of the environment do not use the image"),
            "{text}"
        );
        assert!(!text.contains("r/c/api"), "{text}");
    }

    #[test]
    fn exit_codes_follow_the_combined_outcome() {
        assert_eq!(
            exit_code(&json!({"outcome": "succeeded", "timed_out": false})),
            exit::SUCCEEDED
        );
        assert_eq!(exit_code(&json!({"outcome": "queued"})), exit::SUCCEEDED);
        assert_eq!(exit_code(&json!({"outcome": "failed"})), exit::FAILED);
        assert_eq!(exit_code(&json!({"outcome": "rejected"})), exit::REJECTED);
        assert_eq!(
            exit_code(&json!({"outcome": "running", "timed_out": true})),
            exit::TIMED_OUT
        );
    }
}
