//! Errors of the merge, strategic-merge and JSON patch engines.

/// Why a patch could not be applied. Each variant maps to the Status the API server answers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatchError {
    /// The body is not a patch of this type (400 BadRequest).
    #[error("{reason}")]
    MalformedPatch {
        /// What is wrong with the body.
        reason: String,
    },
    /// A JSON patch operation does not apply to the object (422 Invalid).
    #[error("{message}")]
    OperationFailed {
        /// The message, worded like the API server's.
        message: String,
    },
    /// A strategic-merge list element lacks its merge key (400 BadRequest).
    #[error("map: {element} does not contain declared merge key: {key}")]
    MissingMergeKey {
        /// The merge key.
        key: String,
        /// The element, as JSON.
        element: String,
    },
    /// A `$patch` directive with an unknown value (400 BadRequest).
    #[error("Unknown patch type: {directive}")]
    UnknownDirective {
        /// The directive's value.
        directive: String,
    },
}

impl PatchError {
    /// A stable label for the variant.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MalformedPatch { .. } => "malformed_patch",
            Self::OperationFailed { .. } => "operation_failed",
            Self::MissingMergeKey { .. } => "missing_merge_key",
            Self::UnknownDirective { .. } => "unknown_directive",
        }
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            Self::OperationFailed { .. } => 422,
            _ => 400,
        }
    }

    /// The Status `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::OperationFailed { .. } => "Invalid",
            _ => "BadRequest",
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Self::MalformedPatch { reason: reason.into() }
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::OperationFailed {
            message: message.into(),
        }
    }
}
