//! Keeping the number of packs of a repository small, as `git receive-pack` does with
//! `git gc --auto` after a push: every push in-process adds one pack to the remote (and every
//! batch one to the clone), and with thousands of packs every object lookup scans thousands of
//! indexes and every miss re-reads the pack directory.
//!
//! After [`PACKS_BEFORE_CONSOLIDATING`] packs were added, a consolidation runs in the
//! background, off the push path. It makes the same choice as `git repack --geometric=2`: the
//! packs, smallest first, are rolled up until the remaining ones grow geometrically in size, so
//! the big packs holding the history are never touched. Unlike `git repack --geometric`, whose
//! `git pack-objects --stdin-packs` walks every commit reachable from the rolled-up packs (the
//! whole history, only to guess file names for a delta search we turn off), the objects to roll
//! up are listed from the packs' indexes and handed to `git pack-objects` by id, so the cost is
//! that of the objects rolled up, whatever the length of the history. Loose objects are rolled
//! up with them. Objects are copied as they are (deltas found earlier are kept, no new delta
//! search: on a directory of thousands of files that search costs more than the whole deploy);
//! `git gc` still finds deltas whenever it runs.
//!
//! When the packs rolled up hold whole objects only (the deployer's own packs always do) and no
//! loose object goes with them, no `git` is started: their entries are copied into the new pack
//! as they are, each checked against the CRC-32 its index records, as `git pack-objects` checks
//! what it reuses ([`crate::pack::Copied`]). A delta, a damaged entry or a loose object leaves
//! the work to `git pack-objects`.
//!
//! It is as safe against concurrent pushers and readers as git's own repack: the new pack is
//! written under a temporary name and its index is renamed last; only packs listed
//! before it started are deleted (a pack written meanwhile is left alone), each only when every
//! one of its objects is in the new pack's index, index first so that no reader finds an index
//! without its pack; readers of a deleted pack find its objects in the new one. Packs marked
//! `.keep` (a push in progress, or kept by hand), `.promisor` or cruft packs are never rolled
//! up. A repository with a multi-pack index or another object format than SHA-1 is left to
//! `git repack --geometric` itself. A remote with `receive.autogc` set to false is never
//! consolidated.

use std::collections::HashSet;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use git2::Oid;

use crate::pack;

/// How many packs may be added before a consolidation is started.
pub const PACKS_BEFORE_CONSOLIDATING: usize = 32;

/// A pack that is kept holds at least this many times the objects of all the smaller packs
/// together (`git repack --geometric=2`).
const GEOMETRIC_FACTOR: u64 = 2;

/// The length of a SHA-1 object id.
const ID_LEN: usize = 20;

/// The first bytes of a version 2 pack index.
const INDEX_MAGIC: &[u8; 4] = b"\xfftOc";

