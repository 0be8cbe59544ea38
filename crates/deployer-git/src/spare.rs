//! Empty files made ahead of time, for the writer's packs and ref locks.
//!
//! On some file systems creating a file costs far more than writing one: ext4 without a
//! journal looks past every inode freed in the last minutes before it hands one out, and a
//! steady stream of pushes creates and (after consolidation) deletes files all the time, so
//! each new file cost about a millisecond under load (docs/BENCHMARKS.md). A [`SparePool`]
//! keeps a few empty files ready in a directory of its own, made by a thread of its own. The
//! writer takes one for each file of a pack and for each ref lock, fills it and hard-links it
//! under its final name ([`crate::pack`], [`crate::local_push::move_ref_with_spare`]), then
//! hands the spare's name back; the thread removes the name and makes the next spare. So
//! neither the allocation nor a lock on the spares' directory is on the way of a batch. When the pool is empty the writer creates its file as before.
//!
//! A pool adopts the empty spares it finds when it starts and removes the names of used ones
//! (files with content), so a restart leaves nothing behind.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The name prefix of spare files.
const PREFIX: &str = "spare_";
/// The name prefix of files kept until released ([`SparePool::keep_until_released`]).
const RELEASED: &str = "released_";
/// How long the filling thread waits after the file system refused a file.
const RETRY_PAUSE: Duration = Duration::from_secs(5);

/// A pool of empty files in one directory; see the module documentation.
pub struct SparePool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SparePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparePool").field("dir", &self.inner.dir).finish()
    }
}

