//! Consolidation of a repository with a long history and many small deploy packs: the small
//! packs and loose objects are rolled up into one, the pack holding the history is left as it
//! is, no object is lost and git finds the repository whole.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{TestResult, git};
use deployer_git::consolidate::{Consolidator, PACKS_BEFORE_CONSOLIDATING, pack_count};
use deployer_git::pack::{self, PackObject};
use git2::{ObjectType, Oid, Repository};

/// The number of files of the test repositories, all at the root.
const FILES: usize = 20;

/// A bare repository whose `main` has `commits` commits, all in one pack written by `git
/// fast-import`, each after the first changing one file.
fn repo_with_history(dir: &Path, commits: usize) -> TestResult<PathBuf> {
    let repo = dir.join("remote.git");
    git(
        None,
        &["init", "-q", "--bare", "--initial-branch=main", &repo.to_string_lossy()],
    )?;
    let mut stream = Vec::new();
    for n in 0..commits {
        let message = format!("Deploy history {n}");
        write!(
            stream,
            "commit refs/heads/main\ncommitter Seeder <seeder@example.com> {} +0000\ndata {}\n{message}\n",
            1_700_000_000 + n,
            message.len()
        )?;
        let files = if n == 0 { 0..FILES } else { n % FILES..n % FILES + 1 };
        for file in files {
            let content = format!("kind: Deployment\nimage: registry.example.com/app{file}:h{n}\n");
            write!(
                stream,
                "M 100644 inline app{file:02}.yaml\ndata {}\n{content}\n",
                content.len()
            )?;
        }
    }
    stream.extend_from_slice(b"done\n");
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(&repo)
        .args(["fast-import", "--quiet", "--done"])
        .stdin(Stdio::piped())
        .spawn()?;
    child.stdin.take().ok_or("no stdin")?.write_all(&stream)?;
    if !child.wait()?.success() {
        return Err("git fast-import failed".into());
    }
    Ok(repo)
}

/// Commits a new version of file `file` on `main` as a deploy does: the blob, the root tree
/// and the commit in one pack of their own. Returns the commit.
fn deploy(repo: &Repository, file: usize, version: usize) -> TestResult<Oid> {
    let parent = repo.refname_to_id("refs/heads/main")?;
    let content = format!("kind: Deployment\nimage: registry.example.com/app{file}:v{version}\n");
    let blob = Oid::hash_object(ObjectType::Blob, content.as_bytes())?;
    let name = format!("app{file:02}.yaml");
    let mut tree = Vec::new();
    for entry in repo.find_commit(parent)?.tree()?.iter() {
        let entry_name = entry.name_bytes();
        let id = if entry_name == name.as_bytes() {
            blob
        } else {
            entry.id()
        };
        write!(tree, "{:o} ", entry.filemode())?;
        tree.extend_from_slice(entry_name);
        tree.push(0);
        tree.extend_from_slice(id.as_bytes());
    }
    let tree_id = Oid::hash_object(ObjectType::Tree, &tree)?;
    let time = 1_800_000_000 + version;
    let commit = format!(
        "tree {tree_id}\nparent {parent}\nauthor Deployer <d@example.com> {time} +0000\n\
         committer Deployer <d@example.com> {time} +0000\n\ndeploy app{file} v{version}\n"
    );
    let commit_id = Oid::hash_object(ObjectType::Commit, commit.as_bytes())?;
    let objects = [
        PackObject {
            id: blob,
            kind: ObjectType::Blob,
            data: content.as_bytes(),
        },
        PackObject {
            id: tree_id,
            kind: ObjectType::Tree,
            data: &tree,
        },
        PackObject {
            id: commit_id,
            kind: ObjectType::Commit,
            data: commit.as_bytes(),
        },
    ];
    pack::write(&repo.path().join("objects"), &objects)?;
    repo.reference("refs/heads/main", commit_id, true, "deploy")?;
    Ok(commit_id)
}

