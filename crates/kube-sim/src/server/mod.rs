//! The HTTP server of kube-sim: routing, discovery and OpenAPI, the resource endpoints,
//! watches, TLS and bearer-token checks, fault injection, the `/_sim/` control API and the
//! controller loop that drives the simulated controllers.
//!
//! Start a cluster in-process with [`SimCluster::start`]; the `kube-sim` binary is a thin
//! wrapper around it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kube_sim::server::StartError> {
//! use kube_sim::server::{SimCluster, SimOptions};
//! let cluster = SimCluster::start(SimOptions::named("eu-west-1a")).await?;
//! std::fs::write("/tmp/kubeconfig", cluster.kubeconfig()).ok();
//! cluster.control().pause_controllers();
//! cluster.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
mod cluster;
mod context;
mod control;
mod controller_loop;
mod discovery;
mod faults;
mod kubeconfig;
mod niceness;
mod request;
mod response;
mod router;
mod tls;
mod watch;

pub use cluster::{SimCluster, SimOptions, StartError};
pub use control::Control;
pub use faults::{FaultCode, Faults, Verb, VerbFault};
pub use kubeconfig::kubeconfig_for;
pub use tls::TlsError;
