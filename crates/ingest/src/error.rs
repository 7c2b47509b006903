//! Errors that stop an import as a whole (bad records are not errors: they are
//! rejected and counted).

use sommelier_store::StoreError;
use sommelier_types::api::Fault;
use std::path::PathBuf;

/// Result with an [`IngestError`].
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// Why an import could not go on.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The input file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Input {
        /// Input path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The CSV header is unusable (missing, duplicated or unreadable columns).
    #[error("{}: bad CSV header: {reason}", path.display())]
    Header {
        /// Input path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The reject file could not be written; the import stops rather than lose
    /// track of rejected rows.
    #[error("cannot write the reject file {}: {source}", path.display())]
    RejectFile {
        /// Reject file path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// An option is invalid (e.g. a field mapping).
    #[error("{0}")]
    Options(String),
    /// The store failed; records of earlier committed chunks stay written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IngestError {
    /// Who should act on this error.
    pub fn fault(&self) -> Fault {
        match self {
            IngestError::Input { .. } | IngestError::Header { .. } | IngestError::Options(_) => {
                Fault::User
            }
            IngestError::RejectFile { .. } => Fault::Runtime,
            IngestError::Store(e) => e.fault(),
        }
    }
}
