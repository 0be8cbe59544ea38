//! [`GitConfigRepo`]: the [`ConfigRepo`] port over a bare clone.
//!
//! Commits are queued to one writer task per repository. The writer takes every request
//! waiting in the queue (up to `max_commits_per_push`), builds one commit per request in a
//! chain on the tip it knows, and pushes the chain's head without force. When the remote moved,
//! it waits (exponential backoff with jitter), fetches and rebuilds the whole chain on the new
//! tip, re-applying each edit, up to `push_retries` attempts. Callers being cancelled never
//! leave a half-done push behind: the writer finishes the batch on its own.
//!
//! The writer keeps the clone (and a local remote) open between batches, builds each chain in
//! memory ([`crate::staging`]) and writes its objects into the clone as one pack, which a push
//! to a local remote on the same tip links into the remote as it is. Every added pack counts
//! towards a background consolidation of that repository ([`crate::consolidate`]); handles are
//! reopened after one, since it deletes packs they may hold open. Readers share the trees the
//! writer keeps and a few clone handles. The tip a push landed is kept in memory and written
//! into the tracking ref off the batches' way ([`PushedTip`]).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deployer_core::ports::{CommitOutcome, CommitSpec, ConfigRepo, FileEdit, RepoError, RepoFile};
use git2::{Oid, Repository, Signature};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::backoff::backoff_delay;
use crate::chain::{Chain, Request, build_chain, read_error};
use crate::consolidate::Consolidator;
use crate::local_push::{self, Expect, LocalRemote, StagedPack};
use crate::objects;
use crate::pack;
use crate::paths::RepoPath;
use crate::settings::{GitSettings, RemoteKind, SettingsError};
use crate::spare::SparePool;
use crate::staging::{Staging, TreeCache};
use crate::transport::{GitCli, PushReply, TransportError};

/// How many commit requests may wait for the writer before callers wait to enqueue.
const QUEUE_CAPACITY: usize = 256;
/// The pause before the one quick retry of a failed fetch or push.
const QUICK_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How long the writer waits idle before it writes the last pushed tip into the tracking ref.
const TIP_WRITE_IDLE: Duration = Duration::from_millis(50);
/// How long the tracking ref may stay behind the last push while the writer is busy.
const TIP_WRITE_EVERY: Duration = Duration::from_secs(1);
/// Empty files kept ready for the writer (a batch's pack takes two, the remote's branch lock
/// one when pushed in-process).
const SPARE_FILES: usize = 6;
/// Where in the clone they are kept (git ignores the directory).
const SPARE_DIR: &str = "spare-files";

/// Why the repository could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The settings are invalid or a secret could not be read.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The clone directory cannot be created or is not a bare clone of ours.
    #[error("clone directory `{}` cannot be used: {message}", path.display())]
    CloneDir {
        /// The directory.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The clone directory is a clone of another remote.
    #[error("clone directory `{}` is a clone of `{found}`, not of `{expected}`", path.display())]
    RemoteMismatch {
        /// The directory.
        path: std::path::PathBuf,
        /// The configured remote.
        expected: String,
        /// The clone's remote.
        found: String,
    },
    /// The branch could not be fetched.
    #[error("failed to fetch the configuration repository")]
    Unavailable(#[source] TransportError),
}

impl OpenError {
    /// A stable label for metrics and failure codes.
    pub fn kind(&self) -> &'static str {
        match self {
            OpenError::Settings(e) => e.kind(),
            OpenError::CloneDir { .. } => "clone_dir_unusable",
            OpenError::RemoteMismatch { .. } => "remote_mismatch",
            OpenError::Unavailable(_) => "repo_unavailable",
        }
    }
}

