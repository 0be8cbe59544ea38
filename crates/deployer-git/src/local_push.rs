//! Pushing to a remote that is a bare repository on this machine without starting `git`: the
//! commits' new objects are written into it as one pack, then its branch is moved with a
//! compare-and-swap on the value that was checked to be an ancestor of the pushed commit. It
//! is never forced: a branch that moved in between refuses the update as stale, exactly like
//! `git push` would.
//!
//! It is used only when nothing would behave differently from `git push`: the remote is a
//! plain local path and neither the remote has a receive hook nor the clone a `pre-push`
//! hook. Everything else (ssh, https, `file://`, hooks) goes through [`crate::transport`].
//!
//! The remote stays open between pushes. When the chain's objects were already written into
//! the clone as one pack on top of the remote's current tip ([`StagedPack`]), that pack is
//! hard-linked (or copied) into the remote as it is; otherwise the objects the remote lacks
//! are found by walking the new commits (looked up without re-reading the remote's pack
//! directory on a miss) and written as a new pack ([`crate::pack`]).
//!
//! The branch is moved as git's files backend moves it (an exclusive `<ref>.lock` holding the
//! new value, checked against the expected old value under it, renamed over the ref), with
//! the lock made from a filled spare file ([`crate::spare`]) and the old ref file freed later
//! by the pool's thread, so that a push creates and frees no file on its way. Without a spare,
//! or for a branch with a reflog, libgit2 moves it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use git2::{ErrorCode, ObjectType, OdbLookupFlags, Oid, Repository, Tree};

use crate::pack::{self, PackObject, WrittenPack};
use crate::settings::{RemoteKind, RemoteUrl};
use crate::spare::SparePool;
use crate::transport::PushReply;

/// Hooks of a remote that `git push` would run.
const RECEIVE_HOOKS: &[&str] = &[
    "pre-receive",
    "update",
    "post-receive",
    "post-update",
    "reference-transaction",
    "proc-receive",
    "push-to-checkout",
];

/// A bare remote on local disk that may be pushed to in-process.
///
/// It keeps the remote open between pushes (opening a repository loads the list of its
/// packs); [`LocalRemote::still_usable`] says whether it may still be used for the next one.
pub struct LocalRemote {
    dir: PathBuf,
    repo: Repository,
    /// Device and inode of the directory when it was opened.
    identity: (u64, u64),
}

impl std::fmt::Debug for LocalRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRemote").field("dir", &self.dir).finish()
    }
}

/// The objects of a chain already written into the clone as one pack, on top of `base`.
#[derive(Debug, Clone)]
pub struct StagedPack {
    /// The commit the chain was built on: the pack holds every object the chain added to it.
    pub base: Oid,
    /// The pack.
    pub pack: WrittenPack,
    /// The clone's `objects/pack` directory holding it.
    pub dir: PathBuf,
}

/// What a push did to the remote's packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushEffect {
    /// Whether a pack was added to the remote.
    pub pack_added: bool,
}

impl LocalRemote {
    /// The remote at `url`, when it is a local path to a bare repository without receive hooks
    /// and the clone at `clone_dir` has no `pre-push` hook.
    pub fn detect(url: &RemoteUrl, clone_dir: &Path) -> Option<LocalRemote> {
        if url.kind() != RemoteKind::Local {
            return None;
        }
        let dir = PathBuf::from(url.as_str());
        let identity = dir_identity(&dir)?;
        let repo = Repository::open_bare(&dir).ok()?;
        let remote = LocalRemote { dir, repo, identity };
        remote.hookless(clone_dir).then_some(remote)
    }

    /// Whether this handle may still be used for a push to `url` from `clone_dir`: the same
    /// directory (not replaced since it was opened), still without hooks.
    pub fn still_usable(&self, url: &RemoteUrl, clone_dir: &Path) -> bool {
        url.kind() == RemoteKind::Local
            && Path::new(url.as_str()) == self.dir
            && dir_identity(&self.dir) == Some(self.identity)
            && self.hookless(clone_dir)
    }

