//! Deployment events as CloudEvents 1.0 (JSON, structured mode), typed with CDEvents where a
//! CDEvents predicate fits. Pure: the same event and options always give the same bytes.
//!
//! # Types
//! | event | `type` |
//! |---|---|
//! | succeeded, method `apply`, rollback trigger | `dev.cdevents.service.rolledback.0.2.0` |
//! | succeeded, method `apply`, no previous image | `dev.cdevents.service.deployed.0.2.0` |
//! | succeeded, method `apply`, otherwise | `dev.cdevents.service.upgraded.0.2.0` |
//! | any other | `dev.k8s-app-deployer.deployment.<event>.v1` |
//!
//! A `commit-only` or `restart` success, and a success whose new image is unknown, are not
//! CDEvents service events (nothing says a new artifact runs) and get
//! `dev.k8s-app-deployer.deployment.succeeded.v1`.
//!
//! # Data
//! For our own types, `data` is the [`DeploymentData`](crate::cloudevents::DeploymentData) object and `datacontenttype` is
//! `application/json`. For CDEvents types, `data` is the CDEvent (`context`, `subject`,
//! `customData`) of CDEvents 0.4, `datacontenttype` is `application/cdevents+json` as the
//! CDEvents CloudEvents binding asks, and the same [`DeploymentData`](crate::cloudevents::DeploymentData) object is in
//! `data.customData`. `docs/events.md` shows one example of each type.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use deployer_core::image::ImageRef;
use deployer_core::model::{
    DeploymentEvent, DeploymentRecord, EventKind, Failure, Method, Phase, RolloutSummary, Status, TriggerKind,
};

use crate::environment::EnvironmentName;

/// The CloudEvents version written.
pub const SPEC_VERSION: &str = "1.0";
/// The CDEvents specification version written in `context.version`.
pub const CDEVENTS_VERSION: &str = "0.4.0";
/// The media type of a structured-mode CloudEvent in JSON.
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json; charset=utf-8";

/// The CloudEvents `source` of our events: a URI-reference such as
/// `/k8s-app-deployer/eu-prod`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EventSource(String);

/// Text that cannot be an event source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event source `{0}`: use a URI reference without spaces, e.g. `/k8s-app-deployer/eu-prod`")]
pub struct InvalidSource(pub String);

impl EventSource {
    /// Validates a source: non-empty, at most 256 characters, no whitespace or control
    /// characters.
    ///
    /// # Errors
    /// [`InvalidSource`] otherwise.
    pub fn new(source: &str) -> Result<Self, InvalidSource> {
        let ok =
            !source.is_empty() && source.len() <= 256 && !source.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Self(source.to_owned()))
        } else {
            Err(InvalidSource(
                source.chars().take(80).flat_map(char::escape_default).collect(),
            ))
        }
    }

    /// The source as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for EventSource {
    fn default() -> Self {
        Self("/k8s-app-deployer".to_owned())
    }
}

impl fmt::Display for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

/// The `type` of an event; see the module documentation for the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `dev.cdevents.service.deployed.0.2.0`: a first deployment of the service succeeded.
    ServiceDeployed,
    /// `dev.cdevents.service.upgraded.0.2.0`: a new image of the service runs.
    ServiceUpgraded,
    /// `dev.cdevents.service.rolledback.0.2.0`: a rollback succeeded.
    ServiceRolledBack,
    /// `dev.k8s-app-deployer.deployment.<event>.v1`: every other event.
    Deployment(EventKind),
}

impl EventType {
    /// The type of an event.
    pub fn of(event: &DeploymentEvent) -> Self {
        let record = &event.record;
        if event.kind != EventKind::Succeeded
            || record.request.method != Method::Apply
            || new_artifact(record).is_none()
        {
            return EventType::Deployment(event.kind);
        }
        if record.request.source.kind == TriggerKind::Rollback {
            EventType::ServiceRolledBack
        } else if record.old_images.is_empty() {
            EventType::ServiceDeployed
        } else {
            EventType::ServiceUpgraded
        }
    }

