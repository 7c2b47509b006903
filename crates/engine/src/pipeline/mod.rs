//! The read path as stages. The engine hands out a [`Pipeline`] per request
//! — the catalog snapshot, the fitted models, the online features and the
//! configuration it reads — and a request runs through one file per stage:
//!
//! ```text
//! sources   every candidate source's ranked list (recall::sources)
//! fuse      weighted reciprocal-rank fusion → the candidate pool
//! rank      the learned scorer over named signals, or the fusion order
//! filter    hard filters: live, the request's filters, availability
//! rerank    business re-rank: boosts, exposure caps, MMR
//! explain   each pick's "why" and a sentence built from its signals
//! llm       (on request) the model re-orders the first picks and writes
//!           their sentences, behind the grounding gate
//! ```
//!
//! `/v1/recommend`, chat, offline evaluation and the ranker's fit all go
//! through it; the fit builds a pipeline over held-out features and models
//! ([`Pipeline::candidates`]), so the ranker learns from exactly what
//! serving computes.

mod explain;
mod filter;
mod fuse;
pub mod llm;
mod rank;
mod request;
mod rerank;
mod sequence;
mod sources;

pub(crate) use explain::signal_rationale;
pub use request::{
    ClockSource, ClockUsed, ContextUsed, Explain, RankBy, RecommendRequest, RecommendResponse,
    Recommendation, RequestContext, SourceReport,
};

use crate::metrics::Metrics;
use crate::models::Models;
use crate::snapshot::CatalogSnapshot;
use crate::{Config, EngineError, Result};
use parking_lot::{RwLock, RwLockReadGuard};
use sommelier_embed::Embedder;
use sommelier_features::{FeatureRead, OnlineFeatures};
use sommelier_index::Filter;
use sommelier_rank::{Exposure, LinearModel};
use sommelier_recall::{Candidate, SourceSettings};
use sommelier_types::Timestamp;
use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

/// Milliseconds per stage of one request.
pub(crate) type Timings = BTreeMap<&'static str, f64>;

/// Milliseconds since `t`.
pub(crate) fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// The online features a pipeline reads: the live ones (a read lock per
/// stage, so writers are not held up by a long request) or a fixed copy
/// (the ranker's fit reads features rebuilt without the held-out events).
pub(crate) enum FeatureAccess<'a> {
    /// The engine's features, behind their lock.
    Live(&'a RwLock<OnlineFeatures>),
    /// A copy owned elsewhere.
    Fixed(&'a OnlineFeatures),
}

/// The features as one stage reads them.
pub(crate) enum FeatureGuard<'a> {
    Live(RwLockReadGuard<'a, OnlineFeatures>),
    Fixed(&'a OnlineFeatures),
}

impl Deref for FeatureGuard<'_> {
    type Target = OnlineFeatures;
    fn deref(&self) -> &OnlineFeatures {
        match self {
            FeatureGuard::Live(g) => g,
            FeatureGuard::Fixed(f) => f,
        }
    }
}

impl FeatureAccess<'_> {
    fn read(&self) -> FeatureGuard<'_> {
        match self {
            FeatureAccess::Live(l) => FeatureGuard::Live(l.read()),
            FeatureAccess::Fixed(f) => FeatureGuard::Fixed(f),
        }
    }
}

/// The configuration a pipeline reads: the engine's own, or the one an
/// experiment's variant serves with.
pub(crate) enum ConfigRef<'a> {
    /// The engine's.
    Engine(&'a Config),
    /// A variant's (`experiments/`).
    Variant(Arc<Config>),
}

impl Deref for ConfigRef<'_> {
    type Target = Config;
    fn deref(&self) -> &Config {
        match self {
            ConfigRef::Engine(c) => c,
            ConfigRef::Variant(c) => c,
        }
    }
}

