//! Who may post: a bearer token or an HMAC-SHA256 signature of the body,
//! compared in constant time; or nobody checked, when the configuration says
//! so explicitly. Secrets never reach a log line, an error or `Debug`.
//!
//! Bearer: `Authorization: Bearer <token>` (scheme case-insensitive). The
//! presented token and the configured one are both hashed with SHA-256 and
//! the digests compared with `subtle`, so neither the content nor the
//! length of the token shows in the timing.
//!
//! HMAC: the header (default `X-Signature`) carries `sha256=<hex>` (GitHub's
//! convention; the bare hex is taken too) of HMAC-SHA256(key, body); the
//! `hmac` crate verifies the tag in constant time. The body is needed, so
//! the header's presence and form are checked before it is read and the
//! signature after.

use axum::http::{header, HeaderMap, HeaderName};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = hmac::Hmac<Sha256>;

/// An endpoint's authentication, secrets loaded.
#[derive(Clone)]
pub enum Auth {
    /// Unauthenticated, explicitly (`none: true`).
    None,
    /// SHA-256 of the expected token.
    Bearer {
        digest: [u8; 32],
    },
    Hmac {
        key: Vec<u8>,
        header: HeaderName,
    },
    /// The secret is not loaded (yet): every request is refused.
    Unavailable,
}

/// How a secret's bytes authenticate a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `<header>: sha256=<hex HMAC-SHA256(secret, body)>`.
    Hmac(HeaderName),
}

impl Scheme {
    /// The endpoint's authentication with `secret` (the bytes of the file or
    /// of the Secret's key, one trailing newline removed). The error never
    /// quotes the secret.
    pub fn auth(&self, secret: &[u8]) -> Result<Auth, &'static str> {
        if secret.is_empty() {
            return Err("the secret is empty");
        }
        match self {
            Scheme::Bearer => Auth::bearer(secret),
            Scheme::Hmac(header) => Ok(Auth::hmac(secret.to_vec(), header.clone())),
        }
    }
}

/// A secret's bytes with one trailing newline (`\n` or `\r\n`) removed:
/// `echo token > file` and `kubectl create secret --from-file` both work.
pub fn trim_secret(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    bytes
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer { .. } => f.write_str("Bearer { token: <redacted> }"),
            Auth::Hmac { header, .. } => write!(f, "Hmac {{ header: {header}, key: <redacted> }}"),
            Auth::Unavailable => f.write_str("Unavailable"),
        }
    }
}

/// Why a request was refused (the message is safe to send back and log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No credentials, or not in the expected form.
    Missing,
    /// Credentials that do not match.
    Wrong,
}

impl Denied {
    pub fn message(self) -> &'static str {
        match self {
            Denied::Missing => "missing or malformed credentials",
            Denied::Wrong => "invalid credentials",
        }
    }
}

