//! Watching rollouts: success, deadline failures, pod diagnostics and the generation check.

use std::time::Duration;

use deployer_core::ports::{ApplyOptions, Cluster, ClusterError, WorkloadRef};
use deployer_core::rollout::{RolloutVerdict, WorkloadStatus};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams};
use kube_sim::clock::ClockMode;
use kube_sim::server::{Faults, SimOptions};

use crate::support::{Harness, Recorder, TestResult, deploy, fixture, web, web_app};

#[tokio::test]
async fn a_healthy_rollout_is_watched_to_success() -> TestResult {
    let h = Harness::start().await?;
    h.cluster
        .apply(&fixture("web-app.yaml"), ApplyOptions::default())
        .await?;
    let recorder = Recorder::default();
    let verdict = h.watch(&web(), &recorder).await?;
    assert_eq!(
        verdict,
        RolloutVerdict::Succeeded {
            message: "deployment \"web\" successfully rolled out".to_owned()
        }
    );
    let seen = recorder.seen();
    assert!(!seen.is_empty(), "progress is reported");
    let (last_status, last_verdict) = &seen[seen.len() - 1];
    assert_eq!(last_verdict, &verdict);
    assert!(
        matches!(
            last_status,
            WorkloadStatus::Deployment {
                desired: 2,
                updated: 2,
                available: 2,
                ..
            }
        ),
        "{last_status:?}"
    );
    let status = h.cluster.workload_status(&web()).await?;
    assert!(
        matches!(
            status,
            Some(WorkloadStatus::Deployment {
                generation: 1,
                observed_generation: 1,
                ..
            })
        ),
        "{status:?}"
    );
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn success_waits_until_the_controller_has_observed_the_new_generation() -> TestResult {
    let h = Harness::start().await?;
    deploy(&h, &web_app("nginx:1.25", None)).await?;

    // Hold the controllers, so the status keeps describing generation 1 while the spec is at 2.
    h.sim.control().pause_controllers();
    let applied = h
        .cluster
        .apply(&web_app("nginx:1.26", None), ApplyOptions::default())
        .await?;
    assert_eq!(applied[1].generation, 2);
    let recorder = Recorder::default();
    let progress = recorder.callback();
    let workload = web();
    let watch = h.cluster.watch_rollout(&workload, &*progress);
    tokio::pin!(watch);
    let early = tokio::time::timeout(Duration::from_millis(1500), &mut watch).await;
    assert!(early.is_err(), "the watch must still be waiting: {early:?}");
    let seen = recorder.seen();
    assert!(!seen.is_empty());
    for (_, verdict) in &seen {
        assert_eq!(
            verdict,
            &RolloutVerdict::Waiting {
                message: "Waiting for deployment spec update to be observed...".to_owned()
            }
        );
    }

    h.sim.control().resume_controllers();
    let verdict = tokio::time::timeout(Duration::from_secs(20), watch).await??;
    assert!(matches!(verdict, RolloutVerdict::Succeeded { .. }), "{verdict:?}");
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_never_ready_image_fails_at_the_progress_deadline_and_its_pods_say_why() -> TestResult {
    let h = Harness::start().await?;
    deploy(&h, &web_app("nginx:1.25", None)).await?;
    h.cluster
        .apply(&web_app("nginx:1.27-never-ready", Some(3)), ApplyOptions::default())
        .await?;
    let verdict = h.watch(&web(), &Recorder::default()).await?;
    let RolloutVerdict::Failed { code, message } = &verdict else {
        panic!("expected a failed rollout, got {verdict:?}");
    };
    assert_eq!(code, "progress_deadline_exceeded");
    assert_eq!(message, "deployment \"web\" exceeded its progress deadline");

    let issues = h.cluster.pod_issues(&web()).await?;
    assert!(!issues.is_empty(), "the new pods are not ready");
    for issue in &issues {
        assert_eq!(issue.container, "web");
        assert_eq!(issue.reason, "NotReady", "{issue:?}");
    }
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_shows_image_pull_back_off_with_its_message() -> TestResult {
    let h = Harness::start().await?;
    deploy(&h, &web_app("nginx:1.25", None)).await?;
    h.cluster
        .apply(&web_app("nginx:1.27-bad-pull", None), ApplyOptions::default())
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let issues = loop {
        let issues = h.cluster.pod_issues(&web()).await?;
        if issues.iter().any(|i| i.reason == "ImagePullBackOff") || tokio::time::Instant::now() > deadline {
            break issues;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let issue = issues
        .iter()
        .find(|i| i.reason == "ImagePullBackOff")
        .unwrap_or_else(|| panic!("no ImagePullBackOff among {issues:?}"));
    assert_eq!(issue.container, "web");
    assert!(issue.message.contains("nginx:1.27-bad-pull"), "{issue:?}");
    assert!(issues.iter().all(|i| !i.pod.is_empty()), "{issues:?}");
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_crash_looping_image_reports_crash_loop_back_off_and_its_restarts() -> TestResult {
    // A manual clock, so that several back-off periods pass in an instant.
    let h = Harness::start_with(SimOptions {
        clock: ClockMode::Manual,
        ..SimOptions::named("sim-a")
    })
    .await?;
    h.cluster
        .apply(&web_app("app:2-crash", None), ApplyOptions::default())
        .await?;
    for _ in 0..8 {
        h.sim.control().advance(Duration::from_secs(10));
    }
    let issues = h.cluster.pod_issues(&web()).await?;
    assert_eq!(issues.len(), 2, "both pods crash: {issues:?}");
    for issue in &issues {
        assert_eq!(
            (issue.container.as_str(), issue.reason.as_str()),
            ("web", "CrashLoopBackOff"),
            "{issue:?}"
        );
        assert!(issue.message.contains("back-off"), "{issue:?}");
        assert!(issue.restarts >= 1, "{issue:?}");
    }
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_watch_survives_dropped_connections_and_expired_history() -> TestResult {
    let h = Harness::start().await?;
    deploy(&h, &web_app("nginx:1.25", None)).await?;
    h.sim.control().pause_controllers();
    h.cluster
        .apply(&web_app("nginx:1.26", None), ApplyOptions::default())
        .await?;
    let recorder = Recorder::default();
    let progress = recorder.callback();
    let workload = web();
    let watch = h.cluster.watch_rollout(&workload, &*progress);
    tokio::pin!(watch);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut watch)
            .await
            .is_err()
    );

    // Cut the connection and forget the history: the watcher must relist and carry on.
    let lists = |h: &Harness| {
        h.sim
            .control()
            .requests()
            .iter()
            .filter(|r| {
                let query = r["query"].as_str().unwrap_or_default();
                r["path"] == "/apis/apps/v1/namespaces/default/deployments" && !query.contains("watch=true")
            })
            .count()
    };
    let before = lists(&h);
    // Every new watch is told its resource version is too old until the watcher relists.
    h.sim.control().set_faults(Faults {
        expire_watches: true,
        ..Faults::default()
    });
    h.sim.control().compact();
    h.sim.control().drop_watches();
    // The watcher waits out its back-off before it finds the history gone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while lists(&h) == before && tokio::time::Instant::now() < deadline {
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut watch)
                .await
                .is_err()
        );
    }
    assert!(
        lists(&h) > before,
        "the watcher relisted after the history expired ({} lists)",
        lists(&h)
    );
    h.sim.control().set_faults(Faults::default());
    h.sim.control().resume_controllers();
    let verdict = tokio::time::timeout(Duration::from_secs(20), watch).await??;
    assert!(matches!(verdict, RolloutVerdict::Succeeded { .. }), "{verdict:?}");
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn deleting_the_workload_ends_the_watch_with_deleted() -> TestResult {
    let h = Harness::start().await?;
    h.sim.control().pause_controllers();
    h.cluster
        .apply(&web_app("nginx:1.25", None), ApplyOptions::default())
        .await?;
    let recorder = Recorder::default();
    let progress = recorder.callback();
    let workload = web();
    let watch = h.cluster.watch_rollout(&workload, &*progress);
    tokio::pin!(watch);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut watch)
            .await
            .is_err()
    );
    let deployments: Api<Deployment> = Api::namespaced(h.kube_client().await?, "default");
    deployments.delete("web", &DeleteParams::default()).await?;
    let result = tokio::time::timeout(Duration::from_secs(10), watch).await?;
    assert_eq!(
        result,
        Err(ClusterError::Deleted {
            object: "Deployment/web".to_owned()
        })
    );
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_workload_that_does_not_exist_is_reported_deleted_and_has_no_status() -> TestResult {
    let h = Harness::start().await?;
    let missing = WorkloadRef {
        kind: "Deployment".to_owned(),
        namespace: "default".to_owned(),
        name: "nope".to_owned(),
    };
    assert_eq!(h.cluster.workload_status(&missing).await?, None);
    assert_eq!(h.cluster.pod_issues(&missing).await?, vec![]);
    let result = h.watch(&missing, &Recorder::default()).await;
    assert_eq!(
        result,
        Err(ClusterError::Deleted {
            object: "Deployment/nope".to_owned()
        })
    );
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn kinds_without_a_rollout_succeed_at_once() -> TestResult {
    let h = Harness::start().await?;
    let config = WorkloadRef {
        kind: "ConfigMap".to_owned(),
        namespace: "default".to_owned(),
        name: "web-config".to_owned(),
    };
    let verdict = h.watch(&config, &Recorder::default()).await?;
    assert!(matches!(verdict, RolloutVerdict::Succeeded { .. }), "{verdict:?}");
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn rolling_back_is_reapplying_the_previous_manifest() -> TestResult {
    let h = Harness::start().await?;
    deploy(&h, &web_app("nginx:1.25", None)).await?;
    h.cluster
        .apply(&web_app("nginx:1.27-never-ready", Some(3)), ApplyOptions::default())
        .await?;
    let failed = h.watch(&web(), &Recorder::default()).await?;
    assert!(matches!(failed, RolloutVerdict::Failed { .. }), "{failed:?}");

    // The previous manifest had no progressDeadlineSeconds: SSA drops ours and defaulting restores 600.
    h.cluster
        .apply(&web_app("nginx:1.25", None), ApplyOptions::default())
        .await?;
    let verdict = h.watch(&web(), &Recorder::default()).await?;
    assert!(matches!(verdict, RolloutVerdict::Succeeded { .. }), "{verdict:?}");
    let status = h.cluster.workload_status(&web()).await?;
    assert_eq!(status.and_then(|s| s.progress_deadline_seconds()), Some(600));
    h.sim.shutdown().await;
    Ok(())
}
