//! Summary counts: read from the kept counters (schema V6), or counted again
//! from the rows.

use super::SqliteStore;
use crate::error::{Op, Result};
use crate::traits::StatsRead;
use rusqlite::Connection;
use sommelier_types::Timestamp;
use sommelier_types::api::StoreStats;

impl SqliteStore {
    /// Size of the database file with its journal and shared-memory files.
    fn disk_bytes(&self) -> u64 {
        ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| {
                let mut p = self.path().as_os_str().to_owned();
                p.push(suffix);
                std::fs::metadata(p).ok().map(|m| m.len())
            })
            .sum()
    }
}

fn one(c: &Connection, sql: &str) -> Result<i64> {
    c.query_row(sql, [], |r| {
        r.get::<_, Option<i64>>(0).map(|v| v.unwrap_or(0))
    })
    .op("counting")
}

fn grouped(c: &Connection, sql: &str) -> Result<Vec<(String, i64)>> {
    let mut stmt = c.prepare_cached(sql).op("preparing a count")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .op("counting")?;
    rows.collect::<std::result::Result<_, _>>().op("counting")
}

/// A kept count as a count; a negative one would be a bug in the triggers or
/// the writer, and reads as 0 rather than as a huge number.
fn count(n: i64) -> u64 {
    n.max(0) as u64
}

impl StatsRead for SqliteStore {
    fn counters(&self) -> Result<StoreStats> {
        let mut s = self.read(|c| {
            let mut s = StoreStats::default();
            let (mut first, mut last) = (None, None);
            for (name, n) in grouped(c, "SELECT name, n FROM counters")? {
                match name.as_str() {
                    "items" => s.items = count(n),
                    "items.available" => s.items_available = count(n),
                    "items.deleted" => s.items_deleted = count(n),
                    "users" => s.users = count(n),
                    "events" => s.events = count(n),
                    "events.first_ts" => first = Some(n),
                    "events.last_ts" => last = Some(n),
                    other => {
                        let (map, key) = if let Some(k) = other.strip_prefix("items.kind.") {
                            (&mut s.items_by_kind, k)
                        } else if let Some(k) = other.strip_prefix("events.kind.") {
                            (&mut s.events_by_kind, k)
                        } else if let Some(k) = other.strip_prefix("vectors.") {
                            (&mut s.vectors, k)
                        } else {
                            continue;
                        };
                        if n > 0 {
                            map.insert(key.to_string(), count(n));
                        }
                    }
                }
            }
            if s.events > 0 {
                s.first_event = first.map(|t| Timestamp(t).to_string());
                s.last_event = last.map(|t| Timestamp(t).to_string());
            }
            Ok(s)
        })?;
        s.disk_bytes = self.disk_bytes();
        Ok(s)
    }

    fn distinct_in_events(&self) -> Result<(u64, u64)> {
        self.read(|c| {
            Ok((
                count(one(c, "SELECT COUNT(DISTINCT user) FROM events")?),
                count(one(c, "SELECT COUNT(DISTINCT item) FROM events")?),
            ))
        })
    }

    fn recount(&self) -> Result<StoreStats> {
        let mut s = self.read(|c| {
            let mut s = StoreStats {
                items: count(one(
                    c,
                    "SELECT COUNT(*) FROM items WHERE deleted_at IS NULL",
                )?),
                items_available: count(one(
                    c,
                    "SELECT COUNT(*) FROM items WHERE deleted_at IS NULL AND available",
                )?),
                items_deleted: count(one(
                    c,
                    "SELECT COUNT(*) FROM items WHERE deleted_at IS NOT NULL",
                )?),
                users: count(one(c, "SELECT COUNT(*) FROM users")?),
                events: count(one(c, "SELECT COUNT(*) FROM events")?),
                ..StoreStats::default()
            };
            if s.events > 0 {
                s.first_event = Some(Timestamp(one(c, "SELECT MIN(ts) FROM events")?).to_string());
                s.last_event = Some(Timestamp(one(c, "SELECT MAX(ts) FROM events")?).to_string());
            }
            let map =
                |rows: Vec<(String, i64)>| rows.into_iter().map(|(k, n)| (k, count(n))).collect();
            s.items_by_kind = map(grouped(
                c,
                "SELECT kind, COUNT(*) FROM items WHERE deleted_at IS NULL GROUP BY kind",
            )?);
            s.events_by_kind = map(grouped(
                c,
                "SELECT kind, COUNT(*) FROM events GROUP BY kind",
            )?);
            s.vectors = map(grouped(
                c,
                "SELECT model, COUNT(*) FROM item_vectors GROUP BY model",
            )?);
            Ok(s)
        })?;
        (s.event_users, s.event_items) = self.distinct_in_events()?;
        s.disk_bytes = self.disk_bytes();
        Ok(s)
    }

    fn reset_counters(&self) -> Result<()> {
        let mut conn = self.writer.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .op("beginning a recount")?;
        tx.execute_batch(&format!(
            "DELETE FROM counters; {} {}",
            super::schema::COUNT_ROWS,
            super::schema::COUNT_EVENT_BOUNDS
        ))
        .op("counting the rows again")?;
        tx.commit().op("committing the recount")
    }
}
