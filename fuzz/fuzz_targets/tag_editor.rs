//! The manifest tag editor: never panics on any file; an accepted edit gives a file that
//! parses, lists the new tag, and is unchanged by the same edit again.

#![no_main]

use deployer_core::image::Tag;
use deployer_manifest::{ImageSelector, Limits, NewImage, list_images, set_image};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(tag) = Tag::new("9.9.9-fuzz") else { return };
    let new = NewImage::Tag(tag);
    let Ok(edit) = set_image(data, &ImageSelector::default(), &new, &limits) else { return };
    let images = match list_images(&edit.content, &limits) {
        Ok(images) => images,
        Err(e) => panic!("an edited file no longer parses: {e}"),
    };
    assert!(!images.is_empty(), "an edited file lists no image");
    match set_image(&edit.content, &ImageSelector::default(), &new, &limits) {
        Ok(again) => {
            assert_eq!(again.content, edit.content, "the edit is not idempotent");
            assert!(again.changes.is_empty(), "a second edit still changes something");
        }
        Err(e) => panic!("the same edit fails on its own output: {e}"),
    }
});
