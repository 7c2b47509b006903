//! The LLM layer of Sommelier. The model amplifies the classical core and
//! never replaces it: it turns words into a typed [`intent::Intent`] (checked
//! against the words), re-ranks a grounded candidate set and explains each
//! pick ([`Llm::rerank`]: the local model scores the candidates' numbers and
//! writes each pick's sentence under a grammar of its own facts,
//! [`sentence`]; everything is checked by [`grounded::gate`]), and phrases tool
//! results. Every call has a deadline, and every failure has a fallback the
//! caller applies: the rule-based intent, the pre-LLM order with signal-based
//! reasons.
//!
//! Providers are a closed set ([`provider::Provider`]): llama.cpp in process,
//! an OpenAI-compatible endpoint, or off. Configuration routes a small model
//! to intent parsing and a larger one to re-ranking ([`LlmConfig`]).

pub mod cache;
pub mod cancel;
pub mod error;
pub mod grammar;
pub mod grounded;
pub mod intent;
pub mod message;
pub mod prompt;
pub mod provider;
mod rerank;
pub mod sentence;
pub mod stats;
pub mod tools;

pub use error::{LlmError, Result};
pub use message::{Completion, CompletionRequest, Message, Role};
pub use provider::{Provider, ProviderConfig};
pub use rerank::{CLASSICAL_PRIOR, RerankOutcome};

use cache::{CacheKey, LlmCache};
use intent::{Intent, Vocabulary};
use prompt::{Prompts, TemplateName};
use serde::{Deserialize, Serialize};
use stats::LlmStats;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `[llm]` configuration section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// Use a model at all (false: pure classical mode).
    pub enabled: bool,
    /// The model for intent parsing and checks (default: local SmolLM2).
    #[serde(deserialize_with = "provider::local_unless_named")]
    pub small: ProviderConfig,
    /// The model for re-ranking and explanations (default: the small one).
    #[serde(default, deserialize_with = "provider::some_local_unless_named")]
    pub large: Option<ProviderConfig>,
    /// When the local model file is missing at start: run in classical mode
    /// with a warning (`true`, the default) or refuse to start.
    pub missing_model_is_off: bool,
    /// Load a local model folder that has no manifest of what `sommelier
    /// models fetch` extracted (your own GGUF). Off by default: such files
    /// are refused, since a damaged GGUF can abort llama.cpp.
    pub allow_unverified_model: bool,
    /// Folder whose template files override the built-in prompts.
    pub prompts_dir: Option<PathBuf>,
    /// Who the assistant is, for the prompts.
    pub persona: String,
    /// When to ask the small model for the intent: `auto` (only when the
    /// rules leave words unexplained), `always`, `never`.
    pub model_intent: ModelIntent,
    /// Deadline of the intent stage, milliseconds.
    pub intent_deadline_ms: u64,
    /// Deadline of a whole chat turn, milliseconds: the re-rank gets what the
    /// turn has left (minus a little for the rest), so a turn with a model
    /// takes at most this long plus retrieval.
    pub turn_deadline_ms: u64,
    /// Deadline of the re-rank stage, milliseconds.
    pub rerank_deadline_ms: u64,
    /// Candidates shown to the model.
    pub rerank_candidates: usize,
    /// Picks the model returns (the rest of the page follows in the
    /// classical order).
    pub rerank_picks: usize,
    /// Most tokens of the intent's JSON answer.
    pub intent_max_tokens: u32,
    /// Most tokens of a remote model's JSON re-rank answer (the local model
    /// scores numbers and writes short sentences instead).
    pub rerank_max_tokens: u32,
    /// Cached LLM results (0: no cache).
    pub cache_capacity: usize,
    /// How long a cached result lives, seconds.
    pub cache_ttl_secs: u64,
    /// Terms model-written text must not contain, beside the built-in checks
    /// (inference of the user's sensitive attributes, unsafe phrases, PII):
    /// an answer that has one falls back to the classical one.
    pub blocked_terms: Vec<String>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            small: ProviderConfig::default(),
            large: None,
            missing_model_is_off: true,
            allow_unverified_model: false,
            prompts_dir: None,
            persona: "a friendly, concise recommender".into(),
            model_intent: ModelIntent::Auto,
            intent_deadline_ms: 1000,
            turn_deadline_ms: 3000,
            rerank_deadline_ms: 2500,
            rerank_candidates: 6,
            rerank_picks: 2,
            intent_max_tokens: 80,
            rerank_max_tokens: 200,
            cache_capacity: 10_000,
            cache_ttl_secs: 3600,
            blocked_terms: Vec::new(),
        }
    }
}

