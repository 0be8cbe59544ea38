//! Following one workload's rollout until it ends, over a watch of that object alone.
//!
//! Rollouts are normally followed through the shared watch of their namespace
//! ([`crate::shared_watch`]); this watch of the one object is used where the namespace-wide
//! watch is refused (a token allowed to watch only some names). It also provides the rules
//! both share: which watch errors are fatal, which are outages, and the unreachable budget.
//!
//! A kube-runtime `watcher` on the single object (field selector `metadata.name`) feeds every
//! observed version to [`rollout_verdict`](deployer_core::rollout::rollout_verdict), the rule
//! of `kubectl rollout status` with its `observedGeneration` check. The watcher re-establishes
//! dropped connections and relists after a `410 Gone`, with client-go's backoff; errors that
//! retrying cannot fix (the resource is not served, access is forbidden, the certificate does
//! not verify) end the watch.
//!
//! A cluster that stops answering (connections refused or reset, requests that time out) is
//! given a bounded budget, the cluster's `unreachable_timeout`: whenever the watch has been
//! quiet for a while, the object is read once with the request timeout (which also catches a
//! watch connection that hangs without an error); every watch error without an answer and
//! every probe without one extends the outage, every answer ends it. Once the outage has
//! lasted the whole budget, the watch fails with [`ClusterError::Unreachable`] and the last
//! error. Answers that are errors (`5xx`, `429`) count as answers: the cluster is there, the
//! watcher keeps retrying. Apart from that budget there is no deadline here: the caller wraps
//! the watch in the rollout's timeout.

use std::time::Duration;

use deployer_core::ports::{ClusterError, ProgressFn, WorkloadRef};
use deployer_core::rollout::{RolloutVerdict, rollout_verdict};
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::Request;
use kube::core::params::GetParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::apply::collection_path;
use crate::error::{CallError, Redactor, describe, is_tls_failure};
use crate::status::{WorkloadKind, workload_status};
use crate::transport::Transport;

/// The server-side timeout of one watch request; the watcher then resumes from the last
/// resource version it saw.
pub(crate) const WATCH_TIMEOUT_SECS: u32 = 60;

/// The shortest and longest quiet time after which the object is read to check that the
/// cluster still answers.
const PROBE_MIN: Duration = Duration::from_millis(250);
const PROBE_MAX: Duration = Duration::from_secs(10);

/// Whether a watcher error is one that retrying will not fix; returns the port's error then.
///
/// Refusals (400, 401, 403, 404, 422) become [`ClusterError::Rejected`]; a certificate that
/// does not verify or credentials that cannot be obtained become
/// [`ClusterError::Unreachable`]. Everything else (dropped connections, 5xx, 410) is left to
/// the watcher to recover from.
pub fn fatal_watch_error(err: &watcher::Error, object: &str, redactor: &Redactor) -> Option<ClusterError> {
    let status = match err {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status.as_ref(),
        watcher::Error::WatchError(status) => status.as_ref(),
        watcher::Error::InitialListFailed(client)
        | watcher::Error::WatchStartFailed(client)
        | watcher::Error::WatchFailed(client) => {
            let hopeless = matches!(client, kube::Error::Auth(_)) || is_tls_failure(client);
            return hopeless.then(|| ClusterError::Unreachable {
                message: redactor.clean(&describe(client)),
            });
        }
        watcher::Error::NoResourceVersion => return None,
    };
    match status.code {
        400 | 401 | 403 | 404 | 422 => Some(ClusterError::Rejected {
            object: object.to_owned(),
            code: status.code,
            message: status.message.clone(),
        }),
        _ => None,
    }
}

/// The text of a watcher error in which the API server gave no answer (a refused, reset or
/// broken connection, a timeout); `None` when the server answered, if only with an error.
pub fn unanswered_watch_error(err: &watcher::Error, redactor: &Redactor) -> Option<String> {
    match err {
        watcher::Error::InitialListFailed(client)
        | watcher::Error::WatchStartFailed(client)
        | watcher::Error::WatchFailed(client) => {
            (!matches!(client, kube::Error::Api(_))).then(|| redactor.clean(&describe(client)))
        }
        watcher::Error::WatchError(_) | watcher::Error::NoResourceVersion => None,
    }
}

