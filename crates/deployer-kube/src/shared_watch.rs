//! Following many rollouts of one namespace over one watch.
//!
//! Every rollout waiting in a `(kind, namespace)` of a cluster subscribes to one shared
//! kube-runtime `watcher` on all objects of that kind in that namespace, started by the first
//! subscriber and stopped [`IDLE_GRACE`] after the last one has gone. The watch fans each
//! observed version out to the rollouts waiting on that name; a rollout then judges it with
//! [`rollout_verdict`](deployer_core::rollout::rollout_verdict), `observedGeneration` check
//! included. A thousand rollouts spread over a hundred clusters thus hold about a hundred watch
//! connections instead of a thousand.
//!
//! A shared watch may be behind the apply that started a rollout: events still on their way
//! describe the object as it was before. So a rollout first reads its object (a consistent
//! read, made after it subscribed) and from then on only judges versions newer than the last
//! one it judged ([`ObjectVersion::newer_than`]); nothing is missed, because every later change
//! reaches the subscribed rollout through the watch. After a relist (a `410 Gone`, or the first
//! list), rollouts whose object the list lacks read it again: it was deleted, or created after
//! the list was served.
//!
//! The kube-runtime watcher re-establishes dropped connections and relists after `410`, with
//! client-go's backoff. When the namespace-wide watch is refused with `403` (a token allowed
//! to watch only some names), the waiting rollouts fall back to the watch of their one object
//! ([`crate::watch::watch_rollout`]), and so do later rollouts of that namespace for
//! [`REFUSAL_MEMORY`]. Other errors that retrying cannot fix end the rollouts' watches.
//!
//! The unreachable budget is shared by the rollouts of a namespace: the outage starts with the
//! first request of the shared watch or of a rollout that gets no answer and ends with any
//! answer. Each rollout reads its object whenever it has heard nothing about it for a while,
//! as the single-object watch does, which also catches a watch connection that hangs without
//! an error. Timeouts are left to the caller.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use deployer_core::ports::{ClusterError, ProgressFn, WorkloadRef};
use deployer_core::rollout::{RolloutVerdict, WorkloadStatus, rollout_verdict};
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::Request;
use kube::core::params::GetParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::apply::collection_path;
use crate::error::CallError;
use crate::status::{WorkloadKind, workload_status};
use crate::transport::{Reply, Transport};
use crate::watch::{Outage, WATCH_TIMEOUT_SECS, fatal_watch_error, observe, probe_interval, unanswered_watch_error};

/// How long a shared watch outlives its last rollout, for the next one to reuse it.
pub const IDLE_GRACE: Duration = Duration::from_secs(5);

/// How long a namespace whose shared watch was refused is watched object by object.
pub const REFUSAL_MEMORY: Duration = Duration::from_secs(300);

/// The first wait before reading an object again after a read without the object.
const READ_RETRY_MIN: Duration = Duration::from_millis(250);

/// Which version of an object is the newer: its `resourceVersion` and `generation`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectVersion {
    resource_version: Option<String>,
    generation: i64,
}

impl ObjectVersion {
    /// The version of an object given as JSON.
    pub fn of(object: &Value) -> Self {
        Self {
            resource_version: object
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_owned),
            generation: object
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0),
        }
    }

    fn of_meta(meta: &kube::api::ObjectMeta) -> Self {
        Self {
            resource_version: meta.resource_version.clone(),
            generation: meta.generation.unwrap_or(0),
        }
    }

    /// Whether this version comes after `other`. Resource versions are compared as the
    /// numbers the API server makes them; when either is not a number, a version is taken as
    /// newer when its generation is not older.
    pub fn newer_than(&self, other: &Self) -> bool {
        let number = |v: &Self| v.resource_version.as_deref().and_then(|rv| rv.parse::<u64>().ok());
        match (number(self), number(other)) {
            (Some(mine), Some(theirs)) => mine > theirs,
            _ => self.generation >= other.generation,
        }
    }
}

