//! The session layer in front of a stand-in API that answers with what it was sent.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use deployer_ui::{UiSettings, compose};
use serde_json::{Value, json};
use tower::ServiceExt;

const GOOD: &str = "good-token-0123";
const READER: &str = "reader-token-0123";

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

/// Answers like the API's authentication would: 401 for unknown tokens; `whoami` for any valid
/// one (`GOOD` reads everywhere, `READER` nowhere in particular); otherwise it echoes what
/// reached it.
fn api() -> Router {
    async fn whoami(headers: HeaderMap) -> axum::response::Response {
        match bearer(&headers).as_deref() {
            Some(GOOD) => axum::Json(json!({"name": "good", "identity": "good/config", "scopes": ["admin:*"],
                "everywhere": ["read", "deploy", "rollback", "pin", "admin"]}))
            .into_response(),
            Some(READER) => axum::Json(json!({"name": "reader", "identity": "reader/config",
                "scopes": ["read:staging/*/*/*"], "everywhere": []}))
            .into_response(),
            _ => StatusCode::UNAUTHORIZED.into_response(),
        }
    }
    async fn echo(headers: HeaderMap) -> axum::response::Response {
        match bearer(&headers) {
            Some(t) if t == GOOD || t == READER => axum::Json(json!({
                "token": t,
                "cookie": headers.get(header::COOKIE).is_some(),
            }))
            .into_response(),
            _ => StatusCode::UNAUTHORIZED.into_response(),
        }
    }
    Router::new()
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/echo", get(echo).post(echo))
}

fn app() -> Router {
    compose(api(), UiSettings::default())
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn login_request(token: &str) -> Request<Body> {
    Request::post("/ui/login")
        .header(header::HOST, "deployer.test")
        .header(header::ORIGIN, "http://deployer.test")
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={token}")))
        .expect("a request")
}

/// Signs in and returns the cookie pair and the CSRF token.
async fn sign_in(app: &Router, token: &str) -> (String, String) {
    let (status, headers, body) = send(app, login_request(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let set_cookie = headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a cookie is set");
    let pair = set_cookie.split(';').next().expect("name=value").to_owned();
    (pair, body["csrf_token"].as_str().expect("a CSRF token").to_owned())
}

#[tokio::test]
async fn signing_in_sets_an_http_only_strict_cookie_and_never_returns_the_token() {
    let app = app();
    let (status, headers, body) = send(&app, login_request(GOOD)).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(cookie.starts_with("kad_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(
        !cookie.contains(GOOD) && !body.to_string().contains(GOOD),
        "the token never goes back"
    );
    assert_eq!(body["reads_everything"], json!(true));
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii")
            .contains("script-src 'self'")
    );
}

#[tokio::test]
async fn api_requests_with_the_session_cookie_reach_the_api_with_the_token_and_without_the_cookie() {
    let app = app();
    let (cookie, _) = sign_in(&app, GOOD).await;
    let request = Request::get("/api/v1/echo")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .expect("a request");
    let (status, _, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"token": GOOD, "cookie": false}));
}

#[tokio::test]
async fn state_changing_requests_need_the_sessions_csrf_token() {
    let app = app();
    let (cookie, csrf) = sign_in(&app, GOOD).await;
    let without = Request::post("/api/v1/echo")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .expect("a request");
    let (status, _, body) = send(&app, without).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("invalid_csrf_token"))
    );
    let wrong = Request::post("/api/v1/echo")
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", "0".repeat(64))
        .body(Body::empty())
        .expect("a request");
    assert_eq!(send(&app, wrong).await.0, StatusCode::FORBIDDEN);
    let with = Request::post("/api/v1/echo")
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .body(Body::empty())
        .expect("a request");
    let (status, _, body) = send(&app, with).await;
    assert_eq!((status, body["token"].clone()), (StatusCode::OK, json!(GOOD)));
}

