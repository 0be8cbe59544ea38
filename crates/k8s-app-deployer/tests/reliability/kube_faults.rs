//! Failing clusters: one simulated API server answers 500, 503 and 429 to a share of its
//! requests and keeps cutting its watches; another is shut down; a third is healthy.
//!
//! Deployments to the faulty cluster still complete; those to the dead one fail with
//! `cluster_unreachable` and a message saying so; the healthy one keeps its speed (its
//! deployments take about as long as in a baseline run with no other cluster busy), because
//! a cluster only ever gets `queue.cluster_concurrency` of the queue's workers.
//! `RELIABILITY_KUBE_FAULT_RATE` (default 0.25) sets the share of failed requests.
//!
//! A cluster that dies while deployments are being watched fails them with
//! `cluster_unreachable` after its `unreachable_timeout`, long before their rollout timeout,
//! while another cluster's deployments go on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube_sim::server::{FaultCode, Faults, Verb, VerbFault};
use serde_json::{Value, json};

use super::harness::{
    Bed, Layout, app_name, cluster_name, duration_secs, env_usize, figure, percentile, serial, submit,
};

const FAULTY: usize = 0;
const HEALTHY: usize = 1;
const DEAD: usize = 2;

async fn deploy_all(bed: &Bed, cluster: usize, apps: usize, tag: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for a in 0..apps {
        let body = Bed::deploy_body(
            &cluster_name(cluster),
            &app_name(a),
            tag,
            &format!("{}-{a}-{tag}", cluster_name(cluster)),
        );
        let (id, five_xx) = submit(bed, &body, Duration::from_secs(30)).await;
        assert_eq!(five_xx, 0);
        ids.push(id.unwrap_or_else(|| panic!("not accepted: {body}")));
    }
    ids
}

