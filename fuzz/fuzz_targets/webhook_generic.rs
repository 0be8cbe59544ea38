//! The generic (signed JSON) webhook parser, with a valid timestamp and signature over the
//! fuzzed body: never panics.

#![no_main]

mod common;

use chrono::DateTime;
use deployer_triggers::webhook::{Headers, ReplayCache, generic, sign_sha256};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = DateTime::from_timestamp(1_764_138_000, 0).unwrap_or_default();
    let ts = now.timestamp().to_string();
    let signature = sign_sha256(common::TOKEN.as_bytes(), &[ts.as_bytes(), b".", data]);
    let headers = Headers::new([
        ("X-Deployer-Timestamp", ts.as_str()),
        ("X-Deployer-Signature", signature.as_str()),
    ]);
    let _ = generic::receive(&common::hooks(), &headers, data, now, &mut ReplayCache::new(4));
});
