//! One module per subcommand.

/// `clusters`.
pub mod clusters;
/// `demo`.
pub mod demo;
/// `deploy`.
pub mod deploy;
/// `history`.
pub mod history;
/// `pin` and `unpin`.
pub mod pin;
/// `release`.
pub mod release;
/// `rollback`.
pub mod rollback;
/// `serve`.
pub mod serve;
/// `status`.
pub mod status;
/// `token create`, `token list` and `token revoke`.
pub mod token;
