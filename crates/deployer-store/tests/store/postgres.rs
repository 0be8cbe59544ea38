//! The suite on PostgreSQL, plus connection failures and password handling.

use deployer_store::{DatabaseUrl, OpenError, StoreSettings, open};

use crate::harness::{Harness, PostgresHarness};

crate::behaviour_suite!(PostgresHarness);

#[tokio::test]
async fn a_wrong_password_is_unavailable_and_never_shown() {
    let h = PostgresHarness::new().await;
    let mut s = h.settings();
    let secret = "wrong-Pa55word-for-the-test";
    let file = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(file.path(), secret).unwrap_or_else(|e| panic!("{e}"));
    s.password_file = Some(file.path().to_owned());
    // The URL may carry its own password; this test needs the file's to be used.
    s.url = DatabaseUrl::parse(&h.url().replace(&password_part(h.url()), "")).unwrap_or_else(|e| panic!("{e}"));
    let err = open(&s).await.err();
    assert!(matches!(err, Some(OpenError::Unavailable { .. })), "{err:?}");
    let text = format!("{err:?} {}", err.as_ref().map(ToString::to_string).unwrap_or_default());
    assert!(!text.contains(secret), "{text}");
    h.cleanup().await;
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_with_the_password_redacted() {
    let mut s = StoreSettings::with_url(
        DatabaseUrl::parse("postgres://deployer:hunter2-secret@127.0.0.1:1/deployer_test")
            .unwrap_or_else(|e| panic!("{e}")),
    );
    s.busy_timeout = std::time::Duration::from_secs(2);
    let err = open(&s).await.err();
    assert!(matches!(err, Some(OpenError::Unavailable { .. })), "{err:?}");
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("postgres://deployer:***@127.0.0.1:1/deployer_test"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn a_password_in_two_places_is_refused() {
    let mut s =
        StoreSettings::with_url(DatabaseUrl::parse("postgres://u:p@127.0.0.1/x").unwrap_or_else(|e| panic!("{e}")));
    s.password_env = Some("DEPLOYER_TEST_UNUSED".to_owned());
    assert!(matches!(open(&s).await.err(), Some(OpenError::InvalidSettings { .. })));
}

/// `:password` of `scheme://user:password@host`, or nothing.
fn password_part(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return String::new();
    };
    let authority = &url[start..];
    let Some(at) = authority.find('@') else {
        return String::new();
    };
    authority[..at]
        .find(':')
        .map(|c| authority[c..at].to_owned())
        .unwrap_or_default()
}
