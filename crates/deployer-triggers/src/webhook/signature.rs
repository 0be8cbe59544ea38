//! HMAC-SHA256 signatures in the `sha256=<hex>` form GitHub made common.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::WebhookError;

type HmacSha256 = Hmac<Sha256>;

/// HMAC accepts keys of any length, so this is `None` never in practice; callers treat
/// `None` as "does not verify".
fn mac_over(secret: &[u8], parts: &[&[u8]]) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac)
}

/// The header value `sha256=<lowercase hex>` of HMAC-SHA256(`secret`, concatenated `parts`).
///
/// Senders of the generic webhook sign `timestamp`, `"."`, `body` this way.
pub fn sign_sha256(secret: &[u8], parts: &[&[u8]]) -> String {
    let hex = mac_over(secret, parts)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("sha256={hex}")
}

/// Checks a MAC over the concatenated `parts` in constant time.
pub(crate) fn verify_sha256(secret: &[u8], parts: &[&[u8]], mac: &[u8]) -> bool {
    mac_over(secret, parts).is_some_and(|m| m.verify_slice(mac).is_ok())
}

/// Decodes a `sha256=<64 hex>` header value into the 32 MAC bytes.
pub(crate) fn decode_sha256_header(header: &'static str, value: &str) -> Result<Vec<u8>, WebhookError> {
    let Some(hex_part) = value.trim().strip_prefix("sha256=") else {
        return Err(WebhookError::MalformedHeader {
            header,
            reason: "expected `sha256=<hex>`",
        });
    };
    if hex_part.len() != 64 {
        return Err(WebhookError::MalformedHeader {
            header,
            reason: "expected 64 hex digits after `sha256=`",
        });
    }
    hex::decode(hex_part).map_err(|_| WebhookError::MalformedHeader {
        header,
        reason: "the signature is not hex",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_published_test_vector_is_reproduced() {
        let header = sign_sha256(b"It's a Secret to Everybody", &[b"Hello, World!"]);
        assert_eq!(
            header,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let mac = decode_sha256_header("X-Hub-Signature-256", &header).unwrap_or_default();
        assert!(verify_sha256(
            b"It's a Secret to Everybody",
            &[b"Hello, ", b"World!"],
            &mac
        ));
        assert!(!verify_sha256(b"It's a Secret to Everybody", &[b"Hello, World?"], &mac));
    }

    #[test]
    fn malformed_signature_headers_say_what_is_expected() {
        let cases = [
            ("sha1=abc", "expected `sha256=<hex>`"),
            ("sha256=abc", "expected 64 hex digits after `sha256=`"),
        ];
        for (value, reason) in cases {
            let err = decode_sha256_header("X-Hub-Signature-256", value)
                .err()
                .map(|e| e.to_string());
            assert_eq!(err, Some(format!("malformed X-Hub-Signature-256 header: {reason}")));
        }
        let not_hex = format!("sha256={}", "z".repeat(64));
        assert_eq!(
            decode_sha256_header("X", &not_hex).err().map(|e| e.kind()),
            Some("malformed_header")
        );
    }
}
