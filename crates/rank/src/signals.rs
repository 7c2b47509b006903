//! The ranking features of a candidate: how each source ranked and scored it,
//! how popular and rising it is, how well it matches the user's categories, and
//! how much more it is chosen at the request's time of day and on its device;
//! and most of these again, scaled by how long the user has been away.
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
/// Where the features scaled by the time the user was away start.
const AWAY: usize = BASE + 9;
/// The first source whose features are also given scaled by the time away:
/// the sources from the user profile on (the query's own lists, semantic and
/// lexical, do not depend on the user's history).
const AWAY_FROM_SOURCE: usize = 2;
/// The item and user features also given scaled by the time away (offsets
/// from [`BASE`]; the request's context is left out).
const AWAY_BASE: [usize; 7] = [0, 1, 2, 3, 4, 5, 8];
/// Number of features scaled by the time away.
const AWAY_LEN: usize = (RANKED.len() - AWAY_FROM_SOURCE) * PER_SOURCE_FEATURES + AWAY_BASE.len();
/// Number of features.
const WIDTH: usize = AWAY + AWAY_LEN;

/// The features that are also given multiplied by how long the user has been
/// away ([`Scales::away`]), by index: a choice made on returning after months
/// follows other signals than one made a minute after the last.
fn scaled_by_away() -> impl Iterator<Item = usize> {
    (AWAY_FROM_SOURCE * PER_SOURCE_FEATURES..BASE).chain(AWAY_BASE.iter().map(|i| BASE + i))
}

/// How the name of a feature scaled by the time away begins
/// (`away*sequence.logp`).
pub const AWAY_PREFIX: &str = "away*";

/// The hours away that map to 1: a year.
const AWAY_FULL_HOURS: f64 = 24.0 * 365.0;

/// `seconds` away on the feature's scale: 0 just now, 1 a year or more.
fn away_of(seconds: i64) -> f64 {
    let hours = seconds.max(0) as f64 / 3600.0;
    (hours.ln_1p() / AWAY_FULL_HOURS.ln_1p()).min(1.0)
}

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
    let scaled: Vec<String> = scaled_by_away()
        .map(|i| format!("{AWAY_PREFIX}{}", v[i]))
        .collect();
    v.extend(scaled);
    v
}

/// Per-request scale of each list's scores, for normalising.
#[derive(Debug, Clone)]
pub struct Scales {
    top_score: [f64; RANKED.len()],
    top_popularity: f64,
    per_source: usize,
    context: ContextKey,
    away: f64,
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
            away: 0.0,
        }
    }

    /// These scales for a user whose newest event was `seconds` before the
    /// request (none: no history): the time away, from 0 (just now) to 1 (a
    /// year or more) on a log scale.
    pub fn away(mut self, seconds: Option<i64>) -> Self {
        self.away = seconds.map_or(0.0, away_of);
        self
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
    for (j, i) in scaled_by_away().enumerate() {
        x[AWAY + j] = sc.away * x[i];
    }
    x
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_name_per_feature() {
        assert_eq!(super::names().len(), super::WIDTH);
    }

    #[test]
    fn time_away_is_on_a_log_scale_up_to_a_year() {
        use super::away_of;
        assert_eq!(away_of(0), 0.0);
        assert_eq!(away_of(-5), 0.0);
        assert!(away_of(60) < 0.01);
        let day = away_of(86_400);
        assert!((0.3..0.4).contains(&day), "{day}");
        assert!(away_of(30 * 86_400) > day);
        assert_eq!(away_of(365 * 86_400), 1.0);
        assert_eq!(away_of(3 * 365 * 86_400), 1.0);
    }

    #[test]
    fn away_features_scale_the_features_they_name() {
        let names = super::names();
        assert_eq!(super::scaled_by_away().count(), super::AWAY_LEN);
        for (j, i) in super::scaled_by_away().enumerate() {
            assert_eq!(names[super::AWAY + j], format!("away*{}", names[i]));
            assert!(!names[i].starts_with("context."), "{}", names[i]);
            assert!(!names[i].starts_with("semantic"), "{}", names[i]);
            assert!(!names[i].starts_with("lexical"), "{}", names[i]);
        }
        assert!(names.contains(&"away*sequence.logp".to_string()));
        assert!(names.contains(&"away*user_profile.rank".to_string()));
    }
}
