//! Request routing: authentication, fault injection, and dispatch to discovery, OpenAPI,
//! the resource endpoints and the `/_sim/` control API.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Limited};

use super::api::{self, ApiRequest};
use super::context::Shared;
use super::control;
use super::discovery;
use super::request::{Accept, Query};
use super::response;
use crate::store::ApiStatus;

/// The largest request body accepted (kube-apiserver's limit).
const MAX_BODY: usize = 3 * 1024 * 1024;

fn unauthorized() -> ApiStatus {
    ApiStatus::new(401, "Unauthorized", "Unauthorized")
}

fn authorized(shared: &Shared, request: &Request<hyper::body::Incoming>) -> bool {
    let Some(token) = shared.token.as_deref() else {
        return true;
    };
    request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| given.trim() == token)
}

/// Serves one HTTP request; never fails (every error is a `Status` response).
pub(crate) async fn handle(shared: Arc<Shared>, request: Request<hyper::body::Incoming>) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let raw_query = request.uri().query().unwrap_or_default().to_string();
    let header = |name: http::header::HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (content_type, user_agent, accept) = (
        header(http::header::CONTENT_TYPE),
        header(http::header::USER_AGENT),
        header(http::header::ACCEPT),
    );
    let response = if authorized(&shared, &request) {
        route(&shared, request).await
    } else {
        response::status(&unauthorized())
    };
    let code = response.status().as_u16();
    tracing::debug!(message = "Served a request.", method = %method, path = %path, query = %raw_query, status = code);
    if !path.starts_with("/_sim/") {
        shared.log_request(serde_json::json!({
            "method": method.as_str(),
            "path": path,
            "query": raw_query,
            "contentType": content_type,
            "userAgent": user_agent,
            "accept": accept,
            "code": code,
        }));
    }
    response
}

async fn read_body(request: Request<hyper::body::Incoming>) -> Result<(http::request::Parts, Bytes), ApiStatus> {
    let (parts, body) = request.into_parts();
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok((parts, collected.to_bytes())),
        Err(_) => Err(ApiStatus::new(
            413,
            "RequestEntityTooLarge",
            "the request body is too large or could not be read",
        )),
    }
}

async fn route(shared: &Arc<Shared>, request: Request<hyper::body::Incoming>) -> Response<Body> {
    let (parts, body) = match read_body(request).await {
        Ok(read) => read,
        Err(status) => return response::status(&status),
    };
    let path = parts.uri.path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let accept = Accept::from_headers(&parts.headers);
    let method = parts.method.clone();

    if let Some(rest) = path.strip_prefix("/_sim/") {
        return control::serve(shared, &method, rest, &body);
    }

    let non_resource = match segments.as_slice() {
        ["version"] => Some(response::json(200, &discovery::version())),
        ["healthz" | "livez" | "readyz", ..] => Some(response::text(200, "ok")),
        ["api"] if accept.aggregated_discovery => Some(response::json_with_type(
            200,
            &discovery::aggregated(true),
            discovery::AGGREGATED_CONTENT_TYPE,
        )),
        ["api"] => Some(response::json(200, &discovery::api_versions(&shared.addr.to_string()))),
        ["apis"] if accept.aggregated_discovery => Some(response::json_with_type(
            200,
            &discovery::aggregated(false),
            discovery::AGGREGATED_CONTENT_TYPE,
        )),
        ["apis"] => Some(response::json(200, &discovery::api_group_list())),
        ["api", "v1"] => Some(response::json(200, &discovery::api_resource_list(""))),
        ["apis", "apps"] => Some(response::json(200, &discovery::api_group())),
        ["apis", "apps", "v1"] => Some(response::json(200, &discovery::api_resource_list("apps"))),
        ["openapi", "v3"] => Some(response::json(200, &discovery::openapi_root())),
        ["openapi", "v3", "api", "v1"] => Some(response::json(200, &discovery::openapi_group_version(""))),
        ["openapi", "v3", "apis", "apps", "v1"] => Some(response::json(200, &discovery::openapi_group_version("apps"))),
        _ => None,
    };
    if let Some(found) = non_resource {
        if method != Method::GET && method != Method::HEAD {
            return response::status(&ApiStatus::method_not_allowed());
        }
        return found;
    }

    let Some(target) = api::parse_target(&segments) else {
        return response::status(&ApiStatus::unknown_path());
    };
    let query = Query::parse(parts.uri.query());
    let decision = shared.faults().decide(api::verb_of(&method, &target, &query));
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    if let Some((status, _)) = decision.failure {
        return response::status(&status);
    }
    ApiRequest {
        shared,
        method,
        target,
        query,
        headers: parts.headers,
        body,
    }
    .serve()
}
