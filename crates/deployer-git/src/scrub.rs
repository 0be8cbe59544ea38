//! Removing secrets from text that may reach a log line or an API answer.

/// What a removed secret is replaced with.
pub const REDACTED: &str = "***";

/// Replaces every occurrence of each secret in `text`, then any credentials in URLs.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, REDACTED);
    }
    scrub_url_credentials(&out)
}

/// Replaces the user-info part (`user:password@`) of every `scheme://` URL in `text`.
pub fn scrub_url_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_url_credentials_are_replaced() {
        let text = "fatal: unable to access 'https://bob:tok123@example.com/x.git/': tok123 refused";
        assert_eq!(
            scrub(text, &["tok123", ""]),
            "fatal: unable to access 'https://***@example.com/x.git/': *** refused"
        );
    }

    #[test]
    fn text_without_credentials_is_unchanged() {
        let text = "ssh://git@example.com:22/x and /srv/a://b";
        assert_eq!(scrub_url_credentials("https://example.com/x"), "https://example.com/x");
        assert_eq!(scrub(text, &[]), "ssh://***@example.com:22/x and /srv/a://b");
    }
}
