//! A cache of LLM results keyed by model, prompt version and inputs, with a
//! time to live and a size bound; hits and misses are counted for `/metrics`.

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The key of a cached result: a digest of its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// The key of (model, prompt version, inputs…).
    pub fn of(model: &str, prompt_version: &str, inputs: &[&str]) -> Self {
        let mut h = Sha256::new();
        for part in [model, prompt_version].iter().chain(inputs) {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        Self(h.finalize().into())
    }
}

/// Bounded TTL cache of completion texts.
#[derive(Debug)]
pub struct LlmCache {
    entries: Mutex<HashMap<CacheKey, (Instant, String)>>,
    ttl: Duration,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl LlmCache {
    /// A cache of at most `capacity` entries living `ttl` each (capacity 0: off).
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The live entry for `key`, counting a hit or a miss.
    pub fn get(&self, key: &CacheKey) -> Option<String> {
        if self.capacity == 0 {
            return None;
        }
        let mut map = self.entries.lock();
        let found = match map.get(key) {
            Some((at, v)) if at.elapsed() < self.ttl => Some(v.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores a result; when full, expired entries go first, then the oldest.
    pub fn put(&self, key: CacheKey, value: String) {
        if self.capacity == 0 {
            return;
        }
        let mut map = self.entries.lock();
        if map.len() >= self.capacity && !map.contains_key(&key) {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| at.elapsed() < ttl);
            if map.len() >= self.capacity
                && let Some(oldest) = map.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        map.insert(key, (Instant::now(), value));
    }

    /// Drops every entry (a user asked to be forgotten: cached answers may
    /// hold their words); returns how many.
    pub fn clear(&self) -> usize {
        let mut map = self.entries.lock();
        let n = map.len();
        map.clear();
        n
    }

    /// (hits, misses) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_models_versions_and_inputs() {
        let a = CacheKey::of("m", "v1", &["x"]);
        assert_eq!(a, CacheKey::of("m", "v1", &["x"]));
        assert_ne!(a, CacheKey::of("m", "v2", &["x"]));
        assert_ne!(a, CacheKey::of("n", "v1", &["x"]));
        assert_ne!(
            CacheKey::of("m", "v1", &["ab", "c"]),
            CacheKey::of("m", "v1", &["a", "bc"])
        );
    }

    #[test]
    fn hits_expire_and_capacity_holds() {
        let c = LlmCache::new(2, Duration::from_millis(50));
        let k = |s: &str| CacheKey::of("m", "v", &[s]);
        assert_eq!(c.get(&k("a")), None);
        c.put(k("a"), "A".into());
        assert_eq!(c.get(&k("a")).as_deref(), Some("A"));
        c.put(k("b"), "B".into());
        c.put(k("c"), "C".into());
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&k("a")), None, "the oldest went first");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get(&k("c")), None, "expired");
        assert_eq!(c.counts(), (1, 3));
    }
}
