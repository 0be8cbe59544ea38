//! Following one workload's rollout until it ends.
//!
//! A kube-runtime `watcher` on the single object (field selector `metadata.name`) feeds every
//! observed version to [`rollout_verdict`](deployer_core::rollout::rollout_verdict), the rule
//! of `kubectl rollout status` with its `observedGeneration` check. The watcher re-establishes
//! dropped connections and relists after a `410 Gone`, with client-go's backoff; errors that
//! retrying cannot fix (the resource is not served, access is forbidden, the certificate does
//! not verify) end the watch. There is no deadline here: the caller wraps the watch in a
//! timeout.

use deployer_core::ports::{ClusterError, ProgressFn, WorkloadRef};
use deployer_core::rollout::{RolloutVerdict, rollout_verdict};
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use tracing::debug;

use crate::error::{Redactor, describe, is_tls_failure};
use crate::status::{WorkloadKind, workload_status};
use crate::transport::Transport;

/// The server-side timeout of one watch request; the watcher then resumes from the last
/// resource version it saw. A dead connection is noticed a few seconds after this.
const WATCH_TIMEOUT_SECS: u32 = 60;

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

/// Watches `workload` until its rollout succeeds or fails, calling `progress` on every
/// observation.
///
/// Kinds without a rollout (anything but Deployment, StatefulSet and DaemonSet) succeed at
/// once.
///
/// # Errors
/// [`ClusterError::Deleted`] when the object is deleted or does not exist;
/// [`ClusterError::Rejected`] when the server refuses the watch itself;
/// [`ClusterError::Internal`] when an observed object cannot be read.
pub async fn watch_rollout(
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
    let api: Api<DynamicObject> =
        Api::namespaced_with(transport.client().clone(), &workload.namespace, &kind.resource());
    let config = watcher::Config::default()
        .fields(&format!("metadata.name={}", workload.name))
        .timeout(WATCH_TIMEOUT_SECS);
    let mut events = std::pin::pin!(watcher(api, config).default_backoff());
    // Whether the object appeared in the current (re)list; absent from a list means deleted.
    let mut listed = false;
    while let Some(event) = events.next().await {
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
            Ok(Event::InitDone) => continue,
            Ok(Event::Delete(_)) => return Err(ClusterError::Deleted { object: label }),
            Err(err) => {
                if let Some(fatal) = fatal_watch_error(&err, &label, transport.redactor()) {
                    return Err(fatal);
                }
                debug!(message = "Rollout watch interrupted; resuming.", object = %label, error = %err);
                continue;
            }
        };
        let json = serde_json::to_value(&object).map_err(|err| ClusterError::Internal {
            message: format!("{label} could not be read: {err}"),
        })?;
        let status = workload_status(kind, json).map_err(|err| ClusterError::Internal {
            message: format!("{label}: {err}"),
        })?;
        let verdict = rollout_verdict(&status);
        progress(&status, &verdict);
        if verdict.is_final() {
            return Ok(verdict);
        }
    }
    Err(ClusterError::Internal {
        message: format!("the watch of {label} ended unexpectedly"),
    })
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
}
