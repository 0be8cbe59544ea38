//! `kill -9` of the deployer at every phase boundary, many times, under a running load.
//!
//! A load of deploy requests (each with its own idempotency key, re-sent until accepted)
//! runs across many applications on two clusters. Meanwhile the deployer is killed with
//! `SIGKILL` as soon as the API shows a deployment at the chosen boundary, then started again
//! on the same database, clone and remote. Boundaries, in turn:
//!
//! | boundary | seen through the API as |
//! |---|---|
//! | after accept | a deployment `queued` |
//! | after commit, before the push is recorded | phase `committing` |
//! | after push | phase `committed` (SHA recorded, apply not started) or `applying` |
//! | after apply | phase `applied`/`rolling_out` with no rollout observed yet |
//! | during watch | phase `rolling_out` with a rollout observed |
//!
//! Then every accepted request must have ended exactly once and succeeded, the remote must
//! have exactly one commit per request (by its `Deployment-Id` trailer) and each record must
//! name that commit's SHA, every cluster must run what git says, and every deployment's events
//! must be complete.
//!
//! The remote takes a while to accept each push (`RELIABILITY_CRASH_PUSH_DELAY_MS`, default
//! 300, in a `pre-receive` hook), so that a kill during the commit step often leaves a `git
//! push` running that lands after the deployer died, possibly after it was started again.
//!
//! `RELIABILITY_CRASH_REQUESTS` (default 120), `RELIABILITY_CRASH_APPS` per cluster (12),
//! `RELIABILITY_CRASH_ROUNDS` of the five kills (3).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::harness::{Bed, Layout, env_usize, figure, serial, submit};

/// The boundaries, with how each shows in a record.
const BOUNDARIES: [&str; 5] = ["accepted", "committing", "pushed", "applied", "watching"];

fn at_boundary(boundary: &str, r: &Value) -> bool {
    let phase = r["phase"].as_str().unwrap_or_default();
    let observed = r.get("rollout").is_some_and(|v| !v.is_null());
    match boundary {
        "accepted" => phase == "queued",
        "committing" => phase == "committing",
        "pushed" => matches!(phase, "committed" | "applying"),
        "applied" => matches!(phase, "applied" | "rolling_out") && !observed,
        "watching" => phase == "rolling_out" && observed,
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_nine_at_every_phase_boundary_loses_and_duplicates_nothing() {
    let _serial = serial().await;
    let requests = env_usize("RELIABILITY_CRASH_REQUESTS", 120);
    let apps = env_usize("RELIABILITY_CRASH_APPS", 12);
    let rounds = env_usize("RELIABILITY_CRASH_ROUNDS", 3);
    let push_delay_ms = env_usize("RELIABILITY_CRASH_PUSH_DELAY_MS", 300) as u64;
    let started = Instant::now();
    let bed = Arc::new(
        Bed::new(Layout {
            clusters: 2,
            apps,
            replicas: 2,
            latency_ms: 15,
            push_delay: Some(Duration::from_millis(push_delay_ms)),
            ..Layout::default()
        })
        .await,
    );
    bed.start().await;
    let targets = bed.targets();

    // The load: a few clients sending requests at a steady pace, each re-sent until accepted.
    let next = Arc::new(AtomicUsize::new(0));
    let accepted: Arc<std::sync::Mutex<BTreeMap<usize, String>>> = Arc::default();
    let five_xx = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (bed, next, accepted, five_xx, targets) = (
            bed.clone(),
            next.clone(),
            accepted.clone(),
            five_xx.clone(),
            targets.clone(),
        );
        clients.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= requests {
                    return;
                }
                let (cluster, app) = &targets[n % targets.len()];
                let body = Bed::deploy_body(cluster, app, &format!("v{}", n + 1), &format!("crash-{n}"));
                let (id, errors) = submit(&bed, &body, Duration::from_secs(120)).await;
                five_xx.fetch_add(errors, Ordering::SeqCst);
                let id = id.unwrap_or_else(|| panic!("request {n} was never accepted"));
                accepted
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(n, id);
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        }));
    }

    // The killer.
    let mut kills: Vec<Value> = Vec::new();
    let mut missed = 0;
    'rounds: for round in 0..rounds {
        for boundary in BOUNDARIES {
            if next.load(Ordering::SeqCst) >= requests && bed.any_unfinished().await == Some(false) {
                break 'rounds;
            }
            let looking = Instant::now();
            let mut seen: Option<Value> = None;
            while looking.elapsed() < Duration::from_secs(15) {
                if let Some(unfinished) = bed.unfinished().await
                    && let Some(r) = unfinished.into_iter().find(|r| at_boundary(boundary, r))
                {
                    seen = Some(r);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            bed.kill9();
            let orphaned_pushes = bed.git_pushes_running();
            if seen.is_none() {
                missed += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let restart = bed.start().await;
            kills.push(json!({
                "round": round,
                "boundary": boundary,
                "caught": seen.as_ref().map(|r| json!({"id": r["id"], "phase": r["phase"]})),
                "restart_ready_ms": restart.as_millis() as u64,
                "git_pushes_left_running": orphaned_pushes,
            }));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    for c in clients {
        c.await.unwrap_or_else(|e| panic!("load client: {e}"));
    }
    let drain = bed.drain(Duration::from_secs(240)).await;

    // Every accepted request ended, exactly once.
    let accepted = accepted
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert_eq!(accepted.len(), requests, "every request was accepted");
    let records = bed.all_deployments().await;
    let by_id: BTreeMap<String, Value> = records
        .iter()
        .filter_map(|r| Some((r["id"].as_str()?.to_owned(), r.clone())))
        .collect();
    let distinct: BTreeSet<&String> = accepted.values().collect();
    assert_eq!(distinct.len(), requests, "each request made one deployment");
    assert_eq!(records.len(), requests, "no deployment beyond the requests");
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for id in accepted.values() {
        let r = by_id
            .get(id)
            .unwrap_or_else(|| panic!("accepted deployment {id} is not in the history"));
        *statuses
            .entry(r["status"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    // Every request changes its image, so each must succeed with a commit of its own, and its
    // record must name that commit.
    let not_succeeded: Vec<&Value> = records.iter().filter(|r| r["status"] != "succeeded").collect();
    assert!(
        not_succeeded.is_empty(),
        "deployments that did not succeed: {not_succeeded:#?}"
    );
    let commits = bed.assert_one_commit_per_change(&records);
    assert_eq!(commits, requests, "one commit per request");
    let compared = bed.assert_clusters_match_repo().await;
    let events = bed.assert_events_complete(&records).await;
    let restarts: Vec<u64> = kills.iter().filter_map(|k| k["restart_ready_ms"].as_u64()).collect();
    let orphaned: u64 = kills.iter().filter_map(|k| k["git_pushes_left_running"].as_u64()).sum();
    figure(
        "crash",
        json!({
            "requests": requests,
            "push_delay_ms": push_delay_ms,
            "targets": bed.targets().len(),
            "kills": kills.len(),
            "boundaries_missed": missed,
            "statuses": statuses,
            "commits": commits,
            "apps_compared_cluster_vs_git": compared,
            "events_checked": events,
            "five_xx_while_restarting": five_xx.load(Ordering::SeqCst),
            "restart_ready_ms_max": restarts.iter().max(),
            "git_pushes_left_running_by_kills": orphaned,
            "drain_after_load_s": drain.as_secs_f64(),
            "total_s": started.elapsed().as_secs_f64(),
            "kill_log": kills,
        }),
    );
    assert!(
        missed <= kills.len() / 2,
        "too many boundaries were never seen ({missed} of {})",
        kills.len()
    );
}
