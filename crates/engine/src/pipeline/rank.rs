//! Stage 3, ranking: the learned scorer over each candidate's named signals
//! (`rank::signals`, weights fitted from the log by `sommelier fit`), or the
//! fused order when there is none. A query's semantic and lexical lists are
//! fused back in with their configured weights, since the scorer learns from
//! the log, which has no queries.

use super::sequence::UserSequence;
use super::sources::Gathered;
use sommelier_features::FeatureRead;
use sommelier_rank::signals::{self, Scales};
use sommelier_rank::{Contribution, LinearModel, Ranked};
use sommelier_recall::{Candidate, FusionConfig, Source, SourceList, fuse_rrf};
use sommelier_types::Timestamp;

/// Signals shown per pick when the fusion ranks.
pub(super) const WHY_SIGNALS: usize = 4;

/// The signal vectors of `cands` for `user`: one batched feature read.
pub(super) fn signals(
    cands: &[&Candidate],
    f: &dyn FeatureRead,
    now: Timestamp,
    user: Option<&str>,
    scales: &Scales,
    sequence: Option<&UserSequence>,
) -> Vec<Vec<f64>> {
    let ids: Vec<&str> = cands.iter().map(|c| c.item.as_str()).collect();
    let features = f.candidates(user, &ids, now, scales.context());
    cands
        .iter()
        .zip(&features)
        .map(|(c, x)| signals::of(c, x, scales, sequence.map_or(0.0, |s| s.signal(&c.item))))
        .collect()
}

/// Orders the pool: by the learned scorer when there is one, else by the
/// fused score.
pub(super) fn rank(
    pool: Vec<Candidate>,
    g: &Gathered<'_>,
    f: &dyn FeatureRead,
    now: Timestamp,
    ranker: Option<&LinearModel>,
    user: Option<&str>,
    fusion: &FusionConfig,
) -> Vec<Ranked> {
    let Some(model) = ranker else {
        return pool.into_iter().map(by_fusion).collect();
    };
    let scales = g.scales(fusion.per_source);
    let ids: Vec<&str> = pool.iter().map(|c| c.item.as_str()).collect();
    let features = f.candidates(user, &ids, now, scales.context());
    drop(ids);
    let mut ranked: Vec<(Ranked, f64)> = pool
        .into_iter()
        .zip(&features)
        .map(|(c, x)| {
            let seq = g.sequence.as_ref().map_or(0.0, |s| s.signal(&c.item));
            let signals = signals::of(&c, x, &scales, seq);
            let score = model.score(&signals);
            (
                Ranked {
                    item: c.item,
                    score,
                    provenance: c.provenance,
                    why: Vec::new(),
                    signals: Some(signals),
                    events: Some(x.item.as_ref().map_or(0, |i| i.counts.iter().sum())),
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
    let order = fuse_rrf(&lists, fusion.rrf_k, usize::MAX);
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

/// A candidate as the fusion ranked it: its fused score, and its strongest
/// sources as the "why".
fn by_fusion(c: Candidate) -> Ranked {
    Ranked {
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
    }
}
