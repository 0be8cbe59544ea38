//! Growth: the per-deploy cost with a configuration repository of more and more files and
//! with a long history, and resident memory with more and more clusters configured (and, at
//! the largest count, with many deploys in flight).

use std::time::{Duration, Instant};

use crate::api::Api;
use crate::cells::{self, one, pct};
use crate::deployer::Launch;
use crate::load::{self, Outcome, Pace};
use crate::procfs;
use crate::repo;
use crate::report::{ScenarioReport, Table};
use crate::sampler::{self, Sampler};
use crate::world::{World, WorldSpec};

use super::Ctx;

/// Applications deployed in the repository cases (the rest of the files are never deployed).
const APPS: usize = 20;
/// Clusters of the repository cases.
const CLUSTERS: usize = 4;
/// Request rate of the repository cases: low enough that deploys do not queue.
const RATE: f64 = 10.0;
/// How long memory is sampled after the in-flight deploys are sent (or until they are done).
const IN_FLIGHT_WINDOW: Duration = Duration::from_secs(15);

struct RepoCase {
    files: usize,
    commits: u64,
    ready_ms: f64,
    outcome: Outcome,
    cpu_ms_per_deploy: f64,
    /// The part of `cpu_ms_per_deploy` spent in `git` processes (pack consolidations).
    git_ms_per_deploy: f64,
}

async fn repo_case(ctx: &Ctx, name: &str, filler: usize, history: usize) -> anyhow::Result<RepoCase> {
    let s = &ctx.sizes;
    let spec = WorldSpec {
        clusters: CLUSTERS,
        apps: APPS,
        filler,
        history,
        queue: ctx.queue,
        controller_niceness: ctx.controller_niceness,
    };
    let world = World::create(&ctx.world_dir(name)?, &spec).await?;
    let files = repo::file_count(&world.remote)?;
    let commits = repo::commit_count(&world.remote)?;
    let started = Instant::now();
    let deployer = world.start_deployer(&ctx.launch).await?;
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    let api = Api::new(&deployer.url, &world.token)?;
    // One warm-up round deploys every app once before anything is measured: the first deploy of
    // a file reads it and its directory from disk, and the first requests open the connections.
    // Without it the case measured first pays for a cold start the others do not.
    let shots = load::round_robin(world.apps.len(), world.apps.len() + s.growth_deploys);
    let (warm_up, shots) = shots.split_at(world.apps.len());
    let warm = load::submit(&world, &api, warm_up, Pace::Rate(RATE)).await;
    api.wait_idle(Duration::from_millis(100), Duration::from_secs(600))
        .await?;
    if !warm.refused.is_empty() {
        anyhow::bail!("{name}: {} warm-up deploys were refused", warm.refused.len());
    }
    let ticks = procfs::clock_ticks();
    let before = procfs::sample(deployer.pid, ticks)?;
    let submission = load::submit(&world, &api, shots, Pace::Rate(RATE)).await;
    api.wait_idle(Duration::from_millis(100), Duration::from_secs(600))
        .await?;
    let after = procfs::sample(deployer.pid, ticks)?;
    let records = api.records().await?;
    deployer.stop().await?;
    world.shutdown().await;
    let outcome = load::outcome(&records, &submission.accepted, submission.started_at);
    let usage = procfs::usage(&before, &after);
    let per_deploy = 1000.0 / shots.len().max(1) as f64;
    let cpu_ms_per_deploy = (usage.cpu_seconds + usage.children_cpu_seconds) * per_deploy;
    let git_ms_per_deploy = usage.children_cpu_seconds * per_deploy;
    Ok(RepoCase {
        files,
        commits,
        ready_ms,
        outcome,
        cpu_ms_per_deploy,
        git_ms_per_deploy,
    })
}

fn within(value: f64, reference: f64, tolerance: f64) -> bool {
    reference > 0.0 && (value / reference - 1.0).abs() <= tolerance
}

