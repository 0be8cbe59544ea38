//! Rollbacks that stick: by deployment id and by tag (API and CLI), the pin refusing an
//! automatic (CI-kind) request until `unpin`, and the automatic rollback of a deployment whose
//! pods never become ready, restoring the previous image in git and in the cluster.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use super::harness::{Bed, Layout, REGION, TOKEN, app_name, cluster_name, figure, image_repo, serial};

const WAIT: Duration = Duration::from_secs(90);

async fn deploy(bed: &Bed, app: &str, tag: &str, extra: Value) -> String {
    let mut body = json!({ "region": REGION, "cluster": cluster_name(0), "file": app, "tag": tag });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (status, answer) = bed
        .post("/api/v1/deployments", &body)
        .await
        .unwrap_or_else(|| panic!("deployer down"));
    assert_eq!(status, 202, "{answer}");
    answer["id"].as_str().unwrap_or_default().to_owned()
}

async fn images(bed: &Bed, app: &str) -> (String, String) {
    let repo = bed.repo_images();
    let git = repo
        .get(&(cluster_name(0), app.to_owned()))
        .cloned()
        .unwrap_or_default();
    let cluster = bed.cluster_images(0).await.get(app).cloned().unwrap_or_default();
    (git, cluster)
}

fn cli(bed: &Bed, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_k8s-app-deployer"))
        .args(args)
        .args(["--server", &bed.base, "--token", TOKEN])
        .env_remove("K8S_APP_DEPLOYER_URL")
        .env_remove("K8S_APP_DEPLOYER_TOKEN")
        .output()
        .unwrap_or_else(|e| panic!("cannot run the CLI: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn target_args(app: &str) -> Vec<String> {
    vec![
        "--region".into(),
        REGION.into(),
        "--cluster".into(),
        cluster_name(0),
        "--file".into(),
        app.into(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollbacks_restore_images_pin_the_target_and_undo_failures_automatically() {
    let _serial = serial().await;
    let bed = Bed::new(Layout {
        clusters: 1,
        apps: 3,
        replicas: 2,
        extra_config: format!(
            "[[policies]]\nregion = \"{REGION}\"\ncluster = \"{}\"\non_failure = \"rollback\"\n",
            cluster_name(0)
        ),
        ..Layout::default()
    })
    .await;
    bed.start().await;
    let (a, b, c) = (app_name(0), app_name(1), app_name(2));
    let image = |app: &str, tag: &str| format!("{}:{tag}", image_repo(app));

    // Two releases of `a`, then undo the second by its id.
    let v1 = deploy(&bed, &a, "v1", json!({})).await;
    assert_eq!(bed.finished(&v1, WAIT).await["status"], "succeeded");
    let v2 = deploy(&bed, &a, "v2", json!({})).await;
    assert_eq!(bed.finished(&v2, WAIT).await["status"], "succeeded");
    let (status, undo) = bed
        .post(
            &format!("/api/v1/deployments/{v2}/rollback"),
            &json!({"reason": "v2 breaks logins"}),
        )
        .await
        .unwrap_or_else(|| panic!("deployer down"));
    assert_eq!(status, 202, "{undo}");
    assert_eq!(undo["rollback_of"], json!(v2));
    let undo_id = undo["id"].as_str().unwrap_or_default().to_owned();
    let r = bed.finished(&undo_id, WAIT).await;
    assert_eq!(r["status"], "succeeded", "{r:#}");
    assert_eq!(r.pointer("/request/source/kind"), Some(&json!("rollback")));
    assert_eq!(r.pointer("/request/rollback_of"), Some(&json!(v2)));
    assert_eq!(images(&bed, &a).await, (image(&a, "v1"), image(&a, "v1")));
    assert_eq!(
        bed.rollback_of_trailer(&undo_id),
        Some(v2.clone()),
        "the commit names what it undoes"
    );

    // The pin: listed, shown with the app, refusing a CI-kind request.
    let pins = bed.get("/api/v1/pins").await.unwrap_or_default();
    assert_eq!(pins.pointer("/pins/0/file"), Some(&json!(a)), "{pins}");
    assert_eq!(pins.pointer("/pins/0/deployment_id"), Some(&json!(undo_id)));
    let clusters = bed.get("/api/v1/clusters").await.unwrap_or_default();
    let shown = clusters
        .pointer("/clusters/0/apps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert!(
        shown
            .iter()
            .any(|app| app["file"] == json!(a) && app["pin"]["pinned_by"] == json!("reliability")),
        "{clusters}"
    );
    let ci = json!({ "region": REGION, "cluster": cluster_name(0), "file": a, "tag": "v3", "source": {"kind": "ci", "ci": "github-actions"} });
    let (status, refused) = bed
        .post("/api/v1/deployments", &ci)
        .await
        .unwrap_or_else(|| panic!("deployer down"));
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused.pointer("/error/code"), Some(&json!("target_pinned")));
    let message = refused
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        message.contains("pinned by `reliability`") && message.contains("v2 breaks logins"),
        "{message}"
    );

    // `unpin` with the CLI; the CI request goes through.
    let mut args: Vec<String> = vec!["unpin".into()];
    args.extend(target_args(&a));
    let (code, _, err) = cli(&bed, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{err}");
    let (status, accepted) = bed
        .post("/api/v1/deployments", &ci)
        .await
        .unwrap_or_else(|| panic!("deployer down"));
    assert_eq!(status, 202, "{accepted}");
    let v3 = accepted["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(bed.finished(&v3, WAIT).await["status"], "succeeded");

    // Roll back to a tag with the CLI, waiting for the outcome.
    let mut args: Vec<String> = vec!["rollback".into()];
    args.extend(target_args(&a));
    args.extend([
        "--to".into(),
        "v1".into(),
        "--reason".into(),
        "back to v1".into(),
        "--wait".into(),
        "--timeout".into(),
        "60s".into(),
        "--json".into(),
    ]);
    let (code, out, err) = cli(&bed, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{out}\n{err}");
    let by_tag: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(by_tag["status"], "succeeded");
    assert_eq!(by_tag.pointer("/request/rollback_of"), Some(&json!(v3)));
    assert_eq!(images(&bed, &a).await, (image(&a, "v1"), image(&a, "v1")));

    // Roll back to a deployment by its id (what `v2` deployed).
    let (status, to_id) = bed
        .post(
            "/api/v1/rollbacks",
            &json!({"region": REGION, "cluster": cluster_name(0), "file": a, "to": v2, "wait": true}),
        )
        .await
        .unwrap_or_else(|| panic!("deployer down"));
    assert_eq!(status, 200, "{to_id}");
    assert_eq!(to_id["status"], "succeeded", "{to_id:#}");
    assert_eq!(images(&bed, &a).await, (image(&a, "v2"), image(&a, "v2")));

    // `pin` and `unpin` by hand; unpinning twice is refused (exit 2).
    let mut args: Vec<String> = vec!["pin".into()];
    args.extend(target_args(&c));
    args.extend(["--reason".into(), "freeze".into()]);
    let (code, out, err) = cli(&bed, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pinned by reliability") && out.contains("freeze"), "{out}");
    let mut args: Vec<String> = vec!["unpin".into()];
    args.extend(target_args(&c));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(cli(&bed, &args).0, 0);
    let (code, _, err) = cli(&bed, &args);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not_pinned"), "{err}");

    // Automatic rollback of a release whose pods never become ready.
    let good = deploy(&bed, &b, "v1", json!({})).await;
    assert_eq!(bed.finished(&good, WAIT).await["status"], "succeeded");
    let bad = deploy(&bed, &b, "v2-never-ready", json!({"timeout": "5s"})).await;
    let failed = bed.finished(&bad, WAIT).await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    let mut rollback: Option<Value> = None;
    for _ in 0..100 {
        let page = bed
            .get(&format!(
                "/api/v1/deployments?region={REGION}&cluster={}&file={b}&limit=10",
                cluster_name(0)
            ))
            .await
            .unwrap_or_default();
        rollback = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r.pointer("/request/rollback_of") == Some(&json!(bad)))
            .cloned();
        if rollback.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rollback = rollback.unwrap_or_else(|| panic!("no automatic rollback of {bad}"));
    let rollback_id = rollback["id"].as_str().unwrap_or_default().to_owned();
    let done = bed.finished(&rollback_id, WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(done.pointer("/request/requested_by"), Some(&json!("auto-rollback")));
    assert_eq!(images(&bed, &b).await, (image(&b, "v1"), image(&b, "v1")));
    let pin = bed
        .get(&format!("/api/v1/pins/{REGION}/{}/{b}", cluster_name(0)))
        .await
        .unwrap_or_default();
    assert_eq!(pin["deployment_id"], json!(rollback_id), "{pin}");
    assert_eq!(pin["pinned_by"], json!("auto-rollback"));
    let failed_events = bed.event_kinds(&bad).await;
    assert_eq!(
        failed_events.last().map(String::as_str),
        Some("failed"),
        "{failed_events:?}"
    );
    let rollback_events = bed.event_kinds(&rollback_id).await;
    assert_eq!(
        rollback_events.last().map(String::as_str),
        Some("succeeded"),
        "{rollback_events:?}"
    );
    assert_eq!(bed.rollback_of_trailer(&rollback_id), Some(bad.clone()));

    let records = bed.all_deployments().await;
    bed.assert_one_commit_per_change(&records);
    bed.assert_clusters_match_repo().await;
    bed.assert_events_complete(&records).await;
    figure(
        "rollback",
        json!({
            "deployments": records.len(),
            "automatic_rollback_s": super::harness::duration_secs(&done),
            "failed_release_s": super::harness::duration_secs(&failed),
            "failed_code": failed.pointer("/failure/code"),
        }),
    );
}
