//! User tokens: HS256 JSON Web Tokens (RFC 7519) with `sub` (the user id)
//! and `exp` (Unix seconds), signed with a key the operator's backend
//! shares. Any JWT library can issue them; only HS256 is accepted, and a
//! token must expire within the configured lifetime.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Seconds of clock difference tolerated between issuer and server.
const LEEWAY_SECS: i64 = 30;

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    /// The user the token lets its bearer act as.
    pub sub: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issue time, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not valid before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts with JSON in them.
    #[error("the user token is malformed: {0}")]
    Malformed(&'static str),
    /// Another algorithm than HS256 (including `none`).
    #[error("the user token's algorithm `{0}` is not accepted (only HS256)")]
    Algorithm(String),
    /// The signature does not match.
    #[error("the user token's signature is not valid")]
    Signature,
    /// `exp` has passed.
    #[error("the user token expired {0} s ago")]
    Expired(i64),
    /// `nbf` is in the future.
    #[error("the user token is not valid yet")]
    NotYetValid,
    /// `exp` is further away than the lifetime allowed.
    #[error("the user token lives {secs} s; the most this server accepts is {max} s")]
    TooLong {
        /// How long it would live.
        secs: i64,
        /// The limit.
        max: i64,
    },
}

/// Signs and checks user tokens with one key.
pub struct TokenSigner {
    key: Vec<u8>,
    max_ttl_secs: i64,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("max_ttl_secs", &self.max_ttl_secs)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer with this key; tokens may live at most `max_ttl_secs`.
    pub fn new(key: &[u8], max_ttl_secs: u64) -> Self {
        Self {
            key: key.to_vec(),
            max_ttl_secs: max_ttl_secs.min(i64::MAX as u64) as i64,
        }
    }

    fn mac(&self, signed: &str) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        m.update(signed.as_bytes());
        m
    }

    /// A token for `user`, valid for `ttl_secs` from `now` (Unix seconds).
    pub fn sign(&self, user: &str, ttl_secs: i64, now: i64) -> Result<String, TokenError> {
        if ttl_secs <= 0 || ttl_secs > self.max_ttl_secs {
            return Err(TokenError::TooLong {
                secs: ttl_secs,
                max: self.max_ttl_secs,
            });
        }
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = Claims {
            sub: user.to_string(),
            exp: now + ttl_secs,
            iat: Some(now),
            nbf: None,
        };
        let payload = B64.encode(serde_json::to_vec(&claims).expect("claims serialise"));
        let signed = format!("{header}.{payload}");
        let sig = B64.encode(self.mac(&signed).finalize().into_bytes());
        Ok(format!("{signed}.{sig}"))
    }

    /// The claims of `token` if it is signed with this key, HS256, current
    /// at `now` and not longer-lived than allowed.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if token.len() > 4096 {
            return Err(TokenError::Malformed("longer than 4096 bytes"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not three dot-separated parts"));
        };
        #[derive(serde::Deserialize)]
        struct Header {
            alg: String,
        }
        let header: Header = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed("the header is not base64url JSON"))?;
        if header.alg != "HS256" {
            return Err(TokenError::Algorithm(header.alg.chars().take(20).collect()));
        }
        let sig = B64
            .decode(s)
            .map_err(|_| TokenError::Malformed("the signature is not base64url"))?;
        let signed = &token[..h.len() + 1 + p.len()];
        self.mac(signed)
            .verify_slice(&sig)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed(
                "the payload is not base64url JSON with `sub` and `exp`",
            ))?;
        if claims.sub.is_empty() || claims.sub.len() > 256 {
            return Err(TokenError::Malformed(
                "`sub` must be a user id of 1 to 256 bytes",
            ));
        }
        if claims.exp + LEEWAY_SECS <= now {
            return Err(TokenError::Expired(now - claims.exp));
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
            return Err(TokenError::NotYetValid);
        }
        let lives = claims.exp - now;
        if lives > self.max_ttl_secs + LEEWAY_SECS {
            return Err(TokenError::TooLong {
                secs: lives,
                max: self.max_ttl_secs,
            });
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_signed_token_verifies_and_names_its_user() {
        let s = TokenSigner::new(b"0123456789abcdef0123456789abcdef", 3600);
        let t = s.sign("user-7", 600, NOW).unwrap();
        let c = s.verify(&t, NOW + 10).unwrap();
        assert_eq!((c.sub.as_str(), c.exp), ("user-7", NOW + 600));
    }

    #[test]
    fn tampered_expired_foreign_and_unsigned_tokens_are_refused() {
        let s = TokenSigner::new(b"0123456789abcdef0123456789abcdef", 3600);
        let t = s.sign("user-7", 600, NOW).unwrap();
        // Another key.
        let other = TokenSigner::new(b"another key, another operator....", 3600);
        assert_eq!(other.verify(&t, NOW), Err(TokenError::Signature));
        // Expired.
        assert!(matches!(
            s.verify(&t, NOW + 700),
            Err(TokenError::Expired(_))
        ));
        // A payload swapped for another user keeps the old signature.
        let parts: Vec<&str> = t.split('.').collect();
        let forged_payload = B64.encode(format!(r#"{{"sub":"user-1","exp":{}}}"#, NOW + 600));
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(s.verify(&forged, NOW), Err(TokenError::Signature));
        // alg none.
        let none = format!("{}.{}.", B64.encode(br#"{"alg":"none"}"#), forged_payload);
        assert_eq!(
            s.verify(&none, NOW),
            Err(TokenError::Algorithm("none".into()))
        );
        // Garbage.
        assert!(matches!(
            s.verify("a.b", NOW),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(
            s.verify("!!.!!.!!", NOW),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn long_lived_tokens_are_refused_both_ways() {
        let s = TokenSigner::new(b"k", 3600);
        assert!(matches!(
            s.sign("u", 7200, NOW),
            Err(TokenError::TooLong { .. })
        ));
        let long = TokenSigner::new(b"k", 86_400 * 365)
            .sign("u", 86_400 * 30, NOW)
            .unwrap();
        assert!(matches!(
            s.verify(&long, NOW),
            Err(TokenError::TooLong { .. })
        ));
    }
}
