//! Why a manifest could not be read or edited.

use deployer_core::image::ImageRefError;

/// Why a manifest could not be read or edited. Messages say what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The file is larger than [`Limits::max_bytes`](crate::Limits::max_bytes).
    #[error("the manifest is {size} bytes long; at most {max} bytes are accepted")]
    TooLarge {
        /// Size of the file.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The file is not UTF-8.
    #[error("the manifest is not valid UTF-8 (first bad byte at offset {offset}); save it as UTF-8")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The file is not valid YAML.
    #[error("invalid YAML at line {line}, column {column}: {message}")]
    Yaml {
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
        /// What the parser found.
        message: String,
    },
    /// Mappings and sequences are nested deeper than [`Limits::max_depth`](crate::Limits::max_depth).
    #[error(
        "the manifest nests mappings and sequences more than {max} levels deep (at line {line}, counting what aliases expand to)"
    )]
    TooDeep {
        /// Line where the limit was crossed.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// The file has more than [`Limits::max_documents`](crate::Limits::max_documents) documents.
    #[error("the manifest has more than {max} YAML documents; split it into several files")]
    TooManyDocuments {
        /// The limit.
        max: usize,
    },
    /// Aliases would expand to more than the limits allow (an alias bomb).
    #[error(
        "the manifest's aliases expand too much (at line {line}; at most {max} alias expansions are allowed); write the repeated parts out instead of aliasing them"
    )]
    TooManyAliases {
        /// Line of the alias that crossed the limit.
        line: usize,
        /// The limit on alias expansions.
        max: usize,
    },
    /// No workload in the file has a container image.
    #[error(
        "the manifest has no container image in a Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob or Pod"
    )]
    NoWorkloads,
    /// No container uses the requested image repository.
    #[error(
        "no container uses the image repository `{wanted}`; the file's images are: {}",
        list(found)
    )]
    NoMatchingImage {
        /// The repository asked for.
        wanted: String,
        /// The images the file has.
        found: Vec<String>,
    },
    /// No container has the requested name.
    #[error("no container is named `{container}`; the file's containers are: {}", list(found))]
    UnknownContainer {
        /// The container name asked for.
        container: String,
        /// The container names the file has.
        found: Vec<String>,
    },
    /// Without a selector, the image to change is not clear.
    #[error("the file has several application images ({}); name the `container` or the `image` to change", images.join(", "))]
    AmbiguousImage {
        /// The distinct images of the application (non-init) containers.
        images: Vec<String>,
    },
    /// A matched container's image is written in a way that cannot be edited in place.
    #[error("the image of container `{container}` (line {line}) cannot be edited in place: {reason}")]
    UnsupportedImageScalar {
        /// The container.
        container: String,
        /// Line of the image value.
        line: usize,
        /// Why.
        reason: &'static str,
    },
    /// A matched container's current image is not a valid reference, so its repository is unknown.
    #[error(
        "the image `{image}` of container `{container}` (line {line}) is not a valid image reference; replace the whole reference instead"
    )]
    InvalidCurrentImage {
        /// The container.
        container: String,
        /// Line of the image value.
        line: usize,
        /// The current image text.
        image: String,
        /// Why it does not parse.
        #[source]
        source: ImageRefError,
    },
    /// The restart timestamp is not an RFC 3339 timestamp.
    #[error("invalid timestamp `{value}`: expected an RFC 3339 timestamp such as `2024-05-01T12:00:00Z`")]
    InvalidTimestamp {
        /// The refused value.
        value: String,
    },
    /// The file's structure does not allow the edit.
    #[error("cannot edit {what} `{name}` (line {line}): {reason}")]
    UnsupportedLayout {
        /// The workload kind.
        what: String,
        /// The workload name.
        name: String,
        /// Line of the node in question.
        line: usize,
        /// Why, and what to change.
        reason: &'static str,
    },
    /// A document cannot be turned into a Kubernetes object.
    #[error("document {document} (line {line}) is not a valid Kubernetes object: {reason}")]
    InvalidDocument {
        /// Index of the document in the file, from 0.
        document: usize,
        /// Line of the offending node.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
    }
}

impl EditError {
    /// A stable, low-cardinality name for the error, usable as a metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            EditError::TooLarge { .. } => "too_large",
            EditError::NotUtf8 { .. } => "not_utf8",
            EditError::Yaml { .. } => "yaml",
            EditError::TooDeep { .. } => "too_deep",
            EditError::TooManyDocuments { .. } => "too_many_documents",
            EditError::TooManyAliases { .. } => "too_many_aliases",
            EditError::NoWorkloads => "no_workloads",
            EditError::NoMatchingImage { .. } => "no_matching_image",
            EditError::UnknownContainer { .. } => "unknown_container",
            EditError::AmbiguousImage { .. } => "ambiguous_image",
            EditError::UnsupportedImageScalar { .. } => "unsupported_image_scalar",
            EditError::InvalidCurrentImage { .. } => "invalid_current_image",
            EditError::InvalidTimestamp { .. } => "invalid_timestamp",
            EditError::UnsupportedLayout { .. } => "unsupported_layout",
            EditError::InvalidDocument { .. } => "invalid_document",
        }
    }
}
