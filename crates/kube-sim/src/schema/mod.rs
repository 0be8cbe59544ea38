//! Defaulting and validation of objects (spec §4.1, §4.2, §5), unknown-field detection,
//! semantic template equality, `kubectl` table printing (§3.5) and the minimal protobuf
//! decoder (§2.6). Plain functions over `serde_json::Value` objects; no HTTP and no store.

mod age;
mod defaults;
mod gofmt;
mod invalid;
mod protobuf;
mod table;
mod template;
mod unknown;
mod validate;

pub use age::human_duration;
pub use defaults::apply_defaults;
pub use invalid::{Cause, CauseReason, Invalid};
pub use protobuf::{ProtobufError, decode_protobuf};
pub use table::table;
pub use template::{canonical_template, semantically_equal_templates};
pub use unknown::{decode_error, unknown_fields};
pub use validate::validate;
