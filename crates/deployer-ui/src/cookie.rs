//! The session cookie: reading it from `Cookie`, writing it with `Set-Cookie`.
//!
//! The cookie is `HttpOnly` (pages cannot read it), `SameSite=Strict` (other sites cannot
//! make the browser send it), `Path=/`, and `Secure` when the service is served over HTTPS.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};

use crate::session::SessionId;

/// The cookie's name.
pub const NAME: &str = "kad_session";

/// The session id in the request's `Cookie` headers, if one is there and well-formed.
pub fn session_id(headers: &HeaderMap) -> Option<SessionId> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .and_then(|(_, value)| SessionId::parse(value.trim()))
}

/// `Set-Cookie` opening the session `id` for `max_age`.
pub fn open(id: &SessionId, max_age: Duration, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{NAME}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        id.as_str(),
        max_age.as_secs()
    ))
    .ok()
}

/// `Set-Cookie` making the browser forget the session cookie.
pub fn clear(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static("kad_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure")
    } else {
        HeaderValue::from_static("kad_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(header::COOKIE, HeaderValue::from_str(c).expect("a valid header"));
        }
        h
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&["theme=dark", &format!("a=1; {NAME}={ID}; b=2")]);
        assert_eq!(session_id(&h).map(|s| s.as_str().to_owned()), Some(ID.to_owned()));
    }

    #[test]
    fn a_malformed_or_missing_session_cookie_is_no_session() {
        assert!(session_id(&headers(&["kad_session=../../etc"])).is_none());
        assert!(session_id(&headers(&["other=1"])).is_none());
        assert!(session_id(&HeaderMap::new()).is_none());
    }

    #[test]
    fn the_cookie_is_http_only_and_same_site_strict() {
        let id = SessionId::parse(ID).expect("a valid id");
        let v = open(&id, Duration::from_secs(3600), false).expect("a valid header");
        let v = v.to_str().expect("ascii");
        assert!(
            v.contains("HttpOnly") && v.contains("SameSite=Strict") && v.contains("Max-Age=3600"),
            "{v}"
        );
        assert!(!v.contains("Secure"));
        let secure = open(&id, Duration::from_secs(1), true).expect("a valid header");
        assert!(secure.to_str().expect("ascii").ends_with("; Secure"));
        assert!(clear(false).to_str().expect("ascii").contains("Max-Age=0"));
    }
}
