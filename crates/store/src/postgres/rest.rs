//! Statistics, chat sessions and memory, the exposure log, experiments,
//! API keys and the audit log, and forgetting, on [`PostgresStore`].

use super::{Conn, PAGE, PostgresStore};
use crate::codec::request_id_floor;
use crate::error::Result;
use crate::{
    AccessStore, ApiKeyRow, AuditEntry, ChatTurnRow, ExperimentStore, ExposureLog, ExposureRow,
    ForgetCounts, PrivacyWrite, SessionRead, SessionWrite, StatsRead,
};
use sommelier_types::api::StoreStats;
use sommelier_types::{EventId, Timestamp};
use std::collections::BTreeMap;

fn count(c: &mut Conn, sql: &'static str) -> Result<u64> {
    Ok(c.query_opt(sql, &[], "counting")?
        .and_then(|r| r.get::<_, Option<i64>>(0))
        .unwrap_or(0)
        .max(0) as u64)
}

fn grouped(c: &mut Conn, sql: &'static str) -> Result<BTreeMap<String, u64>> {
    Ok(c.query(sql, &[], "counting")?
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1).max(0) as u64))
        .collect())
}

impl StatsRead for PostgresStore {
    /// Counted by queries: PostgreSQL keeps no counters table here (a row
    /// every writer updates would serialise them on one more lock).
    fn counters(&self) -> Result<StoreStats> {
        self.with(|c| {
            let mut s = StoreStats {
                items: count(c, "SELECT COUNT(*) FROM items WHERE deleted_at IS NULL")?,
                items_available: count(
                    c,
                    "SELECT COUNT(*) FROM items WHERE deleted_at IS NULL AND available",
                )?,
                items_deleted: count(c, "SELECT COUNT(*) FROM items WHERE deleted_at IS NOT NULL")?,
                users: count(c, "SELECT COUNT(*) FROM users")?,
                events: count(c, "SELECT COUNT(*) FROM events")?,
                ..StoreStats::default()
            };
            if s.events > 0 {
                let r = c.query_opt("SELECT MIN(ts), MAX(ts) FROM events", &[], "counting")?;
                if let Some(r) = r {
                    s.first_event = r.get::<_, Option<i64>>(0).map(|t| Timestamp(t).to_string());
                    s.last_event = r.get::<_, Option<i64>>(1).map(|t| Timestamp(t).to_string());
                }
            }
            s.items_by_kind = grouped(
                c,
                "SELECT kind, COUNT(*) FROM items WHERE deleted_at IS NULL GROUP BY kind",
            )?
            .into_iter()
            .collect();
            s.events_by_kind = grouped(c, "SELECT kind, COUNT(*) FROM events GROUP BY kind")?
                .into_iter()
                .collect();
            s.vectors = grouped(c, "SELECT model, COUNT(*) FROM item_vectors GROUP BY model")?
                .into_iter()
                .collect();
            s.disk_bytes = count(c, "SELECT pg_database_size(current_database())")?;
            Ok(s)
        })
    }

    fn distinct_in_events(&self) -> Result<(u64, u64)> {
        self.with(|c| {
            Ok((
                count(c, "SELECT COUNT(DISTINCT user_id) FROM events")?,
                count(c, "SELECT COUNT(DISTINCT item) FROM events")?,
            ))
        })
    }

    fn recount(&self) -> Result<StoreStats> {
        self.stats()
    }

    fn reset_counters(&self) -> Result<()> {
        Ok(())
    }
}

impl SessionRead for PostgresStore {
    fn chat_turns(&self, session: &str, n: usize) -> Result<Vec<ChatTurnRow>> {
        self.with(|c| {
            let mut rows: Vec<ChatTurnRow> = c
                .query(
                    "SELECT turn, user_id, at_ms, body FROM chat_turns WHERE session = $1
                     ORDER BY turn DESC LIMIT $2",
                    &[&session, &(n as i64)],
                    "reading chat turns",
                )?
                .iter()
                .map(|r| ChatTurnRow {
                    turn: r.get(0),
                    user_id: r.get(1),
                    at_ms: r.get(2),
                    body: r.get(3),
                })
                .collect();
            rows.reverse();
            Ok(rows)
        })
    }

    fn user_memory(&self, user_id: &str) -> Result<Option<String>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT body FROM user_memory WHERE user_id = $1",
                &[&user_id],
                "reading user memory",
            )?
            .map(|r| r.get(0)))
        })
    }
}

