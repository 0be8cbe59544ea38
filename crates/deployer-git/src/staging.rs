//! Commits built in memory: a batch's blobs, trees and commits are kept here until they are
//! written into the clone as one pack ([`crate::pack`]), instead of one loose file each.
//!
//! An edit replaces one entry in each tree along the file's path, so a new tree is its parent's
//! bytes with that entry rewritten: nothing is parsed into a tree builder or sorted again, and
//! the cost of a directory of thousands of files is one copy and one hash of its bytes. Trees
//! read or written are kept (up to [`TREE_CACHE_BYTES`]), so the next commit of a chain, and
//! the next batch on the tip just pushed, read them without inflating or parsing anything.
//!
//! The objects are byte for byte what libgit2 writes for the same edit (`objects::commit_file`).

use std::collections::HashMap;
use std::sync::Arc;

use git2::{FileMode, ObjectType, Odb, Oid, Signature};
use sha1::{Digest, Sha1};

use crate::objects::{FileAt, ReadError};
use crate::pack::PackObject;
use crate::paths::RepoPath;

/// The most bytes of trees kept between commits.
pub const TREE_CACHE_BYTES: usize = 64 * 1024 * 1024;

const MODE_TREE: u32 = 0o040000;
const MODE_BLOB: u32 = 0o100644;
const MODE_EXECUTABLE: u32 = 0o100755;
const MODE_LINK: u32 = 0o120000;
const MODE_COMMIT: u32 = 0o160000;

struct Staged {
    id: Oid,
    kind: ObjectType,
    data: Arc<[u8]>,
}

/// Trees kept by id, shared by the writer and the readers of a repository (a tree's bytes never
/// change for a given id), up to [`TREE_CACHE_BYTES`].
#[derive(Default)]
pub struct TreeCache {
    inner: std::sync::Mutex<TreeCacheInner>,
}

#[derive(Default)]
struct TreeCacheInner {
    trees: HashMap<Oid, Arc<[u8]>>,
    bytes: usize,
}

impl TreeCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, TreeCacheInner> {
        // The map is never left half-updated by a panic: a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The tree `id`, when kept.
    pub fn get(&self, id: Oid) -> Option<Arc<[u8]>> {
        self.lock().trees.get(&id).cloned()
    }

    /// Keeps tree `id`; everything is dropped when the cache would grow past its limit.
    pub fn insert(&self, id: Oid, tree: &Arc<[u8]>) {
        let mut inner = self.lock();
        if inner.bytes + tree.len() > TREE_CACHE_BYTES {
            inner.trees.clear();
            inner.bytes = 0;
        }
        if inner.trees.insert(id, Arc::clone(tree)).is_none() {
            inner.bytes += tree.len();
        }
    }
}

/// Objects written in memory, and trees kept from earlier reads.
#[derive(Default)]
pub struct Staging {
    staged: Vec<Staged>,
    by_id: HashMap<Oid, usize>,
    trees: Arc<TreeCache>,
}

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staging")
            .field("staged", &self.staged.len())
            .finish_non_exhaustive()
    }
}

/// One entry of a tree, as found in its bytes.
struct RawEntry {
    /// The mode as libgit2 reports it (normalised).
    mode: u32,
    id: Oid,
    /// Where the entry's bytes start and end in the tree.
    span: std::ops::Range<usize>,
}

impl Staging {
    /// An empty staging area with its own tree cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty staging area keeping trees in `trees` (shared with others).
    pub fn with_cache(trees: Arc<TreeCache>) -> Self {
        Staging {
            trees,
            ..Self::default()
        }
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }

