//! `[auth]` and `[privacy]`: who may call, and what is kept of what people
//! say. docs/security.md explains each.

use serde::{Deserialize, Serialize};

/// `[auth]`: API keys, user tokens, rate limits, origins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Require an API key or a user token on every endpoint but `/healthz`,
    /// `/openapi.json` and the web UI's files. Off only for a server nobody
    /// else can reach (the tests of other parts turn it off).
    pub enabled: bool,
    /// The HS256 key of user tokens, as text (at least 32 bytes) when the
    /// operator's backend signs tokens itself; empty: derived from the data
    /// folder's `secrets/server.key`.
    pub token_secret: String,
    /// Longest lifetime of a user token the server accepts, seconds.
    pub max_token_ttl_secs: u64,
    /// Requests per second per key (and per user token) unless the key sets
    /// its own.
    pub rate_per_sec: f64,
    /// Requests a caller may make at once above its rate.
    pub burst: u32,
    /// Origins (`https://shop.example`) whose pages may call the API from a
    /// browser; the server's own origin always may. Others are refused.
    pub allowed_origins: Vec<String>,
    /// `Host` header values answered (`api.example:443`); empty: the
    /// loopback names when listening on loopback, any host otherwise.
    pub allowed_hosts: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            token_secret: String::new(),
            max_token_ttl_secs: 86_400,
            rate_per_sec: 100.0,
            burst: 200,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
        }
    }
}

/// `[privacy]`: what is kept of what people say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Replace e-mail addresses, phone numbers, street addresses, card
    /// numbers, IBANs and IP addresses with `[email]`, `[phone]`, … before
    /// chat text is stored, logged or sent to a remote model.
    pub redact_pii: bool,
    /// How long a session whose user did not consent to memory (or an
    /// anonymous one) is kept in memory after its last turn, seconds. Such
    /// sessions are never written to the store.
    pub session_ttl_secs: u64,
    /// Most sessions kept in memory; the least recently used go first.
    pub max_memory_sessions: usize,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            redact_pii: true,
            session_ttl_secs: 1800,
            max_memory_sessions: 10_000,
        }
    }
}
