//! The engine's error: whose fault, and what to say.

use sommelier_types::api::Fault;

/// Result with an [`EngineError`].
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Anything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// A request or option is unusable.
    #[error("{0}")]
    Usage(String),
    /// The request names something that does not exist for this caller (a
    /// chat session of another user answers the same as an unknown one).
    #[error("{0}")]
    NotFound(String),
    /// A batch exceeds `server.max_batch`.
    #[error("batch of {records} records exceeds the limit of {limit} (server.max_batch)")]
    TooLarge {
        /// Records sent.
        records: usize,
        /// Limit.
        limit: usize,
    },
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] sommelier_store::StoreError),
    /// Import failure.
    #[error(transparent)]
    Ingest(#[from] sommelier_ingest::IngestError),
    /// Data set failure.
    #[error(transparent)]
    Dataset(#[from] sommelier_datasets::DatasetError),
    /// Embedding failure.
    #[error(transparent)]
    Embed(#[from] sommelier_embed::EmbedError),
    /// Vector index failure.
    #[error(transparent)]
    Index(#[from] sommelier_index::IndexError),
    /// The LLM layer could not be loaded (a model file, a template).
    #[error("LLM layer: {0}")]
    Llm(#[from] sommelier_llm::LlmError),
    /// The event stream could not be reached or did not acknowledge.
    #[error(transparent)]
    Stream(#[from] sommelier_stream::StreamError),
    /// A model could not be fitted, saved or loaded.
    #[error("{0}")]
    Model(String),
    /// A file the engine keeps beside the store (saved features) could not
    /// be written or removed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

impl From<sommelier_recall::SourceError> for EngineError {
    fn from(e: sommelier_recall::SourceError) -> Self {
        match e {
            sommelier_recall::SourceError::Index(e) => EngineError::Index(e),
            lexical @ sommelier_recall::SourceError::Lexical(_) => {
                EngineError::Model(lexical.to_string())
            }
        }
    }
}

impl EngineError {
    /// Who should act on this error.
    pub fn fault(&self) -> Fault {
        match self {
            EngineError::Config(_)
            | EngineError::Usage(_)
            | EngineError::NotFound(_)
            | EngineError::TooLarge { .. } => Fault::User,
            EngineError::Store(e) => e.fault(),
            EngineError::Ingest(e) => e.fault(),
            EngineError::Dataset(e) => e.fault(),
            EngineError::Embed(e) => e.fault(),
            EngineError::Index(e) => e.fault(),
            EngineError::Llm(e) => e.fault(),
            EngineError::Stream(sommelier_stream::StreamError::Config(_)) => Fault::User,
            EngineError::Stream(_) => Fault::Runtime,
            EngineError::Model(_) | EngineError::Io { .. } => Fault::Runtime,
        }
    }
}
