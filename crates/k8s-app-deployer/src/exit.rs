//! The documented exit codes.

use std::process::ExitCode;

/// The deployment succeeded, or the file already had that image.
pub const SUCCEEDED: u8 = 0;
/// The deployment failed (the rollout, the push, the apply…).
pub const FAILED: u8 = 1;
/// The request was rejected: bad input, not allowed, unknown target, or a usage error.
pub const REJECTED: u8 = 2;
/// Waiting for the outcome took longer than `--timeout`.
pub const TIMED_OUT: u8 = 70;
/// The deployer could not be reached.
pub const UNAVAILABLE: u8 = 69;

/// The exit code for a deployment's final status.
pub fn for_status(status: &str) -> ExitCode {
    match status {
        "succeeded" | "unchanged" => ExitCode::from(SUCCEEDED),
        "failed" => ExitCode::from(FAILED),
        _ => ExitCode::from(TIMED_OUT),
    }
}