/// Every object id in the repository, packed or loose.
fn all_objects(repo: &Path) -> TestResult<BTreeSet<String>> {
    let out = git(
        Some(repo),
        &["cat-file", "--batch-all-objects", "--batch-check=%(objectname)"],
    )?;
    Ok(out.lines().map(str::to_owned).collect())
}

/// The `pack-<checksum>` names of the repository's packs.
fn pack_names(repo: &Path) -> TestResult<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(repo.join("objects").join("pack"))? {
        let file = entry?.file_name().to_string_lossy().into_owned();
        if let Some(stem) = file.strip_suffix(".idx") {
            names.insert(stem.to_owned());
        }
    }
    Ok(names)
}

/// The number of loose objects.
fn loose_count(repo: &Path) -> TestResult<usize> {
    let out = git(Some(repo), &["count-objects", "-v"])?;
    let count = out
        .lines()
        .find_map(|line| line.strip_prefix("count: "))
        .ok_or("no count in git count-objects")?;
    Ok(count.trim().parse()?)
}

/// `git fsck` finds nothing wrong and `git verify-pack` accepts every pack.
fn git_checks(repo: &Path) -> TestResult {
    git(Some(repo), &["fsck", "--no-progress", "--no-dangling", "--strict"])?;
    for name in pack_names(repo)? {
        let index = repo.join("objects").join("pack").join(format!("{name}.idx"));
        git(Some(repo), &["verify-pack", &index.to_string_lossy()])?;
    }
    Ok(())
}

#[test]
fn deploy_packs_and_loose_objects_are_rolled_up_without_rewriting_the_history_pack() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = repo_with_history(dir.path(), 3000)?;
    let history = pack_names(&path)?;
    assert_eq!(history.len(), 1);
    let repo = Repository::open_bare(&path)?;
    for n in 0..PACKS_BEFORE_CONSOLIDATING {
        deploy(&repo, n % FILES, n)?;
    }
    let loose = repo.blob(b"kind: ConfigMap\n")?;
    assert_eq!(loose_count(&path)?, 1);
    let before = all_objects(&path)?;
    assert_eq!(pack_count(&path)?, PACKS_BEFORE_CONSOLIDATING + 1);

    Consolidator::new(&path).run()?;

    let after = pack_names(&path)?;
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(history.is_subset(&after), "the history pack is kept as it is");
    let rolled_up = after.difference(&history).next().ok_or("no new pack")?;
    let index = path.join("objects").join("pack").join(format!("{rolled_up}.idx"));
    let in_new_pack = git_show_index(&path, &index)?;
    assert_eq!(
        in_new_pack.len(),
        3 * PACKS_BEFORE_CONSOLIDATING + 1,
        "only the deploys' objects and the loose one were copied"
    );
    assert!(in_new_pack.contains(&loose.to_string()));
    assert_eq!(loose_count(&path)?, 0);
    assert_eq!(all_objects(&path)?, before, "no object was lost");
    assert_eq!(
        git(Some(&path), &["rev-list", "--count", "main"])?.trim(),
        (3000 + PACKS_BEFORE_CONSOLIDATING).to_string()
    );
    git_checks(&path)
}

/// The object ids listed in the pack index at `index`.
fn git_show_index(repo: &Path, index: &Path) -> TestResult<BTreeSet<String>> {
    let out = Command::new("git")
        .current_dir(repo)
        .arg("show-index")
        .stdin(std::fs::File::open(index)?)
        .output()?;
    if !out.status.success() {
        return Err("git show-index failed".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split(' ').nth(1).map(str::to_owned))
        .collect())
}

#[test]
fn repeated_consolidations_keep_the_history_pack_and_every_object() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = repo_with_history(dir.path(), 500)?;
    let history = pack_names(&path)?;
    let repo = Repository::open_bare(&path)?;
    let consolidator = Consolidator::new(&path);
    for round in 0..4 {
        for n in 0..PACKS_BEFORE_CONSOLIDATING {
            deploy(&repo, n % FILES, round * 100 + n)?;
        }
        let before = all_objects(&path)?;
        consolidator.run()?;
        assert_eq!(all_objects(&path)?, before, "round {round}");
        let after = pack_names(&path)?;
        assert!(history.is_subset(&after), "round {round}");
        assert!(after.len() <= 3, "round {round}: {after:?}");
    }
    git_checks(&path)
}