async fn durations(bed: &Bed, ids: &[String]) -> (Vec<Value>, Vec<f64>) {
    let mut records = Vec::new();
    let mut secs = Vec::new();
    for id in ids {
        let r = bed.finished(id, Duration::from_secs(180)).await;
        secs.push(duration_secs(&r).unwrap_or_default());
        records.push(r);
    }
    secs.sort_by(f64::total_cmp);
    (records, secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faulty_clusters_complete_and_a_dead_one_fails_alone() {
    let _serial = serial().await;
    let apps = env_usize("RELIABILITY_KUBE_APPS", 6);
    let rate: f64 = std::env::var("RELIABILITY_KUBE_FAULT_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.25);
    let mut bed = Bed::new(Layout {
        clusters: 3,
        apps,
        replicas: 2,
        // Three workers per cluster, nine in all: one cluster can never take another's.
        concurrency: 9,
        cluster_concurrency: 3,
        request_timeout: Duration::from_secs(2),
        ..Layout::default()
    })
    .await;
    bed.start().await;

    // Baseline: the healthy cluster alone.
    let baseline_ids = deploy_all(&bed, HEALTHY, apps, "v1").await;
    let (_, baseline) = durations(&bed, &baseline_ids).await;

    // Faults: errors on every verb of one cluster, its watches cut every 700 ms; another
    // cluster gone.
    let mut faults = Faults::default();
    for (verb, code) in [
        (Verb::Get, FaultCode::Internal),
        (Verb::List, FaultCode::Unavailable),
        (Verb::Patch, FaultCode::TooManyRequests),
        (Verb::Create, FaultCode::Unavailable),
        (Verb::Watch, FaultCode::Internal),
    ] {
        faults.verbs.insert(
            verb,
            VerbFault {
                rate,
                code,
                retry_after_seconds: Some(1),
            },
        );
    }
    bed.sim(FAULTY).control().set_faults(faults);
    bed.shut_down_cluster(DEAD).await;
    let bed = Arc::new(bed);
    let cutting = Arc::new(AtomicBool::new(true));
    let cutter = {
        let (bed, cutting) = (bed.clone(), cutting.clone());
        tokio::spawn(async move {
            let mut cuts = 0u32;
            while cutting.load(Ordering::SeqCst) {
                bed.sim(FAULTY).control().drop_watches();
                cuts += 1;
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
            cuts
        })
    };

    // The dead cluster's deployments first, so that they would take every worker if they could.
    let dead_ids = deploy_all(&bed, DEAD, apps, "v2").await;
    let faulty_ids = deploy_all(&bed, FAULTY, apps, "v2").await;
    let healthy_ids = deploy_all(&bed, HEALTHY, apps, "v2").await;
    let (healthy, healthy_secs) = durations(&bed, &healthy_ids).await;
    let (faulty, faulty_secs) = durations(&bed, &faulty_ids).await;
    let (dead, dead_secs) = durations(&bed, &dead_ids).await;
    cutting.store(false, Ordering::SeqCst);
    let cuts = cutter.await.unwrap_or_else(|e| panic!("cutter: {e}"));
    bed.sim(FAULTY).control().set_faults(Faults::default());

    for r in healthy.iter().chain(&faulty) {
        assert_eq!(r["status"], "succeeded", "{r:#}");
    }
    let mut dead_codes: BTreeMap<String, usize> = BTreeMap::new();
    for r in &dead {
        assert_eq!(r["status"], "failed", "{r:#}");
        let code = r.pointer("/failure/code").and_then(Value::as_str).unwrap_or_default();
        let message = r
            .pointer("/failure/message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert_eq!(code, "cluster_unreachable", "{message}");
        assert!(message.contains("unreachable"), "unclear: {message}");
        *dead_codes.entry(code.to_owned()).or_default() += 1;
    }
    let records = bed.all_deployments().await;
    let live: Vec<Value> = records
        .iter()
        .filter(|r| r.pointer("/request/target/cluster") != Some(&json!(cluster_name(DEAD))))
        .cloned()
        .collect();
    bed.assert_one_commit_per_change(&records);
    let compared = bed.assert_clusters_match_repo().await;
    bed.assert_events_complete(&live).await;
    let requests = bed.sim(FAULTY).control().requests();
    let injected = requests
        .iter()
        .filter(|r| matches!(r["code"].as_u64(), Some(429 | 500 | 503)))
        .count();
    figure(
        "kube_faults",
        json!({
            "fault_rate": rate,
            "apps_per_cluster": apps,
            "watch_cuts": cuts,
            "injected_errors_in_recent_request_log": injected,
            "healthy_baseline_s_p50": percentile(&baseline, 50.0),
            "healthy_baseline_s_max": percentile(&baseline, 100.0),
            "healthy_with_faults_elsewhere_s_p50": percentile(&healthy_secs, 50.0),
            "healthy_with_faults_elsewhere_s_max": percentile(&healthy_secs, 100.0),
            "faulty_s_p50": percentile(&faulty_secs, 50.0),
            "faulty_s_max": percentile(&faulty_secs, 100.0),
            "dead_failed": dead_codes,
            "dead_time_to_fail_s_max": percentile(&dead_secs, 100.0),
            "apps_compared_cluster_vs_git": compared,
        }),
    );
    // The healthy cluster shares the machine, the git writer and the store with the others,
    // so some slowdown is expected; being starved of workers would show as tens of seconds.
    assert!(
        percentile(&healthy_secs, 50.0) <= 3.0 * percentile(&baseline, 50.0) + 2.0
            && percentile(&healthy_secs, 100.0) < percentile(&dead_secs, 100.0),
        "the healthy cluster slowed down: baseline {baseline:?}, now {healthy_secs:?}, dead {dead_secs:?}"
    );
}

/// The unreachable budget of the clusters in [`a_cluster_that_dies_mid_watch_fails_its_deployments_soon_and_alone`].
const WATCH_BUDGET: Duration = Duration::from_secs(3);
/// The rollout timeout those deployments ask for.
const ROLLOUT_TIMEOUT_SECS: u64 = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_that_dies_mid_watch_fails_its_deployments_soon_and_alone() {
    let _serial = serial().await;
    let apps = env_usize("RELIABILITY_KUBE_APPS", 6).min(4);
    let (dying, healthy) = (0, 1);
    let mut bed = Bed::new(Layout {
        clusters: 2,
        apps,
        replicas: 2,
        concurrency: 8,
        cluster_concurrency: 4,
        request_timeout: Duration::from_secs(2),
        unreachable_timeout: Some(WATCH_BUDGET),
        ..Layout::default()
    })
    .await;
    bed.start().await;

    // Releases that never become ready keep their deployments in the watch.
    let mut watched = Vec::new();
    for a in 0..apps {
        let mut body = Bed::deploy_body(
            &cluster_name(dying),
            &app_name(a),
            "v1-never-ready",
            &format!("dying-{a}"),
        );
        body["timeout"] = json!(format!("{ROLLOUT_TIMEOUT_SECS}s"));
        let (id, five_xx) = submit(&bed, &body, Duration::from_secs(30)).await;
        assert_eq!(five_xx, 0);
        watched.push(id.unwrap_or_else(|| panic!("not accepted: {body}")));
    }
    let looking = std::time::Instant::now();
    loop {
        let mut rolling = 0;
        for id in &watched {
            let r = bed.get(&format!("/api/v1/deployments/{id}")).await.unwrap_or_default();
            assert!(
                r["status"] != "failed" && r["status"] != "succeeded",
                "ended early: {r:#}"
            );
            if r["phase"] == "rolling_out" {
                rolling += 1;
            }
        }
        if rolling == watched.len() {
            break;
        }
        assert!(
            looking.elapsed() < Duration::from_secs(60),
            "the deployments never reached the watch; log:\n{}",
            bed.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    bed.shut_down_cluster(dying).await;
    let shut_down_at = chrono::Utc::now();
    let healthy_ids = deploy_all(&bed, healthy, apps, "v2").await;
    let (healthy_records, healthy_secs) = durations(&bed, &healthy_ids).await;
    let (dead, _) = durations(&bed, &watched).await;

    let mut after_shutdown = Vec::new();
    for r in &dead {
        assert_eq!(r["status"], "failed", "{r:#}");
        let code = r.pointer("/failure/code").and_then(Value::as_str).unwrap_or_default();
        let message = r
            .pointer("/failure/message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert_eq!(code, "cluster_unreachable", "{message}");
        assert!(message.contains("did not answer for 3s"), "unclear: {message}");
        assert!(message.contains("last error"), "no cause: {message}");
        let finished = r["finished_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .unwrap_or_else(|| panic!("no end time: {r:#}"));
        after_shutdown.push((finished.with_timezone(&chrono::Utc) - shut_down_at).num_milliseconds() as f64 / 1000.0);
    }
    after_shutdown.sort_by(f64::total_cmp);
    for r in &healthy_records {
        assert_eq!(r["status"], "succeeded", "{r:#}");
    }
    let records = bed.all_deployments().await;
    bed.assert_one_commit_per_change(&records);
    let compared = bed.assert_clusters_match_repo().await;
    let events = bed.assert_events_complete(&records).await;
    figure(
        "kube_dies_mid_watch",
        json!({
            "apps_per_cluster": apps,
            "unreachable_timeout_s": WATCH_BUDGET.as_secs(),
            "rollout_timeout_s": ROLLOUT_TIMEOUT_SECS,
            "failed_after_shutdown_s_min": percentile(&after_shutdown, 0.0),
            "failed_after_shutdown_s_max": percentile(&after_shutdown, 100.0),
            "healthy_s_p50": percentile(&healthy_secs, 50.0),
            "healthy_s_max": percentile(&healthy_secs, 100.0),
            "apps_compared_cluster_vs_git": compared,
            "events_checked": events,
        }),
    );
    // The watch gives up after the budget (plus the time to notice and record it), far from
    // the rollout's own timeout.
    let latest = percentile(&after_shutdown, 100.0);
    assert!(
        latest < 30.0,
        "the deployments of the dead cluster failed {latest} s after it went away"
    );
}
