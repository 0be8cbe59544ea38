//! Why a workload's pods are not ready: waiting and terminated containers, with restarts.
//!
//! For a Deployment only the pods of its newest ReplicaSet (the highest
//! `deployment.kubernetes.io/revision`) count: pods of the old ReplicaSet are healthy leftovers
//! of the previous release, not the reason the new one is stuck. The selection and the
//! reading are plain functions; [`pod_issues`](crate::pods::pod_issues) does the listing.

use deployer_core::model::PodIssue;
use deployer_core::ports::{ClusterError, WorkloadRef};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ListMeta, ObjectMeta};
use kube::core::Request;
use kube::core::params::{GetParams, ListParams};
use serde::Deserialize;
use serde_json::Value;

use crate::apply::collection_path;
use crate::error::CallError;
use crate::status::WorkloadKind;
use crate::transport::Transport;

/// The annotation holding a ReplicaSet's revision.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

/// At most this many issues are reported, so that a large failing workload does not produce a
/// huge record.
pub const MAX_ISSUES: usize = 50;

/// The most pages of a list that are read (500 objects each).
const MAX_PAGES: usize = 20;

/// A label selector in the query syntax of `labelSelector` (`app=web,tier in (a,b)`).
pub fn selector_query(selector: &LabelSelector) -> String {
    let mut terms: Vec<String> = Vec::new();
    for (key, value) in selector.match_labels.iter().flatten() {
        terms.push(format!("{key}={value}"));
    }
    for expr in selector.match_expressions.iter().flatten() {
        let values = expr.values.as_deref().unwrap_or_default().join(",");
        terms.push(match expr.operator.as_str() {
            "In" => format!("{} in ({values})", expr.key),
            "NotIn" => format!("{} notin ({values})", expr.key),
            "Exists" => expr.key.clone(),
            _ => format!("!{}", expr.key),
        });
    }
    terms.join(",")
}

fn controlled_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == owner_uid && r.controller.unwrap_or(false))
}

fn revision(meta: &ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The uid of the Deployment's newest ReplicaSet: of those it controls, the one with the
/// highest revision.
pub fn newest_replicaset(replicasets: &[ReplicaSet], deployment_uid: &str) -> Option<String> {
    replicasets
        .iter()
        .filter(|rs| controlled_by(&rs.metadata, deployment_uid))
        .max_by_key(|rs| revision(&rs.metadata))
        .and_then(|rs| rs.metadata.uid.clone())
}

/// The issues of the pods controlled by `owner_uid`, sorted by pod and container.
pub fn issues_of(pods: &[Pod], owner_uid: &str) -> Vec<PodIssue> {
    let mut owned: Vec<&Pod> = pods
        .iter()
        .filter(|p| controlled_by(&p.metadata, owner_uid) && p.metadata.deletion_timestamp.is_none())
        .collect();
    owned.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    owned.into_iter().flat_map(pod_issues_one).take(MAX_ISSUES).collect()
}

/// The issues of one pod: each container that is not ready says why; a pod that has no
/// containers yet says why it is pending.
pub fn pod_issues_one(pod: &Pod) -> Vec<PodIssue> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let init = status.init_container_statuses.iter().flatten().map(|c| (c, true));
    let main = status.container_statuses.iter().flatten().map(|c| (c, false));
    let mut issues: Vec<PodIssue> = init
        .chain(main)
        .filter_map(|(c, is_init)| container_issue(&name, c, is_init))
        .collect();
    if issues.is_empty() && status.container_statuses.as_ref().is_none_or(Vec::is_empty) {
        let unscheduled = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False");
        if let Some(condition) = unscheduled {
            issues.push(PodIssue {
                pod: name,
                container: String::new(),
                reason: condition.reason.clone().unwrap_or_else(|| "Unschedulable".to_owned()),
                message: condition.message.clone().unwrap_or_default(),
                restarts: 0,
            });
        } else if status.phase.as_deref() == Some("Pending") {
            issues.push(PodIssue {
                pod: name,
                container: String::new(),
                reason: "Pending".to_owned(),
                message: String::new(),
                restarts: 0,
            });
        }
    }
    issues
}

