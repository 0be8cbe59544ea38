//! The deployer and the script side by side on the same applications, clusters and remote:
//! deploys per second until applied and until rolled out.

use std::time::Duration;

use crate::api::Api;
use crate::baseline::{Baseline, BaselineRun};
use crate::cells::{one, pct};
use crate::load::{self, Pace};
use crate::report::{ScenarioReport, Table};
use crate::stats::ratio;
use crate::world::{World, WorldSpec};

use super::Ctx;

/// Runs the scenario.
///
/// # Errors
/// When the world, the deployer or the script fails.
pub async fn run(ctx: &Ctx) -> anyhow::Result<ScenarioReport> {
    let s = &ctx.sizes;
    let n = s.baseline_deploys.max(1);
    let spec = WorldSpec {
        clusters: s.baseline_clusters,
        apps: s.baseline_apps.max(n),
        queue: ctx.queue,
        controller_niceness: ctx.controller_niceness,
        ..WorldSpec::default()
    };
    let world = World::create(&ctx.world_dir("baseline")?, &spec).await?;
    let mut report = ScenarioReport::new(
        "baseline",
        format!(
            "the same {n} apps on {} clusters: the deployer (all requested at once) and the script (one deploy at a time: sed, git commit, git push, kubectl apply --server-side [, kubectl rollout status])",
            s.baseline_clusters
        ),
    );
    let deployer = world.start_deployer(&ctx.launch).await?;
    let api = Api::new(&deployer.url, &world.token)?;
    let shots = load::round_robin(n, n);
    let submission = load::submit(&world, &api, &shots, Pace::AllAtOnce(16)).await;
    api.wait_idle(Duration::from_millis(100), Duration::from_secs(600))
        .await?;
    let records = api.records().await?;
    deployer.stop().await?;
    let d = load::outcome(&records, &submission.accepted, submission.started_at);
    let d_applied = per_second(d.to_applied.map_or(0, |p| p.count), d.all_applied_ms);
    let d_finished = per_second(d.to_finished.map_or(0, |p| p.count), d.all_finished_ms);

    let script = Baseline::prepare(&world)?;
    let plain = script.run(&world, n, false, 1).await?;
    let waited = script.run(&world, n, true, 2).await?;

    let mut t = Table::new(
        format!("The same {n} apps: deploys/s"),
        &["until", "deployer", "script", "deployer / script"],
    );
    t.row(vec![
        "applied".into(),
        one(d_applied),
        format!("{:.2}", plain.per_second),
        ratio(d_applied, plain.per_second),
    ]);
    t.row(vec![
        "rolled out".into(),
        one(d_finished),
        format!("{:.2}", waited.per_second),
        ratio(d_finished, waited.per_second),
    ]);
    report.tables.push(t);
    let mut l = Table::new(
        "Script step latency, ms from its start",
        &[
            "run",
            "→ pushed p50 / p99",
            "→ applied p50 / p99",
            "→ rolled out p50 / p99",
        ],
    );
    for (name, run) in [("without rollout status", &plain), ("with rollout status", &waited)] {
        l.row(vec![
            name.into(),
            pair(run, |r| r.to_pushed.as_ref()),
            pair(run, |r| r.to_applied.as_ref()),
            pair(run, |r| r.to_rolled_out.as_ref()),
        ]);
    }
    report.tables.push(l);
    if !d.failed.is_empty() || !submission.refused.is_empty() {
        report.problems.push(format!(
            "deployer: failed {:?}, refused {}",
            d.failed,
            submission.refused.len()
        ));
    }
    world.shutdown().await;
    Ok(report)
}

fn per_second(count: usize, ms: Option<f64>) -> f64 {
    ms.filter(|ms| *ms > 0.0).map_or(0.0, |ms| count as f64 / (ms / 1000.0))
}

fn pair(run: &BaselineRun, pick: fn(&BaselineRun) -> Option<&crate::stats::Percentiles>) -> String {
    format!("{} / {}", pct(pick(run), |p| p.p50), pct(pick(run), |p| p.p99))
}
