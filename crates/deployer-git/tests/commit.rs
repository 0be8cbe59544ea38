//! Commits, reads, listings and history searches against real repositories.

mod common;

use std::sync::Arc;

use common::{Entry, TestResult, World, replace, spec, standard_files};
use deployer_core::commit::render_message;
use deployer_core::ports::{CommitOutcome, ConfigRepo, RepoError};
use deployer_git::GitConfigRepo;

const WEB: &str = "eu/prod-a/apps/web.yaml";

#[tokio::test]
async fn an_edit_lands_on_the_remote_as_one_commit_with_the_rendered_message_and_author() -> TestResult {
    let world = World::new(&standard_files())?;
    let seed = world.main()?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    let spec = spec(WEB, "01DEPLOY");
    let outcome = repo.commit_edit(&spec, replace("web:v1", "web:v2")).await?;
    let CommitOutcome::Pushed {
        sha,
        before,
        after,
        attempts,
    } = outcome
    else {
        return Err(format!("expected a push, got {outcome:?}").into());
    };
    assert_eq!(attempts, 1);
    assert_eq!(before, b"kind: Deployment\nimage: registry.example.com/web:v1\n");
    assert_eq!(after, b"kind: Deployment\nimage: registry.example.com/web:v2\n");
    assert_eq!(world.main()?.to_string(), sha);
    assert_eq!(world.linear_history()?, vec![world.main()?, seed]);
    assert_eq!(world.changed_paths(world.main()?)?, vec![WEB.to_owned()]);
    assert_eq!(world.remote_file(WEB)?, after);
    let remote = world.remote_repo()?;
    let commit = remote.find_commit(world.main()?)?;
    assert_eq!(commit.message_bytes(), render_message(&spec).as_bytes());
    assert_eq!(
        commit.message_bytes(),
        "deploy eu/prod-a/apps/web.yaml\n\nhotfix for the login page\n\nDeployment-Id: 01DEPLOY\nRequested-By: alice\nFile: eu/prod-a/apps/web.yaml\n".as_bytes()
    );
    for who in [commit.author(), commit.committer()] {
        assert_eq!(who.name(), Ok("Deployer Bot"));
        assert_eq!(who.email(), Ok("deployer@example.com"));
    }
    let read = repo.read_file(WEB, false).await?.ok_or("file vanished")?;
    assert_eq!((read.content, read.commit), (after, sha));
    Ok(())
}

/// The clone's tracking ref, read from disk.
fn tracking_ref_on_disk(world: &World) -> TestResult<git2::Oid> {
    let clone = git2::Repository::open_bare(world.path("clone"))?;
    Ok(clone.refname_to_id("refs/remotes/origin/main")?)
}

