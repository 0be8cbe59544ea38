//! A fleet deploy: every application across every cluster requested at once; wall time until
//! all are committed and applied and until all rollouts succeed, commits pushed per second,
//! and the same throughput for the script, one deploy at a time.

use std::time::Duration;

use crate::api::Api;
use crate::baseline::Baseline;
use crate::cells::{one, secs, triple};
use crate::load::{self, Pace};
use crate::repo;
use crate::report::{ScenarioReport, Table};
use crate::stats::ratio;
use crate::world::{World, WorldSpec};

use super::Ctx;

/// Connections used to send the requests.
const CONNECTIONS: usize = 64;

/// Runs the scenario.
///
/// # Errors
/// When the world, the deployer or the baseline fails.
pub async fn run(ctx: &Ctx) -> anyhow::Result<ScenarioReport> {
    let s = &ctx.sizes;
    let spec = WorldSpec {
        clusters: s.fleet_clusters,
        apps: s.fleet_apps,
        queue: ctx.queue,
        controller_niceness: ctx.controller_niceness,
        ..WorldSpec::default()
    };
    let world = World::create(&ctx.world_dir("fleet")?, &spec).await?;
    let mut report = ScenarioReport::new(
        "fleet",
        format!(
            "{} apps on {} clusters, one deploy each, sent at once over {CONNECTIONS} connections; times from the first request",
            s.fleet_apps, s.fleet_clusters
        ),
    );
    let before = repo::commit_count(&world.remote)?;
    let deployer = world.start_deployer(&ctx.launch).await?;
    let api = Api::new(&deployer.url, &world.token)?;
    let shots = load::round_robin(world.apps.len(), world.apps.len());
    let submission = load::submit(&world, &api, &shots, Pace::AllAtOnce(CONNECTIONS)).await;
    api.wait_idle(Duration::from_millis(250), Duration::from_secs(1800))
        .await?;
    let records = api.records().await?;
    deployer.stop().await?;
    let outcome = load::outcome(&records, &submission.accepted, submission.started_at);
    let pushed = repo::commit_count(&world.remote)?.saturating_sub(before);
    let commit_seconds = outcome.all_committed_ms.unwrap_or(f64::NAN) / 1000.0;
    let commits_per_second = pushed as f64 / commit_seconds;
    let applied_seconds = outcome.all_applied_ms.unwrap_or(f64::NAN) / 1000.0;
    let finished_seconds = outcome.all_finished_ms.unwrap_or(f64::NAN) / 1000.0;
    let applied_rate = outcome.to_applied.map_or(0, |p| p.count) as f64 / applied_seconds;
    let finished_rate = outcome.to_finished.map_or(0, |p| p.count) as f64 / finished_seconds;

    let mut t = Table::new(
        "Deployer",
        &[
            "apps",
            "sending s",
            "all committed s",
            "all applied s",
            "all succeeded s",
            "commits pushed",
            "commits/s",
            "applied/s",
            "succeeded/s",
        ],
    );
    t.row(vec![
        outcome.deployments.to_string(),
        format!("{:.1}", submission.duration.as_secs_f64()),
        secs(outcome.all_committed_ms),
        secs(outcome.all_applied_ms),
        secs(outcome.all_finished_ms),
        pushed.to_string(),
        one(commits_per_second),
        one(applied_rate),
        one(finished_rate),
    ]);
    report.tables.push(t);
    let mut lat = Table::new(
        "Deployer: per-deployment latency under the fleet load, ms",
        &["step", "p50 / p95 / p99"],
    );
    lat.row(vec![
        "accepted → committed".into(),
        triple(outcome.to_committed.as_ref()),
    ]);
    lat.row(vec!["accepted → applied".into(), triple(outcome.to_applied.as_ref())]);
    lat.row(vec![
        "accepted → rolled out".into(),
        triple(outcome.to_finished.as_ref()),
    ]);
    report.tables.push(lat);
    if !outcome.failed.is_empty() || outcome.unfinished > 0 || !submission.refused.is_empty() {
        report.problems.push(format!(
            "refused {}, failed {:?}, unfinished {}{}",
            submission.refused.len(),
            outcome.failed,
            outcome.unfinished,
            submission
                .refused
                .first()
                .map(|r| format!("; first refusal: {} {}", r.status, r.detail))
                .unwrap_or_default()
        ));
    }

    let baseline = Baseline::prepare(&world)?;
    let plain = baseline.run(&world, s.baseline_deploys, false, 1).await?;
    let waited = baseline.run(&world, s.baseline_deploys, true, 2).await?;
    let mut b = Table::new(
        format!(
            "Throughput, deploys/s: deployer ({} apps at once) vs the script ({} deploys one at a time, same clusters and remote)",
            s.fleet_apps, s.baseline_deploys
        ),
        &["until", "deployer", "script", "deployer / script"],
    );
    b.row(vec![
        "applied (script: push + kubectl apply)".into(),
        one(applied_rate),
        format!("{:.2}", plain.per_second),
        ratio(applied_rate, plain.per_second),
    ]);
    b.row(vec![
        "rolled out (script: + kubectl rollout status)".into(),
        one(finished_rate),
        format!("{:.2}", waited.per_second),
        ratio(finished_rate, waited.per_second),
    ]);
    b.row(vec![
        "script time for the whole fleet, s".into(),
        format!("{applied_seconds:.1}"),
        format!("{:.0}", s.fleet_apps as f64 / plain.per_second),
        "(extrapolated)".into(),
    ]);
    report.tables.push(b);

    report.check(
        format!("{} apps all applied ≤ 20 s", s.fleet_apps),
        format!("{applied_seconds:.1} s"),
        applied_seconds <= 20.0,
    );
    report.check(
        "≥ 100 commits/s pushed",
        format!("{commits_per_second:.1}/s"),
        commits_per_second >= 100.0,
    );
    let factor = applied_rate / plain.per_second;
    report.check(
        "≥ 20× the script's throughput (to applied)",
        format!("{factor:.1}×"),
        factor >= 20.0,
    );
    world.shutdown().await;
    Ok(report)
}