struct Shared {
    cli: GitCli,
    settings: GitSettings,
    /// Held while refs of the clone are updated (fetch, push), so that they never race.
    refs_lock: Arc<Mutex<()>>,
    /// Shares fetches among the callers of [`GitConfigRepo::refresh`].
    fetches: FetchLane,
    /// Every fetch run, whoever asked for it.
    fetches_run: AtomicU64,
    /// What the writer keeps between batches; only locked in blocking sections.
    writer: std::sync::Mutex<WriterState>,
    /// Consolidation of the clone's packs (each batch adds one).
    clone_packs: Arc<Consolidator>,
    /// Trees kept for the writer and the readers.
    trees: Arc<TreeCache>,
    /// Clone handles kept for readers, each with the number of clone consolidations finished
    /// when it was opened.
    readers: std::sync::Mutex<Vec<(Repository, u64)>>,
    /// Consolidation of a local remote's packs (each push in-process adds one).
    remote_packs: Option<Arc<Consolidator>>,
    /// The tip the last push landed, ahead of the tracking ref until that is written.
    pushed: std::sync::Mutex<PushedTip>,
    /// Empty files for the writer's packs and a local remote's branch lock, once the clone is
    /// prepared.
    spares: std::sync::OnceLock<SparePool>,
}

/// The tip the last push landed, kept in memory.
///
/// Moving the tracking ref creates a lock file and replaces the ref's file; done for every
/// push, it put two file-system operations on each batch's way to its callers. The writer
/// builds on this tip and readers read it; the ref on disk is written once the writer has been
/// idle for [`TIP_WRITE_IDLE`], at least every [`TIP_WRITE_EVERY`] under steady load, and when
/// the writer stops. A fetch makes the ref on disk the truth again. A ref left behind by a
/// crash costs nothing but objects fetched again: every start begins with a fetch.
#[derive(Debug, Default)]
struct PushedTip {
    /// The newest commit pushed since the last fetch.
    tip: Option<Oid>,
    /// Whether `tip` has not been written into the tracking ref yet.
    unwritten: bool,
    /// When the writer last wrote the tracking ref.
    last_write: Option<Instant>,
}

impl PushedTip {
    /// Whether the writer, busy, should write the tracking ref now.
    fn write_due(&self, now: Instant) -> bool {
        self.unwritten
            && self
                .last_write
                .is_none_or(|at| now.saturating_duration_since(at) >= TIP_WRITE_EVERY)
    }
}

/// The writer's handles and objects, kept between batches.
#[derive(Default)]
struct WriterState {
    /// The clone, with the number of clone consolidations finished when it was opened.
    clone: Option<(Repository, u64)>,
    /// A local remote pushed to in-process, with the number of its consolidations finished
    /// when it was opened.
    remote: Option<(LocalRemote, u64)>,
    /// The objects of the chain being built, and trees kept from earlier batches.
    staging: Staging,
    /// The pack holding the objects of the last chain built, with the chain's head.
    staged: Option<(Oid, StagedPack)>,
    /// Compresses the big trees of the packs written, keeping the chunks the next tree of the
    /// same directory shares.
    deflater: pack::Deflater,
}

/// The clone kept in `slot`, reopened when a consolidation may have deleted packs it holds
/// open.
fn clone_repo<'s>(slot: &'s mut Option<(Repository, u64)>, shared: &Shared) -> Result<&'s Repository, RepoError> {
    let finished = shared.clone_packs.finished();
    if slot.as_ref().is_none_or(|(_, seen)| *seen != finished) {
        *slot = None;
        *slot = Some((open_repo(shared.cli.git_dir())?, finished));
    }
    match slot {
        Some((repo, _)) => Ok(repo),
        None => Err(RepoError::Internal {
            message: "the clone could not be opened".to_owned(),
        }),
    }
}

/// Single-flight fetches: one runs at a time, and every caller that arrived before it started
/// takes its result instead of running its own.
#[derive(Default)]
struct FetchLane {
    /// Fetches started through the lane so far.
    started: AtomicU64,
    /// Held while a fetch of the lane runs; the result of the last one, `None` when it did
    /// not finish (its caller went away).
    last: Mutex<Option<Result<(), RepoError>>>,
}

