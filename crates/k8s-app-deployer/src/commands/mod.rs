//! One module per subcommand.

/// `clusters`.
pub mod clusters;
/// `deploy`.
pub mod deploy;
/// `history`.
pub mod history;
/// `status`.
pub mod status;