/// When the intent stage asks the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelIntent {
    /// Only when the rules leave some words of the request unexplained.
    #[default]
    Auto,
    /// Every request.
    Always,
    /// Never: rules only.
    Never,
}

/// How a stage's LLM part went, for the response.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StageReport {
    /// Whether the model's answer was used.
    pub used: bool,
    /// Model id (`local:…`, `openai:…`, `off`).
    pub model: String,
    /// Prompt template version.
    pub prompt_version: String,
    /// Why the model's answer was not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Answered from the cache.
    pub cached: bool,
    /// Milliseconds spent.
    pub ms: f64,
    /// Re-rank only: whether the model's picks differ from the classical
    /// order's first candidates (none when its answer was not used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_changed: Option<bool>,
}

impl StageReport {
    /// A report of a stage not (yet) answered by `provider`.
    pub(crate) fn new(provider: &Provider, prompt_version: &str) -> Self {
        Self {
            used: false,
            model: provider.model_id(),
            prompt_version: prompt_version.to_string(),
            fallback: None,
            cached: false,
            ms: 0.0,
            order_changed: None,
        }
    }
}

/// The intent stage's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentOutcome {
    /// The intent used for retrieval.
    pub intent: Intent,
    /// What the model proposed that the request's words do not support.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    /// How the model part went.
    pub llm: StageReport,
}

/// A tool call made during a turn, with its result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolTrace {
    /// Tool name.
    pub name: String,
    /// Arguments as the model wrote them (parsed when they are JSON).
    pub args: serde_json::Value,
    /// What the tool returned.
    pub result: serde_json::Value,
}

/// The LLM layer: providers by role, prompts, cache, counters.
pub struct Llm {
    config: LlmConfig,
    small: Arc<Provider>,
    large: Arc<Provider>,
    prompts: Prompts,
    cache: LlmCache,
    stats: LlmStats,
    /// The re-rank's content-free scores per (model, prompt version, list
    /// length), for calibration.
    calibration: parking_lot::Mutex<std::collections::BTreeMap<(String, String, usize), Vec<f64>>>,
    /// The check on every sentence a model writes, beside the gate.
    policy: sommelier_privacy::TextPolicy,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llm")
            .field("small", &self.small.model_id())
            .field("large", &self.large.model_id())
            .finish()
    }
}

impl Llm {
    /// Loads the configured providers. `data_dir` anchors relative paths.
    pub fn load(config: &LlmConfig, data_dir: &Path) -> Result<Self> {
        let prompts = Prompts::load(config.prompts_dir.as_deref())?;
        let load = |c: &ProviderConfig| -> Result<Provider> {
            if !config.enabled {
                return Ok(Provider::Off(provider::Off));
            }
            match c.load(data_dir) {
                Err(e @ LlmError::Load { .. })
                    if config.missing_model_is_off && matches!(c, ProviderConfig::Local { .. }) =>
                {
                    tracing::warn!(error = %e, "no local LLM: running in classical mode");
                    Ok(Provider::Off(provider::Off))
                }
                r => r,
            }
        };
        let small = Arc::new(load(&config.small)?);
        let large = match &config.large {
            Some(c) if *c != config.small => Arc::new(load(c)?),
            _ => small.clone(),
        };
        Ok(Self::with_providers(config.clone(), small, large, prompts))
    }

    /// An LLM layer over providers made elsewhere (tests, benchmarks).
    pub fn with_providers(
        config: LlmConfig,
        small: Arc<Provider>,
        large: Arc<Provider>,
        prompts: Prompts,
    ) -> Self {
        let cache = LlmCache::new(
            config.cache_capacity,
            Duration::from_secs(config.cache_ttl_secs),
        );
        let policy = sommelier_privacy::TextPolicy::with_extra_terms(config.blocked_terms.clone());
        Self {
            config,
            small,
            large,
            prompts,
            cache,
            stats: LlmStats::default(),
            calibration: Default::default(),
            policy,
        }
    }

    /// The check on model-written text.
    pub fn policy(&self) -> &sommelier_privacy::TextPolicy {
        &self.policy
    }

    /// The configuration.
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// The model for intent parsing.
    pub fn small(&self) -> &Provider {
        &self.small
    }

    /// The model for re-ranking and replies.
    pub fn large(&self) -> &Provider {
        &self.large
    }