struct Job {
    request: Request,
    reply: oneshot::Sender<Result<CommitOutcome, RepoError>>,
}

/// The configuration repository, kept as a bare clone; see the crate documentation.
///
/// Open one per clone directory: the writer task serialises every ref update of the clone, so
/// two instances (or processes) sharing a directory could race each other.
/// [`ConfigRepo::list_app_files`] and [`ConfigRepo::find_commit_with_trailer`] read the local
/// view (as of the last fetch or push); call [`GitConfigRepo::refresh`] first for the newest.
pub struct GitConfigRepo {
    shared: Arc<Shared>,
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for GitConfigRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitConfigRepo")
            .field("remote", &self.shared.settings.remote.as_str())
            .field("branch", &self.shared.settings.branch.as_str())
            .field("clone_dir", &self.shared.settings.clone_dir)
            .finish()
    }
}

impl GitConfigRepo {
    /// Validates `settings`, clones the remote into `clone_dir` (a bare clone) when that is
    /// missing or empty, or checks that it is a clone of the same remote, then fetches the
    /// branch. Must be called within a Tokio runtime: it starts the writer task.
    ///
    /// # Errors
    /// [`OpenError`] for invalid settings, an unusable clone directory, a clone of another
    /// remote, or when the branch cannot be fetched.
    pub async fn open(settings: GitSettings) -> Result<Self, OpenError> {
        settings.validate()?;
        let cli = GitCli::new(&settings)?;
        let clone_packs = Consolidator::new(&settings.clone_dir);
        let trees = Arc::new(TreeCache::default());
        let remote_packs = (settings.remote.kind() == RemoteKind::Local)
            .then(|| Consolidator::new(Path::new(settings.remote.as_str())));
        let shared = Arc::new(Shared {
            cli,
            settings,
            refs_lock: Arc::new(Mutex::new(())),
            fetches: FetchLane::default(),
            fetches_run: AtomicU64::new(0),
            writer: std::sync::Mutex::new(WriterState {
                staging: Staging::with_cache(Arc::clone(&trees)),
                ..WriterState::default()
            }),
            clone_packs,
            trees,
            readers: std::sync::Mutex::new(Vec::new()),
            remote_packs,
            pushed: std::sync::Mutex::new(PushedTip::default()),
            spares: std::sync::OnceLock::new(),
        });
        let prepared = Arc::clone(&shared);
        tokio::task::spawn_blocking(move || {
            prepare_clone(&prepared.settings)?;
            prepared.fetch().map_err(OpenError::Unavailable)
        })
        .await
        .map_err(|e| OpenError::CloneDir {
            path: shared.settings.clone_dir.clone(),
            message: e.to_string(),
        })??;
        let spare_dir = shared.cli.git_dir().join(SPARE_DIR);
        let _ = shared.spares.set(SparePool::start(&spare_dir, SPARE_FILES));
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run_writer(Arc::clone(&shared), queue));
        Ok(GitConfigRepo { shared, jobs })
    }

    /// The settings it was opened with.
    pub fn settings(&self) -> &GitSettings {
        &self.shared.settings
    }

    /// Fetches the branch, updating the local view.
    ///
    /// Single-flight: fetches run one at a time, and a caller waiting while one runs takes the
    /// result of the next one to start, together with every other caller that arrived before
    /// it started. So the view is always at least as new as the remote was when the call
    /// began, and a burst of callers costs at most two fetches in a row.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the remote cannot be reached.
    pub async fn refresh(&self) -> Result<(), RepoError> {
        let lane = &self.shared.fetches;
        let ticket = lane.started.load(Ordering::SeqCst);
        let mut last = lane.last.lock().await;
        if lane.started.load(Ordering::SeqCst) > ticket
            && let Some(result) = last.as_ref()
        {
            // A fetch that started after this call began has finished.
            return result.clone();
        }
        *last = None;
        lane.started.fetch_add(1, Ordering::SeqCst);
        let guard = Arc::clone(&self.shared.refs_lock).lock_owned().await;
        let shared = Arc::clone(&self.shared);
        let result = blocking(move || {
            let _guard = guard;
            shared.fetch().map_err(unavailable)
        })
        .await
        .and_then(|r| r);
        *last = Some(result.clone());
        result
    }

    /// How many fetches this instance ran so far (at opening, for [`GitConfigRepo::refresh`]
    /// and after refused pushes), quick retries not counted.
    pub fn fetches_run(&self) -> u64 {
        self.shared.fetches_run.load(Ordering::Relaxed)
    }

    async fn with_tip<T, F>(&self, work: F) -> Result<T, RepoError>
    where
        T: Send + 'static,
        F: Fn(&Shared, &Repository, Oid) -> Result<T, RepoError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        blocking(move || {
            let (reader, kept) = shared.take_reader()?;
            let result = shared.at_local_tip(&reader.0, &work);
            if result.is_err() && kept {
                // A kept handle may know packs that a consolidation deleted after it read
                // their indexes, and miss the pack that replaced them: once more with a fresh
                // handle before anything is reported.
                drop(reader);
                let fresh = (open_repo(shared.cli.git_dir())?, shared.clone_packs.finished());
                let result = shared.at_local_tip(&fresh.0, &work);
                shared.give_back_reader(fresh);
                return result;
            }
            shared.give_back_reader(reader);
            result
        })
        .await?
    }
}