/// The length of a version 2 index header: magic, version and the 256 fan-out entries.
const INDEX_HEADER_LEN: usize = 8 + 256 * 4;

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
    /// When the pack directory cannot be read, `git` cannot be started or fails, or a pack
    /// cannot be deleted.
    pub fn run(&self) -> std::io::Result<()> {
        match method(&self.git_dir) {
            Method::Skip => Ok(()),
            Method::Git => repack_with_git(&self.git_dir),
            Method::ByIds => {
                if let Some(roll_up) = plan(&self.git_dir)? {
                    roll_up.carry_out(&self.git_dir)?;
                }
                Ok(())
            }
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

/// How a repository is consolidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// Not at all: `receive.autogc` is false.
    Skip,
    /// By `git repack --geometric`, for layouts the roll-up by ids does not handle.
    Git,
    /// By rolling up the small packs through `git pack-objects`, given the objects' ids.
    ByIds,
}

/// How the repository at `git_dir` is consolidated; one whose configuration cannot be read
/// is left to `git repack`, as it was before.
fn method(git_dir: &Path) -> Method {
    let Ok(config) = git2::Repository::open_bare(git_dir).and_then(|repo| repo.config()) else {
        return Method::Git;
    };
    if config.get_bool("receive.autogc").ok() == Some(false) {
        return Method::Skip;
    }
    let sha1 = config
        .get_string("extensions.objectformat")
        .map_or(true, |format| format.eq_ignore_ascii_case("sha1"));
    let multi_pack_index = git_dir.join("objects").join("pack").join("multi-pack-index").exists();
    if sha1 && !multi_pack_index {
        Method::ByIds
    } else {
        Method::Git
    }
}

/// Runs `git repack -d -l --geometric=2 --window=0` on the repository at `git_dir`.
fn repack_with_git(git_dir: &Path) -> std::io::Result<()> {
    let status = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
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

/// The name of a pack, `pack-<checksum>`, its files being that name with an extension.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct PackName(String);

impl PackName {
    /// The name of the pack whose index file is named `file_name`, if it is one.
    fn from_index_file(file_name: &str) -> Option<PackName> {
        let stem = file_name.strip_suffix(".idx")?;
        let checksum = stem.strip_prefix("pack-")?;
        (!checksum.is_empty() && checksum.bytes().all(|b| b.is_ascii_hexdigit())).then(|| PackName(stem.to_owned()))
    }

    /// The pack's file with extension `ext` (without the dot) in the pack directory `dir`.
    fn file(&self, dir: &Path, ext: &str) -> PathBuf {
        dir.join(format!("{}.{ext}", self.0))
    }
}

impl fmt::Display for PackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pack of the repository that may be rolled up, with its number of objects.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PackSize {
    name: PackName,
    objects: u64,
}

/// One pack to roll up, with the entries of its index (read once, for the plan and the copy).
#[derive(Debug, Clone)]
struct RolledPack {
    name: PackName,
    entries: IndexEntries,
}

/// What one consolidation rolls up into a new pack.
#[derive(Debug, Clone)]
struct RollUp {
    packs: Vec<RolledPack>,
    loose: Vec<Oid>,
}

/// The number of smallest packs (of `sizes`, in objects, sorted ascending) to roll up so that
/// the rest, with the new pack, grow by [`GEOMETRIC_FACTOR`]: the choice of `git repack
/// --geometric`.
fn geometric_split(sizes: &[u64]) -> usize {
    // The largest packs that already form a geometric progression stay.
    let mut split = (1..sizes.len())
        .rev()
        .find(|&i| sizes[i] < GEOMETRIC_FACTOR.saturating_mul(sizes[i - 1]))
        .map_or(0, |i| i + 1);
    // The new pack may in turn be too big for the smallest of them: those join it.
    let mut total: u64 = sizes[..split].iter().sum();
    for &size in &sizes[split..] {
        if GEOMETRIC_FACTOR.saturating_mul(total) < size {
            break;
        }
        split += 1;
        total = total.saturating_add(size);
    }
    split
}

/// The packs to roll up among `packs`, smallest first.
fn choose(mut packs: Vec<PackSize>) -> Vec<PackSize> {
    packs.sort_by(|a, b| a.objects.cmp(&b.objects).then_with(|| a.name.cmp(&b.name)));
    let sizes: Vec<u64> = packs.iter().map(|p| p.objects).collect();
    packs.truncate(geometric_split(&sizes));
    packs
}

/// The roll-up of the repository at `git_dir` as it is now, `None` when there is nothing to
/// roll up.
fn plan(git_dir: &Path) -> std::io::Result<Option<RollUp>> {
    let objects_dir = git_dir.join("objects");
    let pack_dir = objects_dir.join("pack");
    let chosen = choose(candidate_packs(&pack_dir)?);
    let loose = loose_objects(&objects_dir)?;
    if chosen.len() < 2 && loose.is_empty() {
        return Ok(None);
    }
    let mut packs = Vec::with_capacity(chosen.len());
    for pack in chosen {
        // A pack deleted meanwhile (by `git gc`) is simply not rolled up.
        if let Ok(entries) = read_index(&pack.name.file(&pack_dir, "idx")) {
            packs.push(RolledPack {
                name: pack.name,
                entries,
            });
        }
    }
    Ok(Some(RollUp { packs, loose }))
}

impl RollUp {
    /// Writes the new pack, then deletes the rolled-up packs and loose objects that it holds.
    fn carry_out(&self, git_dir: &Path) -> std::io::Result<()> {
        let objects_dir = git_dir.join("objects");
        let pack_dir = objects_dir.join("pack");
        let mut seen = HashSet::new();
        let ids: Vec<Oid> = self
            .packs
            .iter()
            .flat_map(|p| p.entries.ids.iter())
            .chain(&self.loose)
            .copied()
            .filter(|id| seen.insert(*id))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        // Packs of whole objects only (as the deployer writes them) are copied here, entry by
        // entry; loose objects, deltas or anything unexpected go through `git pack-objects`.
        let copied = if self.loose.is_empty() {
            copy_packs(&pack_dir, &self.packs)?
        } else {
            None
        };
        let written = match copied {
            Some(written) => written,
            None => pack_objects(git_dir, &ids)?,
        };
        let kept: HashSet<Oid> = index_ids(&written.file(&pack_dir, "idx"))?.into_iter().collect();
        for pack in &self.packs {
            if pack.name != written && pack.entries.ids.iter().all(|id| kept.contains(id)) {
                delete_pack(&pack_dir, &pack.name)?;
            }
        }
        for id in self.loose.iter().filter(|id| kept.contains(id)) {
            let hex = id.to_string();
            remove_if_present(&objects_dir.join(&hex[..2]).join(&hex[2..]))?;
        }
        Ok(())
    }
}

/// The packs in `pack_dir` that may be rolled up: complete (index and pack), not kept, not
/// promised by a remote and not cruft.
fn candidate_packs(pack_dir: &Path) -> std::io::Result<Vec<PackSize>> {
    let mut packs = Vec::new();
    for entry in std::fs::read_dir(pack_dir)? {
        let Some(name) = PackName::from_index_file(&entry?.file_name().to_string_lossy()) else {
            continue;
        };
        let complete = name.file(pack_dir, "pack").exists();
        let excluded = ["keep", "promisor", "mtimes"]
            .iter()
            .any(|ext| name.file(pack_dir, ext).exists());
        if !complete || excluded {
            continue;
        }
        // An index that cannot be read (being deleted, or another version) is left alone.
        if let Ok(objects) = index_object_count(&name.file(pack_dir, "idx")) {
            packs.push(PackSize { name, objects });
        }
    }
    Ok(packs)
}

/// The number of objects in a version 2 pack index, given its header.
fn header_object_count(header: &[u8]) -> std::io::Result<u64> {
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not a version 2 pack index");
    if header.len() < INDEX_HEADER_LEN || &header[..4] != INDEX_MAGIC || header[4..8] != 2u32.to_be_bytes() {
        return Err(invalid());
    }
    let last = header
        .get(INDEX_HEADER_LEN - 4..INDEX_HEADER_LEN)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .ok_or_else(invalid)?;
    Ok(u64::from(u32::from_be_bytes(last)))
}

/// The number of objects in the pack index at `path`, reading only its header.
fn index_object_count(path: &Path) -> std::io::Result<u64> {
    let mut header = [0u8; INDEX_HEADER_LEN];
    std::fs::File::open(path)?.read_exact(&mut header)?;
    header_object_count(&header)
}

/// The ids of the objects in the version 2 pack index at `path`.
fn index_ids(path: &Path) -> std::io::Result<Vec<Oid>> {
    Ok(read_index(path)?.ids)
}

/// The entries of the version 2 pack index at `path`.
fn read_index(path: &Path) -> std::io::Result<IndexEntries> {
    index_entries(&std::fs::read(path)?)
}

/// The entries of a version 2 pack index: each object's id, CRC-32 and offset, in index order.
#[derive(Debug, Clone, Default)]
struct IndexEntries {
    ids: Vec<Oid>,
    crcs: Vec<u32>,
    offsets: Vec<u64>,
}

/// Reads the entries of the version 2 pack index `index`.
fn index_entries(index: &[u8]) -> std::io::Result<IndexEntries> {
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("pack index: {what}"));
    let count = usize::try_from(header_object_count(index)?).map_err(std::io::Error::other)?;
    let ids_at = INDEX_HEADER_LEN;
    let crcs_at = ids_at + count * ID_LEN;
    let offsets_at = crcs_at + count * 4;
    let large_at = offsets_at + count * 4;
    if index.len() < large_at + 2 * ID_LEN {
        return Err(invalid("truncated"));
    }
    let word = |at: usize| -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&index[at..at + 4]);
        u32::from_be_bytes(b)
    };
    let mut entries = IndexEntries::default();
    for i in 0..count {
        let id = &index[ids_at + i * ID_LEN..ids_at + (i + 1) * ID_LEN];
        entries.ids.push(Oid::from_bytes(id).map_err(std::io::Error::other)?);
        entries.crcs.push(word(crcs_at + i * 4));
        let small = word(offsets_at + i * 4);
        let offset = if small & 0x8000_0000 == 0 {
            u64::from(small)
        } else {
            let at = large_at + (small & 0x7fff_ffff) as usize * 8;
            let bytes = index
                .get(at..at + 8)
                .ok_or_else(|| invalid("large offset out of range"))?;
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            u64::from_be_bytes(b)
        };
        entries.offsets.push(offset);
    }
    Ok(entries)
}

