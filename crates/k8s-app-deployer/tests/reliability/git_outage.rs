//! The git remote goes away during load (its directory is renamed away, then back).
//!
//! Deployments accepted during the outage wait for the remote (`queue.repo_wait`), except
//! those that start within the gate's trust of its last successful check (a few seconds),
//! which fail like the ones in flight; the first
//! one of each target lands within seconds of its return, and the rest follow in order (one
//! at a time per target, so the backlog takes as long as its longest target queue). A
//! deployment whose wait is over fails saying the configuration repository is unavailable.
//! `RELIABILITY_GIT_OUTAGE_SECS` sets the outage (default 20, to keep the suite short; the
//! 30 s of the issue is `RELIABILITY_GIT_OUTAGE_SECS=30`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::harness::{Bed, Layout, env_secs, figure, percentile, serial, submit};

/// How long after a successful check the queue's repository gate lets deployments start
/// without waiting for a new one (`queue::repo_gate`): a deployment accepted that soon after
/// the remote went away may start, and fail like one that was in flight.
const GATE_TRUST: Duration = Duration::from_secs(5);

/// The failure codes that say the configuration repository could not be reached.
const REPO_CODES: [&str; 3] = ["unavailable", "repo_unavailable", "push_contention"];

fn time(r: &Value, key: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(r[key].as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn rename(from: &std::path::Path, to: &std::path::Path) {
    std::fs::rename(from, to).unwrap_or_else(|e| panic!("rename {} → {}: {e}", from.display(), to.display()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploys_wait_for_the_git_remote_and_land_soon_after_it_returns() {
    let _serial = serial().await;
    let outage = env_secs("RELIABILITY_GIT_OUTAGE_SECS", 20);
    let bed = Arc::new(
        Bed::new(Layout {
            clusters: 1,
            apps: 12,
            repo_wait: outage + Duration::from_secs(60),
            ..Layout::default()
        })
        .await,
    );
    bed.start().await;
    let targets = bed.targets();
    let away = bed.remote.with_extension("away");

    // Load: one request every 400 ms, from before the outage until after it.
    let load_for = outage + Duration::from_secs(8);
    let load = {
        let (bed, targets) = (bed.clone(), targets.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let mut ids = Vec::new();
            let mut n = 0;
            while started.elapsed() < load_for {
                let (cluster, app) = &targets[n % targets.len()];
                let body = Bed::deploy_body(cluster, app, &format!("v{}", n + 1), &format!("outage-{n}"));
                let (id, five_xx) = submit(&bed, &body, Duration::from_secs(30)).await;
                assert_eq!(five_xx, 0, "the API answered 5xx during the outage");
                ids.push(id.unwrap_or_else(|| panic!("request {n} was not accepted")));
                n += 1;
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            ids
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let down = Utc::now();
    rename(&bed.remote, &away);
    tokio::time::sleep(outage).await;
    rename(&away, &bed.remote);
    let up = Utc::now();
    let ids = load.await.unwrap_or_else(|e| panic!("load: {e}"));
    bed.drain(Duration::from_secs(120)).await;

    let records = bed.all_deployments().await;
    assert_eq!(records.len(), ids.len());
    let mut during = 0;
    let mut lateness: Vec<f64> = Vec::new();
    let mut first_per_target: BTreeMap<String, (DateTime<Utc>, f64)> = BTreeMap::new();
    let mut failed_codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed_after_down = 0;
    for r in &records {
        let (Some(created), Some(finished)) = (time(r, "created_at"), time(r, "finished_at")) else {
            panic!("record without times: {r}");
        };
        if r["status"] == "failed" {
            let code = r.pointer("/failure/code").and_then(Value::as_str).unwrap_or_default();
            let message = r
                .pointer("/failure/message")
                .and_then(Value::as_str)
                .unwrap_or_default();
            assert!(REPO_CODES.contains(&code), "unexpected failure {code}: {message}");
            assert!(message.contains("repository"), "unclear failure message: {message}");
            let trusted_until = down + chrono::Duration::from_std(GATE_TRUST).unwrap_or_default();
            assert!(
                created < trusted_until,
                "a deployment accepted during the outage failed instead of waiting: {r}"
            );
            if created >= down {
                failed_after_down += 1;
            }
            *failed_codes.entry(code.to_owned()).or_default() += 1;
            continue;
        }
        assert_eq!(r["status"], "succeeded", "{r}");
        if created >= down && created < up {
            during += 1;
            assert!(finished >= up, "landed while the remote was away: {r}");
            let late = (finished - up).num_milliseconds() as f64 / 1000.0;
            lateness.push(late);
            let target = r
                .pointer("/request/target/file")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let first = first_per_target.entry(target).or_insert((created, late));
            if created < first.0 {
                *first = (created, late);
            }
        }
    }
    lateness.sort_by(f64::total_cmp);
    let mut first: Vec<f64> = first_per_target.values().map(|(_, late)| *late).collect();
    first.sort_by(f64::total_cmp);
    let commits = bed.assert_one_commit_per_change(&records);
    let compared = bed.assert_clusters_match_repo().await;
    bed.assert_events_complete(&records).await;
    figure(
        "git_outage",
        json!({
            "outage_s": outage.as_secs(),
            "requests": ids.len(),
            "accepted_during_outage": during,
            "first_per_target_landed_after_return_s_p50": percentile(&first, 50.0),
            "first_per_target_landed_after_return_s_max": percentile(&first, 100.0),
            "backlog_landed_after_return_s_p50": percentile(&lateness, 50.0),
            "backlog_drained_after_return_s": percentile(&lateness, 100.0),
            "failed_in_flight_when_it_went_away": failed_codes,
            "of_which_accepted_just_after_it_went_away": failed_after_down,
            "commits": commits,
            "apps_compared_cluster_vs_git": compared,
        }),
    );
    assert!(during > 0, "no request fell into the outage");
    assert!(
        percentile(&first, 100.0) < 10.0,
        "the first deployment of a target waited too long after the remote returned: {first:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploys_whose_wait_for_the_git_remote_is_over_fail_clearly() {
    let _serial = serial().await;
    let bed = Bed::new(Layout {
        clusters: 1,
        apps: 3,
        repo_wait: Duration::from_secs(3),
        ..Layout::default()
    })
    .await;
    bed.start().await;
    let away = bed.remote.with_extension("away");
    rename(&bed.remote, &away);
    let mut ids = Vec::new();
    for (n, (cluster, app)) in bed.targets().iter().enumerate() {
        let body = Bed::deploy_body(cluster, app, "v9", &format!("late-{n}"));
        let (id, _) = submit(&bed, &body, Duration::from_secs(10)).await;
        ids.push(id.unwrap_or_else(|| panic!("request {n} was not accepted")));
    }
    let mut waited = Vec::new();
    for id in &ids {
        let r = bed.finished(id, Duration::from_secs(30)).await;
        assert_eq!(r["status"], "failed", "{r}");
        let code = r.pointer("/failure/code").and_then(Value::as_str).unwrap_or_default();
        let message = r
            .pointer("/failure/message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert!(REPO_CODES.contains(&code), "{code}: {message}");
        assert!(message.contains("configuration repository"), "unclear: {message}");
        waited.push(super::harness::duration_secs(&r).unwrap_or_default());
    }
    rename(&away, &bed.remote);
    assert!(bed.commit_ids().is_empty(), "nothing may be committed");
    figure(
        "git_outage_deadline",
        json!({ "repo_wait_s": 3, "failed": ids.len(), "time_to_fail_s": waited }),
    );
}
