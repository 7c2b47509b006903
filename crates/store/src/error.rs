//! Errors of the storage layer.

use sommelier_types::api::Fault;
use std::path::PathBuf;

/// Result with a [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What went wrong in the store, and whose fault it is (see [`StoreError::fault`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("cannot open the database at {}: {}", path.display(), chain(cause))]
    Open {
        /// Database path.
        path: PathBuf,
        /// Cause (its whole chain is in the message, so it is not a
        /// `source` a report would print again).
        cause: rusqlite::Error,
    },
    /// The folder for the database could not be created.
    #[error("cannot create the folder {}: {}", path.display(), chain(cause))]
    CreateDir {
        /// Folder path.
        path: PathBuf,
        /// Cause (in the message, as for `Open`).
        cause: std::io::Error,
    },
    /// A statement failed (disk full, I/O error, locked database…).
    #[error("database error while {op}: {}", chain(cause))]
    Sqlite {
        /// What the store was doing.
        op: &'static str,
        /// Cause (in the message, as for `Open`).
        cause: rusqlite::Error,
    },
    /// The PostgreSQL server could not be reached, or refused the
    /// credentials.
    #[error("cannot connect to PostgreSQL at {location}: {}", chain(cause))]
    Connect {
        /// The URL without its password.
        location: String,
        /// Cause (its whole chain is in the message, so it is not a
        /// `source` a report would print again).
        cause: tokio_postgres::Error,
    },
    /// A PostgreSQL statement failed (server gone, constraint, disk full…).
    #[error("PostgreSQL error while {op}: {}", chain(cause))]
    Postgres {
        /// What the store was doing.
        op: &'static str,
        /// Cause (in the message, as for `Connect`).
        cause: tokio_postgres::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot migrate the schema: {detail}")]
    Migrate {
        /// Details.
        detail: String,
    },
    /// The store's configuration is wrong (a URL that does not parse).
    #[error("store configuration: {0}")]
    Config(String),
    /// A stored row could not be decoded: the file was changed by something else or
    /// written by an incompatible version.
    #[error("stored {what} is unreadable: {detail}")]
    Corrupt {
        /// Which kind of row.
        what: &'static str,
        /// Details.
        detail: String,
    },
    /// A write transaction was rolled back because the caller's closure
    /// failed (its own error is what the caller sees; this one never leaves
    /// [`crate::Store::write`]).
    #[error("the write was rolled back")]
    Aborted,
    /// An operation could not finish because others kept the database busy;
    /// what was committed stays committed, and retrying is safe.
    #[error("the database stayed busy while {op}; retry")]
    Busy {
        /// What the store was doing.
        op: &'static str,
    },
    /// The database was written by a newer Sommelier.
    #[error(
        "database schema version {found} is newer than this binary supports ({supported}); upgrade sommelier"
    )]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Newest version this binary knows.
        supported: i64,
    },
}

/// An error and its causes in one line, each message once (tokio-postgres
/// says "db error" and leaves the server's words to its cause; an I/O
/// error inside rusqlite's says the same words again).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

impl StoreError {
    /// Who should act on this error.
    pub fn fault(&self) -> Fault {
        match self {
            StoreError::Open { .. }
            | StoreError::CreateDir { .. }
            | StoreError::Sqlite { .. }
            | StoreError::Busy { .. }
            | StoreError::Connect { .. }
            | StoreError::Postgres { .. }
            | StoreError::Migrate { .. } => Fault::Runtime,
            StoreError::SchemaTooNew { .. } | StoreError::Config(_) => Fault::User,
            StoreError::Corrupt { .. } | StoreError::Aborted => Fault::Bug,
        }
    }
}

/// Attaches the operation name to a rusqlite error.
pub(crate) trait Op<T> {
    fn op(self, op: &'static str) -> Result<T>;
}

impl<T> Op<T> for std::result::Result<T, rusqlite::Error> {
    fn op(self, op: &'static str) -> Result<T> {
        self.map_err(|cause| StoreError::Sqlite { op, cause })
    }
}

impl<T> Op<T> for std::result::Result<T, tokio_postgres::Error> {
    fn op(self, op: &'static str) -> Result<T> {
        self.map_err(|cause| StoreError::Postgres { op, cause })
    }
}