impl SessionWrite for PostgresStore {
    fn append_chat_turn(
        &self,
        session: &str,
        user_id: Option<&str>,
        at_ms: i64,
        body: &str,
    ) -> Result<i64> {
        // Under the write lock: two replicas answering one session number
        // their turns one after the other.
        self.write_locked(|c| {
            let next: i64 = c
                .query_opt(
                    "SELECT COALESCE(MAX(turn), 0) + 1 FROM chat_turns WHERE session = $1",
                    &[&session],
                    "numbering a chat turn",
                )?
                .map_or(1, |r| r.get(0));
            c.execute(
                "INSERT INTO chat_turns (session, turn, user_id, at_ms, body) VALUES ($1, $2, $3, $4, $5)",
                &[&session, &next, &user_id, &at_ms, &body],
                "saving a chat turn",
            )?;
            Ok(next)
        })
    }

    fn put_user_memory(&self, user_id: &str, body: &str, at_ms: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO user_memory (user_id, body, updated_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms",
                &[&user_id, &body, &at_ms],
                "saving user memory",
            )
            .map(|_| ())
        })
    }

    fn delete_user_memory(&self, user_id: &str) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "DELETE FROM user_memory WHERE user_id = $1",
                &[&user_id],
                "deleting user memory",
            )
            .map(|n| n > 0)
        })
    }
}

fn exposure(r: &tokio_postgres::Row) -> ExposureRow {
    ExposureRow {
        request_id: r.get(0),
        at_ms: r.get(1),
        user_id: r.get(2),
        surface: r.get(3),
        variant: r.get(4),
        body: r.get(5),
    }
}

impl ExposureLog for PostgresStore {
    fn append_exposures(&self, rows: &[ExposureRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // One statement for the batch: arrays of the columns, unnested.
        let col = |f: fn(&ExposureRow) -> Option<&str>| -> Vec<Option<&str>> {
            rows.iter().map(f).collect()
        };
        let ids = col(|r| Some(r.request_id.as_str()));
        let users = col(|r| r.user_id.as_deref());
        let surfaces = col(|r| Some(r.surface.as_str()));
        let variants = col(|r| r.variant.as_deref());
        let bodies = col(|r| Some(r.body.as_str()));
        let at: Vec<i64> = rows.iter().map(|r| r.at_ms).collect();
        self.with(|c| {
            c.execute(
                "INSERT INTO exposures (request_id, at_ms, user_id, surface, variant, body)
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])
                 ON CONFLICT (request_id) DO NOTHING",
                &[&ids, &at, &users, &surfaces, &variants, &bodies],
                "logging exposures",
            )
            .map(|_| ())
        })
    }

    fn exposure(&self, request_id: &str) -> Result<Option<ExposureRow>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT request_id, at_ms, user_id, surface, variant, body FROM exposures
                 WHERE request_id = $1",
                &[&request_id],
                "reading an exposure",
            )?
            .map(|r| exposure(&r)))
        })
    }

    fn exposures_of(&self, user_id: &str, n: usize) -> Result<Vec<ExposureRow>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT request_id, at_ms, user_id, surface, variant, body FROM exposures
                 WHERE user_id = $1 ORDER BY request_id DESC LIMIT $2",
                &[&user_id, &(n as i64)],
                "reading a user's exposures",
            )?
            .iter()
            .map(exposure)
            .collect())
        })
    }

    fn scan_exposures(&self, from_ms: i64, f: &mut dyn FnMut(ExposureRow)) -> Result<()> {
        // The first page from the floor itself, then strictly after the last.
        let mut from = request_id_floor(from_ms);
        let mut first = true;
        loop {
            let sql = if first {
                "SELECT request_id, at_ms, user_id, surface, variant, body FROM exposures
                 WHERE request_id >= $1 ORDER BY request_id LIMIT $2"
            } else {
                "SELECT request_id, at_ms, user_id, surface, variant, body FROM exposures
                 WHERE request_id > $1 ORDER BY request_id LIMIT $2"
            };
            let rows = self.with(|c| c.query(sql, &[&from, &PAGE], "scanning exposures"))?;
            first = false;
            let full = rows.len() as i64 == PAGE;
            for r in &rows {
                from = r.get(0);
                f(exposure(r));
            }
            if !full {
                return Ok(());
            }
        }
    }
}

impl ExperimentStore for PostgresStore {
    fn experiment_definitions(&self) -> Result<Vec<(String, String)>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT name, body FROM experiments ORDER BY name",
                &[],
                "reading experiments",
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    fn put_experiment_definition(&self, name: &str, body: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO experiments (name, body, updated_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms",
                &[&name, &body, &Timestamp::now().0],
                "storing an experiment",
            )
            .map(|_| ())
        })
    }

    fn delete_experiment_definition(&self, name: &str) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "DELETE FROM experiments WHERE name = $1",
                &[&name],
                "deleting an experiment",
            )
            .map(|n| n > 0)
        })
    }
}