    /// The `type` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ServiceDeployed => "dev.cdevents.service.deployed.0.2.0",
            EventType::ServiceUpgraded => "dev.cdevents.service.upgraded.0.2.0",
            EventType::ServiceRolledBack => "dev.cdevents.service.rolledback.0.2.0",
            EventType::Deployment(kind) => match kind {
                EventKind::Queued => "dev.k8s-app-deployer.deployment.queued.v1",
                EventKind::Committed => "dev.k8s-app-deployer.deployment.committed.v1",
                EventKind::Applied => "dev.k8s-app-deployer.deployment.applied.v1",
                EventKind::Progress => "dev.k8s-app-deployer.deployment.progress.v1",
                EventKind::Succeeded => "dev.k8s-app-deployer.deployment.succeeded.v1",
                EventKind::Failed => "dev.k8s-app-deployer.deployment.failed.v1",
                EventKind::Unchanged => "dev.k8s-app-deployer.deployment.unchanged.v1",
            },
        }
    }

    /// Whether this is a CDEvents type (its data is a CDEvent).
    pub fn is_cdevent(self) -> bool {
        !matches!(self, EventType::Deployment(_))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CloudEvent in structured mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudEvent {
    /// Always `1.0`.
    pub specversion: &'static str,
    /// `<deployment id>-<event seq>`: stable across re-deliveries, unique per source.
    pub id: String,
    /// The configured source.
    pub source: EventSource,
    /// See [`EventType`].
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// `<region>/<cluster>/<file>`.
    pub subject: String,
    /// When the event happened (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// `application/json` or `application/cdevents+json`.
    pub datacontenttype: &'static str,
    /// The payload.
    pub data: EventData,
}

impl CloudEvent {
    /// The event as JSON bytes (the structured-mode body).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings, numbers and maps cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The event as pretty-printed JSON, for documentation.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// The `data` of a CloudEvent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventData {
    /// A CDEvent, for CDEvents types.
    CdEvent(Box<CdEvent>),
    /// The deployment, for our own types.
    Deployment(Box<DeploymentData>),
}

impl EventData {
    /// The deployment object, wherever it sits.
    pub fn deployment(&self) -> &DeploymentData {
        match self {
            EventData::CdEvent(cd) => &cd.custom_data,
            EventData::Deployment(d) => d,
        }
    }
}

/// A CDEvents 0.4 service event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CdEvent {
    /// The CDEvents context.
    pub context: CdContext,
    /// The service subject.
    pub subject: CdSubject,
    /// The full deployment.
    pub custom_data: DeploymentData,
    /// `application/json`.
    pub custom_data_content_type: &'static str,
}

/// The CDEvents `context`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CdContext {
    /// [`CDEVENTS_VERSION`].
    pub version: &'static str,
    /// The CloudEvent id.
    pub id: String,
    /// The CloudEvent source.
    pub source: EventSource,
    /// The CloudEvent type.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// The CloudEvent time.
    pub timestamp: String,
}

/// The CDEvents `subject` of a service event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CdSubject {
    /// `<region>/<cluster>/<file>`, the CloudEvent subject.
    pub id: String,
    /// Always `service`.
    #[serde(rename = "type")]
    pub subject_type: &'static str,
    /// The environment and artifact.
    pub content: CdServiceContent,
}

/// The `content` of a service subject.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CdServiceContent {
    /// The environment: its configured name, or `<region>/<cluster>` without one.
    pub environment: CdEnvironment,
    /// The new image as a package URL (`pkg:oci/api@sha256%3A…?repository_url=…&tag=…`).
    pub artifact_id: String,
}

/// A CDEvents environment reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CdEnvironment {
    /// Its id.
    pub id: String,
}

/// Everything known about the deployment when the event happened: the `data` of our own
/// types and the `customData` of CDEvents types.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentData {
    /// The deployment's id.
    pub deployment_id: String,
    /// The CI release it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_id: Option<String>,
    /// What happened (`queued`, `committed`, `applied`, `progress`, `succeeded`, `failed`,
    /// `unchanged`).
    pub event: EventKind,
    /// The store's sequence number of the event.
    pub seq: i64,
    /// The deployment's status after the event.
    pub status: Status,
    /// Its last completed phase.
    pub phase: Phase,
    /// `apply`, `commit-only`, `dry-run` or `restart`.
    pub method: Method,
    /// The region.
    pub region: String,
    /// The cluster.
    pub cluster: String,
    /// The environment, when the operator mapped the cluster or region to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentName>,
    /// The application file stem.
    pub file: String,
    /// The file's path in the configuration repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The image before and after.
    pub image: ImageData,
    /// The pushed commit of the configuration repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    /// Who and what asked for the deployment.
    pub trigger: TriggerData,
    /// `succeeded`, `failed` or `unchanged`, once the deployment ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Status>,
    /// When it was accepted.
    pub created_at: String,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// How long it took, in milliseconds.
    pub durations: Durations,
    /// The rollout as last observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSummary>,
    /// Why it failed, with the pods' waiting reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// The images of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageData {
    /// The first image before the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The first image after the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// What was asked for (`v1.4.2`, `sha256:…`, `v1.4.2@sha256:…`).
    pub requested: String,
    /// The new image's digest, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Every image before the change (one per container).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub old_images: Vec<String>,
    /// Every image after the change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub new_images: Vec<String>,
}