/// Runs the scenario.
///
/// # Errors
/// When a world or the deployer fails.
pub async fn run(ctx: &Ctx) -> anyhow::Result<ScenarioReport> {
    let s = &ctx.sizes;
    let mut report = ScenarioReport::new(
        "growth",
        format!(
            "repository cases: {APPS} apps on {CLUSTERS} clusters, one warm-up deploy per app, then {} deploys at {RATE}/s each; clusters cases: {:?} clusters, {} deploys in flight at the largest",
            s.growth_deploys, s.growth_clusters, s.growth_in_flight
        ),
    );
    // The history case has as many files as the first (reference) case and runs right after
    // it: whatever the machine carries over from the scenario before (the file system's
    // bookkeeping of a deleted world, rollouts still ending) weighs on the two alike.
    let mut cases = Vec::new();
    for (i, files) in s.growth_files.iter().enumerate() {
        let filler = files.saturating_sub(APPS + 1);
        cases.push(repo_case(ctx, &format!("growth-files-{files}"), filler, 0).await?);
        if i == 0 && s.growth_history > 0 {
            cases.push(repo_case(ctx, "growth-history", filler, s.growth_history).await?);
        }
    }
    if s.growth_files.is_empty() && s.growth_history > 0 {
        cases.push(repo_case(ctx, "growth-history", 100 - (APPS + 1), s.growth_history).await?);
    }
    let mut t = Table::new(
        "Per-deploy cost by repository size",
        &[
            "files",
            "commits",
            "start-up ms",
            "→ committed p50 / p99 ms",
            "commit step p50 / p99 ms",
            "→ applied p50 / p99 ms",
            "CPU ms per deploy (with git)",
            "of which git",
        ],
    );
    for c in &cases {
        let (committed, applied) = (c.outcome.to_committed.as_ref(), c.outcome.to_applied.as_ref());
        // The edit, commit and push alone (`committing` → `committed`), without the wait for a
        // worker.
        let commit_step = c.outcome.stages.get(1).and_then(Option::as_ref);
        t.row(vec![
            c.files.to_string(),
            c.commits.to_string(),
            format!("{:.0}", c.ready_ms),
            format!("{} / {}", pct(committed, |p| p.p50), pct(committed, |p| p.p99)),
            format!("{} / {}", pct(commit_step, |p| p.p50), pct(commit_step, |p| p.p99)),
            format!("{} / {}", pct(applied, |p| p.p50), pct(applied, |p| p.p99)),
            one(c.cpu_ms_per_deploy),
            one(c.git_ms_per_deploy),
        ]);
        if !c.outcome.failed.is_empty() {
            report
                .problems
                .push(format!("{} files: failed {:?}", c.files, c.outcome.failed));
        }
    }
    report.tables.push(t);
    if let Some(first) = cases.first() {
        let reference = first.outcome.to_committed.map_or(0.0, |p| p.p50);
        for c in cases.iter().skip(1) {
            let p50 = c.outcome.to_committed.map_or(0.0, |p| p.p50);
            report.check(
                format!(
                    "→ committed p50 within ±20% of {} files at {} files / {} commits",
                    first.files, c.files, c.commits
                ),
                format!("{p50:.1} vs {reference:.1} ms"),
                within(p50, reference, 0.2),
            );
            if ctx.launch.is_process() {
                report.check(
                    format!(
                        "CPU per deploy within ±20% of {} files at {} files / {} commits",
                        first.files, c.files, c.commits
                    ),
                    format!("{:.1} vs {:.1} ms", c.cpu_ms_per_deploy, first.cpu_ms_per_deploy),
                    within(c.cpu_ms_per_deploy, first.cpu_ms_per_deploy, 0.2),
                );
            }
        }
    }

    let mut m = Table::new(
        if ctx.launch.is_process() {
            "Deployer process memory by clusters configured"
        } else {
            "Harness process memory (deployer in process)"
        },
        &["clusters", "state", "RSS MiB", "peak RSS MiB (VmHWM)"],
    );
    let largest = s.growth_clusters.iter().copied().max().unwrap_or(1);
    for clusters in &s.growth_clusters {
        let in_flight = if *clusters == largest { s.growth_in_flight } else { 0 };
        let spec = WorldSpec {
            clusters: *clusters,
            apps: (*clusters).max(in_flight),
            queue: ctx.queue,
            controller_niceness: ctx.controller_niceness,
            ..WorldSpec::default()
        };
        let world = World::create(&ctx.world_dir(&format!("growth-clusters-{clusters}"))?, &spec).await?;
        let deployer = world.start_deployer(&ctx.launch).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle = procfs::sample(deployer.pid, procfs::clock_ticks())?;
        m.row(vec![
            clusters.to_string(),
            "idle".into(),
            one(idle.rss_kib as f64 / 1024.0),
            one(idle.hwm_kib as f64 / 1024.0),
        ]);
        if in_flight > 0 {
            let api = Api::new(&deployer.url, &world.token)?;
            let shots = load::round_robin(world.apps.len(), in_flight);
            let sampler = Sampler::start(deployer.pid, Duration::from_millis(200));
            let submission = load::submit(&world, &api, &shots, Pace::AllAtOnce(64)).await;
            // Memory is highest while everything is queued; the queue is not drained to the end.
            let _ = api.wait_idle(Duration::from_millis(250), IN_FLIGHT_WINDOW).await;
            let samples = sampler.finish().await;
            let max_rss = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0) as f64 / 1024.0;
            let peak = sampler::peak_rss_mib(&samples);
            m.row(vec![
                clusters.to_string(),
                format!(
                    "{} deploys sent at once (max RSS sampled over {} s)",
                    submission.accepted.len(),
                    IN_FLIGHT_WINDOW.as_secs()
                ),
                one(max_rss),
                one(peak),
            ]);
            if ctx.launch.is_process() {
                report.check(
                    format!("RSS ≤ 60 MB at {clusters} clusters with {in_flight} deploys in flight"),
                    format!("{} peak", cells::mib_and_mb(peak)),
                    cells::within_mb(peak, 60.0),
                );
            }
            if !submission.refused.is_empty() {
                report.problems.push(format!(
                    "{} of the in-flight deploys were refused",
                    submission.refused.len()
                ));
            }
        }
        deployer.stop().await?;
        world.shutdown().await;
    }
    report.tables.push(m);
    if matches!(ctx.launch, Launch::InProcess) {
        report.notes.push(
            "the deployer ran inside the harness: memory and CPU figures include the harness and the clusters".into(),
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn flatness_allows_twenty_percent_either_way() {
        assert!(within(11.9, 10.0, 0.2));
        assert!(within(8.1, 10.0, 0.2));
        assert!(!within(12.5, 10.0, 0.2));
        assert!(!within(1.0, 0.0, 0.2));
    }
}