/// Copies the objects of `packs` into one new pack entry by entry ([`pack::Copied`]), each
/// object once, checking every entry's CRC-32 against its index as `git pack-objects` does
/// when it reuses data. `None` (and nothing written) when a pack holds a delta, or an entry
/// does not match its index: `git pack-objects` then does the work.
fn copy_packs(pack_dir: &Path, packs: &[RolledPack]) -> std::io::Result<Option<PackName>> {
    // Which entries to copy, known before the first byte is written (the pack's header holds
    // their number).
    let mut seen = HashSet::new();
    let mut plans = Vec::with_capacity(packs.len());
    for rolled in packs {
        let entries = &rolled.entries;
        let mut order: Vec<usize> = (0..entries.ids.len()).collect();
        order.sort_unstable_by_key(|&i| entries.offsets[i]);
        let keep: Vec<bool> = order.iter().map(|&i| seen.insert(entries.ids[i])).collect();
        plans.push((rolled, order, keep));
    }
    let Ok(count) = u32::try_from(seen.len()) else {
        return Ok(None);
    };
    if count == 0 {
        return Ok(None);
    }
    let mut copied = pack::Copied::create(pack_dir, count)?;
    let mut entry = Vec::new();
    for (rolled, order, keep) in plans {
        let entries = &rolled.entries;
        let opened = std::fs::File::open(rolled.name.file(pack_dir, "pack"))?;
        let end_of_entries = opened.metadata()?.len().saturating_sub(ID_LEN as u64);
        let mut file = std::io::BufReader::with_capacity(pack::COPY_BUFFER, opened);
        let mut header = [0u8; 12];
        file.read_exact(&mut header)?;
        let objects = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
        if &header[..4] != b"PACK" || objects as usize != order.len() {
            return Ok(None);
        }
        let mut at = 12u64;
        for (k, &i) in order.iter().enumerate() {
            let end = order.get(k + 1).map_or(end_of_entries, |&next| entries.offsets[next]);
            if entries.offsets[i] != at || end <= at {
                return Ok(None);
            }
            entry.resize(usize::try_from(end - at).map_err(std::io::Error::other)?, 0);
            file.read_exact(&mut entry)?;
            at = end;
            let mut crc = flate2::Crc::new();
            crc.update(&entry);
            if !pack::is_whole_object(entry[0]) || crc.sum() != entries.crcs[i] {
                return Ok(None);
            }
            if keep[k] {
                copied.push(entries.ids[i], entries.crcs[i], &entry)?;
            }
        }
    }
    let written = copied.finish().map_err(std::io::Error::other)?;
    Ok(PackName::from_index_file(&format!("pack-{}.idx", written.checksum)))
}

