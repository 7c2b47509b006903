//! Counters of the LLM layer, rendered by the engine's `/metrics`.

use crate::message::{Completion, Scores};
use parking_lot::Mutex;
use std::collections::BTreeMap;

/// Per-stage outcomes and per-model token counts.
#[derive(Debug, Default)]
pub struct LlmStats {
    /// (stage, outcome) → count; outcome is `llm` or the fallback reason.
    stages: Mutex<BTreeMap<(String, String), u64>>,
    /// model → (calls, prompt tokens, completion tokens, prompt ms, generation ms).
    tokens: Mutex<BTreeMap<String, TokenCounts>>,
}

/// Token counters of one model.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct TokenCounts {
    /// Completions.
    pub calls: u64,
    /// Prompt tokens computed.
    pub prompt_tokens: u64,
    /// Prompt tokens reused from the cache of a shared prefix.
    pub cached_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
    /// Milliseconds on prompts.
    pub prompt_ms: f64,
    /// Milliseconds generating.
    pub generation_ms: f64,
}

impl LlmStats {
    /// Counts one stage outcome (`None`: the model's answer was used).
    pub fn record_stage(&self, stage: &str, fallback: Option<&str>) {
        let outcome = fallback.unwrap_or("llm").to_string();
        *self
            .stages
            .lock()
            .entry((stage.to_string(), outcome))
            .or_default() += 1;
    }

    /// Adds a completion's tokens.
    pub fn record_tokens(&self, model: &str, c: &Completion) {
        let mut map = self.tokens.lock();
        let t = map.entry(model.to_string()).or_default();
        t.calls += 1;
        t.prompt_tokens += c.prompt_tokens.saturating_sub(c.cached_tokens) as u64;
        t.cached_tokens += c.cached_tokens as u64;
        t.completion_tokens += c.completion_tokens as u64;
        t.prompt_ms += c.prompt_ms;
        t.generation_ms += c.generation_ms;
    }

    /// Adds a scoring pass's prompt tokens (a call that generates nothing).
    pub fn record_scores(&self, model: &str, s: &Scores) {
        let mut map = self.tokens.lock();
        let t = map.entry(model.to_string()).or_default();
        t.calls += 1;
        t.prompt_tokens += s.prompt_tokens.saturating_sub(s.cached_tokens) as u64;
        t.cached_tokens += s.cached_tokens as u64;
        t.prompt_ms += s.prompt_ms;
    }

    /// Stage outcomes so far.
    pub fn stages(&self) -> Vec<(String, String, u64)> {
        self.stages
            .lock()
            .iter()
            .map(|((s, o), n)| (s.clone(), o.clone(), *n))
            .collect()
    }

    /// Token counters so far.
    pub fn tokens(&self) -> Vec<(String, TokenCounts)> {
        self.tokens
            .lock()
            .iter()
            .map(|(m, t)| (m.clone(), *t))
            .collect()
    }
}