fn container_issue(pod: &str, c: &ContainerStatus, is_init: bool) -> Option<PodIssue> {
    if c.ready {
        return None;
    }
    let state = c.state.as_ref();
    let last_exit = c
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| match t.reason.as_deref() {
            Some(reason) => format!("last terminated with exit code {} ({reason})", t.exit_code),
            None => format!("last terminated with exit code {}", t.exit_code),
        });
    let (reason, message) = if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
        let message = waiting.message.clone().filter(|m| !m.is_empty());
        (
            waiting.reason.clone().unwrap_or_else(|| "Waiting".to_owned()),
            message.or(last_exit).unwrap_or_default(),
        )
    } else if let Some(terminated) = state.and_then(|s| s.terminated.as_ref()) {
        if is_init && terminated.exit_code == 0 {
            return None;
        }
        let message = terminated.message.clone().filter(|m| !m.is_empty());
        (
            terminated.reason.clone().unwrap_or_else(|| "Terminated".to_owned()),
            message.unwrap_or_else(|| format!("exited with code {}", terminated.exit_code)),
        )
    } else if state.and_then(|s| s.running.as_ref()).is_some() {
        (
            "NotReady".to_owned(),
            "the container is running but not ready".to_owned(),
        )
    } else {
        return None;
    };
    Some(PodIssue {
        pod: pod.to_owned(),
        container: c.name.clone(),
        reason,
        message,
        restarts: i64::from(c.restart_count),
    })
}

#[derive(Debug, Deserialize)]
struct List<T> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

/// Lists every object of a collection matching `labels`, following continue tokens.
async fn list_all<T: serde::de::DeserializeOwned>(
    transport: &Transport,
    path: &str,
    labels: &str,
) -> Result<Vec<T>, CallError> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut params = ListParams::default().labels(labels).limit(500);
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        let request = Request::new(path)
            .list(&params)
            .map_err(|err| CallError::InvalidRequest {
                message: err.to_string(),
            })?;
        let page: List<T> = transport.call(request).await?.json()?;
        items.extend(page.items);
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    Ok(items)
}

