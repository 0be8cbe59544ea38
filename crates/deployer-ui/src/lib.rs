//! The web UI: sign in with an API token, see what runs where, deploy, follow a rollout live,
//! roll back, pin and unpin, and (for operators) read the received triggers.
//!
//! # Design
//!
//! **A small hand-written JavaScript front end over the JSON API**, not server-rendered HTML.
//! The deployer's whole surface is the versioned JSON API (`openapi/openapi.json`), with its
//! authentication, scopes, validation, rate limits and audit log. A server-rendered UI would
//! have to call that API in-process and re-model every answer as HTML templates in Rust: a
//! second copy of the API's vocabulary that drifts. The live rollout view needs script anyway
//! (Server-Sent Events from `GET /api/v1/deployments/{id}/events`). So the pages are one HTML
//! document, one script (`assets/app.js`, plain modern JavaScript with no framework, no build
//! step and no dependency) and one style sheet, embedded with `include_str!` and served at `/`
//! and `/ui/…`; nothing is fetched from anywhere else. The script builds DOM nodes (never HTML
//! text), so data cannot inject markup, and the `Content-Security-Policy` forbids inline
//! script, inline style and any other origin. The cost: without JavaScript only the sign-in
//! form works; the pages say so.
//!
//! **The UI adds no logic the API lacks.** Every action is an ordinary API request made by the
//! browser; the UI only chooses which requests to offer. What a token may do is decided by the
//! API alone, which also says so up front: `GET /api/v1/whoami` names the token, its scopes and
//! the actions it may take everywhere (the triggers and dead-events pages), and every
//! application of `GET /api/v1/clusters` carries the actions the token may take on it (deploy,
//! roll back, pin), so the page never shows a button the API would refuse. Should the API
//! refuse one anyway (scopes changed since), the 403 is shown and the button hidden. The
//! overview's live replica counts, last deployments and pins come from that same listing.
//! Addresses outside the deployer (a record's `commit_url`, a CI `build_url`) become ordinary
//! links only when they are `http(s)`.
//!
//! **Sessions carry the token; the browser never gets it back.** `POST /ui/login` checks the
//! token with the API (`GET /api/v1/whoami`, which any valid token may call), keeps it in a bounded, expiring [`SessionStore`] and sets an `HttpOnly`,
//! `SameSite=Strict` cookie holding only a random session id ([`signin`]). [`SessionLayer`]
//! sits in front of the API: a request to `/api/…` with a valid session cookie and no
//! `Authorization` header gets `Authorization: Bearer <token>`, so the API's own bearer
//! authentication and scopes apply unchanged; requests that change state must also carry the
//! session's CSRF token in `X-CSRF-Token`. Explicit `Authorization` headers (the CLI, CI) pass
//! untouched.
//!
//! # Wiring
//!
//! ```text
//! session_layer(settings)            adds the bearer token, checks CSRF, gives UI routes a UiContext
//!   └─ router()  ∪  the API router   UI pages and /ui/login|logout|session, then /api/…, /webhooks/…
//! ```
//! [`compose`] does exactly that for a binary.

/// The embedded pages and their security headers.
pub mod assets;
/// The session cookie.
pub mod cookie;
/// Error answers of the UI's endpoints.
pub mod error;
/// The session layer in front of the API.
pub mod layer;
/// Browser sessions kept on the server.
pub mod session;
/// Sign-in, sign-out and the session endpoint.
pub mod signin;

use axum::Router;
use axum::routing::{get, post};
use tower::Layer;

pub use error::UiError;
pub use layer::{SessionLayer, UiContext, UiSettings};
pub use session::{SessionLimits, SessionStore};

/// The UI's routes: `/` (the page), `/ui/app.js`, `/ui/style.css`, `/ui/icon.svg`,
/// `POST /ui/login`, `POST /ui/logout` and `GET /ui/session`. The sign-in routes need
/// [`session_layer`] in front of them.
pub fn router() -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/ui/app.js", get(assets::script))
        .route("/ui/style.css", get(assets::style))
        .route("/ui/icon.svg", get(assets::icon))
        .route("/ui/login", post(signin::login))
        .route("/ui/logout", post(signin::logout))
        .route("/ui/session", get(signin::session))
        .layer(axum::middleware::map_response(assets::secure))
}

/// The layer that turns sessions into bearer tokens (see [`layer`]), with a fresh session
/// store.
pub fn session_layer(settings: UiSettings) -> SessionLayer {
    SessionLayer::new(settings)
}

/// The UI and `api` served together: [`router`] merged with `api`, wrapped by
/// [`session_layer`].
pub fn compose(api: Router, settings: UiSettings) -> Router {
    let app = session_layer(settings).layer(router().merge(api));
    Router::new().fallback_service(app)
}