struct Inner {
    dir: PathBuf,
    want: usize,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    ready: Vec<PathBuf>,
    /// Names of used spares, to remove.
    used: Vec<PathBuf>,
    closed: bool,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SparePool {
    /// A pool keeping `want` empty files in `dir` (created when missing), adopting the spares
    /// already there. The files are made by a thread that runs until the pool is dropped; when
    /// no thread can be started the pool stays empty (and [`SparePool::take`] always says so).
    pub fn start(dir: &Path, want: usize) -> SparePool {
        let inner = Arc::new(Inner {
            dir: dir.to_owned(),
            want,
            state: Mutex::new(State {
                ready: leftover_spares(dir),
                ..State::default()
            }),
            changed: Condvar::new(),
        });
        let filler = Arc::clone(&inner);
        // Without the thread the pool is simply empty: callers create their files themselves.
        let _ = std::thread::Builder::new()
            .name("git-spare-files".to_owned())
            .spawn(move || run_filler(&filler));
        SparePool { inner }
    }

    /// An empty file of the pool's directory, now the caller's, or `None` when none is ready.
    /// Give its name back with [`SparePool::release`] once it has been linked elsewhere (or
    /// was not used).
    pub fn take(&self) -> Option<PathBuf> {
        let spare = self.inner.state().ready.pop();
        self.inner.changed.notify_one();
        spare
    }

    /// Gives `file` a second name in the pool's directory (to hand to
    /// [`SparePool::release`]), so that replacing or removing `file` does not free it on the
    /// caller's way: the pool's thread does, when it removes the name. `None` when `file` is
    /// missing or on another file system.
    pub fn keep_until_released(&self, file: &Path) -> Option<PathBuf> {
        let name = self.inner.dir.join(format!("{RELEASED}{:016x}", fastrand::u64(..)));
        std::fs::hard_link(file, &name).ok().map(|()| name)
    }

    /// Hands back the name of a spare taken from this pool; the pool's thread removes it.
    pub fn release(&self, spare: PathBuf) {
        self.inner.state().used.push(spare);
        self.inner.changed.notify_one();
    }

    /// How many spares are ready.
    pub fn ready(&self) -> usize {
        self.inner.state().ready.len()
    }
}

impl Drop for SparePool {
    fn drop(&mut self) {
        self.inner.state().closed = true;
        self.inner.changed.notify_one();
    }
}

/// The filling thread: removes the names of used spares and tops the pool up to `want` files.
fn run_filler(inner: &Inner) {
    let mut state = inner.state();
    loop {
        while !state.closed && state.used.is_empty() && state.ready.len() >= inner.want {
            state = inner.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        let used = std::mem::take(&mut state.used);
        let (closed, short) = (state.closed, state.ready.len() < inner.want);
        drop(state);
        for name in used {
            // Best effort: a name left behind is removed when the next pool starts.
            let _ = std::fs::remove_file(name);
        }
        if closed {
            return;
        }
        if !short {
            // Woken only to remove used names.
            state = inner.state();
            continue;
        }
        let made = make_spare(&inner.dir);
        state = inner.state();
        match made {
            Ok(path) => state.ready.push(path),
            Err(_) => {
                // The directory is gone or refuses files: callers create their own meanwhile.
                state = inner
                    .changed
                    .wait_timeout(state, RETRY_PAUSE)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
    }
}

/// Writes into `spare`, a file taken from a pool, with `write`. The file is opened without
/// creating it: a spare that went away is an error, not a new file made on the caller's way.
///
/// # Errors
/// When the spare is gone or cannot be written.
pub fn fill(spare: &Path, write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).truncate(true).open(spare)?;
    write(&mut file)
}

/// A pool of `want` spares in `dir`, once its thread has made them all (for tests).
#[cfg(test)]
pub(crate) fn filled(dir: &Path, want: usize) -> Result<SparePool, Box<dyn std::error::Error>> {
    let pool = SparePool::start(dir, want);
    wait_until(|| pool.ready() >= want, "the pool was not filled")?;
    Ok(pool)
}

/// Waits up to 10 s for `done`, polling (for tests).
#[cfg(test)]
fn wait_until(done: impl Fn() -> bool, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        if std::time::Instant::now() > deadline {
            return Err(format!("{what} within 10 s").into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn make_spare(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{PREFIX}{:016x}", fastrand::u64(..)));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
    Ok(path)
}

/// The empty spare files already in `dir`. Spares with content were used (their file lives on
/// under another name) or being filled when their process stopped, and released names were not
/// removed yet when it stopped: their names are removed.
fn leftover_spares(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut spares = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else { continue };
        if name.starts_with(RELEASED) {
            // Best effort: the next start tries again.
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        if !name.starts_with(PREFIX) {
            continue;
        }
        match entry.metadata() {
            Ok(m) if m.is_file() && m.len() == 0 => spares.push(entry.path()),
            Ok(m) if m.is_file() => {
                // Best effort: the next start tries again.
                let _ = std::fs::remove_file(entry.path());
            }
            _ => {}
        }
    }
    spares
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn wait_for_ready(pool: &SparePool, count: usize) -> TestResult {
        wait_until(|| pool.ready() >= count, "the pool was not refilled")
    }

    fn spares_on_disk(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        found.retain(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX))
        });
        found.sort();
        Ok(found)
    }

    #[test]
    fn the_pool_keeps_its_files_ready_and_refills_what_is_taken() -> TestResult {
        let dir = tempfile::tempdir()?;
        let pool = filled(dir.path(), 3)?;
        assert_eq!(spares_on_disk(dir.path())?.len(), 3);
        let taken = pool.take().ok_or("no spare")?;
        assert_eq!(taken.parent(), Some(dir.path()));
        assert_eq!(std::fs::metadata(&taken)?.len(), 0);
        std::fs::write(&taken, b"filled")?;
        let elsewhere = tempfile::tempdir_in(dir.path().parent().ok_or("no parent")?)?;
        std::fs::hard_link(&taken, elsewhere.path().join("pack-1.pack"))?;
        pool.release(taken.clone());
        wait_until(|| !taken.exists(), "the used name was not removed")?;
        wait_for_ready(&pool, 3)?;
        let on_disk = spares_on_disk(dir.path())?;
        assert_eq!(on_disk.len(), 3);
        assert!(!on_disk.contains(&taken), "a taken spare is not handed out again");
        assert_eq!(std::fs::read(elsewhere.path().join("pack-1.pack"))?, b"filled");
        Ok(())
    }

    #[test]
    fn spares_left_by_an_earlier_pool_are_adopted_and_not_multiplied() -> TestResult {
        let dir = tempfile::tempdir()?;
        let first = filled(dir.path(), 2)?;
        drop(first);
        let left = spares_on_disk(dir.path())?;
        assert_eq!(left.len(), 2);
        // A non-empty file with the prefix (a spare being filled when the process stopped) is
        // not a spare: it is removed.
        let half = dir.path().join(format!("{PREFIX}half"));
        std::fs::write(&half, b"half-written")?;
        let second = SparePool::start(dir.path(), 2);
        assert_eq!(second.ready(), 2);
        assert!(!half.exists());
        let taken = second.take().ok_or("no spare")?;
        assert!(left.contains(&taken));
        Ok(())
    }

    #[test]
    fn a_kept_file_survives_its_replacement_until_released_and_no_name_is_left() -> TestResult {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir()?;
        let pool = filled(&dir.path().join("spares"), 1)?;
        let file = dir.path().join("ref");
        std::fs::write(&file, b"old\n")?;
        let kept = pool.keep_until_released(&file).ok_or("not kept")?;
        std::fs::write(dir.path().join("ref.lock"), b"new\n")?;
        std::fs::rename(dir.path().join("ref.lock"), &file)?;
        assert_eq!(std::fs::read(&kept)?, b"old\n");
        assert_eq!(std::fs::metadata(&kept)?.nlink(), 1);
        pool.release(kept.clone());
        wait_until(|| !kept.exists(), "the kept name was not removed")?;
        assert!(pool.keep_until_released(&dir.path().join("missing")).is_none());
        // A released name left by a stopped process is removed by the next pool.
        let left = dir.path().join("spares").join(format!("{RELEASED}0000"));
        std::fs::write(&left, b"old\n")?;
        drop(pool);
        let _next = SparePool::start(&dir.path().join("spares"), 1);
        assert!(!left.exists());
        Ok(())
    }

    #[test]
    fn a_missing_directory_is_created_and_one_that_cannot_be_leaves_the_pool_empty() -> TestResult {
        let dir = tempfile::tempdir()?;
        let _pool = filled(&dir.path().join("spares"), 1)?;
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"")?;
        let refused = SparePool::start(&file.join("spares"), 2);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(refused.take(), None);
        Ok(())
    }
}
