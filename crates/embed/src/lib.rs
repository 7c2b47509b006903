//! Text embedders for semantic retrieval.
//!
//! * [`LocalBert`]: a BERT-family sentence encoder (all-MiniLM-L6-v2 by default)
//!   run in-process with candle, weights and tokenizer loaded from a local folder;
//!   mean pooling and L2 normalisation, as sentence-transformers does.
//! * [`OpenAiEmbedder`]: any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI,
//!   Mistral, Ollama, vLLM, llama.cpp server…).
//!
//! Both sit behind [`Embedder`]; [`Provider`] is the closed set chosen by config.
//! Every vector returned is L2-normalised, so a dot product is a cosine.

mod error;
mod local;
mod openai;
mod text;

pub use error::{EmbedError, Result};
pub use local::{LocalBert, LocalOptions};
pub use openai::{OpenAiEmbedder, OpenAiOptions};
pub use text::{content_hash, item_text};

/// Turns texts into unit-length vectors.
pub trait Embedder: Send + Sync {
    /// Stable identifier of the model, recorded with every stored vector.
    fn model_id(&self) -> &str;
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// Embeds `texts`, one L2-normalised vector each, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
}

/// The embedders Sommelier ships, chosen by configuration.
pub enum Provider {
    /// In-process transformer.
    Local(Box<LocalBert>),
    /// Remote OpenAI-compatible endpoint.
    OpenAi(Box<OpenAiEmbedder>),
}

impl Embedder for Provider {
    fn model_id(&self) -> &str {
        match self {
            Provider::Local(e) => e.model_id(),
            Provider::OpenAi(e) => e.model_id(),
        }
    }

    fn dim(&self) -> usize {
        match self {
            Provider::Local(e) => e.dim(),
            Provider::OpenAi(e) => e.dim(),
        }
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        match self {
            Provider::Local(e) => e.embed(texts),
            Provider::OpenAi(e) => e.embed(texts),
        }
    }
}

/// Dot product (the cosine of two normalised vectors), and scaling to unit length.
pub use sommelier_types::{dot, normalize};
