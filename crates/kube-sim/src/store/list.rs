//! List reads: selectors, resourceVersion semantics and limit/continue paging (spec §6.1).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::fields::meta_str;
use super::resources::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::{Store, StoreError};

/// How a list's `resourceVersion` parameter is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResourceVersionMatch {
    /// No `resourceVersionMatch` given.
    #[default]
    Unset,
    /// `NotOlderThan`.
    NotOlderThan,
    /// `Exact`.
    Exact,
}

/// The parameters of a list request.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit`; 0 means no limit.
    pub limit: usize,
    /// `continue` token from a previous page.
    pub continue_token: Option<String>,
    /// `resourceVersion`, when given.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub rv_match: ResourceVersionMatch,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// The matching objects, in namespace/name order, shared with the store.
    pub items: Vec<Arc<Value>>,
    /// The list's resourceVersion.
    pub resource_version: u64,
    /// The token for the next page, when there is one.
    pub continue_token: Option<String>,
    /// How many matching items follow this page.
    pub remaining: Option<usize>,
}

const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

fn encode_continue(rv: u64, namespace: &str, name: &str) -> String {
    let token = json!({"rv": rv, "ns": namespace, "name": name});
    URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(token: &str) -> Option<(u64, String, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        value.get("rv")?.as_u64()?,
        value.get("ns")?.as_str()?.to_string(),
        value.get("name")?.as_str()?.to_string(),
    ))
}

/// Parses a resourceVersion parameter.
pub(crate) fn parse_rv(text: &str) -> Result<u64, StoreError> {
    text.parse::<u64>()
        .map_err(|_| StoreError::BadRequest(format!("invalid resource version \"{text}\"")))
}

impl Store {
    /// Lists objects of `resource` in `namespace` (all namespaces when `None`).
    pub fn list(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<ListPage, StoreError> {
        let (objects, current) = self.all(resource, namespace);
        let floor = self.history_floor();
        let mut start_after: Option<(String, String)> = None;
        if let Some(token) = options.continue_token.as_deref().filter(|t| !t.is_empty()) {
            let (rv, ns, name) = decode_continue(token)
                .ok_or_else(|| StoreError::BadRequest("continue key is not valid: illegal base64 data".to_string()))?;
            if rv < floor {
                return Err(StoreError::Expired(CONTINUE_EXPIRED.to_string()));
            }
            start_after = Some((ns, name));
        } else if let Some(text) = options.resource_version.as_deref().filter(|t| !t.is_empty()) {
            let requested = parse_rv(text)?;
            if requested != 0 {
                if requested > current {
                    return Err(StoreError::TooLargeResourceVersion { requested, current });
                }
                if options.rv_match == ResourceVersionMatch::Exact && requested != current {
                    return Err(StoreError::Expired(format!(
                        "too old resource version: {requested} ({current})"
                    )));
                }
            }
        }
        let matching: Vec<&Arc<Value>> = objects
            .iter()
            .filter(|o| options.labels.matches(o) && options.fields.matches(o))
            .filter(|o| match &start_after {
                Some((ns, name)) => {
                    let key = (
                        meta_str(o, "namespace").unwrap_or(""),
                        meta_str(o, "name").unwrap_or(""),
                    );
                    key > (ns.as_str(), name.as_str())
                }
                None => true,
            })
            .collect();
        let take = if options.limit == 0 {
            matching.len()
        } else {
            options.limit.min(matching.len())
        };
        let items: Vec<Arc<Value>> = matching[..take].iter().map(|o| Arc::clone(o)).collect();
        let (continue_token, remaining) = match items.last() {
            Some(last) if take < matching.len() => (
                Some(encode_continue(
                    current,
                    meta_str(last, "namespace").unwrap_or(""),
                    meta_str(last, "name").unwrap_or(""),
                )),
                Some(matching.len() - take),
            ),
            _ => (None, None),
        };
        Ok(ListPage {
            items,
            resource_version: current,
            continue_token,
            remaining,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let token = encode_continue(42, "default", "web");
        assert_eq!(decode_continue(&token), Some((42, "default".into(), "web".into())));
        assert_eq!(decode_continue("not a token"), None);
    }
}
