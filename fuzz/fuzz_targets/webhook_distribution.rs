//! The Distribution (Docker registry) webhook parser, authenticated: never panics.

#![no_main]

mod common;

use deployer_triggers::webhook::{Headers, distribution};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bearer = format!("Bearer {}", common::TOKEN);
    let headers = Headers::new([("Authorization", bearer.as_str())]);
    let _ = distribution::receive(&common::hooks(), &headers, data);
});
