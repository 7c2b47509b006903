//! The exposure log: one row per served list, appended in batches by the
//! engine's exposure writer, read back by request id (attribution, replay)
//! and by user; and the experiments declared over the admin API.
//!
//! The log lives in a database file of its own beside the store's
//! (`sommelier.exposures.db` beside `sommelier.db`), with its own writer
//! connection, readers and WAL: its batches do not wait for the store's
//! writer (an import, a stream of events) nor hold it up, and its
//! checkpoints do not rewrite the store's file.
//!
//! A row's body is kept deflated ([`Packer`]): its JSON repeats the same
//! keys for every item shown, and the log keeps a row for every list served,
//! so deflated it takes about a third of the disk. Bodies written as text by
//! earlier versions are read as they are.

use super::{SqliteStore, StoreOptions, open_conn, pooled_read};
use crate::error::{Op, Result};
use crate::{ExperimentStore, ExposureLog, ExposureRow};
use parking_lot::Mutex;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const COLUMNS: &str = "request_id, at_ms, user_id, surface, variant, body";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExposureRow> {
    Ok(ExposureRow {
        request_id: r.get(0)?,
        at_ms: r.get(1)?,
        user_id: r.get(2)?,
        surface: r.get(3)?,
        variant: r.get(4)?,
        body: unpack(r.get_ref(5)?).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Blob, e.into())
        })?,
    })
}

/// Deflates bodies as the log keeps them: raw DEFLATE at the fastest level
/// (about a third of the JSON). One per batch: the compressor's state is a
/// few hundred kilobytes, which a compressor per row would allocate and
/// clear for every row.
struct Packer(flate2::write::DeflateEncoder<Vec<u8>>);

impl Packer {
    fn new() -> Self {
        Self(flate2::write::DeflateEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ))
    }

    /// `body` deflated; the compressor is then ready for the next.
    fn pack(&mut self, body: &str) -> Vec<u8> {
        // Writing into a vector cannot fail.
        let _ = self.0.write_all(body.as_bytes());
        self.0
            .reset(Vec::with_capacity(body.len() / 2 + 64))
            .unwrap_or_default()
    }
}

/// A stored body back as JSON: a deflated one (a blob) is inflated; text,
/// which earlier versions wrote, is taken as it is.
fn unpack(stored: ValueRef<'_>) -> std::result::Result<String, String> {
    match stored {
        ValueRef::Text(t) => String::from_utf8(t.to_vec()).map_err(|e| e.to_string()),
        ValueRef::Blob(b) => {
            let mut body = String::with_capacity(b.len() * 4);
            flate2::read::DeflateDecoder::new(b)
                .read_to_string(&mut body)
                .map_err(|e| format!("the body does not inflate: {e}"))?;
            Ok(body)
        }
        other => Err(format!(
            "the body is {:?}, not text or a blob",
            other.data_type()
        )),
    }
}

/// The exposure log's database file.
pub(super) struct ExposureFile {
    path: PathBuf,
    options: StoreOptions,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

/// The log's schema (its version in `user_version`).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS exposures (
    request_id TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    user_id TEXT,
    surface TEXT NOT NULL,
    variant TEXT,
    body TEXT NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
";

impl ExposureFile {
    /// Opens (creating) the log's file beside the store's `store_path`, and
    /// moves into it the rows an older version kept in the store's own
    /// `exposures` table (`store` is the store's writer connection). The
    /// move copies, then deletes: cut short, it is done again at the next
    /// open, and a row copied twice is kept once.
    pub(super) fn open(
        store_path: &Path,
        options: &StoreOptions,
        store: &Connection,
    ) -> Result<Self> {
        let path = store_path.with_extension("exposures.db");
        // Batches commit without an fsync of the WAL (in WAL mode a commit
        // still survives a killed process; a power loss may take the last
        // batches, as a crash takes the rows still queued): up to 50 fsyncs
        // a second under load that no request needs to wait for.
        let options = StoreOptions {
            durability: super::Durability::Normal,
            ..options.clone()
        };
        let conn = open_conn(&path, &options, true)?;
        conn.execute_batch(SCHEMA)
            .op("creating the exposure log's schema")?;
        let old: bool = store
            .query_row("SELECT EXISTS (SELECT 1 FROM exposures)", [], |r| r.get(0))
            .op("looking for exposures kept in the store's file")?;
        if old {
            conn.execute(
                "ATTACH DATABASE ?1 AS store",
                [store_path.to_string_lossy()],
            )
            .op("attaching the store to move its exposures")?;
            let moved = conn
                .execute_batch(&format!(
                    "INSERT OR IGNORE INTO main.exposures ({COLUMNS}) SELECT {COLUMNS} FROM store.exposures"
                ))
                .op("moving exposures into their own file");
            conn.execute_batch("DETACH DATABASE store")
                .op("detaching the store")?;
            moved?;
            store
                .execute_batch("DELETE FROM exposures")
                .op("deleting the moved exposures from the store's file")?;
        }
        Ok(Self {
            path,
            options,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        pooled_read(&self.path, &self.options, &self.readers, f)
    }

    /// Deletes the lists served to `user`, and their page images from the
    /// journal; how many.
    pub(super) fn forget_user(&self, user: &str) -> Result<u64> {
        let conn = self.writer.lock();
        let n = conn
            .execute("DELETE FROM exposures WHERE user_id = ?1", [user])
            .op("deleting the lists served to a user")? as u64;
        if n > 0 {
            super::access::scrub(&conn)?;
        }
        Ok(n)
    }
}

impl ExposureLog for SqliteStore {
    fn append_exposures(&self, rows: &[ExposureRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // Deflated before the writer's lock and the batch's transaction are
        // taken, so neither is held for it.
        let mut packer = Packer::new();
        let bodies: Vec<Vec<u8>> = rows.iter().map(|e| packer.pack(&e.body)).collect();
        append(&mut self.exposures.writer.lock(), rows, &bodies)
    }

    fn exposure(&self, request_id: &str) -> Result<Option<ExposureRow>> {
        self.exposures.read(|conn| {
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
        self.exposures.read(|conn| {
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
        self.exposures.read(|conn| {
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

/// One exposure batch in one transaction; `bodies` are the rows' bodies,
/// deflated.
fn append(conn: &mut rusqlite::Connection, rows: &[ExposureRow], bodies: &[Vec<u8>]) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .op("beginning an exposure batch")?;
    {
        let mut st = tx
            .prepare_cached(&format!(
                "INSERT OR IGNORE INTO exposures ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))
            .op("logging exposures")?;
        for (e, body) in rows.iter().zip(bodies) {
            st.execute(params![
                e.request_id,
                e.at_ms,
                e.user_id,
                e.surface,
                e.variant,
                body
            ])
            .op("logging exposures")?;
        }
    }
    tx.commit().op("committing an exposure batch")
}
