//! `[fusion]`: the list each source proposes and its weight in the fusion.

use serde::{Deserialize, Serialize};

/// `[fusion]`: reciprocal-rank fusion weight of each candidate source (0 turns
/// a source off), and the fusion constant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FusionConfig {
    /// RRF constant `k` in `weight / (k + rank)`.
    pub rrf_k: f64,
    /// Candidates each source proposes.
    pub per_source: usize,
    /// Per-source list lengths instead of `per_source` (`[fusion.candidates]`,
    /// e.g. `collaborative = 80`): a source whose tail rarely reaches the pool
    /// can search less. Sources not named keep their built-in length (see
    /// [`FusionConfig::limit`]).
    pub candidates: std::collections::BTreeMap<crate::Source, usize>,
    /// Fused candidates passed on to the ranker (the best by weighted RRF;
    /// the learned ranker's training samples its negatives from the same pool).
    pub pool: usize,
    /// Query text → ANN.
    pub semantic: f64,
    /// Query text → BM25.
    pub lexical: f64,
    /// The user's taste vector → ANN.
    pub user_profile: f64,
    /// EASE item-item.
    pub collaborative: f64,
    /// Next-item transitions.
    pub sequential: f64,
    /// Popularity for users with a history or a query.
    pub popular: f64,
    /// Popularity for a cold user without a query.
    pub popular_cold: f64,
    /// Rising items.
    pub trending: f64,
    /// New items few people have seen (exploration).
    pub fresh: f64,
    /// Items similar to the ones a request refers to ("like Heat"); such a
    /// request is ranked by the fusion, where this list leads.
    pub similar: f64,
}

/// Built-in list lengths (each at most `per_source`) of the sources that
/// search a graph whose cost grows with the length asked for, and whose tail
/// rarely reaches the pool. On the validation splits (docs/ranking.md) a
/// user-profile list of 25 to 100 and a collaborative list of 50 or 100
/// measure the same NDCG@10; at 1M items the user profile's `i8` graph
/// search and the iALS graph search are the costliest steps of a request,
/// and a search is as wide as the list asked for.
pub const DEFAULT_CANDIDATES: [(crate::Source, usize); 2] = [
    (crate::Source::UserProfile, 50),
    (crate::Source::Collaborative, 50),
];

impl FusionConfig {
    /// The fusion weight of `source`'s list. Popularity weighs
    /// `popular_cold` for a request with neither a history nor a query (cold
    /// start leans on it), `popular` otherwise.
    pub fn weight(&self, source: crate::Source, cold_without_query: bool) -> f64 {
        use crate::Source;
        match source {
            Source::Semantic => self.semantic,
            Source::Lexical => self.lexical,
            Source::UserProfile => self.user_profile,
            Source::Collaborative => self.collaborative,
            Source::Sequential => self.sequential,
            Source::Popular if cold_without_query => self.popular_cold,
            Source::Popular => self.popular,
            Source::Trending => self.trending,
            Source::Fresh => self.fresh,
            Source::Similar => self.similar,
        }
    }

    /// Candidates `source` proposes: its entry in `candidates`; else its
    /// length in [`DEFAULT_CANDIDATES`] (at most `per_source`); else
    /// `per_source`.
    pub fn limit(&self, source: crate::Source) -> usize {
        if let Some(&n) = self.candidates.get(&source) {
            return n;
        }
        DEFAULT_CANDIDATES
            .iter()
            .find(|(s, _)| *s == source)
            .map_or(self.per_source, |&(_, n)| n.min(self.per_source))
    }
}

impl Default for FusionConfig {
    fn default() -> Self {
        Self {
            rrf_k: 60.0,
            per_source: 100,
            candidates: Default::default(),
            pool: 200,
            semantic: 2.0,
            lexical: 1.0,
            user_profile: 1.0,
            collaborative: 1.5,
            sequential: 1.0,
            popular: 0.3,
            popular_cold: 1.0,
            trending: 0.2,
            fresh: 0.1,
            similar: 4.0,
        }
    }
}