#[async_trait]
impl ConfigRepo for GitConfigRepo {
    async fn read_file(&self, path: &str, refresh: bool) -> Result<Option<RepoFile>, RepoError> {
        let repo_path = RepoPath::parse(path).map_err(|_| RepoError::PathEscapes { path: path.to_owned() })?;
        if refresh {
            self.refresh().await?;
        }
        let branch = self.shared.settings.branch.to_string();
        let path = path.to_owned();
        self.with_tip(move |shared, repo, tip| {
            let odb = repo.odb().map_err(internal)?;
            match Staging::with_cache(Arc::clone(&shared.trees)).read_file(&odb, tip, &repo_path) {
                Ok(file) => Ok(Some(RepoFile {
                    path: path.clone(),
                    content: file.content,
                    commit: tip.to_string(),
                })),
                Err(objects::ReadError::NotFound) => Ok(None),
                Err(e) => Err(read_error(e, &path, &branch)),
            }
        })
        .await
    }

    async fn list_app_files(&self) -> Result<Vec<String>, RepoError> {
        self.with_tip(|_, repo, tip| objects::list_app_files(repo, tip).map_err(internal))
            .await
    }

    async fn commit_edit(&self, spec: &CommitSpec, edit: Arc<dyn FileEdit>) -> Result<CommitOutcome, RepoError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            request: Request {
                spec: spec.clone(),
                edit,
            },
            reply,
        };
        let stopped = || RepoError::Internal {
            message: "the commit writer has stopped".to_owned(),
        };
        self.jobs.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn find_commit_with_trailer(&self, key: &str, value: &str) -> Result<Option<String>, RepoError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.with_tip(move |_, repo, tip| {
            objects::find_commit_with_trailer(repo, tip, &key, &value)
                .map(|c| c.map(|oid| oid.to_string()))
                .map_err(internal)
        })
        .await
    }

    /// Asks the remote for its branch without fetching: no ref of the clone changes, so the
    /// probe neither waits for the writer nor holds it up.
    async fn probe(&self, _path: &str) -> Result<(), RepoError> {
        let shared = Arc::clone(&self.shared);
        blocking(move || shared.probe_remote()).await?
    }
}

