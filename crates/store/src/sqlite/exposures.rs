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
//! A row's body is kept packed with LZ4 ([`pack`]): its JSON repeats the
//! same keys for every item shown, and the log keeps a row for every list
//! served, so packed it takes about half of the disk. Bodies written by
//! earlier versions, deflated or as text, are read as they are.

use super::{SqliteStore, StoreOptions, open_conn, pooled_read};
use crate::error::{Op, Result};
use crate::{ExperimentStore, ExposureLog, ExposureRow};
use parking_lot::Mutex;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use std::io::Read;
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

/// The first byte of a body packed by [`pack`]. Bodies written by earlier
/// versions are raw DEFLATE, whose first byte's bits 1–2 give the first
/// block's type; `11` is reserved and never starts a valid stream, so no
/// deflated body starts with this byte.
const LZ4: u8 = 0xff;

/// The largest body [`unpack`] inflates: a damaged length never allocates
/// more.
const MAX_BODY: usize = 64 << 20;

/// A body as the log keeps it: [`LZ4`], the JSON's length (4 bytes, little
/// endian), then the JSON as one LZ4 block. Its JSON repeats the same keys
/// for every item shown, so the block is about half of it. DEFLATE, which
/// earlier versions used, cleared its tables for every row and took about
/// half of the writer's CPU (docs/benchmarks.md, "What the exposure log
/// costs").
fn pack(body: &str) -> Vec<u8> {
    let json = body.as_bytes();
    let mut out = vec![0u8; 5 + lz4_flex::block::get_maximum_output_size(json.len())];
    out[0] = LZ4;
    out[1..5].copy_from_slice(&(json.len() as u32).to_le_bytes());
    // The buffer has the room LZ4 can need, so this cannot fail.
    let n = lz4_flex::block::compress_into(json, &mut out[5..]).unwrap_or(0);
    out.truncate(5 + n);
    out
}

/// A stored body back as JSON: a packed one ([`pack`]) is unpacked, a
/// deflated one (a blob without the mark) inflated; text, which earlier
/// versions wrote, is taken as it is.
fn unpack(stored: ValueRef<'_>) -> std::result::Result<String, String> {
    match stored {
        ValueRef::Text(t) => String::from_utf8(t.to_vec()).map_err(|e| e.to_string()),
        ValueRef::Blob([LZ4, rest @ ..]) => {
            let (len, block) = rest
                .split_first_chunk::<4>()
                .ok_or("the packed body is cut short")?;
            let len = u32::from_le_bytes(*len) as usize;
            if len > MAX_BODY {
                return Err(format!("the packed body claims {len} bytes"));
            }
            let json = lz4_flex::block::decompress(block, len)
                .map_err(|e| format!("the body does not unpack: {e}"))?;
            String::from_utf8(json).map_err(|e| format!("the unpacked body: {e}"))
        }
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

/// The log's table (v2; its version in `user_version`). A rowid table
/// with a unique index on the request id: version 1 was a `WITHOUT ROWID`
/// table, whose interior pages hold whole rows, so with bodies of hundreds
/// of bytes its B-tree is deeper and its page splits copy more (its inserts
/// took about a tenth longer: `bench/exposure_table.py`). Request ids sort
/// by time, so both the table (by rowid) and the index grow at their ends.
const TABLE: &str = "
CREATE TABLE exposures (
    request_id TEXT NOT NULL UNIQUE,
    at_ms INTEGER NOT NULL,
    user_id TEXT,
    surface TEXT NOT NULL,
    variant TEXT,
    body TEXT NOT NULL
)";

/// The log's schema version.
const VERSION: i64 = 2;

/// Creates the log's table in a new file, or moves a version 1 table's rows
/// into it, in one transaction (cut short, the file is as it was; the
/// version is read inside it, so two processes opening one file upgrade it
/// once).
fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .op("upgrading the exposure log's schema")?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .op("reading the exposure log's schema version")?;
    match version {
        0 => tx.execute_batch(TABLE),
        1 => {
            // An older build that opens a version 2 file sets its version
            // back to 1 (it finds the table there and creates none), and
            // its rows are then in the version 2 table already.
            let sql: String = tx
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'exposures'",
                    [],
                    |r| r.get(0),
                )
                .op("reading the exposure log's schema")?;
            if sql.contains("WITHOUT ROWID") {
                tx.execute_batch(&format!(
                    "ALTER TABLE exposures RENAME TO exposures_v1;
                     {TABLE};
                     INSERT INTO exposures ({COLUMNS}) SELECT {COLUMNS} FROM exposures_v1 ORDER BY request_id;
                     DROP TABLE exposures_v1;"
                ))
            } else {
                Ok(())
            }
        }
        VERSION => return Ok(()),
        found => {
            return Err(crate::StoreError::SchemaTooNew {
                found,
                supported: VERSION,
            });
        }
    }
    .op("upgrading the exposure log's schema")?;
    tx.pragma_update(None, "user_version", VERSION)
        .op("upgrading the exposure log's schema")?;
    tx.commit().op("upgrading the exposure log's schema")
}

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
        let mut conn = open_conn(&path, &options, true)?;
        migrate(&mut conn)?;
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
        // Packed before the writer's lock and the batch's transaction are
        // taken, so neither is held for it.
        let bodies: Vec<Vec<u8>> = rows.iter().map(|e| pack(&e.body)).collect();
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
/// packed.
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
