//! The embedded SQLite backend.

mod access;
mod catalog_log;
mod chat;
mod exposures;
mod read;
mod schema;
mod stats;
mod write;

pub use write::Writer;

use crate::error::{Op, Result, StoreError};
use crate::{Store, Transaction};
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: every commit is fsynced; survives power loss.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a killed process, may lose the last commits
    /// on power loss. Faster for bulk imports.
    Normal,
}

/// Options for opening a store.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Commit durability.
    pub durability: Durability,
    /// Page cache per connection, in MiB (0 = SQLite's default).
    pub cache_mib: u32,
}

/// The embedded store: one SQLite file in WAL mode, a single writer connection and
/// a small pool of reader connections; the exposure log in a file of its own
/// beside it ([`exposures::ExposureFile`]).
pub struct SqliteStore {
    path: PathBuf,
    options: StoreOptions,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    exposures: exposures::ExposureFile,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|cause| StoreError::CreateDir {
                path: dir.to_path_buf(),
                cause,
            })?;
        }
        let conn = open_conn(&path, &options, true)?;
        schema::migrate(&conn)?;
        let exposures = exposures::ExposureFile::open(&path, &options, &conn)?;
        Ok(Self {
            path,
            options,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            exposures,
        })
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one write transaction. It commits when `f` returns `Ok` and rolls
    /// back when `f` returns `Err`; the commit has returned before this does, so an
    /// `Ok` here is an acknowledged, durable write.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut conn = self.writer.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .op("beginning a write")?;
        let mut writer = Writer::new(tx);
        let out = f(&mut writer)?;
        writer.commit()?;
        Ok(out)
    }

    /// This store behind the backend-neutral [`Store`] trait.
    pub fn into_dyn(self) -> std::sync::Arc<dyn Store> {
        std::sync::Arc::new(self)
    }

    /// Runs `f` with a reader connection from the pool.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        pooled_read(&self.path, &self.options, &self.readers, f)
    }
}

/// Runs `f` with a reader connection of the database at `path`, taken from
/// `pool` (opened when the pool is empty) and given back after.
fn pooled_read<T>(
    path: &Path,
    options: &StoreOptions,
    pool: &Mutex<Vec<Connection>>,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let conn = pool.lock().pop();
    let conn = match conn {
        Some(c) => c,
        None => open_conn(path, options, false)?,
    };
    let out = f(&conn);
    let mut pool = pool.lock();
    if pool.len() < 8 {
        pool.push(conn);
    }
    out
}

impl Store for SqliteStore {
    fn transaction(&self, f: &mut dyn FnMut(&mut dyn Transaction) -> Result<()>) -> Result<()> {
        self.write(|w| f(w))
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

fn open_conn(path: &Path, options: &StoreOptions, writer: bool) -> Result<Connection> {
    let flags = if writer {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|cause| StoreError::Open {
        path: path.to_path_buf(),
        cause,
    })?;
    let sync = match options.durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    let mut pragmas = format!(
        "PRAGMA busy_timeout = 10000; PRAGMA synchronous = {sync}; PRAGMA temp_store = MEMORY;"
    );
    if options.cache_mib > 0 {
        pragmas.push_str(&format!(
            " PRAGMA cache_size = -{};",
            options.cache_mib * 1024
        ));
    }
    if writer {
        // Deleted content is overwritten, not left in free pages.
        pragmas.push_str(" PRAGMA journal_mode = WAL; PRAGMA secure_delete = ON;");
    }
    conn.execute_batch(&pragmas)
        .map_err(|cause| StoreError::Open {
            path: path.to_path_buf(),
            cause,
        })?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}
