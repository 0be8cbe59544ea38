//! The session layer: turns a browser session into the API's own bearer authentication.
//!
//! It wraps the whole router (the UI routes merged with the API). For a request to `/api/…`
//! that has no `Authorization` header but a valid session cookie, it adds
//! `Authorization: Bearer <the session's token>` and removes the `Cookie` header, so the API's
//! authentication, scopes, rate limits and audit log treat it exactly like any API call. A
//! request that changes state (anything but `GET`, `HEAD` and `OPTIONS`) must also carry the
//! session's CSRF token in `X-CSRF-Token`, or it is refused with 403 before reaching the API.
//! Requests to the UI's own routes get a [`UiContext`]: the session store, their session if
//! any, and a way to ask the API a question with a token (sign-in checks the token that way).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Extensions, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt};

use crate::cookie;
use crate::error::UiError;
use crate::session::{Session, SessionLimits, SessionStore};

/// The header a page sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the UI's sessions behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UiSettings {
    /// Session lifetimes and how many are kept.
    pub limits: SessionLimits,
    /// Whether the session cookie is marked `Secure` (set it when serving over HTTPS).
    pub secure_cookies: bool,
}

/// What the layer does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Passed on as it came (not an API request, an explicit `Authorization`, or no session).
    Untouched,
    /// Passed on with the session's bearer token.
    WithBearer,
    /// Refused: it changes state and lacks the session's CSRF token.
    RefuseCsrf,
}

/// Decides what happens to a request (see the module docs).
pub fn admit(
    method: &Method,
    path: &str,
    has_authorization: bool,
    session: Option<&Session>,
    csrf_header: Option<&str>,
) -> Admission {
    if !path.starts_with("/api/") || has_authorization {
        return Admission::Untouched;
    }
    let Some(session) = session else {
        return Admission::Untouched;
    };
    if is_safe(method) || csrf_header.is_some_and(|c| session.csrf.matches(c)) {
        Admission::WithBearer
    } else {
        Admission::RefuseCsrf
    }
}

/// Whether `method` only reads.
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The service behind the layer, boxed, so UI handlers can ask the API through it.
type Inner = BoxCloneSyncService<Request, Response, Infallible>;

/// Asks the API questions in-process, as a given token.
#[derive(Clone)]
pub struct ApiClient {
    service: Inner,
    /// The extensions the original request arrived with (the client address), so the API's
    /// per-address rate limits count these requests too.
    extensions: Extensions,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient").finish_non_exhaustive()
    }
}

/// The largest API answer the UI reads for itself (a `whoami` answer is far smaller).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The API's answer to a question the UI asked: its status and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAnswer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body (empty when it could not be read, or was larger than the UI reads).
    pub body: Bytes,
}

impl ApiAnswer {
    fn status_only(status: StatusCode) -> Self {
        Self {
            status,
            body: Bytes::new(),
        }
    }
}

impl ApiClient {
    /// `GET path_and_query` made with `token`: the status and the body.
    pub async fn get(&self, path_and_query: &str, token: &SecretString) -> ApiAnswer {
        let Some(bearer) = bearer(token) else {
            return ApiAnswer::status_only(StatusCode::UNAUTHORIZED);
        };
        let mut request = Request::new(Body::empty());
        *request.method_mut() = Method::GET;
        match path_and_query.parse() {
            Ok(uri) => *request.uri_mut() = uri,
            Err(_) => return ApiAnswer::status_only(StatusCode::BAD_REQUEST),
        }
        *request.extensions_mut() = self.extensions.clone();
        request.headers_mut().insert(header::AUTHORIZATION, bearer);
        let response = match self.service.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .unwrap_or_default();
        ApiAnswer { status, body }
    }
}

fn bearer(token: &SecretString) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// What the UI's own routes learn from the layer (a request extension).
#[derive(Clone, Debug)]
pub struct UiContext {
    /// The sessions.
    pub store: Arc<SessionStore>,
    /// Whether cookies are marked `Secure`.
    pub secure_cookies: bool,
    /// The request's session, if it has an open one.
    pub session: Option<Session>,
    /// The API, for checking tokens.
    pub api: ApiClient,
}