#[test]
fn a_pack_marked_keep_is_not_rolled_up() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = repo_with_history(dir.path(), 50)?;
    let repo = Repository::open_bare(&path)?;
    let mut packs_seen = pack_names(&path)?;
    let mut kept = None;
    for n in 0..8 {
        deploy(&repo, n, n)?;
        let now = pack_names(&path)?;
        if n == 3 {
            kept = now.difference(&packs_seen).next().cloned();
        }
        packs_seen = now;
    }
    let kept = kept.ok_or("no pack for the fourth deploy")?;
    let keep_file = path.join("objects").join("pack").join(format!("{kept}.keep"));
    std::fs::write(&keep_file, "receive-pack in progress\n")?;
    let before = all_objects(&path)?;

    Consolidator::new(&path).run()?;

    let after = pack_names(&path)?;
    assert!(after.contains(&kept), "{after:?}");
    assert!(
        after.len() < packs_seen.len(),
        "the other small packs were rolled up: {after:?}"
    );
    assert_eq!(all_objects(&path)?, before);
    std::fs::remove_file(keep_file)?;
    git_checks(&path)
}

#[test]
fn a_remote_with_automatic_gc_off_keeps_all_its_packs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = repo_with_history(dir.path(), 20)?;
    git(Some(&path), &["config", "receive.autogc", "false"])?;
    let repo = Repository::open_bare(&path)?;
    for n in 0..PACKS_BEFORE_CONSOLIDATING {
        deploy(&repo, n % FILES, n)?;
    }
    let before = pack_names(&path)?;
    Consolidator::new(&path).run()?;
    assert_eq!(pack_names(&path)?, before);
    Ok(())
}

#[test]
fn a_repository_with_a_multi_pack_index_is_consolidated_by_git_repack() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = repo_with_history(dir.path(), 50)?;
    let repo = Repository::open_bare(&path)?;
    for n in 0..10 {
        deploy(&repo, n, n)?;
    }
    git(Some(&path), &["multi-pack-index", "write"])?;
    let before = all_objects(&path)?;
    Consolidator::new(&path).run()?;
    assert!(pack_count(&path)? < 11);
    assert_eq!(all_objects(&path)?, before);
    git(Some(&path), &["multi-pack-index", "verify"])?;
    git_checks(&path)
}

#[test]
fn packs_written_while_consolidations_run_are_kept_whole() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = repo_with_history(dir.path(), 200)?;
    let consolidator = Consolidator::new(&path);
    let writer_path = path.clone();
    let writer = std::thread::spawn(move || -> TestResult<Vec<Oid>> {
        // Opened for every deploy, as a handle may hold packs that a consolidation deleted.
        // A handle that lists the pack directory while a consolidation renames a new pack into
        // it and deletes the old ones may see neither; like the deployer's readers, the writer
        // then tries once more with a fresh handle (a deploy done twice writes the same pack).
        (0..120)
            .map(|n| {
                let attempt = || deploy(&Repository::open_bare(&writer_path)?, n % FILES, n);
                attempt().or_else(|_| attempt())
            })
            .collect()
    });
    while !writer.is_finished() {
        consolidator.run()?;
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let commits = writer.join().map_err(|_| "the writer panicked")??;
    consolidator.run()?;
    let repo = Repository::open_bare(&path)?;
    for commit in commits {
        repo.find_commit(commit)?.tree()?;
    }
    // What is left grows geometrically: each pack holds at least twice the one below.
    let mut sizes = Vec::new();
    for name in pack_names(&path)? {
        let index = path.join("objects").join("pack").join(format!("{name}.idx"));
        sizes.push(git_show_index(&path, &index)?.len());
    }
    sizes.sort_unstable();
    assert!(sizes.windows(2).all(|w| w[1] >= 2 * w[0]), "{sizes:?}");
    git_checks(&path)
}
