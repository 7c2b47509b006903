//! Conversation: `POST /v1/chat`. One turn (`turn.rs`) routes the message
//! (`route.rs`: a tool question or a recommendation request). A tool turn
//! (`tool.rs`) answers from the catalog's facts; a recommendation turn
//! (`recommend.rs`) parses the intent (LLM, checked by rules), merges it with
//! the session's previous request and the user's long-term preferences (with
//! consent), retrieves and ranks through the pipeline, and lets the
//! pipeline's LLM stage re-rank and explain a grounded candidate set behind
//! the validation gate. The turn is then written to the store.
//!
//! Whatever the model does, the items of a response come from the ranked,
//! filtered, available candidates: the model only chooses among numbers.

mod catalog;
mod memory;
mod recommend;
mod references;
mod reply;
mod route;
mod sessions;
mod tool;
pub(crate) mod tools;
mod turn;

pub(crate) use catalog::ChatCatalog;
pub use memory::MemoryView;
pub(crate) use recommend::sort_by;
pub(crate) use sessions::MemorySessions;
pub(crate) use tools::DOCUMENT_KIND;

use crate::{Engine, Result};
use memory::Memory;
use route::Route;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sommelier_llm::StageReport;
use sommelier_llm::intent::Intent;
use std::collections::BTreeMap;
use turn::Turn;

/// How the answer will be shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Chat text (short lines, a numbered list).
    #[default]
    Chat,
    /// Spoken: no markup, short, at most three titles.
    Voice,
    /// Feed cards: the items carry the content; the text is a headline.
    Cards,
}

/// `POST /v1/chat`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// Continue this session (default: a new one).
    pub session_id: Option<String>,
    /// Who is speaking (personalisation, memory with consent).
    pub user_id: Option<String>,
    /// What they said.
    pub message: String,
    /// Output channel.
    #[serde(default)]
    pub channel: Channel,
    /// Items to return (default 5, at most 20).
    pub k: Option<usize>,
    /// Time of day and device, as in `/v1/recommend`.
    #[serde(default)]
    pub context: crate::RequestContext,
    /// The time to answer as of, as in `/v1/recommend` ("last year" is the
    /// year before it).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<sommelier_types::Timestamp>,
}

/// One recommended item of a chat answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatItem {
    /// Item id (always a catalog item of the candidate set).
    pub item: String,
    /// Title.
    pub title: String,
    /// Release year.
    pub year: Option<i32>,
    /// Price.
    pub price: Option<f64>,
    /// Categories.
    pub categories: Vec<String>,
    /// One sentence on why.
    pub why: String,
    /// Who wrote `why`: `llm` or `signals`.
    pub why_source: String,
    /// Relevance 0–1 from the classical pipeline.
    pub score: f64,
}

/// A tool the turn called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ToolUse {
    /// Tool name.
    pub name: String,
    /// Arguments.
    pub args: Value,
    /// What it returned.
    pub result: Value,
}

/// How the LLM took part in the turn.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LlmUse {
    /// Whether any model answer was used.
    pub used: bool,
    /// Intent stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<StageReport>,
    /// Re-rank and explanation stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerank: Option<StageReport>,
    /// Tool answer phrasing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<StageReport>,
}

/// `POST /v1/chat` answer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChatResponse {
    /// This answer's id: its picks are kept under it in the exposure log
    /// (surface `chat`), and events that send it back are attributed to it.
    pub request_id: String,
    /// The experiments the turn was in and the variant it was served.
    pub experiments: Vec<sommelier_experiments::Assignment>,
    /// Session (pass it back to continue).
    pub session_id: String,
    /// Turn number in the session.
    pub turn: i64,
    /// The answer text for the channel.
    pub reply: String,
    /// Output channel.
    pub channel: Channel,
    /// Recommended items, best first (empty for tool answers).
    pub items: Vec<ChatItem>,
    /// Questions the person might ask next.
    pub follow_ups: Vec<String>,
    /// The intent used for retrieval (recommendation turns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
    /// Model proposals the request's words did not support.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub intent_dropped: Vec<String>,
    /// The tool called, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<ToolUse>,
    /// How the LLM took part.
    pub llm: LlmUse,
    /// Why the LLM's re-rank was not used (`off`, `timeout`, `gate:duplicate`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Long-term preferences were read (the user consented).
    pub memory_used: bool,
    /// Milliseconds per stage.
    pub timings_ms: BTreeMap<&'static str, f64>,
    /// The time the turn was answered as of (relative dates resolve against
    /// it), and where it came from.
    pub clock: crate::ClockUsed,
}

