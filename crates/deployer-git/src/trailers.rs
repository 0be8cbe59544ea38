//! Commit message trailers, parsed the strict way: only the last paragraph counts, and only
//! when every one of its lines is a `Key: value` trailer (or a continuation of one).

/// The trailers of `message`, in order. A message made of a single paragraph has none, and a
/// `Key: value` line anywhere but in the final all-trailers paragraph is not a trailer.
pub fn parse_trailers(message: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = message.lines().collect();
    let Some(last_text) = lines.iter().rposition(|l| !l.trim().is_empty()) else {
        return Vec::new();
    };
    let Some(blank) = lines[..last_text].iter().rposition(|l| l.trim().is_empty()) else {
        return Vec::new();
    };
    // The subject paragraph is never a trailer block.
    if !lines[..blank].iter().any(|l| !l.trim().is_empty()) {
        return Vec::new();
    }
    let mut trailers: Vec<(String, String)> = Vec::new();
    for line in &lines[blank + 1..=last_text] {
        if line.starts_with([' ', '\t']) {
            match trailers.last_mut() {
                Some((_, value)) => {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                None => return Vec::new(),
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Vec::new();
        };
        let key_ok =
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !key.starts_with('-');
        if !key_ok {
            return Vec::new();
        }
        trailers.push((key.to_owned(), value.trim().to_owned()));
    }
    trailers
}

/// Whether `message` carries the trailer `key: value` (keys compare case-insensitively).
pub fn has_trailer(message: &str, key: &str, value: &str) -> bool {
    parse_trailers(message)
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case(key) && v == value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_paragraph_of_trailers_is_parsed() {
        let msg = "deploy web\n\nbody text\n\nDeployment-Id: 01H\nRequested-By: alice\n";
        assert_eq!(
            parse_trailers(msg),
            vec![
                ("Deployment-Id".to_owned(), "01H".to_owned()),
                ("Requested-By".to_owned(), "alice".to_owned())
            ]
        );
        assert!(has_trailer(msg, "deployment-id", "01H"));
        assert!(!has_trailer(msg, "Deployment-Id", "01"));
    }

    #[test]
    fn trailer_lines_in_the_body_do_not_count() {
        let msg = "deploy web\n\nDeployment-Id: forged\n\nRequested-By: alice\n";
        assert!(!has_trailer(msg, "Deployment-Id", "forged"));
        let mixed = "deploy web\n\nDeployment-Id: forged\nthis line is prose\n";
        assert!(parse_trailers(mixed).is_empty());
    }

    #[test]
    fn a_subject_alone_has_no_trailers() {
        assert!(parse_trailers("Deployment-Id: x\n").is_empty());
        assert!(parse_trailers("").is_empty());
        assert!(parse_trailers("\n\nDeployment-Id: x").is_empty());
    }

    #[test]
    fn continuation_lines_extend_the_previous_value() {
        let msg = "s\n\nNote: first\n  second\n";
        assert_eq!(
            parse_trailers(msg),
            vec![("Note".to_owned(), "first second".to_owned())]
        );
    }
}
