//! Probing the remote: whether it answers, asked without fetching, so that a probe never
//! waits for the commit writer nor holds it up.

mod common;

use std::time::{Duration, Instant};

use common::{TestResult, World, replace, spec, standard_files};
use deployer_core::ports::{CommitOutcome, ConfigRepo, RepoError};
use deployer_git::{GitConfigRepo, GitSettings};

const WEB: &str = "eu/prod-a/apps/web.yaml";

/// Settings for a clone of the remote through a `file://` URL (asked with `git ls-remote`).
fn file_url_settings(world: &World) -> TestResult<GitSettings> {
    let mut settings = world.settings("clone-file")?;
    settings.remote = format!("file://{}", world.remote.display()).parse()?;
    Ok(settings)
}

#[tokio::test]
async fn a_probe_answers_without_fetching() -> TestResult {
    let world = World::new(&standard_files())?;
    for settings in [world.settings("clone")?, file_url_settings(&world)?] {
        let repo = GitConfigRepo::open(settings).await?;
        let fetched = repo.fetches_run();
        repo.probe(WEB).await?;
        assert_eq!(repo.fetches_run(), fetched, "a probe must not fetch");
    }
    Ok(())
}

#[tokio::test]
async fn a_probe_reports_a_remote_that_went_away_as_unavailable_and_answers_again_on_its_return() -> TestResult {
    let world = World::new(&standard_files())?;
    let away = world.path("away.git");
    for settings in [world.settings("clone")?, file_url_settings(&world)?] {
        let repo = GitConfigRepo::open(settings).await?;
        std::fs::rename(&world.remote, &away)?;
        let result = repo.probe(WEB).await;
        std::fs::rename(&away, &world.remote)?;
        assert!(
            matches!(&result, Err(e @ RepoError::Unavailable { .. }) if e.retryable()),
            "{result:?}"
        );
        repo.probe(WEB).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_probe_answers_while_a_slow_push_is_in_flight() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let world = World::new(&standard_files())?;
    let hook = world.remote.join("hooks").join("pre-receive");
    std::fs::create_dir_all(world.remote.join("hooks"))?;
    std::fs::write(&hook, "#!/bin/sh\ncat >/dev/null\nsleep 2\n")?;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))?;
    let repo = std::sync::Arc::new(GitConfigRepo::open(world.settings("clone")?).await?);
    let pushing = {
        let repo = repo.clone();
        tokio::spawn(async move {
            repo.commit_edit(&spec(WEB, "01SLOW"), replace("web:v1", "web:v2"))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    repo.probe(WEB).await?;
    let took = started.elapsed();
    assert!(!pushing.is_finished(), "the push should still be running");
    assert!(took < Duration::from_secs(1), "the probe waited for the push: {took:?}");
    assert!(matches!(pushing.await??, CommitOutcome::Pushed { .. }));
    Ok(())
}