    /// The staged objects, in the order they were written.
    pub fn objects(&self) -> Vec<PackObject<'_>> {
        self.staged
            .iter()
            .map(|s| PackObject {
                id: s.id,
                kind: s.kind,
                data: &s.data,
            })
            .collect()
    }

    /// Drops the staged objects (once written, or when their commits are abandoned); cached
    /// trees stay.
    pub fn clear(&mut self) {
        self.staged.clear();
        self.by_id.clear();
    }

    /// Reads the regular file at `path` in `commit`, as [`crate::objects::read_file`] does.
    ///
    /// # Errors
    /// [`ReadError::NotFound`], [`ReadError::NotRegular`], or a failure to read an object.
    pub fn read_file(&mut self, odb: &Odb<'_>, commit: Oid, path: &RepoPath) -> Result<FileAt, ReadError> {
        let trees = self.trees_along(odb, commit, path)?;
        let last = trees.last().ok_or(ReadError::NotFound)?;
        let name = path.components().last().ok_or(ReadError::NotFound)?;
        let entry = find_entry(last, name.as_bytes())?.ok_or(ReadError::NotFound)?;
        let mode = match entry.mode {
            MODE_BLOB => FileMode::Blob,
            MODE_EXECUTABLE => FileMode::BlobExecutable,
            _ => return Err(ReadError::NotRegular),
        };
        let content = self.raw(odb, entry.id, ObjectType::Blob)?;
        Ok(FileAt {
            content: content.to_vec(),
            mode,
        })
    }

    /// Writes `content` (with file `mode`) at `path`, a regular file of `parent`, and a commit
    /// on top of `parent`, all in memory; returns the commit.
    ///
    /// # Errors
    /// [`ReadError`] when there is no regular file at `path` in `parent`, or a failure to read
    /// an object or to encode the commit.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_file(
        &mut self,
        odb: &Odb<'_>,
        parent: Oid,
        path: &RepoPath,
        content: &[u8],
        mode: FileMode,
        identity: &Signature<'_>,
        message: &str,
    ) -> Result<Oid, ReadError> {
        let trees = self.trees_along(odb, parent, path)?;
        let mut id = self.put(ObjectType::Blob, content.to_vec());
        let mut entry_mode = u32::try_from(i32::from(mode)).map_err(|_| ReadError::NotRegular)?;
        for (tree, name) in trees.iter().zip(path.components()).rev() {
            let entry = find_entry(tree, name.as_bytes())?.ok_or(ReadError::NotFound)?;
            let header = format!("{entry_mode:o} {name}\0");
            let mut bytes = Vec::with_capacity(tree.len() + 8);
            bytes.extend_from_slice(&tree[..entry.span.start]);
            bytes.extend_from_slice(header.as_bytes());
            bytes.extend_from_slice(id.as_bytes());
            bytes.extend_from_slice(&tree[entry.span.end..]);
            id = self.put(ObjectType::Tree, bytes);
            entry_mode = MODE_TREE;
        }
        if message.contains('\0') {
            return Err(ReadError::Git(git2::Error::from_str(
                "a commit message cannot contain NUL",
            )));
        }
        let mut commit = Vec::with_capacity(message.len() + 256);
        commit.extend_from_slice(format!("tree {id}\nparent {parent}\n").as_bytes());
        write_signature(&mut commit, "author", identity);
        write_signature(&mut commit, "committer", identity);
        commit.push(b'\n');
        commit.extend_from_slice(message.as_bytes());
        Ok(self.put(ObjectType::Commit, commit))
    }

    /// The trees from the root of `commit` to the directory holding the last component.
    fn trees_along(&mut self, odb: &Odb<'_>, commit: Oid, path: &RepoPath) -> Result<Vec<Arc<[u8]>>, ReadError> {
        let commit_bytes = self.raw(odb, commit, ObjectType::Commit)?;
        let root = commit_tree(&commit_bytes)?;
        let dirs = &path.components()[..path.components().len() - 1];
        let mut trees = vec![self.tree(odb, root)?];
        for dir in dirs {
            let next = {
                let current = trees.last().ok_or(ReadError::NotFound)?;
                let entry = find_entry(current, dir.as_bytes())?.ok_or(ReadError::NotFound)?;
                if entry.mode != MODE_TREE {
                    return Err(ReadError::NotRegular);
                }
                entry.id
            };
            let tree = self.tree(odb, next)?;
            trees.push(tree);
        }
        Ok(trees)
    }

    fn tree(&mut self, odb: &Odb<'_>, id: Oid) -> Result<Arc<[u8]>, git2::Error> {
        if let Some(tree) = self.trees.get(id) {
            return Ok(tree);
        }
        let tree = self.raw(odb, id, ObjectType::Tree)?;
        self.trees.insert(id, &tree);
        Ok(tree)
    }

    /// The content of object `id`, staged or from `odb`, checked to be a `kind`.
    fn raw(&self, odb: &Odb<'_>, id: Oid, kind: ObjectType) -> Result<Arc<[u8]>, git2::Error> {
        let (found, data) = match self.by_id.get(&id).and_then(|&i| self.staged.get(i)) {
            Some(staged) => (staged.kind, Arc::clone(&staged.data)),
            None => match self.trees.get(id) {
                Some(tree) => (ObjectType::Tree, tree),
                None => {
                    let object = odb.read(id)?;
                    (object.kind(), Arc::from(object.data()))
                }
            },
        };
        if found != kind {
            return Err(git2::Error::from_str(&format!(
                "object {id} is a {found}, not a {kind}"
            )));
        }
        Ok(data)
    }

    /// Stages an object; returns its id.
    fn put(&mut self, kind: ObjectType, data: Vec<u8>) -> Oid {
        let id = object_id(kind, &data);
        let data: Arc<[u8]> = Arc::from(data);
        if kind == ObjectType::Tree {
            self.trees.insert(id, &data);
        }
        if !self.by_id.contains_key(&id) {
            self.by_id.insert(id, self.staged.len());
            self.staged.push(Staged { id, kind, data });
        }
        id
    }
}

