//! The recommendation pipeline: candidate sources ([`candidates`]) → weighted
//! reciprocal-rank fusion (the candidate pool, and the hand-set ranking) → the
//! learned scorer over named features ([`signals`], weights fitted from the
//! event log by `sommelier fit`) → hard filters → top k, timed per stage, with
//! each pick's provenance and the signals that placed it.

mod candidates;
pub(crate) mod rerank;
pub(crate) mod signals;

pub(crate) use candidates::{Context, gather};

use crate::{Engine, Result};
use serde::{Deserialize, Serialize};
use sommelier_index::Filter;
use sommelier_rank::Contribution;
use sommelier_recall::{Candidate, Provenance, Source, SourceList, fuse_rrf};
use sommelier_store::UserRead;
use std::collections::BTreeMap;
use std::time::Instant;

/// What to recommend.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RecommendRequest {
    /// The user, for personal sources and the already-consumed filter.
    pub user_id: Option<String>,
    /// Free text: what the person asks for.
    pub query: Option<String>,
    /// How many items (default 10, at most 100).
    pub k: Option<usize>,
    /// Catalog filters.
    #[serde(default)]
    pub filters: RequestFilters,
    /// Also return items the user already interacted with (default: no).
    #[serde(default)]
    pub include_consumed: bool,
    /// Only these candidate sources (default: all); for ablations and debugging.
    #[serde(default)]
    pub sources: Option<Vec<Source>>,
    /// How to order the candidates (default: the learned scorer when fitted).
    #[serde(default)]
    pub rank_by: RankBy,
    /// MMR trade-off for this request (default `rerank.mmr_lambda`): 1 ranks by
    /// relevance only, lower values favour variety.
    pub mmr_lambda: Option<f64>,
    /// "More like this item": its vector is the semantic query (instead of
    /// the embedded `query` text), and the item itself is left out.
    #[serde(default)]
    pub like_item: Option<String>,
    /// Return each pick's provenance, signals and rationale (default: yes);
    /// `false` answers ids, titles and scores only.
    #[serde(default)]
    pub explain: Option<bool>,
    /// When and on what the person asks (time of day, device class).
    #[serde(default)]
    pub context: RequestContext,
}

/// The situation of a request, read as context features: items people choose
/// at this time of day and on this device lift, the rest drop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestContext {
    /// Device class (`mobile`, `desktop`, `tv`, …), as in events' `context.device`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Local hour 0–23 in the deployment's zone (`features.utc_offset_minutes`);
    /// without it the current hour is used (unless `features.context_clock`
    /// is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u8>,
}

/// The context a request was ranked in, as the response reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContextUsed {
    /// Local hour used, if any (the request's, or the clock's).
    pub hour: Option<u8>,
    /// Its part of the day (`night`, `morning`, `afternoon`, `evening`).
    pub daypart: Option<&'static str>,
    /// The device class, when the log has events from it (an unknown device
    /// has nothing to compare with and is left out).
    pub device: Option<String>,
}

/// The ordering of the candidate pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// The learned scorer when one is fitted, else the fusion.
    #[default]
    Auto,
    /// Weighted reciprocal-rank fusion with the configured source weights.
    Fusion,
}

/// Filters of a request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RequestFilters {
    /// Allowed kinds.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Any of these categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// None of these categories.
    #[serde(default)]
    pub exclude_categories: Vec<String>,
    /// Price bounds.
    pub price_min: Option<f64>,
    /// Price bounds.
    pub price_max: Option<f64>,
    /// Release year bounds.
    pub year_min: Option<i32>,
    /// Release year bounds.
    pub year_max: Option<i32>,
    /// Include unavailable items (default: no).
    #[serde(default)]
    pub include_unavailable: bool,
}

impl RequestFilters {
    /// The index filter these request filters stand for.
    pub fn filter(&self) -> Filter {
        Filter {
            kinds: self.kinds.clone(),
            categories: self.categories.clone(),
            exclude_categories: self.exclude_categories.clone(),
            available_only: !self.include_unavailable,
            price_min: self.price_min,
            price_max: self.price_max,
            year_min: self.year_min,
            year_max: self.year_max,
        }
    }
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// Item id.
    pub item: String,
    /// Title.
    pub title: String,
    /// Relevance on a 0–1 scale over the re-ranked pool (the learned scorer's
    /// logit or the fused RRF score, rescaled), boosts included.
    pub score: f64,
    /// Every source that proposed it, strongest first.
    pub provenance: Vec<Provenance>,
    /// Why it ranks here: the signals that added most to its score, largest
    /// first (feature, its value, what it added).
    pub why: Vec<Contribution>,
    /// One sentence for a person, built from the strongest signals in `why`
    /// and the sources in `provenance`.
    pub rationale: String,
}

