//! Conversation: `POST /v1/chat`. One turn routes the message (a tool
//! question or a recommendation request), parses the intent (LLM, checked by
//! rules), merges it with the session's previous request and the user's
//! long-term preferences (with consent), retrieves and ranks with the
//! classical pipeline, lets the LLM re-rank and explain a grounded candidate
//! set behind the validation gate, and writes the turn to the store.
//!
//! Whatever the model does, the items of a response come from the ranked,
//! filtered, available candidates: the model only chooses among numbers.

pub(crate) mod explain;
mod memory;
mod offline;
mod reply;
mod route;
pub(crate) mod tools;

use crate::{Engine, EngineError, RecommendRequest, RequestFilters, Result};
use memory::Memory;
use route::{Refinement, Route};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sommelier_llm::grounded::{GroundedCandidate, clip, numbers_grounded};
use sommelier_llm::intent::{Intent, Sort, Vocabulary};
use sommelier_llm::tools::ToolHost;
use sommelier_llm::{Llm, StageReport};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use memory::MemoryView;
pub use offline::LlmReranked;
use reply::{channel_text, default_follow_ups, facts_text, reply_text};

/// How the answer will be shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
}

/// One recommended item of a chat answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUse {
    /// Tool name.
    pub name: String,
    /// Arguments.
    pub args: Value,
    /// What it returned.
    pub result: Value,
}

/// How the LLM took part in the turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatResponse {
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
}

