//! Keyed pseudonyms: stable stand-ins for identifiers that cannot be turned
//! back into the identifier without the secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// Maps identifiers (user ids, session ids, e-mail addresses) to pseudonyms
/// `p_` + the first 16 bytes of HMAC-SHA256(secret, id) as 32 lowercase hex
/// digits.
///
/// The mapping is deterministic for one secret (the same id always gives the
/// same pseudonym, so pseudonymised logs still join) and unrelated across
/// secrets. It is one-way: without the secret nobody can compute the
/// pseudonym of a guessed id, nor go back from a pseudonym to its id; with the
/// secret, anyone can test guesses, so keep it as secret as the data (at
/// least 32 random bytes; an empty secret is accepted but protects nothing).
///
/// `Debug` never prints the secret.
#[derive(Clone)]
pub struct Pseudonymizer {
    /// HMAC state already keyed with the secret; cloned for each id.
    keyed: HmacSha256,
}

impl Pseudonymizer {
    /// A pseudonymizer keyed with `secret` (any length).
    pub fn new(secret: &[u8]) -> Pseudonymizer {
        let keyed = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
        Pseudonymizer { keyed }
    }

    /// The pseudonym of `id`: `p_` followed by 32 lowercase hex digits.
    pub fn pseudonym(&self, id: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut mac = self.keyed.clone();
        mac.update(id.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(2 + 32);
        out.push_str("p_");
        for &b in &tag[..16] {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        out
    }
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pseudonymizer")
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Pseudonymizer;

    #[test]
    fn deterministic_per_secret_and_different_across_secrets() {
        let a = Pseudonymizer::new(b"a secret of at least thirty-two bytes!!");
        let b = Pseudonymizer::new(b"another secret, also thirty-two bytes long");
        let p = a.pseudonym("user-42");
        assert_eq!(p, a.pseudonym("user-42"));
        assert_eq!(p, a.clone().pseudonym("user-42"));
        assert_ne!(p, b.pseudonym("user-42"));
        assert_ne!(p, a.pseudonym("user-43"));
        assert!(p.starts_with("p_"));
        assert_eq!(p.len(), 34);
        assert!(
            p[2..]
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
    }

    #[test]
    fn matches_the_rfc_4231_hmac_sha256_vector() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        let p = Pseudonymizer::new(b"Jefe").pseudonym("what do ya want for nothing?");
        assert_eq!(p, "p_5bdcc146bf60754e6a042426089575c7");
    }

    #[test]
    fn empty_inputs_work() {
        let p = Pseudonymizer::new(b"");
        assert_eq!(p.pseudonym("").len(), 34);
        assert_ne!(p.pseudonym(""), p.pseudonym("x"));
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let p = Pseudonymizer::new(b"hunter2-hunter2-hunter2-hunter2!");
        let shown = format!("{p:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Pseudonymizer"));
    }
}