/// What a shared watch tells one waiting rollout.
#[derive(Debug)]
enum Note {
    /// A version of the object, read into the status the verdict judges (small, so that
    /// versions waiting for a rollout that is not polled for a while cost little).
    Observed {
        version: ObjectVersion,
        status: Box<WorkloadStatus>,
    },
    /// The object was deleted.
    Deleted { version: ObjectVersion },
    /// A relist lacked the object: read it.
    Reread,
    /// The namespace-wide watch is refused: watch the object alone.
    Refused,
    /// The watch cannot go on.
    Failed(ClusterError),
}

/// The notes waiting for one rollout. A queue that allocates nothing while empty, so that a
/// waiting rollout costs little.
#[derive(Default)]
struct Mailbox {
    notes: Mutex<VecDeque<Note>>,
    arrived: Notify,
}

impl Mailbox {
    fn post(&self, note: Note) {
        self.notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(note);
        self.arrived.notify_one();
    }

    /// The next note, once there is one. Cancel-safe: a note stays queued until returned.
    async fn next(&self) -> Note {
        loop {
            if let Some(note) = self.notes.lock().unwrap_or_else(PoisonError::into_inner).pop_front() {
                return note;
            }
            self.arrived.notified().await;
        }
    }
}

/// A shared watch's identity within a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct WatchKey {
    kind: WorkloadKind,
    namespace: String,
}

/// The running shared watches of one cluster.
#[derive(Default)]
struct Registry {
    watches: HashMap<WatchKey, Shared>,
    refused: HashMap<WatchKey, Instant>,
    next_id: u64,
}

impl Registry {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The watch `instance` of `key`, if it still runs.
    fn running(&mut self, key: &WatchKey, instance: u64) -> Option<&mut Shared> {
        self.watches.get_mut(key).filter(|shared| shared.instance == instance)
    }
}

/// One running shared watch: who waits on which name, and the outage they share.
struct Shared {
    instance: u64,
    subscribers: HashMap<String, Vec<(u64, Arc<Mailbox>)>>,
    count: usize,
    outage: Outage,
    idle: Arc<Notify>,
}

impl Shared {
    fn send(&self, name: &str, note: impl Fn() -> Note) {
        for (_, mailbox) in self.subscribers.get(name).into_iter().flatten() {
            mailbox.post(note());
        }
    }
}

fn lock(registry: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    registry.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The shared rollout watches of one cluster.
pub struct NamespaceWatches {
    registry: Arc<Mutex<Registry>>,
    unreachable_timeout: Duration,
}

impl std::fmt::Debug for NamespaceWatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let registry = lock(&self.registry);
        f.debug_struct("NamespaceWatches")
            .field("running", &registry.watches.len())
            .field("refused", &registry.refused.len())
            .finish_non_exhaustive()
    }
}

impl NamespaceWatches {
    /// No watch yet; a cluster that does not answer for `unreachable_timeout` ends the
    /// rollouts' watches.
    pub fn new(unreachable_timeout: Duration) -> Self {
        Self {
            registry: Arc::default(),
            unreachable_timeout,
        }
    }

    /// How many shared watches run now.
    pub fn running(&self) -> usize {
        lock(&self.registry).watches.len()
    }

