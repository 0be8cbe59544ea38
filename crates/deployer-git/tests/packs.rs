//! Many pushes in-process to a local remote: each batch adds one pack to the clone and one to
//! the remote, and both are consolidated in the background so that the number of packs stays
//! small, while both repositories stay whole for git and other writers keep pushing.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestResult, World, git, spec, standard_files};
use deployer_core::ports::{CommitOutcome, ConfigRepo, EditRejected, FileEdit};
use deployer_git::GitConfigRepo;
use deployer_git::consolidate::PACKS_BEFORE_CONSOLIDATING;

const WEB: &str = "eu/prod-a/apps/web.yaml";
const API: &str = "eu/prod-a/apps/api.yaml";

/// Sets the image of the file to `registry.example.com/<app>:v<n>`.
struct SetTag(&'static str, usize);

impl FileEdit for SetTag {
    fn edit(&self, _: &[u8]) -> Result<Vec<u8>, EditRejected> {
        Ok(format!("kind: Deployment\nimage: registry.example.com/{}:v{}\n", self.0, self.1).into_bytes())
    }
}

/// Waits until `dir` has at most `limit` packs.
async fn packs_settle(dir: &Path, limit: usize) -> TestResult<usize> {
    // A background consolidation deletes the packs it rolled up one by one after writing the
    // new one: wait until the count is low enough and the pack directory has stopped changing,
    // so that `git fsck` does not meet a pack halfway through its removal.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = pack_files(dir)?;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = pack_files(dir)?;
        let count = now.iter().filter(|name| name.ends_with(".pack")).count();
        if (count <= limit && now == last) || Instant::now() > deadline {
            return Ok(count);
        }
        last = now;
    }
}

/// Every file name in `objects/pack`, sorted.
fn pack_files(dir: &Path) -> TestResult<Vec<String>> {
    let mut names = std::fs::read_dir(dir.join("objects").join("pack"))?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    names.sort();
    Ok(names)
}

fn fsck(dir: &Path) -> TestResult {
    git(Some(dir), &["fsck", "--no-progress", "--no-dangling"])?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pushes_leave_few_packs_and_repositories_that_git_checks_and_pushes_to() -> TestResult {
    let world = World::new(&standard_files())?;
    let settings = world.settings("clone")?;
    let clone = settings.clone_dir.clone();
    let repo = GitConfigRepo::open(settings).await?;
    let pushes = 3 * PACKS_BEFORE_CONSOLIDATING;
    for n in 2..2 + pushes {
        let outcome = repo
            .commit_edit(&spec(WEB, &format!("01PACK{n:03}")), Arc::new(SetTag("web", n)))
            .await?;
        assert!(
            matches!(outcome, CommitOutcome::Pushed { attempts: 1, .. }),
            "{outcome:?}"
        );
    }
    // One pack per push without consolidation; a few after it.
    let limit = PACKS_BEFORE_CONSOLIDATING + 3;
    let remote_packs = packs_settle(&world.remote, limit).await?;
    assert!(remote_packs <= limit, "{remote_packs} packs in the remote");
    let clone_packs = packs_settle(&clone, limit).await?;
    assert!(clone_packs <= limit, "{clone_packs} packs in the clone");
    fsck(&world.remote)?;
    fsck(&clone)?;
    assert_eq!(world.linear_history()?.len(), pushes + 1);
    let last = format!("image: registry.example.com/web:v{}\n", pushes + 1);
    assert_eq!(
        world.remote_file(WEB)?,
        format!("kind: Deployment\n{last}").into_bytes()
    );

    // Another writer pushes with git on top, then our next commit lands on top of theirs.
    let other = world.other_writer("other")?;
    std::fs::write(
        other.join(API),
        "kind: Deployment\nimage: registry.example.com/api:v7\n",
    )?;
    git(
        Some(&other),
        &[
            "-c",
            "user.name=O",
            "-c",
            "user.email=o@example.com",
            "commit",
            "-q",
            "-am",
            "api v7",
        ],
    )?;
    git(Some(&other), &["push", "-q", "origin", "HEAD:main"])?;
    let theirs = world.main()?;
    let outcome = repo
        .commit_edit(&spec(API, "01PACKAPI"), Arc::new(SetTag("api", 8)))
        .await?;
    assert!(
        matches!(outcome, CommitOutcome::Pushed { attempts: 2, .. }),
        "{outcome:?}"
    );
    let history = world.linear_history()?;
    assert_eq!(history[1], theirs);
    assert_eq!(history.len(), pushes + 3);
    assert_eq!(
        world.remote_file(API)?,
        b"kind: Deployment\nimage: registry.example.com/api:v8\n"
    );
    packs_settle(&world.remote, limit).await?;
    fsck(&world.remote)?;
    Ok(())
}