    /// The remote's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn hookless(&self, clone_dir: &Path) -> bool {
        let hooks = self.repo.path().join("hooks");
        !(RECEIVE_HOOKS.iter().any(|h| is_executable(&hooks.join(h)))
            || is_executable(&clone_dir.join("hooks").join("pre-push")))
    }

    /// Pushes `head` (a commit of `clone`) to `refs/heads/<branch>` of the remote, as a
    /// fast-forward only.
    ///
    /// # Errors
    /// libgit2 failures reading the clone or writing the remote.
    pub fn push(&self, clone: &Repository, head: Oid, branch: &str) -> Result<PushReply, git2::Error> {
        self.push_staged(clone, head, branch, None, None)
            .map(|(reply, _)| reply)
    }

    /// [`LocalRemote::push`], where `staged` (when given) already holds every object `head`
    /// adds to its base: when the remote's branch is still at that base, the pack is linked
    /// into the remote as it is, with nothing to look up or compress. The branch's lock file
    /// is made from a file of `spares` when one is ready ([`LocalRemote::move_with_spare`]).
    ///
    /// # Errors
    /// libgit2 failures reading the clone or writing the remote.
    pub fn push_staged(
        &self,
        clone: &Repository,
        head: Oid,
        branch: &str,
        staged: Option<&StagedPack>,
        spares: Option<&SparePool>,
    ) -> Result<(PushReply, PushEffect), git2::Error> {
        let remote = &self.repo;
        let refname = format!("refs/heads/{branch}");
        let current = match remote.refname_to_id(&refname) {
            Ok(oid) => Some(oid),
            Err(e) if e.code() == ErrorCode::NotFound => None,
            Err(e) => return Err(e),
        };
        if current == Some(head) {
            return Ok((PushReply::Accepted, PushEffect::default()));
        }
        let objects_dir = remote.path().join("objects");
        let mut effect = PushEffect::default();
        match (current, staged) {
            // The chain was built on the remote's tip: the staged pack is exactly what is new.
            (Some(current), Some(staged)) if current == staged.base => {
                pack::share(&staged.pack, &staged.dir, &objects_dir)
                    .map_err(|e| git2::Error::from_str(&format!("failed to add the pack: {e}")))?;
                effect.pack_added = true;
            }
            _ => {
                if let Some(current) = current {
                    let known = clone.odb()?.exists(current);
                    if !known || !(clone.graph_descendant_of(head, current)?) {
                        return Ok((
                            PushReply::Stale {
                                detail: "[rejected] (fetch first)".to_owned(),
                            },
                            effect,
                        ));
                    }
                }
                let missing = missing_objects(clone, remote, head, current)?;
                if !missing.is_empty() {
                    write_pack(clone, &objects_dir, &missing)?;
                    effect.pack_added = true;
                }
            }
        }
        if let Some(pool) = spares
            && let Some(moved) = self.move_with_spare(&refname, head, current, pool)
        {
            return moved.map(|reply| (reply, effect));
        }
        let moved = match current {
            Some(current) => remote.reference_matching(&refname, head, true, current, "push"),
            None => remote.reference(&refname, head, false, "push"),
        };
        match moved {
            Ok(_) => Ok((PushReply::Accepted, effect)),
            Err(e) if matches!(e.code(), ErrorCode::Modified | ErrorCode::Exists | ErrorCode::Locked) => Ok((
                PushReply::Stale {
                    detail: format!("[remote rejected] (failed to update ref: {})", e.message()),
                },
                effect,
            )),
            Err(e) => Err(e),
        }
    }
}

impl LocalRemote {
    /// Moves the remote's `refname` from `current` to `head` with [`move_ref_with_spare`].
    fn move_with_spare(
        &self,
        refname: &str,
        head: Oid,
        current: Option<Oid>,
        spares: &SparePool,
    ) -> Option<Result<PushReply, git2::Error>> {
        move_ref_with_spare(&self.repo, refname, head, Expect::Value(current), spares)
    }
}

/// What a ref must hold for [`move_ref_with_spare`] to move it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// This value (`None`: the ref must not exist yet).
    Value(Option<Oid>),
    /// Any value: the caller alone moves this ref (a forced update).
    Any,
}