/// How long to let a watch stay quiet before reading the object to check on the cluster:
/// a quarter of the unreachable budget, within 250 ms and 10 s.
pub fn probe_interval(unreachable_timeout: Duration) -> Duration {
    (unreachable_timeout / 4).clamp(PROBE_MIN, PROBE_MAX)
}

/// An outage of the cluster as seen by one watch: since when nothing answered, and the last
/// error. Decisions only; the clock is passed in.
#[derive(Debug, Clone)]
pub struct Outage {
    budget: Duration,
    since: Option<Instant>,
    last_error: String,
    failures: u32,
}

impl Outage {
    /// No outage yet; one lasting `budget` ends the watch.
    pub fn new(budget: Duration) -> Self {
        Self {
            budget,
            since: None,
            last_error: String::new(),
            failures: 0,
        }
    }

    /// A request got no answer at `now`.
    pub fn failed(&mut self, now: Instant, error: String) {
        self.since.get_or_insert(now);
        self.last_error = error;
        self.failures += 1;
    }

    /// The cluster answered: any outage is over.
    pub fn answered(&mut self) {
        self.since = None;
        self.failures = 0;
    }

    /// Whether an outage is going on.
    pub fn ongoing(&self) -> bool {
        self.since.is_some()
    }

    /// When the current outage will have used up the budget.
    pub fn deadline(&self) -> Option<Instant> {
        self.since.map(|since| since + self.budget)
    }

    /// The error to end the watch with, once the outage has lasted the whole budget.
    pub fn exhausted(&self, now: Instant, object: &str) -> Option<ClusterError> {
        let deadline = self.deadline()?;
        (now >= deadline).then(|| ClusterError::Unreachable {
            message: format!(
                "the API server did not answer for {} ({} failed attempts) while the rollout of {object} was watched; last error: {}",
                humantime::format_duration(self.budget),
                self.failures,
                self.last_error
            ),
        })
    }
}

