//! The domain of k8s-app-deployer: its model, the pure decisions and the ports.
//!
//! Nothing here does I/O. Triggers at the edge produce a [`model::DeployRequest`]; the
//! [`execute`] module carries it out through the [`ports`], whose implementations live in the
//! adapter crates (`deployer-git`, `deployer-kube`, `deployer-store`).

/// Image references: parsing, validation and normalisation as the distribution grammar says.
pub mod image;