    /// Watches `workload` until its rollout succeeds or fails, calling `progress` on every
    /// observation: through the shared watch of its namespace, or alone when that is refused.
    ///
    /// Kinds without a rollout (anything but Deployment, StatefulSet and DaemonSet) succeed at
    /// once.
    ///
    /// # Errors
    /// As [`crate::watch::watch_rollout`].
    pub async fn watch_rollout(
        &self,
        transport: &Transport,
        workload: &WorkloadRef,
        progress: &ProgressFn,
    ) -> Result<RolloutVerdict, ClusterError> {
        let label = format!("{}/{}", workload.kind, workload.name);
        let Some(kind) = WorkloadKind::parse(&workload.kind) else {
            return Ok(RolloutVerdict::Succeeded {
                message: format!("{label} has no rollout to wait for"),
            });
        };
        let key = WatchKey {
            kind,
            namespace: workload.namespace.clone(),
        };
        if let Some(subscription) = self.subscribe(transport, key, &workload.name) {
            let follower = Follower {
                transport,
                kind,
                workload,
                label: &label,
                progress,
                quiet: probe_interval(self.unreachable_timeout),
            };
            match follower.follow(subscription).await {
                Followed::Ended(result) => return result,
                Followed::Refused => {
                    debug!(message = "The namespace-wide watch is refused; watching the object alone.", object = %label, namespace = %workload.namespace);
                }
            }
        }
        crate::watch::watch_rollout(transport, workload, progress, self.unreachable_timeout).await
    }

    /// Subscribes to the shared watch of `key` for `name`, starting it if needed; `None` when
    /// that watch was refused recently.
    fn subscribe(&self, transport: &Transport, key: WatchKey, name: &str) -> Option<Subscription> {
        let mut registry = lock(&self.registry);
        if let Some(since) = registry.refused.get(&key) {
            if since.elapsed() < REFUSAL_MEMORY {
                return None;
            }
            registry.refused.remove(&key);
        }
        let id = registry.next_id();
        let mailbox = Arc::new(Mailbox::default());
        let instance = match registry.watches.get_mut(&key) {
            Some(shared) => {
                shared
                    .subscribers
                    .entry(name.to_owned())
                    .or_default()
                    .push((id, Arc::clone(&mailbox)));
                shared.count += 1;
                shared.instance
            }
            None => {
                let instance = registry.next_id();
                let idle = Arc::new(Notify::new());
                let mut subscribers = HashMap::new();
                subscribers.insert(name.to_owned(), vec![(id, Arc::clone(&mailbox))]);
                registry.watches.insert(
                    key.clone(),
                    Shared {
                        instance,
                        subscribers,
                        count: 1,
                        outage: Outage::new(self.unreachable_timeout),
                        idle: Arc::clone(&idle),
                    },
                );
                let task = SharedTask {
                    registry: Arc::clone(&self.registry),
                    key: key.clone(),
                    instance,
                    idle,
                };
                tokio::spawn(task.run(transport.clone()));
                instance
            }
        };
        Some(Subscription {
            registry: Arc::clone(&self.registry),
            key,
            instance,
            id,
            name: name.to_owned(),
            mailbox,
        })
    }
}

/// One rollout's place in a shared watch; leaving it (dropping it) may start the idle grace.
struct Subscription {
    registry: Arc<Mutex<Registry>>,
    key: WatchKey,
    instance: u64,
    id: u64,
    name: String,
    mailbox: Arc<Mailbox>,
}

impl Subscription {
    fn with_shared<T>(&self, f: impl FnOnce(&mut Shared) -> T) -> Option<T> {
        lock(&self.registry).running(&self.key, self.instance).map(f)
    }

    fn answered(&self) {
        self.with_shared(|shared| shared.outage.answered());
    }

    fn failed(&self, error: String) {
        self.with_shared(|shared| shared.outage.failed(Instant::now(), error));
    }

    fn deadline(&self) -> Option<Instant> {
        self.with_shared(|shared| shared.outage.deadline()).flatten()
    }

    fn exhausted(&self, now: Instant, label: &str) -> Option<ClusterError> {
        self.with_shared(|shared| shared.outage.exhausted(now, label)).flatten()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let (name, id) = (&self.name, self.id);
        self.with_shared(|shared| {
            if let Some(list) = shared.subscribers.get_mut(name) {
                let before = list.len();
                list.retain(|(sub, _)| *sub != id);
                shared.count -= before - list.len();
                if list.is_empty() {
                    shared.subscribers.remove(name);
                }
            }
            if shared.count == 0 {
                shared.idle.notify_one();
            }
        });
    }
}

