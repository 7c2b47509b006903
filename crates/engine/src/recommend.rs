//! The recommendation pipeline, first cut: candidate sources → weighted
//! reciprocal-rank fusion → hard filters → top k, timed per stage and with each
//! pick's provenance. The learned ranker, business re-ranking and the LLM stage
//! come after the fusion in later steps.

use crate::{Engine, Result};
use serde::{Deserialize, Serialize};
use sommelier_collab::Weighted;
use sommelier_embed::normalize;
use sommelier_features::FeatureRead;
use sommelier_index::Filter;
use sommelier_recall::{Provenance, Source, SourceList, fuse_rrf};
use sommelier_store::CatalogRead;
use sommelier_types::ItemId;
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

/// Vector sources only propose items at least this similar (cosine): rank fusion
/// ignores score scales, so a far item must not enter a list at all.
const MIN_SIMILARITY: f32 = 0.1;
/// Last positive interactions the sequential source continues from.
const SEQUENCE_CONTEXT: usize = 3;

fn close(hits: Vec<sommelier_index::Hit>) -> Vec<(String, f64)> {
    hits.into_iter()
        .filter(|h| h.score >= MIN_SIMILARITY)
        .map(|h| (h.id, f64::from(h.score)))
        .collect()
}

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
    /// Fused score.
    pub score: f64,
    /// Why: every source that proposed it, strongest first.
    pub provenance: Vec<Provenance>,
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
    /// Ranking used after fusion (`fusion` until the learned ranker lands).
    pub ranker: &'static str,
    /// Embedding model of the vector sources.
    pub embedding_model: String,
    /// Version of the collaborative and sequential models, if fitted.
    pub models_version: Option<String>,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

