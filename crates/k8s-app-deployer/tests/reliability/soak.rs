//! The soak: many deploy requests over many applications in several clusters, through the
//! HTTP API, while the deployer's memory is sampled.
//!
//! No answer may be a 5xx, every request must end, the remote must have one commit per
//! deployment that recorded one, the clusters must run what git says, and memory must stay
//! flat (the last quarter's resident size within bounds of the first quarter's).
//! `RELIABILITY_SOAK_REQUESTS` (default 200), `RELIABILITY_SOAK_APPS` in all (50),
//! `RELIABILITY_SOAK_CLUSTERS` (5), `RELIABILITY_SOAK_CLIENTS` (16),
//! `RELIABILITY_SOAK_DRAIN_SECS` (900), `RELIABILITY_SOAK_SIM_TICK_MS` (250: the simulated
//! clusters' controller tick).
//!
//! The harness is kept light so that it does not limit the deployer: the clients only send
//! (each request once accepted), the drain polls for one unfinished record at a time, memory
//! is read from `/proc`, and the simulated clusters tick every 250 ms instead of 25 ms (their
//! controller pass over every object is what costs most in this process). The CPU time of the
//! deployer and of this process are reported side by side.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::{Bed, Layout, cpu_time_of, duration_secs, env_usize, figure, percentile, serial, submit};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_soak_of_many_deploys_ends_every_request_with_flat_memory() {
    let _serial = serial().await;
    let requests = env_usize("RELIABILITY_SOAK_REQUESTS", 200);
    let clusters = env_usize("RELIABILITY_SOAK_CLUSTERS", 5).max(1);
    let apps = (env_usize("RELIABILITY_SOAK_APPS", 50) / clusters).max(1);
    let clients = env_usize("RELIABILITY_SOAK_CLIENTS", 16).max(1);
    let sim_tick_ms = env_usize("RELIABILITY_SOAK_SIM_TICK_MS", 250).max(1) as u64;
    let bed = Arc::new(
        Bed::new(Layout {
            clusters,
            apps,
            replicas: 1,
            concurrency: 64,
            cluster_concurrency: 32,
            // The simulated API servers share this test process; give them time under load,
            // and let their controllers tick less often than the `fast` profile's 25 ms.
            request_timeout: Duration::from_secs(10),
            sim_tick: Some(Duration::from_millis(sim_tick_ms)),
            ..Layout::default()
        })
        .await,
    );
    bed.start().await;
    let targets = bed.targets();

    let started = Instant::now();
    let harness_cpu_before = cpu_time_of("/proc/self/stat").unwrap_or_default();
    let next = Arc::new(AtomicUsize::new(0));
    // Resident memory every 500 ms (a read of `/proc`), and a progress line every minute for
    // long runs.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (bed, sampling, next) = (bed.clone(), sampling.clone(), next.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut reported = Instant::now();
            while sampling.load(Ordering::SeqCst) {
                if let Some(kib) = bed.rss_kib() {
                    samples.push(kib);
                }
                if reported.elapsed() >= Duration::from_secs(60) {
                    reported = Instant::now();
                    eprintln!(
                        "soak: {:.0} s, {} of {requests} requests sent, RSS {} KiB",
                        started.elapsed().as_secs_f64(),
                        next.load(Ordering::SeqCst).min(requests),
                        samples.last().copied().unwrap_or_default()
                    );
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            samples
        })
    };

    let five_xx = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (bed, next, five_xx, targets) = (bed.clone(), next.clone(), five_xx.clone(), targets.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= requests {
                    return ids;
                }
                // Spread over every target, round after round.
                let (cluster, app) = &targets[(n * 7919) % targets.len()];
                let body = Bed::deploy_body(cluster, app, &format!("v{}", n + 1), &format!("soak-{n}"));
                let (id, errors) = submit(&bed, &body, Duration::from_secs(300)).await;
                five_xx.fetch_add(errors, Ordering::SeqCst);
                ids.push(id.unwrap_or_else(|| panic!("request {n} was not accepted")));
            }
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap_or_else(|e| panic!("client: {e}")));
    }
    let accepting = started.elapsed();
    let drain = bed
        .drain(Duration::from_secs(
            std::env::var("RELIABILITY_SOAK_DRAIN_SECS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(900),
        ))
        .await;
    let total = started.elapsed();
    sampling.store(false, Ordering::SeqCst);
    let samples = sampler.await.unwrap_or_else(|e| panic!("sampler: {e}"));

    let records = bed.all_deployments().await;
    let mut durations: Vec<f64> = records.iter().filter_map(duration_secs).collect();
    durations.sort_by(f64::total_cmp);
    let mut statuses: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut failures: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for r in &records {
        *statuses
            .entry(r["status"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
        if let Some(code) = r.pointer("/failure/code").and_then(serde_json::Value::as_str) {
            *failures.entry(code.to_owned()).or_default() += 1;
        }
    }
    let commits = bed.commit_ids().len();
    // Where the CPU went: the deployer, and this process (clients, simulated clusters,
    // sampling), which must not be what limits the deployer.
    let deployer_cpu = bed.cpu_time().unwrap_or_default();
    let harness_cpu = cpu_time_of("/proc/self/stat")
        .unwrap_or_default()
        .saturating_sub(harness_cpu_before);
    let (stop_s, clean_exit) = bed.stop();

    let quarter = (samples.len() / 4).max(1);
    let mean = |s: &[u64]| {
        if s.is_empty() {
            0
        } else {
            s.iter().sum::<u64>() / s.len() as u64
        }
    };
    let first = mean(&samples[..quarter.min(samples.len())]);
    let last = mean(&samples[samples.len().saturating_sub(quarter)..]);
    figure(
        "soak",
        json!({
            "requests": requests,
            "statuses": statuses,
            "failures": failures,
            "apps": apps * clusters,
            "clusters": clusters,
            "clients": clients,
            "sim_tick_ms": sim_tick_ms,
            "five_xx": five_xx.load(Ordering::SeqCst),
            "accepting_s": accepting.as_secs_f64(),
            "drain_s": drain.as_secs_f64(),
            "total_s": total.as_secs_f64(),
            "throughput_per_s": requests as f64 / total.as_secs_f64(),
            "deploy_s_p50": percentile(&durations, 50.0),
            "deploy_s_p95": percentile(&durations, 95.0),
            "deploy_s_max": percentile(&durations, 100.0),
            "commits": commits,
            "deployer_cpu_s": deployer_cpu.as_secs_f64(),
            "harness_cpu_s": harness_cpu.as_secs_f64(),
            "rss_kib_first_quarter_mean": first,
            "rss_kib_last_quarter_mean": last,
            "rss_kib_max": samples.iter().max(),
            "rss_samples": samples.len(),
            "sigterm_stop_s": stop_s.as_secs_f64(),
            "sigterm_clean_exit": clean_exit,
        }),
    );
    assert_eq!(records.len(), requests);
    assert_eq!(ids.len(), requests);
    let not_succeeded: Vec<_> = records.iter().filter(|r| r["status"] != "succeeded").collect();
    assert!(not_succeeded.is_empty(), "{not_succeeded:#?}");
    bed.assert_one_commit_per_change(&records);
    bed.assert_clusters_match_repo().await;
    assert_eq!(five_xx.load(Ordering::SeqCst), 0, "the API answered 5xx");
    assert!(clean_exit, "the deployer did not stop cleanly on SIGTERM");
    assert!(
        last <= first + first / 2 + 64 * 1024,
        "memory grew: first quarter {first} KiB, last quarter {last} KiB"
    );
}
