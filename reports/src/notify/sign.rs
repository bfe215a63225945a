//! HMAC-SHA256 signatures as each platform documents them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// DingTalk custom robot: `base64(HMAC-SHA256(key = secret, message = "{timestamp}\n{secret}"))`,
/// with the timestamp in milliseconds; sent URL-encoded as the `sign` query parameter next to
/// `timestamp`.
pub(crate) fn dingtalk(timestamp_ms: i64, secret: &SecretString) -> String {
    let secret = secret.expose_secret();
    let string_to_sign = format!("{timestamp_ms}\n{secret}");
    STANDARD.encode(hmac_sha256(secret.as_bytes(), string_to_sign.as_bytes()))
}

/// Lark/Feishu custom bot: `base64(HMAC-SHA256(key = "{timestamp}\n{secret}", message = ""))`,
/// with the timestamp in seconds; sent as `timestamp` and `sign` in the JSON body.
pub(crate) fn lark(timestamp_s: i64, secret: &SecretString) -> String {
    let key = format!("{timestamp_s}\n{}", secret.expose_secret());
    STANDARD.encode(hmac_sha256(key.as_bytes(), b""))
}

/// Generic webhook: `sha256=` and the hex HMAC-SHA256 of the body keyed with the secret.
pub(crate) fn webhook(body: &[u8], secret: &SecretString) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.expose_secret().as_bytes(), body))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 keeps the HMAC honest.
    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn webhook_signature_is_prefixed_hex() {
        let secret = SecretString::from("Jefe".to_owned());
        assert_eq!(
            webhook(b"what do ya want for nothing?", &secret),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
