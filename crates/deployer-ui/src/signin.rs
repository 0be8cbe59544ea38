//! `POST /ui/login`, `POST /ui/logout` and `GET /ui/session`.
//!
//! Sign-in exchanges an API token for a session: the token is checked by asking the API who it
//! is (`GET /api/v1/whoami`, which any valid token may call: 200 means the token is valid, 401
//! that it is not, and the answer's `everywhere` says whether it reads the whole history), then
//! kept server-side; the browser gets only the `HttpOnly` session cookie and the session's CSRF
//! token. Answers are JSON when the request accepts `application/json` (the
//! pages' script), and a `303` redirect to `/` otherwise (a plain HTML form).

use std::time::Instant;

use axum::Extension;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::cookie;
use crate::error::UiError;
use crate::layer::{CSRF_HEADER, UiContext};
use crate::session::Session;

/// The longest token accepted at sign-in.
const MAX_TOKEN_LEN: usize = 1024;

/// The API request that checks a token at sign-in.
const PROBE: &str = "/api/v1/whoami";

/// The part of the API's `whoami` answer sign-in reads.
#[derive(Debug, Deserialize)]
struct WhoAmI {
    /// The actions the token may take on every target.
    everywhere: Vec<String>,
}

/// Whether a `whoami` answer says the token reads every target (`read` among `everywhere`);
/// `None` when the body is not a `whoami` answer.
pub fn reads_everything(whoami: &[u8]) -> Option<bool> {
    let me: WhoAmI = serde_json::from_slice(whoami).ok()?;
    Some(me.everywhere.iter().any(|action| action == "read"))
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// Whether the request comes from the deployer's own pages: `Origin`, when sent, names this
/// host, and `Sec-Fetch-Site`, when sent, says `same-origin` (or `none`, typed by the user).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_ok = match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        None => true,
        Some(Ok(origin)) => host.is_some_and(|h| {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                == Some(h)
        }),
        Some(Err(_)) => false,
    };
    let fetch_ok = match headers.get("sec-fetch-site").map(|v| v.to_str()) {
        None => true,
        Some(Ok(site)) => matches!(site, "same-origin" | "none"),
        Some(Err(_)) => false,
    };
    origin_ok && fetch_ok
}

/// The value of `name` in a URL-encoded form (values of interest here never need decoding
/// beyond `+` and `%XX`).
pub fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| percent_decode(v))
}

fn percent_decode(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = (bytes.next()? as char).to_digit(16)?;
                let lo = (bytes.next()? as char).to_digit(16)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}

/// Whether `token` could be an API token: printable ASCII without spaces, not too long.
pub fn plausible_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic())
}

fn session_body(session: &Session) -> serde_json::Value {
    json!({
        "csrf_token": session.csrf.as_str(),
        "reads_everything": session.reads_everything,
        "expires_in_seconds": session.expires_in.as_secs(),
    })
}

fn refuse(json: bool, error: UiError) -> Response {
    if json {
        error.into_response()
    } else {
        Redirect::to(&format!("/?signin={}", error.kind())).into_response()
    }
}

/// `POST /ui/login` with the form field `token`.
pub async fn login(ctx: Option<Extension<UiContext>>, headers: HeaderMap, body: Bytes) -> Response {
    let json = wants_json(&headers);
    let Some(Extension(ctx)) = ctx else {
        return UiError::LayerMissing.into_response();
    };
    if !same_origin(&headers) {
        return refuse(json, UiError::ForeignOrigin);
    }
    let token = form_value(&body, "token")
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    if !plausible_token(&token) {
        return refuse(json, UiError::TokenMalformed);
    }
    let token = SecretString::from(token);
    let answer = ctx.api.get(PROBE, &token).await;
    let reads_everything = match answer.status {
        StatusCode::OK => match reads_everything(&answer.body) {
            Some(reads) => reads,
            None => {
                tracing::warn!(message = "The API's whoami answer could not be read at sign-in.");
                return refuse(json, UiError::Unavailable);
            }
        },
        StatusCode::UNAUTHORIZED => return refuse(json, UiError::TokenRefused),
        StatusCode::TOO_MANY_REQUESTS => return refuse(json, UiError::RateLimited),
        other => {
            tracing::warn!(
                message = "The API could not check a token at sign-in.",
                status = other.as_u16()
            );
            return refuse(json, UiError::Unavailable);
        }
    };
    let session = ctx.store.open(token, reads_everything, Instant::now());
    let lifetime = ctx.store.limits().lifetime;
    let Some(set_cookie) = cookie::open(&session.id, lifetime, ctx.secure_cookies) else {
        ctx.store.close(&session.id);
        return UiError::Unavailable.into_response();
    };
    let mut response = if json {
        (StatusCode::OK, axum::Json(session_body(&session))).into_response()
    } else {
        Redirect::to("/").into_response()
    };
    response.headers_mut().insert(header::SET_COOKIE, set_cookie);
    response
}

