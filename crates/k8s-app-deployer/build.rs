//! Lays out side by side, in release builds, the code that start-up, an idle service and a
//! deployment run.
//!
//! The kernel maps a program's code in 64 KiB windows (fault-around), or whole page-cache folios,
//! around each page that first runs. The few thousand functions that start-up runs were spread
//! over 20 MB of code, and kept about 13 MiB of it resident in an idle service. `code-order.txt`
//! lists them, then the functions a deployment adds (`scripts/code-order` regenerates it), and
//! the linker places them first, in that order. Names it does not find are skipped, so a list
//! older than the code costs only part of the gain. Only `rust-lld`, the default linker of
//! `x86_64-unknown-linux-gnu` since Rust 1.90, takes the list: any other target, or a linker
//! chosen in the configuration or in `RUSTFLAGS` (`-C linker…`), leaves the layout alone, as
//! does `K8S_APP_DEPLOYER_NO_ORDER=1`.

use std::env;
use std::path::Path;

fn main() {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let order = Path::new(&manifest_dir).join("code-order.txt");
    println!("cargo:rerun-if-changed=code-order.txt");
    println!("cargo:rerun-if-env-changed=K8S_APP_DEPLOYER_NO_ORDER");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let default_linker = env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu")
        && env::var_os("RUSTC_LINKER").is_none()
        && !env::var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|f| f.contains("linker"));
    let wanted = env::var_os("K8S_APP_DEPLOYER_NO_ORDER").is_none();
    if release && default_linker && wanted && order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
