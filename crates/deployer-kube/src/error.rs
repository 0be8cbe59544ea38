//! Failed requests to the API server, and how they become `ClusterError`s.
//!
//! A request fails either because the server answered with an error `Status`
//! (`CallError::Api`) or because no usable answer arrived (`CallError::Transport`,
//! `CallError::Timeout`). Refusals of an object (4xx) become `ClusterError::Rejected` with the
//! server's own message; everything that retrying could have fixed, once the retries are
//! spent, becomes `ClusterError::Unreachable`. Texts taken from transport errors pass through
//! a `Redactor` so that credentials never reach an error or a log line.

use std::time::Duration;

use deployer_core::ports::ClusterError;

/// Why one request to the API server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The server answered with an error status.
    #[error("the API server answered {code}: {message}")]
    Api {
        /// The HTTP status.
        code: u16,
        /// The `Status` reason (`Invalid`, `Conflict`, …), empty when the body was not a Status.
        reason: String,
        /// The `Status` message, or the start of the body.
        message: String,
        /// How long the server asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, TLS failure, broken body.
    #[error("{message}")]
    Transport {
        /// What went wrong, credentials removed.
        message: String,
        /// Whether trying again may help (a TLS verification failure will not).
        retryable: bool,
    },
    /// No answer within the request timeout.
    #[error("no answer from the API server within {}", humantime::format_duration(*.after))]
    Timeout {
        /// The timeout.
        after: Duration,
    },
    /// The server's answer could not be understood.
    #[error("unexpected answer from the API server: {message}")]
    InvalidResponse {
        /// What was wrong with it.
        message: String,
    },
    /// The request could not even be built (an invalid name, for instance).
    #[error("invalid request: {message}")]
    InvalidRequest {
        /// Details.
        message: String,
    },
}

impl CallError {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Api { .. } => "api_error",
            CallError::Transport { .. } => "transport_error",
            CallError::Timeout { .. } => "timeout",
            CallError::InvalidResponse { .. } => "invalid_response",
            CallError::InvalidRequest { .. } => "invalid_request",
        }
    }

    /// Whether trying the same request again may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            CallError::Api { code, .. } => is_transient_status(*code),
            CallError::Transport { retryable, .. } => *retryable,
            CallError::Timeout { .. } => true,
            CallError::InvalidResponse { .. } | CallError::InvalidRequest { .. } => false,
        }
    }

    /// The HTTP status, for API errors.
    pub fn code(&self) -> Option<u16> {
        match self {
            CallError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// What the server asked us to wait, if anything.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CallError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The port's error for a failure concerning `object` (`Deployment/web`).
    pub fn into_cluster_error(self, object: &str) -> ClusterError {
        match self {
            CallError::Api { code, message, .. } if is_transient_status(code) => ClusterError::Unreachable {
                message: format!("the API server kept answering {code} for {object}: {message}"),
            },
            CallError::Api { code, message, .. } => ClusterError::Rejected {
                object: object.to_owned(),
                code,
                message,
            },
            CallError::Transport { message, .. } => ClusterError::Unreachable { message },
            err @ CallError::Timeout { .. } => ClusterError::Unreachable {
                message: err.to_string(),
            },
            err @ (CallError::InvalidResponse { .. } | CallError::InvalidRequest { .. }) => ClusterError::Internal {
                message: format!("{object}: {err}"),
            },
        }
    }
}

/// Statuses worth retrying: throttling and server-side failures.
pub fn is_transient_status(code: u16) -> bool {
    code == 429 || (500..=599).contains(&code)
}

/// Removes known secrets (tokens, passwords, keys) from text before it is shown or logged.
///
/// Cloning is cheap: clusters configured from the same kubeconfig file share one list.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: std::sync::Arc<[String]>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor for these secrets. Very short values are ignored: hiding them would mangle
    /// ordinary words, and no real credential is that short.
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 6).collect();
        // Longest first, so that a secret containing another is hidden whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self {
            secrets: secrets.into(),
        }
    }

    /// This redactor, hiding `more` as well; a clone sharing the list when it already does.
    #[must_use]
    pub fn extended(&self, more: Vec<String>) -> Self {
        if self.covers(more.iter().map(String::as_str)) {
            return self.clone();
        }
        Self::new(self.secrets.iter().cloned().chain(more))
    }

    /// Whether every secret in `secrets` that is long enough to be hidden is already hidden.
    pub fn covers<'a>(&self, secrets: impl IntoIterator<Item = &'a str>) -> bool {
        secrets
            .into_iter()
            .filter(|s| s.len() >= 6)
            .all(|s| self.secrets.iter().any(|known| known == s))
    }

    /// `text` with every secret replaced by `[redacted]`.
    pub fn clean(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |acc, secret| {
            acc.replace(secret.as_str(), "[redacted]")
        })
    }
}