/// The layer; build it with [`crate::session_layer`].
#[derive(Clone, Debug)]
pub struct SessionLayer {
    store: Arc<SessionStore>,
    secure_cookies: bool,
}

impl SessionLayer {
    /// A layer with a fresh session store.
    pub fn new(settings: UiSettings) -> Self {
        Self {
            store: Arc::new(SessionStore::new(settings.limits)),
            secure_cookies: settings.secure_cookies,
        }
    }

    /// The session store (for diagnostics and tests).
    pub fn store(&self) -> &Arc<SessionStore> {
        &self.store
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            store: self.store.clone(),
            secure_cookies: self.secure_cookies,
        }
    }
}

/// The service of [`SessionLayer`].
#[derive(Clone, Debug)]
pub struct SessionService<S> {
    inner: S,
    store: Arc<SessionStore>,
    secure_cookies: bool,
}

impl<S> Service<Request> for SessionService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner service is cloned per call and driven with `oneshot`, which waits for it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let inner = self.inner.clone();
        let session = cookie::session_id(request.headers()).and_then(|id| self.store.find(&id, Instant::now()));
        let path = request.uri().path().to_owned();
        if path.starts_with("/api/") {
            let csrf = request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            let has_authorization = request.headers().contains_key(header::AUTHORIZATION);
            match admit(request.method(), &path, has_authorization, session.as_ref(), csrf) {
                Admission::Untouched => {}
                Admission::RefuseCsrf => {
                    return Box::pin(async { Ok(UiError::CsrfRejected.into_response()) });
                }
                Admission::WithBearer => {
                    let token = session.as_ref().and_then(|s| bearer(&s.token));
                    if let Some(value) = token {
                        let headers = request.headers_mut();
                        headers.insert(header::AUTHORIZATION, value);
                        headers.remove(header::COOKIE);
                    }
                }
            }
        } else {
            let api = ApiClient {
                service: BoxCloneSyncService::new(inner.clone()),
                extensions: request.extensions().clone(),
            };
            request.extensions_mut().insert(UiContext {
                store: self.store.clone(),
                secure_cookies: self.secure_cookies,
                session,
                api,
            });
        }
        Box::pin(inner.oneshot(request))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn session() -> Session {
        SessionStore::new(SessionLimits::default()).open(SecretString::from("t".to_owned()), true, Instant::now())
    }

    #[test]
    fn api_reads_with_a_session_get_the_bearer_token() {
        let s = session();
        assert_eq!(
            admit(&Method::GET, "/api/v1/clusters", false, Some(&s), None),
            Admission::WithBearer
        );
    }

    #[test]
    fn api_writes_need_the_csrf_token_of_the_session() {
        let s = session();
        let good = s.csrf.as_str().to_owned();
        assert_eq!(
            admit(&Method::POST, "/api/v1/deployments", false, Some(&s), None),
            Admission::RefuseCsrf
        );
        assert_eq!(
            admit(&Method::DELETE, "/api/v1/pins/a/b/c", false, Some(&s), Some("nope")),
            Admission::RefuseCsrf
        );
        assert_eq!(
            admit(&Method::PUT, "/api/v1/pins/a/b/c", false, Some(&s), Some(&good)),
            Admission::WithBearer
        );
    }

    #[test]
    fn explicit_authorization_non_api_paths_and_no_session_are_left_alone() {
        let s = session();
        assert_eq!(
            admit(&Method::POST, "/api/v1/deployments", true, Some(&s), None),
            Admission::Untouched
        );
        assert_eq!(
            admit(&Method::POST, "/webhooks/generic/x", false, Some(&s), None),
            Admission::Untouched
        );
        assert_eq!(
            admit(&Method::POST, "/api/v1/deployments", false, None, None),
            Admission::Untouched
        );
    }
}
