//! Candidate generation: every source's ranked list for one request, from a
//! [`Context`] (features, models, vectors). The server builds the context from
//! its live state; the ranker's training builds it from a held-out copy, so the
//! ranker learns from exactly what serving computes.

use super::{RecommendRequest, SourceReport};
use crate::FusionConfig;
use crate::similar::Built;
use sommelier_collab::{ItemNeighbors, Weighted};
use sommelier_embed::normalize;
use sommelier_features::{ContextKey, FeatureRead, HistoryEntry, SignalWeights};
use sommelier_index::Filter;
use sommelier_recall::{Source, SourceList};
use sommelier_types::Timestamp;
use std::collections::BTreeMap;
use std::time::Instant;

/// Vector sources only propose items at least this similar (cosine): rank fusion
/// ignores score scales, so a far item must not enter a list at all.
const MIN_SIMILARITY: f32 = 0.1;

/// What candidate generation reads.
pub(crate) struct Context<'a> {
    pub(crate) features: &'a dyn FeatureRead,
    pub(crate) now: Timestamp,
    pub(crate) collaborative: Option<&'a crate::collaborative::Collaborative>,
    pub(crate) sequential: Option<&'a ItemNeighbors>,
    pub(crate) vectors: &'a Built,
    pub(crate) fusion: &'a FusionConfig,
    pub(crate) weights: &'a SignalWeights,
    /// Last interactions the sequential source continues from.
    pub(crate) sequential_context: usize,
    /// What counts as a new, unexplored item (the fresh source).
    pub(crate) rerank: &'a crate::RerankConfig,
    /// Wall-clock now, for item ages (catalog times are wall-clock).
    pub(crate) wall_now: Timestamp,
    /// Local hour of the request (0–23), for the time-of-day features.
    pub(crate) hour: Option<u8>,
}

/// Every source's answer for one request, and the user state they used.
pub(crate) struct Gathered<'a> {
    pub(crate) lists: Vec<SourceList>,
    pub(crate) reports: Vec<SourceReport>,
    /// Items the user has an event on.
    pub(crate) seen: foldhash::HashSet<&'a str>,
    /// No history.
    pub(crate) cold: bool,
    /// The request's time of day and device, resolved against the features.
    pub(crate) context: ContextKey,
}