/// What a source did for one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceReport {
    /// The source.
    pub source: Source,
    /// Its fusion weight for this request.
    pub weight: f64,
    /// Candidates it proposed.
    pub candidates: usize,
    /// Why it proposed none, when it did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// `POST /v1/recommend`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecommendResponse {
    /// Recommended items, best first.
    pub items: Vec<Recommendation>,
    /// What each source contributed.
    pub sources: Vec<SourceReport>,
    /// Milliseconds per stage.
    pub timings_ms: BTreeMap<&'static str, f64>,
    /// Ranking used: `learned:<fit version>` or `fusion` (hand-set RRF weights,
    /// when no ranker has been fitted).
    pub ranker: String,
    /// Embedding model of the vector sources.
    pub embedding_model: String,
    /// Version of the collaborative and sequential models, if fitted.
    pub models_version: Option<String>,
    /// Whether the user's own history shaped the answer: false for visitors,
    /// and for a user whose profile declines personalisation
    /// (`consent.personalization = false`), who is answered as a visitor.
    pub personalized: bool,
    /// The time of day and device the candidates were ranked for.
    pub context: ContextUsed,
}

/// Why the personal sources did not run for a user who declined.
const NO_CONSENT: &str = "the user declined personalisation (consent)";

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Signals shown per pick.
const WHY_SIGNALS: usize = 4;

/// A candidate in ranked order, before the hard filters.
pub(crate) struct Ranked {
    pub(crate) item: String,
    pub(crate) score: f64,
    pub(crate) provenance: Vec<Provenance>,
    pub(crate) why: Vec<Contribution>,
    /// The learned scorer's feature vector, kept so that the "why" is worked
    /// out only for the items that are returned, not for the whole pool.
    pub(crate) signals: Option<Vec<f64>>,
    /// Events on the item, when the ranking already read its features (the
    /// re-rank's exploration boost needs them; no second lookup).
    pub(crate) events: Option<u64>,
}

/// The fused candidate pool of a request: every source's candidates, by
/// weighted RRF, without the user's consumed items (unless asked for).
pub(crate) fn pool(
    g: &candidates::Gathered,
    ctx: &Context<'_>,
    include_consumed: bool,
) -> Vec<Candidate> {
    let mut fused = fuse_rrf(&g.lists, ctx.fusion.rrf_k, ctx.fusion.pool);
    if !include_consumed {
        fused.retain(|c| !g.seen.contains(c.item.as_str()));
    }
    fused
}

/// Orders the pool: by the learned scorer when there is one, else by the fused
/// score. A query's semantic and lexical lists are fused back in with their
/// configured weights, since the scorer learns from the log, which has no queries.
fn rank(
    pool: Vec<Candidate>,
    g: &candidates::Gathered,
    ctx: &Context<'_>,
    ranker: Option<&sommelier_rank::LinearModel>,
    user: Option<&str>,
) -> Vec<Ranked> {
    let Some(model) = ranker else {
        return pool
            .into_iter()
            .map(|c| Ranked {
                why: c
                    .provenance
                    .iter()
                    .take(WHY_SIGNALS)
                    .map(|p| Contribution {
                        feature: format!("{}.rank", p.source),
                        value: p.rank as f64,
                        contribution: p.contribution,
                    })
                    .collect(),
                item: c.item,
                score: c.fused,
                provenance: c.provenance,
                signals: None,
                events: None,
            })
            .collect();
    };
    let scales = signals::Scales::of(g, ctx.fusion.per_source);
    let ids: Vec<&str> = pool.iter().map(|c| c.item.as_str()).collect();
    let features = signals::lookup(&ids, ctx, user, &scales);
    drop(ids);
    let mut ranked: Vec<(Ranked, f64)> = pool
        .into_iter()
        .zip(&features)
        .map(|(c, f)| {
            let x = signals::of(&c, f, &scales);
            let score = model.score(&x);
            (
                Ranked {
                    item: c.item,
                    score,
                    provenance: c.provenance,
                    why: Vec::new(),
                    signals: Some(x),
                    events: Some(f.item.as_ref().map_or(0, |i| i.counts.iter().sum())),
                },
                c.fused,
            )
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.0.score
            .total_cmp(&a.0.score)
            .then_with(|| b.1.total_cmp(&a.1))
            .then_with(|| a.0.item.cmp(&b.0.item))
    });
    let query_lists: Vec<SourceList> = g
        .lists
        .iter()
        .filter(|l| matches!(l.source, Source::Semantic | Source::Lexical) && !l.items.is_empty())
        .cloned()
        .collect();
    if query_lists.is_empty() {
        return ranked.into_iter().map(|r| r.0).collect();
    }
    // The learned order and the query's lists, fused by rank.
    let learned = SourceList {
        source: Source::Collaborative,
        weight: 1.0,
        items: ranked
            .iter()
            .map(|r| (r.0.item.clone(), r.0.score))
            .collect(),
    };
    let mut lists = vec![learned];
    lists.extend(query_lists);
    let order = fuse_rrf(&lists, ctx.fusion.rrf_k, usize::MAX);
    let mut by_item: std::collections::HashMap<String, Ranked> = ranked
        .into_iter()
        .map(|r| (r.0.item.clone(), r.0))
        .collect();
    order
        .into_iter()
        .filter_map(|c| {
            let mut r = by_item.remove(&c.item)?;
            r.score = c.fused;
            Some(r)
        })
        .collect()
}

