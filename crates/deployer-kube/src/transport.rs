//! Sending requests to the API server: one attempt with a timeout, or several with retries.
//!
//! Requests are built with kube-core's request builders and sent through the kube `Client`
//! (which adds the base URL, TLS and authentication). Handling the raw response here, rather
//! than through `Api<K>`, lets us see the HTTP status and the `Retry-After` header.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kube::client::Body;
use kube::core::Status;
use tokio::sync::Semaphore;
use tracing::debug;

use crate::error::{CallError, Redactor, describe, is_tls_failure, is_transient_status};
use crate::retry::{RetryPolicy, parse_retry_after};
use crate::startup::LazyClient;

/// A successful (2xx) answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub code: u16,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON of type `T`.
    ///
    /// # Errors
    /// [`CallError::InvalidResponse`] when it is not.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, CallError> {
        serde_json::from_slice(&self.body).map_err(|err| CallError::InvalidResponse {
            message: err.to_string(),
        })
    }
}

/// When the API server last served a request: any answer but `429` and `5xx`, which say it
/// is overloaded or failing.
///
/// Shared by a transport and the transports made from it; read without a lock.
#[derive(Debug)]
struct AnswerClock {
    origin: Instant,
    /// Microseconds from `origin` to the end of the last answer, plus one; 0 for never.
    last: AtomicU64,
}

impl AnswerClock {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn record(&self) {
        let since = u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX - 1);
        self.last.fetch_max(since + 1, Ordering::Relaxed);
    }

    fn within(&self, window: Duration) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        if last == 0 {
            return false;
        }
        let answered = Duration::from_micros(last - 1);
        self.origin.elapsed().saturating_sub(answered) <= window
    }
}

/// A kube client with a timeout, a retry policy and a redactor.
#[derive(Clone)]
pub struct Transport {
    client: LazyClient,
    request_timeout: Duration,
    retry: RetryPolicy,
    redactor: Redactor,
    answers: Arc<AnswerClock>,
    /// Permits for requests on their way, shared by the transports made from this one.
    in_flight: Arc<Semaphore>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Wraps a client (ready, or put together on first use) that sends at most
    /// `max_in_flight` requests at once (at least one).
    pub fn new(
        client: impl Into<LazyClient>,
        request_timeout: Duration,
        retry: RetryPolicy,
        redactor: Redactor,
        max_in_flight: usize,
    ) -> Self {
        Self {
            client: client.into(),
            request_timeout,
            retry,
            redactor,
            answers: Arc::new(AnswerClock::new()),
            in_flight: Arc::new(Semaphore::new(max_in_flight.clamp(1, Semaphore::MAX_PERMITS))),
        }
    }

    /// This transport with another retry policy; the client and the record of answers are
    /// shared with `self`.
    #[must_use]
    pub fn with_retry(&self, retry: RetryPolicy) -> Self {
        Self { retry, ..self.clone() }
    }

    /// Whether the API server served a request of this transport within the last `window`:
    /// any answer counts but `429` and `5xx`.
    pub fn answered_within(&self, window: Duration) -> bool {
        self.answers.within(window)
    }

    /// The underlying client (for the watcher), put together on first use.
    ///
    /// # Errors
    /// [`CallError::Transport`] when the client cannot be put together.
    pub fn client(&self) -> Result<&kube::Client, CallError> {
        self.client.get().map_err(|err| CallError::Transport {
            message: err.to_string(),
            retryable: false,
        })
    }

    /// The client handle, shared with the transports made from this one.
    pub fn lazy_client(&self) -> &LazyClient {
        &self.client
    }

