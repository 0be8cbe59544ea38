//! Per-deploy overhead: from API acceptance to the commit pushed and to the apply acknowledged,
//! at a few request rates (open loop), next to the script doing one deploy at a time.

use std::time::Duration;

use crate::api::Api;
use crate::baseline::Baseline;
use crate::cells::{pct, triple};
use crate::load::{self, Pace};
use crate::report::{ScenarioReport, Table};
use crate::stats::ratio;
use crate::world::{World, WorldSpec};

use super::Ctx;

/// Runs the scenario.
///
/// # Errors
/// When the world, the deployer or the baseline fails.
pub async fn run(ctx: &Ctx) -> anyhow::Result<ScenarioReport> {
    let s = &ctx.sizes;
    let spec = WorldSpec {
        clusters: s.overhead_clusters,
        apps: s.overhead_apps,
        queue: ctx.queue,
        controller_niceness: ctx.controller_niceness,
        ..WorldSpec::default()
    };
    let world = World::create(&ctx.world_dir("overhead")?, &spec).await?;
    let mut report = ScenarioReport::new(
        "overhead",
        format!(
            "{} apps on {} clusters; {} s of open-loop load per rate; latencies from the deployments' `phase_times`",
            s.overhead_apps, s.overhead_clusters, s.overhead_seconds
        ),
    );
    let deployer = world.start_deployer(&ctx.launch).await?;
    let api = Api::new(&deployer.url, &world.token)?;
    let mut table = Table::new(
        "Deployer: accepted → committed (pushed) and → applied, ms",
        &[
            "rate /s",
            "sent",
            "refused",
            "→ committed p50 / p95 / p99",
            "→ applied p50 / p95 / p99",
            "→ rolled out p50 / p99",
            "send lag p99",
        ],
    );
    let total: usize = s.overhead_rates.iter().map(|r| count(*r, s.overhead_seconds)).sum();
    let all_shots = load::round_robin(world.apps.len(), total);
    let mut stages = Table::new(
        "Deployer: where the time to applied goes, p50 / p95 / p99 of each step, ms",
        &std::iter::once("rate /s")
            .chain(load::STAGES.iter().map(|(_, _, what)| *what))
            .collect::<Vec<_>>(),
    );
    let mut offset = 0;
    let mut lowest = None;
    for rate in &s.overhead_rates {
        let n = count(*rate, s.overhead_seconds);
        let shots = &all_shots[offset..offset + n];
        offset += n;
        let submission = load::submit(&world, &api, shots, Pace::Rate(*rate)).await;
        api.wait_idle(Duration::from_millis(200), Duration::from_secs(600))
            .await?;
        let records = api.records().await?;
        let outcome = load::outcome(&records, &submission.accepted, submission.started_at);
        table.row(vec![
            format!("{rate}"),
            n.to_string(),
            submission.refused.len().to_string(),
            triple(outcome.to_committed.as_ref()),
            triple(outcome.to_applied.as_ref()),
            format!(
                "{} / {}",
                pct(outcome.to_finished.as_ref(), |p| p.p50),
                pct(outcome.to_finished.as_ref(), |p| p.p99)
            ),
            format!("{:.1}", submission.lag_p99_ms),
        ]);
        stages.row(
            std::iter::once(format!("{rate}"))
                .chain(outcome.stages.iter().map(|p| triple(p.as_ref())))
                .collect(),
        );
        if !outcome.failed.is_empty() {
            report
                .problems
                .push(format!("at {rate}/s, failed deployments: {:?}", outcome.failed));
        }
        if let Some(r) = submission.refused.first() {
            report.problems.push(format!(
                "at {rate}/s, {} refused, e.g. {} {}",
                submission.refused.len(),
                r.status,
                r.detail
            ));
        }
        if *rate >= 100.0 {
            let c = outcome.to_committed.as_ref().map_or(f64::INFINITY, |p| p.p99);
            let a = outcome.to_applied.as_ref().map_or(f64::INFINITY, |p| p.p99);
            report.check(
                format!("accepted → committed p99 ≤ 20 ms at {rate}/s"),
                format!("{c:.1} ms"),
                c <= 20.0,
            );
            report.check(
                format!("accepted → applied p99 ≤ 20 ms at {rate}/s"),
                format!("{a:.1} ms"),
                a <= 20.0,
            );
        }
        if lowest.is_none() {
            lowest = Some((*rate, outcome));
        }
    }
    report.tables.push(table);
    report.tables.push(stages);
    deployer.stop().await?;

    let baseline = Baseline::prepare(&world)?;
    let run = baseline.run(&world, s.baseline_deploys, false, 1).await?;
    if let Some((rate, d)) = lowest {
        let mut t = Table::new(
            format!("One deploy at a time: deployer at {rate}/s vs the script (sed, commit, push, kubectl apply), ms"),
            &[
                "step",
                "deployer p50",
                "deployer p99",
                "script p50",
                "script p99",
                "script / deployer (p50)",
            ],
        );
        let d_c = d.to_committed.as_ref();
        let d_a = d.to_applied.as_ref();
        t.row(vec![
            "→ pushed".into(),
            pct(d_c, |p| p.p50),
            pct(d_c, |p| p.p99),
            pct(run.to_pushed.as_ref(), |p| p.p50),
            pct(run.to_pushed.as_ref(), |p| p.p99),
            ratio(run.to_pushed.map_or(0.0, |p| p.p50), d_c.map_or(0.0, |p| p.p50)),
        ]);
        t.row(vec![
            "→ applied".into(),
            pct(d_a, |p| p.p50),
            pct(d_a, |p| p.p99),
            pct(run.to_applied.as_ref(), |p| p.p50),
            pct(run.to_applied.as_ref(), |p| p.p99),
            ratio(run.to_applied.map_or(0.0, |p| p.p50), d_a.map_or(0.0, |p| p.p50)),
        ]);
        report.tables.push(t);
    }
    world.shutdown().await;
    Ok(report)
}

fn count(rate: f64, seconds: f64) -> usize {
    ((rate * seconds).round() as usize).max(3)
}
