//! Why a webhook delivery was refused.

use deployer_core::image::ImageRefError;

use crate::event::Provider;

/// A refused webhook delivery. Every variant says what was wrong in words a registry
/// administrator can act on; none of them carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No hook of this provider is configured, so every delivery is refused.
    #[error("no {provider} hook is configured")]
    NoHookConfigured {
        /// The provider.
        provider: Provider,
    },
    /// The token in the URL names no configured hook of this provider.
    #[error("unknown hook token")]
    UnknownHookToken,
    /// A header the provider must send is absent.
    #[error("missing {header} header")]
    MissingHeader {
        /// The header, as providers spell it (`X-Hub-Signature-256`).
        header: &'static str,
    },
    /// A header is present but unusable.
    #[error("malformed {header} header: {reason}")]
    MalformedHeader {
        /// The header.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The bearer token or authorization value matches no configured hook.
    #[error("credentials do not match any configured {provider} hook")]
    BadCredentials {
        /// The provider.
        provider: Provider,
    },
    /// The HMAC signature does not match the body with any configured secret.
    #[error("signature does not match")]
    SignatureMismatch,
    /// The signed timestamp is older than the accepted window.
    #[error("timestamp too old: replays are refused")]
    TimestampTooOld,
    /// The signed timestamp is too far in the future.
    #[error("timestamp is in the future: check the sender's clock")]
    TimestampInFuture,
    /// The same signature was already accepted within the window.
    #[error("signature already seen: replays are refused")]
    Replayed,
    /// The body is larger than the limit.
    #[error("payload of {size} bytes is larger than the {limit}-byte limit")]
    PayloadTooLarge {
        /// The body size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The JSON nests deeper than the limit.
    #[error("payload nests deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The body is not JSON.
    #[error("payload is not valid JSON: {detail}")]
    InvalidJson {
        /// The parser's message (line and column).
        detail: String,
    },
    /// The body is JSON but not the provider's documented shape.
    #[error("payload does not match the {provider} format: {detail}")]
    UnexpectedShape {
        /// The provider.
        provider: Provider,
        /// The parser's message.
        detail: String,
    },
    /// A field the provider documents is missing or empty.
    #[error("payload field `{field}` is missing or empty")]
    MissingField {
        /// The field's path (`push_data.tag`).
        field: &'static str,
    },
    /// A field holds an invalid image reference, tag or digest.
    #[error("payload field `{field}` is invalid")]
    InvalidReference {
        /// The field's path.
        field: &'static str,
        /// Why.
        #[source]
        source: ImageRefError,
    },
    /// A field that names a repository also carries a tag or a digest.
    #[error("payload field `{field}` must name a repository, without tag or digest")]
    UnexpectedTagOrDigest {
        /// The field's path.
        field: &'static str,
    },
    /// The payload names a repository the hook may not speak for.
    #[error("repository {repository} is not allowed for this hook")]
    RepositoryNotAllowed {
        /// The repository as the payload names it.
        repository: String,
    },
}

impl WebhookError {
    /// A stable, low-cardinality name for the error, usable as a metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookError::NoHookConfigured { .. } => "no_hook_configured",
            WebhookError::UnknownHookToken => "unknown_hook_token",
            WebhookError::MissingHeader { .. } => "missing_header",
            WebhookError::MalformedHeader { .. } => "malformed_header",
            WebhookError::BadCredentials { .. } => "bad_credentials",
            WebhookError::SignatureMismatch => "signature_mismatch",
            WebhookError::TimestampTooOld => "timestamp_too_old",
            WebhookError::TimestampInFuture => "timestamp_in_future",
            WebhookError::Replayed => "replayed",
            WebhookError::PayloadTooLarge { .. } => "payload_too_large",
            WebhookError::TooDeep { .. } => "too_deep",
            WebhookError::InvalidJson { .. } => "invalid_json",
            WebhookError::UnexpectedShape { .. } => "unexpected_shape",
            WebhookError::MissingField { .. } => "missing_field",
            WebhookError::InvalidReference { .. } => "invalid_reference",
            WebhookError::UnexpectedTagOrDigest { .. } => "unexpected_tag_or_digest",
            WebhookError::RepositoryNotAllowed { .. } => "repository_not_allowed",
        }
    }

    /// Whether the sender failed to authenticate (the server answers 401 rather than 400).
    pub fn is_authentication(&self) -> bool {
        matches!(
            self,
            WebhookError::NoHookConfigured { .. }
                | WebhookError::UnknownHookToken
                | WebhookError::MissingHeader { .. }
                | WebhookError::MalformedHeader { .. }
                | WebhookError::BadCredentials { .. }
                | WebhookError::SignatureMismatch
                | WebhookError::TimestampTooOld
                | WebhookError::TimestampInFuture
                | WebhookError::Replayed
        )
    }
}
