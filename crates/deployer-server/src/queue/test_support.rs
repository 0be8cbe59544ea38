//! What the queue's tests share.

use deployer_core::model::{DeployRequest, Target};

/// A request to set tag `v2` in `target`, as the API would make it.
pub(super) fn request(target: &Target) -> DeployRequest {
    serde_json::from_value(serde_json::json!({
        "target": {"region": target.region.to_string(), "cluster": target.cluster.to_string(), "file": target.file.to_string()},
        "change": {"type": "tag", "tag": "v2"},
        "method": "apply",
        "source": {"kind": "api"},
        "requested_by": "tester",
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}
