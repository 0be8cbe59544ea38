//! Failing clusters: one simulated API server answers 500, 503 and 429 to a share of its
//! requests and keeps cutting its watches; another is shut down; a third is healthy.
//!
//! Deployments to the faulty cluster still complete; those to the dead one fail with
//! `cluster_unreachable` and a message saying so; the healthy one keeps its speed (its
//! deployments take about as long as in a baseline run with no other cluster busy), because
//! a cluster only ever gets `queue.cluster_concurrency` of the queue's workers.
//! `RELIABILITY_KUBE_FAULT_RATE` (default 0.25) sets the share of failed requests.

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
