//! The configuration repository of k8s-app-deployer: [`GitConfigRepo`] implements
//! [`deployer_core::ports::ConfigRepo`] over a git remote, which is the record of truth.
//!
//! Start with [`GitConfigRepo::open`] and the [`GitSettings`] section.
//!
//! # How a deployment's commit is made
//! 1. The remote branch is fetched into `refs/remotes/origin/<branch>` of a **bare** clone.
//! 2. The file is read from that tip and the edit is applied in memory. No edit, no commit.
//! 3. A blob, the trees along the file's path and a commit are made in memory (author and
//!    committer are the configured identity; the message is
//!    [`deployer_core::commit::render_message`]); a batch's objects are then written into the
//!    clone as one pack ([`staging`], [`pack`]). Nothing is ever checked out, and the cost
//!    does not depend on the size of the repository.
//! 4. The commit is pushed as `<sha>:refs/heads/<branch>`, never forced (to a bare remote on
//!    local disk without hooks, in-process: see [`local_push`]). When the remote
//!    moved, the branch is fetched again and the same edit is re-applied on the new tip, with
//!    bounded exponential backoff and jitter, up to `push_retries` attempts
//!    ([`RepoError::PushContention`](deployer_core::ports::RepoError) after that).
//!
//! Commits are serialised by one writer task per repository. Requests that queue up while a
//! push is under way are sent together in the next push, each as its own commit in a chain.
//!
//! # Why libgit2 for objects and the `git` program for the network
//! Local object work (reading blobs, building trees, commits, walking history) uses the
//! `git2` crate (libgit2, vendored) for speed and precision. Fetch and push use the `git`
//! program instead, and `git2` is built without its network features, because the program
//! gives us for free what libgit2 would make us re-implement: OpenSSH with its
//! `known_hosts` checking, agents and configuration, the system's TLS and proxy settings,
//! and credential helpers. It is run with an argument list (never a shell), a deadline per
//! operation (the whole process group is killed when it passes), `GIT_TERMINAL_PROMPT=0`,
//! `GIT_ALLOW_PROTOCOL=file:ssh:https`, SSH options in `GIT_SSH_COMMAND`
//! (`IdentitiesOnly`, `UserKnownHostsFile`, `StrictHostKeyChecking=yes`), and an HTTPS token
//! handed over by a credential helper declared in `GIT_CONFIG_*` variables that reads it from
//! the child's environment: never in argv, in the URL or on disk. Every message taken from git
//! has secrets and URL credentials removed.

/// Backoff between push attempts.
pub mod backoff;
/// Chains of commits built for a batch of queued edits.
pub mod chain;
/// Keeping the number of packs of the clone and of a local remote small.
pub mod consolidate;
/// Pushing to a bare remote on local disk without starting `git`.
pub mod local_push;
/// Reading, writing and searching objects without a work tree.
pub mod objects;
/// Writing objects straight into a repository as one pack.
pub mod pack;
/// Repository-relative paths that cannot escape.
pub mod paths;
/// The `ConfigRepo` implementation and its writer task.
pub mod repo;
/// Removing secrets from messages.
pub mod scrub;
/// The settings section.
pub mod settings;
/// Empty files made ahead of time for the writer's packs and ref locks.
pub mod spare;
/// Commits built in memory until they are written as one pack.
pub mod staging;
/// Commit message trailers.
pub mod trailers;
/// Fetch and push through the `git` program.
pub mod transport;

pub use repo::{GitConfigRepo, OpenError};
pub use settings::{BranchName, GitAuth, GitSettings, HttpsTokenAuth, RemoteKind, RemoteUrl, SettingsError, SshAuth};
