//! Another writer pushes to the same branch between our read and our push: both commits land,
//! ours re-applied on top, with a linear history and no force push (the remote refuses
//! non-fast-forward updates).

mod common;

use common::{TestResult, World, other_commit_and_push, replace, spec, standard_files};
use deployer_core::ports::{CommitOutcome, ConfigRepo, RepoError};
use deployer_git::GitConfigRepo;

const WEB: &str = "eu/prod-a/apps/web.yaml";
const API: &str = "eu/prod-a/apps/api.yaml";

#[tokio::test]
async fn a_race_on_another_file_lands_both_commits_with_ours_on_top() -> TestResult {
    let world = World::new(&standard_files())?;
    let seed = world.main()?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    let other = world.other_writer("other")?;
    let script = format!(
        "sed -i 's/api:v1/api:v9/' {API}\n{}",
        other_commit_and_push("other writer bumps api")
    );
    world.install_pre_push("clone", &other, &script, true)?;

    let outcome = repo
        .commit_edit(&spec(WEB, "01RACE"), replace("web:v1", "web:v2"))
        .await?;
    let CommitOutcome::Pushed { sha, attempts, .. } = outcome else {
        return Err(format!("expected a push, got {outcome:?}").into());
    };
    assert_eq!(attempts, 2);
    let history = world.linear_history()?;
    assert_eq!(history.len(), 3, "{history:?}");
    assert_eq!(history[0].to_string(), sha);
    assert_eq!(history[2], seed);
    assert_eq!(world.changed_paths(history[1])?, vec![API.to_owned()]);
    assert_eq!(world.changed_paths(history[0])?, vec![WEB.to_owned()]);
    assert_eq!(
        world.remote_file(API)?,
        b"kind: Deployment\nimage: registry.example.com/api:v9\n"
    );
    assert_eq!(
        world.remote_file(WEB)?,
        b"kind: Deployment\nimage: registry.example.com/web:v2\n"
    );
    Ok(())
}

#[tokio::test]
async fn a_race_on_the_same_file_reapplies_the_edit_on_the_other_writers_version() -> TestResult {
    let world = World::new(&standard_files())?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    let other = world.other_writer("other")?;
    let script = format!(
        "echo 'replicas: 3' >> {WEB}\n{}",
        other_commit_and_push("other writer scales web")
    );
    world.install_pre_push("clone", &other, &script, true)?;

    let outcome = repo
        .commit_edit(&spec(WEB, "01SAME"), replace("web:v1", "web:v2"))
        .await?;
    let CommitOutcome::Pushed {
        sha,
        before,
        after,
        attempts,
    } = outcome
    else {
        return Err(format!("expected a push, got {outcome:?}").into());
    };
    assert_eq!(attempts, 2);
    assert_eq!(
        before,
        b"kind: Deployment\nimage: registry.example.com/web:v1\nreplicas: 3\n"
    );
    assert_eq!(
        after,
        b"kind: Deployment\nimage: registry.example.com/web:v2\nreplicas: 3\n"
    );
    let history = world.linear_history()?;
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].to_string(), sha);
    let other_message = world
        .remote_repo()?
        .find_commit(history[1])?
        .message()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(other_message, "other writer scales web\n");
    assert_eq!(world.remote_file(WEB)?, after);
    Ok(())
}

#[tokio::test]
async fn a_stale_local_view_is_fetched_again_and_the_edit_reapplied() -> TestResult {
    let world = World::new(&standard_files())?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    let other = world.other_writer("other")?;
    std::fs::write(other.join("README.md"), "changed by someone else\n")?;
    common::git(
        Some(&other),
        &[
            "-c",
            "user.name=Other",
            "-c",
            "user.email=o@example.com",
            "commit",
            "-q",
            "-am",
            "readme",
        ],
    )?;
    common::git(Some(&other), &["push", "-q", "origin", "HEAD:main"])?;
    let theirs = world.main()?;

    let outcome = repo
        .commit_edit(&spec(WEB, "01STALE"), replace("web:v1", "web:v2"))
        .await?;
    assert!(
        matches!(outcome, CommitOutcome::Pushed { attempts: 2, .. }),
        "{outcome:?}"
    );
    let history = world.linear_history()?;
    assert_eq!(history[1], theirs);
    assert_eq!(world.changed_paths(history[0])?, vec![WEB.to_owned()]);
    Ok(())
}

#[tokio::test]
async fn push_contention_is_reported_when_the_retries_run_out() -> TestResult {
    let world = World::new(&standard_files())?;
    let mut settings = world.settings("clone")?;
    settings.push_retries = 3;
    let repo = GitConfigRepo::open(settings).await?;
    let other = world.other_writer("other")?;
    let script = format!(
        "date +%s%N >> README.md\n{}",
        other_commit_and_push("other writer again")
    );
    world.install_pre_push("clone", &other, &script, false)?;

    let result = repo
        .commit_edit(&spec(WEB, "01BUSY"), replace("web:v1", "web:v2"))
        .await;
    assert_eq!(result, Err(RepoError::PushContention { attempts: 3 }));
    let history = world.linear_history()?;
    assert_eq!(history.len(), 4, "the seed and three commits of the other writer");
    assert_eq!(
        world.remote_file(WEB)?,
        b"kind: Deployment\nimage: registry.example.com/web:v1\n"
    );
    assert_eq!(repo.find_commit_with_trailer("Deployment-Id", "01BUSY").await?, None);
    Ok(())
}

#[tokio::test]
async fn a_push_refused_by_the_remote_is_reported_as_unavailable() -> TestResult {
    let world = World::new(&standard_files())?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    let hook = world.remote.join("hooks").join("pre-receive");
    std::fs::create_dir_all(hook.parent().ok_or("no hooks dir")?)?;
    std::fs::write(&hook, "#!/bin/sh\necho 'branch is frozen' >&2\nexit 1\n")?;
    std::process::Command::new("chmod").arg("+x").arg(&hook).status()?;
    let seed = world.main()?;
    let result = repo
        .commit_edit(&spec(WEB, "01FROZEN"), replace("web:v1", "web:v2"))
        .await;
    match result {
        Err(RepoError::Unavailable { message }) => assert!(message.contains("pre-receive hook declined"), "{message}"),
        other => return Err(format!("expected Unavailable, got {other:?}").into()),
    }
    assert_eq!(world.main()?, seed);
    Ok(())
}
