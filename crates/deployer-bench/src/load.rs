//! Driving the deployer: which deploys to ask for, asking at a pace (open loop), and reading
//! the latencies back from the deployments' phase times.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use deployer_core::model::Status;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::api::{Api, Record, Refused, between_ms, phase_time};
use crate::layout;
use crate::stats::Percentiles;
use crate::world::World;

/// One deploy to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shot {
    /// Index of the application.
    pub app: usize,
    /// The new tag.
    pub tag: String,
}

/// `count` deploys over `apps` applications in turn; each application's tags count up from
/// `v1`, so every deploy changes its file.
pub fn round_robin(apps: usize, count: usize) -> Vec<Shot> {
    let apps = apps.max(1);
    (0..count)
        .map(|i| Shot {
            app: i % apps,
            tag: layout::tag(i / apps + 1),
        })
        .collect()
}

/// How fast to ask.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Open loop: request `i` is sent at `start + i / rate`, whatever earlier answers do.
    Rate(f64),
    /// Everything at once, over this many connections.
    AllAtOnce(usize),
}

/// What submitting gave.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Wall-clock time of the first request.
    pub started_at: DateTime<Utc>,
    /// How long sending everything took.
    pub duration: Duration,
    /// Accepted deployment ids.
    pub accepted: Vec<String>,
    /// Refusals.
    pub refused: Vec<Refused>,
    /// Time from sending each accepted request to its answer, in ms.
    pub answer_ms: Vec<f64>,
    /// How far behind schedule requests were sent (open loop), p99 in ms.
    pub lag_p99_ms: f64,
}

/// Sends `shots` to the deployer at `pace`.
pub async fn submit(world: &World, api: &Api, shots: &[Shot], pace: Pace) -> Submission {
    let started_at = Utc::now();
    let start = Instant::now();
    let limit = Arc::new(Semaphore::new(match pace {
        Pace::AllAtOnce(n) => n.max(1),
        Pace::Rate(_) => 4096,
    }));
    let mut tasks = JoinSet::new();
    let mut lags = Vec::with_capacity(shots.len());
    for (i, shot) in shots.iter().enumerate() {
        if let Pace::Rate(rate) = pace {
            let due = start + Duration::from_secs_f64(i as f64 / rate.max(0.001));
            tokio::time::sleep_until(due.into()).await;
            lags.push(Instant::now().saturating_duration_since(due).as_secs_f64() * 1000.0);
        }
        let Ok(permit) = Arc::clone(&limit).acquire_owned().await else {
            break;
        };
        let app = &world.apps[shot.app];
        let cluster = world.cluster_of(app).clone();
        let (api, file, tag) = (api.clone(), app.name.clone(), shot.tag.clone());
        tasks.spawn(async move {
            let sent = Instant::now();
            let result = api.deploy(&cluster.region, &cluster.cluster, &file, &tag).await;
            drop(permit);
            (result, sent.elapsed())
        });
    }
    let mut submission = Submission {
        started_at,
        duration: Duration::ZERO,
        accepted: Vec::with_capacity(shots.len()),
        refused: Vec::new(),
        answer_ms: Vec::with_capacity(shots.len()),
        lag_p99_ms: Percentiles::of_millis(&lags).map_or(0.0, |p| p.p99),
    };
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((Ok(id), took)) => {
                submission.accepted.push(id);
                submission.answer_ms.push(took.as_secs_f64() * 1000.0);
            }
            Ok((Err(refused), _)) => submission.refused.push(refused),
            Err(e) => submission.refused.push(Refused {
                status: 0,
                detail: e.to_string(),
            }),
        }
    }
    submission.duration = start.elapsed();
    submission
}

/// Latencies of a set of deployments, from their phase times.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Deployments looked at.
    pub deployments: usize,
    /// How many succeeded.
    pub succeeded: usize,
    /// How many failed, by failure code.
    pub failed: BTreeMap<String, usize>,
    /// How many had not ended.
    pub unfinished: usize,
    /// Accepted (`queued`) to the commit pushed (`committed`).
    pub to_committed: Option<Percentiles>,
    /// Accepted to the apply acknowledged (`applied`).
    pub to_applied: Option<Percentiles>,
    /// Accepted to the end of the rollout (`finished`, succeeded ones).
    pub to_finished: Option<Percentiles>,
    /// From `since` to the last `committed`, in ms.
    pub all_committed_ms: Option<f64>,
    /// From `since` to the last `applied`, in ms.
    pub all_applied_ms: Option<f64>,
    /// From `since` to the last `finished`, in ms.
    pub all_finished_ms: Option<f64>,
    /// Distinct commits among them.
    pub commits: usize,
    /// Each step between two consecutive phases up to `applied` ([`STAGES`]), in that order.
    pub stages: Vec<Option<Percentiles>>,
}