/// How following a rollout through the shared watch ended.
enum Followed {
    /// With the rollout's result.
    Ended(Result<RolloutVerdict, ClusterError>),
    /// The shared watch was refused: watch the object alone.
    Refused,
}

/// One read of the object.
#[derive(Debug, PartialEq)]
enum Read {
    /// The object, as it is now.
    Found(Value),
    /// The object does not exist.
    Missing,
    /// The server refuses the read, or cannot be talked to at all.
    Refused(ClusterError),
    /// The server answered, with an error worth trying again.
    Answered,
    /// No answer: the error.
    Unanswered(String),
}

impl Read {
    /// Classifies the result of reading the object `label`.
    fn of(result: Result<Reply, CallError>, label: &str) -> Self {
        match result {
            Ok(reply) => reply.json().map_or(Read::Answered, Read::Found),
            Err(CallError::Api { code: 404, .. }) => Read::Missing,
            Err(CallError::Api {
                code: code @ (400 | 401 | 403 | 422),
                message,
                ..
            }) => Read::Refused(ClusterError::Rejected {
                object: label.to_owned(),
                code,
                message,
            }),
            Err(CallError::Api { .. } | CallError::InvalidResponse { .. }) => Read::Answered,
            Err(CallError::Transport {
                message,
                retryable: false,
            }) => Read::Refused(ClusterError::Unreachable { message }),
            Err(err @ (CallError::Transport { .. } | CallError::Timeout { .. })) => Read::Unanswered(err.to_string()),
            Err(err @ CallError::InvalidRequest { .. }) => Read::Refused(ClusterError::Internal {
                message: format!("{label}: {err}"),
            }),
        }
    }
}

/// `err` about the object `label` (the shared watch reports errors without an object).
fn about(err: ClusterError, label: &str) -> ClusterError {
    match err {
        ClusterError::Rejected { code, message, .. } => ClusterError::Rejected {
            object: label.to_owned(),
            code,
            message,
        },
        ClusterError::Deleted { .. } => ClusterError::Deleted {
            object: label.to_owned(),
        },
        other => other,
    }
}

/// One rollout followed through a shared watch.
struct Follower<'a> {
    transport: &'a Transport,
    kind: WorkloadKind,
    workload: &'a WorkloadRef,
    label: &'a str,
    progress: &'a ProgressFn,
    quiet: Duration,
}

