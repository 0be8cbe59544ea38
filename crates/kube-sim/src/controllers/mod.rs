//! The simulated Deployment, ReplicaSet and Pod (kubelet) controllers and the garbage
//! collector, as pure code: [`Controllers::tick`] takes a [`Snapshot`] of the stored objects
//! and the time, and returns the [`Action`]s (writes) to make through the store.
//!
//! - Deployment controller: spec §7.1 (see [`deployment`]).
//! - ReplicaSet controller: spec §7.2.
//! - Kubelet: spec §8, pod statuses from the image rules of [`crate::images`].
//! - Garbage collector: spec §3.6.
//!
//! Determinism: objects are processed in (namespace, name) order and every generated name
//! comes from the seeded [`crate::rng::SimRng`], so the same snapshots, times and seed give the
//! same actions. See [`Controllers`] for the controller lag and the order within a tick.

mod adoption;
mod deployment;
mod events;
mod fasthash;
mod gc;
mod index;
mod json;
pub mod kubelet;
mod manager;
mod meta;
mod model;
mod replicaset;
pub mod template;

#[cfg(test)]
mod tests;

pub use manager::{Controllers, NextPass};
pub use model::{Action, Snapshot};