    /// The redactor hiding this cluster's credentials.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The timeout of one attempt.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Sends `request`, retrying transient failures as the policy allows.
    ///
    /// # Errors
    /// The last attempt's [`CallError`] when the request did not succeed.
    pub async fn call(&self, request: http::Request<Vec<u8>>) -> Result<Reply, CallError> {
        let started = Instant::now();
        let mut failed = 0u32;
        loop {
            let attempt = clone_request(&request);
            let err = match self.send_once(attempt, self.request_timeout).await {
                Ok(reply) => return Ok(reply),
                Err(err) => err,
            };
            failed += 1;
            if !err.retryable() {
                return Err(err);
            }
            let Some(delay) = self
                .retry
                .next_delay(failed, started.elapsed(), err.retry_after(), fastrand::f64())
            else {
                return Err(err);
            };
            debug!(
                message = "Retrying request to the API server.",
                method = %request.method(),
                path = request.uri().path(),
                attempt = failed,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %err,
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Sends `request` once, waiting at most `timeout` for the whole answer. The wait for a
    /// turn, when the limit of requests in flight is reached, does not count.
    ///
    /// # Errors
    /// [`CallError`] for a non-2xx status, a transport failure or a timeout.
    pub async fn send_once(&self, request: http::Request<Vec<u8>>, timeout: Duration) -> Result<Reply, CallError> {
        // The semaphore is never closed.
        let _turn = self.in_flight.acquire().await.ok();
        match tokio::time::timeout(timeout, self.exchange(request)).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout { after: timeout }),
        }
    }

    async fn exchange(&self, request: http::Request<Vec<u8>>) -> Result<Reply, CallError> {
        let response = self
            .client()?
            .send(request.map(Body::from))
            .await
            .map_err(|err| self.transport_error(&err))?;
        let code = response.status().as_u16();
        if !is_transient_status(code) {
            self.answers.record();
        }
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response
            .into_body()
            .collect_bytes()
            .await
            .map_err(|err| self.transport_error(&err))?;
        if (200..300).contains(&code) {
            return Ok(Reply { code, body });
        }
        Err(api_error(code, &body, retry_after))
    }

    fn transport_error(&self, err: &kube::Error) -> CallError {
        let retryable = match err {
            kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => !is_tls_failure(err),
            _ => false,
        };
        CallError::Transport {
            message: self.redactor.clean(&describe(err)),
            retryable,
        }
    }
}

/// The error for a non-2xx answer: the `Status` in the body when there is one.
pub fn api_error(code: u16, body: &[u8], retry_after: Option<Duration>) -> CallError {
    match serde_json::from_slice::<Status>(body) {
        Ok(status) if !status.message.is_empty() || !status.reason.is_empty() => {
            let from_details = status
                .details
                .as_ref()
                .map(|d| d.retry_after_seconds)
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(u64::from(s)));
            let message = if status.message.is_empty() {
                status.reason.clone()
            } else {
                status.message
            };
            CallError::Api {
                code,
                reason: status.reason,
                message,
                retry_after: retry_after.or(from_details),
            }
        }
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = if text.is_empty() {
                http::StatusCode::from_u16(code)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("no message")
                    .to_owned()
            } else {
                text.chars().take(300).collect()
            };
            CallError::Api {
                code,
                reason: String::new(),
                message,
                retry_after,
            }
        }
    }
}

/// A copy of a request, for another attempt.
fn clone_request(request: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_body_gives_its_message_and_reason() {
        let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas","reason":"Conflict","code":409}"#;
        assert_eq!(
            api_error(409, body, None),
            CallError::Api {
                code: 409,
                reason: "Conflict".to_owned(),
                message: "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas".to_owned(),
                retry_after: None,
            }
        );
    }

    #[test]
    fn retry_after_comes_from_the_header_or_the_status_details() {
        let body = br#"{"kind":"Status","status":"Failure","message":"slow down","reason":"TooManyRequests","details":{"retryAfterSeconds":2},"code":429}"#;
        assert_eq!(api_error(429, body, None).retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(
            api_error(429, body, Some(Duration::from_secs(1))).retry_after(),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_body_that_is_not_a_status_is_quoted_briefly() {
        let err = api_error(502, b"<html>bad gateway</html>", None);
        assert_eq!(err.to_string(), "the API server answered 502: <html>bad gateway</html>");
        let err = api_error(503, b"", None);
        assert_eq!(err.to_string(), "the API server answered 503: Service Unavailable");
    }

    #[test]
    fn the_answer_clock_starts_empty_and_remembers_the_last_answer() {
        let clock = AnswerClock::new();
        assert!(!clock.within(Duration::from_secs(3600)), "nothing answered yet");
        clock.record();
        assert!(clock.within(Duration::from_secs(1)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!clock.within(Duration::from_millis(10)));
        assert!(clock.within(Duration::from_secs(1)));
        clock.record();
        assert!(
            clock.within(Duration::from_millis(10)),
            "a later answer moves the clock"
        );
    }

    #[test]
    fn a_cloned_request_is_identical() -> Result<(), http::Error> {
        let request = http::Request::patch("/apis/apps/v1/namespaces/default/deployments/web?fieldManager=x")
            .header("content-type", "application/apply-patch+yaml")
            .body(b"{}".to_vec())?;
        let copy = clone_request(&request);
        assert_eq!(copy.method(), request.method());
        assert_eq!(copy.uri(), request.uri());
        assert_eq!(copy.headers(), request.headers());
        assert_eq!(copy.body(), request.body());
        Ok(())
    }
}