/// Moves `refname` of `repo` to `head` as git's files backend does (an exclusive `<ref>.lock`
/// holding the new value, the ref checked against `expect` under it, the lock renamed over the
/// ref), with the lock made by linking a filled spare file instead of creating one, and the
/// ref's old file freed later by the pool's thread: creating and freeing files is the slow
/// part of a push on some file systems (see [`crate::spare`]). A lock held by someone else or a
/// ref that does not hold the expected value is [`PushReply::Stale`]. `None` when this way does
/// not apply (no spare ready, a reflog to append to, a symbolic ref, the spare on another file
/// system): libgit2 should move the ref then.
pub fn move_ref_with_spare(
    repo: &Repository,
    refname: &str,
    head: Oid,
    expect: Expect,
    spares: &SparePool,
) -> Option<Result<PushReply, git2::Error>> {
    if keeps_reflog(repo, refname) {
        return None;
    }
    let spare = spares.take()?;
    let moved = move_locked(repo.path(), refname, head, expect, &spare, spares);
    spares.release(spare);
    moved
}

fn move_locked(
    git_dir: &Path,
    refname: &str,
    head: Oid,
    expect: Expect,
    spare: &Path,
    spares: &SparePool,
) -> Option<Result<PushReply, git2::Error>> {
    let path = git_dir.join(refname);
    let lock = PathBuf::from(format!("{}.lock", path.display()));
    let value = format!("{head}\n");
    crate::spare::fill(spare, |file| std::io::Write::write_all(file, value.as_bytes())).ok()?;
    match std::fs::hard_link(spare, &lock) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Some(Ok(PushReply::Stale {
                detail: format!("[remote rejected] (failed to update ref: `{refname}` is locked)"),
            }));
        }
        Err(_) => return None,
    }
    let unlock = || {
        // Best effort: a lock left behind refuses later updates until it is removed, as with
        // git.
        let _ = std::fs::remove_file(&lock);
    };
    let found = match read_ref(git_dir, refname, &path) {
        Ok(RefValue::Direct(found)) => found,
        Ok(RefValue::Symbolic) => {
            unlock();
            return None;
        }
        Err(e) => {
            unlock();
            return Some(Err(git2::Error::from_str(&format!("failed to read `{refname}`: {e}"))));
        }
    };
    if let Expect::Value(current) = expect
        && found != current
    {
        unlock();
        return Some(Ok(PushReply::Stale {
            detail: format!("[remote rejected] (failed to update ref: `{refname}` moved)"),
        }));
    }
    // The ref's old file gets a second name among the spares, so that the rename below only
    // drops a link and the pool's thread frees the file later.
    let old_file = spares.keep_until_released(&path);
    let moved = match std::fs::rename(&lock, &path) {
        Ok(()) => Some(Ok(PushReply::Accepted)),
        Err(e) => {
            unlock();
            Some(Err(git2::Error::from_str(&format!(
                "failed to update `{refname}`: {e}"
            ))))
        }
    };
    if let Some(old_file) = old_file {
        spares.release(old_file);
    }
    moved
}

/// Whether git would append to a reflog of `repo` when `refname` moves.
fn keeps_reflog(repo: &Repository, refname: &str) -> bool {
    if repo.path().join("logs").join(refname).exists() {
        return true;
    }
    match repo.config().and_then(|c| c.get_string("core.logAllRefUpdates")) {
        Ok(value) => !matches!(value.to_ascii_lowercase().as_str(), "false" | "no" | "off" | "0" | ""),
        // Unset: bare repositories keep no reflogs.
        Err(_) => false,
    }
}

/// What a ref holds.
#[derive(Debug, PartialEq, Eq)]
enum RefValue {
    /// A commit, or nothing when the ref does not exist.
    Direct(Option<Oid>),
    /// Another ref's name.
    Symbolic,
}

/// The value of `refname` in the repository at `git_dir`: its loose file at `path`, or its
/// line of `packed-refs`.
fn read_ref(git_dir: &Path, refname: &str, path: &Path) -> std::io::Result<RefValue> {
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    match std::fs::read_to_string(path) {
        Ok(text) if text.starts_with("ref:") => Ok(RefValue::Symbolic),
        Ok(text) => Oid::from_str(text.trim_end())
            .map(|id| RefValue::Direct(Some(id)))
            .map_err(|_| invalid("not a commit id")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let packed = match std::fs::read_to_string(git_dir.join("packed-refs")) {
                Ok(packed) => packed,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RefValue::Direct(None)),
                Err(e) => return Err(e),
            };
            for line in packed.lines() {
                if let Some((id, name)) = line.split_once(' ')
                    && name == refname
                    && !line.starts_with(['#', '^'])
                {
                    return Oid::from_str(id)
                        .map(|id| RefValue::Direct(Some(id)))
                        .map_err(|_| invalid("a packed ref that is not a commit id"));
                }
            }
            Ok(RefValue::Direct(None))
        }
        Err(e) => Err(e),
    }
}

