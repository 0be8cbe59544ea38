//! Kafka: every event as a structured-mode CloudEvent on one topic, keyed by target.
//!
//! # Records
//! - **key**: `<region>/<cluster>/<file>`; the partition is `murmur2(key) mod partitions`
//!   (positive part), the rule of Kafka's Java default partitioner, so all events of a
//!   target land in one partition, in order, and other producers using that rule agree;
//! - **value**: the CloudEvent JSON ([`crate::cloudevents`]);
//! - **headers**: `content-type: application/cloudevents+json; charset=UTF-8` (what makes it
//!   structured mode in the CloudEvents Kafka binding), plus copies of the attributes as
//!   `ce_specversion`, `ce_id`, `ce_type`, `ce_source`, `ce_subject` and `ce_time`, which the
//!   binding allows in structured mode and which let consumers route without parsing.
//!
//! # Client
//! [`rskafka`] 0.6, pure Rust: no librdkafka to build or link (Debian's librdkafka 2.0.2 cannot
//! even talk to the Tansu broker used in CI). Its produce requests always ask for `acks = -1`
//! (all in-sync replicas) with a 30 s broker-side timeout; this is not configurable in 0.6
//! and is what we want. rskafka retries connection failures by itself with backoff; the
//! sink bounds that with `timeout` so a dead broker becomes a retryable failure the worker
//! schedules. rskafka has no idempotent producer, so a retried produce can write an event
//! twice; consumers drop duplicates by the CloudEvent `id`.
//!
//! The topic is never created by the sink: operators create it (with the partition count
//! and replication they want). A missing topic is a retryable failure.

mod config;
mod deliver;
mod encode;

pub use config::{KafkaConfig, KafkaSasl, KafkaSettings, KafkaTls, SaslMechanism, TopicName};
pub use deliver::KafkaSink;
pub use encode::{KafkaRecord, murmur2, partition_for, record};