impl Follower<'_> {
    fn deleted(&self) -> Followed {
        Followed::Ended(Err(ClusterError::Deleted {
            object: self.label.to_owned(),
        }))
    }

    /// Judges one version; `Some` when the rollout has ended.
    fn judge(&self, object: Value) -> Option<Followed> {
        match observe(self.kind, object, self.label, self.progress) {
            Ok(None) => None,
            Ok(Some(verdict)) => Some(Followed::Ended(Ok(verdict))),
            Err(err) => Some(Followed::Ended(Err(err))),
        }
    }

    async fn read(&self) -> Read {
        let path = collection_path(&self.kind.resource(), Some(&self.workload.namespace));
        let request = match Request::new(path).get(&self.workload.name, &GetParams::default()) {
            Ok(request) => request,
            Err(err) => {
                return Read::of(
                    Err(CallError::InvalidRequest {
                        message: err.to_string(),
                    }),
                    self.label,
                );
            }
        };
        let result = self
            .transport
            .send_once(request, self.transport.request_timeout())
            .await;
        Read::of(result, self.label)
    }

    /// Reads the object first, then judges every newer version the shared watch reports, and
    /// reads it again whenever nothing was heard of it for a while.
    async fn follow(&self, subscription: Subscription) -> Followed {
        // The newest version judged; `None` until the object has been read.
        let mut judged: Option<ObjectVersion> = None;
        // When to read the object next, outside the quiet-time reads.
        let mut read_at = Some(Instant::now());
        let mut retry = READ_RETRY_MIN;
        let mut last_heard = Instant::now();
        loop {
            let next = read_at.unwrap_or(last_heard + self.quiet);
            let wake = subscription.deadline().map_or(next, |d| d.min(next));
            let note = tokio::select! {
                note = subscription.mailbox.next() => note,
                () = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    if let Some(err) = subscription.exhausted(now, self.label) {
                        warn!(message = "Cluster unreachable during the rollout watch.", object = %self.label, error = %err);
                        return Followed::Ended(Err(err));
                    }
                    if now < next {
                        continue;
                    }
                    last_heard = now;
                    match self.read().await {
                        Read::Found(object) => {
                            subscription.answered();
                            read_at = None;
                            retry = READ_RETRY_MIN;
                            judged = Some(ObjectVersion::of(&object));
                            if let Some(end) = self.judge(object) {
                                return end;
                            }
                        }
                        Read::Missing => return self.deleted(),
                        Read::Refused(err) if judged.is_none() => return Followed::Ended(Err(err)),
                        outcome => {
                            if let Read::Unanswered(error) = outcome {
                                debug!(message = "The cluster did not answer a read during the rollout watch.", object = %self.label, error = %error);
                                subscription.failed(error);
                            } else {
                                subscription.answered();
                            }
                            if read_at.is_some() {
                                read_at = Some(Instant::now() + retry);
                                retry = (retry * 2).min(self.quiet.max(READ_RETRY_MIN));
                            }
                        }
                    }
                    continue;
                }
            };
            match note {
                Note::Observed { version, status } => {
                    // Before the first read, versions may predate the apply: that read decides.
                    if judged.as_ref().is_some_and(|judged| version.newer_than(judged)) {
                        judged = Some(version);
                        last_heard = Instant::now();
                        let verdict = rollout_verdict(&status);
                        (self.progress)(&status, &verdict);
                        if verdict.is_final() {
                            return Followed::Ended(Ok(verdict));
                        }
                    }
                }
                Note::Deleted { version } => {
                    if judged.as_ref().is_some_and(|judged| version.newer_than(judged)) {
                        return self.deleted();
                    }
                }
                Note::Reread => read_at = Some(read_at.map_or_else(Instant::now, |at| at.min(Instant::now()))),
                Note::Refused => return Followed::Refused,
                Note::Failed(err) => return Followed::Ended(Err(about(err, self.label))),
            }
        }
    }
}

/// The task running one shared watch.
struct SharedTask {
    registry: Arc<Mutex<Registry>>,
    key: WatchKey,
    instance: u64,
    idle: Arc<Notify>,
}