    /// The small and large providers, shared (a variant's LLM layer that
    /// keeps a model reuses the loaded one).
    pub fn providers(&self) -> (Arc<Provider>, Arc<Provider>) {
        (self.small.clone(), self.large.clone())
    }

    /// The prompt templates.
    pub fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> &LlmStats {
        &self.stats
    }

    /// Drops every cached answer; returns how many there were.
    pub fn clear_cache(&self) -> usize {
        self.cache.clear()
    }

    /// Cache (hits, misses, entries).
    pub fn cache_counts(&self) -> (u64, u64, usize) {
        let (h, m) = self.cache.counts();
        (h, m, self.cache.len())
    }

    /// Runs a constrained completion through the cache. Returns the text and
    /// whether it came from the cache.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn cached_complete(
        &self,
        provider: &Provider,
        template: TemplateName,
        vars: &[(&str, &str)],
        format: Option<message::JsonFormat>,
        max_tokens: u32,
        deadline: Instant,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<(String, bool)> {
        let t = self.prompts.get(template);
        let messages = t.render(vars);
        let model = provider.model_id();
        let inputs: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        let key = CacheKey::of(&model, &t.version, &inputs);
        if let Some(text) = self.cache.get(&key) {
            return Ok((text, true));
        }
        let mut req = CompletionRequest::new(messages, max_tokens, Duration::ZERO);
        req.deadline = deadline;
        req.format = format;
        let c = provider.complete(req, on_token)?;
        self.stats.record_tokens(&model, &c);
        self.cache.put(key, c.text.clone());
        Ok((c.text, false))
    }

    /// The typed intent of `text`: rules, refined by the small model when it
    /// answers in time and its proposals are supported by the words.
    pub fn intent(
        &self,
        text: &str,
        vocab: &Vocabulary,
        this_year: i32,
        deadline: Instant,
    ) -> IntentOutcome {
        let started = Instant::now();
        let rules = intent::parse_rules(text, vocab, this_year);
        let t = self.prompts.get(TemplateName::Intent);
        let mut report = StageReport::new(&self.small, &t.version);
        let outcome = |report: StageReport, intent, dropped| IntentOutcome {
            intent,
            dropped,
            llm: report,
        };
        let skip = match self.config.model_intent {
            _ if self.small.is_off() => Some("off"),
            ModelIntent::Never => Some("disabled"),
            ModelIntent::Auto if intent::rules_cover(&rules, vocab) => Some("rules_cover"),
            _ => None,
        };
        if let Some(why) = skip {
            report.fallback = Some(why.into());
            self.stats
                .record_stage("intent", report.fallback.as_deref());
            return outcome(report, rules, Vec::new());
        }
        let cats: Vec<&str> = vocab.names().take(64).collect();
        let cats = cats.join(", ");
        let result = self.cached_complete(
            &self.small,
            TemplateName::Intent,
            &[("request", text), ("categories", &cats)],
            Some(intent::format(vocab)),
            self.config.intent_max_tokens,
            deadline,
            &mut |_| {},
        );
        report.ms = started.elapsed().as_secs_f64() * 1e3;
        let (intent, dropped) = match result {
            Ok((answer, cached)) => {
                report.cached = cached;
                match serde_json::from_str::<intent::ModelIntent>(&answer) {
                    Ok(m) => {
                        report.used = true;
                        intent::merge(&rules, &m, text, vocab)
                    }
                    Err(_) => {
                        report.fallback = Some("malformed".into());
                        (rules, Vec::new())
                    }
                }
            }
            Err(e) => {
                report.fallback = Some(e.kind().into());
                (rules, Vec::new())
            }
        };
        self.stats
            .record_stage("intent", report.fallback.as_deref());
        outcome(report, intent, dropped)
    }

