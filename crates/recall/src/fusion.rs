//! Weighted reciprocal-rank fusion with provenance.

use crate::Source;
use serde::Serialize;

/// One source's ranked answer, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceList {
    /// Which source.
    pub source: Source,
    /// Its weight in the fusion (0 switches it off).
    pub weight: f64,
    /// Item ids with the source's own score, best first. Repeats are ignored
    /// after their first (best) position.
    pub items: Vec<(String, f64)>,
}

/// How one source ranked a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Provenance {
    /// The source.
    pub source: Source,
    /// 1-based rank in that source's list.
    pub rank: usize,
    /// The source's own score.
    pub score: f64,
    /// What this source added to the fused score.
    pub contribution: f64,
}

/// A fused candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Item id.
    pub item: String,
    /// Fused score: Σ weight / (k + rank).
    pub fused: f64,
    /// Every source that proposed it, largest contribution first.
    pub provenance: Vec<Provenance>,
}

/// Fuses `lists` by weighted reciprocal rank with constant `k` (60 is the
/// usual choice) and keeps the best `limit`. Ties are broken by item id, so the
/// result does not depend on the order of the lists.
pub fn fuse_rrf(lists: &[SourceList], k: f64, limit: usize) -> Vec<Candidate> {
    // Every (item, provenance) pair in one vector, items numbered densely in
    // order of first sight, where a vector per item (most of them outside the
    // pool) showed in profiles.
    let total: usize = lists.iter().map(|l| l.items.len()).sum();
    // foldhash: seven lists of a hundred ids per request, SipHash showed.
    let mut number: foldhash::HashMap<&str, u32> =
        foldhash::HashMap::with_capacity_and_hasher(total, Default::default());
    let mut items: Vec<&str> = Vec::with_capacity(total);
    let mut pairs: Vec<(u32, Provenance)> = Vec::with_capacity(total);
    let mut seen = foldhash::HashSet::default();
    for list in lists {
        if list.weight.is_nan() || list.weight <= 0.0 {
            continue;
        }
        seen.clear();
        let mut rank = 0;
        for (item, score) in &list.items {
            if !seen.insert(item.as_str()) {
                continue;
            }
            rank += 1;
            let n = *number.entry(item.as_str()).or_insert_with(|| {
                items.push(item.as_str());
                items.len() as u32 - 1
            });
            pairs.push((
                n,
                Provenance {
                    source: list.source,
                    rank,
                    score: *score,
                    contribution: list.weight / (k + rank as f64),
                },
            ));
        }
    }
    // Each item's provenance together, in a canonical order (largest
    // contribution first), then the sum: the same inputs in any list order
    // give bit-identical scores.
    pairs.sort_unstable_by(|(a, pa), (b, pb)| {
        a.cmp(b)
            .then_with(|| pb.contribution.total_cmp(&pa.contribution))
            .then_with(|| pa.source.cmp(&pb.source))
            .then_with(|| pa.rank.cmp(&pb.rank))
    });
    type Fused<'a> = (&'a str, f64, &'a [(u32, Provenance)]);
    let mut fused: Vec<Fused<'_>> = pairs
        .chunk_by(|a, b| a.0 == b.0)
        .map(|group| {
            let score = group.iter().map(|(_, p)| p.contribution).sum();
            (items[group[0].0 as usize], score, group)
        })
        .collect();
    let best_first = |a: &Fused<'_>, b: &Fused<'_>| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0));
    // Most of a request's candidates fall outside the pool: only the kept
    // ones are sorted and get their id and provenance copied.
    if fused.len() > limit {
        fused.select_nth_unstable_by(limit, best_first);
        fused.truncate(limit);
    }
    fused.sort_by(best_first);
    fused
        .into_iter()
        .map(|(item, fused, group)| Candidate {
            item: item.to_string(),
            fused,
            provenance: group.iter().map(|(_, p)| p.clone()).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(source: Source, weight: f64, items: &[&str]) -> SourceList {
        SourceList {
            source,
            weight,
            items: items
                .iter()
                .enumerate()
                .map(|(i, s)| (s.to_string(), 1.0 / (i + 1) as f64))
                .collect(),
        }
    }

    #[test]
    fn agreement_between_sources_wins() {
        let fused = fuse_rrf(
            &[
                list(Source::Semantic, 1.0, &["a", "b", "c"]),
                list(Source::Popular, 1.0, &["c", "d", "a"]),
            ],
            60.0,
            10,
        );
        let order: Vec<&str> = fused.iter().map(|c| c.item.as_str()).collect();
        assert_eq!(order, ["a", "c", "b", "d"]);
        let a = &fused[0];
        assert!((a.fused - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-12);
        assert_eq!(a.provenance[0].source, Source::Semantic);
        assert_eq!(
            (a.provenance[1].source, a.provenance[1].rank),
            (Source::Popular, 3)
        );
    }

    #[test]
    fn weights_scale_and_zero_switches_off() {
        let fused = fuse_rrf(
            &[
                list(Source::Semantic, 0.0, &["a"]),
                list(Source::Trending, 2.0, &["b"]),
            ],
            60.0,
            10,
        );
        assert_eq!(fused.len(), 1);
        assert!((fused[0].fused - 2.0 / 61.0).abs() < 1e-12);
    }

    #[test]
    fn the_limit_keeps_the_head_of_the_full_order() {
        // Overlapping lists with many tied scores: the cut must keep exactly
        // the first `limit` of the complete fusion, ties broken by id.
        let ids: Vec<String> = (0..60).map(|i| format!("i{i:02}")).collect();
        let take = |step: usize, offset: usize| -> Vec<&str> {
            (0..40)
                .map(|j| ids[(j * step + offset) % ids.len()].as_str())
                .collect()
        };
        let lists = [
            list(Source::Semantic, 1.0, &take(1, 0)),
            list(Source::Popular, 1.0, &take(7, 3)),
            list(Source::Trending, 1.0, &take(13, 5)),
        ];
        let all = fuse_rrf(&lists, 60.0, usize::MAX);
        let n = all.len();
        assert!(n > 50, "{n}");
        for limit in [0, 1, 7, 30, n - 1, n, 100] {
            let cut = fuse_rrf(&lists, 60.0, limit);
            assert_eq!(cut, all[..limit.min(all.len())].to_vec(), "limit {limit}");
        }
    }
}
