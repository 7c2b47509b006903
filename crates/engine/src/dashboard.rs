//! What the operator dashboard shows, in one read: latency per stage of both
//! request paths, the LLM layer's outcomes, tokens and cache, recent activity,
//! and what the store, the index and the fitted models hold. Nothing here
//! builds or loads anything: a part not built yet is reported as absent.

use crate::metrics::{ActivityWindow, ChatTurns};
use crate::{Engine, FitReport, Result, StageLatency};
use sommelier_types::api::StoreStats;
use std::sync::atomic::Ordering;

/// `GET /v1/admin/dashboard`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    /// Crate version of the server.
    pub version: &'static str,
    /// What the store holds (kept counters, see [`Engine::stats`]).
    pub store: StoreStats,
    /// Events folded into the online features (`None`: not built yet).
    pub feature_events_applied: Option<u64>,
    /// How the online features were made at start: loaded from their last
    /// save and advanced, or rebuilt from the log, and why.
    pub features_start: Option<crate::FeaturesStart>,
    /// How the catalog snapshot was made at start: loaded from its last
    /// save and brought up to date, or read from the store, and why.
    pub catalog_start: Option<crate::CatalogStart>,
    /// Damage found in derived or kept data since start, by what.
    pub damage: std::collections::BTreeMap<&'static str, u64>,
    /// The vector and lexical indexes of the current catalog snapshot
    /// (`None`: being built).
    pub index: Option<IndexStats>,
    /// The fitted models in use.
    pub models: Option<FitReport>,
    /// Items waiting for vectors: whether a run is due, what the last did.
    pub embed_backlog: crate::EmbedBacklog,
    /// Records accepted, rejected and skipped as duplicates since start.
    pub ingest: IngestCounts,
    /// Per-stage latency of `/v1/recommend`.
    pub recommend_latency: Vec<StageLatency>,
    /// Per-stage latency of `/v1/chat`.
    pub chat_latency: Vec<StageLatency>,
    /// Chat turns by whether the LLM's answer was used.
    pub chat_turns: ChatTurns,
    /// The LLM layer (`None`: not loaded yet).
    pub llm: Option<LlmStats>,
    /// Events, recommendations and chat turns over the last ten minutes.
    pub activity: ActivityWindow,
}

/// The catalog snapshot's indexes.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct IndexStats {
    /// `hnsw`, `exact` (below `vectors.exact_below` items) or `pgvector`
    /// (searched inside PostgreSQL, `vectors.index = "pgvector"`).
    pub backend: &'static str,
    /// How the HNSW graph stores vectors: `i8`, `f16` or `f32` (`None` for exact).
    pub storage: Option<&'static str>,
    /// Vectors indexed.
    pub vectors: usize,
    /// Their dimension.
    pub dim: usize,
    /// The embedding model they come from.
    pub embedding_model: String,
    /// Live items in the snapshot.
    pub catalog_items: usize,
    /// Documents in the BM25 index (`None`: not built).
    pub lexical_docs: Option<usize>,
}

/// Ingest counters since start.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct IngestCounts {
    /// Records accepted.
    pub accepted: u64,
    /// Records rejected.
    pub rejected: u64,
    /// Duplicates skipped.
    pub duplicates: u64,
}

/// The LLM layer's counters.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LlmStats {
    /// The model for intent.
    pub small: String,
    /// The model for re-rank, explanations and tools.
    pub large: String,
    /// Calls per stage and outcome (`llm` = the answer was used, else the
    /// fallback reason).
    pub stages: Vec<StageOutcome>,
    /// Tokens per model.
    pub tokens: Vec<ModelTokens>,
    /// The result cache.
    pub cache: CacheStats,
}

/// One (stage, outcome) counter.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StageOutcome {
    /// `intent`, `rerank`, `reply`, …
    pub stage: String,
    /// `llm` or the fallback reason.
    pub outcome: String,
    /// Calls.
    pub count: u64,
}

/// Tokens one model processed.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ModelTokens {
    /// Model id.
    pub model: String,
    /// Completions.
    pub calls: u64,
    /// Prompt tokens computed.
    pub prompt: u64,
    /// Prompt tokens reused from a kept prefix.
    pub cached: u64,
    /// Tokens generated.
    pub completion: u64,
}

/// Cache lookups.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that were not.
    pub misses: u64,
    /// Entries held.
    pub entries: usize,
    /// hits / (hits + misses), 0 before any lookup.
    pub hit_ratio: f64,
}

impl Engine {
    /// Everything the operator dashboard shows, as of now (store counts from
    /// the kept counters: no scan).
    pub fn dashboard(&self) -> Result<Dashboard> {
        let index = self.built_snapshot().map(|b| IndexStats {
            backend: b.backend,
            storage: b.storage,
            vectors: b.indexed(),
            dim: b.index.read().dim(),
            embedding_model: self.config().vectors.model.clone(),
            catalog_items: b.items.len(),
            lexical_docs: b.lexical.as_ref().map(|l| l.len()),
        });
        let c = self.counters();
        Ok(Dashboard {
            version: env!("CARGO_PKG_VERSION"),
            store: self.stats()?,
            feature_events_applied: self.built_features().map(|f| f.state.read().applied()),
            features_start: self.features_start(),
            catalog_start: self.catalog_start(),
            damage: self.metrics().damage(),
            index,
            models: self.models_report(),
            embed_backlog: self.embed_backlog_view(),
            ingest: IngestCounts {
                accepted: c.accepted.load(Ordering::Relaxed),
                rejected: c.rejected.load(Ordering::Relaxed),
                duplicates: c.duplicates.load(Ordering::Relaxed),
            },
            recommend_latency: self.metrics().stage_latencies(),
            chat_latency: self.metrics().chat_latencies(),
            chat_turns: self.metrics().chat_turns(),
            llm: self.llm.get().map(|l| llm_stats(l)),
            activity: self.metrics().activity(),
        })
    }
}

fn llm_stats(llm: &sommelier_llm::Llm) -> LlmStats {
    let (hits, misses, entries) = llm.cache_counts();
    LlmStats {
        small: llm.small().model_id(),
        large: llm.large().model_id(),
        stages: llm
            .stats()
            .stages()
            .into_iter()
            .map(|(stage, outcome, count)| StageOutcome {
                stage,
                outcome,
                count,
            })
            .collect(),
        tokens: llm
            .stats()
            .tokens()
            .into_iter()
            .map(|(model, t)| ModelTokens {
                model,
                calls: t.calls,
                prompt: t.prompt_tokens,
                cached: t.cached_tokens,
                completion: t.completion_tokens,
            })
            .collect(),
        cache: CacheStats {
            hits,
            misses,
            entries,
            hit_ratio: if hits + misses > 0 {
                hits as f64 / (hits + misses) as f64
            } else {
                0.0
            },
        },
    }
}
