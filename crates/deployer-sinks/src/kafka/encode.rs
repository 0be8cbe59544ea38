//! The Kafka record of an event and its partition, as pure functions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::cloudevents::CloudEvent;

/// The `content-type` header of structured mode, as the CloudEvents Kafka binding writes it.
pub const CONTENT_TYPE: &str = "application/cloudevents+json; charset=UTF-8";

/// A record ready to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRecord {
    /// `<region>/<cluster>/<file>`.
    pub key: String,
    /// The CloudEvent JSON.
    pub value: Vec<u8>,
    /// `content-type` and the `ce_` attribute headers.
    pub headers: BTreeMap<String, Vec<u8>>,
    /// The record timestamp: when the event happened.
    pub timestamp: DateTime<Utc>,
}

/// The record of an event that happened at `at`.
pub fn record(event: &CloudEvent, at: DateTime<Utc>) -> KafkaRecord {
    let mut headers = BTreeMap::new();
    headers.insert("content-type".to_owned(), CONTENT_TYPE.as_bytes().to_vec());
    for (name, value) in [
        ("ce_specversion", event.specversion),
        ("ce_id", event.id.as_str()),
        ("ce_type", event.event_type),
        ("ce_source", event.source.as_str()),
        ("ce_subject", event.subject.as_str()),
        ("ce_time", event.time.as_str()),
    ] {
        headers.insert(name.to_owned(), value.as_bytes().to_vec());
    }
    KafkaRecord {
        key: event.subject.clone(),
        value: event.to_json(),
        headers,
        timestamp: at,
    }
}

/// The partition of `key` among `partitions` (at least 1): the positive part of
/// [`murmur2`] modulo the count, as Kafka's Java default partitioner computes it.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    let positive = murmur2(key) & 0x7fff_ffff;
    positive % partitions.max(1)
}

/// Kafka's murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    // Kafka hashes the length as a Java int; keys are far shorter than 2^31.
    let mut h: u32 = SEED ^ u32::try_from(len).unwrap_or(u32::MAX);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    i32::from_ne_bytes(h.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_test_vectors() {
        // From Kafka's UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            (b"abc", 479_470_107),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur2(input), expected, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn a_key_always_gets_the_same_partition_within_range() {
        for n in 1..8 {
            let p = partition_for(b"us-west-2/prod-1/api", n);
            assert!((0..n).contains(&p));
            assert_eq!(p, partition_for(b"us-west-2/prod-1/api", n));
        }
    }
}