impl SharedTask {
    async fn run(self, transport: Transport) {
        let client = match transport.client() {
            Ok(client) => client.clone(),
            Err(err) => {
                let err = err.into_cluster_error("");
                self.close(|| Note::Failed(err.clone()), false);
                return;
            }
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client, &self.key.namespace, &self.key.kind.resource());
        let config = watcher::Config::default().timeout(WATCH_TIMEOUT_SECS);
        let mut events = std::pin::pin!(watcher(api, config).default_backoff());
        // The subscribed names found by the current (re)list.
        let mut listed: HashSet<String> = HashSet::new();
        let mut idle_since: Option<Instant> = None;
        debug!(message = "Shared rollout watch started.", kind = %self.key.kind, namespace = %self.key.namespace);
        loop {
            let grace_end = idle_since.map(|since| since + IDLE_GRACE);
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => self.on_event(event, &mut listed),
                    Some(Err(err)) => {
                        if let Some(fatal) = fatal_watch_error(&err, "", transport.redactor()) {
                            let refused = matches!(fatal, ClusterError::Rejected { code: 403, .. });
                            debug!(message = "Shared rollout watch refused.", kind = %self.key.kind, namespace = %self.key.namespace, error = %err);
                            if refused {
                                self.close(|| Note::Refused, true);
                            } else {
                                self.close(|| Note::Failed(fatal.clone()), false);
                            }
                            return;
                        }
                        let unanswered = unanswered_watch_error(&err, transport.redactor());
                        self.with_shared(|shared| match unanswered {
                            Some(error) => shared.outage.failed(Instant::now(), error),
                            None => shared.outage.answered(),
                        });
                        debug!(message = "Shared rollout watch interrupted; resuming.", kind = %self.key.kind, namespace = %self.key.namespace, error = %err);
                    }
                    None => {
                        let message = format!("the watch of {} in {} ended unexpectedly", self.key.kind, self.key.namespace);
                        self.close(|| Note::Failed(ClusterError::Internal { message: message.clone() }), false);
                        return;
                    }
                },
                () = self.idle.notified() => {
                    let idle = self.with_shared(|shared| shared.count == 0).unwrap_or(true);
                    idle_since = if idle { Some(Instant::now()) } else { None };
                }
                () = tokio::time::sleep_until(grace_end.unwrap_or_else(Instant::now)), if grace_end.is_some() => {
                    let mut registry = lock(&self.registry);
                    match registry.running(&self.key, self.instance) {
                        Some(shared) if shared.count > 0 => idle_since = None,
                        Some(_) => {
                            registry.watches.remove(&self.key);
                            debug!(message = "Shared rollout watch stopped.", kind = %self.key.kind, namespace = %self.key.namespace);
                            return;
                        }
                        None => return,
                    }
                }
            }
        }
    }

    fn with_shared<T>(&self, f: impl FnOnce(&mut Shared) -> T) -> Option<T> {
        lock(&self.registry).running(&self.key, self.instance).map(f)
    }

    /// Hands one watch event to the rollouts waiting on its object.
    fn on_event(&self, event: Event<DynamicObject>, listed: &mut HashSet<String>) {
        let mut registry = lock(&self.registry);
        let Some(shared) = registry.running(&self.key, self.instance) else {
            return;
        };
        shared.outage.answered();
        match event {
            Event::Init => listed.clear(),
            Event::InitApply(object) => {
                if let Some(name) = deliver(shared, self.key.kind, object) {
                    listed.insert(name);
                }
            }
            Event::Apply(object) => {
                deliver(shared, self.key.kind, object);
            }
            Event::Delete(object) => {
                if let Some(name) = object.metadata.name.as_deref() {
                    let version = ObjectVersion::of_meta(&object.metadata);
                    shared.send(name, || Note::Deleted {
                        version: version.clone(),
                    });
                }
            }
            Event::InitDone => {
                for (name, subscribers) in &shared.subscribers {
                    if !listed.contains(name) {
                        for (_, mailbox) in subscribers {
                            mailbox.post(Note::Reread);
                        }
                    }
                }
                listed.clear();
            }
        }
    }

    /// Ends the watch: removes it and tells every waiting rollout `note`; remembers a refusal.
    fn close(&self, note: impl Fn() -> Note, refused: bool) {
        let mut registry = lock(&self.registry);
        if registry.running(&self.key, self.instance).is_none() {
            return;
        }
        if let Some(shared) = registry.watches.remove(&self.key) {
            for (_, mailbox) in shared.subscribers.values().flatten() {
                mailbox.post(note());
            }
        }
        if refused {
            registry.refused.insert(self.key.clone(), Instant::now());
        }
    }
}

