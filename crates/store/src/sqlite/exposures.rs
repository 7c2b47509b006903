//! The exposure log: one row per served list, appended in batches by the
//! engine's exposure writer, read back by request id (attribution, replay)
//! and by user; and the experiments declared over the admin API.

use super::SqliteStore;
use crate::error::{Op, Result};
use crate::{ExperimentStore, ExposureLog, ExposureRow};
use rusqlite::{OptionalExtension, params};

const COLUMNS: &str = "request_id, at_ms, user_id, surface, variant, body";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExposureRow> {
    Ok(ExposureRow {
        request_id: r.get(0)?,
        at_ms: r.get(1)?,
        user_id: r.get(2)?,
        surface: r.get(3)?,
        variant: r.get(4)?,
        body: r.get(5)?,
    })
}

impl ExposureLog for SqliteStore {
    fn append_exposures(&self, rows: &[ExposureRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer.lock();
        // Exposure batches commit without an fsync of the WAL (in WAL mode
        // a commit still survives a killed process; a power loss may take
        // the last batches, as a crash takes the rows still queued): up to
        // 50 fsyncs a second under load that no request needs to wait for.
        let relaxed = self.options.durability == super::Durability::Full;
        if relaxed {
            conn.execute_batch("PRAGMA synchronous = NORMAL")
                .op("relaxing the exposure batch's sync")?;
        }
        let out = append(&mut conn, rows);
        if relaxed {
            conn.execute_batch("PRAGMA synchronous = FULL")
                .op("restoring the writer's sync")?;
        }
        out
    }

    fn exposure(&self, request_id: &str) -> Result<Option<ExposureRow>> {
        self.read(|conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM exposures WHERE request_id = ?1"),
                [request_id],
                row,
            )
            .optional()
            .op("reading an exposure")
        })
    }

    fn exposures_of(&self, user_id: &str, n: usize) -> Result<Vec<ExposureRow>> {
        self.read(|conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM exposures WHERE user_id = ?1
                     ORDER BY request_id DESC LIMIT ?2"
                ))
                .op("reading a user's exposures")?;
            st.query_map(params![user_id, n as i64], row)
                .op("reading a user's exposures")?
                .collect::<std::result::Result<_, _>>()
                .op("reading a user's exposures")
        })
    }

    fn scan_exposures(&self, from_ms: i64, f: &mut dyn FnMut(ExposureRow)) -> Result<()> {
        let from = crate::codec::request_id_floor(from_ms);
        self.read(|conn| {
            let mut st = conn
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM exposures WHERE request_id >= ?1 ORDER BY request_id"
                ))
                .op("scanning exposures")?;
            let rows = st.query_map([from], row).op("scanning exposures")?;
            for r in rows {
                f(r.op("scanning exposures")?);
            }
            Ok(())
        })
    }
}

impl ExperimentStore for SqliteStore {
    fn experiment_definitions(&self) -> Result<Vec<(String, String)>> {
        self.read(|conn| {
            let mut st = conn
                .prepare_cached("SELECT name, body FROM experiments ORDER BY name")
                .op("reading experiments")?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .op("reading experiments")?
                .collect::<std::result::Result<_, _>>()
                .op("reading experiments")
        })
    }

    fn put_experiment_definition(&self, name: &str, body: &str) -> Result<()> {
        let conn = self.writer.lock();
        conn.execute(
            "INSERT INTO experiments (name, body, updated_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms",
            params![name, body, sommelier_types::Timestamp::now().0],
        )
        .op("storing an experiment")?;
        Ok(())
    }

    fn delete_experiment_definition(&self, name: &str) -> Result<bool> {
        let conn = self.writer.lock();
        let n = conn
            .execute("DELETE FROM experiments WHERE name = ?1", [name])
            .op("deleting an experiment")?;
        Ok(n > 0)
    }
}

/// One exposure batch in one transaction.
fn append(conn: &mut rusqlite::Connection, rows: &[ExposureRow]) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .op("beginning an exposure batch")?;
    {
        let mut st = tx
            .prepare_cached(&format!(
                "INSERT OR IGNORE INTO exposures ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))
            .op("logging exposures")?;
        for e in rows {
            st.execute(params![
                e.request_id,
                e.at_ms,
                e.user_id,
                e.surface,
                e.variant,
                e.body
            ])
            .op("logging exposures")?;
        }
    }
    tx.commit().op("committing an exposure batch")
}