/// Progress of a turn, for streaming.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ChatEvent {
    /// The intent is parsed.
    Intent {
        /// The intent.
        intent: Intent,
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

/// What chat reads of the whole catalog, once per catalog snapshot.
pub(crate) struct ChatCatalog {
    /// Categories of the recommendable (non-document) items.
    vocabulary: Vocabulary,
    /// Their kinds: the filter that keeps documents out of recommendations.
    kinds: Vec<String>,
}

impl ChatCatalog {
    fn of(built: &crate::similar::Built) -> &Self {
        built.chat_catalog.get_or_init(|| {
            let items = || {
                built
                    .items
                    .values()
                    .filter(|i| i.kind.as_str() != tools::DOCUMENT_KIND)
            };
            let mut cats: Vec<&str> = items()
                .flat_map(|i| i.categories.iter().map(String::as_str))
                .collect();
            cats.sort_unstable();
            cats.dedup();
            let mut kinds: Vec<String> = items().map(|i| i.kind.as_str().to_string()).collect();
            kinds.sort();
            kinds.dedup();
            Self {
                vocabulary: Vocabulary::new(cats),
                kinds,
            }
        })
    }
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

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
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

impl Engine {
    /// The LLM layer, loaded on first use from `[llm]`.
    pub fn llm(&self) -> Result<Arc<Llm>> {
        if let Some(l) = self.llm.get() {
            return Ok(l.clone());
        }
        let _guard = self.llm_init.lock();
        if let Some(l) = self.llm.get() {
            return Ok(l.clone());
        }
        let llm = Llm::load(&self.config().llm, &self.config().data_dir)
            .map_err(|e| EngineError::Usage(format!("LLM layer: {e}")))?;
        tracing::info!(small = %llm.small().model_id(), large = %llm.large().model_id(), "LLM layer ready");
        let llm = Arc::new(llm);
        let _ = self.llm.set(llm.clone());
        Ok(llm)
    }

    /// Replaces the LLM layer (tests and benchmarks use providers built elsewhere).
    pub fn set_llm(&self, llm: Llm) -> bool {
        self.llm.set(Arc::new(llm)).is_ok()
    }

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
        let started = Instant::now();
        let message = req.message.trim();
        if message.is_empty() {
            return Err(EngineError::Usage("`message` is empty".into()));
        }
        if message.chars().count() > 2000 {
            return Err(EngineError::Usage(
                "`message` is longer than 2,000 characters".into(),
            ));
        }
        let k = req.k.unwrap_or(5).clamp(1, 20);
        let mut timings = BTreeMap::new();
        let llm = self.llm()?;
        let built = self.vector_index()?;
        let session = req
            .session_id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(new_session_id);
        let history: Vec<TurnRecord> = self
            .store()
            .chat_turns(&session, 8)?
            .into_iter()
            .filter_map(|r| serde_json::from_str(&r.body).ok())
            .collect();
        let last = history.iter().rev().find(|t| t.intent.is_some());
        let shown: Vec<(String, String)> =
            history.last().map(|t| t.items.clone()).unwrap_or_default();
        let user = match &req.user_id {
            Some(u) => self.user(
                &sommelier_types::UserId::new(u.as_str())
                    .map_err(|e| EngineError::Usage(format!("user_id: {e}")))?,
            )?,
            None => None,
        };
        let consent = user.as_ref().map(|u| u.consent).unwrap_or_default();
        let memory = match (&req.user_id, consent.long_term_memory) {
            (Some(u), true) => Memory::load(self.store(), u)?,
            _ => None,
        };
        let memory_used = memory.is_some();
        let now_year = {
            use chrono::Datelike;
            chrono::Utc::now().year()
        };
        // The turn's budget: the intent gets its own deadline within it, the
        // re-rank what is left (less a margin for the rest of the turn).
        let turn_end = started + Duration::from_millis(llm.config().turn_deadline_ms);
        let mut response = ChatResponse {
            session_id: session.clone(),
            turn: 0,
            reply: String::new(),
            channel: req.channel,
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
            memory_used,
            timings_ms: BTreeMap::new(),
        };
        let t = Instant::now();
        let routed = route::route(message, &shown, last.is_some());
        timings.insert("route", ms(t));
        match routed {
            Route::Tool { name, args } => {
                let t = Instant::now();
                let host = tools::CatalogTools {
                    built: built.clone(),
                };
                // A model that can call tools chooses them itself.
                let budget =
                    Instant::now() + Duration::from_millis(llm.config().rerank_deadline_ms);
                let context = shown
                    .iter()
                    .enumerate()
                    .map(|(n, (id, title))| format!("shown item {}: \"{title}\" (id {id})", n + 1))
                    .collect::<Vec<_>>()
                    .join("\n");
                if let (Some((text, traces)), report) =
                    llm.answer_with_tools(message, &context, &host, budget)
                {
                    timings.insert("llm_tools", ms(t));
                    response.llm.used = true;
                    response.llm.reply = Some(report);
                    response.reply = channel_text(req.channel, &text);
                    response.tool = traces.into_iter().next().map(|tr| ToolUse {
                        name: tr.name,
                        args: tr.args,
                        result: tr.result,
                    });
                    response.follow_ups = vec![
                        "Show me something similar?".into(),
                        "Anything cheaper?".into(),
                    ];
                    return self
                        .finish_turn(req, &session, consent, memory, response, timings, started);
                }
                let result = host.call(name, &args);
                timings.insert("tool", ms(t));
                let facts = facts_text(name, &result);
                let t = Instant::now();
                let budget =
                    Instant::now() + Duration::from_millis(llm.config().rerank_deadline_ms);
                let (text, report) = llm.reply(message, &facts, budget, &mut |s| {
                    on_event(ChatEvent::Token {
                        text: s.to_string(),
                    })
                });
                timings.insert("llm_reply", ms(t));
                // A phrased answer may only state numbers the facts hold.
                let text = text.filter(|t| numbers_grounded(t, &facts));
                response.llm.used = text.is_some();
                if text.is_none() && report.fallback.is_none() {
                    response.fallback = Some("gate:ungrounded_fact".into());
                } else {
                    response.fallback = report.fallback.clone();
                }
                response.llm.reply = Some(report);
                response.reply = channel_text(req.channel, &text.unwrap_or(facts));
                response.tool = Some(ToolUse {
                    name: name.to_string(),
                    args,
                    result,
                });
                response.follow_ups = vec![
                    "Show me something similar?".into(),
                    "Anything cheaper?".into(),
                ];
            }
            Route::Recommend(refine) => {
                self.recommend_turn(
                    req,
                    message,
                    k,
                    &llm,
                    &built,
                    last,
                    &shown,
                    refine,
                    memory.as_ref(),
                    now_year,
                    turn_end,
                    &mut response,
                    &mut timings,
                    on_event,
                )?;
            }
        }
        self.finish_turn(req, &session, consent, memory, response, timings, started)
    }

    /// Writes the turn and what the user consented to remember; times it.
    #[allow(clippy::too_many_arguments)]
    fn finish_turn(
        &self,
        req: &ChatRequest,
        session: &str,
        consent: sommelier_types::Consent,
        mut memory: Option<Memory>,
        mut response: ChatResponse,
        mut timings: BTreeMap<&'static str, f64>,
        started: Instant,
    ) -> Result<ChatResponse> {
        let message = req.message.trim();
        let record = TurnRecord {
            message: message.to_string(),
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
        response.turn =
            self.store()
                .append_chat_turn(session, req.user_id.as_deref(), at, &body)?;
        if let (Some(u), true) = (&req.user_id, consent.long_term_memory) {
            let m = memory.get_or_insert_with(Memory::default);
            if let Some(i) = &response.intent {
                m.learn(i, message);
            }
            m.save(self.store(), u, at)?;
        }
        timings.insert("total", ms(started));
        response.timings_ms = timings;
        self.metrics().observe_chat(&response);
        Ok(response)
    }

    /// The recommendation part of a turn.
    #[allow(clippy::too_many_arguments)]
    fn recommend_turn(
        &self,
        req: &ChatRequest,
        message: &str,
        k: usize,
        llm: &Llm,
        built: &crate::similar::Built,
        last: Option<&TurnRecord>,
        shown: &[(String, String)],
        refine: Refinement,
        memory: Option<&Memory>,
        now_year: i32,
        turn_end: Instant,
        response: &mut ChatResponse,
        timings: &mut BTreeMap<&'static str, f64>,
        on_event: &mut dyn FnMut(ChatEvent),
    ) -> Result<()> {
        let catalog = ChatCatalog::of(built);
        let vocab = &catalog.vocabulary;
        let t = Instant::now();
        let intent_deadline =
            (Instant::now() + Duration::from_millis(llm.config().intent_deadline_ms)).min(turn_end);
        let parsed = llm.intent(message, vocab, now_year, intent_deadline);
        timings.insert("intent", ms(t));
        let mut intent = parsed.intent;
        // A refinement keeps what the previous request asked for.
        if refine.follows
            && let Some(prev) = last.and_then(|l| l.intent.as_ref())
        {
            let mut merged = prev.clone();
            for c in intent.categories.drain(..) {
                if !merged.categories.contains(&c) {
                    merged.categories.push(c);
                }
            }
            for c in intent.exclude.drain(..) {
                merged.categories.retain(|x| *x != c);
                if !merged.exclude.contains(&c) {
                    merged.exclude.push(c);
                }
            }
            merged.year_min = intent.year_min.or(merged.year_min);
            merged.year_max = intent.year_max.or(merged.year_max);
            merged.price_min = intent.price_min.or(merged.price_min);
            merged.price_max = intent.price_max.or(merged.price_max);
            merged
                .mood
                .extend(intent.mood.drain(..).filter(|m| !prev.mood.contains(m)));
            if intent.sort != Sort::Relevance {
                merged.sort = intent.sort;
            }
            intent = merged;
        }
        let shown_items: Vec<Arc<sommelier_types::Item>> = shown
            .iter()
            .filter_map(|(id, _)| built.items.get(id.as_str()).cloned())
            .collect();
        if refine.cheaper {
            let prices: Vec<f64> = shown_items
                .iter()
                .filter_map(|i| i.price.as_ref().map(|p| p.amount))
                .collect();
            if !prices.is_empty() {
                let min = prices.iter().copied().fold(f64::INFINITY, f64::min);
                intent.price_max = Some((min * 100.0).floor() / 100.0 - 0.01);
            }
            intent.sort = Sort::PriceAsc;
        }
        let years: Vec<i32> = {
            use chrono::Datelike;
            shown_items
                .iter()
                .filter_map(|i| i.release_date.map(|d| d.year()))
                .collect()
        };
        if refine.newer && !years.is_empty() {
            intent.year_min = Some(years.iter().copied().max().unwrap_or(now_year) + 1);
            intent.year_max = None;
        }
        if refine.older && !years.is_empty() {
            intent.year_max = Some(years.iter().copied().min().unwrap_or(now_year) - 1);
            intent.year_min = None;
        }
        let like = refine
            .like
            .and_then(|i| shown.get(i))
            .map(|(id, _)| id.clone());
        // Remembered dislikes apply unless this request asks for them.
        if let Some(m) = memory {
            for d in m.dislikes() {
                if !intent.categories.contains(&d) && !intent.exclude.contains(&d) {
                    intent.exclude.push(d);
                }
            }
        }
        on_event(ChatEvent::Intent {
            intent: intent.clone(),
        });
        let kinds = catalog.kinds.clone();
        let n_cands = llm.config().rerank_candidates.max(k);
        let wide = if intent.sort == Sort::Relevance {
            n_cands
        } else {
            (n_cands * 4).min(100)
        };
        let t = Instant::now();
        let rec = self.recommend(&RecommendRequest {
            user_id: req.user_id.clone(),
            query: Some(intent.query.clone()).filter(|q| !q.trim().is_empty()),
            k: Some(wide),
            filters: RequestFilters {
                kinds,
                categories: intent.categories.clone(),
                exclude_categories: intent.exclude.clone(),
                price_min: intent.price_min,
                price_max: intent.price_max,
                year_min: intent.year_min,
                year_max: intent.year_max,
                include_unavailable: false,
            },
            like_item: like,
            context: req.context.clone(),
            ..Default::default()
        })?;
        timings.insert("retrieve", ms(t));
        let mut recs = rec.items;
        sort_by(&mut recs, intent.sort, built);
        recs.truncate(n_cands);
        on_event(ChatEvent::Candidates {
            items: recs
                .iter()
                .map(|r| (r.item.clone(), r.title.clone()))
                .collect(),
        });
        let cands: Vec<GroundedCandidate> = recs
            .iter()
            .take(llm.config().rerank_candidates)
            .filter_map(|r| built.items.get(r.item.as_str()).map(|i| grounded(i)))
            .collect();
        let signals = signals_text(memory, &intent);
        let t = Instant::now();
        let request_text = if intent.mood.is_empty() {
            message.to_string()
        } else {
            format!("{message} (mood: {})", intent.mood.join(", "))
        };
        let rerank_deadline =
            (Instant::now() + Duration::from_millis(llm.config().rerank_deadline_ms)).min(
                turn_end
                    .checked_sub(Duration::from_millis(50))
                    .unwrap_or(turn_end),
            );
        let out = llm.rerank(&request_text, &signals, &cands, rerank_deadline, &mut |s| {
            on_event(ChatEvent::Token {
                text: s.to_string(),
            })
        });
        timings.insert("llm_rerank", ms(t));
        // The page: the model's valid picks first, then the classical order.
        // Picks index `cands`, which are `recs`' first entries in order.
        if let Some(v) = &out.validated {
            response.follow_ups = v.follow_ups.clone();
        }
        let mut order = offline::page_order(out.validated.as_ref(), recs.len());
        order.truncate(k);
        let items: Vec<ChatItem> = order
            .into_iter()
            .filter_map(|(i, why)| {
                let r = recs.get(i)?;
                let item = built.items.get(r.item.as_str())?;
                let g = grounded(item);
                let (why, why_source) = match why {
                    Some(w) => (w, "llm"),
                    None => (
                        explain::signal_rationale(r, &intent.categories, &item.categories),
                        "signals",
                    ),
                };
                Some(ChatItem {
                    item: r.item.clone(),
                    title: r.title.clone(),
                    year: g.year,
                    price: g.price,
                    categories: item.categories.clone(),
                    why,
                    why_source: why_source.into(),
                    score: r.score,
                })
            })
            .collect();
        if response.follow_ups.is_empty() {
            response.follow_ups = default_follow_ups(&intent, !items.is_empty());
        }
        response.reply = reply_text(req.channel, &intent, &items);
        response.fallback = out.llm.fallback.clone();
        response.llm.used = out.llm.used || parsed.llm.used;
        response.llm.intent = Some(parsed.llm);
        response.llm.rerank = Some(out.llm);
        response.intent_dropped = parsed.dropped;
        response.intent = Some(intent);
        response.items = items;
        Ok(())
    }

    /// A user's remembered preferences (only with their consent).
    pub fn user_memory(&self, user_id: &str) -> Result<Option<MemoryView>> {
        Ok(Memory::load(self.store(), user_id)?.map(|m| m.view()))
    }

    /// Forgets a user's remembered preferences.
    pub fn forget_user_memory(&self, user_id: &str) -> Result<bool> {
        Ok(self.store().delete_user_memory(user_id)?)
    }
}

fn grounded(i: &sommelier_types::Item) -> GroundedCandidate {
    use chrono::Datelike;
    GroundedCandidate {
        item: i.id.as_str().to_string(),
        title: i.title.clone(),
        year: i.release_date.map(|d| d.year()),
        price: i.price.as_ref().map(|p| p.amount),
        categories: i.categories.clone(),
        summary: clip(i.description.as_deref().unwrap_or(""), 140),
        available: i.is_available(),
    }
}

fn sort_by(recs: &mut [crate::Recommendation], sort: Sort, built: &crate::similar::Built) {
    use chrono::Datelike;
    let price = |id: &str| {
        built
            .items
            .get(id)
            .and_then(|i| i.price.as_ref().map(|p| p.amount))
    };
    let year = |id: &str| {
        built
            .items
            .get(id)
            .and_then(|i| i.release_date.map(|d| d.year()))
    };
    match sort {
        Sort::Relevance | Sort::Popular => {}
        Sort::PriceAsc => recs.sort_by(|a, b| {
            price(&a.item)
                .unwrap_or(f64::MAX)
                .total_cmp(&price(&b.item).unwrap_or(f64::MAX))
        }),
        Sort::PriceDesc => recs.sort_by(|a, b| {
            price(&b.item)
                .unwrap_or(f64::MIN)
                .total_cmp(&price(&a.item).unwrap_or(f64::MIN))
        }),
        Sort::Newest => recs.sort_by_key(|r| std::cmp::Reverse(year(&r.item).unwrap_or(i32::MIN))),
    }
}

fn signals_text(memory: Option<&Memory>, intent: &Intent) -> String {
    let mut parts = Vec::new();
    if let Some(m) = memory {
        let s = m.summary();
        if !s.is_empty() {
            parts.push(s);
        }
    }
    if !intent.exclude.is_empty() {
        parts.push(format!("does not want {}", intent.exclude.join(", ")));
    }
    if parts.is_empty() {
        "nothing known".into()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
