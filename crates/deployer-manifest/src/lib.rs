//! Byte-preserving edits of Kubernetes manifests.
//!
//! The deployer changes one thing in an application file of the configuration repository:
//! the image of its containers ([`set_image`]), or the pod template's restart annotation
//! ([`set_restarted_at`]). Everything else — comments, quoting, key order, indentation,
//! document separators, line endings, a byte order mark, the trailing newline — stays byte
//! for byte, because people review these files in pull requests and `git blame` them. The
//! crate also lists the images ([`list_images`]) and reads the file as JSON objects for
//! server-side apply ([`parse_documents`]). Everything here is pure: bytes in, bytes out.
//!
//! # How an edit works
//! The file is parsed into a tree whose nodes carry their byte offsets. The edit finds the scalar to change, locates its exact token in the source
//! (quotes included), renders the new value in the same style and splices it in. No YAML is
//! ever re-serialised, so nothing else can change. Values that cannot be rewritten exactly
//! (block scalars, multi-line or escaped scalars) are refused with an error rather than
//! approximated.
//!
//! # Choice of YAML parser
//! `serde_yaml` is unmaintained and does not expose positions. Of the maintained parsers,
//! `saphyr-parser` was chosen over `yaml-rust2`: both are pure-Rust YAML 1.2 parsers that pass
//! the YAML test suite and have an event API reporting anchors, aliases, tags and the scalar
//! style (plain, single, double, literal, folded), but `saphyr-parser` gives every event a
//! full span (start *and* end) while `yaml-rust2` only marks where an event starts. Its
//! offsets count characters, not bytes, so they are mapped to bytes here, and a scalar's
//! exact token is re-scanned from its start (a span may include the anchor or a trailing
//! comment). CRLF, a BOM, flow style, multi-document streams and `...` end markers are handled
//! by the parser itself. It keeps an explicit state stack instead of recursing (its scanner
//! caps flow nesting at 255 levels), and events are pulled one at a time, so [`Limits`] stops
//! deep nesting, floods of documents and alias bombs at the first event that crosses them,
//! before anything is expanded.
//!
//! # Decisions
//! - Workloads are Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController,
//!   Job, CronJob and Pod, in any document; `kind: List` items count as objects of their own.
//! - Which images change, and how anchors are treated: see [`set_image`].
//! - Document indexes count every document of the stream, empty ones included, from 0.
//! - Duplicate keys in a mapping are a YAML error, as the YAML specification says.
//! - [`parse_documents`] resolves scalars as `kubectl` does (YAML 1.1 booleans such as `yes`
//!   and `n`), applies `<<` merge keys, and flattens `kind: List` into its items.
//! - [`set_restarted_at`] returns an [`Edit<RestartChange>`](Edit); [`Edit`] defaults to
//!   image changes.

mod error;
mod images;
mod limits;
mod objects;
mod port;
mod restart;
mod splice;
mod tree;
mod workload;

pub use error::EditError;
pub use images::{Edit, ImageChange, ImageSelector, NewImage, list_images, set_image};
pub use limits::Limits;
pub use objects::parse_documents;
pub use port::ManifestEditor;
pub use restart::{RESTARTED_AT, RestartChange, set_restarted_at};
pub use workload::{ContainerImage, WORKLOAD_KINDS};