/// The steps of a deployment up to the apply, as pairs of phases, and what each one is.
pub const STAGES: [(&str, &str, &str); 4] = [
    ("queued", "committing", "waiting for a worker"),
    ("committing", "committed", "edit, commit and push"),
    ("committed", "applying", "to the apply request"),
    ("applying", "applied", "apply request"),
];

/// Reads the outcome of the deployments `ids` out of `records`, with wall times from `since`.
pub fn outcome(records: &[Record], ids: &[String], since: DateTime<Utc>) -> Outcome {
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut out = Outcome::default();
    let (mut committed, mut applied, mut finished) = (Vec::new(), Vec::new(), Vec::new());
    let (mut last_committed, mut last_applied, mut last_finished) = (None, None, None);
    let mut shas = HashSet::new();
    let mut stages = vec![Vec::new(); STAGES.len()];
    let later = |a: Option<DateTime<Utc>>, b: DateTime<Utc>| Some(a.map_or(b, |a: DateTime<Utc>| a.max(b)));
    for r in records.iter().filter(|r| wanted.contains(r.id.as_str())) {
        out.deployments += 1;
        match r.status {
            Status::Succeeded | Status::Unchanged => out.succeeded += 1,
            Status::Failed => {
                let code = r
                    .failure
                    .as_ref()
                    .map_or_else(|| "unknown".to_owned(), |f| f.code.clone());
                *out.failed.entry(code).or_default() += 1;
            }
            Status::Queued | Status::Running => out.unfinished += 1,
        }
        if let Some(sha) = &r.commit_sha {
            shas.insert(sha.clone());
        }
        for ((from, to, _), samples) in STAGES.iter().zip(&mut stages) {
            if let (Some(from), Some(to)) = (phase_time(r, from), phase_time(r, to)) {
                samples.push(between_ms(from, to));
            }
        }
        let Some(queued) = phase_time(r, "queued") else {
            continue;
        };
        if let Some(t) = phase_time(r, "committed") {
            committed.push(between_ms(queued, t));
            last_committed = later(last_committed, t);
        }
        if let Some(t) = phase_time(r, "applied") {
            applied.push(between_ms(queued, t));
            last_applied = later(last_applied, t);
        }
        if r.status == Status::Succeeded
            && let Some(t) = r.finished_at
        {
            finished.push(between_ms(queued, t));
            last_finished = later(last_finished, t);
        }
    }
    out.commits = shas.len();
    out.to_committed = Percentiles::of_millis(&committed);
    out.to_applied = Percentiles::of_millis(&applied);
    out.to_finished = Percentiles::of_millis(&finished);
    out.stages = stages.iter().map(|samples| Percentiles::of_millis(samples)).collect();
    out.all_committed_ms = last_committed.map(|t| between_ms(since, t));
    out.all_applied_ms = last_applied.map(|t| between_ms(since, t));
    out.all_finished_ms = last_finished.map(|t| between_ms(since, t));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_visits_every_app_before_bumping_the_tag() {
        let shots = round_robin(2, 5);
        let seen: Vec<(usize, &str)> = shots.iter().map(|s| (s.app, s.tag.as_str())).collect();
        assert_eq!(seen, vec![(0, "v1"), (1, "v1"), (0, "v2"), (1, "v2"), (0, "v3")]);
    }

    #[test]
    fn the_outcome_reads_latencies_from_phase_times_of_the_wanted_deployments_only() -> anyhow::Result<()> {
        let records: Vec<Record> = serde_json::from_value(serde_json::json!([
            {"id": "a", "status": "succeeded", "commit_sha": "c1", "finished_at": "2026-01-01T00:00:01Z",
             "phase_times": {"queued": "2026-01-01T00:00:00Z", "committing": "2026-01-01T00:00:00.004Z", "committed": "2026-01-01T00:00:00.010Z", "applied": "2026-01-01T00:00:00.020Z"}},
            {"id": "b", "status": "failed", "failure": {"code": "push_failed"},
             "phase_times": {"queued": "2026-01-01T00:00:00Z"}},
            {"id": "c", "status": "succeeded", "commit_sha": "c3",
             "phase_times": {"queued": "2026-01-01T00:00:00Z", "committed": "2026-01-01T00:00:09Z"}}
        ]))?;
        let since: DateTime<Utc> = "2026-01-01T00:00:00Z".parse()?;
        let o = outcome(&records, &["a".to_owned(), "b".to_owned()], since);
        assert_eq!((o.deployments, o.succeeded, o.commits), (2, 1, 1));
        assert_eq!(o.failed.get("push_failed"), Some(&1));
        assert_eq!(o.to_committed.map(|p| p.p50), Some(10.0));
        assert_eq!((o.all_applied_ms, o.all_finished_ms), (Some(20.0), Some(1000.0)));
        let stage_p50: Vec<Option<f64>> = o.stages.iter().map(|s| s.as_ref().map(|p| p.p50)).collect();
        assert_eq!(
            stage_p50,
            vec![Some(4.0), Some(6.0), None, None],
            "only steps with both phases count"
        );
        Ok(())
    }
}
