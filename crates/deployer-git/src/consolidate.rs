//! Keeping the number of packs of a repository small, as `git receive-pack` does with
//! `git gc --auto` after a push: every push in-process adds one pack to the remote (and every
//! batch one to the clone), and with thousands of packs every object lookup scans thousands of
//! indexes and every miss re-reads the pack directory.
//!
//! After [`PACKS_BEFORE_CONSOLIDATING`] packs were added, `git repack -d -l --geometric=2
//! --window=0` is run in the background, off the push path: it rolls the small packs up into
//! one (and any loose objects with them) so that the remaining packs grow geometrically in
//! size, without touching the big ones, and deletes only the packs it rolled up. It copies
//! objects as they are (deltas found earlier are kept, no new delta search: on a directory of
//! thousands of files that search costs more than the whole deploy); `git gc` still finds
//! deltas whenever it runs. This is git's own
//! incremental maintenance, safe against concurrent pushers and readers: packs written while it
//! runs are left alone, and readers of a deleted pack find its objects in the new one. A
//! remote with `receive.autogc` set to false is never consolidated.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// How many packs may be added before a consolidation is started.
pub const PACKS_BEFORE_CONSOLIDATING: usize = 32;

/// Consolidation of one repository's packs.
#[derive(Debug)]
pub struct Consolidator {
    git_dir: PathBuf,
    added: AtomicUsize,
    running: AtomicBool,
    finished: AtomicU64,
}

impl Consolidator {
    /// The consolidation of the repository at `git_dir`.
    pub fn new(git_dir: &Path) -> Arc<Self> {
        Arc::new(Consolidator {
            git_dir: git_dir.to_path_buf(),
            added: AtomicUsize::new(0),
            running: AtomicBool::new(false),
            finished: AtomicU64::new(0),
        })
    }

    /// The repository.
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// How many consolidations have finished: a handle opened before the count changed may
    /// hold packs that were deleted since, and is better reopened.
    pub fn finished(&self) -> u64 {
        self.finished.load(Ordering::SeqCst)
    }

    /// Whether a consolidation is running now.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// Records that a pack was added; starts a consolidation in the background when enough
    /// were and none is running. Returns whether one was started.
    pub fn pack_added(self: &Arc<Self>) -> bool {
        let added = self.added.fetch_add(1, Ordering::SeqCst) + 1;
        if added < PACKS_BEFORE_CONSOLIDATING || self.running.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.added.store(0, Ordering::SeqCst);
        let this = Arc::clone(self);
        let started = std::thread::Builder::new()
            .name("git-repack".to_owned())
            .spawn(move || {
                // A failed consolidation leaves the packs as they were; the next one retries.
                let _ = this.run();
                this.finished.fetch_add(1, Ordering::SeqCst);
                this.running.store(false, Ordering::SeqCst);
            });
        if started.is_err() {
            self.running.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Runs one consolidation now, in this thread.
    ///
    /// # Errors
    /// When `git` cannot be started or fails.
    pub fn run(&self) -> std::io::Result<()> {
        let disabled = git2::Repository::open_bare(&self.git_dir)
            .and_then(|repo| repo.config())
            .and_then(|config| config.get_bool("receive.autogc"))
            .is_ok_and(|enabled| !enabled);
        if disabled {
            return Ok(());
        }
        let status = Command::new("git")
            .arg("--git-dir")
            .arg(&self.git_dir)
            .args([
                "-c",
                "repack.writeBitmaps=false",
                "repack",
                "-d",
                "-l",
                "-q",
                "--geometric=2",
                "--window=0",
            ])
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("git repack failed: {status}")))
        }
    }
}

/// The number of packs in the repository at `git_dir`.
///
/// # Errors
/// When the pack directory cannot be read.
pub fn pack_count(git_dir: &Path) -> std::io::Result<usize> {
    let mut count = 0;
    for entry in std::fs::read_dir(git_dir.join("objects").join("pack"))? {
        if entry?.file_name().to_string_lossy().ends_with(".idx") {
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::{self, PackObject};

    #[test]
    fn a_consolidation_rolls_many_small_packs_into_one_keeping_every_object() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let repo = git2::Repository::init_bare(dir.path())?;
        let mut ids = Vec::new();
        for n in 0..20 {
            let data = format!("image: web:v{n}\n");
            let id = git2::Oid::hash_object(git2::ObjectType::Blob, data.as_bytes())?;
            let object = PackObject {
                id,
                kind: git2::ObjectType::Blob,
                data: data.as_bytes(),
            };
            pack::write(&repo.path().join("objects"), &[object])?;
            ids.push(id);
        }
        assert_eq!(pack_count(repo.path())?, 20);
        let consolidator = Consolidator::new(repo.path());
        consolidator.run()?;
        assert_eq!(pack_count(repo.path())?, 1);
        let reopened = git2::Repository::open_bare(repo.path())?;
        for id in ids {
            assert!(reopened.find_blob(id).is_ok(), "{id}");
        }
        Ok(())
    }

    #[test]
    fn a_remote_that_turned_automatic_gc_off_is_left_alone() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let repo = git2::Repository::init_bare(dir.path())?;
        repo.config()?.set_bool("receive.autogc", false)?;
        for n in 0..3u8 {
            let data = [n];
            let id = git2::Oid::hash_object(git2::ObjectType::Blob, &data)?;
            let object = PackObject {
                id,
                kind: git2::ObjectType::Blob,
                data: &data,
            };
            pack::write(&repo.path().join("objects"), &[object])?;
        }
        Consolidator::new(repo.path()).run()?;
        assert_eq!(pack_count(repo.path())?, 3);
        Ok(())
    }
}