impl Auth {
    /// A bearer token: visible ASCII, no spaces (it travels in a header).
    pub fn bearer(token: &[u8]) -> Result<Auth, &'static str> {
        if !token.iter().all(|b| b.is_ascii_graphic()) {
            return Err("the token must be visible ASCII without spaces");
        }
        Ok(Auth::Bearer {
            digest: Sha256::digest(token).into(),
        })
    }

    pub fn hmac(key: Vec<u8>, header: HeaderName) -> Auth {
        Auth::Hmac { key, header }
    }

    /// SHA-256 of the secret in force (zero without one): tells a reloaded
    /// secret from the current one without keeping another copy.
    pub fn fingerprint(&self) -> [u8; 32] {
        match self {
            Auth::Bearer { digest } => *digest,
            Auth::Hmac { key, .. } => Sha256::digest(key).into(),
            Auth::None | Auth::Unavailable => [0; 32],
        }
    }

    /// The `WWW-Authenticate` challenge of a 401, if the scheme has one.
    pub fn challenge(&self) -> Option<&'static str> {
        match self {
            Auth::Bearer { .. } => Some("Bearer realm=\"vigil\""),
            _ => None,
        }
    }

    /// What can be checked from the headers alone: the token, or that a
    /// signature is there (verified by [`Auth::verify_body`]).
    pub fn check_headers(&self, headers: &HeaderMap) -> Result<(), Denied> {
        match self {
            Auth::None => Ok(()),
            Auth::Bearer { digest } => {
                let presented = bearer_token(headers).ok_or(Denied::Missing)?;
                let presented: [u8; 32] = Sha256::digest(presented).into();
                if bool::from(presented.ct_eq(digest)) {
                    Ok(())
                } else {
                    Err(Denied::Wrong)
                }
            }
            Auth::Hmac { header, .. } => signature(headers, header).map(|_| ()),
            Auth::Unavailable => Err(Denied::Wrong),
        }
    }

    /// The body's signature (HMAC only; other schemes pass).
    pub fn verify_body(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Denied> {
        let Auth::Hmac { key, header } = self else {
            return Ok(());
        };
        let tag = signature(headers, header)?;
        let mut mac = HmacSha256::new_from_slice(key).map_err(|_| Denied::Wrong)?;
        mac.update(body);
        mac.verify_slice(&tag).map_err(|_| Denied::Wrong)
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer_token(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = token.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// The decoded tag of `sha256=<hex>` (or bare hex), 32 bytes.
fn signature(headers: &HeaderMap, name: &HeaderName) -> Result<Vec<u8>, Denied> {
    let value = headers
        .get(name)
        .ok_or(Denied::Missing)?
        .as_bytes()
        .trim_ascii();
    let hex = match value.split_at_checked(7) {
        Some((prefix, rest)) if prefix.eq_ignore_ascii_case(b"sha256=") => rest,
        _ => value,
    };
    let tag = decode_hex(hex).ok_or(Denied::Missing)?;
    if tag.len() != 32 {
        return Err(Denied::Missing);
    }
    Ok(tag)
}

fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    hex.chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// `sha256=<hex>` of HMAC-SHA256(key, body): what a sender puts in the header.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256=");
    for b in tag.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn bearer_ok_wrong_and_missing() {
        let auth = Auth::bearer(b"s3cret-token").expect("valid token");
        let check = |pairs: &[(&str, &str)]| auth.check_headers(&headers(pairs));
        assert_eq!(check(&[("authorization", "Bearer s3cret-token")]), Ok(()));
        assert_eq!(check(&[("Authorization", "bearer s3cret-token")]), Ok(()));
        assert_eq!(
            check(&[("authorization", "Bearer s3cret-tokeN")]),
            Err(Denied::Wrong)
        );
        assert_eq!(
            check(&[("authorization", "Bearer s3cret-token-and-more")]),
            Err(Denied::Wrong)
        );
        assert_eq!(check(&[("authorization", "Bearer s3")]), Err(Denied::Wrong));
        assert_eq!(check(&[]), Err(Denied::Missing));
        assert_eq!(
            check(&[("authorization", "Basic czNjcmV0LXRva2Vu")]),
            Err(Denied::Missing)
        );
        assert_eq!(check(&[("authorization", "Bearer ")]), Err(Denied::Missing));
        assert_eq!(
            check(&[("x-token", "s3cret-token")]),
            Err(Denied::Missing),
            "only the Authorization header counts"
        );
        // Bearer never needs the body.
        assert_eq!(auth.verify_body(&headers(&[]), b"anything"), Ok(()));
        assert_eq!(auth.challenge(), Some("Bearer realm=\"vigil\""));
    }

    #[test]
    fn bearer_tokens_must_travel_in_a_header() {
        assert!(Auth::bearer(b"has space").is_err());
        assert!(Auth::bearer(b"tab\there").is_err());
        assert!(Auth::bearer("é".as_bytes()).is_err());
    }

    #[test]
    fn hmac_ok_and_wrong() {
        let key = b"hmac-key".to_vec();
        let auth = Auth::hmac(key.clone(), HeaderName::from_static("x-signature"));
        let body = br#"{"rule":"x"}"#;
        let good = sign(&key, body);
        assert!(good.starts_with("sha256=") && good.len() == 71, "{good}");
        let h = headers(&[("x-signature", &good)]);
        assert_eq!(auth.check_headers(&h), Ok(()));
        assert_eq!(auth.verify_body(&h, body), Ok(()));
        // Bare hex, upper case.
        let bare = good["sha256=".len()..].to_ascii_uppercase();
        assert_eq!(
            auth.verify_body(&headers(&[("x-signature", &bare)]), body),
            Ok(())
        );
        // Another body, another key, a truncated tag, nothing.
        assert_eq!(auth.verify_body(&h, br#"{"rule":"y"}"#), Err(Denied::Wrong));
        let other = sign(b"other-key", body);
        assert_eq!(
            auth.verify_body(&headers(&[("x-signature", &other)]), body),
            Err(Denied::Wrong)
        );
        assert_eq!(
            auth.check_headers(&headers(&[("x-signature", &good[..40])])),
            Err(Denied::Missing)
        );
        assert_eq!(
            auth.check_headers(&headers(&[("x-signature", "sha256=zz")])),
            Err(Denied::Missing)
        );
        assert_eq!(auth.check_headers(&headers(&[])), Err(Denied::Missing));
        assert_eq!(auth.challenge(), None);
    }

    #[test]
    fn none_lets_everything_through_and_debug_hides_secrets() {
        assert_eq!(Auth::None.check_headers(&headers(&[])), Ok(()));
        let bearer = format!("{:?}", Auth::bearer(b"topsecret").expect("token"));
        let hmac = format!(
            "{:?}",
            Auth::hmac(b"topsecret".to_vec(), HeaderName::from_static("x-sig"))
        );
        for d in [bearer, hmac] {
            assert!(!d.contains("topsecret") && d.contains("redacted"), "{d}");
        }
    }

    #[test]
    fn the_bearer_comparison_is_over_fixed_size_digests() {
        // The constant-time path: whatever was presented, the comparison is
        // between two 32-byte digests, so its cost does not depend on where
        // (or whether) the token differs, nor on its length.
        let Auth::Bearer { digest } = Auth::bearer(b"abc").expect("token") else {
            panic!("bearer")
        };
        for presented in [&b"abc"[..], b"abd", b"", b"a-much-longer-presented-token"] {
            let d: [u8; 32] = Sha256::digest(presented).into();
            assert_eq!(d.len(), digest.len());
            assert_eq!(bool::from(d.ct_eq(&digest)), presented == b"abc");
        }
    }
}
