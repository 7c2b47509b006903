//! Errors of the embedders.

use sommelier_types::api::Fault;
use std::path::PathBuf;

/// Result with an [`EmbedError`].
pub type Result<T, E = EmbedError> = std::result::Result<T, E>;

/// What went wrong while loading a model or embedding.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is missing or unreadable.
    #[error("cannot read model file {}: {source}", path.display())]
    ModelFile {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The model folder's contents are not a usable model.
    #[error("model in {}: {reason}", dir.display())]
    BadModel {
        /// Folder.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Tokenisation failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The tensor computation failed.
    #[error("inference: {0}")]
    Inference(#[from] candle_core::Error),
    /// The remote endpoint failed or answered something unusable.
    #[error("embedding endpoint {url}: {reason}")]
    Remote {
        /// Endpoint URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// Bad options.
    #[error("{0}")]
    Options(String),
}

impl EmbedError {
    /// Who should act on this error.
    pub fn fault(&self) -> Fault {
        match self {
            EmbedError::ModelFile { .. } | EmbedError::BadModel { .. } | EmbedError::Options(_) => {
                Fault::User
            }
            EmbedError::Remote { .. } => Fault::Runtime,
            EmbedError::Tokenizer(_) | EmbedError::Inference(_) => Fault::Bug,
        }
    }
}
