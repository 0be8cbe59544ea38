//! `ImageRef::parse`: never panics, and what it accepts prints back to text that parses to
//! the same reference.

#![no_main]

use deployer_core::image::ImageRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(image) = ImageRef::parse(text) {
        let printed = image.to_string();
        match ImageRef::parse(&printed) {
            Ok(again) => assert_eq!(again, image, "`{text}` printed as `{printed}`"),
            Err(e) => panic!("`{text}` printed as `{printed}`, which does not parse: {e}"),
        }
    }
});