impl Engine {
    /// Recommends items for a user and/or a query.
    pub fn recommend(&self, req: &RecommendRequest) -> Result<RecommendResponse> {
        let started = Instant::now();
        let k = req.k.unwrap_or(10).clamp(1, 100);
        let filter = req.filters.filter();
        let mut timings = BTreeMap::new();
        let mut lists = Vec::new();
        let mut reports = Vec::new();
        let fw = &self.config().fusion;
        let per_source = fw.per_source;
        let wanted = |s: Source| req.sources.as_ref().is_none_or(|v| v.contains(&s));

        // Personal state from the online features.
        let t = Instant::now();
        // The same signal weights the online features use, as configured.
        let weights = self.config().feature_config().weights;
        let (history, seen_all, popular, trending) = self.read_features(|f, now| {
            let user = req.user_id.as_deref().and_then(|u| f.user(u, now));
            let seen = match &req.user_id {
                Some(u) => f.seen(u),
                None => Vec::new(),
            };
            (
                user.map(|u| u.recent).unwrap_or_default(),
                seen,
                f.most_popular(per_source, now),
                f.trending(per_source, now),
            )
        })?;
        timings.insert("features", ms(t));
        let cold = history.is_empty();
        // Every item the user touched feeds the collaborative model; the
        // already-consumed filter hides them unless asked not to.
        let mut seen_positive = seen_all.clone();
        seen_positive.sort();
        let seen: HashSet<String> = if req.include_consumed {
            HashSet::new()
        } else {
            seen_all.into_iter().collect()
        };

        // Semantic: the query text.
        let t = Instant::now();
        let vectors = self.vector_index()?;
        match (&req.query, self.query_embedder()) {
            _ if !wanted(Source::Semantic) => skip(&mut reports, Source::Semantic, "not requested"),
            (Some(q), Some(embedder)) if !q.trim().is_empty() => {
                let v = embedder.embed(&[q.as_str()])?.remove(0);
                let hits = vectors
                    .index
                    .search(&v, per_source, &filter)
                    .map_err(crate::EngineError::Index)?;
                push(
                    &mut lists,
                    &mut reports,
                    Source::Semantic,
                    fw.semantic,
                    close(hits),
                );
            }
            (Some(_), None) => skip(&mut reports, Source::Semantic, "no query embedder loaded"),
            _ => skip(&mut reports, Source::Semantic, "no query"),
        }
        timings.insert("semantic", ms(t));

        // User profile: recency-weighted mean of liked items' vectors, minus disliked ones.
        let t = Instant::now();
        let mut profile: Option<Vec<f32>> = None;
        for (age, h) in history.iter().rev().enumerate() {
            let Some(v) = vectors.vectors.get(&h.item) else {
                continue;
            };
            let w = weights.affinity(h.kind, h.value) * 0.95f64.powi(age as i32);
            let p = profile.get_or_insert_with(|| vec![0.0; v.len()]);
            p.iter_mut().zip(v).for_each(|(a, b)| *a += (w as f32) * b);
        }
        match profile {
            _ if !wanted(Source::UserProfile) => {
                skip(&mut reports, Source::UserProfile, "not requested")
            }
            Some(mut p) if p.iter().any(|x| *x != 0.0) => {
                normalize(&mut p);
                let hits = vectors
                    .index
                    .search(&p, per_source, &filter)
                    .map_err(crate::EngineError::Index)?;
                push(
                    &mut lists,
                    &mut reports,
                    Source::UserProfile,
                    fw.user_profile,
                    close(hits),
                );
            }
            _ => skip(
                &mut reports,
                Source::UserProfile,
                if cold {
                    "no history"
                } else {
                    "no vectors for the history"
                },
            ),
        }
        timings.insert("user_profile", ms(t));

        // Collaborative (EASE over everything the user touched) and sequential
        // (what follows their last few items).
        let t = Instant::now();
        let models = self.current_models();
        match &models {
            _ if !wanted(Source::Collaborative) => {
                skip(&mut reports, Source::Collaborative, "not requested")
            }
            None => skip(
                &mut reports,
                Source::Collaborative,
                "no fitted model (run `sommelier fit`)",
            ),
            Some(_) if cold => skip(&mut reports, Source::Collaborative, "no history"),
            Some(m) => {
                let x: Vec<Weighted<'_>> = seen_positive
                    .iter()
                    .map(|i| Weighted {
                        item: i,
                        weight: 1.0,
                    })
                    .collect();
                let items = m.ease.score(&x, per_source);
                push(
                    &mut lists,
                    &mut reports,
                    Source::Collaborative,
                    fw.collaborative,
                    items,
                );
            }
        }
        timings.insert("collaborative", ms(t));
        let t = Instant::now();
        match &models {
            _ if !wanted(Source::Sequential) => {
                skip(&mut reports, Source::Sequential, "not requested")
            }
            None => skip(
                &mut reports,
                Source::Sequential,
                "no fitted model (run `sommelier fit`)",
            ),
            Some(_) if cold => skip(&mut reports, Source::Sequential, "no history"),
            Some(m) => {
                let last: Vec<Weighted<'_>> = history
                    .iter()
                    .rev()
                    .filter(|h| crate::is_positive(h.kind))
                    .take(SEQUENCE_CONTEXT)
                    .enumerate()
                    .map(|(age, h)| Weighted {
                        item: &h.item,
                        weight: 0.5f32.powi(age as i32),
                    })
                    .collect();
                let items = m.sequential.score(&last, per_source);
                push(
                    &mut lists,
                    &mut reports,
                    Source::Sequential,
                    fw.sequential,
                    items,
                );
            }
        }
        timings.insert("sequential", ms(t));

        // Cold start leans on popularity; a query or a history leans on the rest.
        let popular_weight = if cold && req.query.is_none() {
            fw.popular_cold
        } else {
            fw.popular
        };
        if wanted(Source::Popular) {
            push(
                &mut lists,
                &mut reports,
                Source::Popular,
                popular_weight,
                popular,
            );
        } else {
            skip(&mut reports, Source::Popular, "not requested");
        }
        if wanted(Source::Trending) {
            push(
                &mut lists,
                &mut reports,
                Source::Trending,
                fw.trending,
                trending,
            );
        } else {
            skip(&mut reports, Source::Trending, "not requested");
        }

        let t = Instant::now();
        let fused = fuse_rrf(&lists, fw.rrf_k, 4 * per_source);
        timings.insert("fusion", ms(t));

        // Hard filters: live, passes the request filter, not already consumed.
        let t = Instant::now();
        let mut items = Vec::with_capacity(k);
        for c in fused {
            if items.len() == k {
                break;
            }
            if seen.contains(&c.item) {
                continue;
            }
            let Ok(id) = ItemId::new(c.item.as_str()) else {
                continue;
            };
            let Some(rec) = self.store().item(&id)? else {
                continue;
            };
            if rec.deleted_at.is_some() || !filter.accepts(&crate::item_meta(&rec.item)) {
                continue;
            }
            items.push(Recommendation {
                item: c.item,
                title: rec.item.title,
                score: c.fused,
                provenance: c.provenance,
            });
        }
        timings.insert("filters", ms(t));
        timings.insert("total", ms(started));
        Ok(RecommendResponse {
            items,
            sources: reports,
            timings_ms: timings,
            ranker: "fusion",
            embedding_model: self.config().vectors.model.clone(),
            models_version: models.map(|m| m.report.version.clone()),
        })
    }
}

fn push(
    lists: &mut Vec<SourceList>,
    reports: &mut Vec<SourceReport>,
    source: Source,
    weight: f64,
    items: Vec<(String, f64)>,
) {
    reports.push(SourceReport {
        source,
        weight,
        candidates: items.len(),
        skipped: None,
    });
    lists.push(SourceList {
        source,
        weight,
        items,
    });
}

fn skip(reports: &mut Vec<SourceReport>, source: Source, why: &str) {
    reports.push(SourceReport {
        source,
        weight: 0.0,
        candidates: 0,
        skipped: Some(why.into()),
    });
}