impl Engine {
    /// Whether a user's history may shape their recommendations: their
    /// profile's `consent.personalization` (yes when they have no profile).
    pub fn personalization_allowed(&self, user: &str) -> Result<bool> {
        let Ok(id) = sommelier_types::UserId::new(user) else {
            return Ok(true); // no profile can exist under an invalid id
        };
        Ok(self
            .store
            .user(&id)?
            .is_none_or(|u| u.consent.personalization))
    }

    /// Recommends items for a user and/or a query.
    pub fn recommend(&self, req: &RecommendRequest) -> Result<RecommendResponse> {
        let declined = match req.user_id.as_deref() {
            Some(u) => !self.personalization_allowed(u)?,
            None => false,
        };
        if !declined {
            return self.recommend_for(req);
        }
        // Answered as a visitor: no history, no personal sources, no
        // consumed-items filter; the answer says why.
        let mut r = self.recommend_for(&RecommendRequest {
            user_id: None,
            ..req.clone()
        })?;
        for s in &mut r.sources {
            if s.skipped.as_deref() == Some("no history") {
                s.skipped = Some(NO_CONSENT.into());
            }
        }
        Ok(r)
    }

    fn recommend_for(&self, req: &RecommendRequest) -> Result<RecommendResponse> {
        let started = Instant::now();
        let k = req.k.unwrap_or(10).clamp(1, 100);
        let hour = self.request_hour(&req.context)?;
        let filter: Filter = req.filters.filter();
        let mut timings = BTreeMap::new();

        // The query is embedded before any lock is taken.
        let t = Instant::now();
        let query = match (&req.query, self.query_embedder()) {
            (Some(q), Some(embedder)) if !q.trim().is_empty() => {
                Ok(embedder.embed(&[q.as_str()])?.remove(0))
            }
            (Some(q), None) if !q.trim().is_empty() => Err("no query embedder loaded"),
            _ => Err("no query"),
        };
        timings.insert("embed_query", ms(t));
        let vectors = self.vector_index()?;
        let query = match req
            .like_item
            .as_ref()
            .and_then(|i| vectors.vectors.get(i.as_str()))
        {
            Some(v) => Ok(v.to_vec()),
            None => query,
        };
        let models = self.current_models();
        let weights = self.config().feature_config().weights;
        let (ranked, reports, learned, context) = {
            let state = self.features()?.state.read();
            let now = sommelier_features::FeatureRead::clock(&*state)
                .unwrap_or_else(sommelier_types::Timestamp::now);
            let ctx = Context {
                features: &*state,
                now,
                collaborative: models.as_deref().map(|m| &m.collaborative),
                sequential: models.as_deref().map(|m| &m.sequential),
                vectors: &vectors,
                fusion: &self.config().fusion,
                weights: &weights,
                sequential_context: self.config().models.sequential_context,
                rerank: &self.config().rerank,
                wall_now: sommelier_types::Timestamp::now(),
                hour,
            };
            let g = gather(&ctx, req, query, &filter, &mut timings)?;
            let t = Instant::now();
            let pool = pool(&g, &ctx, req.include_consumed);
            timings.insert("fusion", ms(t));
            let t = Instant::now();
            let ranker = models
                .as_deref()
                .and_then(|m| m.ranker.as_ref())
                // The ranker learns from users with a history; a visitor with
                // none is ranked by the fusion, where popularity leads.
                .filter(|_| req.rank_by == RankBy::Auto && !g.cold);
            let learned = ranker.is_some();
            let ranked = rank(pool, &g, &ctx, ranker, req.user_id.as_deref());
            timings.insert("ranking", ms(t));
            let used = ContextUsed {
                hour,
                daypart: g
                    .context
                    .daypart
                    .map(|d| sommelier_features::context::DAYPARTS[usize::from(d)]),
                device: g
                    .context
                    .device
                    .and(req.context.device.as_deref())
                    .map(|d| d.trim().to_ascii_lowercase()),
            };
            (ranked, g.reports, learned, used)
        };

        // Hard filters (live, passes the request filter) over enough of the
        // ranked list to fill the re-ranking pool.
        let t = Instant::now();
        let rr = &self.config().rerank;
        let want = (k * rr.pool_factor).max(k);
        let mut pool = Vec::with_capacity(want);
        {
            // The catalog snapshot of the vector state: no SQLite reads per request.
            let state = self.features()?.state.read();
            let now = sommelier_features::FeatureRead::clock(&*state)
                .unwrap_or_else(sommelier_types::Timestamp::now);
            for c in ranked {
                if pool.len() == want {
                    break;
                }
                let Some(item) = vectors.items.get(c.item.as_str()) else {
                    continue; // not live
                };
                if !filter.accepts_ref(crate::similar::item_meta_ref(item))
                    || req.like_item.as_deref() == Some(c.item.as_str())
                {
                    continue;
                }
                let events = c.events.unwrap_or_else(|| {
                    sommelier_features::FeatureRead::item(&*state, &c.item, now)
                        .map_or(0, |x| x.counts.iter().sum())
                });
                pool.push(rerank::Entry {
                    vector: vectors.vectors.get(c.item.as_str()).map(|v| &**v),
                    events,
                    ranked: c,
                    item: item.clone(),
                });
            }
        }
        timings.insert("filters", ms(t));

        // Business re-ranking: boosts, exposure caps, MMR.
        let t = Instant::now();
        let lambda = req.mmr_lambda.unwrap_or(rr.mmr_lambda).clamp(0.0, 1.0);
        let wall = sommelier_types::Timestamp::now();
        let capped = if rr.exposure_cap_per_hour > 0 {
            self.exposure.capped(rr.exposure_cap_per_hour, wall.0)
        } else {
            Default::default()
        };
        let picked = rerank::rerank(pool, k, rr, lambda, &capped, wall);
        let explain = req.explain.unwrap_or(true);
        if rr.exposure_cap_per_hour > 0 {
            self.exposure
                .record(picked.iter().map(|e| e.ranked.item.as_str()), wall.0);
        }
        let ranker_model = models
            .as_deref()
            .and_then(|m| m.ranker.as_ref())
            .filter(|_| learned);
        let items: Vec<Recommendation> = picked
            .into_iter()
            .map(|mut e| {
                // The learned signals after any boost the re-rank put first.
                if let (true, Some(model), Some(x)) = (explain, ranker_model, &e.ranked.signals) {
                    e.ranked.why.extend(model.contributions(x, WHY_SIGNALS));
                }
                let mut r = Recommendation {
                    item: e.ranked.item,
                    title: e.item.title.clone(),
                    score: e.ranked.score,
                    provenance: e.ranked.provenance,
                    why: e.ranked.why,
                    rationale: String::new(),
                };
                if explain {
                    r.rationale =
                        crate::chat::explain::signal_rationale(&r, &[], &e.item.categories);
                } else {
                    r.provenance.clear();
                    r.why.clear();
                }
                r
            })
            .collect();
        timings.insert("rerank", ms(t));
        timings.insert("total", ms(started));
        self.metrics().observe_stages(&timings, learned);
        let ranker = match models.as_deref() {
            Some(m) if learned => format!("learned:{}", m.report.version),
            _ => "fusion".to_string(),
        };
        Ok(RecommendResponse {
            items,
            sources: reports,
            timings_ms: timings,
            ranker,
            embedding_model: self.config().vectors.model.clone(),
            models_version: models.map(|m| m.report.version.clone()),
            personalized: req.user_id.is_some(),
            context,
        })
    }

    /// The local hour a request is ranked for: its own, else the clock's in
    /// the configured zone (when `features.context_clock` is on).
    fn request_hour(&self, c: &RequestContext) -> Result<Option<u8>> {
        match c.hour {
            Some(h) if h > 23 => Err(crate::EngineError::Usage(format!(
                "context.hour must be 0–23, got {h}"
            ))),
            Some(h) => Ok(Some(h)),
            None if self.config().features.context_clock => {
                Ok(Some(sommelier_features::context::local_hour(
                    sommelier_types::Timestamp::now().0,
                    self.config().features.utc_offset_minutes,
                )))
            }
            None => Ok(None),
        }
    }
}
