//! Records and events to store, built by chaining.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use deployer_core::image::{Digest, ImageRef, Tag};
use deployer_core::model::{
    AppFile, ClusterName, ContainerName, DeployRequest, DeploymentEvent, DeploymentId, DeploymentRecord, DryRunResult,
    EventKind, Failure, ImageChange, Method, Phase, PodIssue, Region, RolloutSummary, Source, Status, Target,
    TriggerKind,
};

/// `2026-01-01T00:00:00Z` plus `secs` seconds and `micros` microseconds.
pub fn at(secs: i64, micros: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600 + secs, micros * 1000).expect("the fixture times are in range")
}

/// A target.
pub fn target(region: &str, cluster: &str, file: &str) -> Target {
    Target {
        region: Region::new(region).expect("fixture region is valid"),
        cluster: ClusterName::new(cluster).expect("fixture cluster is valid"),
        file: AppFile::new(file).expect("fixture file is valid"),
    }
}

/// A queued deployment of `target` accepted at `at(secs, 0)`.
pub fn queued(t: &Target, secs: i64) -> DeploymentRecord {
    let now = at(secs, 0);
    let request = DeployRequest {
        target: t.clone(),
        image: None,
        container: None,
        change: ImageChange::Tag {
            tag: Tag::new("v1.0.0").expect("fixture tag is valid"),
        },
        method: Method::Apply,
        reason: None,
        timeout: None,
        source: Source::default(),
        requested_by: "tester".to_owned(),
        idempotency_key: None,
        environment: None,
        force: false,
        rollback_of: None,
    };
    DeploymentRecord::accepted(DeploymentId::generate(now), request, now)
}

/// Chainable changes to a record.
pub trait RecordExt: Sized {
    /// With an idempotency key.
    fn keyed(self, key: &str) -> Self;
    /// Part of a release.
    fn released(self, release: &str) -> Self;
    /// Running, in `phase`, at `secs`.
    fn running(self, secs: i64) -> Self;
    /// Finished with `status` at `secs`.
    fn finished(self, status: Status, secs: i64) -> Self;
}

impl RecordExt for DeploymentRecord {
    fn keyed(mut self, key: &str) -> Self {
        self.request.idempotency_key = Some(key.to_owned());
        self
    }

    fn released(mut self, release: &str) -> Self {
        self.release_id = Some(release.to_owned());
        self
    }

    fn running(mut self, secs: i64) -> Self {
        self.enter(Phase::Committing, at(secs, 0));
        self
    }

    fn finished(mut self, status: Status, secs: i64) -> Self {
        self.finish(status, at(secs, 0));
        self
    }
}

/// A deployment with every field populated, times with sub-millisecond digits and text that
/// needs escaping.
pub fn full_record() -> DeploymentRecord {
    let t = target("us-west-2", "prod-1", "api");
    let created = at(100, 123_456);
    let digest = Digest::new(&format!("sha256:{}", "ab".repeat(32))).expect("fixture digest is valid");
    let request = DeployRequest {
        target: t,
        image: Some(ImageRef::parse("registry.example.com/team/api").expect("fixture image is valid")),
        container: Some(ContainerName::new("api").expect("fixture container is valid")),
        change: ImageChange::TagAndDigest {
            tag: Tag::new("v1.4.2").expect("fixture tag is valid"),
            digest,
        },
        method: Method::Apply,
        reason: Some("fix \"quotes\", ünïcödé and a\ttab".to_owned()),
        timeout: Some(Duration::from_secs(90)),
        source: Source {
            kind: TriggerKind::Ci,
            ci: Some("github-actions".to_owned()),
            branch: Some("main".to_owned()),
            commit: Some("0123456789abcdef0123456789abcdef01234567".to_owned()),
            build_url: Some("https://ci.example.com/builds/42".to_owned()),
        },
        requested_by: "ci:release-bot".to_owned(),
        idempotency_key: Some("release-42/us-west-2/prod-1/api".to_owned()),
        environment: None,
        force: false,
        rollback_of: None,
    };
    let mut phase_times = BTreeMap::new();
    for (i, p) in [
        Phase::Queued,
        Phase::Committing,
        Phase::Committed,
        Phase::Applying,
        Phase::Applied,
        Phase::RollingOut,
        Phase::Finished,
    ]
    .into_iter()
    .enumerate()
    {
        phase_times.insert(p.as_str().to_owned(), at(100 + i64::try_from(i).unwrap_or(0), 999_999));
    }
    DeploymentRecord {
        id: DeploymentId::generate(created),
        release_id: Some("release-42".to_owned()),
        request,
        status: Status::Failed,
        phase: Phase::Finished,
        phase_times,
        created_at: created,
        updated_at: at(106, 1),
        finished_at: Some(at(106, 1)),
        path: Some("us-west-2/prod-1/apps/api.yaml".to_owned()),
        old_images: vec!["registry.example.com/team/api:v1.4.1".to_owned()],
        new_images: vec!["registry.example.com/team/api:v1.4.2".to_owned()],
        commit_sha: Some("fedcba9876543210fedcba9876543210fedcba98".to_owned()),
        rollout: Some(RolloutSummary {
            kind: "Deployment".to_owned(),
            name: "api".to_owned(),
            namespace: "prod".to_owned(),
            desired: 3,
            updated: 1,
            ready: 2,
            available: 2,
            message: "Waiting for deployment \"api\" rollout to finish: 1 of 3 updated replicas are available..."
                .to_owned(),
        }),
        failure: Some(Failure {
            code: "rollout_failed".to_owned(),
            message: "pods are not becoming ready".to_owned(),
            pods: vec![PodIssue {
                pod: "api-7d9f-abcde".to_owned(),
                container: "api".to_owned(),
                reason: "ImagePullBackOff".to_owned(),
                message: "Back-off pulling image \"x\": \u{0}\u{7f} ☃".to_owned(),
                restarts: 4,
            }],
        }),
        dry_run: Some(DryRunResult {
            diff: "--- a\n+++ b\n-image: v1.4.1\n+image: v1.4.2\n".to_owned(),
            commit_message: "Deploy api v1.4.2 to us-west-2/prod-1\n\nDeployment-Id: x".to_owned(),
            objects: vec!["Deployment/api".to_owned()],
        }),
    }
}

/// An event about `record` now, of `kind`.
pub fn event(kind: EventKind, record: &DeploymentRecord) -> DeploymentEvent {
    DeploymentEvent::new(kind, record, record.updated_at)
}
