//! One turn's state from start to finish: the session's history, the user's
//! consent and memory, the pipeline it retrieves through, the deadline; and
//! writing the answered turn (and, with consent, what to remember).

use super::memory::Memory;
use super::sessions::{check_session_id, new_session_id};
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
    /// The experiments' variants the turn is served with, if any.
    pub(super) served: Option<std::sync::Arc<crate::experiments::Served>>,
    pub(super) session: String,
    /// Whether the session's turns are kept only in memory (no consent to
    /// store them).
    pub(super) session_in_memory: bool,
    /// The message as prompts may carry it (PII redacted when a remote
    /// model could see it).
    pub(super) prompt_message: String,
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
    /// The classical part of the decision, for the exposure log's replay.
    pub(super) decision: Option<crate::exposures::ChatDecision>,
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
        let user = match &req.user_id {
            Some(u) => engine.user(
                &sommelier_types::UserId::new(u.as_str())
                    .map_err(|e| EngineError::Usage(format!("user_id: {e}")))?,
            )?,
            None => None,
        };
        let consent = user.as_ref().map(|u| u.consent).unwrap_or_default();
        // Turns are stored only for users who consented to memory.
        let (session, rows, session_in_memory) = match &req.session_id {
            None => (new_session_id(), Vec::new(), !consent.long_term_memory),
            Some(id) => {
                check_session_id(id)?;
                let found = engine.sessions.find(
                    engine.store(),
                    id,
                    req.user_id.as_deref(),
                    HISTORY_TURNS,
                )?;
                (
                    id.clone(),
                    found.turns,
                    found.in_memory || !consent.long_term_memory,
                )
            }
        };
        // The session's variants (a session unit) or the user's.
        let served = engine.served_with(
            sommelier_experiments::Surface::Chat,
            req.user_id.as_deref(),
            Some(&session),
        )?;
        let mut pipeline = engine.pipeline_for(false, served.as_ref().map(|s| &s.setup))?;
        // The variant's LLM layer when it changes `llm.` keys.
        let llm = match engine.llm_for(&pipeline.config.llm) {
            Ok(l) => l,
            Err(e) => {
                // Declared in the configuration file, so not loaded when
                // declared: the turn is answered with the engine's layer.
                tracing::warn!(error = %e, "a variant's LLM layer does not load; using the engine's");
                engine.llm()?
            }
        };
        // A variant may turn the LLM stage off for its units.
        if pipeline.config.llm.enabled {
            pipeline.llm = Some(llm.clone());
        }
        let history: Vec<TurnRecord> = rows
            .into_iter()
            .filter_map(|r| serde_json::from_str(&r.body).ok())
            .collect();
        let shown = history.last().map(|t| t.items.clone()).unwrap_or_default();
        let remote = llm.small().is_remote() || llm.large().is_remote();
        let prompt_message = if remote && engine.config().privacy.redact_pii {
            sommelier_privacy::redact(message).text
        } else {
            message.to_string()
        };
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
            served,
            session,
            session_in_memory,
            prompt_message,
            history,
            shown,
            consent,
            memory,
            clock,
            started,
            turn_end,
            timings: BTreeMap::new(),
            decision: None,
        })
    }

    /// The newest intent of the session, if a turn had one.
    pub(super) fn last_intent(&self) -> Option<&Intent> {
        self.history.iter().rev().find_map(|t| t.intent.as_ref())
    }

    /// An empty answer for this turn.
    pub(super) fn response(&self) -> ChatResponse {
        ChatResponse {
            request_id: crate::exposures::new_request_id(),
            experiments: self
                .served
                .as_ref()
                .map(|s| s.assignments.clone())
                .unwrap_or_default(),
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
        let keep = |text: &str| {
            if self.engine.config().privacy.redact_pii {
                sommelier_privacy::redact(text).text
            } else {
                text.to_string()
            }
        };
        let message = keep(&self.message);
        let record = TurnRecord {
            message: message.clone(),
            reply: keep(&response.reply),
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
        let owner = self.req.user_id.as_deref();
        response.turn = if self.session_in_memory {
            self.engine.sessions.append(&self.session, owner, at, body)
        } else {
            store.append_chat_turn(&self.session, owner, at, &body)?
        };
        if let (Some(u), true) = (&self.req.user_id, self.consent.long_term_memory) {
            let m = self.memory.get_or_insert_with(Memory::default);
            if let Some(i) = &response.intent {
                m.learn(i, &message);
            }
            m.save(store, u, at)?;
        }
        self.timings.insert("total", ms(self.started));
        response.timings_ms = self.timings;
        self.engine.metrics().observe_chat(&response);
        Ok(response)
    }
}
