//! Request parsing: query strings (including kube-rs's `?&`), Accept negotiation and body
//! decoding (JSON, YAML for apply, protobuf for `kubectl create`).

use std::collections::HashMap;

use http::HeaderMap;
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::schema;
use crate::store::ApiStatus;

/// The decoded query string; the first value of each key wins and empty pairs are ignored.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pairs: HashMap<String, String>,
}

fn decode_component(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let mut pairs = HashMap::new();
        for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            pairs.entry(decode_component(k)).or_insert_with(|| decode_component(v));
        }
        Self { pairs }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs.get(key).map(String::as_str)
    }

    /// A boolean parameter: `true`/`1` are true.
    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True"))
    }

    pub(crate) fn dry_run(&self) -> Result<bool, ApiStatus> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiStatus::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            ))),
        }
    }
}

/// What the client asked to receive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Accept {
    /// `as=Table` (kubectl's human-readable output).
    pub table: bool,
    /// `as=APIGroupDiscoveryList` (aggregated discovery).
    pub aggregated_discovery: bool,
}

impl Accept {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let accept = headers
            .get_all(http::header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Self {
            table: accept.contains("as=Table"),
            aggregated_discovery: accept.contains("apidiscovery.k8s.io") && accept.contains("as=APIGroupDiscoveryList"),
        }
    }
}

/// The media type of the request body, without parameters.
pub(crate) fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The body media types accepted on POST and PUT.
pub(crate) const WRITE_MEDIA_TYPES: &str = "application/json, application/yaml, application/vnd.kubernetes.protobuf";
/// The body media types accepted on PATCH.
pub(crate) const PATCH_MEDIA_TYPES: &str = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json";

pub(crate) fn unsupported_media(accepted: &str) -> ApiStatus {
    ApiStatus::new(
        415,
        "UnsupportedMediaType",
        format!("the body of the request was in an unknown format - accepted media types include: {accepted}"),
    )
}

/// Parses YAML (a superset of JSON) into a JSON value.
pub(crate) fn parse_yaml(body: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// Decodes a POST or PUT body by its media type.
pub(crate) fn decode_object(content_type: &str, body: &[u8]) -> Result<Value, ApiStatus> {
    match content_type {
        "" | "application/json" | "*/*" => serde_json::from_slice(body)
            .map_err(|e| ApiStatus::bad_request(format!("couldn't get version/kind; json parse error: {e}"))),
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            parse_yaml(body).map_err(|e| ApiStatus::bad_request(format!("error converting YAML to JSON: {e}")))
        }
        "application/vnd.kubernetes.protobuf" => schema::decode_protobuf(body)
            .map_err(|e| ApiStatus::bad_request(format!("failed to decode protobuf body: {e}"))),
        _ => Err(unsupported_media(WRITE_MEDIA_TYPES)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_ignores_empty_pairs_and_decodes_values() {
        let q = Query::parse(Some(
            "&limit=500&&fieldSelector=metadata.name%3Dweb&labelSelector=a+in+(b)",
        ));
        assert_eq!(q.get("limit"), Some("500"));
        assert_eq!(q.get("fieldSelector"), Some("metadata.name=web"));
        assert_eq!(q.get("labelSelector"), Some("a in (b)"));
        assert_eq!(q.get(""), None);
    }

    #[test]
    fn yaml_bodies_parse_as_json_values() {
        let v = parse_yaml(b"apiVersion: v1\nkind: ConfigMap\ndata:\n  a: \"1\"\n");
        assert_eq!(
            v.ok(),
            Some(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}}))
        );
        assert!(parse_yaml(b"{\"a\": [1,").is_err());
    }

    #[test]
    fn table_and_aggregated_discovery_are_negotiated() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
        );
        assert!(Accept::from_headers(&headers).table);
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
            ),
        );
        assert!(Accept::from_headers(&headers).aggregated_discovery);
    }
}