/// What one request reads, handed out by the engine
/// ([`crate::Engine::recommend`]) or built by the ranker's fit.
pub(crate) struct Pipeline<'a> {
    pub(crate) config: ConfigRef<'a>,
    /// The catalog: items, vectors and their index, BM25, newest items.
    pub(crate) snapshot: Arc<CatalogSnapshot>,
    /// The fitted collaborative and next-item models and the ranker.
    pub(crate) models: Option<Arc<Models>>,
    /// Online features.
    pub(crate) features: FeatureAccess<'a>,
    /// Turns query text into a vector (none: the semantic source is skipped).
    pub(crate) embedder: Option<Arc<dyn Embedder>>,
    /// What the sources read of the configuration.
    pub(crate) settings: SourceSettings,
    /// Serving only: exposures counted for the caps, stage latencies.
    pub(crate) exposure: Option<&'a Exposure>,
    pub(crate) metrics: Option<&'a Metrics>,
    /// The LLM layer, for requests that ask for the LLM stage.
    pub(crate) llm: Option<Arc<sommelier_llm::Llm>>,
}

/// The source settings of a configuration.
pub(crate) fn source_settings(config: &Config) -> SourceSettings {
    SourceSettings {
        weights: config.feature_config().weights,
        sequential_context: config.models.sequential_context,
        launch_window_days: config.rerank.launch_window_days,
        explore_max_events: config.rerank.explore_max_events,
    }
}

/// The fused pool of one request and what ranking it needs, for the fit.
pub(crate) struct Pooled {
    /// The candidate pool, best fused first, consumed items left out.
    pub(crate) pool: Vec<Candidate>,
    /// The scales of the request's lists.
    pub(crate) scales: sommelier_rank::signals::Scales,
    /// The user's state in the sequence model, if one serves.
    pub(crate) sequence: Option<sequence::UserSequence>,
}