fn close(hits: Vec<sommelier_index::Hit>) -> Vec<(String, f64)> {
    hits.into_iter()
        .filter(|h| h.score >= MIN_SIMILARITY)
        .map(|h| (h.id, f64::from(h.score)))
        .collect()
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Runs every wanted source. `query` is the embedded query text, or why there
/// is none.
pub(crate) fn gather<'a>(
    ctx: &Context<'a>,
    req: &RecommendRequest,
    query: std::result::Result<Vec<f32>, &'static str>,
    filter: &Filter,
    timings: &mut BTreeMap<&'static str, f64>,
) -> crate::Result<Gathered<'a>> {
    let fw = ctx.fusion;
    let wanted = |s: Source| req.sources.as_ref().is_none_or(|v| v.contains(&s));
    let mut out = Gathered {
        lists: Vec::new(),
        reports: Vec::new(),
        seen: Default::default(),
        cold: true,
        context: ContextKey::default(),
    };
    let f = ctx.features;
    let now = ctx.now;
    out.context = f.context_key(ctx.hour, req.context.device.as_deref());

    let t = Instant::now();
    let user = req.user_id.as_deref().and_then(|u| f.user(u, now));
    let history: Vec<HistoryEntry> = user.map(|u| u.recent).unwrap_or_default();
    let mut seen_sorted = req
        .user_id
        .as_deref()
        .map(|u| f.seen(u))
        .unwrap_or_default();
    seen_sorted.sort();
    out.seen = seen_sorted.iter().copied().collect();
    out.cold = history.is_empty();
    timings.insert("features", ms(t));

    // Semantic: the query text.
    let t = Instant::now();
    match query {
        _ if !wanted(Source::Semantic) => out.skip(Source::Semantic, "not requested"),
        Ok(v) => {
            let hits = ctx.vectors.search(&v, fw.limit(Source::Semantic), filter)?;
            out.push(Source::Semantic, fw.semantic, close(hits));
        }
        Err(why) => out.skip(Source::Semantic, why),
    }
    timings.insert("semantic", ms(t));

    // Lexical: BM25 over titles, categories, tags and descriptions.
    let t = Instant::now();
    match (req.query.as_deref().map(str::trim), &ctx.vectors.lexical) {
        _ if !wanted(Source::Lexical) => out.skip(Source::Lexical, "not requested"),
        (Some(q), Some(ix)) if !q.is_empty() => {
            let hits = ix
                .search(q, fw.limit(Source::Lexical))
                .map_err(|e| crate::EngineError::Model(e.to_string()))?;
            out.push(Source::Lexical, fw.lexical, hits);
        }
        (Some(q), None) if !q.is_empty() => out.skip(Source::Lexical, "no lexical index"),
        _ => out.skip(Source::Lexical, "no query"),
    }
    timings.insert("lexical", ms(t));

    // User profile: recency-weighted mean of liked items' vectors, minus disliked ones.
    let t = Instant::now();
    let mut profile: Option<Vec<f32>> = None;
    for (age, h) in history.iter().rev().enumerate() {
        let Some(v) = ctx.vectors.vectors.get(h.item.as_str()) else {
            continue;
        };
        let w = ctx.weights.affinity(h.kind, h.value) * 0.95f64.powi(age as i32);
        let p = profile.get_or_insert_with(|| vec![0.0; v.len()]);
        p.iter_mut()
            .zip(v.iter())
            .for_each(|(a, b)| *a += (w as f32) * b);
    }
    match profile {
        _ if !wanted(Source::UserProfile) => out.skip(Source::UserProfile, "not requested"),
        Some(mut p) if p.iter().any(|x| *x != 0.0) => {
            normalize(&mut p);
            let hits = ctx
                .vectors
                .search(&p, fw.limit(Source::UserProfile), filter)?;
            out.push(Source::UserProfile, fw.user_profile, close(hits));
        }
        _ if out.cold => out.skip(Source::UserProfile, "no history"),
        _ => out.skip(Source::UserProfile, "no vectors for the history"),
    }
    timings.insert("user_profile", ms(t));

    // Collaborative: EASE over everything the user touched.
    let t = Instant::now();
    match ctx.collaborative {
        _ if !wanted(Source::Collaborative) => out.skip(Source::Collaborative, "not requested"),
        None => out.skip(
            Source::Collaborative,
            "no fitted model (run `sommelier fit`)",
        ),
        Some(_) if out.cold => out.skip(Source::Collaborative, "no history"),
        Some(m) => {
            let x: Vec<Weighted<'_>> = seen_sorted
                .iter()
                .map(|i| Weighted {
                    item: i,
                    weight: 1.0,
                })
                .collect();
            out.push(
                Source::Collaborative,
                fw.collaborative,
                m.score(&x, fw.limit(Source::Collaborative)),
            );
        }
    }
    timings.insert("collaborative", ms(t));

    // Sequential: what follows the last few positive interactions.
    let t = Instant::now();
    match ctx.sequential {
        _ if !wanted(Source::Sequential) => out.skip(Source::Sequential, "not requested"),
        None => out.skip(Source::Sequential, "no fitted model (run `sommelier fit`)"),
        Some(_) if out.cold => out.skip(Source::Sequential, "no history"),
        Some(m) => {
            let last: Vec<Weighted<'_>> = history
                .iter()
                .rev()
                .filter(|h| crate::is_positive(h.kind))
                .take(ctx.sequential_context)
                .enumerate()
                .map(|(age, h)| Weighted {
                    item: &h.item,
                    weight: 0.5f32.powi(age as i32),
                })
                .collect();
            out.push(
                Source::Sequential,
                fw.sequential,
                m.score(&last, fw.limit(Source::Sequential)),
            );
        }
    }
    timings.insert("sequential", ms(t));

    // Popularity and trending: cold start leans on popularity; a query or a
    // history leans on the rest.
    let t = Instant::now();
    let popular_weight = if out.cold && req.query.is_none() {
        fw.popular_cold
    } else {
        fw.popular
    };
    if wanted(Source::Popular) {
        // In the request's context: popularity is the cold start's main
        // signal, so this is where the context reaches users without a
        // history (the learned ranker has context features for the rest).
        let popular = f.popular_in_context(fw.limit(Source::Popular), now, out.context);
        out.push(Source::Popular, popular_weight, popular);
    } else {
        out.skip(Source::Popular, "not requested");
    }
    if wanted(Source::Trending) {
        out.push(
            Source::Trending,
            fw.trending,
            f.trending(fw.limit(Source::Trending), now),
        );
    } else {
        out.skip(Source::Trending, "not requested");
    }
    timings.insert("popular", ms(t));

    // Fresh: items created within the launch window that few people have seen.
    let t = Instant::now();
    if wanted(Source::Fresh) && fw.fresh > 0.0 {
        let window_ms = ctx.rerank.launch_window_days * 86_400_000.0;
        let fresh: Vec<(String, f64)> = ctx
            .vectors
            .newest
            .iter()
            .map(|(id, created)| (id, (ctx.wall_now.0 - created.0) as f64))
            .take_while(|(_, age)| *age < window_ms)
            .filter(|(id, _)| {
                f.item(id, now).map_or(0, |x| x.counts.iter().sum::<u64>())
                    <= ctx.rerank.explore_max_events
            })
            .take(fw.limit(Source::Fresh))
            .map(|(id, age)| (id.clone(), 1.0 - age.max(0.0) / window_ms))
            .collect();
        out.push(Source::Fresh, fw.fresh, fresh);
    } else {
        out.skip(Source::Fresh, "not requested");
    }
    timings.insert("fresh", ms(t));
    Ok(out)
}

impl Gathered<'_> {
    fn push(&mut self, source: Source, weight: f64, items: Vec<(String, f64)>) {
        self.reports.push(SourceReport {
            source,
            weight,
            candidates: items.len(),
            skipped: None,
        });
        self.lists.push(SourceList {
            source,
            weight,
            items,
        });
    }

    fn skip(&mut self, source: Source, why: &str) {
        self.reports.push(SourceReport {
            source,
            weight: 0.0,
            candidates: 0,
            skipped: Some(why.into()),
        });
    }
}