#[tokio::test]
async fn a_token_the_api_refuses_opens_no_session() {
    let app = app();
    let (status, headers, body) = send(&app, login_request("unknown-token")).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_token"))
    );
    assert!(headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn a_token_that_cannot_read_everything_still_signs_in_and_says_so() {
    let app = app();
    let (cookie, _) = sign_in(&app, READER).await;
    let request = Request::get("/ui/session")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .expect("a request");
    let (status, _, body) = send(&app, request).await;
    assert_eq!(
        (status, body["reads_everything"].clone()),
        (StatusCode::OK, json!(false))
    );
}

#[tokio::test]
async fn sign_in_asks_whoami_and_needs_nothing_else_of_the_api() {
    async fn whoami_only(headers: HeaderMap) -> axum::response::Response {
        match bearer(&headers).as_deref() {
            Some(READER) => axum::Json(json!({"name": "reader", "everywhere": ["read"]})).into_response(),
            _ => StatusCode::UNAUTHORIZED.into_response(),
        }
    }
    let app = compose(
        Router::new().route("/api/v1/whoami", get(whoami_only)),
        UiSettings::default(),
    );
    let (status, headers, body) = send(&app, login_request(READER)).await;
    assert_eq!(
        (status, body["reads_everything"].clone()),
        (StatusCode::OK, json!(true)),
        "{body}"
    );
    assert!(headers.get(header::SET_COOKIE).is_some());
    let (status, headers, body) = send(&app, login_request("unknown-token")).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_token")),
        "an invalid token gets a clear error for the sign-in form: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not valid"))
    );
    assert!(headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn an_api_that_cannot_answer_whoami_opens_no_session() {
    async fn garbled() -> &'static str {
        "not a whoami answer"
    }
    let app = compose(
        Router::new().route("/api/v1/whoami", get(garbled)),
        UiSettings::default(),
    );
    let (status, headers, body) = send(&app, login_request(GOOD)).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::SERVICE_UNAVAILABLE, json!("unavailable"))
    );
    assert!(headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn signing_in_from_another_site_is_refused() {
    let app = app();
    let request = Request::post("/ui/login")
        .header(header::HOST, "deployer.test")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::ACCEPT, "application/json")
        .body(Body::from(format!("token={GOOD}")))
        .expect("a request");
    let (status, headers, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn signing_out_ends_the_session_and_clears_the_cookie() {
    let app = app();
    let (cookie, csrf) = sign_in(&app, GOOD).await;
    let no_csrf = Request::post("/ui/logout")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .expect("a request");
    assert_eq!(
        send(&app, no_csrf).await.0,
        StatusCode::SEE_OTHER,
        "a plain form is sent back to the page"
    );
    let still = Request::get("/ui/session")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .expect("a request");
    assert_eq!(
        send(&app, still).await.0,
        StatusCode::OK,
        "without the CSRF token the session stays open"
    );
    let out = Request::post("/ui/logout")
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf_token={csrf}")))
        .expect("a request");
    let (status, headers, _) = send(&app, out).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0")
    );
    let after = Request::get("/api/v1/echo")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .expect("a request");
    assert_eq!(
        send(&app, after).await.0,
        StatusCode::UNAUTHORIZED,
        "the old cookie no longer carries the token"
    );
}

#[tokio::test]
async fn explicit_authorization_headers_pass_untouched() {
    let app = app();
    let (cookie, _) = sign_in(&app, GOOD).await;
    let request = Request::post("/api/v1/echo")
        .header(header::COOKIE, &cookie)
        .header(header::AUTHORIZATION, format!("Bearer {READER}"))
        .body(Body::empty())
        .expect("a request");
    let (status, _, body) = send(&app, request).await;
    assert_eq!((status, body["token"].clone()), (StatusCode::OK, json!(READER)));
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_a_strict_policy() {
    let app = app();
    for (path, kind) in [
        ("/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
    ] {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).expect("a request"))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let h = response.headers();
        assert!(
            h[header::CONTENT_TYPE].to_str().expect("ascii").starts_with(kind),
            "{path}"
        );
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .expect("ascii")
                .contains("default-src 'none'")
        );
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    }
}
