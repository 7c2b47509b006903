//! `[auth]`, `[privacy]` and `[policy]`: who may call, what is kept of what
//! people say, and what is never shown. docs/security.md explains each.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// `[policy]`: items never shown, on any surface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Items in any of these categories are never recommended, listed,
    /// searched or named in chat (case-insensitive).
    pub exclude_categories: Vec<String>,
    /// Items whose attribute has one of these values are excluded the same
    /// way (`{ age_rating = ["R", "NC-17"] }`; values compared as text,
    /// case-insensitive; a list attribute matches when any element does).
    pub exclude_attributes: BTreeMap<String, Vec<String>>,
}

impl PolicyConfig {
    /// Whether nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.exclude_categories.is_empty() && self.exclude_attributes.is_empty()
    }

    /// Whether the policy keeps `item` off every surface.
    pub fn excludes(&self, item: &sommelier_types::Item) -> bool {
        if self.is_empty() {
            return false;
        }
        let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        if item
            .categories
            .iter()
            .any(|c| self.exclude_categories.iter().any(|x| same(c, x)))
        {
            return true;
        }
        self.exclude_attributes.iter().any(|(key, values)| {
            let text = |v: &serde_json::Value| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            let found: Vec<String> = match item.attributes.get(key) {
                Some(serde_json::Value::Array(a)) => a.iter().filter_map(text).collect(),
                Some(v) => text(v).into_iter().collect(),
                None => Vec::new(),
            };
            found.iter().any(|f| values.iter().any(|v| same(f, v)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_and_attribute_values_exclude_case_insensitively() {
        let item: sommelier_types::Item = serde_json::from_value(serde_json::json!({
            "id": "1", "kind": "movie", "title": "X", "description": null,
            "categories": ["Horror", "Thriller"], "tags": [],
            "attributes": {"age_rating": "nc-17", "tags": ["gore", "slasher"]},
            "price": null, "availability": {"available": true, "inventory": null},
            "release_date": null, "created_at": 0, "updated_at": 0
        }))
        .unwrap();
        let mut p = PolicyConfig::default();
        assert!(!p.excludes(&item));
        p.exclude_categories = vec!["horror".into()];
        assert!(p.excludes(&item));
        p.exclude_categories.clear();
        p.exclude_attributes
            .insert("age_rating".into(), vec!["NC-17".into()]);
        assert!(p.excludes(&item));
        p.exclude_attributes.clear();
        p.exclude_attributes
            .insert("tags".into(), vec!["Slasher".into()]);
        assert!(p.excludes(&item));
        p.exclude_attributes
            .insert("tags".into(), vec!["romance".into()]);
        assert!(!p.excludes(&item));
    }
}
