//! `max_requests_in_flight`: requests beyond the limit wait for their turn, and the wait does
//! not count against the request timeout.

use std::time::{Duration, Instant};

use deployer_core::ports::Cluster;
use kube_sim::server::{Faults, SimOptions};

use crate::support::{Harness, TestResult, deploy, web, web_app};

/// Ten reads of `web`, each answered after 300 ms, sent at once to a cluster allowing `limit`
/// requests in flight with a one-second request timeout; how long they took together.
async fn ten_slow_reads(limit: usize) -> Result<Duration, Box<dyn std::error::Error>> {
    let h = Harness::start_tuned(SimOptions::named("sim-a"), |s| {
        s.max_requests_in_flight = limit;
        s.request_timeout = Duration::from_secs(1);
    })
    .await?;
    deploy(&h, &web_app("nginx:1.25", None)).await?;
    h.sim.control().set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let workload = web();
    let started = Instant::now();
    let reads = futures::future::join_all((0..10).map(|_| h.cluster.workload_status(&workload))).await;
    let elapsed = started.elapsed();
    for read in reads {
        assert!(read?.is_some(), "the Deployment is there");
    }
    h.sim.control().set_faults(Faults::default());
    h.sim.shutdown().await;
    Ok(elapsed)
}

#[tokio::test]
async fn requests_beyond_the_limit_wait_their_turn_without_timing_out() -> TestResult {
    // Two at a time, the ten reads take five turns (1.5 s), longer than the request timeout,
    // and none may time out.
    let elapsed = ten_slow_reads(2).await?;
    assert!(
        elapsed >= Duration::from_millis(1_500),
        "ten 300 ms reads, two at a time, took {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    Ok(())
}

#[tokio::test]
async fn without_a_tight_limit_the_same_reads_overlap() -> TestResult {
    let elapsed = ten_slow_reads(10).await?;
    assert!(
        elapsed < Duration::from_millis(1_200),
        "ten overlapping reads took {elapsed:?}"
    );
    Ok(())
}
