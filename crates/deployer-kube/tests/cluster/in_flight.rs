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

/// The established connections from this process to `port` (its client side), read from
/// `/proc/self/net/tcp`.
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/self/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let remote_port = fields
                .get(2)
                .and_then(|remote| remote.rsplit(':').next())
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            // State 01 is ESTABLISHED.
            remote_port == Some(port) && fields.get(3) == Some(&"01")
        })
        .count()
}

#[tokio::test]
async fn after_a_burst_one_idle_connection_stays_open() -> TestResult {
    let h = Harness::start_tuned(SimOptions::named("sim-a"), |s| {
        s.max_requests_in_flight = 4;
    })
    .await?;
    deploy(&h, &web_app("nginx:1.25", None)).await?;
    h.sim.control().set_faults(Faults {
        latency_ms: 200,
        ..Faults::default()
    });
    let port = h.sim.addr().port();
    let workload = web();
    let burst = futures::future::join_all((0..4).map(|_| h.cluster.workload_status(&workload)));
    let count_during = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        connections_to(port)
    };
    let (reads, during) = tokio::join!(burst, count_during);
    for read in reads {
        assert!(read?.is_some(), "the Deployment is there");
    }
    assert!(during >= 4, "four requests at once had {during} connections");
    // The closed connections go once their tasks see the pool refuse them.
    let deadline = Instant::now() + Duration::from_secs(5);
    while connections_to(port) > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        connections_to(port),
        1,
        "one idle connection is kept for the next request"
    );
    h.sim.control().set_faults(Faults::default());
    h.sim.shutdown().await;
    Ok(())
}
