//! The quay webhook parser, authenticated: never panics, whatever the body.

#![no_main]

mod common;

use deployer_triggers::webhook::quay;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = quay::receive(&common::hooks(), common::TOKEN, data);
});