/// The writer: takes batches of waiting requests and lands them.
async fn run_writer(shared: Arc<Shared>, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = next_job(&shared, &mut queue).await {
        let mut jobs = vec![first];
        while jobs.len() < shared.settings.max_commits_per_push {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // A caller that gave up no longer wants its commit.
        jobs.retain(|job| !job.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let requests: Arc<[Request]> = jobs.iter().map(|job| job.request.clone()).collect();
        let results = land(&shared, requests).await;
        for (job, result) in jobs.into_iter().zip(results) {
            // The caller may have gone; the commit stands either way.
            let _ = job.reply.send(result);
        }
        if shared.pushed_tip().write_due(Instant::now()) {
            write_tracking_ref(&shared).await;
        }
    }
    write_tracking_ref(&shared).await;
}

/// The next request for the writer, `None` when every sender is gone. A pushed tip not yet in
/// the tracking ref is written there when no request comes within [`TIP_WRITE_IDLE`].
async fn next_job(shared: &Arc<Shared>, queue: &mut mpsc::Receiver<Job>) -> Option<Job> {
    if shared.pushed_tip().unwritten {
        match tokio::time::timeout(TIP_WRITE_IDLE, queue.recv()).await {
            Ok(job) => return job,
            Err(_) => write_tracking_ref(shared).await,
        }
    }
    queue.recv().await
}

/// Writes the last pushed tip into the tracking ref, if it is not there yet. A failure is
/// left alone, as a ref behind the remote is: the writer builds on the tip in memory, and the
/// next fetch writes the ref.
async fn write_tracking_ref(shared: &Arc<Shared>) {
    let _guard = shared.refs_lock.lock().await;
    let shared = Arc::clone(shared);
    let _ = blocking(move || {
        let tip = {
            let pushed = shared.pushed_tip();
            pushed.tip.filter(|_| pushed.unwritten)
        };
        let Some(tip) = tip else { return };
        let _ = set_tracking_ref(&shared, tip);
        let mut pushed = shared.pushed_tip();
        pushed.unwritten = false;
        pushed.last_write = Some(Instant::now());
    })
    .await;
}

/// Commits and pushes one batch, rebuilding it on the new tip while the remote keeps moving.
async fn land(shared: &Arc<Shared>, requests: Arc<[Request]>) -> Vec<Result<CommitOutcome, RepoError>> {
    let count = requests.len();
    let _guard = shared.refs_lock.lock().await;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        // Building, pushing and moving the tracking ref run in one blocking section: a batch
        // waits for a blocking thread once, not once per step.
        let (chain, pushed) = {
            let (shared, requests) = (Arc::clone(shared), Arc::clone(&requests));
            match blocking(move || build_and_push(&shared, &requests))
                .await
                .and_then(|r| r)
            {
                Ok(built) => built,
                Err(e) => return vec![Err(e); count],
            }
        };
        let (Some(head), Some(pushed)) = (chain.head(), pushed) else {
            return chain.landed(attempts);
        };
        match pushed {
            Ok(PushReply::Accepted) => return chain.landed(attempts),
            Ok(PushReply::Stale { .. }) => {
                if attempts >= shared.settings.push_retries {
                    return chain.not_landed(&RepoError::PushContention { attempts });
                }
                tokio::time::sleep(backoff_delay(attempts, fastrand::f64())).await;
                let shared = Arc::clone(shared);
                let fetched = blocking(move || {
                    shared.fetch().map_err(unavailable)?;
                    contains(&shared, head)
                })
                .await
                .and_then(|r| r);
                match fetched {
                    // A push reported as failed may still have landed.
                    Ok(true) => return chain.landed(attempts),
                    Ok(false) => {}
                    Err(e) => return chain.not_landed(&e),
                }
            }
            Ok(PushReply::Refused { detail }) => {
                return chain.not_landed(&RepoError::Unavailable {
                    message: format!("the remote refused the push: {detail}"),
                });
            }
            Err(e) => return chain.not_landed(&unavailable(e)),
        }
    }
}

impl Shared {
    /// Fetches the branch (with one quick retry), counting it. Called with the refs lock held;
    /// after a fetch the tracking ref is the tip.
    fn fetch(&self) -> Result<(), TransportError> {
        self.fetches_run.fetch_add(1, Ordering::Relaxed);
        let fetched = fetch_with_quick_retry(&self.cli);
        if fetched.is_ok() {
            let mut pushed = self.pushed_tip();
            pushed.tip = None;
            pushed.unwritten = false;
        }
        fetched
    }

    /// The tip of the local view: the last push's since the last fetch, or the tracking ref's.
    fn local_tip(&self, repo: &Repository) -> Result<Option<Oid>, RepoError> {
        if let Some(tip) = self.pushed_tip().tip {
            return Ok(Some(tip));
        }
        objects::tip(repo, &self.cli.tracking_ref()).map_err(internal)
    }

    /// Records a push that landed `head`.
    fn landed(&self, head: Oid) {
        let mut pushed = self.pushed_tip();
        pushed.tip = Some(head);
        pushed.unwritten = true;
    }

    fn pushed_tip(&self) -> std::sync::MutexGuard<'_, PushedTip> {
        self.pushed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the remote answers and has the branch, without touching the clone: read
    /// in-process from a remote on local disk, asked with `git ls-remote` otherwise.
    fn probe_remote(&self) -> Result<(), RepoError> {
        let url = &self.settings.remote;
        if url.kind() == RemoteKind::Local {
            let branch = format!("refs/heads/{}", self.settings.branch);
            return Repository::open(url.as_str())
                .and_then(|remote| remote.refname_to_id(&branch))
                .map(|_| ())
                .map_err(|e| RepoError::Unavailable {
                    message: format!("the remote cannot be read: {}", e.message()),
                });
        }
        self.cli.ls_remote().map_err(unavailable)
    }
}

/// The most clone handles kept for readers.
const READERS_KEPT: usize = 4;

impl Shared {
    /// A clone handle for a reader: a kept one when it is still current (then `true`), a new
    /// one otherwise.
    fn take_reader(&self) -> Result<((Repository, u64), bool), RepoError> {
        let finished = self.clone_packs.finished();
        let kept = self
            .readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        match kept {
            Some((repo, seen)) if seen == finished => Ok(((repo, seen), true)),
            _ => Ok(((open_repo(self.cli.git_dir())?, finished), false)),
        }
    }

    /// Runs `work` on `repo` at the tip of the local view.
    fn at_local_tip<T>(
        &self,
        repo: &Repository,
        work: &impl Fn(&Shared, &Repository, Oid) -> Result<T, RepoError>,
    ) -> Result<T, RepoError> {
        let tip = self.local_tip(repo)?.ok_or_else(|| RepoError::Internal {
            message: format!("branch `{}` has not been fetched", self.settings.branch),
        })?;
        work(self, repo, tip)
    }

    /// Keeps a reader's handle for the next reader.
    fn give_back_reader(&self, reader: (Repository, u64)) {
        let mut kept = self.readers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() < READERS_KEPT && reader.1 == self.clone_packs.finished() {
            kept.push(reader);
        }
    }

    /// The writer's state; a panic while it was held leaves nothing half-done in it that the
    /// next batch relies on (staged objects are cleared before every build).
    fn writer(&self) -> std::sync::MutexGuard<'_, WriterState> {
        self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Builds the chain ([`build_at_tip`]) and, when it made a commit, pushes its head and, once
/// the push landed, makes it the local tip ([`PushedTip`]). The push's answer is `None` when
/// there was nothing to push.
fn build_and_push(
    shared: &Shared,
    requests: &[Request],
) -> Result<(Chain, Option<Result<PushReply, TransportError>>), RepoError> {
    let chain = build_at_tip(shared, requests)?;
    let Some(head) = chain.head() else {
        return Ok((chain, None));
    };
    let pushed = push(shared, head);
    if matches!(pushed, Ok(PushReply::Accepted)) {
        shared.landed(head);
    }
    Ok((chain, Some(pushed)))
}

/// Builds the chain on the tracking tip in memory, then writes its objects into the clone as
/// one pack.
fn build_at_tip(shared: &Shared, requests: &[Request]) -> Result<Chain, RepoError> {
    let mut guard = shared.writer();
    let state = &mut *guard;
    state.staged = None;
    state.staging.clear();
    let repo = clone_repo(&mut state.clone, shared)?;
    let tip = shared.local_tip(repo)?.ok_or_else(|| RepoError::Internal {
        message: format!("branch `{}` has not been fetched", shared.settings.branch),
    })?;
    let identity = Signature::now(&shared.settings.author_name, &shared.settings.author_email).map_err(internal)?;
    let built = build_chain(
        repo,
        &mut state.staging,
        tip,
        requests,
        &identity,
        shared.settings.branch.as_str(),
    )
    .map_err(internal);
    let chain = match built {
        Ok(chain) => chain,
        Err(e) => {
            state.staging.clear();
            return Err(e);
        }
    };
    if let Some(head) = chain.head() {
        let objects_dir = repo.path().join("objects");
        let written = pack::write_with_spares(
            &objects_dir,
            &state.staging.objects(),
            shared.spares.get(),
            &mut state.deflater,
        );
        state.staging.clear();
        let written = written.map_err(|e| RepoError::Internal {
            message: format!("failed to write the new objects: {e}"),
        })?;
        state.staged = Some((
            head,
            StagedPack {
                base: tip,
                pack: written,
                dir: objects_dir.join("pack"),
            },
        ));
        shared.clone_packs.pack_added();
    }
    Ok(chain)
}

fn contains(shared: &Shared, commit: Oid) -> Result<bool, RepoError> {
    let repo = open_repo(shared.cli.git_dir())?;
    match objects::tip(&repo, &shared.cli.tracking_ref()).map_err(internal)? {
        Some(tip) if tip == commit => Ok(true),
        Some(tip) => repo.graph_descendant_of(tip, commit).map_err(internal),
        None => Ok(false),
    }
}

/// Moves the tracking ref to `commit` (forced: the refs lock is held), through a spare file
/// when one is ready ([`local_push::move_ref_with_spare`]), with libgit2 otherwise.
fn set_tracking_ref(shared: &Shared, commit: Oid) -> Result<(), RepoError> {
    let mut state = shared.writer();
    let repo = clone_repo(&mut state.clone, shared)?;
    let refname = shared.cli.tracking_ref();
    if let Some(spares) = shared.spares.get()
        && let Some(Ok(PushReply::Accepted)) =
            local_push::move_ref_with_spare(repo, &refname, commit, Expect::Any, spares)
    {
        return Ok(());
    }
    repo.reference(&refname, commit, true, "push")
        .map(|_| ())
        .map_err(internal)
}

fn fetch_with_quick_retry(cli: &GitCli) -> Result<(), TransportError> {
    match cli.fetch() {
        Err(e) if e.quick_retry_may_help() => {
            std::thread::sleep(QUICK_RETRY_PAUSE);
            cli.fetch()
        }
        other => other,
    }
}

/// Pushes `head`: in-process to a local remote where that behaves as `git push` would (see
/// [`crate::local_push`]), with the `git` program otherwise.
fn push(shared: &Shared, head: Oid) -> Result<PushReply, TransportError> {
    if let Some(remote_packs) = &shared.remote_packs
        && let Some(reply) = push_in_process(shared, remote_packs, head)
    {
        return Ok(reply);
    }
    push_with_quick_retry(&shared.cli, head)
}

/// The in-process push to a local remote, `None` when it does not apply or failed (then `git
/// push` says what is wrong in its own words, or succeeds).
fn push_in_process(shared: &Shared, remote_packs: &Arc<Consolidator>, head: Oid) -> Option<PushReply> {
    let (url, clone_dir) = (&shared.settings.remote, &shared.settings.clone_dir);
    let mut guard = shared.writer();
    let state = &mut *guard;
    let finished = remote_packs.finished();
    let reusable = state
        .remote
        .as_ref()
        .is_some_and(|(remote, seen)| *seen == finished && remote.still_usable(url, clone_dir));
    if !reusable {
        state.remote = None;
        state.remote = LocalRemote::detect(url, clone_dir).map(|remote| (remote, finished));
    }
    let staged = state
        .staged
        .as_ref()
        .filter(|(h, _)| *h == head)
        .map(|(_, s)| s.clone());
    let clone = clone_repo(&mut state.clone, shared).ok()?;
    let (remote, _) = state.remote.as_ref()?;
    match remote.push_staged(
        clone,
        head,
        shared.settings.branch.as_str(),
        staged.as_ref(),
        shared.spares.get(),
    ) {
        Ok((reply, effect)) => {
            if effect.pack_added {
                remote_packs.pack_added();
            }
            Some(reply)
        }
        Err(_) => {
            state.remote = None;
            None
        }
    }
}

fn push_with_quick_retry(cli: &GitCli, head: Oid) -> Result<PushReply, TransportError> {
    let sha = head.to_string();
    match cli.push(&sha) {
        // Pushing the same commit again is harmless: if the first push landed, this one is
        // "up to date" or refused as stale, and the fetch that follows notices.
        Err(e) if e.quick_retry_may_help() => {
            std::thread::sleep(QUICK_RETRY_PAUSE);
            cli.push(&sha)
        }
        other => other,
    }
}

/// Creates the bare clone when `clone_dir` is missing or empty; otherwise checks it.
fn prepare_clone(settings: &GitSettings) -> Result<(), OpenError> {
    let dir = &settings.clone_dir;
    let unusable = |message: String| OpenError::CloneDir {
        path: dir.clone(),
        message,
    };
    let empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(unusable(e.to_string())),
    };
    let url = settings.remote.as_str();
    if empty {
        std::fs::create_dir_all(dir).map_err(|e| unusable(e.to_string()))?;
        let repo = Repository::init_bare(dir).map_err(|e| unusable(e.message().to_owned()))?;
        let refspec = format!("+refs/heads/{0}:refs/remotes/origin/{0}", settings.branch);
        repo.remote_with_fetch("origin", url, &refspec)
            .map_err(|e| unusable(e.message().to_owned()))?;
        return Ok(());
    }
    let repo =
        Repository::open_bare(dir).map_err(|e| unusable(format!("not a bare git repository ({})", e.message())))?;
    let remote = repo
        .find_remote("origin")
        .map_err(|e| unusable(format!("it has no `origin` remote ({})", e.message())))?;
    match remote.url().ok() {
        Some(found) if found == url => Ok(()),
        found => Err(OpenError::RemoteMismatch {
            path: dir.clone(),
            expected: crate::scrub::scrub_url_credentials(url),
            found: crate::scrub::scrub_url_credentials(found.unwrap_or("(not UTF-8)")),
        }),
    }
}

fn open_repo(dir: &Path) -> Result<Repository, RepoError> {
    Repository::open_bare(dir).map_err(internal)
}

async fn blocking<T, F>(work: F) -> Result<T, RepoError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| RepoError::Internal {
            message: format!("repository task failed: {e}"),
        })
}

fn internal(error: git2::Error) -> RepoError {
    RepoError::Internal {
        message: error.message().to_owned(),
    }
}

fn unavailable(error: TransportError) -> RepoError {
    RepoError::Unavailable {
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_tip_is_never_due_and_an_unwritten_one_is_due_a_second_after_the_last_write() {
        let now = Instant::now();
        let tip = Some(Oid::ZERO_SHA1);
        let written = PushedTip {
            tip,
            unwritten: false,
            last_write: None,
        };
        assert!(!written.write_due(now));
        let never_written = PushedTip {
            tip,
            unwritten: true,
            last_write: None,
        };
        assert!(never_written.write_due(now));
        let recent = PushedTip {
            tip,
            unwritten: true,
            last_write: Some(now),
        };
        assert!(!recent.write_due(now + TIP_WRITE_EVERY / 2));
        assert!(recent.write_due(now + TIP_WRITE_EVERY));
    }
}