/// Gets one object as JSON; `Ok(None)` when it does not exist.
///
/// # Errors
/// [`CallError`] for any other failure.
pub async fn get_object(
    transport: &Transport,
    kind: WorkloadKind,
    workload: &WorkloadRef,
) -> Result<Option<Value>, CallError> {
    let request = Request::new(collection_path(&kind.resource(), Some(&workload.namespace)))
        .get(&workload.name, &GetParams::default())
        .map_err(|err| CallError::InvalidRequest {
            message: err.to_string(),
        })?;
    match transport.call(request).await {
        Ok(reply) => reply.json().map(Some),
        Err(CallError::Api { code: 404, .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The issues of a workload's pods (of its newest ReplicaSet, for a Deployment).
///
/// # Errors
/// [`ClusterError`] when the workload or its pods cannot be read.
pub async fn pod_issues(transport: &Transport, workload: &WorkloadRef) -> Result<Vec<PodIssue>, ClusterError> {
    let label = format!("{}/{}", workload.kind, workload.name);
    let Some(kind) = WorkloadKind::parse(&workload.kind) else {
        return Ok(Vec::new());
    };
    let failed = |err: CallError| err.into_cluster_error(&label);
    let Some(object) = get_object(transport, kind, workload).await.map_err(failed)? else {
        return Ok(Vec::new());
    };
    let uid = object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let selector: LabelSelector = object
        .pointer("/spec/selector")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|err| ClusterError::Internal {
            message: format!("{label} has an unreadable selector: {err}"),
        })?
        .unwrap_or_default();
    let labels = selector_query(&selector);
    if uid.is_empty() || labels.is_empty() {
        return Ok(Vec::new());
    }
    let namespace = Some(workload.namespace.as_str());
    let owner_uid = if kind == WorkloadKind::Deployment {
        let replicasets: Vec<ReplicaSet> = list_all(
            transport,
            &collection_path(&kube::core::ApiResource::erase::<ReplicaSet>(&()), namespace),
            &labels,
        )
        .await
        .map_err(failed)?;
        match newest_replicaset(&replicasets, &uid) {
            Some(rs) => rs,
            None => return Ok(Vec::new()),
        }
    } else {
        uid
    };
    let pods: Vec<Pod> = list_all(
        transport,
        &collection_path(&kube::core::ApiResource::erase::<Pod>(&()), namespace),
        &labels,
    )
    .await
    .map_err(failed)?;
    Ok(issues_of(&pods, &owner_uid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use serde_json::json;

    fn match_labels(pairs: &[(&str, &str)]) -> LabelSelector {
        let labels: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        LabelSelector {
            match_labels: Some(labels),
            match_expressions: None,
        }
    }

    fn pod(name: &str, owner: &str, status: Value) -> Result<Pod, serde_json::Error> {
        serde_json::from_value(json!({
            "metadata": {"name": name, "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": owner, "controller": true}]},
            "status": status
        }))
    }

    fn replicaset(uid: &str, owner: &str, revision: &str) -> Result<ReplicaSet, serde_json::Error> {
        serde_json::from_value(json!({
            "metadata": {"name": format!("web-{uid}"), "uid": uid,
                         "annotations": {"deployment.kubernetes.io/revision": revision},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": owner, "controller": true}]}
        }))
    }

    #[test]
    fn selectors_render_in_query_syntax() {
        let mut selector = match_labels(&[("app", "web"), ("tier", "front")]);
        selector.match_expressions = Some(vec![
            LabelSelectorRequirement {
                key: "env".to_owned(),
                operator: "In".to_owned(),
                values: Some(vec!["a".to_owned(), "b".to_owned()]),
            },
            LabelSelectorRequirement {
                key: "canary".to_owned(),
                operator: "DoesNotExist".to_owned(),
                values: None,
            },
        ]);
        assert_eq!(selector_query(&selector), "app=web,tier=front,env in (a,b),!canary");
    }

    #[test]
    fn the_newest_replicaset_is_the_highest_revision_the_deployment_controls() -> Result<(), serde_json::Error> {
        let sets = [
            replicaset("rs-2", "dep", "2")?,
            replicaset("rs-10", "dep", "10")?,
            replicaset("rs-9", "dep", "9")?,
            replicaset("other", "another-deployment", "99")?,
        ];
        assert_eq!(newest_replicaset(&sets, "dep"), Some("rs-10".to_owned()));
        assert_eq!(newest_replicaset(&sets, "nobody"), None);
        Ok(())
    }

    #[test]
    fn image_pull_back_off_is_reported_with_the_kubelets_message() -> Result<(), serde_json::Error> {
        let pods = [pod(
            "web-1-abc",
            "rs",
            json!({
                "phase": "Pending",
                "containerStatuses": [{"name": "web", "image": "nginx:1.27-bad-pull", "imageID": "", "ready": false,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"nginx:1.27-bad-pull\""}}}]
            }),
        )?];
        assert_eq!(
            issues_of(&pods, "rs"),
            vec![PodIssue {
                pod: "web-1-abc".to_owned(),
                container: "web".to_owned(),
                reason: "ImagePullBackOff".to_owned(),
                message: "Back-off pulling image \"nginx:1.27-bad-pull\"".to_owned(),
                restarts: 0,
            }]
        );
        Ok(())
    }

    #[test]
    fn crash_loops_report_restarts_and_the_last_exit() -> Result<(), serde_json::Error> {
        let pods = [pod(
            "web-1-xyz",
            "rs",
            json!({
                "phase": "Running",
                "containerStatuses": [{"name": "web", "image": "app:2-crash", "imageID": "", "ready": false, "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]
            }),
        )?];
        let issues = issues_of(&pods, "rs");
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].reason, "CrashLoopBackOff");
        assert_eq!(issues[0].message, "last terminated with exit code 1 (Error)");
        assert_eq!(issues[0].restarts, 3);
        Ok(())
    }

    #[test]
    fn running_but_unready_containers_are_reported_and_ready_ones_are_not() -> Result<(), serde_json::Error> {
        let pods = [
            pod(
                "web-b",
                "rs",
                json!({"phase": "Running", "containerStatuses": [
                {"name": "web", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {}}},
                {"name": "sidecar", "image": "y", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}}]}),
            )?,
            pod(
                "web-a",
                "rs",
                json!({"phase": "Running", "containerStatuses": [
                {"name": "web", "image": "x", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}}]}),
            )?,
        ];
        let issues = issues_of(&pods, "rs");
        assert_eq!(issues.len(), 1);
        assert_eq!(
            (
                issues[0].pod.as_str(),
                issues[0].container.as_str(),
                issues[0].reason.as_str()
            ),
            ("web-b", "web", "NotReady")
        );
        Ok(())
    }

    #[test]
    fn pods_of_other_owners_are_ignored() -> Result<(), serde_json::Error> {
        let pods = [pod(
            "old-pod",
            "old-rs",
            json!({"phase": "Pending", "containerStatuses": [
            {"name": "web", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ErrImagePull"}}}]}),
        )?];
        assert!(issues_of(&pods, "new-rs").is_empty());
        Ok(())
    }

    #[test]
    fn an_unschedulable_pod_says_why() -> Result<(), serde_json::Error> {
        let pods = [pod(
            "web-c",
            "rs",
            json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]}),
        )?];
        let issues = issues_of(&pods, "rs");
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].reason, "Unschedulable");
        assert_eq!(issues[0].message, "0/3 nodes are available");
        Ok(())
    }
}
