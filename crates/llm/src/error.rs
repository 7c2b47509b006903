//! What can go wrong in the LLM layer, and whose fault it is.

use std::path::PathBuf;

/// An LLM call that did not give a usable answer. Every variant is a reason
/// to fall back to the classical order, never a reason to fail a request.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The configuration turns the LLM off (pure classical mode).
    #[error("LLM is off")]
    Off,
    /// The stage's deadline passed before the model finished.
    #[error("deadline exceeded after {elapsed_ms} ms")]
    Timeout {
        /// Time spent before giving up.
        elapsed_ms: u64,
    },
    /// Nobody waits for the answer any more (the client went away).
    #[error("cancelled: the client went away")]
    Cancelled,
    /// The model file could not be loaded (operator's configuration or download).
    #[error("cannot load model {path}: {reason}")]
    Load {
        /// The GGUF file.
        path: PathBuf,
        /// What llama.cpp said.
        reason: String,
    },
    /// The remote endpoint answered with an error status (the provider's fault,
    /// or the key's).
    #[error("{url} answered HTTP {status}: {body}")]
    Http {
        /// Endpoint.
        url: String,
        /// Status code.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// The endpoint could not be reached or the connection broke.
    #[error("{url}: {reason}")]
    Transport {
        /// Endpoint.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The answer is not what the protocol or the schema asks for (the model's
    /// fault).
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The local runtime failed (tokenising, decoding, a prompt too long).
    #[error("local model: {0}")]
    Runtime(String),
    /// A prompt template is missing or broken (the operator's file).
    #[error("prompt template {name}: {reason}")]
    Template {
        /// Template name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

impl LlmError {
    /// Who should act: a model that cannot be loaded or a broken template is
    /// the operator's to mend, an endpoint that fails or a model that answers
    /// badly is the runtime's; never the caller's, whose request was fine.
    pub fn fault(&self) -> sommelier_types::api::Fault {
        sommelier_types::api::Fault::Runtime
    }

    /// A short machine-readable reason, used as the `fallback` field of
    /// responses and as a metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Off => "off",
            LlmError::Timeout { .. } => "timeout",
            LlmError::Cancelled => "cancelled",
            LlmError::Load { .. } => "load",
            LlmError::Http { .. } => "http_error",
            LlmError::Transport { .. } => "transport",
            LlmError::Malformed(_) => "malformed",
            LlmError::Runtime(_) => "runtime",
            LlmError::Template { .. } => "template",
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = LlmError> = std::result::Result<T, E>;
