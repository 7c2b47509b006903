//! API keys, the append-only audit log, and deletions that leave no trace
//! (forgetting a user, deleting an event).
//!
//! The writer connection runs with `secure_delete`, so deleted rows are
//! overwritten with zeros in their pages; after a privacy deletion the WAL
//! is checkpointed and truncated, so the old page images leave the disk.

use super::SqliteStore;
use crate::error::{Op, Result, StoreError};
use crate::{AccessStore, ApiKeyRow, AuditEntry, ForgetCounts, PrivacyWrite};
use rusqlite::{OptionalExtension, params};
use sommelier_types::EventId;

impl AccessStore for SqliteStore {
    fn api_keys(&self) -> Result<Vec<ApiKeyRow>> {
        self.read(|conn| {
            let mut st = conn
                .prepare_cached(
                    "SELECT id, name, scopes, hash, rate, created_ms, revoked_ms FROM api_keys
                     ORDER BY created_ms, id",
                )
                .op("reading API keys")?;
            st.query_map([], |r| {
                Ok(ApiKeyRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    scopes: r.get(2)?,
                    hash: r.get(3)?,
                    rate: r.get(4)?,
                    created_ms: r.get(5)?,
                    revoked_ms: r.get(6)?,
                })
            })
            .op("reading API keys")?
            .collect::<std::result::Result<_, _>>()
            .op("reading API keys")
        })
    }

    fn insert_api_key(&self, k: &ApiKeyRow) -> Result<()> {
        self.writer
            .lock()
            .execute(
                "INSERT INTO api_keys (id, name, scopes, hash, rate, created_ms, revoked_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    k.id,
                    k.name,
                    k.scopes,
                    k.hash,
                    k.rate,
                    k.created_ms,
                    k.revoked_ms
                ],
            )
            .op("saving an API key")?;
        Ok(())
    }

    fn revoke_api_key(&self, id: &str, at_ms: i64) -> Result<bool> {
        let n = self
            .writer
            .lock()
            .execute(
                "UPDATE api_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
                params![id, at_ms],
            )
            .op("revoking an API key")?;
        Ok(n > 0)
    }

    fn append_audit(&self, e: &AuditEntry) -> Result<i64> {
        let conn = self.writer.lock();
        conn.execute(
            "INSERT INTO audit_log (at_ms, actor, action, target, outcome) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![e.at_ms, e.actor, e.action, e.target, e.outcome],
        )
        .op("appending to the audit log")?;
        Ok(conn.last_insert_rowid())
    }

    fn audit_log(&self, after: i64, n: usize) -> Result<Vec<AuditEntry>> {
        self.read(|conn| {
            let mut st = conn
                .prepare_cached(
                    "SELECT seq, at_ms, actor, action, target, outcome FROM audit_log
                     WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .op("reading the audit log")?;
            st.query_map(params![after, n as i64], |r| {
                Ok(AuditEntry {
                    seq: r.get(0)?,
                    at_ms: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    outcome: r.get(5)?,
                })
            })
            .op("reading the audit log")?
            .collect::<std::result::Result<_, _>>()
            .op("reading the audit log")
        })
    }
}

impl SqliteStore {
    /// Checkpoints the WAL into the database and truncates it, so page
    /// images of deleted rows do not stay in the journal. Readers holding an
    /// old snapshot can make a checkpoint partial; it is retried briefly.
    fn scrub_journal(&self) -> Result<()> {
        scrub(&self.writer.lock())
    }
}

/// Checkpoints the WAL of the writer `conn` into its database and truncates
/// it (retried briefly while readers hold an old snapshot).
pub(super) fn scrub(conn: &rusqlite::Connection) -> Result<()> {
    for _ in 0..50 {
        let busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .op("checkpointing the journal")?;
        if busy == 0 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(StoreError::Busy {
        op: "scrubbing the journal after a deletion",
    })
}

impl PrivacyWrite for SqliteStore {
    fn forget_user(&self, user: &str) -> Result<ForgetCounts> {
        // The lists served to the user first, from the exposure log's own
        // file: a deletion cut short leaves the profile that a retry
        // finds, and a retry deletes what is left of both.
        let exposures = self.exposures.forget_user(user)?;
        let counts = {
            let mut conn = self.writer.lock();
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .op("beginning a deletion")?;
            let profile = tx
                .execute("DELETE FROM users WHERE id = ?1", [user])
                .op("deleting a user")?
                > 0;
            let events = tx
                .execute("DELETE FROM events WHERE user = ?1", [user])
                .op("deleting a user's events")? as u64;
            // Every turn of every session the user spoke in.
            let chat_turns = tx
                .execute(
                    "DELETE FROM chat_turns WHERE session IN
                     (SELECT DISTINCT session FROM chat_turns WHERE user_id = ?1)",
                    [user],
                )
                .op("deleting a user's chat turns")? as u64;
            let memory = tx
                .execute("DELETE FROM user_memory WHERE user_id = ?1", [user])
                .op("deleting a user's memory")?
                > 0;
            if events > 0 {
                recount_event_bounds(&tx)?;
            }
            tx.commit().op("committing a deletion")?;
            ForgetCounts {
                profile,
                events,
                chat_turns,
                memory,
                exposures,
            }
        };
        self.scrub_journal()?;
        Ok(counts)
    }

    fn delete_event(&self, id: &EventId) -> Result<bool> {
        let n = {
            let conn = self.writer.lock();
            let found: Option<i64> = conn
                .query_row("SELECT seq FROM events WHERE id = ?1", [id.as_str()], |r| {
                    r.get(0)
                })
                .optional()
                .op("finding an event")?;
            match found {
                None => 0,
                Some(seq) => {
                    let tx = conn.unchecked_transaction().op("beginning a deletion")?;
                    let n = tx
                        .execute("DELETE FROM events WHERE seq = ?1", [seq])
                        .op("deleting an event")?;
                    recount_event_bounds(&tx)?;
                    tx.commit().op("committing a deletion")?;
                    n
                }
            }
        };
        if n > 0 {
            self.scrub_journal()?;
        }
        Ok(n > 0)
    }
}

/// After events were deleted: the kept first and last event times, counted
/// again (one scan; deletions are rare, appends keep the bounds as they go).
fn recount_event_bounds(conn: &rusqlite::Connection) -> Result<()> {
    conn.execute_batch(&format!(
        "DELETE FROM counters WHERE name IN ('events.first_ts', 'events.last_ts'); {}",
        super::schema::COUNT_EVENT_BOUNDS
    ))
    .op("counting the event time bounds again")
}
