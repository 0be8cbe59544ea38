//! The CLI when nobody reads what it prints: `deploy … --wait | head -3`, or a redirect that fails.

use std::io::pipe;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::{Demo, binary};

/// A pipe whose reading end is already closed: every write to it fails with `EPIPE`.
fn closed_pipe() -> Stdio {
    let (reader, writer) = pipe().expect("a pipe");
    drop(reader);
    Stdio::from(writer)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pipe_neither_panics_the_cli_nor_hides_the_deployments_outcome() {
    let demo = Demo::start().await;
    // `deploy … --wait` with both streams closed before the CLI starts.
    let deploy = |tag: &str, timeout: &str| {
        demo.cli_command(&[
            "deploy",
            "--region",
            "us-west-2",
            "--cluster",
            "prod-1",
            "--file",
            "web",
            "--tag",
            tag,
            "--timeout",
            timeout,
            "--wait",
        ])
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .status()
        .expect("the CLI runs")
    };
    // Progress, the summary and the hints all go nowhere; the exit code still tells the outcome.
    assert_eq!(deploy("3.0.0", "60s").code(), Some(0), "succeeded, not a panic (101)");
    assert_eq!(
        demo.cluster_image("us-west-2-prod-1", "web"),
        "ghcr.io/example/web:3.0.0"
    );
    let failed = deploy("3.0.1-never-ready", "3s");
    assert_eq!(failed.code(), Some(1), "a failed deployment still exits 1");

    let history = demo
        .cli_command(&["history", "--file", "web"])
        .stdout(closed_pipe())
        .status()
        .expect("the CLI runs");
    assert_eq!(history.code(), Some(0));
}

#[test]
fn a_token_that_cannot_be_shown_is_revoked_and_the_command_fails() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("deployer.toml");
    let db = dir.path().join("deployer.db");
    std::fs::write(&config, format!("[store]\nurl = \"sqlite://{}\"\n", db.display())).expect("the config");
    let token = |args: &[&str]| {
        let mut cmd = Command::new(binary());
        cmd.arg("token").args(args).arg("--config").arg(&config);
        cmd
    };

    let lost = token(&["create", "--name", "ci", "--scope", "read:*"])
        .stdout(closed_pipe())
        .output()
        .expect("the CLI runs");
    let err = String::from_utf8_lossy(&lost.stderr);
    assert_eq!(lost.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: cannot write the token to standard output"),
        "{err}"
    );
    assert!(err.contains("was revoked again"), "{err}");

    let listed = token(&["list", "--json"]).output().expect("the CLI runs");
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let all: Value = serde_json::from_slice(&listed.stdout).expect("token list --json prints JSON");
    let all = all.as_array().expect("a list");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["status"], "revoked", "{all:?}");

    let shown = token(&["create", "--name", "ci-2", "--scope", "read:*"])
        .output()
        .expect("the CLI runs");
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    assert!(String::from_utf8_lossy(&shown.stdout).starts_with("kad_"));
}