    /// Answers `question` with the large model calling [`tools`] through the
    /// protocol (remote providers): up to three rounds of calls, then a short
    /// answer whose numbers must all come from the tools' results. `None` when
    /// the provider cannot call tools or the answer fails; the caller then
    /// routes the question itself.
    pub fn answer_with_tools(
        &self,
        question: &str,
        context: &str,
        host: &dyn tools::ToolHost,
        deadline: Instant,
    ) -> (Option<(String, Vec<ToolTrace>)>, StageReport) {
        let started = Instant::now();
        let t = self.prompts.get(TemplateName::Reply);
        let mut report = StageReport::new(&self.large, &t.version);
        if !self.large.supports_tools() {
            report.fallback = Some("no_tool_calling".into());
            return (None, report);
        }
        let mut messages = t.render(&[
            ("persona", &self.config.persona),
            ("request", question),
            ("facts", context),
        ]);
        messages[0].content.push_str(
            "\nCall the tools for prices, availability, details, comparisons and policies; never guess them.",
        );
        let mut traces: Vec<ToolTrace> = Vec::new();
        let mut outcome = Err(LlmError::Malformed("the model kept calling tools".into()));
        for _round in 0..4 {
            let mut req = CompletionRequest::new(messages.clone(), 160, Duration::ZERO);
            req.deadline = deadline;
            req.tools = tools::specs();
            match self.large.complete(req, &mut |_| {}) {
                Ok(c) if !c.tool_calls.is_empty() => {
                    self.stats.record_tokens(&self.large.model_id(), &c);
                    let mut assistant = Message::new(Role::Assistant, c.text.clone());
                    assistant.tool_calls = c.tool_calls.clone();
                    messages.push(assistant);
                    for call in &c.tool_calls {
                        let args: serde_json::Value = serde_json::from_str(&call.arguments)
                            .unwrap_or_else(|_| serde_json::json!({ "raw": call.arguments }));
                        let result = if args.get("raw").is_some() {
                            serde_json::json!({ "error": "arguments are not a JSON object" })
                        } else {
                            host.call(&call.name, &args)
                        };
                        let mut m = Message::new(Role::Tool, result.to_string());
                        m.tool_call_id = Some(call.id.clone());
                        messages.push(m);
                        traces.push(ToolTrace {
                            name: call.name.clone(),
                            args,
                            result,
                        });
                    }
                }
                Ok(c) => {
                    self.stats.record_tokens(&self.large.model_id(), &c);
                    outcome = Ok(c.text);
                    break;
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        report.ms = started.elapsed().as_secs_f64() * 1e3;
        let facts: String = std::iter::once(context.to_string())
            .chain(traces.iter().map(|t| t.result.to_string()))
            .collect::<Vec<_>>()
            .join("\n");
        let answer = match outcome {
            Ok(text) if text.trim().is_empty() => {
                report.fallback = Some("empty".into());
                None
            }
            Ok(text) if !grounded::numbers_grounded(&text, &facts) => {
                report.fallback = Some("gate:ungrounded_fact".into());
                None
            }
            Ok(text) if self.policy.check(&text).is_err() => {
                report.fallback = Some(format!(
                    "gate:{}",
                    grounded::policy_failure(&self.policy, &text)
                ));
                None
            }
            Ok(text) => Some((text.trim().to_string(), traces)),
            Err(e) => {
                report.fallback = Some(e.kind().into());
                None
            }
        };
        report.used = answer.is_some();
        self.stats.record_stage("tools", report.fallback.as_deref());
        (answer, report)
    }

    /// Phrases tool `facts` as a short answer to `question` with the large
    /// model; `None` when it cannot (the caller then shows the facts).
    pub fn reply(
        &self,
        question: &str,
        facts: &str,
        deadline: Instant,
        on_token: &mut dyn FnMut(&str),
    ) -> (Option<String>, StageReport) {
        let started = Instant::now();
        let t = self.prompts.get(TemplateName::Reply);
        let mut report = StageReport::new(&self.large, &t.version);
        if self.large.is_off() {
            report.fallback = Some("off".into());
            self.stats.record_stage("reply", report.fallback.as_deref());
            return (None, report);
        }
        let result = self.cached_complete(
            &self.large,
            TemplateName::Reply,
            &[
                ("persona", &self.config.persona),
                ("request", question),
                ("facts", facts),
            ],
            None,
            96,
            deadline,
            on_token,
        );
        report.ms = started.elapsed().as_secs_f64() * 1e3;
        let text = match result {
            Ok((text, cached)) => {
                report.cached = cached;
                let t = text.trim().to_string();
                if t.is_empty() {
                    report.fallback = Some("empty".into());
                    None
                } else if self.policy.check(&t).is_err() {
                    report.fallback = Some(format!(
                        "gate:{}",
                        grounded::policy_failure(&self.policy, &t)
                    ));
                    None
                } else {
                    Some(t)
                }
            }
            Err(e) => {
                report.fallback = Some(e.kind().into());
                None
            }
        };
        report.used = text.is_some();
        self.stats.record_stage("reply", report.fallback.as_deref());
        (text, report)
    }
}