impl AccessStore for PostgresStore {
    fn api_keys(&self) -> Result<Vec<ApiKeyRow>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT id, name, scopes, hash, rate, created_ms, revoked_ms FROM api_keys
                 ORDER BY created_ms, id",
                &[],
                "reading API keys",
            )?
            .iter()
            .map(|r| ApiKeyRow {
                id: r.get(0),
                name: r.get(1),
                scopes: r.get(2),
                hash: r.get(3),
                rate: r.get(4),
                created_ms: r.get(5),
                revoked_ms: r.get(6),
            })
            .collect())
        })
    }

    fn insert_api_key(&self, k: &ApiKeyRow) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO api_keys (id, name, scopes, hash, rate, created_ms, revoked_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &k.id,
                    &k.name,
                    &k.scopes,
                    &k.hash,
                    &k.rate,
                    &k.created_ms,
                    &k.revoked_ms,
                ],
                "saving an API key",
            )
            .map(|_| ())
        })
    }

    fn revoke_api_key(&self, id: &str, at_ms: i64) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "UPDATE api_keys SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL",
                &[&id, &at_ms],
                "revoking an API key",
            )
            .map(|n| n > 0)
        })
    }

    fn append_audit(&self, e: &AuditEntry) -> Result<i64> {
        // Under the write lock, so positions are in commit order.
        self.write_locked(|c| {
            Ok(c.query_opt(
                "INSERT INTO audit_log (at_ms, actor, action, target, outcome)
                 VALUES ($1, $2, $3, $4, $5) RETURNING seq",
                &[&e.at_ms, &e.actor, &e.action, &e.target, &e.outcome],
                "appending to the audit log",
            )?
            .map_or(0, |r| r.get(0)))
        })
    }

    fn audit_log(&self, after: i64, n: usize) -> Result<Vec<AuditEntry>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT seq, at_ms, actor, action, target, outcome FROM audit_log
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &(n as i64)],
                "reading the audit log",
            )?
            .iter()
            .map(|r| AuditEntry {
                seq: r.get(0),
                at_ms: r.get(1),
                actor: r.get(2),
                action: r.get(3),
                target: r.get(4),
                outcome: r.get(5),
            })
            .collect())
        })
    }
}

impl PostgresStore {
    /// Reclaims the space of deleted rows now rather than at the next
    /// autovacuum, so their bytes leave the table files sooner (the
    /// server's write-ahead log keeps them until its segments are
    /// recycled, a matter of the server's configuration).
    fn vacuum(&self, tables: &str) -> Result<()> {
        self.with(|c| c.batch(&format!("VACUUM {tables}"), "vacuuming after a deletion"))
    }
}

impl PrivacyWrite for PostgresStore {
    fn forget_user(&self, user: &str) -> Result<ForgetCounts> {
        let counts = self.write_locked(|c| {
            let profile = c.execute(
                "DELETE FROM users WHERE id = $1",
                &[&user],
                "deleting a user",
            )? > 0;
            let events = c.execute(
                "DELETE FROM events WHERE user_id = $1",
                &[&user],
                "deleting a user's events",
            )?;
            let chat_turns = c.execute(
                "DELETE FROM chat_turns WHERE session IN
                 (SELECT DISTINCT session FROM chat_turns WHERE user_id = $1)",
                &[&user],
                "deleting a user's chat turns",
            )?;
            let memory = c.execute(
                "DELETE FROM user_memory WHERE user_id = $1",
                &[&user],
                "deleting a user's memory",
            )? > 0;
            let exposures = c.execute(
                "DELETE FROM exposures WHERE user_id = $1",
                &[&user],
                "deleting the lists served to a user",
            )?;
            Ok(ForgetCounts {
                profile,
                events,
                chat_turns,
                memory,
                exposures,
            })
        })?;
        self.vacuum("users, events, chat_turns, user_memory, exposures")?;
        Ok(counts)
    }

    fn delete_event(&self, id: &EventId) -> Result<bool> {
        let n = self.write_locked(|c| {
            c.execute(
                "DELETE FROM events WHERE id = $1",
                &[&id.as_str()],
                "deleting an event",
            )
        })?;
        if n > 0 {
            self.vacuum("events")?;
        }
        Ok(n > 0)
    }
}