/// Hands `object` to the rollouts waiting on it; its name when any does.
fn deliver(shared: &Shared, kind: WorkloadKind, object: DynamicObject) -> Option<String> {
    let name = object.metadata.name.clone()?;
    if !shared.subscribers.contains_key(&name) {
        return None;
    }
    let version = ObjectVersion::of_meta(&object.metadata);
    let status = serde_json::to_value(&object)
        .map_err(|err| format!("{kind}/{name} could not be read: {err}"))
        .and_then(|json| workload_status(kind, json).map_err(|err| format!("{kind}/{name}: {err}")));
    match status {
        Ok(status) => shared.send(&name, || Note::Observed {
            version: version.clone(),
            status: Box::new(status.clone()),
        }),
        Err(message) => shared.send(&name, || {
            Note::Failed(ClusterError::Internal {
                message: message.clone(),
            })
        }),
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn version(rv: &str, generation: i64) -> ObjectVersion {
        ObjectVersion::of(&json!({"metadata": {"resourceVersion": rv, "generation": generation}}))
    }

    #[test]
    fn resource_versions_are_compared_as_numbers() {
        assert!(version("120", 2).newer_than(&version("99", 2)));
        assert!(!version("99", 2).newer_than(&version("120", 2)));
        assert!(!version("120", 2).newer_than(&version("120", 2)));
        // A version from before an apply is older, whatever its status says.
        assert!(!version("98", 1).newer_than(&version("99", 2)));
    }

    #[test]
    fn opaque_resource_versions_fall_back_to_the_generation() {
        assert!(version("b", 3).newer_than(&version("a", 2)));
        assert!(version("b", 2).newer_than(&version("a", 2)));
        assert!(!version("b", 1).newer_than(&version("a", 2)));
        assert_eq!(ObjectVersion::of(&json!({})), ObjectVersion::default());
    }

    fn api(code: u16) -> Result<Reply, CallError> {
        Err(CallError::Api {
            code,
            reason: String::new(),
            message: format!("answer {code}"),
            retry_after: None,
        })
    }

    #[test]
    fn a_read_finds_the_object_or_learns_it_is_gone() {
        let reply = Reply {
            code: 200,
            body: bytes::Bytes::from_static(br#"{"metadata":{"name":"web"}}"#),
        };
        assert_eq!(
            Read::of(Ok(reply), "Deployment/web"),
            Read::Found(json!({"metadata": {"name": "web"}}))
        );
        assert_eq!(Read::of(api(404), "Deployment/web"), Read::Missing);
    }

    #[test]
    fn refusals_end_a_read_and_server_errors_are_tried_again() {
        assert_eq!(
            Read::of(api(403), "Deployment/web"),
            Read::Refused(ClusterError::Rejected {
                object: "Deployment/web".to_owned(),
                code: 403,
                message: "answer 403".to_owned()
            })
        );
        assert_eq!(Read::of(api(503), "Deployment/web"), Read::Answered);
        assert_eq!(Read::of(api(429), "Deployment/web"), Read::Answered);
    }

    #[test]
    fn a_lost_connection_is_unanswered_and_a_bad_certificate_is_hopeless() {
        let lost = Read::of(
            Err(CallError::Transport {
                message: "connection refused".to_owned(),
                retryable: true,
            }),
            "Deployment/web",
        );
        assert_eq!(lost, Read::Unanswered("connection refused".to_owned()));
        let timeout = Read::of(
            Err(CallError::Timeout {
                after: Duration::from_secs(1),
            }),
            "Deployment/web",
        );
        assert!(matches!(timeout, Read::Unanswered(text) if text.contains("within 1s")));
        let tls = Read::of(
            Err(CallError::Transport {
                message: "invalid peer certificate".to_owned(),
                retryable: false,
            }),
            "Deployment/web",
        );
        assert_eq!(
            tls,
            Read::Refused(ClusterError::Unreachable {
                message: "invalid peer certificate".to_owned()
            })
        );
    }

    #[test]
    fn errors_of_the_shared_watch_name_the_waiting_object() {
        let refused = ClusterError::Rejected {
            object: String::new(),
            code: 401,
            message: "Unauthorized".to_owned(),
        };
        assert_eq!(
            about(refused, "Deployment/web"),
            ClusterError::Rejected {
                object: "Deployment/web".to_owned(),
                code: 401,
                message: "Unauthorized".to_owned()
            }
        );
        let down = ClusterError::Unreachable {
            message: "certificate".to_owned(),
        };
        assert_eq!(about(down.clone(), "Deployment/web"), down);
    }
}
