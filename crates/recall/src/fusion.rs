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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    // foldhash: seven lists of a hundred ids per request, SipHash showed.
    let mut by_item: foldhash::HashMap<&str, Candidate> = Default::default();
    for list in lists {
        if list.weight.is_nan() || list.weight <= 0.0 {
            continue;
        }
        let mut seen = foldhash::HashSet::default();
        let mut rank = 0;
        for (item, score) in &list.items {
            if !seen.insert(item.as_str()) {
                continue;
            }
            rank += 1;
            let contribution = list.weight / (k + rank as f64);
            let c = by_item.entry(item.as_str()).or_insert_with(|| Candidate {
                item: item.clone(),
                fused: 0.0,
                provenance: Vec::new(),
            });
            c.provenance.push(Provenance {
                source: list.source,
                rank,
                score: *score,
                contribution,
            });
        }
    }
    let mut out: Vec<Candidate> = by_item.into_values().collect();
    for c in &mut out {
        // A canonical order, then the sum: the same inputs in any list order
        // give bit-identical scores.
        c.provenance.sort_by(|a, b| {
            b.contribution
                .total_cmp(&a.contribution)
                .then_with(|| a.source.cmp(&b.source))
                .then_with(|| a.rank.cmp(&b.rank))
        });
        c.fused = c.provenance.iter().map(|p| p.contribution).sum();
    }
    out.sort_by(|a, b| {
        b.fused
            .total_cmp(&a.fused)
            .then_with(|| a.item.cmp(&b.item))
    });
    out.truncate(limit);
    out
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
}