/// Watches `workload` until its rollout succeeds or fails, calling `progress` on every
/// observation. When the cluster gives no answer for `unreachable_timeout`, the watch ends.
///
/// Kinds without a rollout (anything but Deployment, StatefulSet and DaemonSet) succeed at
/// once.
///
/// # Errors
/// [`ClusterError::Deleted`] when the object is deleted or does not exist;
/// [`ClusterError::Rejected`] when the server refuses the watch itself;
/// [`ClusterError::Unreachable`] when the cluster did not answer for `unreachable_timeout`;
/// [`ClusterError::Internal`] when an observed object cannot be read.
pub async fn watch_rollout(
    transport: &Transport,
    workload: &WorkloadRef,
    progress: &ProgressFn,
    unreachable_timeout: Duration,
) -> Result<RolloutVerdict, ClusterError> {
    let label = format!("{}/{}", workload.kind, workload.name);
    let Some(kind) = WorkloadKind::parse(&workload.kind) else {
        return Ok(RolloutVerdict::Succeeded {
            message: format!("{label} has no rollout to wait for"),
        });
    };
    let client = transport
        .client()
        .map_err(|err| err.into_cluster_error(&label))?
        .clone();
    let api: Api<DynamicObject> = Api::namespaced_with(client, &workload.namespace, &kind.resource());
    let config = watcher::Config::default()
        .fields(&format!("metadata.name={}", workload.name))
        .timeout(WATCH_TIMEOUT_SECS);
    let mut events = std::pin::pin!(watcher(api, config).default_backoff());
    // Whether the object appeared in the current (re)list; absent from a list means deleted.
    let mut listed = false;
    let mut outage = Outage::new(unreachable_timeout);
    let quiet = probe_interval(unreachable_timeout);
    let mut last_heard = Instant::now();
    loop {
        let wake = outage
            .deadline()
            .map_or(last_heard + quiet, |d| d.min(last_heard + quiet));
        let event = tokio::select! {
            event = events.next() => event,
            () = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                if let Some(err) = outage.exhausted(now, &label) {
                    warn!(message = "Cluster unreachable during the rollout watch.", object = %label, error = %err);
                    return Err(err);
                }
                if now >= last_heard + quiet {
                    last_heard = now;
                    match probe(transport, kind, workload).await {
                        Probe::Observed(object) => {
                            outage.answered();
                            if let Some(verdict) = observe(kind, object, &label, progress)? {
                                return Ok(verdict);
                            }
                        }
                        Probe::Answered => outage.answered(),
                        Probe::Unanswered(error) => {
                            debug!(message = "The cluster did not answer a probe during the rollout watch.", object = %label, error = %error);
                            outage.failed(Instant::now(), error);
                        }
                    }
                }
                continue;
            }
        };
        let Some(event) = event else {
            break;
        };
        let object = match event {
            Ok(Event::Init) => {
                listed = false;
                continue;
            }
            Ok(Event::InitApply(object)) => {
                listed = true;
                object
            }
            Ok(Event::Apply(object)) => object,
            Ok(Event::InitDone) if !listed => return Err(ClusterError::Deleted { object: label }),
            Ok(Event::InitDone) => {
                outage.answered();
                last_heard = Instant::now();
                continue;
            }
            Ok(Event::Delete(_)) => return Err(ClusterError::Deleted { object: label }),
            Err(err) => {
                if let Some(fatal) = fatal_watch_error(&err, &label, transport.redactor()) {
                    return Err(fatal);
                }
                match unanswered_watch_error(&err, transport.redactor()) {
                    Some(error) => outage.failed(Instant::now(), error),
                    None => outage.answered(),
                }
                debug!(message = "Rollout watch interrupted; resuming.", object = %label, error = %err);
                continue;
            }
        };
        outage.answered();
        last_heard = Instant::now();
        let json = serde_json::to_value(&object).map_err(|err| ClusterError::Internal {
            message: format!("{label} could not be read: {err}"),
        })?;
        if let Some(verdict) = observe(kind, json, &label, progress)? {
            return Ok(verdict);
        }
    }
    Err(ClusterError::Internal {
        message: format!("the watch of {label} ended unexpectedly"),
    })
}

/// Judges one observed version of the workload; `Some` when the rollout has ended.
pub(crate) fn observe(
    kind: WorkloadKind,
    object: serde_json::Value,
    label: &str,
    progress: &ProgressFn,
) -> Result<Option<RolloutVerdict>, ClusterError> {
    let status = workload_status(kind, object).map_err(|err| ClusterError::Internal {
        message: format!("{label}: {err}"),
    })?;
    let verdict = rollout_verdict(&status);
    progress(&status, &verdict);
    Ok(verdict.is_final().then_some(verdict))
}

/// What one read of the workload during a quiet watch found.
enum Probe {
    /// The object, as it is now.
    Observed(serde_json::Value),
    /// The server answered, with an error or without the object.
    Answered,
    /// No answer: the error.
    Unanswered(String),
}

