//! Webhook signatures, GitHub-style and Standard Webhooks.
//!
//! - `X-Brokkr-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>` (what GitHub receivers
//!   verify);
//! - `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256(key,
//!   "{id}.{timestamp}.{body}")>` (the Standard Webhooks scheme, so existing verifier libraries
//!   work). A secret of the form `whsec_<base64>` is used as the decoded key, as those libraries
//!   expect; any other secret is used as its UTF-8 bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Prefix of secrets in the Standard Webhooks form.
pub const STANDARD_SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a generated secret.
pub const GENERATED_SECRET_BYTES: usize = 32;

/// A new signing secret that every verifier accepts: `whsec_` + base64 of 32 random bytes.
/// Standard Webhooks libraries use the decoded bytes as the key; GitHub-style verifiers use the
/// whole string, which is what `X-Brokkr-Signature-256` is computed with.
pub fn generate_secret() -> String {
    let bytes: [u8; GENERATED_SECRET_BYTES] = rand::random();
    format!("{STANDARD_SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The value of `X-Brokkr-Signature-256` for `body`.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac(secret.as_bytes(), &[body])))
}

/// The key Standard Webhooks signs with.
fn standard_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(STANDARD_SECRET_PREFIX)
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The value of `webhook-signature` for a message `id` sent at `timestamp` (Unix seconds).
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let signed = hmac(
        &standard_key(secret),
        &[
            id.as_bytes(),
            b".",
            timestamp.to_string().as_bytes(),
            b".",
            body,
        ],
    );
    format!("v1,{}", STANDARD.encode(signed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_signature_matches_a_known_vector() {
        // HMAC-SHA256("It's a Secret to Everybody", "Hello, World!"), as documented by GitHub.
        assert_eq!(
            github_signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn generated_secrets_are_standard_webhooks_secrets() {
        let a = generate_secret();
        let key = a
            .strip_prefix("whsec_")
            .map(|b| STANDARD.decode(b).unwrap());
        assert_eq!(key.map(|k| k.len()), Some(GENERATED_SECRET_BYTES));
        assert_ne!(a, generate_secret());
    }

    #[test]
    fn standard_signature_matches_the_reference_vector() {
        // Test vector of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            standard_signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
