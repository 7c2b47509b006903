//! Pure classical mode: every call says the LLM is off, and every stage falls
//! back to the classical order and signal-based explanations.

use crate::error::{LlmError, Result};
use crate::message::{Completion, CompletionRequest};

/// The provider that never calls a model.
#[derive(Debug, Default, Clone, Copy)]
pub struct Off;

impl Off {
    /// Always [`LlmError::Off`].
    pub fn complete(&self, _req: CompletionRequest) -> Result<Completion> {
        Err(LlmError::Off)
    }
}
