//! The Harbor webhook parser, authenticated: never panics.

#![no_main]

mod common;

use deployer_triggers::webhook::{Headers, harbor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let headers = Headers::new([("Authorization", common::TOKEN)]);
    let _ = harbor::receive(&common::hooks(), &headers, data);
});
