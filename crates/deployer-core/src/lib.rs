//! The domain of k8s-app-deployer: its model, the pure decisions and the ports.
//!
//! Nothing here does I/O. Triggers at the edge produce a [`model::DeployRequest`]; the
//! [`execute`] module carries it out through the [`ports`], whose implementations live in the
//! adapter crates (`deployer-git`, `deployer-kube`, `deployer-store`, `deployer-manifest`).

/// Commit messages and trailers built from user text, safely.
pub mod commit;
/// The domain error that the API turns into HTTP answers.
pub mod error;
/// The executor: carries a deployment through its phases using the ports.
pub mod execute;
/// Image references: parsing, validation and normalisation as the distribution grammar says.
pub mod image;
/// Names, requests, records and events.
pub mod model;
/// The traits the adapters implement.
pub mod ports;
/// Rollback requests built from the history.
pub mod rollback;
/// The rollout verdict of `kubectl rollout status`, as a pure function.
pub mod rollout;
