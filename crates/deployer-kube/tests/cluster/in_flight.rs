//! `max_requests_in_flight`: requests beyond the limit wait for their turn, and the wait does
//! not count against the request timeout.

use std::time::{Duration, Instant};

use deployer_core::ports::Cluster;
use kube_sim::server::{Faults, SimOptions};

use crate::support::{Harness, TestResult, deploy, web, web_app};

#[tokio::test]
async fn requests_beyond_the_limit_wait_their_turn_without_timing_out() -> TestResult {
    let h = Harness::start_tuned(SimOptions::named("sim-a"), |s| {
        s.max_requests_in_flight = 2;
        s.request_timeout = Duration::from_secs(1);
    })
    .await?;
    deploy(&h, &web_app("nginx:1.25", None)).await?;
    // Each read takes 300 ms: ten of them, two at a time, take five turns (1.5 s), longer than
    // the request timeout, and none may time out.
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
    assert!(
        elapsed >= Duration::from_millis(1_500),
        "ten 300 ms reads, two at a time, took {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    h.sim.control().set_faults(Faults::default());
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn without_a_tight_limit_the_same_reads_overlap() -> TestResult {
    let h = Harness::start_tuned(SimOptions::named("sim-a"), |s| {
        s.max_requests_in_flight = 10;
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
        assert!(read?.is_some());
    }
    assert!(
        elapsed < Duration::from_millis(1_200),
        "ten overlapping reads took {elapsed:?}"
    );
    h.sim.control().set_faults(Faults::default());
    h.sim.shutdown().await;
    Ok(())
}
