//! A batch of queued edits turned into a chain of commits on a tip: one commit per edit that
//! changes something, each on top of the previous one, so one push carries them all.

use std::sync::Arc;

use deployer_core::commit::render_message;
use deployer_core::ports::{CommitOutcome, CommitSpec, FileEdit, RepoError};
use git2::{Oid, Repository, Signature};

use crate::objects::ReadError;
use crate::paths::RepoPath;
use crate::staging::Staging;

/// One queued edit.
#[derive(Clone)]
pub struct Request {
    /// The commit to make.
    pub spec: CommitSpec,
    /// The edit, re-applied on every new tip.
    pub edit: Arc<dyn FileEdit>,
}

/// What one request came to on a given base.
#[derive(Debug, Clone)]
pub enum Step {
    /// A commit was made.
    Committed {
        /// The commit.
        sha: Oid,
        /// The file before.
        before: Vec<u8>,
        /// The file after.
        after: Vec<u8>,
    },
    /// The edit changed nothing at commit `at`.
    Unchanged {
        /// The commit the file was read at (the base or an earlier commit of the chain).
        at: Oid,
        /// The file.
        content: Vec<u8>,
    },
    /// The request cannot be carried out at this base.
    Failed(RepoError),
}

/// The chain built for a batch.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The tip the chain starts from.
    pub base: Oid,
    /// One step per request, in order.
    pub steps: Vec<Step>,
}

impl Chain {
    /// The commit to push: the last one made, if any.
    pub fn head(&self) -> Option<Oid> {
        self.steps.iter().rev().find_map(|s| match s {
            Step::Committed { sha, .. } => Some(*sha),
            _ => None,
        })
    }

    /// The outcome of each request once the chain is on the remote.
    pub fn landed(&self, attempts: u32) -> Vec<Result<CommitOutcome, RepoError>> {
        self.steps
            .iter()
            .map(|step| match step {
                Step::Committed { sha, before, after } => Ok(CommitOutcome::Pushed {
                    sha: sha.to_string(),
                    before: before.clone(),
                    after: after.clone(),
                    attempts,
                }),
                Step::Unchanged { at, content } => Ok(CommitOutcome::Unchanged {
                    tip: at.to_string(),
                    content: content.clone(),
                }),
                Step::Failed(e) => Err(e.clone()),
            })
            .collect()
    }

    /// The outcome of each request when the chain could not be pushed: `error` for every
    /// request that needed the push (including edits found unchanged on top of an unpushed
    /// commit), the request's own result for the others.
    pub fn not_landed(&self, error: &RepoError) -> Vec<Result<CommitOutcome, RepoError>> {
        self.steps
            .iter()
            .map(|step| match step {
                Step::Unchanged { at, content } if *at == self.base => Ok(CommitOutcome::Unchanged {
                    tip: at.to_string(),
                    content: content.clone(),
                }),
                Step::Failed(e) => Err(e.clone()),
                _ => Err(error.clone()),
            })
            .collect()
    }
}

/// Applies every request in order on top of `base`, making one commit per change in
/// `staging` (nothing is written to `repo`: see [`Staging`]).
///
/// # Errors
/// Only failures that concern the whole batch (the base commit cannot be read); a request's own
/// failure is its [`Step::Failed`].
pub fn build_chain(
    repo: &Repository,
    staging: &mut Staging,
    base: Oid,
    requests: &[Request],
    identity: &Signature<'_>,
    branch: &str,
) -> Result<Chain, git2::Error> {
    let odb = repo.odb()?;
    if !odb.exists(base) {
        return Err(git2::Error::from_str(&format!("the base commit {base} is missing")));
    }
    let mut parent = base;
    let mut steps = Vec::with_capacity(requests.len());
    for request in requests {
        let step = apply(&odb, staging, parent, request, identity, branch);
        if let Step::Committed { sha, .. } = &step {
            parent = *sha;
        }
        steps.push(step);
    }
    Ok(Chain { base, steps })
}

fn apply(
    odb: &git2::Odb<'_>,
    staging: &mut Staging,
    parent: Oid,
    request: &Request,
    identity: &Signature<'_>,
    branch: &str,
) -> Step {
    let path_text = &request.spec.path;
    let Ok(path) = RepoPath::parse(path_text) else {
        return Step::Failed(RepoError::PathEscapes {
            path: path_text.clone(),
        });
    };
    let file = match staging.read_file(odb, parent, &path) {
        Ok(file) => file,
        Err(e) => return Step::Failed(read_error(e, path_text, branch)),
    };
    let after = match request.edit.edit(&file.content) {
        Ok(after) => after,
        Err(rejected) => return Step::Failed(RepoError::Edit(rejected)),
    };
    if after == file.content {
        return Step::Unchanged {
            at: parent,
            content: file.content,
        };
    }
    let message = render_message(&request.spec);
    match staging.commit_file(odb, parent, &path, &after, file.mode, identity, &message) {
        Ok(sha) => Step::Committed {
            sha,
            before: file.content,
            after,
        },
        Err(e) => Step::Failed(read_error(e, path_text, branch)),
    }
}

/// The port's error for a read failure of `path`.
pub fn read_error(error: ReadError, path: &str, branch: &str) -> RepoError {
    match error {
        ReadError::NotFound => RepoError::FileNotFound {
            path: path.to_owned(),
            branch: branch.to_owned(),
        },
        ReadError::NotRegular => RepoError::PathEscapes { path: path.to_owned() },
        ReadError::Git(e) => RepoError::Internal {
            message: format!("failed to read `{path}`: {}", e.message()),
        },
    }
}
