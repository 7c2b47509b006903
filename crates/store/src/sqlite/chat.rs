//! Chat sessions and long-term user memory. Turns are appended in their own
//! transaction once answered; memory is one JSON document per user, replaced
//! whole, and deleted when consent is withdrawn.

use super::SqliteStore;
use crate::error::{Op, Result};
use crate::{ChatTurnRow, SessionRead, SessionWrite};
use rusqlite::{OptionalExtension, params};

impl SessionRead for SqliteStore {
    /// The last `n` turns of `session`, oldest first.
    fn chat_turns(&self, session: &str, n: usize) -> Result<Vec<ChatTurnRow>> {
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
    fn user_memory(&self, user_id: &str) -> Result<Option<String>> {
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
}

impl SessionWrite for SqliteStore {
    /// Appends a turn to `session` and returns its number.
    fn append_chat_turn(
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

    /// Replaces a user's long-term memory document.
    fn put_user_memory(&self, user_id: &str, body: &str, at_ms: i64) -> Result<()> {
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
    fn delete_user_memory(&self, user_id: &str) -> Result<bool> {
        let n = self
            .writer
            .lock()
            .execute("DELETE FROM user_memory WHERE user_id = ?1", [user_id])
            .op("deleting user memory")?;
        Ok(n > 0)
    }
}