/// The id git gives an object of `kind` with `data`.
pub fn object_id(kind: ObjectType, data: &[u8]) -> Oid {
    let mut hasher = Sha1::new();
    hasher.update(format!("{} {}\0", kind.str(), data.len()).as_bytes());
    hasher.update(data);
    let digest: [u8; 20] = hasher.finalize().into();
    // Twenty bytes are always a valid id.
    Oid::from_bytes(&digest).unwrap_or(Oid::ZERO_SHA1)
}

/// Appends `<header> <name> <<email>> <time> <offset>\n` as libgit2 writes it.
fn write_signature(out: &mut Vec<u8>, header: &str, signature: &Signature<'_>) {
    let when = signature.when();
    let offset = when.offset_minutes();
    let sign = if offset < 0 || when.sign() == '-' { '-' } else { '+' };
    let offset = offset.unsigned_abs();
    out.extend_from_slice(header.as_bytes());
    out.push(b' ');
    out.extend_from_slice(signature.name_bytes());
    out.extend_from_slice(b" <");
    out.extend_from_slice(signature.email_bytes());
    out.extend_from_slice(format!("> {} {sign}{:02}{:02}\n", when.seconds(), offset / 60, offset % 60).as_bytes());
}

/// The tree of a commit, from its first line.
fn commit_tree(commit: &[u8]) -> Result<Oid, git2::Error> {
    let hex = commit
        .strip_prefix(b"tree ")
        .and_then(|rest| rest.get(..40))
        .and_then(|hex| std::str::from_utf8(hex).ok())
        .ok_or_else(|| git2::Error::from_str("malformed commit: no tree"))?;
    Oid::from_str(hex)
}

/// The mode libgit2 reports for a mode found in a tree.
fn normalise_mode(mode: u32) -> u32 {
    match mode & 0o170000 {
        MODE_TREE => MODE_TREE,
        _ if mode & 0o100 != 0 => MODE_EXECUTABLE,
        MODE_COMMIT => MODE_COMMIT,
        MODE_LINK => MODE_LINK,
        _ => MODE_BLOB,
    }
}