/// `POST /ui/logout`, with the CSRF token in `X-CSRF-Token` or the form field `csrf_token`.
pub async fn logout(ctx: Option<Extension<UiContext>>, headers: HeaderMap, body: Bytes) -> Response {
    let json = wants_json(&headers);
    let Some(Extension(ctx)) = ctx else {
        return UiError::LayerMissing.into_response();
    };
    if !same_origin(&headers) {
        return refuse(json, UiError::ForeignOrigin);
    }
    let Some(session) = ctx.session else {
        return refuse(json, UiError::NotSignedIn);
    };
    let presented = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| form_value(&body, "csrf_token"));
    if !presented.is_some_and(|p| session.csrf.matches(&p)) {
        return refuse(json, UiError::CsrfRejected);
    }
    ctx.store.close(&session.id);
    let mut response = if json {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Redirect::to("/").into_response()
    };
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie::clear(ctx.secure_cookies));
    response
}

/// `GET /ui/session`: the session's CSRF token, whether its token reads the whole history,
/// and how long it lasts if unused; 401 without a session. The API token is never returned.
pub async fn session(ctx: Option<Extension<UiContext>>) -> Response {
    let Some(Extension(ctx)) = ctx else {
        return UiError::LayerMissing.into_response();
    };
    match ctx.session {
        Some(s) => axum::Json(session_body(&s)).into_response(),
        None => UiError::NotSignedIn.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn requests_from_this_host_or_without_origin_are_same_origin() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(same_origin(&headers(&[
            ("host", "d.example"),
            ("sec-fetch-site", "same-origin")
        ])));
    }

    #[test]
    fn requests_from_other_sites_are_not_same_origin() {
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "d.example"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(
            !same_origin(&headers(&[("origin", "http://d.example")])),
            "no host to compare with"
        );
    }

    #[test]
    fn form_values_are_decoded() {
        assert_eq!(
            form_value(b"a=1&token=demo-ab%2Bc", "token"),
            Some("demo-ab+c".to_owned())
        );
        assert_eq!(form_value(b"token=a+b", "token"), Some("a b".to_owned()));
        assert_eq!(form_value(b"token=%zz", "token"), None);
        assert_eq!(form_value(b"other=1", "token"), None);
    }

    #[test]
    fn a_whoami_answer_says_whether_the_token_reads_everything() {
        let admin = br#"{"name": "ops", "identity": "ops/config", "scopes": ["admin:*"],
            "everywhere": ["read", "deploy", "rollback", "pin", "admin"]}"#;
        assert_eq!(reads_everything(admin), Some(true));
        let narrow =
            br#"{"name": "ci", "identity": "ci/config", "scopes": ["deploy:staging/*/*/*"], "everywhere": []}"#;
        assert_eq!(reads_everything(narrow), Some(false));
    }

    #[test]
    fn an_answer_that_is_not_from_whoami_is_not_read_as_one() {
        assert_eq!(reads_everything(b""), None);
        assert_eq!(reads_everything(br#"{"items": []}"#), None);
        assert_eq!(reads_everything(br#"{"everywhere": "read"}"#), None);
    }

    #[test]
    fn only_printable_tokens_are_plausible() {
        assert!(plausible_token("demo-0123abcd"));
        assert!(!plausible_token(""));
        assert!(!plausible_token("has space"));
        assert!(!plausible_token(&"x".repeat(MAX_TOKEN_LEN + 1)));
    }
}
