//! The ranking features of a candidate: how each source ranked and scored it,
//! how popular and rising it is, how well it matches the user's categories, and
//! how much more it is chosen at the request's time of day and on its device.
//! Named, so the learned weights and the "why" of every pick read as words.

use sommelier_features::{CandidateFeatures, ContextKey};
use sommelier_recall::{Candidate, Source, SourceList};

/// Sources with rank and score features, in feature order.
const RANKED: [Source; 8] = [
    Source::Semantic,
    Source::Lexical,
    Source::UserProfile,
    Source::Collaborative,
    Source::Sequential,
    Source::Popular,
    Source::Trending,
    Source::Fresh,
];

/// Features per source (log rank, reciprocal rank, normalised score).
const PER_SOURCE_FEATURES: usize = 3;
/// Where the item and user features start.
const BASE: usize = RANKED.len() * PER_SOURCE_FEATURES;
/// Number of features.
const WIDTH: usize = BASE + 9;

/// Feature names, in order.
pub fn names() -> Vec<String> {
    let mut v = Vec::new();
    for s in RANKED {
        v.push(format!("{s}.rank"));
        v.push(format!("{s}.top"));
        v.push(format!("{s}.score"));
    }
    v.extend(
        [
            "sources",
            "item.popularity",
            "item.trend",
            "user.category_match",
            "collaborative.raw",
            "sequential.raw",
            "context.daypart",
            "context.device",
            "sequence.logp",
        ]
        .map(String::from),
    );
    v
}

/// Per-request scale of each list's scores, for normalising.
#[derive(Debug, Clone)]
pub struct Scales {
    top_score: [f64; RANKED.len()],
    top_popularity: f64,
    per_source: usize,
    context: ContextKey,
}

impl Scales {
    /// The scales of one request's source lists; `per_source` is the longest
    /// list a source may propose, `context` the request's resolved context.
    pub fn of(lists: &[SourceList], per_source: usize, context: ContextKey) -> Self {
        let mut top_score = [0.0; RANKED.len()];
        let mut top_popularity = 0.0;
        for l in lists {
            let Some(i) = RANKED.iter().position(|s| *s == l.source) else {
                continue;
            };
            top_score[i] = l.items.iter().map(|x| x.1).fold(0.0, f64::max);
            if l.source == Source::Popular {
                top_popularity = top_score[i];
            }
        }
        Self {
            top_score,
            top_popularity,
            per_source,
            context,
        }
    }

    /// The request's context, as the features are looked up in.
    pub fn context(&self) -> &ContextKey {
        &self.context
    }
}

/// The feature vector of one fused candidate, given what the online
/// features say about it ([`sommelier_features::FeatureRead::candidates`])
/// and the sequence model's log-probability of it as the user's next item,
/// mapped to [0, 1] (0 without a sequence model).
pub fn of(c: &Candidate, f: &CandidateFeatures, sc: &Scales, sequence: f64) -> Vec<f64> {
    let mut x = vec![0.0; WIDTH];
    let ln_n = ((sc.per_source + 1) as f64).ln();
    for p in &c.provenance {
        let Some(i) = RANKED.iter().position(|s| *s == p.source) else {
            continue;
        };
        x[3 * i] = 1.0 - (p.rank as f64).ln() / ln_n;
        x[3 * i + 1] = 1.0 / p.rank as f64;
        x[3 * i + 2] = if sc.top_score[i] > 0.0 {
            (p.score / sc.top_score[i]).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        match p.source {
            Source::Collaborative => x[BASE + 4] = p.score.clamp(-1.0, 2.0),
            Source::Sequential => x[BASE + 5] = p.score.clamp(0.0, 2.0),
            _ => {}
        }
    }
    let base = BASE;
    x[base] = c.provenance.len() as f64 / RANKED.len() as f64;
    if let Some(item) = &f.item {
        if sc.top_popularity > 0.0 {
            x[base + 1] = (item.popularity.ln_1p() / sc.top_popularity.ln_1p()).min(1.5);
        }
        if item.trend > 0.0 {
            x[base + 2] = (item.trend.ln() / 3.0).clamp(-1.0, 1.0);
        }
    }
    x[base + 3] = f.category_match;
    x[base + 6] = f.context.daypart;
    x[base + 7] = f.context.device;
    x[base + 8] = sequence;
    x
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_name_per_feature() {
        assert_eq!(super::names().len(), super::WIDTH);
    }
}
