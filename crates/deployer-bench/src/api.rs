//! The deployer's HTTP API as the harness uses it: submit deploys, list the history.

use std::time::Duration;

use anyhow::{Context, bail};
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use deployer_core::model::Status;
use serde::Deserialize;
use serde_json::json;

/// The part of a deployment record (`GET /api/v1/deployments/{id}`) the harness reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    /// Its id.
    pub id: String,
    /// Its status.
    pub status: Status,
    /// When each phase was reached (`queued`, `committed`, `applied`, …).
    #[serde(default)]
    pub phase_times: BTreeMap<String, DateTime<Utc>>,
    /// When it ended.
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The pushed commit.
    #[serde(default)]
    pub commit_sha: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub failure: Option<RecordFailure>,
}

/// The failure of a record.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordFailure {
    /// Its stable code.
    pub code: String,
}

/// A client for one deployer.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    url: String,
    token: String,
}

#[derive(Deserialize)]
struct Accepted {
    id: String,
}

#[derive(Deserialize)]
struct Page {
    items: Vec<Record>,
    #[serde(default)]
    next: Option<String>,
}

/// Why a deploy request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The HTTP status, or 0 when the request did not get an answer.
    pub status: u16,
    /// The body or the transport error.
    pub detail: String,
}

impl Api {
    /// A client for the deployer at `url`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(url: &str, token: &str) -> anyhow::Result<Api> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build()?;
        Ok(Api {
            client,
            url: url.to_owned(),
            token: token.to_owned(),
        })
    }

    /// Asks for one deploy; returns the deployment id.
    ///
    /// # Errors
    /// [`Refused`] with the status and body when it is not accepted.
    pub async fn deploy(&self, region: &str, cluster: &str, file: &str, tag: &str) -> Result<String, Refused> {
        let body = json!({"region": region, "cluster": cluster, "file": file, "tag": tag, "reason": "benchmark"});
        let response = self
            .client
            .post(format!("{}/api/v1/deployments", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| Refused {
                status: 0,
                detail: e.to_string(),
            })?;
        let status = response.status();
        if !status.is_success() {
            let detail = response.text().await.unwrap_or_default();
            return Err(Refused {
                status: status.as_u16(),
                detail,
            });
        }
        response.json::<Accepted>().await.map(|a| a.id).map_err(|e| Refused {
            status: status.as_u16(),
            detail: e.to_string(),
        })
    }

    async fn page(&self, query: &str) -> anyhow::Result<Page> {
        let response = self
            .client
            .get(format!("{}/api/v1/deployments?{query}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!(
                "listing deployments answered {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        response.json::<Page>().await.context("unexpected listing")
    }

    /// Whether any deployment is queued or running.
    ///
    /// # Errors
    /// When the deployer does not answer.
    pub async fn busy(&self) -> anyhow::Result<bool> {
        for status in [Status::Queued, Status::Running] {
            if !self.page(&format!("status={status}&limit=1")).await?.items.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Waits until no deployment is queued or running, polling every `every`.
    ///
    /// # Errors
    /// When `timeout` passes first, or the deployer does not answer.
    pub async fn wait_idle(&self, every: Duration, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.busy().await? {
            if tokio::time::Instant::now() > deadline {
                bail!("deployments were still running after {timeout:?}");
            }
            tokio::time::sleep(every).await;
        }
        Ok(())
    }

    /// Every deployment, newest first.
    ///
    /// # Errors
    /// When the deployer does not answer.
    pub async fn records(&self) -> anyhow::Result<Vec<Record>> {
        let mut all = Vec::new();
        let mut query = "limit=200".to_owned();
        loop {
            let page = self.page(&query).await?;
            all.extend(page.items);
            match page.next {
                Some(next) => query = format!("limit=200&before={next}"),
                None => return Ok(all),
            }
        }
    }
}

/// A phase time of a record, if reached.
pub fn phase_time(record: &Record, phase: &str) -> Option<DateTime<Utc>> {
    record.phase_times.get(phase).copied()
}

/// Milliseconds from `from` to `to`.
pub fn between_ms(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().map_or(f64::NAN, |us| us as f64 / 1000.0)
}