/// One line describing an error and its causes, each cause shown once.
///
/// Error types disagree on whether their message repeats their source's; a cause whose text
/// is already part of what has been said is skipped.
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Whether a TLS failure (an unknown issuer, a bad certificate) is somewhere in the chain:
/// retrying will not fix it.
pub fn is_tls_failure(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if e.is::<rustls::Error>() {
            return true;
        }
        // `io::Error::source` skips the error it wraps (and TLS errors arrive wrapped twice),
        // so look inside explicitly.
        let mut wrapped = e.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref);
        while let Some(inner) = wrapped {
            if inner.is::<rustls::Error>() {
                return true;
            }
            wrapped = inner.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref);
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, message: &str) -> CallError {
        CallError::Api {
            code,
            reason: String::new(),
            message: message.to_owned(),
            retry_after: None,
        }
    }

    #[test]
    fn refusals_become_rejected_with_the_servers_message() {
        for code in [400, 403, 404, 409, 422] {
            let err = api(
                code,
                "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1",
            );
            assert_eq!(
                err.into_cluster_error("Deployment/web"),
                ClusterError::Rejected {
                    object: "Deployment/web".to_owned(),
                    code,
                    message: "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1".to_owned(),
                }
            );
        }
    }

    #[test]
    fn server_failures_and_transport_failures_become_unreachable() {
        for err in [
            api(503, "overloaded"),
            api(429, "too many requests"),
            CallError::Transport {
                message: "connection refused".to_owned(),
                retryable: true,
            },
            CallError::Timeout {
                after: Duration::from_secs(30),
            },
        ] {
            assert!(err.retryable());
            let mapped = err.into_cluster_error("Deployment/web");
            assert_eq!(mapped.kind(), "cluster_unreachable", "{mapped:?}");
        }
        assert!(!api(409, "conflict").retryable());
    }

    #[test]
    fn timeout_message_reads_naturally() {
        assert_eq!(
            CallError::Timeout {
                after: Duration::from_secs(2)
            }
            .to_string(),
            "no answer from the API server within 2s"
        );
    }

    #[test]
    fn redactor_hides_every_known_secret() {
        let r = Redactor::new(["s3cr3t-token-value".to_owned(), "hunter22".to_owned(), "ab".to_owned()]);
        assert_eq!(
            r.clean("auth with s3cr3t-token-value failed (hunter22); ab stays"),
            "auth with [redacted] failed ([redacted]); ab stays"
        );
    }

    #[test]
    fn a_redactor_covers_the_secrets_it_hides_and_ignores_short_values() {
        let r = Redactor::new(["s3cr3t-token-value".to_owned(), "hunter22".to_owned()]);
        assert!(r.covers(["hunter22", "ab"]));
        assert!(!r.covers(["another-token"]));
        let wider = r.extended(vec!["another-token".to_owned()]);
        assert_eq!(wider.clean("another-token hunter22"), "[redacted] [redacted]");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_certificate_error_wrapped_twice_in_io_errors_is_a_tls_failure() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let outer = Outer(std::io::Error::other(inner));
        assert!(is_tls_failure(&outer));
        let refused = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert!(!is_tls_failure(&refused));
    }

    #[test]
    fn describe_shows_each_cause_once() {
        let err = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(describe(&err), "outer: connection refused");
    }
}
