//! Who is calling, and what they may do.
//!
//! - **API keys** (`sk_<id>_<secret>`) carry scopes ([`Scope`]: `read`,
//!   `ingest`, `admin`). Only a SHA-256 of each key is stored; the key itself
//!   is shown once, when it is created ([`create_key`]). The server holds the
//!   live keys in a [`KeyRing`] re-read from the store, so a revocation made
//!   by the CLI reaches a running server within its refresh interval.
//! - **User tokens** are HS256 JSON Web Tokens whose `sub` is a user id and
//!   whose `exp` is a few minutes to hours away ([`TokenSigner`]). The
//!   operator's backend issues them (with the shared secret, or through the
//!   admin API) so a browser can act as its own user and no one else.
//! - **The server secret** ([`ServerSecret`]): 32 random bytes in
//!   `<data_dir>/secrets/server.key` (mode 0600), from which the token key
//!   and the pseudonym key are derived unless the operator sets them.

mod keys;
mod secret;
mod token;

pub use keys::{ApiKey, KeyRing, NewKey, create_key, hash_key, revoke_key};
pub use secret::{ServerSecret, write_private};
pub use token::{Claims, TokenError, TokenSigner};

use std::fmt;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Recommend, chat, search, similar, popular, item reads.
    Read,
    /// Write items, events and users.
    Ingest,
    /// Fit, dashboard, audit log, deletions, other users' data, tokens.
    Admin,
}

impl Scope {
    /// Every scope, in order.
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Ingest, Scope::Admin];

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Ingest => "ingest",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// No scope.
    pub const NONE: Scopes = Scopes(0);

    /// These scopes.
    pub fn of(scopes: &[Scope]) -> Self {
        Scopes(scopes.iter().fold(0, |m, s| m | s.bit()))
    }

    /// Every scope.
    pub fn all() -> Self {
        Self::of(&Scope::ALL)
    }

    /// Whether `s` is in the set.
    pub fn has(self, s: Scope) -> bool {
        self.0 & s.bit() != 0
    }

    /// Parses `read,ingest` (also `all`); names the unknown scope on failure.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = Scopes::NONE;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.0 |= match part {
                "read" => Scope::Read.bit(),
                "ingest" => Scope::Ingest.bit(),
                "admin" => Scope::Admin.bit(),
                "all" => Scopes::all().0,
                other => {
                    return Err(format!(
                        "unknown scope `{other}` (known: read, ingest, admin, all)"
                    ));
                }
            };
        }
        if out == Scopes::NONE {
            return Err("no scope given (known: read, ingest, admin, all)".into());
        }
        Ok(out)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Scope::ALL
            .iter()
            .filter(|s| self.has(**s))
            .map(|s| s.as_str())
            .collect();
        f.write_str(&names.join(","))
    }
}

/// Errors of key and secret handling.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sommelier_store::StoreError),
    /// The secret file could not be read or written.
    #[error("server secret {path}: {reason}")]
    Secret {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The operating system's random source failed.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    /// A bad argument from the operator.
    #[error("{0}")]
    Usage(String),
}

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(b)
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print() {
        let s = Scopes::parse("read, ingest").unwrap();
        assert!(s.has(Scope::Read) && s.has(Scope::Ingest) && !s.has(Scope::Admin));
        assert_eq!(s.to_string(), "read,ingest");
        assert_eq!(Scopes::parse("all").unwrap(), Scopes::all());
        assert!(Scopes::parse("read,write").unwrap_err().contains("`write`"));
        assert!(Scopes::parse("").is_err());
    }
}
