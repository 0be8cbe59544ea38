//! Every scenario of the harness at a tiny size (a few deploys on one or two clusters), with
//! the deployer running inside the test process, so the harness cannot rot unnoticed.
//!
//! The measurements themselves run the deployer as its own release process
//! (`scripts/bench`); here the service is assembled in process from the library crates and
//! the same generated configuration file, which needs no separately built binary.

use deployer_bench::config::QueueOverrides;
use deployer_bench::deployer::Launch;
use deployer_bench::report::ScenarioReport;
use deployer_bench::scenarios::{self, Ctx, Sizes};

async fn tiny(name: &str) -> anyhow::Result<ScenarioReport> {
    let dir = tempfile::tempdir()?;
    let ctx = Ctx {
        launch: Launch::InProcess,
        root: dir.path().to_path_buf(),
        sizes: Sizes::tiny(),
        queue: QueueOverrides::default(),
        controller_niceness: scenarios::CONTROLLER_NICENESS,
    };
    let report = scenarios::run(&ctx, name).await?;
    assert_eq!(report.name, name);
    assert!(!report.tables.is_empty(), "{name} reported no table");
    for table in &report.tables {
        assert!(!table.rows.is_empty(), "{name}: table `{}` is empty", table.title);
        for row in &table.rows {
            assert_eq!(
                row.len(),
                table.columns.len(),
                "{name}: a row of `{}` has the wrong width",
                table.title
            );
            assert!(
                !row.iter().any(|cell| cell == "–" || cell.contains("NaN")),
                "{name}: `{}` has a missing figure: {row:?}",
                table.title
            );
        }
    }
    assert!(report.problems.is_empty(), "{name}: {:?}", report.problems);
    Ok(report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overhead_scenario_measures_every_rate_and_the_script() -> anyhow::Result<()> {
    let report = tiny("overhead").await?;
    assert_eq!(report.tables[0].rows.len(), Sizes::tiny().overhead_rates.len());
    assert_eq!(
        report.tables[1].rows.len(),
        Sizes::tiny().overhead_rates.len(),
        "the steps to applied, at every rate"
    );
    assert_eq!(report.tables[2].rows.len(), 2, "pushed and applied, side by side");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_scenario_counts_the_pushed_commits_and_compares_with_the_script() -> anyhow::Result<()> {
    let report = tiny("fleet").await?;
    let fleet = &report.tables[0].rows[0];
    assert_eq!(fleet[0], Sizes::tiny().fleet_apps.to_string(), "every app was deployed");
    assert_eq!(
        fleet[5],
        Sizes::tiny().fleet_apps.to_string(),
        "each deployment is its own commit on the remote"
    );
    assert_eq!(report.checks.len(), 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_steady_scenario_reads_cpu_and_memory() -> anyhow::Result<()> {
    let report = tiny("steady").await?;
    assert!(
        report.tables[1]
            .rows
            .iter()
            .all(|r| r[5].parse::<f64>().is_ok_and(|mib| mib > 1.0))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_growth_scenario_covers_each_repository_and_cluster_count() -> anyhow::Result<()> {
    let report = tiny("growth").await?;
    let sizes = Sizes::tiny();
    assert_eq!(
        report.tables[0].rows.len(),
        sizes.growth_files.len() + 1,
        "each size plus the history case"
    );
    assert_eq!(
        report.tables[0].rows[1][1],
        (sizes.growth_history + 1).to_string(),
        "the history was generated, and measured right after the reference case"
    );
    assert_eq!(
        report.tables[0].rows[1][0], report.tables[0].rows[0][0],
        "the history case has as many files as the reference case"
    );
    assert_eq!(
        report.tables[1].rows.len(),
        sizes.growth_clusters.len() + 1,
        "each count, and the in-flight row"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_scenario_reads_the_resident_memory() -> anyhow::Result<()> {
    let report = tiny("idle").await?;
    assert!(report.tables[0].rows[0][3].parse::<f64>().is_ok_and(|mib| mib > 1.0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kube_sim_scenario_lists_applies_and_sees_watch_events() -> anyhow::Result<()> {
    let report = tiny("kube-sim").await?;
    let samples: Vec<&str> = report.tables[0].rows.iter().map(|r| r[3].as_str()).collect();
    let n = Sizes::tiny().sim_deployments;
    let per_namespace = Sizes::tiny().sim_watchers / Sizes::tiny().sim_namespaces;
    assert_eq!(
        samples[1..],
        [n.to_string(), n.to_string(), (n * per_namespace).to_string()]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_scenario_runs_the_script_with_and_without_rollout_status() -> anyhow::Result<()> {
    let report = tiny("baseline").await?;
    assert_eq!(report.tables[0].rows.len(), 2);
    assert_eq!(report.tables[1].rows.len(), 2);
    Ok(())
}
