//! Server tests: the real router, queue and executor over in-memory ports, spoken to over HTTP.

mod fakes;
mod support;

mod commit_links;
mod deployments;
mod events;
mod executor;
mod openapi;
mod overview;
mod queue;
mod security;
mod triggers;
