//! Local object work with libgit2: reading files at a commit, writing an edit as a new commit
//! without a work tree, listing manifests and searching history.
//!
//! An edit writes one blob, one tree per directory on the path (the root included) and one
//! commit: the cost depends on the depth of the path and the size of those directories only,
//! never on the size of the repository.

use git2::{FileMode, ObjectType, Oid, Repository, Signature, Tree};

use crate::paths::{RepoPath, is_manifest_name};
use crate::trailers::has_trailer;

/// The most commits [`find_commit_with_trailer`] looks at.
pub const HISTORY_LIMIT: usize = 10_000;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Nothing at that path.
    #[error("no file at that path")]
    NotFound,
    /// Something that is not a regular file is on the path (symlink, submodule, directory).
    #[error("not a regular file")]
    NotRegular,
    /// libgit2 failed.
    #[error("failed to read the repository")]
    Git(#[from] git2::Error),
}

/// A regular file at a commit.
#[derive(Debug, Clone)]
pub struct FileAt {
    /// Its bytes.
    pub content: Vec<u8>,
    /// `Blob` or `BlobExecutable`, kept by edits.
    pub mode: FileMode,
}

/// The commit the tracking ref points at, if the ref exists.
///
/// # Errors
/// libgit2 errors other than "not found".
pub fn tip(repo: &Repository, tracking_ref: &str) -> Result<Option<Oid>, git2::Error> {
    match repo.find_reference(tracking_ref) {
        Ok(r) => Ok(Some(r.peel_to_commit()?.id())),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the regular file at `path` in `commit`.
///
/// # Errors
/// [`ReadError::NotFound`], [`ReadError::NotRegular`] (symlinks, submodules and directories
/// anywhere on the path), or a libgit2 failure.
pub fn read_file(repo: &Repository, commit: Oid, path: &RepoPath) -> Result<FileAt, ReadError> {
    let root = repo.find_commit(commit)?.tree()?;
    let trees = trees_along(repo, root, path)?;
    let last = trees.last().ok_or(ReadError::NotFound)?;
    let name = path.components().last().ok_or(ReadError::NotFound)?;
    let entry = last.get_name(name).ok_or(ReadError::NotFound)?;
    let mode = match entry.filemode() {
        m if m == i32::from(FileMode::Blob) => FileMode::Blob,
        m if m == i32::from(FileMode::BlobExecutable) => FileMode::BlobExecutable,
        _ => return Err(ReadError::NotRegular),
    };
    let blob = repo.find_blob(entry.id())?;
    Ok(FileAt {
        content: blob.content().to_vec(),
        mode,
    })
}

/// The trees from the root to the directory holding the last component.
fn trees_along<'r>(repo: &'r Repository, root: Tree<'r>, path: &RepoPath) -> Result<Vec<Tree<'r>>, ReadError> {
    let dirs = &path.components()[..path.components().len() - 1];
    let mut trees = vec![root];
    for dir in dirs {
        let next = {
            let current = trees.last().ok_or(ReadError::NotFound)?;
            let entry = current.get_name(dir).ok_or(ReadError::NotFound)?;
            if entry.filemode() != i32::from(FileMode::Tree) || entry.kind() != Some(ObjectType::Tree) {
                return Err(ReadError::NotRegular);
            }
            repo.find_tree(entry.id())?
        };
        trees.push(next);
    }
    Ok(trees)
}

/// Writes `content` (with file `mode`) at `path` on top of `parent` and commits it; returns the
/// new commit. Only the trees along `path` are written.
///
/// # Errors
/// [`ReadError`] when the path is not a regular file at `parent`, or a libgit2 failure.
pub fn commit_file(
    repo: &Repository,
    parent: Oid,
    path: &RepoPath,
    content: &[u8],
    mode: FileMode,
    identity: &Signature<'_>,
    message: &str,
) -> Result<Oid, ReadError> {
    let parent_commit = repo.find_commit(parent)?;
    let trees = trees_along(repo, parent_commit.tree()?, path)?;
    let mut id = repo.blob(content)?;
    let mut entry_mode = mode;
    for (tree, name) in trees.iter().zip(path.components()).rev() {
        let mut builder = repo.treebuilder(Some(tree))?;
        builder.insert(name, id, i32::from(entry_mode))?;
        id = builder.write()?;
        entry_mode = FileMode::Tree;
    }
    let tree = repo.find_tree(id)?;
    Ok(repo.commit(None, identity, identity, message, &tree, &[&parent_commit])?)
}

/// Every `<region>/<cluster>/apps/*.yaml|*.yml` regular file at `commit`, sorted.
///
/// # Errors
/// libgit2 failures.
pub fn list_app_files(repo: &Repository, commit: Oid) -> Result<Vec<String>, git2::Error> {
    let root = repo.find_commit(commit)?.tree()?;
    let mut files = Vec::new();
    for region in subtrees(repo, &root)? {
        for cluster in subtrees(repo, &region.1)? {
            let Some(apps) = cluster.1.get_name("apps") else {
                continue;
            };
            if apps.filemode() != i32::from(FileMode::Tree) {
                continue;
            }
            let apps = repo.find_tree(apps.id())?;
            for entry in apps.iter() {
                let regular = entry.filemode() == i32::from(FileMode::Blob)
                    || entry.filemode() == i32::from(FileMode::BlobExecutable);
                match entry.name().ok() {
                    Some(name)
                        if regular
                            && is_manifest_name(name)
                            && RepoPath::parse(&format!("{}/{}/apps/{name}", region.0, cluster.0)).is_ok() =>
                    {
                        files.push(format!("{}/{}/apps/{name}", region.0, cluster.0));
                    }
                    _ => {}
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

fn subtrees<'r>(repo: &'r Repository, tree: &Tree<'r>) -> Result<Vec<(String, Tree<'r>)>, git2::Error> {
    let mut out = Vec::new();
    for entry in tree.iter() {
        if entry.filemode() != i32::from(FileMode::Tree) {
            continue;
        }
        if let Some(name) = entry.name().ok().filter(|n| !n.starts_with('.')) {
            out.push((name.to_owned(), repo.find_tree(entry.id())?));
        }
    }
    Ok(out)
}

/// The newest commit reachable from `tip` (within [`HISTORY_LIMIT`] commits) whose trailer
/// block holds `key: value`.
///
/// # Errors
/// libgit2 failures.
pub fn find_commit_with_trailer(
    repo: &Repository,
    tip: Oid,
    key: &str,
    value: &str,
) -> Result<Option<Oid>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(git2::Sort::TIME)?;
    walk.push(tip)?;
    for oid in walk.take(HISTORY_LIMIT) {
        let oid = oid?;
        let commit = repo.find_commit(oid)?;
        let message = String::from_utf8_lossy(commit.message_bytes());
        if has_trailer(&message, key, value) {
            return Ok(Some(oid));
        }
    }
    Ok(None)
}
