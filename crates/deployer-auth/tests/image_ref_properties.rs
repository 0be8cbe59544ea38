//! Property tests of the image reference parser, which reads references from API bodies,
//! webhook payloads and CI releases: it never panics, and whatever it accepts prints back to
//! text that parses to the same reference. The same properties are fuzzed by `fuzz/`'s
//! `image_ref` target.

use deployer_core::image::ImageRef;
use proptest::prelude::*;

/// Well-formed references built from the grammar's pieces.
fn reference() -> impl Strategy<Value = String> {
    let domain = prop_oneof![
        Just(String::new()),
        "[a-z0-9]{1,8}(\\.[a-z0-9]{1,8}){1,2}/",
        "[a-z0-9]{1,8}\\.[a-z]{2,3}:[1-9][0-9]{1,4}/",
        Just("localhost:5000/".to_owned()),
    ];
    // No `.` in path components: a first component with one would read as a domain.
    let component = "[a-z0-9]{1,6}([_-][a-z0-9]{1,6}){0,2}";
    let path = proptest::collection::vec(component, 1..4).prop_map(|c| c.join("/"));
    let tag = prop_oneof![
        Just(String::new()),
        "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}".prop_map(|t| format!(":{t}"))
    ];
    let digest = prop_oneof![Just(String::new()), "[0-9a-f]{64}".prop_map(|h| format!("@sha256:{h}"))];
    (domain, path, tag, digest).prop_map(|(d, p, t, g)| format!("{d}{p}{t}{g}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_is_parsed_or_refused_without_panicking_and_accepted_text_round_trips(text in ".{0,80}") {
        if let Ok(image) = ImageRef::parse(&text) {
            let printed = image.to_string();
            prop_assert_eq!(ImageRef::parse(&printed).ok(), Some(image));
        }
    }

    #[test]
    fn text_near_the_grammar_round_trips_when_accepted(text in "[a-zA-Z0-9:/@._-]{0,60}") {
        if let Ok(image) = ImageRef::parse(&text) {
            let printed = image.to_string();
            prop_assert_eq!(ImageRef::parse(&printed).ok(), Some(image));
        }
    }

    #[test]
    fn well_formed_references_are_accepted_and_print_as_written(text in reference()) {
        let image = ImageRef::parse(&text);
        prop_assert!(image.is_ok(), "refused `{}`: {:?}", text, image);
        prop_assert_eq!(image.map(|i| i.to_string()).ok(), Some(text));
    }
}