impl Pipeline<'_> {
    /// The time a request is answered as of: its `at`, else the newest
    /// event, else now.
    pub(crate) fn clock(req_at: Option<Timestamp>, f: &OnlineFeatures) -> ClockUsed {
        ClockUsed::of(req_at, f.clock())
    }

    /// The learned scorer for a request, if one is fitted and the request
    /// lets it rank. The ranker learns from users with a history; a visitor
    /// with none is ranked by the fusion, where popularity leads. A request
    /// that refers to items ("like Heat") is ranked by the fusion too, where
    /// the `similar` list leads: the ranker learned what a user chooses
    /// next, not what is like a given item.
    fn ranker(&self, req: &RecommendRequest, cold: bool) -> Option<&LinearModel> {
        self.models
            .as_deref()
            .and_then(|m| m.ranker.as_ref())
            .filter(|_| req.rank_by == RankBy::Auto && !cold && req.references().is_empty())
    }

    /// Recommends items for a user and/or a query: every stage, timed.
    pub(crate) fn recommend(&self, req: &RecommendRequest) -> Result<RecommendResponse> {
        let started = Instant::now();
        let k = req.k.unwrap_or(10).clamp(1, 100);
        let hour = request_hour(&self.config, &req.context)?;
        let filter = Filter::from(&req.filters);
        let mut timings = Timings::new();
        let query = sources::query_vector(self, req, &mut timings)?;
        let (ranked, reports, learned, context) = {
            let features = self.features.read();
            let clock = Self::clock(req.at, &features);
            let now = clock.at;
            let g = sources::gather(
                self,
                &*features,
                now,
                req,
                hour,
                query.as_deref().map_err(|e| *e),
                &filter,
                &mut timings,
            )?;
            let t = Instant::now();
            let pool = fuse::pool(&g, &self.config.fusion, req.include_consumed);
            timings.insert("fusion", ms(t));
            let t = Instant::now();
            let ranker = self.ranker(req, g.user.is_cold());
            let ranked = rank::rank(
                pool,
                &g,
                &*features,
                now,
                ranker,
                req.user_id.as_deref(),
                &self.config.fusion,
            );
            timings.insert("ranking", ms(t));
            let used = g.context_used(hour, req);
            (ranked, g.reports, ranker.is_some(), (used, clock))
        };
        let (context, clock) = context;
        let t = Instant::now();
        let want = (k * self.config.rerank.pool_factor).max(k);
        let pool = {
            let features = self.features.read();
            filter::keep(
                ranked,
                &self.snapshot,
                &*features,
                clock.at,
                &filter,
                &req.references(),
                want,
            )
        };
        timings.insert("filters", ms(t));
        let t = Instant::now();
        // A request that names items wants what is closest to them: little
        // diversity, unless it asks for some.
        let lambda = req
            .mmr_lambda
            .or_else(|| (!req.references().is_empty()).then_some(rerank::REFERENCE_MMR_LAMBDA));
        let picked = rerank::rerank(self, pool, k, lambda, &req.category_boosts);
        let ranker = self
            .models
            .as_deref()
            .and_then(|m| m.ranker.as_ref())
            .filter(|_| learned);
        let mut items = explain::explain(picked, req.explain, ranker, &[]);
        timings.insert("rerank", ms(t));
        let mut llm_report = None;
        let mut follow_ups = Vec::new();
        if req.explain == Explain::Llm {
            let t = Instant::now();
            let ask = llm::LlmAsk::for_request(req, &self.config);
            let page = llm::rerank(self, items, &ask, &mut |_| {});
            items = page.items;
            follow_ups = page.follow_ups;
            llm_report = Some(page.report);
            timings.insert("llm", ms(t));
        }
        timings.insert("total", ms(started));
        if let Some(m) = self.metrics {
            m.observe_stages(&timings, learned);
        }
        let ranker = match self.models.as_deref() {
            Some(m) if learned => format!("learned:{}", m.report.version),
            _ => "fusion".to_string(),
        };
        Ok(RecommendResponse {
            request_id: crate::exposures::new_request_id(),
            items,
            sources: reports,
            timings_ms: timings,
            ranker,
            embedding_model: self.config.vectors.model.clone(),
            models_version: self.models.as_ref().map(|m| m.report.version.clone()),
            personalized: req.user_id.is_some(),
            context,
            clock,
            llm: llm_report,
            follow_ups,
            experiments: Vec::new(),
            teams: Vec::new(),
            state: (self.snapshot.position, self.features.read().applied()),
        })
    }

    /// The sources and the fusion of a request without a query, for the
    /// ranker's fit: the pool it would rank, and its scales.
    pub(crate) fn candidates(&self, req: &RecommendRequest, hour: Option<u8>) -> Result<Pooled> {
        let features = self.features.read();
        let now = Self::clock(req.at, &features).at;
        let mut timings = Timings::new();
        let filter = Filter::default();
        let g = sources::gather(
            self,
            &*features,
            now,
            req,
            hour,
            Err("no query"),
            &filter,
            &mut timings,
        )?;
        let pool = fuse::pool(&g, &self.config.fusion, false);
        let scales = g.scales(self.config.fusion.per_source);
        Ok(Pooled {
            pool,
            scales,
            sequence: g.sequence,
        })
    }

    /// The signals of `cands` for `user`, for the ranker's fit.
    pub(crate) fn signals(
        &self,
        cands: &[&Candidate],
        user: &str,
        pooled: &Pooled,
    ) -> Vec<Vec<f64>> {
        let features = self.features.read();
        let now = Self::clock(None, &features).at;
        rank::signals(
            cands,
            &*features,
            now,
            Some(user),
            &pooled.scales,
            pooled.sequence.as_ref(),
        )
    }
}

/// The local hour a request is ranked for: its own, else the clock's in the
/// configured zone (when `features.context_clock` is on).
pub(crate) fn request_hour(config: &Config, c: &RequestContext) -> Result<Option<u8>> {
    match c.hour {
        Some(h) if h > 23 => Err(EngineError::Usage(format!(
            "context.hour must be 0–23, got {h}"
        ))),
        Some(h) => Ok(Some(h)),
        None if config.features.context_clock => Ok(Some(sommelier_features::context::local_hour(
            Timestamp::now().0,
            config.features.utc_offset_minutes,
        ))),
        None => Ok(None),
    }
}