/// Who and what asked for a deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriggerData {
    /// `api`, `cli`, `ui`, `ci`, `registry` or `rollback`.
    pub kind: TriggerKind,
    /// The token, webhook or user that asked.
    pub requested_by: String,
    /// Why, in the requester's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The CI system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci: Option<String>,
    /// The branch that was built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The application commit that was built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The CI build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_url: Option<String>,
}

/// Durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Durations {
    /// From acceptance to the event (to the end, once ended).
    pub total_ms: i64,
    /// From acceptance until a worker took it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_ms: Option<i64>,
    /// From the apply to the end of the rollout (or to the event while it runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_ms: Option<i64>,
}

/// Encodes events with the configured source and environment map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoder {
    /// The CloudEvents `source`.
    pub source: EventSource,
    /// Which environment each target belongs to.
    pub environments: crate::environment::Environments,
}

impl Encoder {
    /// The environment of an event: the one its request names (when it is a valid name),
    /// else the one `[sinks.environments]` maps its target to.
    pub fn environment(&self, event: &DeploymentEvent) -> Option<EnvironmentName> {
        let request = &event.record.request;
        request
            .environment
            .as_deref()
            .and_then(|e| EnvironmentName::new(e).ok())
            .or_else(|| self.environments.of(&request.target).cloned())
    }

    /// Encodes one event.
    pub fn encode(&self, event: &DeploymentEvent) -> CloudEvent {
        encode(event, &self.source, self.environment(event).as_ref())
    }
}

/// Encodes one event.
pub fn encode(event: &DeploymentEvent, source: &EventSource, environment: Option<&EnvironmentName>) -> CloudEvent {
    let event_type = EventType::of(event);
    let record = &event.record;
    let target = &record.request.target;
    let id = format!("{}-{}", event.deployment_id, event.seq);
    let subject = target.to_string();
    let time = rfc3339(event.at);
    let data = deployment_data(event, environment);
    let payload = if event_type.is_cdevent() {
        let env_id = environment.map_or_else(|| format!("{}/{}", target.region, target.cluster), ToString::to_string);
        EventData::CdEvent(Box::new(CdEvent {
            context: CdContext {
                version: CDEVENTS_VERSION,
                id: id.clone(),
                source: source.clone(),
                event_type: event_type.as_str(),
                timestamp: time.clone(),
            },
            subject: CdSubject {
                id: subject.clone(),
                subject_type: "service",
                content: CdServiceContent {
                    environment: CdEnvironment { id: env_id },
                    artifact_id: new_artifact(record).unwrap_or_default(),
                },
            },
            custom_data: data,
            custom_data_content_type: "application/json",
        }))
    } else {
        EventData::Deployment(Box::new(data))
    };
    CloudEvent {
        specversion: SPEC_VERSION,
        id,
        source: source.clone(),
        event_type: event_type.as_str(),
        subject,
        time,
        datacontenttype: if event_type.is_cdevent() {
            "application/cdevents+json"
        } else {
            "application/json"
        },
        data: payload,
    }
}

/// The deployment object of an event.
pub fn deployment_data(event: &DeploymentEvent, environment: Option<&EnvironmentName>) -> DeploymentData {
    let record = &event.record;
    let request = &record.request;
    let source = &request.source;
    DeploymentData {
        deployment_id: record.id.to_string(),
        release_id: record.release_id.clone(),
        event: event.kind,
        seq: event.seq,
        status: record.status,
        phase: record.phase,
        method: request.method,
        region: request.target.region.to_string(),
        cluster: request.target.cluster.to_string(),
        environment: environment.cloned(),
        file: request.target.file.to_string(),
        path: record.path.clone(),
        image: image_data(record),
        commit_sha: record.commit_sha.clone(),
        trigger: TriggerData {
            kind: source.kind,
            requested_by: request.requested_by.clone(),
            reason: request.reason.clone(),
            ci: source.ci.clone(),
            branch: source.branch.clone(),
            commit: source.commit.clone(),
            build_url: source.build_url.clone(),
        },
        outcome: record.status.is_terminal().then_some(record.status),
        created_at: rfc3339(record.created_at),
        finished_at: record.finished_at.map(rfc3339),
        durations: durations(record, event.at),
        rollout: record.rollout.clone(),
        failure: record.failure.clone(),
    }
}

