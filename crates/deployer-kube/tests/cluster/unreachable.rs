//! A cluster that stops answering while a rollout is watched: the watch gives up after the
//! cluster's `unreachable_timeout`, not at the rollout's deadline; a quiet but answering
//! cluster is not unreachable.

use std::time::{Duration, Instant};

use deployer_core::ports::{ApplyOptions, Cluster, ClusterError};
use deployer_core::rollout::RolloutVerdict;
use kube_sim::server::{Faults, SimOptions};

use crate::support::{Harness, Recorder, TestResult, deploy, web, web_app};

/// The unreachable budget of these tests.
const BUDGET: Duration = Duration::from_secs(2);

async fn short_budget() -> Result<Harness, Box<dyn std::error::Error>> {
    Harness::start_tuned(SimOptions::named("sim-a"), |s| {
        s.request_timeout = Duration::from_secs(1);
        s.unreachable_timeout = BUDGET;
    })
    .await
}

#[tokio::test]
async fn a_cluster_shut_down_mid_watch_is_unreachable_after_its_budget() -> TestResult {
    let h = short_budget().await?;
    assert_eq!(h.cluster.unreachable_timeout(), BUDGET);
    deploy(&h, &web_app("nginx:1.25", None)).await?;
    // A release that never becomes ready, with a progress deadline far away.
    h.cluster
        .apply(&web_app("nginx:1.26-never-ready", Some(600)), ApplyOptions::default())
        .await?;
    let Harness { sim, cluster, _dir, .. } = h;
    let recorder = Recorder::default();
    let progress = recorder.callback();
    let workload = web();
    let watch = cluster.watch_rollout(&workload, &*progress);
    tokio::pin!(watch);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut watch)
            .await
            .is_err(),
        "the rollout cannot end on its own"
    );
    assert!(!recorder.seen().is_empty(), "the watch observed the rollout");

    sim.shutdown().await;
    let stopped = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(30), watch).await?;
    let elapsed = stopped.elapsed();
    let Err(ClusterError::Unreachable { message }) = &result else {
        panic!("expected unreachable, got {result:?}");
    };
    assert!(message.contains("did not answer for 2s"), "{message}");
    assert!(message.contains("Deployment/web"), "{message}");
    assert!(message.contains("last error:"), "{message}");
    assert!(elapsed >= BUDGET, "gave up after {elapsed:?}, before the budget");
    assert!(elapsed < Duration::from_secs(12), "took {elapsed:?}");
    Ok(())
}

#[tokio::test]
async fn a_cluster_whose_requests_time_out_mid_watch_is_unreachable_after_its_budget() -> TestResult {
    let h = short_budget().await?;
    deploy(&h, &web_app("nginx:1.25", None)).await?;
    h.cluster
        .apply(&web_app("nginx:1.26-never-ready", Some(600)), ApplyOptions::default())
        .await?;
    let recorder = Recorder::default();
    let progress = recorder.callback();
    let workload = web();
    let watch = h.cluster.watch_rollout(&workload, &*progress);
    tokio::pin!(watch);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut watch)
            .await
            .is_err()
    );
    // Every request now takes far longer than the request timeout, and the open watch goes
    // quiet: the object stops changing.
    h.sim.control().pause_controllers();
    h.sim.control().set_faults(Faults {
        latency_ms: 60_000,
        ..Faults::default()
    });
    let hung = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(30), watch).await?;
    let elapsed = hung.elapsed();
    let Err(ClusterError::Unreachable { message }) = &result else {
        panic!("expected unreachable, got {result:?}");
    };
    assert!(message.contains("no answer from the API server within 1s"), "{message}");
    assert!(elapsed < Duration::from_secs(12), "took {elapsed:?}");
    h.sim.control().set_faults(Faults::default());
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_quiet_watch_of_an_answering_cluster_outlasts_the_budget() -> TestResult {
    let h = short_budget().await?;
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
    // Nothing changes for twice the budget, and the watch connection is cut meanwhile.
    assert!(
        tokio::time::timeout(BUDGET, &mut watch).await.is_err(),
        "nothing can end the rollout while the controllers are paused"
    );
    h.sim.control().drop_watches();
    assert!(tokio::time::timeout(BUDGET, &mut watch).await.is_err());
    h.sim.control().resume_controllers();
    let verdict = tokio::time::timeout(Duration::from_secs(20), watch).await??;
    assert!(matches!(verdict, RolloutVerdict::Succeeded { .. }), "{verdict:?}");
    h.sim.shutdown().await;
    Ok(())
}
