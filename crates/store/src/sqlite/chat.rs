//! Chat sessions and long-term user memory. Turns are appended in their own
//! transaction once answered; memory is one JSON document per user, replaced
//! whole, and deleted when consent is withdrawn.

use super::SqliteStore;
use crate::error::{Op, Result};
use rusqlite::{OptionalExtension, params};

/// One stored turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatTurnRow {
    /// Position in the session, from 1.
    pub turn: i64,
    /// Who spoke, when known.
    pub user_id: Option<String>,
    /// When, milliseconds since the epoch.
    pub at_ms: i64,
    /// The turn as JSON.
    pub body: String,
}

impl SqliteStore {
    /// Appends a turn to `session` and returns its number.
    pub fn append_chat_turn(
        &self,
        session: &str,
        user_id: Option<&str>,
        at_ms: i64,
        body: &str,
    ) -> Result<i64> {
        let conn = self.writer.lock();
        let next: i64 = conn
            .query_row(
                "SELECT COALESCE(MAX(turn), 0) + 1 FROM chat_turns WHERE session = ?1",
                [session],
                |r| r.get(0),
            )
            .op("numbering a chat turn")?;
        conn.execute(
            "INSERT INTO chat_turns (session, turn, user_id, at_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![session, next, user_id, at_ms, body],
        )
        .op("saving a chat turn")?;
        Ok(next)
    }

    /// The last `n` turns of `session`, oldest first.
    pub fn chat_turns(&self, session: &str, n: usize) -> Result<Vec<ChatTurnRow>> {
        self.read(|conn| {
            let mut st = conn
                .prepare_cached(
                    "SELECT turn, user_id, at_ms, body FROM chat_turns WHERE session = ?1
                     ORDER BY turn DESC LIMIT ?2",
                )
                .op("reading chat turns")?;
            let mut rows: Vec<ChatTurnRow> = st
                .query_map(params![session, n as i64], |r| {
                    Ok(ChatTurnRow {
                        turn: r.get(0)?,
                        user_id: r.get(1)?,
                        at_ms: r.get(2)?,
                        body: r.get(3)?,
                    })
                })
                .op("reading chat turns")?
                .collect::<std::result::Result<_, _>>()
                .op("reading chat turns")?;
            rows.reverse();
            Ok(rows)
        })
    }

    /// A user's long-term memory document.
    pub fn user_memory(&self, user_id: &str) -> Result<Option<String>> {
        self.read(|conn| {
            conn.query_row(
                "SELECT body FROM user_memory WHERE user_id = ?1",
                [user_id],
                |r| r.get(0),
            )
            .optional()
            .op("reading user memory")
        })
    }

    /// Replaces a user's long-term memory document.
    pub fn put_user_memory(&self, user_id: &str, body: &str, at_ms: i64) -> Result<()> {
        self.writer
            .lock()
            .execute(
                "INSERT INTO user_memory (user_id, body, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms",
                params![user_id, body, at_ms],
            )
            .op("saving user memory")?;
        Ok(())
    }

    /// Forgets a user's long-term memory; true when there was some.
    pub fn delete_user_memory(&self, user_id: &str) -> Result<bool> {
        let n = self
            .writer
            .lock()
            .execute("DELETE FROM user_memory WHERE user_id = ?1", [user_id])
            .op("deleting user memory")?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::{SqliteStore, StoreOptions};

    #[test]
    fn turns_append_in_order_and_memory_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path().join("db.sqlite"), StoreOptions::default()).unwrap();
        assert_eq!(
            s.append_chat_turn("s1", Some("u"), 1, "{\"a\":1}").unwrap(),
            1
        );
        assert_eq!(
            s.append_chat_turn("s1", Some("u"), 2, "{\"a\":2}").unwrap(),
            2
        );
        assert_eq!(s.append_chat_turn("s2", None, 3, "{}").unwrap(), 1);
        let t = s.chat_turns("s1", 10).unwrap();
        assert_eq!(t.iter().map(|r| r.turn).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(s.chat_turns("s1", 1).unwrap()[0].body, "{\"a\":2}");
        assert_eq!(s.user_memory("u").unwrap(), None);
        s.put_user_memory("u", "{\"likes\":[]}", 5).unwrap();
        s.put_user_memory("u", "{\"likes\":[\"Comedy\"]}", 6)
            .unwrap();
        assert_eq!(
            s.user_memory("u").unwrap().as_deref(),
            Some("{\"likes\":[\"Comedy\"]}")
        );
        assert!(s.delete_user_memory("u").unwrap());
        assert_eq!(s.user_memory("u").unwrap(), None);
    }
}