/// The ids of the loose objects under `objects_dir`.
fn loose_objects(objects_dir: &Path) -> std::io::Result<Vec<Oid>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(objects_dir)? {
        let entry = entry?;
        let prefix = entry.file_name().to_string_lossy().into_owned();
        if prefix.len() != 2 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let files = match std::fs::read_dir(entry.path()) {
            Ok(files) => files,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for file in files {
            let rest = file?.file_name().to_string_lossy().into_owned();
            // Objects being written have temporary names, which are not ids.
            if rest.len() == 2 * ID_LEN - 2
                && rest.bytes().all(|b| b.is_ascii_hexdigit())
                && let Ok(id) = Oid::from_str(&format!("{prefix}{rest}"))
            {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

/// Writes the objects `ids` of the repository at `git_dir` into one new pack with `git
/// pack-objects`, reusing their stored form, and returns its name.
fn pack_objects(git_dir: &Path, ids: &[Oid]) -> std::io::Result<PackName> {
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args([
            "-c",
            "pack.writeBitmaps=false",
            "pack-objects",
            "-q",
            "--window=0",
            "--delta-base-offset",
        ])
        .arg(git_dir.join("objects").join("pack").join("pack"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin for git pack-objects"))?;
    let mut list = String::with_capacity(ids.len() * (2 * ID_LEN + 1));
    for id in ids {
        list.push_str(&id.to_string());
        list.push('\n');
    }
    // Written from another thread, so that a `git` that stops reading and fills its output
    // pipes cannot block both sides.
    let writer = std::thread::spawn(move || stdin.write_all(list.as_bytes()));
    let output = child.wait_with_output()?;
    let written = writer
        .join()
        .map_err(|_| std::io::Error::other("the object list could not be written"))?;
    if !output.status.success() {
        return Err(std::io::Error::other(format!(
            "git pack-objects failed: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    written?;
    let checksum = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    PackName::from_index_file(&format!("pack-{checksum}.idx"))
        .ok_or_else(|| std::io::Error::other(format!("git pack-objects named no pack: {checksum:?}")))
}

/// Deletes the pack `name` from `pack_dir`, index first, unless it was marked `.keep` since.
fn delete_pack(pack_dir: &Path, name: &PackName) -> std::io::Result<()> {
    if name.file(pack_dir, "keep").exists() {
        return Ok(());
    }
    for ext in ["idx", "pack", "rev", "bitmap"] {
        remove_if_present(&name.file(pack_dir, ext))?;
    }
    Ok(())
}

/// Removes the file at `path`; one already gone (deleted by `git gc` meanwhile) is fine.
fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::{self, PackObject};
    use std::os::unix::fs::PermissionsExt;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// Writes one pack holding one blob with `data` into `repo`, returning the blob's id.
    fn one_blob_pack(repo: &git2::Repository, data: &[u8]) -> Result<Oid, Box<dyn std::error::Error>> {
        let id = Oid::hash_object(git2::ObjectType::Blob, data)?;
        let object = PackObject {
            id,
            kind: git2::ObjectType::Blob,
            data,
        };
        pack::write(&repo.path().join("objects"), &[object])?;
        Ok(id)
    }

    #[test]
    fn a_consolidation_rolls_many_small_packs_into_one_keeping_every_object() -> TestResult {
        let dir = tempfile::tempdir()?;
        let repo = git2::Repository::init_bare(dir.path())?;
        let mut ids = Vec::new();
        for n in 0..20 {
            ids.push(one_blob_pack(&repo, format!("image: web:v{n}\n").as_bytes())?);
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
    fn a_remote_that_turned_automatic_gc_off_is_left_alone() -> TestResult {
        let dir = tempfile::tempdir()?;
        let repo = git2::Repository::init_bare(dir.path())?;
        repo.config()?.set_bool("receive.autogc", false)?;
        for n in 0..3u8 {
            one_blob_pack(&repo, &[n])?;
        }
        Consolidator::new(repo.path()).run()?;
        assert_eq!(pack_count(repo.path())?, 3);
        Ok(())
    }

    #[test]
    fn the_split_rolls_up_the_packs_below_the_geometric_progression() {
        let mut deploys = vec![6u64; 32];
        deploys.extend([192, 600_000]);
        let cases: &[(&[u64], usize)] = &[
            (&[], 0),
            (&[5], 0),
            (&[10, 30, 100], 0),
            (&[100, 100], 2),
            (&[1, 1, 1, 1000], 3),
            (&[1, 1, 100, 1000], 2),
            // 32 pushes of 6 objects and the previous roll-up join; the history stays.
            (&deploys, 33),
            // The new pack of 2 would be too big for the pack of 3 next to it.
            (&[1, 1, 3, 100], 3),
        ];
        for (sizes, expected) in cases {
            assert_eq!(geometric_split(sizes), *expected, "{sizes:?}");
        }
    }

    #[test]
    fn the_biggest_pack_is_not_chosen_when_it_dwarfs_the_others() {
        let packs: Vec<PackSize> = [("pack-aa", 600_000), ("pack-bb", 6), ("pack-cc", 6), ("pack-dd", 7)]
            .into_iter()
            .map(|(name, objects)| PackSize {
                name: PackName(name.to_owned()),
                objects,
            })
            .collect();
        let chosen: Vec<String> = choose(packs).into_iter().map(|p| p.name.to_string()).collect();
        assert_eq!(chosen, ["pack-bb", "pack-cc", "pack-dd"]);
    }

    #[test]
    fn only_index_files_with_a_checksum_name_are_packs() {
        assert_eq!(
            PackName::from_index_file("pack-0a1b.idx"),
            Some(PackName("pack-0a1b".to_owned()))
        );
        for other in [
            "pack-0a1b.pack",
            "tmp_idx_1234",
            "pack-.idx",
            "pack-xyz.idx",
            "multi-pack-index",
        ] {
            assert_eq!(PackName::from_index_file(other), None, "{other}");
        }
    }

    #[test]
    fn a_pack_written_after_the_roll_up_was_planned_is_left_alone() -> TestResult {
        let dir = tempfile::tempdir()?;
        let repo = git2::Repository::init_bare(dir.path())?;
        for n in 0..10 {
            one_blob_pack(&repo, format!("image: web:v{n}\n").as_bytes())?;
        }
        let roll_up = plan(repo.path())?.ok_or("nothing to roll up")?;
        assert_eq!(roll_up.packs.len(), 10);
        let late = one_blob_pack(&repo, b"image: web:late\n")?;
        roll_up.carry_out(repo.path())?;
        assert_eq!(pack_count(repo.path())?, 2, "the roll-up and the late pack");
        let pack_dir = repo.path().join("objects").join("pack");
        let late_pack = std::fs::read_dir(&pack_dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| PackName::from_index_file(&e.file_name().to_string_lossy()))
            .find(|name| index_ids(&name.file(&pack_dir, "idx")).is_ok_and(|ids| ids == [late]));
        assert!(late_pack.is_some(), "the late pack holds only its own blob");
        Ok(())
    }

    #[test]
    fn loose_objects_are_rolled_up_and_removed() -> TestResult {
        let dir = tempfile::tempdir()?;
        let repo = git2::Repository::init_bare(dir.path())?;
        let packed = one_blob_pack(&repo, b"packed\n")?;
        one_blob_pack(&repo, b"packed too\n")?;
        let loose = repo.blob(b"loose\n")?;
        assert_eq!(loose_objects(&repo.path().join("objects"))?, [loose]);
        Consolidator::new(repo.path()).run()?;
        assert!(loose_objects(&repo.path().join("objects"))?.is_empty());
        assert_eq!(pack_count(repo.path())?, 1);
        let reopened = git2::Repository::open_bare(repo.path())?;
        assert!(reopened.find_blob(packed).is_ok());
        assert!(reopened.find_blob(loose).is_ok());
        Ok(())
    }

    #[test]
    fn an_index_that_is_not_version_2_is_refused() {
        let mut header = vec![0u8; INDEX_HEADER_LEN];
        assert!(header_object_count(&header).is_err());
        header[..4].copy_from_slice(INDEX_MAGIC);
        header[4..8].copy_from_slice(&2u32.to_be_bytes());
        header[INDEX_HEADER_LEN - 4..].copy_from_slice(&7u32.to_be_bytes());
        assert_eq!(header_object_count(&header).ok(), Some(7));
        assert!(header_object_count(&header[..100]).is_err());
    }

    fn rolled(pack_dir: &Path) -> std::io::Result<Vec<RolledPack>> {
        let mut packs = Vec::new();
        for pack in candidate_packs(pack_dir)? {
            let entries = read_index(&pack.name.file(pack_dir, "idx"))?;
            packs.push(RolledPack {
                name: pack.name,
                entries,
            });
        }
        packs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(packs)
    }

    fn git_in(repo: &Path, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
        let out = Command::new("git").arg("--git-dir").arg(repo).args(args).output()?;
        if !out.status.success() {
            return Err(format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    #[test]
    fn packs_of_whole_objects_are_copied_entry_by_entry_each_object_once() -> TestResult {
        let dir = tempfile::tempdir()?;
        let repo = git2::Repository::init_bare(dir.path())?;
        let pack_dir = repo.path().join("objects").join("pack");
        let mut ids = Vec::new();
        for n in 0..12 {
            ids.push(one_blob_pack(&repo, format!("image: web:v{n}\n").as_bytes())?);
        }
        // The same object in a second pack, and a big one (compressed in chunks).
        one_blob_pack(&repo, b"image: web:v3\n")?;
        let big: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 97).to_le_bytes()).collect();
        ids.push(one_blob_pack(&repo, &big)?);
        let packs = rolled(&pack_dir)?;
        assert_eq!(packs.len(), 13, "the duplicate pack has the same name as the first");

        let written = copy_packs(&pack_dir, &packs)?.ok_or("whole objects are copied")?;
        let index = written.file(&pack_dir, "idx");
        assert_eq!(index_ids(&index)?.len(), 13, "every object once");
        git_in(repo.path(), &["verify-pack", &index.to_string_lossy()])?;
        for pack in &packs {
            delete_pack(&pack_dir, &pack.name)?;
        }
        let reopened = git2::Repository::open_bare(repo.path())?;
        for id in &ids {
            assert!(reopened.find_blob(*id).is_ok(), "{id}");
        }
        assert_eq!(reopened.find_blob(*ids.last().ok_or("no id")?)?.content(), &big[..]);
        git_in(repo.path(), &["fsck", "--no-dangling", "--strict"])?;
        let leftovers = std::fs::read_dir(&pack_dir)?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("tmp_"))
            .count();
        assert_eq!(leftovers, 0);
        Ok(())
    }

    #[test]
    fn a_pack_with_deltas_or_a_damaged_entry_is_left_to_git() -> TestResult {
        let dir = tempfile::tempdir()?;
        let repo = git2::Repository::init_bare(dir.path())?;
        let pack_dir = repo.path().join("objects").join("pack");
        // Versions of one big file that git stores as deltas of each other.
        let base: String = (0..2_000).map(|i| format!("line {i}\n")).collect();
        let mut ids = Vec::new();
        for v in 0..4 {
            ids.push(repo.blob(format!("{base}version {v}\n").as_bytes())?);
        }
        // With the delta search on (`pack_objects` turns it off).
        let mut child = Command::new("git")
            .arg("--git-dir")
            .arg(repo.path())
            .args(["pack-objects", "-q", "--window=10", "--depth=10"])
            .arg(pack_dir.join("pack"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?;
        let list: String = ids.iter().map(|id| format!("{id}\n")).collect();
        child.stdin.take().ok_or("no stdin")?.write_all(list.as_bytes())?;
        assert!(child.wait()?.success());
        let packs = rolled(&pack_dir)?;
        assert_eq!(packs.len(), 1);
        let verified = git_in(
            repo.path(),
            &[
                "verify-pack",
                "-v",
                &packs[0].name.file(&pack_dir, "idx").to_string_lossy(),
            ],
        )?;
        assert!(verified.contains("chain length"), "git made no delta: {verified}");
        assert!(copy_packs(&pack_dir, &rolled(&pack_dir)?)?.is_none());

        // A whole-object pack whose entry no longer matches its index's CRC-32.
        let other = tempfile::tempdir()?;
        let repo = git2::Repository::init_bare(other.path())?;
        let pack_dir = repo.path().join("objects").join("pack");
        one_blob_pack(&repo, b"image: web:v1\n")?;
        let packs = rolled(&pack_dir)?;
        let file = packs[0].name.file(&pack_dir, "pack");
        let mut bytes = std::fs::read(&file)?;
        bytes[14] ^= 0x01;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
        std::fs::write(&file, &bytes)?;
        assert!(copy_packs(&pack_dir, &packs)?.is_none());
        let names: Vec<String> = std::fs::read_dir(&pack_dir)?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "nothing written beside the pack: {names:?}");
        Ok(())
    }
}
