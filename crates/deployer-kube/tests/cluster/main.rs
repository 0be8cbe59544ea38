//! The cluster adapter against kube-sim, the project's Kubernetes API double.

mod apply;
mod resilience;
mod rollout;
mod secured;
mod shared;
mod startup;
mod support;
mod unreachable;
