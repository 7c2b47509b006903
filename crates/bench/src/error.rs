//! What a benchmark can fail with.

use std::path::{Path, PathBuf};

/// Result with a [`BenchError`].
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// Why a benchmark could not run (failed requests during a load run are not
/// errors: they are counted in its report).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file or folder could not be created, read or written.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done: `creating`, `reading`, `writing`, ….
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The results could not be written to the output (e.g. a closed pipe).
    #[error("writing the results")]
    Output(#[source] std::io::Error),
    /// A request the benchmark cannot go on without failed (the warm-up
    /// request of a load run).
    #[error("the {what} request to {url} failed")]
    Http {
        /// Which request.
        what: &'static str,
        /// Its URL.
        url: String,
    },
    /// The options are unusable (out of range, missing, conflicting).
    #[error("{0}")]
    Options(String),
    /// What the benchmark runs on is not there: no items in the store, no
    /// stored vectors, no model file.
    #[error("{0}")]
    Missing(String),
    /// The store could not be opened.
    #[error("opening the store at {}", path.display())]
    Open {
        /// The database the configuration names.
        path: PathBuf,
        /// Cause.
        #[source]
        source: sommelier_engine::EngineError,
    },
    /// The local embedding model could not be loaded.
    #[error("loading the embedding model from {}", path.display())]
    EmbeddingModel {
        /// The model folder.
        path: PathBuf,
        /// Cause.
        #[source]
        source: sommelier_embed::EmbedError,
    },
    /// An engine call failed.
    #[error(transparent)]
    Engine(#[from] sommelier_engine::EngineError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sommelier_store::StoreError),
    /// Embedding failed.
    #[error(transparent)]
    Embed(#[from] sommelier_embed::EmbedError),
    /// A vector index failed.
    #[error(transparent)]
    Index(#[from] sommelier_index::IndexError),
    /// The LLM could not be loaded or failed to complete.
    #[error(transparent)]
    Llm(#[from] sommelier_llm::LlmError),
    /// A model could not be fetched.
    #[error(transparent)]
    Dataset(#[from] sommelier_datasets::DatasetError),
    /// A generated or returned id is invalid.
    #[error(transparent)]
    Id(#[from] sommelier_types::IdError),
}

impl BenchError {
    /// Maps an I/O error on `path` to [`BenchError::Io`] (the path is copied
    /// only when there is an error).
    pub(crate) fn io<'a>(
        action: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
