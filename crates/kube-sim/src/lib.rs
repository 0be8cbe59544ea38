//! kube-sim: a Kubernetes API server double.
//!
//! It serves the part of the Kubernetes REST API that k8s-app-deployer and `kubectl` use, over
//! real HTTP, and simulates the Deployment, ReplicaSet and Pod controllers on a deterministic
//! clock. Its behavioural specification is `shared/reference/kube-api.md`.
//!
//! The decisions live in plain modules that know nothing about HTTP: [`controllers`] (what the
//! controllers do on each tick), [`patch`] (merge, strategic-merge, JSON and server-side apply
//! patches with managed fields) and [`schema`] (defaulting and validation). The [`server`] and
//! [`store`] modules are the I/O around them.

/// The simulated clock that every timestamp, delay and deadline reads.
pub mod clock;
/// The Deployment, ReplicaSet and Pod controllers, as pure functions over a snapshot.
pub mod controllers;
/// Per-image pod behaviour rules (`ready`, `never-ready`, `image-pull-error`, …).
pub mod images;
/// Merge, strategic-merge, JSON and server-side apply patches, with managed fields.
pub mod patch;
/// Deterministic pseudo-random numbers for uids and name suffixes.
pub mod rng;
/// Defaulting and validation of objects, and `kubectl` table printing.
pub mod schema;
/// The HTTP server: routing, discovery, OpenAPI, watches, TLS and the `/_sim/` control API.
pub mod server;
/// The in-memory object store with a global resource version and watch history.
pub mod store;
