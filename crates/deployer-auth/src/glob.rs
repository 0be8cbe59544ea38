//! Glob matching of one target-pattern part: `*` matches any run of characters, everything
//! else matches itself.

/// Whether `text` matches `pattern`, where `*` stands for any (possibly empty) run of
/// characters. Case-sensitive; no other wildcard exists.
///
/// The classic two-pointer algorithm: linear in practice, `O(pattern × text)` at worst, and
/// both are short (a part is at most 128 characters).
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and where in the text its match currently ends.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` swallow one more character and retry from there.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn a_lone_star_matches_anything_including_nothing() {
        for text in ["", "api", "us-west-2", "a*b"] {
            assert!(matches("*", text), "{text:?}");
        }
    }

    #[test]
    fn literals_match_only_themselves() {
        assert!(matches("api", "api"));
        assert!(!matches("api", "api2"));
        assert!(!matches("api", "ap"));
        assert!(!matches("api", "API"));
        assert!(!matches("api", ""));
    }

    #[test]
    fn stars_match_prefixes_suffixes_and_middles() {
        assert!(matches("api-*", "api-"));
        assert!(matches("api-*", "api-gateway"));
        assert!(!matches("api-*", "api"));
        assert!(!matches("api-*", "web-api-x"));
        assert!(matches("*-canary", "api-canary"));
        assert!(!matches("*-canary", "api-canary-2"));
        assert!(matches("prod-*-a", "prod-eu-1-a"));
        assert!(!matches("prod-*-a", "prod-eu-1-b"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(matches("a*b*c", "abc"));
        assert!(!matches("a*b*c", "acb"));
        assert!(matches("**", "x"));
    }
}