/// The entry called `name` in the bytes of a tree.
fn find_entry(tree: &[u8], name: &[u8]) -> Result<Option<RawEntry>, git2::Error> {
    let malformed = || git2::Error::from_str("malformed tree");
    let mut at = 0;
    while at < tree.len() {
        let rest = &tree[at..];
        let space = rest.iter().position(|&b| b == b' ').ok_or_else(malformed)?;
        let nul = space + 1 + rest[space + 1..].iter().position(|&b| b == 0).ok_or_else(malformed)?;
        let end = nul + 21;
        let id = rest.get(nul + 1..end).ok_or_else(malformed)?;
        if &rest[space + 1..nul] == name {
            let mut mode = 0u32;
            for &digit in &rest[..space] {
                if !(b'0'..=b'7').contains(&digit) {
                    return Err(malformed());
                }
                mode = mode.checked_mul(8).ok_or_else(malformed)? + u32::from(digit - b'0');
            }
            return Ok(Some(RawEntry {
                mode: normalise_mode(mode),
                id: Oid::from_bytes(id)?,
                span: at..at + end,
            }));
        }
        at += end;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// A repository with `eu/prod-a/apps/*.yaml` (one executable) beside other entries.
    fn seeded() -> Result<(tempfile::TempDir, git2::Repository, Oid), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let repo = git2::Repository::init_bare(dir.path())?;
        let seed = seed_commit(&repo)?;
        Ok((dir, repo, seed))
    }

    fn seed_commit(repo: &git2::Repository) -> Result<Oid, Box<dyn std::error::Error>> {
        let mut apps = repo.treebuilder(None)?;
        for i in 0..300 {
            let blob = repo.blob(format!("image: app{i}:v1\n").as_bytes())?;
            apps.insert(format!("app{i:03}.yaml"), blob, i32::from(FileMode::Blob))?;
        }
        let run = repo.blob(b"#!/bin/sh\n")?;
        apps.insert("run.yaml", run, i32::from(FileMode::BlobExecutable))?;
        let apps = apps.write()?;
        let mut cluster = repo.treebuilder(None)?;
        cluster.insert("apps", apps, i32::from(FileMode::Tree))?;
        cluster.insert("apps.yaml", run, i32::from(FileMode::Blob))?;
        let cluster = cluster.write()?;
        let mut region = repo.treebuilder(None)?;
        region.insert("prod-a", cluster, i32::from(FileMode::Tree))?;
        let region = region.write()?;
        let mut root = repo.treebuilder(None)?;
        root.insert("eu", region, i32::from(FileMode::Tree))?;
        root.insert("README.md", run, i32::from(FileMode::Blob))?;
        let root = repo.find_tree(root.write()?)?;
        let sig = Signature::new(
            "Deployer Bot",
            "deployer@example.com",
            &git2::Time::new(1_700_000_000, -150),
        )?;
        Ok(repo.commit(None, &sig, &sig, "seed\n", &root, &[])?)
    }

    #[test]
    fn staged_commits_are_the_objects_libgit2_writes_for_the_same_edit() -> TestResult {
        let (_dir, repo, seed) = seeded()?;
        let odb = repo.odb()?;
        let sig = Signature::new(
            "Deployer Bot",
            "deployer@example.com",
            &git2::Time::new(1_700_000_100, 120),
        )?;
        let mut staging = Staging::new();
        for (file, mode) in [
            ("eu/prod-a/apps/app007.yaml", FileMode::Blob),
            ("eu/prod-a/apps/run.yaml", FileMode::BlobExecutable),
            ("eu/prod-a/apps.yaml", FileMode::Blob),
        ] {
            let path = RepoPath::parse(file)?;
            let expected =
                objects::commit_file(&repo, seed, &path, b"image: x:v2\n", mode, &sig, "Deploy x\n\nBody\n")?;
            let staged = staging.commit_file(&odb, seed, &path, b"image: x:v2\n", mode, &sig, "Deploy x\n\nBody\n")?;
            assert_eq!(staged, expected, "{file}");
            let read = staging.read_file(&odb, staged, &path)?;
            assert_eq!(read.content, b"image: x:v2\n");
            assert_eq!(read.mode, mode);
        }
        for object in staging.objects() {
            let on_disk = odb.read(object.id)?;
            assert_eq!(on_disk.data(), object.data);
            assert_eq!(on_disk.kind(), object.kind);
        }
        Ok(())
    }

    #[test]
    fn a_chain_of_staged_commits_reads_each_previous_commit_from_memory() -> TestResult {
        let (_dir, repo, seed) = seeded()?;
        let odb = repo.odb()?;
        let sig = Signature::now("Deployer Bot", "deployer@example.com")?;
        let mut staging = Staging::new();
        let path = RepoPath::parse("eu/prod-a/apps/app001.yaml")?;
        let first = staging.commit_file(&odb, seed, &path, b"v2\n", FileMode::Blob, &sig, "one\n")?;
        let second = staging.commit_file(&odb, first, &path, b"v3\n", FileMode::Blob, &sig, "two\n")?;
        assert!(!odb.exists(first) && !odb.exists(second), "nothing reaches the disk");
        assert_eq!(staging.read_file(&odb, first, &path)?.content, b"v2\n");
        assert_eq!(staging.read_file(&odb, second, &path)?.content, b"v3\n");
        assert_eq!(staging.objects().len(), 12, "a blob, four trees and a commit each");
        Ok(())
    }

    #[test]
    fn missing_files_and_non_files_are_reported_like_objects_read_file() -> TestResult {
        let (_dir, repo, seed) = seeded()?;
        let odb = repo.odb()?;
        let mut staging = Staging::new();
        for (file, expected) in [
            ("eu/prod-a/apps/nope.yaml", "NotFound"),
            ("eu/prod-b/apps/app001.yaml", "NotFound"),
            ("eu/prod-a/apps", "NotRegular"),
            ("README.md/x.yaml", "NotRegular"),
        ] {
            let path = RepoPath::parse(file)?;
            let got = match staging.read_file(&odb, seed, &path) {
                Err(ReadError::NotFound) => "NotFound",
                Err(ReadError::NotRegular) => "NotRegular",
                other => return Err(format!("{file}: {other:?}").into()),
            };
            assert_eq!(got, expected, "{file}");
            let libgit2 = match objects::read_file(&repo, seed, &path) {
                Err(ReadError::NotFound) => "NotFound",
                Err(ReadError::NotRegular) => "NotRegular",
                other => return Err(format!("{file}: {other:?}").into()),
            };
            assert_eq!(got, libgit2, "{file}");
        }
        Ok(())
    }
}
