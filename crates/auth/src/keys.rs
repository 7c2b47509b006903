//! API keys: created with a random secret, stored as a SHA-256, looked up by
//! the hash of what a client presents.

use crate::{AuthError, Scopes, now_ms, random_bytes};
use base64::Engine as _;
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use sommelier_store::{AccessStore, ApiKeyRow, AuditEntry};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A live key as the server sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    /// Public id.
    pub id: String,
    /// The operator's name for it.
    pub name: String,
    /// What it may do.
    pub scopes: Scopes,
    /// Its own request rate, if set.
    pub rate: Option<f64>,
}

/// A key just created: `key` is shown once and never stored.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The whole key, for the client (`sk_<id>_<secret>`).
    pub key: String,
    /// What is stored about it.
    pub info: ApiKey,
}

/// Lower-case hex SHA-256 of a key.
pub fn hash_key(key: &str) -> String {
    let d = Sha256::digest(key.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates a key with these scopes, stores its hash, and audits the creation
/// as done by `actor`.
pub fn create_key(
    store: &dyn AccessStore,
    name: &str,
    scopes: Scopes,
    rate: Option<f64>,
    actor: &str,
) -> Result<NewKey, AuthError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(AuthError::Usage(
            "a key needs a name of 1 to 100 characters".into(),
        ));
    }
    if let Some(r) = rate
        && !(r.is_finite() && r > 0.0)
    {
        return Err(AuthError::Usage(format!(
            "rate {r} is not a positive number of requests per second"
        )));
    }
    let id: String = random_bytes::<6>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
    let key = format!("sk_{id}_{secret}");
    let at = now_ms();
    store.insert_api_key(&ApiKeyRow {
        id: id.clone(),
        name: name.to_string(),
        scopes: scopes.to_string(),
        hash: hash_key(&key),
        rate,
        created_ms: at,
        revoked_ms: None,
    })?;
    store.append_audit(&AuditEntry {
        seq: 0,
        at_ms: at,
        actor: actor.to_string(),
        action: "keys.create".into(),
        target: format!("key:{id} scopes={scopes}"),
        outcome: "ok".into(),
    })?;
    Ok(NewKey {
        key,
        info: ApiKey {
            id,
            name: name.to_string(),
            scopes,
            rate,
        },
    })
}

/// Revokes a key by id and audits it; false when there is no live key with
/// that id.
pub fn revoke_key(store: &dyn AccessStore, id: &str, actor: &str) -> Result<bool, AuthError> {
    let at = now_ms();
    let done = store.revoke_api_key(id, at)?;
    store.append_audit(&AuditEntry {
        seq: 0,
        at_ms: at,
        actor: actor.to_string(),
        action: "keys.revoke".into(),
        target: format!("key:{id}"),
        outcome: if done { "ok" } else { "not_found" }.into(),
    })?;
    Ok(done)
}

/// The live keys by hash, re-read from the store on [`KeyRing::refresh`]
/// and, at most every 250 ms, when a key is not found (a key created a
/// moment ago by the CLI works at once; a flood of wrong keys costs one read
/// per 250 ms).
pub struct KeyRing {
    by_hash: RwLock<HashMap<String, ApiKey>>,
    last_miss_reload: Mutex<Option<Instant>>,
}

const MISS_RELOAD_EVERY: Duration = Duration::from_millis(250);

impl KeyRing {
    /// Reads the live keys.
    pub fn load(store: &dyn AccessStore) -> Result<Self, AuthError> {
        let ring = Self {
            by_hash: RwLock::new(HashMap::new()),
            last_miss_reload: Mutex::new(None),
        };
        ring.refresh(store)?;
        Ok(ring)
    }

    /// Re-reads the keys: new ones start working, revoked ones stop.
    pub fn refresh(&self, store: &dyn AccessStore) -> Result<(), AuthError> {
        let mut map = HashMap::new();
        for row in store.api_keys()? {
            if row.revoked_ms.is_some() {
                continue;
            }
            // A row whose scopes do not parse grants nothing.
            let Ok(scopes) = Scopes::parse(&row.scopes) else {
                continue;
            };
            map.insert(
                row.hash,
                ApiKey {
                    id: row.id,
                    name: row.name,
                    scopes,
                    rate: row.rate,
                },
            );
        }
        *self.by_hash.write() = map;
        Ok(())
    }

    /// How many live keys there are.
    pub fn len(&self) -> usize {
        self.by_hash.read().len()
    }

    /// Whether there is no live key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live key with this id, if any.
    pub fn by_id(&self, id: &str) -> Option<ApiKey> {
        self.by_hash.read().values().find(|k| k.id == id).cloned()
    }

    /// The live key `presented` is, if any.
    pub fn lookup(&self, presented: &str, store: &dyn AccessStore) -> Option<ApiKey> {
        if !presented.starts_with("sk_") || presented.len() > 128 {
            return None;
        }
        let hash = hash_key(presented);
        if let Some(k) = self.by_hash.read().get(&hash) {
            return Some(k.clone());
        }
        {
            let mut last = self.last_miss_reload.lock();
            if last.is_some_and(|t| t.elapsed() < MISS_RELOAD_EVERY) {
                return None;
            }
            *last = Some(Instant::now());
        }
        if self.refresh(store).is_err() {
            return None;
        }
        self.by_hash.read().get(&hash).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scope;
    use sommelier_store::{SqliteStore, StoreOptions};

    #[test]
    fn a_key_is_stored_hashed_found_by_value_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(dir.path().join("db.sqlite"), StoreOptions::default()).unwrap();
        let k = create_key(&store, "web", Scopes::of(&[Scope::Read]), None, "cli").unwrap();
        assert!(k.key.starts_with(&format!("sk_{}_", k.info.id)));
        // The secret is nowhere in the store.
        let rows = store.api_keys().unwrap();
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].hash.contains(&k.key) && rows[0].hash.len() == 64);
        let ring = KeyRing::load(&store).unwrap();
        assert_eq!(
            ring.lookup(&k.key, &store).unwrap().scopes,
            Scopes::of(&[Scope::Read])
        );
        let mut wrong = k.key.clone();
        wrong.pop();
        assert!(ring.lookup(&wrong, &store).is_none());
        assert!(ring.lookup("eyJhbGciOiJIUzI1NiJ9.e30.x", &store).is_none());
        // A key created after the ring was loaded is found at once.
        let k2 = create_key(&store, "admin", Scopes::all(), Some(5.0), "cli").unwrap();
        std::thread::sleep(MISS_RELOAD_EVERY);
        assert_eq!(ring.lookup(&k2.key, &store).unwrap().rate, Some(5.0));
        assert!(revoke_key(&store, &k.info.id, "cli").unwrap());
        assert!(!revoke_key(&store, &k.info.id, "cli").unwrap());
        ring.refresh(&store).unwrap();
        assert!(ring.lookup(&k.key, &store).is_none());
        let audit = store.audit_log(0, 10).unwrap();
        let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["keys.create", "keys.create", "keys.revoke", "keys.revoke"]
        );
        assert_eq!(audit[3].outcome, "not_found");
    }

    #[test]
    fn bad_names_and_rates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(dir.path().join("db.sqlite"), StoreOptions::default()).unwrap();
        assert!(create_key(&store, " ", Scopes::all(), None, "cli").is_err());
        assert!(create_key(&store, "x", Scopes::all(), Some(0.0), "cli").is_err());
    }
}
