//! End-to-end tests of the deploy pipeline: the real binary (`demo`), a real git remote,
//! kube-sim clusters seen through the real `kubectl`, SQLite, HTTP and the CLI.

mod closed_output;
mod harness;

use std::time::Duration;

use harness::{Demo, body, clone_remote, git_in};
use serde_json::json;

const WEB: &str = "us-west-2/staging-1/apps/web.yaml";

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_lands_one_commit_with_only_the_tag_changed_and_the_cluster_runs_it() {
    let demo = Demo::start().await;
    let before = demo.commit_count();
    let original = demo.file_at_tip(WEB);

    let (status, record) = demo.deploy(body("us-west-2", "staging-1", "web", "1.5.0"), true).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "succeeded", "{record}");
    let sha = record["commit_sha"].as_str().expect("a commit sha").to_owned();

    // Exactly one new commit, the recorded one, whose diff is the tag and nothing else.
    assert_eq!(demo.commit_count(), before + 1);
    assert_eq!(demo.git(&["rev-parse", "main"]).trim(), sha);
    let changed = demo.git(&["diff", "--name-only", "main~1", "main"]);
    assert_eq!(changed.trim(), WEB);
    assert_eq!(demo.file_at_tip(WEB), original.replace("web:1.4.2", "web:1.5.0"));
    let message = demo.git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        message.starts_with("deploy web 1.4.2 → 1.5.0 to us-west-2/staging-1"),
        "{message}"
    );
    assert!(
        message.contains(&format!("Deployment-Id: {}", record["id"].as_str().unwrap_or_default())),
        "{message}"
    );
    assert!(message.contains("Requested-By: demo"), "{message}");

    // The cluster runs the new image, as kubectl sees it.
    assert_eq!(
        demo.cluster_image("us-west-2-staging-1", "web"),
        "ghcr.io/example/web:1.5.0"
    );
    assert_eq!(record["rollout"]["updated"], 2);
    assert_eq!(record["old_images"], json!(["ghcr.io/example/web:1.4.2"]));
    assert_eq!(record["new_images"], json!(["ghcr.io/example/web:1.5.0"]));

    // The same tag again: unchanged, and no second commit.
    let (_, again) = demo.deploy(body("us-west-2", "staging-1", "web", "1.5.0"), true).await;
    assert_eq!(again["status"], "unchanged", "{again}");
    assert!(again.get("commit_sha").is_none_or(|v| v.is_null()), "{again}");
    assert_eq!(demo.commit_count(), before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_never_ready_tag_fails_with_the_pods_reason() {
    let demo = Demo::start().await;
    let mut request = body("dc1", "dev-1", "worker", "1.0.0-never-ready");
    request["timeout"] = json!("3s");
    let (status, record) = demo.deploy(request, true).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["failure"]["code"], "timed_out", "{record}");
    let message = record["failure"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Deployment/worker"), "{message}");
    let pods = record["failure"]["pods"].as_array().cloned().unwrap_or_default();
    assert!(!pods.is_empty(), "the failure names the pods: {record}");
    assert_eq!(pods[0]["reason"], "NotReady", "{record}");
    // The commit was made (git is the truth), and the old pods still serve.
    assert!(record["commit_sha"].is_string(), "{record}");
    let out = demo.kubectl(
        "dc1-dev-1",
        &[
            "get",
            "deployment",
            "worker",
            "-o",
            "jsonpath={.status.availableReplicas}",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_race_with_another_writer_lands_both_commits_in_order() {
    let demo = Demo::start().await;
    let before = demo.commit_count();
    // Another writer pushes while the deployer's clone is behind.
    let other = tempfile::tempdir().expect("a temporary directory");
    clone_remote(&demo.remote(), other.path());
    std::fs::write(other.path().join("README.md"), "# changed by someone else\n").expect("write");
    git_in(other.path(), &["commit", "--quiet", "-am", "docs: another writer"]);
    git_in(other.path(), &["push", "--quiet", "origin", "main"]);

    let (_, record) = demo.deploy(body("us-west-2", "staging-1", "web", "1.6.0"), true).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(demo.commit_count(), before + 2);
    let subjects = demo.git(&["log", "--format=%s", "-2", "main"]);
    let subjects: Vec<&str> = subjects.lines().collect();
    assert!(subjects[0].starts_with("deploy web"), "{subjects:?}");
    assert_eq!(subjects[1], "docs: another writer");
    // Linear history: no merge commits, nothing forced away.
    assert_eq!(demo.git(&["rev-list", "--merges", "--count", "main"]).trim(), "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_commit_only_and_restart_do_what_they_say() {
    let demo = Demo::start().await;
    let before = demo.commit_count();

    // dry-run: nothing written anywhere, but the diff and the commit message are shown.
    let mut dry = body("us-west-2", "prod-1", "web", "9.9.9");
    dry["method"] = json!("dry-run");
    let (_, record) = demo.deploy(dry, true).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    let diff = record["dry_run"]["diff"].as_str().unwrap_or_default();
    assert!(diff.contains("-          image: ghcr.io/example/web:1.4.2"), "{diff}");
    assert!(diff.contains("+          image: ghcr.io/example/web:9.9.9"), "{diff}");
    assert!(
        record["dry_run"]["commit_message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("deploy web 1.4.2 → 9.9.9")
    );
    assert_eq!(demo.commit_count(), before);
    assert_eq!(
        demo.cluster_image("us-west-2-prod-1", "web"),
        "ghcr.io/example/web:1.4.2"
    );

    // commit-only: one commit, the cluster untouched (a GitOps tool would sync it).
    let mut commit_only = body("us-west-2", "prod-1", "web", "1.4.3");
    commit_only["method"] = json!("commit-only");
    let (_, record) = demo.deploy(commit_only, true).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(demo.commit_count(), before + 1);
    assert!(demo.file_at_tip("us-west-2/prod-1/apps/web.yaml").contains("web:1.4.3"));
    assert_eq!(
        demo.cluster_image("us-west-2-prod-1", "web"),
        "ghcr.io/example/web:1.4.2"
    );

    // restart: the restartedAt annotation is committed and rolls the pods.
    let rs_before = demo.kubectl("dc1-prod-1", &["get", "rs", "-l", "app=worker", "-o", "name"]);
    let mut restart = json!({"region": "dc1", "cluster": "prod-1", "file": "worker", "method": "restart"});
    restart["reason"] = json!("rotate credentials");
    let (status, record) = demo.deploy(restart, true).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(demo.commit_count(), before + 2);
    let file = demo.file_at_tip("dc1/prod-1/apps/worker.yaml");
    assert!(file.contains("kubectl.kubernetes.io/restartedAt"), "{file}");
    let rs_after = demo.kubectl("dc1-prod-1", &["get", "rs", "-l", "app=worker", "-o", "name"]);
    let count = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).lines().count();
    assert_eq!(
        count(&rs_after),
        count(&rs_before) + 1,
        "a restart makes a new ReplicaSet"
    );
    let message = demo.git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        message.starts_with("restart worker on dc1/prod-1\n\nrotate credentials"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_rejected_with_a_clear_error_and_nothing_committed() {
    let demo = Demo::start().await;
    let before = demo.commit_count();
    let cases = [
        (body("us-west-2", "nope-1", "web", "1.0.0"), 404, "cluster_not_found"),
        (
            body("us-west-2", "staging-1", "../../etc/passwd", "1.0.0"),
            422,
            "invalid_file",
        ),
        (
            body("us-west-2", "staging-1", "missing", "1.0.0"),
            404,
            "file_not_found",
        ),
        (body("us-west-2", "staging-1", "web", "bad tag!"), 422, "invalid_tag"),
        (
            json!({"region": "us-west-2", "cluster": "staging-1", "file": "web", "tag": "1", "method": "yolo"}),
            422,
            "invalid_method",
        ),
        (body("us-west-2", "staging-1", "api", "2.0.0"), 422, "ambiguous_image"),
    ];
    for (request, want_status, want_code) in cases {
        let (status, answer) = demo.deploy(request.clone(), false).await;
        assert_eq!(status, want_status, "{request} → {answer}");
        assert_eq!(answer["error"]["code"], want_code, "{request} → {answer}");
        assert!(
            !answer["error"]["message"].as_str().unwrap_or_default().is_empty(),
            "{answer}"
        );
    }
    // Missing and wrong tokens.
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/deployments", demo.url());
    let resp = client
        .post(&url)
        .json(&body("us-west-2", "staging-1", "web", "1.0.0"))
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status().as_u16(), 401);
    let resp = client
        .post(&url)
        .bearer_auth("not-the-token")
        .json(&body("us-west-2", "staging-1", "web", "1.0.0"))
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status().as_u16(), 401);
    let answer: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_eq!(answer["error"]["code"], "invalid_token", "{answer}");
    assert_eq!(demo.commit_count(), before, "nothing was committed");
}

#[tokio::test(flavor = "multi_thread")]
async fn deploys_to_one_target_run_in_arrival_order() {
    let demo = Demo::start().await;
    let before = demo.commit_count();
    let mut ids = Vec::new();
    for tag in ["2.0.1", "2.0.2", "2.0.3"] {
        let (status, accepted) = demo.deploy(body("dc1", "prod-1", "web", tag), false).await;
        assert_eq!(status, 202, "{accepted}");
        ids.push(accepted["id"].as_str().expect("an id").to_owned());
    }
    for id in &ids {
        assert_eq!(demo.wait_terminal(id).await["status"], "succeeded");
    }
    assert_eq!(demo.commit_count(), before + 3);
    let subjects = demo.git(&["log", "--format=%s", "-3", "--reverse", "main"]);
    let expected = [
        "deploy web 1.4.2 → 2.0.1 to dc1/prod-1",
        "deploy web 2.0.1 → 2.0.2 to dc1/prod-1",
        "deploy web 2.0.2 → 2.0.3 to dc1/prod-1",
    ];
    assert_eq!(subjects.lines().collect::<Vec<_>>(), expected);
    assert_eq!(demo.cluster_image("dc1-prod-1", "web"), "ghcr.io/example/web:2.0.3");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_reports_outcomes_with_its_exit_codes() {
    let demo = Demo::start().await;
    let ok = demo.cli(&[
        "deploy",
        "--region",
        "us-west-2",
        "--cluster",
        "prod-1",
        "--file",
        "worker",
        "--tag",
        "1.0.0",
        "--wait",
    ]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(stdout.contains("succeeded"), "{stdout}");
    assert!(
        stdout.contains("ghcr.io/example/worker:0.9.1 → ghcr.io/example/worker:1.0.0"),
        "{stdout}"
    );
    let progress = String::from_utf8_lossy(&ok.stderr);
    assert!(progress.contains("rolling_out"), "live progress on stderr: {progress}");

    let failed = demo.cli(&[
        "deploy",
        "--region",
        "us-west-2",
        "--cluster",
        "prod-1",
        "--file",
        "worker",
        "--tag",
        "1.1.0-never-ready",
        "--timeout",
        "3s",
        "--wait",
    ]);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&failed.stdout)
    );
    assert!(String::from_utf8_lossy(&failed.stdout).contains("failure: [timed_out]"));

    let rejected = demo.cli(&[
        "deploy",
        "--region",
        "us-west-2",
        "--cluster",
        "nope-1",
        "--file",
        "worker",
        "--tag",
        "1.0.0",
    ]);
    assert_eq!(rejected.status.code(), Some(2));
    let err = String::from_utf8_lossy(&rejected.stderr);
    assert!(
        err.contains("error: cluster `nope-1` is not configured for region `us-west-2`"),
        "{err}"
    );
    assert!(err.contains("hint: configured clusters are"), "{err}");

    let json_out = demo.cli(&["history", "--file", "worker", "--json"]);
    let page: serde_json::Value = serde_json::from_slice(&json_out.stdout).expect("history --json prints JSON");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "{page}");

    let unreachable = std::process::Command::new(harness::binary())
        .args(["status", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--server", "http://127.0.0.1:9"])
        .output()
        .expect("the CLI runs");
    assert_eq!(unreachable.status.code(), Some(69));

    let usage = demo.cli(&["deploy", "--region", "x"]);
    assert_eq!(usage.status.code(), Some(2), "usage errors exit 2");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_the_demo_prints_deploys_successfully() {
    let demo = Demo::start().await;
    let printed = std::fs::read_to_string(&demo.stdout_path).expect("the demo printed its facts");
    let line = printed
        .lines()
        .map(str::trim)
        .find(|l| l.contains(" deploy --region us-west-2") && l.ends_with("--wait"))
        .unwrap_or_else(|| panic!("no deploy command in:\n{printed}"));
    let mut words = line.split_whitespace();
    let program = words.next().expect("a program");
    let args: Vec<&str> = words.collect();
    let out = std::process::Command::new(program)
        .args(&args)
        .env("K8S_APP_DEPLOYER_URL", demo.url())
        .env("K8S_APP_DEPLOYER_TOKEN", demo.token())
        .output()
        .expect("the printed command runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("succeeded"));
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_known_only_from_the_repository_takes_commit_only_deploys() {
    let demo = Demo::start().await;
    // Someone adds a cluster that a GitOps tool syncs; the deployer has no credentials for it.
    let other = tempfile::tempdir().expect("a temporary directory");
    clone_remote(&demo.remote(), other.path());
    let apps = other.path().join("eu-central-1/gitops-1/apps");
    std::fs::create_dir_all(&apps).expect("mkdir");
    let web = std::fs::read_to_string(other.path().join(WEB)).expect("the sample web app");
    std::fs::write(apps.join("web.yaml"), &web).expect("write");
    git_in(other.path(), &["add", "--all"]);
    git_in(other.path(), &["commit", "--quiet", "-m", "add the gitops-1 cluster"]);
    git_in(other.path(), &["push", "--quiet", "origin", "main"]);

    let mut request = body("eu-central-1", "gitops-1", "web", "1.7.0");
    request["method"] = json!("commit-only");
    let (_, record) = demo.deploy(request, true).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert!(
        demo.file_at_tip("eu-central-1/gitops-1/apps/web.yaml")
            .contains("web:1.7.0")
    );

    let (status, answer) = demo
        .deploy(body("eu-central-1", "gitops-1", "web", "1.7.1"), false)
        .await;
    assert_eq!(status, 404, "applying needs credentials: {answer}");
    assert_eq!(answer["error"]["code"], "cluster_not_found");

    let (_, listing) = demo.get("/api/v1/clusters").await;
    let found = listing["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["region"] == "eu-central-1" && c["cluster"] == "gitops-1")
        .cloned()
        .unwrap_or_else(|| panic!("the discovered cluster is listed: {listing}"));
    assert_eq!(found["configured"], false);
    assert_eq!(found["apps"][0]["images"], json!(["ghcr.io/example/web:1.7.0"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_docker_hub_push_deploys_through_the_demo_hook_and_a_forged_one_does_not() {
    let demo = Demo::start().await;
    let hook = demo.facts["webhooks"]["dockerhub"]["url"]
        .as_str()
        .expect("demo.json names the hook")
        .to_owned();
    let before = demo.commit_count();
    let push = json!({
        "callback_url": "https://registry.hub.docker.com/u/example/shop/hook/abc/",
        "push_data": {"tag": "1.1.0", "pusher": "ci-bot", "pushed_at": 1764138000},
        "repository": {"repo_name": "example/shop", "namespace": "example", "name": "shop"}
    });
    let client = reqwest::Client::new();

    // A wrong hook token deploys nothing.
    let forged = client
        .post(format!("{}/webhooks/dockerhub/{}", demo.url(), "x".repeat(48)))
        .json(&push)
        .send()
        .await
        .expect("answers");
    assert!(forged.status().is_client_error(), "{}", forged.status());
    assert_eq!(demo.commit_count(), before);

    let resp = client.post(&hook).json(&push).send().await.expect("answers");
    assert!(resp.status().is_success(), "{}", resp.status());
    let answer: serde_json::Value = resp.json().await.expect("a JSON answer");
    let deployments = answer["deployments"].as_array().cloned().unwrap_or_default();
    let targets: Vec<String> = deployments.iter().map(|d| d["target"].to_string()).collect();
    assert_eq!(deployments.len(), 2, "development and staging: {answer}");
    for d in &deployments {
        let id = d["id"].as_str().expect("an id");
        let record = demo.wait_terminal(id).await;
        assert_eq!(record["status"], "succeeded", "{record}");
        assert_eq!(record["request"]["source"]["kind"], "registry", "{record}");
    }
    assert_eq!(demo.commit_count(), before + 2, "{targets:?}");
    assert!(
        demo.file_at_tip("dc1/dev-1/apps/shop.yaml")
            .contains("image: example/shop:1.1.0")
    );
    assert!(
        demo.file_at_tip("us-west-2/staging-1/apps/shop.yaml")
            .contains("image: example/shop:1.1.0")
    );
    assert!(
        demo.file_at_tip("us-west-2/prod-1/apps/shop.yaml")
            .contains("image: example/shop:1.0.0"),
        "production takes no registry pushes"
    );
    assert_eq!(demo.cluster_image("dc1-dev-1", "shop"), "example/shop:1.1.0");

    // The same delivery again is absorbed: it answers with the first deployments, makes none.
    let first: Vec<&str> = deployments.iter().filter_map(|d| d["id"].as_str()).collect();
    let again: serde_json::Value = client
        .post(&hook)
        .json(&push)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    let repeated = again["deployments"].as_array().cloned().unwrap_or_default();
    assert!(
        repeated
            .iter()
            .all(|d| d["id"].as_str().is_some_and(|id| first.contains(&id))),
        "{again}"
    );
    assert_eq!(demo.commit_count(), before + 2);
}
