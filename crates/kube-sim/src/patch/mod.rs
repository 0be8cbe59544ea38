//! Merge (RFC 7386), strategic-merge, JSON (RFC 6902) and server-side apply patches, with the
//! managed-fields bookkeeping of every write (spec §3.3 and §4.3).
//!
//! Everything here is a plain function over `serde_json::Value` objects in their stored JSON
//! form; no HTTP and no store.

mod apply;
mod error;
mod fieldset;
mod json;
mod managed;
mod merge;
mod shape;
mod strategic;
mod walk;

pub use apply::{ApplyConflicts, ApplyError, Conflict, applied_fields, server_side_apply, server_side_apply_to};
pub use error::PatchError;
pub use fieldset::{FieldSet, FieldsDecodeError, PathElement, path_to_string};
pub use json::json_patch;
pub use managed::{Operation, record_update};
pub use merge::merge_patch;
pub use strategic::strategic_merge_patch;

#[cfg(test)]
mod apply_tests;
