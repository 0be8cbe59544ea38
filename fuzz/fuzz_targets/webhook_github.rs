//! The GitHub (ghcr.io) webhook parser, with a valid signature over the fuzzed body: never
//! panics.

#![no_main]

mod common;

use deployer_triggers::webhook::{Headers, github, sign_sha256};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let signature = sign_sha256(common::TOKEN.as_bytes(), &[data]);
    for event in ["package", "registry_package"] {
        let headers = Headers::new([("X-GitHub-Event", event), ("X-Hub-Signature-256", signature.as_str())]);
        let _ = github::receive(&common::hooks(), &headers, data);
    }
});
