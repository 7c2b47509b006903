//! One turn's state from start to finish: the session's history, the user's
//! consent and memory, the pipeline it retrieves through, the deadline; and
//! writing the answered turn (and, with consent, what to remember).

use super::memory::Memory;
use super::{ChatRequest, ChatResponse, LlmUse, TurnRecord};
use crate::pipeline::{Pipeline, Timings, ms};
use crate::{Engine, EngineError, Result};
use sommelier_llm::Llm;
use sommelier_llm::intent::Intent;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest message accepted, in characters.
const MAX_MESSAGE_CHARS: usize = 2000;

/// Turns of the session read back for context.
const HISTORY_TURNS: usize = 8;

/// A turn in progress.
pub(super) struct Turn<'a> {
    pub(super) engine: &'a Engine,
    pub(super) req: &'a ChatRequest,
    /// The message, trimmed.
    pub(super) message: String,
    /// Items to answer.
    pub(super) k: usize,
    pub(super) llm: Arc<Llm>,
    /// The pipeline the turn retrieves through (its snapshot answers the
    /// tools too).
    pub(super) pipeline: Pipeline<'a>,
    pub(super) session: String,
    /// The session's stored turns, oldest first.
    pub(super) history: Vec<TurnRecord>,
    /// The items shown in the previous turn (id, title).
    pub(super) shown: Vec<(String, String)>,
    pub(super) consent: sommelier_types::Consent,
    /// Remembered preferences (with consent).
    pub(super) memory: Option<Memory>,
    /// The time the turn is answered as of (relative dates resolve against it).
    pub(super) clock: crate::ClockUsed,
    pub(super) started: Instant,
    /// The turn's budget: the intent gets its own deadline within it, the
    /// re-rank what is left (less a margin for the rest of the turn).
    pub(super) turn_end: Instant,
    pub(super) timings: Timings,
}

fn new_session_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "s-{:x}-{:x}-{:x}",
        now.as_secs(),
        now.subsec_nanos(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl<'a> Turn<'a> {
    /// Checks the request and reads what the turn needs.
    pub(super) fn open(engine: &'a Engine, req: &'a ChatRequest) -> Result<Self> {
        let started = Instant::now();
        let message = req.message.trim();
        if message.is_empty() {
            return Err(EngineError::Usage("`message` is empty".into()));
        }
        if message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(EngineError::Usage(
                "`message` is longer than 2,000 characters".into(),
            ));
        }
        let llm = engine.llm()?;
        let mut pipeline = engine.pipeline(false)?;
        pipeline.llm = Some(llm.clone());
        let session = req
            .session_id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(new_session_id);
        let history: Vec<TurnRecord> = engine
            .store()
            .chat_turns(&session, HISTORY_TURNS)?
            .into_iter()
            .filter_map(|r| serde_json::from_str(&r.body).ok())
            .collect();
        let shown = history.last().map(|t| t.items.clone()).unwrap_or_default();
        let user = match &req.user_id {
            Some(u) => engine.user(
                &sommelier_types::UserId::new(u.as_str())
                    .map_err(|e| EngineError::Usage(format!("user_id: {e}")))?,
            )?,
            None => None,
        };
        let consent = user.as_ref().map(|u| u.consent).unwrap_or_default();
        let memory = match (&req.user_id, consent.long_term_memory) {
            (Some(u), true) => Memory::load(engine.store(), u)?,
            _ => None,
        };
        let clock = crate::pipeline::Pipeline::clock(req.at, &engine.features()?.state.read());
        let turn_end = started + Duration::from_millis(llm.config().turn_deadline_ms);
        Ok(Self {
            engine,
            req,
            message: message.to_string(),
            k: req.k.unwrap_or(5).clamp(1, 20),
            llm,
            pipeline,
            session,
            history,
            shown,
            consent,
            memory,
            clock,
            started,
            turn_end,
            timings: BTreeMap::new(),
        })
    }

    /// The newest intent of the session, if a turn had one.
    pub(super) fn last_intent(&self) -> Option<&Intent> {
        self.history.iter().rev().find_map(|t| t.intent.as_ref())
    }

    /// An empty answer for this turn.
    pub(super) fn response(&self) -> ChatResponse {
        ChatResponse {
            session_id: self.session.clone(),
            turn: 0,
            reply: String::new(),
            channel: self.req.channel,
            items: Vec::new(),
            follow_ups: Vec::new(),
            intent: None,
            intent_dropped: Vec::new(),
            tool: None,
            llm: LlmUse {
                used: false,
                intent: None,
                rerank: None,
                reply: None,
            },
            fallback: None,
            memory_used: self.memory.is_some(),
            timings_ms: BTreeMap::new(),
            clock: self.clock,
        }
    }

    /// Writes the turn and what the user consented to remember; times it.
    pub(super) fn finish(mut self, mut response: ChatResponse) -> Result<ChatResponse> {
        let record = TurnRecord {
            message: self.message.clone(),
            reply: response.reply.clone(),
            intent: response.intent.clone(),
            items: response
                .items
                .iter()
                .map(|i| (i.item.clone(), i.title.clone()))
                .collect(),
            tool: response.tool.as_ref().map(|t| t.name.clone()),
        };
        let body = serde_json::to_string(&record).map_err(|e| EngineError::Usage(e.to_string()))?;
        let at = sommelier_types::Timestamp::now().0;
        let store = self.engine.store();
        response.turn =
            store.append_chat_turn(&self.session, self.req.user_id.as_deref(), at, &body)?;
        if let (Some(u), true) = (&self.req.user_id, self.consent.long_term_memory) {
            let m = self.memory.get_or_insert_with(Memory::default);
            if let Some(i) = &response.intent {
                m.learn(i, &self.message);
            }
            m.save(store, u, at)?;
        }
        self.timings.insert("total", ms(self.started));
        response.timings_ms = self.timings;
        self.engine.metrics().observe_chat(&response);
        Ok(response)
    }
}
