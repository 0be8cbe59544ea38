//! The service idle with 20 clusters configured: resident memory and CPU.

use std::time::Duration;

use crate::cells::{self, one};
use crate::procfs;
use crate::report::{ScenarioReport, Table};
use crate::world::{World, WorldSpec};

use super::Ctx;

/// Runs the scenario.
///
/// # Errors
/// When the world or the deployer fails.
pub async fn run(ctx: &Ctx) -> anyhow::Result<ScenarioReport> {
    let s = &ctx.sizes;
    let spec = WorldSpec {
        clusters: s.idle_clusters,
        apps: s.idle_clusters,
        queue: ctx.queue,
        controller_niceness: ctx.controller_niceness,
        ..WorldSpec::default()
    };
    let world = World::create(&ctx.world_dir("idle")?, &spec).await?;
    let mut report = ScenarioReport::new(
        "idle",
        format!(
            "`serve` with {} clusters configured, no requests; measured over {} s after 3 s of warm-up",
            s.idle_clusters, s.idle_seconds
        ),
    );
    let deployer = world.start_deployer(&ctx.launch).await?;
    tokio::time::sleep(Duration::from_secs(3).min(Duration::from_secs_f64(s.idle_seconds * 2.0))).await;
    let ticks = procfs::clock_ticks();
    let first = procfs::sample(deployer.pid, ticks)?;
    tokio::time::sleep(Duration::from_secs_f64(s.idle_seconds)).await;
    let last = procfs::sample(deployer.pid, ticks)?;
    let status = std::fs::read_to_string(format!("/proc/{}/status", deployer.pid)).unwrap_or_default();
    let part =
        |key: &str| procfs::parse_status_kib(&status, key).map_or_else(|| "–".to_owned(), |k| one(k as f64 / 1024.0));
    let (anon, file) = (part("RssAnon"), part("RssFile"));
    deployer.stop().await?;
    let u = procfs::usage(&first, &last);
    let mut t = Table::new(
        if ctx.launch.is_process() {
            "Deployer process, idle"
        } else {
            "Harness process, idle (deployer in process)"
        },
        &[
            "clusters",
            "CPU % of a core",
            "with git children %",
            "RSS MiB",
            "of which anonymous",
            "of which file-backed",
            "peak RSS MiB",
        ],
    );
    t.row(vec![
        s.idle_clusters.to_string(),
        format!("{:.2}", u.cpu_percent),
        format!("{:.2}", u.total_cpu_percent),
        one(u.rss_mib),
        anon,
        file,
        one(u.peak_rss_mib),
    ]);
    report.tables.push(t);
    if ctx.launch.is_process() {
        report.check(
            format!("RSS ≤ 20 MB idle with {} clusters", s.idle_clusters),
            cells::mib_and_mb(u.rss_mib),
            cells::within_mb(u.rss_mib, 20.0),
        );
    }
    world.shutdown().await;
    Ok(report)
}
