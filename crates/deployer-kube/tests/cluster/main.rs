//! The cluster adapter against kube-sim, the project's Kubernetes API double.

mod apply;
mod in_flight;
mod reachable;
mod resilience;
mod rollout;
mod secured;
mod shared;
mod startup;
mod support;
mod unreachable;
