//! HTTP requests by route template and status.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The labels of `deployer_http_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

/// Counts answered HTTP requests (cheap to clone); [`track`] feeds it.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
}

impl HttpMetrics {
    /// Registers `deployer_http_requests_total`.
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::default();
        registry.register(
            "deployer_http_requests",
            "HTTP requests answered, by method, route template and status.",
            requests.clone(),
        );
        Self { requests }
    }

    /// Counts one answer. `route` is the matched route template, `None` for unmatched paths.
    pub fn record(&self, method: &axum::http::Method, route: Option<&str>, status: u16) {
        // Unknown methods and paths share one series each, so callers cannot add series.
        let method = match *method {
            axum::http::Method::GET
            | axum::http::Method::POST
            | axum::http::Method::PUT
            | axum::http::Method::DELETE
            | axum::http::Method::PATCH
            | axum::http::Method::HEAD
            | axum::http::Method::OPTIONS => method.as_str(),
            _ => "other",
        };
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.unwrap_or("(unmatched)").to_owned(),
                status,
            })
            .inc();
    }
}

/// The middleware counting every answer (add it with `Router::layer`, so that it runs after
/// routing and sees the matched route).
pub async fn track(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics.record(&method, route.as_deref(), response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;

    #[test]
    fn requests_are_counted_by_route_template_and_odd_methods_share_a_series() {
        let mut registry = Registry::default();
        let metrics = HttpMetrics::register(&mut registry);
        metrics.record(&Method::GET, Some("/api/v1/deployments/{id}"), 200);
        metrics.record(&Method::GET, Some("/api/v1/deployments/{id}"), 200);
        metrics.record(&Method::from_bytes(b"BREW").unwrap_or(Method::GET), None, 404);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            text.contains(
                r#"deployer_http_requests_total{method="GET",route="/api/v1/deployments/{id}",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"deployer_http_requests_total{method="other",route="(unmatched)",status="404"} 1"#),
            "{text}"
        );
    }
}
