//! Errors of the vector indexes.

use sommelier_types::api::Fault;
use std::path::PathBuf;

/// Result with an [`IndexError`].
pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A vector has the wrong length.
    #[error("vector of dimension {got}, the index holds {expected}")]
    Dimension {
        /// Index dimension.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// A vector holds NaN or infinity.
    #[error("vector for `{0}` is not finite")]
    NotFinite(String),
    /// Reading or writing the index folder failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The saved index is unreadable or inconsistent.
    #[error("index in {}: {reason}", dir.display())]
    Corrupt {
        /// Folder.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The HNSW library failed.
    #[error("hnsw: {0}")]
    Hnsw(String),
    /// The database that searches the vectors failed (`vectors.index =
    /// "pgvector"`).
    #[error("the vector search in the database failed: {0}")]
    Database(String),
}

impl IndexError {
    /// Who should act on this error.
    pub fn fault(&self) -> Fault {
        match self {
            IndexError::Dimension { .. } | IndexError::NotFinite(_) => Fault::User,
            IndexError::Io { .. } | IndexError::Database(_) => Fault::Runtime,
            IndexError::Corrupt { .. } | IndexError::Hnsw(_) => Fault::Bug,
        }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| IndexError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Writes `bytes` to `dir/name` through a temporary file and a rename, so a
/// crash leaves the old file or the new one, never half of one.
pub(crate) fn replace_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(IndexError::io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(IndexError::io(&path))
}