/// Progress of a turn, for streaming.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ChatEvent {
    /// The intent is parsed.
    Intent {
        /// The intent (boxed: it is much larger than the other events).
        intent: Box<Intent>,
    },
    /// The classical candidates, before the LLM.
    Candidates {
        /// Item ids and titles.
        items: Vec<(String, String)>,
    },
    /// A piece of the model's raw answer as it is generated.
    Token {
        /// Text.
        text: String,
    },
}

/// What a stored turn keeps for the next one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TurnRecord {
    message: String,
    reply: String,
    #[serde(default)]
    intent: Option<Intent>,
    #[serde(default)]
    items: Vec<(String, String)>,
    #[serde(default)]
    tool: Option<String>,
}

impl Engine {
    /// One chat turn.
    pub fn chat(&self, req: &ChatRequest) -> Result<ChatResponse> {
        self.chat_streaming(req, &mut |_| {})
    }

    /// One chat turn, reporting progress to `on_event` as it goes.
    pub fn chat_streaming(
        &self,
        req: &ChatRequest,
        on_event: &mut dyn FnMut(ChatEvent),
    ) -> Result<ChatResponse> {
        let mut turn = Turn::open(self, req)?;
        let mut response = turn.response();
        let t = std::time::Instant::now();
        let routed = route::route(&turn.message, &turn.shown, turn.last_intent().is_some());
        turn.timings.insert("route", crate::pipeline::ms(t));
        match routed {
            Route::Tool { name, args } => turn.tool(name, args, &mut response, on_event),
            Route::Recommend(refine) => turn.recommend(refine, &mut response, on_event)?,
        }
        let decision = turn.decision.take();
        let response = turn.finish(response)?;
        self.log_chat(req, &response, decision);
        Ok(response)
    }

    /// [`Engine::chat_streaming`] that stops generating once `cancelled` is
    /// set (the client went away): model stages then fall back at their next
    /// token, and the turn ends with the classical answer.
    pub fn chat_streaming_until(
        &self,
        req: &ChatRequest,
        on_event: &mut dyn FnMut(ChatEvent),
        cancelled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<ChatResponse> {
        sommelier_llm::cancel::scope(cancelled, || self.chat_streaming(req, on_event))
    }

    /// A user's remembered preferences (only with their consent).
    pub fn user_memory(&self, user_id: &str) -> Result<Option<MemoryView>> {
        Ok(Memory::load(self.store(), user_id)?.map(|m| m.view()))
    }

    /// Forgets a user's remembered preferences.
    pub fn forget_user_memory(&self, user_id: &str) -> Result<bool> {
        Ok(sommelier_store::SessionWrite::delete_user_memory(
            self.store(),
            user_id,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reply::reply_text;
    use sommelier_llm::grounded::numbers_grounded;

    #[test]
    fn a_phrased_answer_may_only_state_numbers_of_the_facts() {
        let facts = "Heat costs 12.50 USD.";
        assert!(numbers_grounded("It is 12.5 dollars.", facts));
        assert!(!numbers_grounded("It is 9.99 dollars.", facts));
        assert!(numbers_grounded("Heat is a good film.", facts));
    }

    #[test]
    fn voice_text_has_no_markup() {
        let items = vec![ChatItem {
            item: "1".into(),
            title: "Heat".into(),
            year: Some(1995),
            price: None,
            categories: vec![],
            why: "A tense **crime** drama.".into(),
            why_source: "llm".into(),
            score: 1.0,
        }];
        let v = reply_text(Channel::Voice, &Intent::default(), &items);
        assert!(!v.contains('*') && !v.contains('\n'), "{v}");
        assert!(v.starts_with("You might like Heat."), "{v}");
    }
}