fn dir_identity(dir: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(dir)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether the remote has `id`, without re-reading its pack directory on a miss: a false
/// "missing" (an object in a pack written since the remote was opened) only sends the object
/// again.
fn remote_has(remote_odb: &git2::Odb<'_>, id: Oid) -> bool {
    remote_odb.exists_ext(id, OdbLookupFlags::NO_REFRESH)
}

/// The commits from `head` back to `base` (excluded) and the trees and blobs they add, that
/// the remote does not have.
fn missing_objects(
    clone: &Repository,
    remote: &Repository,
    head: Oid,
    base: Option<Oid>,
) -> Result<Vec<Oid>, git2::Error> {
    let remote_odb = remote.odb()?;
    let mut walk = clone.revwalk()?;
    walk.push(head)?;
    if let Some(base) = base {
        walk.hide(base)?;
    }
    let mut out = Vec::new();
    for oid in walk {
        let commit = clone.find_commit(oid?)?;
        if remote_has(&remote_odb, commit.id()) {
            continue;
        }
        out.push(commit.id());
        let parent_tree = match commit.parent(0) {
            Ok(parent) => Some(parent.tree()?),
            Err(e) if e.code() == ErrorCode::NotFound => None,
            Err(e) => return Err(e),
        };
        new_in_tree(clone, &remote_odb, &commit.tree()?, parent_tree.as_ref(), &mut out)?;
    }
    Ok(out)
}

/// The objects of `tree` that differ from `old` (its version in the parent commit) and that
/// the remote does not have, descending only into subtrees that changed.
fn new_in_tree(
    clone: &Repository,
    remote_odb: &git2::Odb<'_>,
    tree: &Tree<'_>,
    old: Option<&Tree<'_>>,
    out: &mut Vec<Oid>,
) -> Result<(), git2::Error> {
    if old.is_some_and(|o| o.id() == tree.id()) || remote_has(remote_odb, tree.id()) {
        return Ok(());
    }
    out.push(tree.id());
    for entry in tree.iter() {
        let before = old.and_then(|o| o.get_name_bytes(entry.name_bytes()));
        if before.as_ref().is_some_and(|b| b.id() == entry.id()) {
            continue;
        }
        match entry.kind() {
            Some(ObjectType::Tree) => {
                let sub = clone.find_tree(entry.id())?;
                let old_sub = match before {
                    Some(b) if b.kind() == Some(ObjectType::Tree) => Some(clone.find_tree(b.id())?),
                    _ => None,
                };
                new_in_tree(clone, remote_odb, &sub, old_sub.as_ref(), out)?;
            }
            Some(ObjectType::Blob) if !remote_has(remote_odb, entry.id()) => out.push(entry.id()),
            // Gitlinks point outside the repository; blobs the remote has need nothing.
            _ => {}
        }
    }
    Ok(())
}

/// Writes `objects` of `clone` into the object directory `objects_dir` as one pack.
fn write_pack(clone: &Repository, objects_dir: &Path, objects: &[Oid]) -> Result<(), git2::Error> {
    let odb = clone.odb()?;
    let read: Vec<git2::OdbObject<'_>> = objects.iter().map(|oid| odb.read(*oid)).collect::<Result<_, _>>()?;
    let entries: Vec<PackObject<'_>> = read
        .iter()
        .map(|o| PackObject {
            id: o.id(),
            kind: o.kind(),
            data: o.data(),
        })
        .collect();
    pack::write(objects_dir, &entries).map_err(|e| git2::Error::from_str(&e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::{self, FileAt};
    use crate::paths::RepoPath;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn commit(
        repo: &Repository,
        parent: Option<Oid>,
        path: &str,
        content: &[u8],
    ) -> Result<Oid, Box<dyn std::error::Error>> {
        let sig = git2::Signature::now("t", "t@example.com")?;
        let path = RepoPath::parse(path)?;
        match parent {
            Some(parent) => Ok(objects::commit_file(
                repo,
                parent,
                &path,
                content,
                git2::FileMode::Blob,
                &sig,
                "edit\n",
            )?),
            None => {
                let blob = repo.blob(content)?;
                let mut dir = repo.treebuilder(None)?;
                let name = path.components().last().ok_or("no name")?;
                dir.insert(name, blob, i32::from(git2::FileMode::Blob))?;
                let mut id = dir.write()?;
                for component in path.components().iter().rev().skip(1) {
                    let mut up = repo.treebuilder(None)?;
                    up.insert(component, id, i32::from(git2::FileMode::Tree))?;
                    id = up.write()?;
                }
                let tree = repo.find_tree(id)?;
                Ok(repo.commit(None, &sig, &sig, "seed\n", &tree, &[])?)
            }
        }
    }

    /// A bare remote and a bare clone under `dir`, and the remote as pushed to in-process.
    /// A bare remote with `main` pushed (one commit of `eu/a/apps/web.yaml` at `v1`), a bare
    /// clone holding that commit, and the in-process pusher between them.
    fn seeded(dir: &Path) -> Result<(Repository, Repository, LocalRemote, Oid), Box<dyn std::error::Error>> {
        let remote_dir = dir.join("remote.git");
        let remote = Repository::init_bare(&remote_dir)?;
        let clone = Repository::init_bare(dir.join("clone"))?;
        let url: RemoteUrl = remote_dir.to_string_lossy().parse()?;
        let local = LocalRemote::detect(&url, clone.path()).ok_or("a plain local remote is pushed in-process")?;
        let seed = commit(&clone, None, "eu/a/apps/web.yaml", b"image: web:v1\n")?;
        assert_eq!(local.push(&clone, seed, "main")?, PushReply::Accepted);
        Ok((remote, clone, local, seed))
    }

    #[test]
    fn a_push_moves_the_branch_forward_with_its_objects_and_refuses_a_moved_branch() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (remote, clone, local, seed) = seeded(dir.path())?;

        let ours = commit(&clone, Some(seed), "eu/a/apps/web.yaml", b"image: web:v2\n")?;
        let next = commit(&clone, Some(ours), "eu/a/apps/web.yaml", b"image: web:v3\n")?;
        assert_eq!(local.push(&clone, next, "main")?, PushReply::Accepted);
        assert_eq!(remote.refname_to_id("refs/heads/main")?, next);
        let FileAt { content, .. } = objects::read_file(&remote, ours, &RepoPath::parse("eu/a/apps/web.yaml")?)?;
        assert_eq!(content, b"image: web:v2\n");

        // A commit that does not descend from the remote's tip is refused, never forced.
        let sibling = commit(&clone, Some(seed), "eu/a/apps/web.yaml", b"image: web:v9\n")?;
        assert!(matches!(local.push(&clone, sibling, "main")?, PushReply::Stale { .. }));
        assert_eq!(remote.refname_to_id("refs/heads/main")?, next);
        Ok(())
    }

    /// An empty bare remote and clone under `dir`, and the remote's URL.
    fn empty_remote_and_clone(dir: &Path) -> Result<(PathBuf, PathBuf, RemoteUrl), Box<dyn std::error::Error>> {
        let remote_dir = dir.join("remote.git");
        Repository::init_bare(&remote_dir)?;
        let clone_dir = dir.join("clone");
        Repository::init_bare(&clone_dir)?;
        let url: RemoteUrl = remote_dir.to_string_lossy().parse()?;
        Ok((remote_dir, clone_dir, url))
    }

    #[test]
    fn a_remote_replaced_on_disk_or_given_a_hook_is_not_reused() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (remote_dir, clone_dir, url) = empty_remote_and_clone(dir.path())?;
        let local = LocalRemote::detect(&url, &clone_dir).ok_or("a plain local remote")?;
        assert!(local.still_usable(&url, &clone_dir));
        let other: RemoteUrl = dir.path().join("other.git").to_string_lossy().parse()?;
        assert!(!local.still_usable(&other, &clone_dir), "another remote");

        std::fs::rename(&remote_dir, dir.path().join("old.git"))?;
        Repository::init_bare(&remote_dir)?;
        assert!(
            !local.still_usable(&url, &clone_dir),
            "a new repository at the same path"
        );

        let fresh = LocalRemote::detect(&url, &clone_dir).ok_or("a plain local remote")?;
        let hook = remote_dir.join("hooks").join("update");
        std::fs::create_dir_all(remote_dir.join("hooks"))?;
        std::fs::write(&hook, "#!/bin/sh\nexit 0\n")?;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))?;
        assert!(!fresh.still_usable(&url, &clone_dir), "an update hook");
        Ok(())
    }

    #[test]
    fn a_staged_pack_on_the_remote_tip_is_linked_in_as_it_is() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (remote, clone, local, seed) = seeded(dir.path())?;

        let mut staging = crate::staging::Staging::new();
        let sig = git2::Signature::now("t", "t@example.com")?;
        let path = RepoPath::parse("eu/a/apps/web.yaml")?;
        let odb = clone.odb()?;
        let head = staging.commit_file(
            &odb,
            seed,
            &path,
            b"image: web:v2\n",
            git2::FileMode::Blob,
            &sig,
            "v2\n",
        )?;
        let objects_dir = clone.path().join("objects");
        let written = pack::write(&objects_dir, &staging.objects())?;
        let staged = StagedPack {
            base: seed,
            pack: written.clone(),
            dir: objects_dir.join("pack"),
        };
        let (reply, effect) = local.push_staged(&clone, head, "main", Some(&staged), None)?;
        assert_eq!(reply, PushReply::Accepted);
        assert!(effect.pack_added);
        assert!(written.index_path(&remote.path().join("objects").join("pack")).exists());
        assert_eq!(remote.refname_to_id("refs/heads/main")?, head);
        let FileAt { content, .. } = objects::read_file(&remote, head, &path)?;
        assert_eq!(content, b"image: web:v2\n");
        Ok(())
    }

    #[test]
    fn hooks_and_network_remotes_are_left_to_git() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (remote_dir, clone_dir, url) = empty_remote_and_clone(dir.path())?;
        assert!(LocalRemote::detect(&url, &clone_dir).is_some());

        let executable = |path: &Path| -> std::io::Result<()> {
            std::fs::write(path, "#!/bin/sh\nexit 0\n")?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        };
        executable(&clone_dir.join("hooks").join("pre-push"))?;
        assert!(LocalRemote::detect(&url, &clone_dir).is_none(), "pre-push of the clone");
        std::fs::remove_file(clone_dir.join("hooks").join("pre-push"))?;
        executable(&remote_dir.join("hooks").join("pre-receive"))?;
        assert!(
            LocalRemote::detect(&url, &clone_dir).is_none(),
            "pre-receive of the remote"
        );

        let ssh: RemoteUrl = "ssh://git@example.com/config.git".parse()?;
        assert!(LocalRemote::detect(&ssh, &clone_dir).is_none());
        let file: RemoteUrl = format!("file://{}", remote_dir.display()).parse()?;
        assert!(LocalRemote::detect(&file, &clone_dir).is_none());
        Ok(())
    }

    #[test]
    fn the_branch_lock_made_from_a_spare_moves_the_branch_and_leaves_no_lock() -> TestResult {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir()?;
        let (remote, clone, local, seed) = seeded(dir.path())?;
        let pool = crate::spare::filled(&dir.path().join("spares"), 2)?;
        let spares: Vec<u64> = std::fs::read_dir(dir.path().join("spares"))?
            .map(|e| Ok(e?.metadata()?.ino()))
            .collect::<Result<_, std::io::Error>>()?;
        let next = commit(&clone, Some(seed), "eu/a/apps/web.yaml", b"image: web:v2\n")?;
        let (reply, _) = local.push_staged(&clone, next, "main", None, Some(&pool))?;
        assert_eq!(reply, PushReply::Accepted);
        let ref_file = remote.path().join("refs/heads/main");
        assert_eq!(std::fs::read_to_string(&ref_file)?, format!("{next}\n"));
        assert!(
            spares.contains(&std::fs::metadata(&ref_file)?.ino()),
            "the ref is a former spare"
        );
        assert!(!remote.path().join("refs/heads/main.lock").exists());
        assert_eq!(remote.refname_to_id("refs/heads/main")?, next);
        // git itself agrees.
        let out = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(remote.path())
            .args(["rev-parse", "main"])
            .output()?;
        assert_eq!(String::from_utf8(out.stdout)?.trim(), next.to_string());
        Ok(())
    }

    #[test]
    fn a_branch_locked_or_moved_by_another_writer_is_refused_as_stale_and_never_forced() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (remote, clone, local, seed) = seeded(dir.path())?;
        let pool = crate::spare::filled(&dir.path().join("spares"), 3)?;
        let ours = commit(&clone, Some(seed), "eu/a/apps/web.yaml", b"image: web:v2\n")?;

        // Another writer holds the lock: refused, and its lock is left alone.
        let lock = remote.path().join("refs/heads/main.lock");
        std::fs::write(&lock, b"someone else\n")?;
        let (reply, _) = local.push_staged(&clone, ours, "main", None, Some(&pool))?;
        assert!(matches!(reply, PushReply::Stale { .. }), "{reply:?}");
        assert_eq!(std::fs::read(&lock)?, b"someone else\n");
        std::fs::remove_file(&lock)?;

        // The branch moved between the check and the lock: refused, and the lock removed.
        let theirs = commit(&clone, Some(seed), "eu/a/apps/web.yaml", b"image: web:v9\n")?;
        let moved = local.move_with_spare("refs/heads/main", ours, Some(theirs), &pool);
        assert!(matches!(moved, Some(Ok(PushReply::Stale { .. }))), "{moved:?}");
        assert!(!lock.exists());
        assert_eq!(remote.refname_to_id("refs/heads/main")?, seed);
        Ok(())
    }

    #[test]
    fn a_forced_move_takes_any_old_value_but_not_a_held_lock() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (remote, clone, _local, seed) = seeded(dir.path())?;
        // More spares than the moves below take, so that none waits for the pool's thread.
        let pool = crate::spare::filled(&dir.path().join("spares"), 8)?;
        let other = commit(&clone, Some(seed), "eu/a/apps/web.yaml", b"image: web:v9\n")?;
        let refname = "refs/remotes/origin/main";
        // Where the ref's directory does not exist yet, libgit2 makes it.
        assert!(move_ref_with_spare(&clone, refname, seed, Expect::Any, &pool).is_none());
        clone.reference(refname, seed, true, "fetch")?;
        // Whatever the ref holds, it moves.
        for target in [other, seed, other] {
            let moved = move_ref_with_spare(&clone, refname, target, Expect::Any, &pool);
            assert!(matches!(moved, Some(Ok(PushReply::Accepted))), "{moved:?}");
            assert_eq!(clone.refname_to_id(refname)?, target);
        }
        let lock = clone.path().join("refs/remotes/origin/main.lock");
        std::fs::write(&lock, b"someone else\n")?;
        let moved = move_ref_with_spare(&clone, refname, seed, Expect::Any, &pool);
        assert!(matches!(moved, Some(Ok(PushReply::Stale { .. }))), "{moved:?}");
        assert_eq!(clone.refname_to_id(refname)?, other);
        assert_eq!(remote.refname_to_id("refs/heads/main")?, seed);
        Ok(())
    }

    #[test]
    fn a_packed_branch_is_checked_from_packed_refs_and_a_logged_one_is_left_to_libgit2() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (remote, clone, local, seed) = seeded(dir.path())?;
        let pool = crate::spare::filled(&dir.path().join("spares"), 3)?;
        let git = |args: &[&str]| -> Result<String, Box<dyn std::error::Error>> {
            let out = std::process::Command::new("git")
                .arg("--git-dir")
                .arg(remote.path())
                .args(args)
                .output()?;
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            Ok(String::from_utf8(out.stdout)?)
        };
        git(&["pack-refs", "--all"])?;
        assert!(!remote.path().join("refs/heads/main").exists());
        let next = commit(&clone, Some(seed), "eu/a/apps/web.yaml", b"image: web:v2\n")?;
        let (reply, _) = local.push_staged(&clone, next, "main", None, Some(&pool))?;
        assert_eq!(reply, PushReply::Accepted);
        assert_eq!(git(&["rev-parse", "main"])?.trim(), next.to_string());

        // A branch with a reflog is moved by libgit2, as before spares existed.
        let log = remote.path().join("logs/refs/heads/main");
        std::fs::create_dir_all(log.parent().ok_or("no parent")?)?;
        std::fs::write(&log, b"")?;
        let last = commit(&clone, Some(next), "eu/a/apps/web.yaml", b"image: web:v3\n")?;
        assert!(
            local
                .move_with_spare("refs/heads/main", last, Some(next), &pool)
                .is_none()
        );
        let (reply, _) = local.push_staged(&clone, last, "main", None, Some(&pool))?;
        assert_eq!(reply, PushReply::Accepted);
        assert_eq!(git(&["rev-parse", "main"])?.trim(), last.to_string());
        Ok(())
    }
}
