//! Who a chat session belongs to, and where its turns live.
//!
//! A session is started by the server (its id is 128 random bits) and
//! belongs to the user who started it, or to nobody (an anonymous visitor,
//! for whom the unguessable id is the only key). A turn that names a
//! session of someone else, or one that does not exist, gets "not found":
//! the two are indistinguishable to the caller.
//!
//! Turns of users who consented to memory are written to the store (with
//! PII redacted); every other session is kept only here, in memory, for
//! `privacy.session_ttl_secs` after its last turn, and is gone on restart.

use crate::{EngineError, Result};
use parking_lot::Mutex;
use sommelier_store::{ChatTurnRow, Store};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Longest session id accepted.
const MAX_SESSION_ID: usize = 100;

/// A new session id: `s-` and 32 hex digits of randomness.
pub(super) fn new_session_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: a clock-and-counter id is unique but guessable,
        // so say so in the log.
        tracing::warn!("no randomness for a session id; using the clock");
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b = n.to_le_bytes();
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("s-{hex}")
}

/// Checks the shape of a session id a client sent.
pub(super) fn check_session_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_SESSION_ID
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::Usage(format!(
            "`session_id` must be 1 to {MAX_SESSION_ID} characters of letters, digits, `-`, `_`, `.`, `:` (as a previous answer returned it)"
        )))
    }
}

struct Session {
    owner: Option<String>,
    turns: Vec<ChatTurnRow>,
    last: Instant,
}

/// Sessions kept only in memory.
pub(crate) struct MemorySessions {
    sessions: Mutex<HashMap<String, Session>>,
    ttl: Duration,
    cap: usize,
}

/// A session's owner and its newest turns, oldest first.
pub(super) struct Found {
    pub(super) turns: Vec<ChatTurnRow>,
    /// Whether it lives in memory (not in the store).
    pub(super) in_memory: bool,
}

impl MemorySessions {
    pub(crate) fn new(ttl_secs: u64, cap: usize) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            ttl: Duration::from_secs(ttl_secs),
            cap: cap.max(1),
        }
    }

    /// Finds `id` for the caller speaking as `user`: in memory, then in the
    /// store. Another owner's session is "not found".
    pub(super) fn find(
        &self,
        store: &dyn Store,
        id: &str,
        user: Option<&str>,
        n: usize,
    ) -> Result<Found> {
        let missing = || {
            EngineError::NotFound(format!(
                "no chat session `{id}` for this caller (sessions belong to the user who started them; start a new one by leaving out `session_id`)"
            ))
        };
        {
            let mut map = self.sessions.lock();
            if let Some(s) = map.get(id) {
                if s.last.elapsed() > self.ttl {
                    map.remove(id);
                    return Err(missing());
                }
                if s.owner.as_deref() != user {
                    return Err(missing());
                }
                let from = s.turns.len().saturating_sub(n);
                return Ok(Found {
                    turns: s.turns[from..].to_vec(),
                    in_memory: true,
                });
            }
        }
        let turns = store.chat_turns(id, n)?;
        match turns.last() {
            Some(t) if t.user_id.as_deref() == user => Ok(Found {
                turns,
                in_memory: false,
            }),
            _ => Err(missing()),
        }
    }

    /// Appends a turn to a session kept in memory; returns its number.
    pub(super) fn append(&self, id: &str, owner: Option<&str>, at_ms: i64, body: String) -> i64 {
        let mut map = self.sessions.lock();
        if !map.contains_key(id) && map.len() >= self.cap {
            // Expired ones first, then the least recently used.
            let ttl = self.ttl;
            map.retain(|_, s| s.last.elapsed() <= ttl);
            if map.len() >= self.cap
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.last)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let s = map.entry(id.to_string()).or_insert_with(|| Session {
            owner: owner.map(str::to_string),
            turns: Vec::new(),
            last: Instant::now(),
        });
        s.last = Instant::now();
        let turn = s.turns.len() as i64 + 1;
        s.turns.push(ChatTurnRow {
            turn,
            user_id: owner.map(str::to_string),
            at_ms,
            body,
        });
        turn
    }

    /// Drops every session of `user`; returns how many.
    pub(crate) fn forget_user(&self, user: &str) -> usize {
        let mut map = self.sessions.lock();
        let before = map.len();
        map.retain(|_, s| s.owner.as_deref() != Some(user));
        before - map.len()
    }

    /// Sessions held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sessions.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_checked() {
        let a = new_session_id();
        assert_ne!(a, new_session_id());
        assert_eq!(a.len(), 34);
        assert!(check_session_id(&a).is_ok());
        assert!(check_session_id(&"x".repeat(101)).is_err());
        assert!(check_session_id("a b").is_err());
        assert!(check_session_id("").is_err());
    }

    #[test]
    fn a_session_answers_only_its_owner_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            sommelier_store::SqliteStore::open(dir.path().join("db"), Default::default()).unwrap();
        let m = MemorySessions::new(3600, 2);
        assert_eq!(m.append("s1", Some("u1"), 1, "{}".into()), 1);
        assert_eq!(m.append("s1", Some("u1"), 2, "{}".into()), 2);
        assert_eq!(m.find(&store, "s1", Some("u1"), 8).unwrap().turns.len(), 2);
        assert!(matches!(
            m.find(&store, "s1", Some("u2"), 8),
            Err(EngineError::NotFound(_))
        ));
        assert!(matches!(
            m.find(&store, "s1", None, 8),
            Err(EngineError::NotFound(_))
        ));
        assert!(matches!(
            m.find(&store, "nope", None, 8),
            Err(EngineError::NotFound(_))
        ));
        // The cap drops the least recently used.
        m.append("s2", None, 3, "{}".into());
        m.append("s3", None, 4, "{}".into());
        assert_eq!(m.len(), 2);
        assert!(m.find(&store, "s1", Some("u1"), 8).is_err());
        assert_eq!(m.forget_user("u1"), 0);
        let short = MemorySessions::new(0, 10);
        short.append("s", None, 1, "{}".into());
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.find(&store, "s", None, 8).is_err());
    }
}
