//! HTTP basic authentication as the in-process servers check it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Whether an `Authorization` header value carries exactly `user` and `password` as HTTP basic
/// credentials.
pub(crate) fn matches(authorization: Option<&str>, user: &str, password: &str) -> bool {
    let Some(encoded) = authorization.and_then(|value| value.strip_prefix("Basic ")) else {
        return false;
    };
    let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
        return false;
    };
    String::from_utf8(decoded)
        .is_ok_and(|credentials| credentials.split_once(':') == Some((user, password)))
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::matches;

    #[test]
    fn accepts_only_the_exact_credentials() {
        let basic = |credentials: &str| format!("Basic {}", STANDARD.encode(credentials));
        assert!(matches(Some(&basic("alice:s3cret:x")), "alice", "s3cret:x"));
        assert!(!matches(Some(&basic("alice:wrong")), "alice", "s3cret:x"));
        assert!(!matches(Some(&basic("bob:s3cret:x")), "alice", "s3cret:x"));
        assert!(!matches(Some("Basic not-base64!"), "alice", "s3cret:x"));
        assert!(!matches(Some("Bearer abc"), "alice", "s3cret:x"));
        assert!(!matches(None, "alice", "s3cret:x"));
    }
}