/// Reads the workload once, within the request timeout and without retries.
async fn probe(transport: &Transport, kind: WorkloadKind, workload: &WorkloadRef) -> Probe {
    let request = match Request::new(collection_path(&kind.resource(), Some(&workload.namespace)))
        .get(&workload.name, &GetParams::default())
    {
        Ok(request) => request,
        // A name the builder refuses cannot be probed; the watch itself will say more.
        Err(_) => return Probe::Answered,
    };
    match transport.send_once(request, transport.request_timeout()).await {
        Ok(reply) => reply.json().map_or(Probe::Answered, Probe::Observed),
        Err(err @ (CallError::Transport { .. } | CallError::Timeout { .. })) => Probe::Unanswered(err.to_string()),
        Err(_) => Probe::Answered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn status(code: u16, message: &str) -> Box<Status> {
        Box::new(Status {
            code,
            message: message.to_owned(),
            ..Status::default()
        })
    }

    #[test]
    fn a_gone_watch_is_not_fatal_the_watcher_relists() {
        let err = watcher::Error::WatchError(status(410, "too old resource version: 5 (120)"));
        assert_eq!(fatal_watch_error(&err, "Deployment/web", &Redactor::default()), None);
    }

    #[test]
    fn server_errors_while_listing_are_retried() {
        let err = watcher::Error::InitialListFailed(kube::Error::Api(status(503, "unavailable")));
        assert_eq!(fatal_watch_error(&err, "Deployment/web", &Redactor::default()), None);
    }

    #[test]
    fn a_forbidden_watch_ends_with_the_servers_message() {
        let err = watcher::Error::InitialListFailed(kube::Error::Api(status(403, "deployments.apps is forbidden")));
        assert_eq!(
            fatal_watch_error(&err, "Deployment/web", &Redactor::default()),
            Some(ClusterError::Rejected {
                object: "Deployment/web".to_owned(),
                code: 403,
                message: "deployments.apps is forbidden".to_owned()
            })
        );
    }

    #[test]
    fn an_error_answer_is_an_answer_and_a_lost_connection_is_not() {
        let redactor = Redactor::default();
        let answered = watcher::Error::WatchStartFailed(kube::Error::Api(status(500, "internal error")));
        assert_eq!(unanswered_watch_error(&answered, &redactor), None);
        let gone = watcher::Error::WatchError(status(410, "too old resource version"));
        assert_eq!(unanswered_watch_error(&gone, &redactor), None);
        let refused = watcher::Error::WatchStartFailed(kube::Error::Service(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ))));
        let text = unanswered_watch_error(&refused, &redactor).unwrap_or_default();
        assert!(text.contains("connection refused"), "{text}");
    }

    #[test]
    fn the_probe_interval_is_a_quarter_of_the_budget_within_bounds() {
        assert_eq!(probe_interval(Duration::from_secs(40)), Duration::from_secs(10));
        assert_eq!(probe_interval(Duration::from_secs(4)), Duration::from_secs(1));
        assert_eq!(probe_interval(Duration::from_secs(600)), PROBE_MAX);
        assert_eq!(probe_interval(Duration::from_millis(100)), PROBE_MIN);
    }

    #[test]
    fn an_outage_ends_the_watch_only_once_it_lasted_the_whole_budget() {
        let start = Instant::now();
        let mut outage = Outage::new(Duration::from_secs(30));
        assert!(!outage.ongoing());
        assert_eq!(
            outage.exhausted(start + Duration::from_secs(3600), "Deployment/web"),
            None
        );
        outage.failed(start, "connection refused".to_owned());
        outage.failed(start + Duration::from_secs(20), "connection reset by peer".to_owned());
        assert_eq!(outage.deadline(), Some(start + Duration::from_secs(30)));
        assert_eq!(
            outage.exhausted(start + Duration::from_secs(29), "Deployment/web"),
            None
        );
        let err = outage.exhausted(start + Duration::from_secs(30), "Deployment/web");
        let Some(ClusterError::Unreachable { message }) = err else {
            panic!("expected unreachable, got {err:?}");
        };
        assert!(message.contains("did not answer for 30s"), "{message}");
        assert!(message.contains("2 failed attempts"), "{message}");
        assert!(message.ends_with("last error: connection reset by peer"), "{message}");
        assert!(message.contains("Deployment/web"), "{message}");
    }

    #[test]
    fn an_answer_ends_the_outage_and_the_next_one_starts_afresh() {
        let start = Instant::now();
        let mut outage = Outage::new(Duration::from_secs(30));
        outage.failed(start, "connection refused".to_owned());
        outage.answered();
        assert!(!outage.ongoing());
        assert_eq!(
            outage.exhausted(start + Duration::from_secs(40), "Deployment/web"),
            None
        );
        outage.failed(start + Duration::from_secs(40), "timed out".to_owned());
        assert_eq!(outage.deadline(), Some(start + Duration::from_secs(70)));
        assert!(
            outage
                .exhausted(start + Duration::from_secs(69), "Deployment/web")
                .is_none()
        );
        assert!(
            outage
                .exhausted(start + Duration::from_secs(70), "Deployment/web")
                .is_some()
        );
    }
}
