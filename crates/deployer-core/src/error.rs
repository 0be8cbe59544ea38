//! The domain error: what went wrong, in words for the caller and in words for the log.
//!
//! The external message is safe to show to whoever called; the internal context is only ever
//! logged. The HTTP layer maps each variant to a status and a stable `code`.

/// A failure the caller should hear about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployError {
    /// Something named in the request does not exist.
    #[error("{message}")]
    NotFound {
        /// A stable code (`cluster_not_found`, `file_not_found`, `deployment_not_found`).
        code: &'static str,
        /// What was not found.
        message: String,
        /// What to do about it.
        hint: Option<String>,
    },
    /// The request is malformed or breaks a rule.
    #[error("{message}")]
    InvalidRequest {
        /// A stable code (`invalid_tag`, `invalid_file`, `ambiguous_image`, …).
        code: &'static str,
        /// What is wrong.
        message: String,
        /// What to do about it.
        hint: Option<String>,
    },
    /// The caller may not do this.
    #[error("{message}")]
    Forbidden {
        /// A stable code.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// The request conflicts with the current state.
    #[error("{message}")]
    Conflict {
        /// A stable code.
        code: &'static str,
        /// What conflicts.
        message: String,
    },
    /// A dependency is down; trying again later may work.
    #[error("service unavailable")]
    Unavailable {
        /// Details for the log only.
        internal: String,
    },
    /// A bug or a broken invariant.
    #[error("internal error")]
    Internal {
        /// Details for the log only.
        internal: String,
    },
}

impl DeployError {
    /// An invalid-request error with a hint.
    pub fn invalid(code: &'static str, message: impl Into<String>, hint: Option<String>) -> Self {
        DeployError::InvalidRequest {
            code,
            message: message.into(),
            hint,
        }
    }

    /// A not-found error with a hint.
    pub fn not_found(code: &'static str, message: impl Into<String>, hint: Option<String>) -> Self {
        DeployError::NotFound {
            code,
            message: message.into(),
            hint,
        }
    }

    /// The stable code, part of the API contract.
    pub fn code(&self) -> &'static str {
        match self {
            DeployError::NotFound { code, .. }
            | DeployError::InvalidRequest { code, .. }
            | DeployError::Forbidden { code, .. }
            | DeployError::Conflict { code, .. } => code,
            DeployError::Unavailable { .. } => "unavailable",
            DeployError::Internal { .. } => "internal",
        }
    }

    /// The hint, if any.
    pub fn hint(&self) -> Option<&str> {
        match self {
            DeployError::NotFound { hint, .. } | DeployError::InvalidRequest { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }

    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, DeployError::Unavailable { .. })
    }
}

impl From<crate::ports::StoreError> for DeployError {
    fn from(e: crate::ports::StoreError) -> Self {
        match e {
            crate::ports::StoreError::Unavailable { message } => DeployError::Unavailable { internal: message },
            crate::ports::StoreError::Conflict { message } => DeployError::Conflict {
                code: "conflict",
                message,
            },
            crate::ports::StoreError::Internal { message } => DeployError::Internal { internal: message },
        }
    }
}