#[tokio::test]
async fn the_tracking_ref_follows_the_pushes_once_the_writer_is_idle_and_readers_see_them_at_once() -> TestResult {
    let world = World::new(&standard_files())?;
    let seed = world.main()?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    assert_eq!(tracking_ref_on_disk(&world)?, seed);
    let first = repo
        .commit_edit(&spec(WEB, "01FIRST"), replace("web:v1", "web:v2"))
        .await?;
    let second = repo
        .commit_edit(&spec(WEB, "01SECOND"), replace("web:v2", "web:v3"))
        .await?;
    let (CommitOutcome::Pushed { sha: first, .. }, CommitOutcome::Pushed { sha: second, .. }) = (first, second) else {
        return Err("expected two pushes".into());
    };
    assert_ne!(first, second);
    // The second edit was built on the first (no fetch in between), and readers see it before
    // the ref on disk is written.
    assert_eq!(world.linear_history()?.len(), 3);
    let read = repo.read_file(WEB, false).await?.ok_or("file vanished")?;
    assert_eq!(read.commit, second);
    assert_eq!(read.content, b"kind: Deployment\nimage: registry.example.com/web:v3\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tracking_ref_on_disk(&world)?.to_string() != second {
        assert!(
            std::time::Instant::now() < deadline,
            "the tracking ref stayed behind the push"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // A fetch keeps the view: the remote has what was pushed.
    repo.refresh().await?;
    assert_eq!(repo.read_file(WEB, false).await?.ok_or("file vanished")?.commit, second);
    Ok(())
}

#[tokio::test]
async fn a_fetch_replaces_the_pushed_tip_when_the_remote_moved_on() -> TestResult {
    let world = World::new(&standard_files())?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    let CommitOutcome::Pushed { sha: ours, .. } = repo
        .commit_edit(&spec(WEB, "01OURS"), replace("web:v1", "web:v2"))
        .await?
    else {
        return Err("expected a push".into());
    };
    let theirs = world.commit_on_remote(
        &[("eu/prod-a/apps/other.yaml", Entry::File(b"kind: Deployment\n"))],
        "another writer",
        &[],
    )?;
    assert_eq!(world.linear_history()?[1].to_string(), ours);
    repo.refresh().await?;
    let read = repo.read_file(WEB, false).await?.ok_or("file vanished")?;
    assert_eq!(read.commit, theirs.to_string());
    assert_eq!(tracking_ref_on_disk(&world)?, theirs);
    Ok(())
}

#[tokio::test]
async fn an_edit_that_changes_nothing_makes_no_commit() -> TestResult {
    let world = World::new(&standard_files())?;
    let seed = world.main()?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    let outcome = repo
        .commit_edit(&spec(WEB, "01SAME"), replace("web:v0", "web:v1"))
        .await?;
    assert_eq!(
        outcome,
        CommitOutcome::Unchanged {
            tip: seed.to_string(),
            content: b"kind: Deployment\nimage: registry.example.com/web:v1\n".to_vec()
        }
    );
    assert_eq!(world.main()?, seed);
    Ok(())
}

#[tokio::test]
async fn a_rejected_edit_is_returned_and_nothing_is_committed() -> TestResult {
    let world = World::new(&standard_files())?;
    let seed = world.main()?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    let result = repo
        .commit_edit(&spec(WEB, "01X"), replace("nothing:here", "nothing:else"))
        .await;
    assert!(
        matches!(result, Err(RepoError::Edit(ref e)) if e.code == "no_matching_image"),
        "{result:?}"
    );
    assert_eq!(world.main()?, seed);
    Ok(())
}

#[tokio::test]
async fn a_missing_file_is_reported_as_not_found() -> TestResult {
    let world = World::new(&standard_files())?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    for missing in ["eu/prod-a/apps/nope.yaml", "nowhere/at/all.yaml"] {
        let result = repo.commit_edit(&spec(missing, "01NF"), replace("a", "b")).await;
        assert_eq!(
            result,
            Err(RepoError::FileNotFound {
                path: missing.to_owned(),
                branch: "main".to_owned()
            })
        );
        assert_eq!(repo.read_file(missing, true).await?, None);
    }
    Ok(())
}

#[tokio::test]
async fn symlinks_submodules_and_directories_are_refused() -> TestResult {
    let mut files = standard_files();
    files.push(("eu/prod-a/apps/evil.yaml", Entry::Symlink("/etc/passwd")));
    files.push(("eu/linked", Entry::Symlink("prod-a")));
    let world = World::new(&files)?;
    let gitlink = world.main()?;
    world.commit_on_remote(
        &[("eu/prod-a/apps/vendored", Entry::Submodule(gitlink))],
        "add a submodule\n",
        &[],
    )?;
    let tip = world.main()?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    for path in [
        "eu/prod-a/apps/evil.yaml",
        "eu/linked/apps/web.yaml",
        "eu/prod-a/apps/vendored",
        "eu/prod-a/apps/vendored/x.yaml",
        "eu/prod-a/apps",
    ] {
        let result = repo.commit_edit(&spec(path, "01ESC"), replace("root", "evil")).await;
        assert_eq!(result, Err(RepoError::PathEscapes { path: path.to_owned() }), "{path}");
        assert_eq!(
            repo.read_file(path, false).await,
            Err(RepoError::PathEscapes { path: path.to_owned() }),
            "{path}"
        );
    }
    assert!(
        !repo
            .list_app_files()
            .await?
            .contains(&"eu/prod-a/apps/evil.yaml".to_owned())
    );
    assert_eq!(world.main()?, tip);
    Ok(())
}

#[tokio::test]
async fn dot_dot_and_absolute_paths_are_refused() -> TestResult {
    let world = World::new(&standard_files())?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    for path in [
        "eu/prod-a/apps/../../../etc/passwd",
        "/etc/passwd",
        "eu/./prod-a/apps/web.yaml",
        ".git/config",
        "eu//prod-a/apps/web.yaml",
    ] {
        let result = repo.commit_edit(&spec(path, "01DOT"), replace("a", "b")).await;
        assert_eq!(result, Err(RepoError::PathEscapes { path: path.to_owned() }), "{path}");
        assert_eq!(
            repo.read_file(path, false).await,
            Err(RepoError::PathEscapes { path: path.to_owned() }),
            "{path}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_trailer_is_found_in_the_trailer_block_and_not_in_a_body() -> TestResult {
    let world = World::new(&standard_files())?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    let CommitOutcome::Pushed { sha, .. } = repo
        .commit_edit(&spec(WEB, "01OURS"), replace("web:v1", "web:v2"))
        .await?
    else {
        return Err("expected a push".into());
    };
    let forged = "manual change\n\nDeployment-Id: 01FORGED\n\nSigned-off-by: Mallory <m@example.com>\n";
    world.commit_on_remote(&[("README.md", Entry::File(b"changed\n"))], forged, &[])?;
    repo.refresh().await?;
    assert_eq!(
        repo.find_commit_with_trailer("Deployment-Id", "01OURS").await?,
        Some(sha.clone())
    );
    assert_eq!(
        repo.find_commit_with_trailer("deployment-id", "01OURS").await?,
        Some(sha)
    );
    assert_eq!(repo.find_commit_with_trailer("Deployment-Id", "01FORGED").await?, None);
    assert_eq!(repo.find_commit_with_trailer("Deployment-Id", "01OUR").await?, None);
    assert!(
        repo.find_commit_with_trailer("Signed-off-by", "Mallory <m@example.com>")
            .await?
            .is_some()
    );
    Ok(())
}

#[tokio::test]
async fn app_files_are_listed_for_every_region_and_cluster() -> TestResult {
    let mut files = standard_files();
    files.extend([
        ("eu/prod-a/apps/notes.txt", Entry::File(b"x")),
        ("eu/prod-a/apps/nested/deep.yaml", Entry::File(b"x")),
        ("eu/prod-a/other/x.yaml", Entry::File(b"x")),
        ("eu/prod-c/apps/worker.yaml", Entry::File(b"x")),
        ("top.yaml", Entry::File(b"x")),
        ("eu/apps/misplaced.yaml", Entry::File(b"x")),
        ("eu/prod-a/apps/evil.yaml", Entry::Symlink("/etc/passwd")),
    ]);
    let world = World::new(&files)?;
    let repo = GitConfigRepo::open(world.settings("clone")?).await?;
    assert_eq!(
        repo.list_app_files().await?,
        vec![
            "eu/prod-a/apps/api.yaml",
            "eu/prod-a/apps/web.yaml",
            "eu/prod-c/apps/worker.yaml",
            "us/prod-b/apps/web.yml"
        ]
    );
    Ok(())
}

/// Loose objects in a bare clone (each one a file).
fn loose_objects(dir: &std::path::Path) -> TestResult<usize> {
    let mut count = 0;
    for fanout in std::fs::read_dir(dir.join("objects"))? {
        let fanout = fanout?;
        if fanout.file_name().len() == 2 {
            count += std::fs::read_dir(fanout.path())?.count();
        }
    }
    Ok(count)
}

/// Objects in the packs of a bare clone, from the object count of each version 2 index.
fn packed_objects(dir: &std::path::Path) -> TestResult<usize> {
    let mut count = 0;
    for entry in std::fs::read_dir(dir.join("objects").join("pack"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "idx") {
            let index = std::fs::read(&path)?;
            let total = index.get(8 + 255 * 4..8 + 256 * 4).ok_or("short index")?;
            count += u32::from_be_bytes(total.try_into()?) as usize;
        }
    }
    Ok(count)
}

#[tokio::test]
async fn the_objects_an_edit_writes_do_not_depend_on_the_size_of_the_repository() -> TestResult {
    let bulk: Vec<(String, Vec<u8>)> = (0..5_000)
        .map(|i| {
            (
                format!("bulk/d{:02}/file{i:05}.txt", i % 50),
                format!("{i}\n").into_bytes(),
            )
        })
        .chain((0..200).map(|i| (format!("eu/prod-{i:03}/apps/app.yaml"), b"image: x:v1\n".to_vec())))
        .collect();
    let mut written = Vec::new();
    for with_bulk in [false, true] {
        let world = World::new(&standard_files())?;
        if with_bulk {
            world.commit_many_on_remote(&bulk)?;
        }
        let settings = world.settings("clone")?;
        let clone = settings.clone_dir.clone();
        let repo = GitConfigRepo::open(settings).await?;
        assert_eq!(repo.list_app_files().await?.len(), if with_bulk { 203 } else { 3 });
        let before = (loose_objects(&clone)?, packed_objects(&clone)?);
        let outcome = repo
            .commit_edit(&spec(WEB, "01SIZE"), replace("web:v1", "web:v2"))
            .await?;
        assert!(
            matches!(outcome, CommitOutcome::Pushed { attempts: 1, .. }),
            "{outcome:?}"
        );
        assert_eq!(loose_objects(&clone)?, before.0, "no loose object is written");
        written.push(packed_objects(&clone)? - before.1);
        assert_eq!(world.changed_paths(world.main()?)?, vec![WEB.to_owned()]);
    }
    // One blob, four trees (root, eu, eu/prod-a, eu/prod-a/apps) and one commit, in one pack.
    assert_eq!(written, vec![6, 6]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_to_different_files_all_land() -> TestResult {
    let paths: Vec<String> = (0..8).map(|i| format!("eu/prod-a/apps/app{i}.yaml")).collect();
    let files: Vec<(&str, Entry<'_>)> = paths
        .iter()
        .map(|p| (p.as_str(), Entry::File(b"image: app:v1\n")))
        .collect();
    let world = World::new(&files)?;
    let seed = world.main()?;
    let repo = Arc::new(GitConfigRepo::open(world.settings("clone")?).await?);
    let mut tasks = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let (repo, spec) = (Arc::clone(&repo), spec(path, &format!("01CONC{i}")));
        tasks.push(tokio::spawn(async move {
            repo.commit_edit(&spec, replace("app:v1", "app:v2")).await
        }));
    }
    for task in tasks {
        assert!(matches!(task.await??, CommitOutcome::Pushed { .. }));
    }
    let history = world.linear_history()?;
    assert_eq!(history.len(), 9);
    assert_eq!(history.last(), Some(&seed));
    for commit in &history[..8] {
        assert_eq!(world.changed_paths(*commit)?.len(), 1);
    }
    for path in &paths {
        assert_eq!(world.remote_file(path)?, b"image: app:v2\n");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commits_queued_during_a_push_go_out_together_as_separate_commits() -> TestResult {
    let paths: Vec<String> = (0..5).map(|i| format!("eu/prod-a/apps/app{i}.yaml")).collect();
    let files: Vec<(&str, Entry<'_>)> = paths
        .iter()
        .map(|p| (p.as_str(), Entry::File(b"image: app:v1\n")))
        .collect();
    let world = World::new(&files)?;
    let repo = Arc::new(GitConfigRepo::open(world.settings("clone")?).await?);
    // Every push is logged and the first one is slow, so the others queue up behind it.
    let log = world.path("pushes.log");
    let hook = world.path("clone").join("hooks").join("pre-push");
    std::fs::create_dir_all(hook.parent().ok_or("no hooks dir")?)?;
    let started = world.path("first-push.started");
    let script = format!(
        "#!/bin/sh\ncat >/dev/null\n[ -e '{0}' ] || {{ touch '{1}'; sleep 1; }}\necho push >> '{0}'\n",
        log.display(),
        started.display()
    );
    std::fs::write(&hook, script)?;
    std::process::Command::new("chmod").arg("+x").arg(&hook).status()?;
    let first = {
        let (repo, spec) = (Arc::clone(&repo), spec(&paths[0], "01BATCH0"));
        tokio::spawn(async move { repo.commit_edit(&spec, replace("app:v1", "app:v2")).await })
    };
    let waiting = std::time::Instant::now();
    while !started.exists() {
        if waiting.elapsed() > std::time::Duration::from_secs(20) {
            return Err("the first push never started".into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut rest = Vec::new();
    for (i, path) in paths.iter().enumerate().skip(1) {
        let (repo, spec) = (Arc::clone(&repo), spec(path, &format!("01BATCH{i}")));
        rest.push(tokio::spawn(async move {
            repo.commit_edit(&spec, replace("app:v1", "app:v2")).await
        }));
    }
    let mut shas = vec![first.await??];
    for task in rest {
        shas.push(task.await??);
    }
    assert!(
        shas.iter().all(|o| matches!(o, CommitOutcome::Pushed { .. })),
        "{shas:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&log)?.lines().count(),
        2,
        "expected one push for the first commit and one for the rest"
    );
    let history = world.linear_history()?;
    assert_eq!(history.len(), 6);
    // The first commit went out alone; the four queued behind it were spawned at once, so
    // they may reach the writer in any order, but each is its own commit of its own file.
    let mut seen = Vec::new();
    for (n, commit) in history[..5].iter().rev().enumerate() {
        let changed = world.changed_paths(*commit)?;
        assert_eq!(changed.len(), 1, "{changed:?}");
        let i = paths
            .iter()
            .position(|p| *p == changed[0])
            .ok_or("an unexpected path")?;
        if n == 0 {
            assert_eq!(i, 0, "the first push carried the first commit");
        }
        let message = world
            .remote_repo()?
            .find_commit(*commit)?
            .message()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(&format!("Deployment-Id: 01BATCH{i}\n")), "{message}");
        seen.push(i);
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3, 4]);
    Ok(())
}

#[tokio::test]
async fn reopening_a_clone_of_another_remote_is_refused() -> TestResult {
    let world = World::new(&standard_files())?;
    let other = World::new(&standard_files())?;
    let settings = world.settings("clone")?;
    let clone_dir = settings.clone_dir.clone();
    drop(GitConfigRepo::open(settings).await?);
    let again = GitConfigRepo::open(world.settings("clone")?).await?;
    assert!(again.read_file(WEB, false).await?.is_some());
    let mut wrong = other.settings("unused")?;
    wrong.clone_dir = clone_dir;
    let err = GitConfigRepo::open(wrong)
        .await
        .err()
        .ok_or("a clone of another remote was accepted")?;
    assert_eq!(err.kind(), "remote_mismatch");
    Ok(())
}

/// Readers run while commits land one after another (each adding a pack, every 32 packs a
/// consolidation deletes packs that kept handles may have read): every read succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_always_find_the_pushed_tip_while_packs_are_consolidated() -> TestResult {
    let world = World::new(&standard_files())?;
    let repo = Arc::new(GitConfigRepo::open(world.settings("clone")?).await?);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (repo, stop) = (Arc::clone(&repo), Arc::clone(&stop));
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Err(e) = repo.read_file(WEB, false).await {
                    return Err(format!("read {reads} failed: {e}"));
                }
                reads += 1;
            }
            Ok(reads)
        }));
    }
    let tags: Vec<String> = (1..=301).map(|n| format!("web:v{n}")).collect();
    for (i, pair) in tags.windows(2).enumerate() {
        let (from, to): (&'static str, &'static str) = (
            Box::leak(pair[0].clone().into_boxed_str()),
            Box::leak(pair[1].clone().into_boxed_str()),
        );
        let outcome = repo
            .commit_edit(&spec(WEB, &format!("01R{i:04}")), replace(from, to))
            .await?;
        assert!(matches!(outcome, CommitOutcome::Pushed { .. }), "{outcome:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        assert!(reader.await?? > 0);
    }
    assert_eq!(
        world.remote_file(WEB)?,
        b"kind: Deployment\nimage: registry.example.com/web:v301\n"
    );
    Ok(())
}
