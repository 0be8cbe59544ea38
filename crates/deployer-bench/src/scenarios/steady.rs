//! A sustained rate (100 deploys/s for 60 s at full size): latency percentiles, CPU, and the
//! peak and steady resident memory of the deployer process.

use std::time::Duration;

use crate::api::Api;
use crate::cells::{one, triple};
use crate::load::{self, Pace};
use crate::procfs;
use crate::report::{ScenarioReport, Table};
use crate::sampler::{self, Sampler};
use crate::world::{World, WorldSpec};

use super::Ctx;

/// Runs the scenario.
///
/// # Errors
/// When the world or the deployer fails.
pub async fn run(ctx: &Ctx) -> anyhow::Result<ScenarioReport> {
    let s = &ctx.sizes;
    let spec = WorldSpec {
        clusters: s.steady_clusters,
        apps: s.steady_apps,
        queue: ctx.queue,
        controller_niceness: ctx.controller_niceness,
        ..WorldSpec::default()
    };
    let world = World::create(&ctx.world_dir("steady")?, &spec).await?;
    let count = ((s.steady_rate * s.steady_seconds).round() as usize).max(3);
    let mut report = ScenarioReport::new(
        "steady",
        format!(
            "{} deploys/s for {} s ({count} deploys) over {} apps on {} clusters",
            s.steady_rate, s.steady_seconds, s.steady_apps, s.steady_clusters
        ),
    );
    let deployer = world.start_deployer(&ctx.launch).await?;
    let api = Api::new(&deployer.url, &world.token)?;
    let shots = load::round_robin(world.apps.len(), count);
    let sampler = Sampler::start(deployer.pid, Duration::from_millis(500));
    let submission = load::submit(&world, &api, &shots, Pace::Rate(s.steady_rate)).await;
    let during = sampler.finish().await;
    let sampler = Sampler::start(deployer.pid, Duration::from_millis(500));
    api.wait_idle(Duration::from_millis(250), Duration::from_secs(1200))
        .await?;
    let drained = sampler.finish().await;
    let records = api.records().await?;
    deployer.stop().await?;
    let outcome = load::outcome(&records, &submission.accepted, submission.started_at);

    let mut t = Table::new("Deployer under the sustained rate, ms", &["step", "p50 / p95 / p99"]);
    t.row(vec![
        "accepted → committed".into(),
        triple(outcome.to_committed.as_ref()),
    ]);
    t.row(vec!["accepted → applied".into(), triple(outcome.to_applied.as_ref())]);
    t.row(vec![
        "accepted → rolled out".into(),
        triple(outcome.to_finished.as_ref()),
    ]);
    report.tables.push(t);

    let mut r = Table::new(
        if ctx.launch.is_process() {
            "Deployer process resources"
        } else {
            "Harness process resources (deployer in process)"
        },
        &[
            "window",
            "CPU % of a core",
            "with git children %",
            "CPU s",
            "steady RSS MiB (median)",
            "peak RSS MiB (VmHWM)",
        ],
    );
    for (name, samples) in [("while sending", &during), ("draining the queue", &drained)] {
        if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
            let u = procfs::usage(first, last);
            let half = &samples[samples.len() / 2..];
            r.row(vec![
                name.into(),
                one(u.cpu_percent),
                one(u.total_cpu_percent),
                one(u.cpu_seconds),
                one(sampler::median_rss_mib(half)),
                one(sampler::peak_rss_mib(samples)),
            ]);
        }
    }
    report.tables.push(r);
    report.notes.push(format!(
        "sent {} in {:.1} s (send lag p99 {:.1} ms); refused {}; succeeded {}; failed {:?}; finished {:.1} s after the first request",
        shots.len(),
        submission.duration.as_secs_f64(),
        submission.lag_p99_ms,
        submission.refused.len(),
        outcome.succeeded,
        outcome.failed,
        outcome.all_finished_ms.unwrap_or(f64::NAN) / 1000.0
    ));
    if !submission.refused.is_empty() || !outcome.failed.is_empty() || outcome.unfinished > 0 {
        report.problems.push(format!(
            "refused {}, failed {:?}, unfinished {}",
            submission.refused.len(),
            outcome.failed,
            outcome.unfinished
        ));
    }
    world.shutdown().await;
    Ok(report)
}
