//! Deployment events out of the real `k8s-app-deployer serve` process: a Kafka topic read with
//! a separate client, a Slack Web API stand-in and a signed webhook receiver, through the
//! outbox, with the broker stopped and the deployer killed; `/metrics` and the dead-events API.
//!
//! The Kafka tests need a broker: `scripts/test` starts one and exports `KAFKA_BOOTSTRAP`;
//! without it they fail saying so. The outage test runs a broker of its own (the binary that
//! `scripts/kafka-broker path` installs) so that it can stop it.

mod bed;
mod check;
mod crash;
mod dead_events;
mod delivery;
mod kafka;
mod outage;
mod receivers;