fn image_data(record: &DeploymentRecord) -> ImageData {
    let new = record.new_images.first().cloned();
    let digest = new
        .as_deref()
        .and_then(|s| ImageRef::parse(s).ok())
        .and_then(|r| r.digest().map(ToString::to_string))
        .or_else(|| match &record.request.change {
            deployer_core::model::ImageChange::Digest { digest }
            | deployer_core::model::ImageChange::TagAndDigest { digest, .. } => Some(digest.to_string()),
            _ => None,
        });
    ImageData {
        old: record.old_images.first().cloned(),
        new,
        requested: record.request.change.describe(),
        digest,
        old_images: record.old_images.clone(),
        new_images: record.new_images.clone(),
    }
}

fn durations(record: &DeploymentRecord, at: DateTime<Utc>) -> Durations {
    let end = record.finished_at.unwrap_or(at);
    let phase = |p: Phase| record.phase_times.get(p.as_str()).copied();
    Durations {
        total_ms: (end - record.created_at).num_milliseconds().max(0),
        queued_ms: phase(Phase::Committing).map(|t| (t - record.created_at).num_milliseconds().max(0)),
        rollout_ms: phase(Phase::Applied).map(|t| (end - t).num_milliseconds().max(0)),
    }
}

/// The new image as a package URL, if it is a valid image reference.
fn new_artifact(record: &DeploymentRecord) -> Option<String> {
    let image = ImageRef::parse(record.new_images.first()?).ok()?;
    Some(purl(&image))
}

/// `pkg:oci/<name>[@<digest>]?repository_url=<repository>[&tag=<tag>]`, percent-encoded as the
/// purl specification asks.
pub fn purl(image: &ImageRef) -> String {
    let repository = image.normalized_repository();
    let name = repository.rsplit('/').next().unwrap_or(&repository).to_owned();
    let mut out = format!("pkg:oci/{}", encode_component(&name));
    if let Some(digest) = image.digest() {
        out.push('@');
        out.push_str(&encode_component(digest.as_str()));
    }
    let mut qualifiers: BTreeMap<&str, String> = BTreeMap::new();
    qualifiers.insert("repository_url", repository.clone());
    if let Some(tag) = image.tag() {
        qualifiers.insert("tag", tag.to_string());
    }
    let q: Vec<String> = qualifiers
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_qualifier(v)))
        .collect();
    out.push('?');
    out.push_str(&q.join("&"));
    out
}

fn encode_component(s: &str) -> String {
    percent_encode(s, |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~'))
}

fn encode_qualifier(s: &str) -> String {
    percent_encode(s, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~' | '/')
    })
}

fn percent_encode(s: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if keep(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// RFC 3339 in UTC with milliseconds (`2026-11-26T07:00:00.000Z`).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_percent_encode_the_digest_and_keep_the_repository() {
        let hex = "0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427";
        let Ok(image) = ImageRef::parse(&format!("registry.example.com:5000/team/api:v1.4.2@sha256:{hex}")) else {
            panic!("valid reference");
        };
        assert_eq!(
            purl(&image),
            format!("pkg:oci/api@sha256%3A{hex}?repository_url=registry.example.com%3A5000/team/api&tag=v1.4.2")
        );
        let Ok(hub) = ImageRef::parse("nginx:1.27") else {
            panic!("valid reference")
        };
        assert_eq!(
            purl(&hub),
            "pkg:oci/nginx?repository_url=docker.io/library/nginx&tag=1.27"
        );
    }

    #[test]
    fn sources_refuse_spaces() {
        assert!(EventSource::new("/k8s-app-deployer/eu-prod").is_ok());
        assert!(EventSource::new("https://deployer.example.com/").is_ok());
        assert!(EventSource::new("a b").is_err());
        assert!(EventSource::new("").is_err());
    }
}
