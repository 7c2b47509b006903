//! How much each event kind says about interest.

use sommelier_types::EventKind;

/// Signal strength per event kind, for popularity and for user affinity.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalWeights {
    /// Highest rating on the catalog's scale (MovieLens: 5).
    pub rating_max: f64,
    /// Ratings at or above this fraction of `rating_max` are positive.
    pub rating_positive_fraction: f64,
}

impl Default for SignalWeights {
    fn default() -> Self {
        Self {
            rating_max: 5.0,
            rating_positive_fraction: 0.6,
        }
    }
}

impl SignalWeights {
    /// Contribution to item popularity: every engagement counts, negatives do not.
    pub fn popularity(&self, kind: EventKind, value: Option<f64>) -> f64 {
        match kind {
            EventKind::View => 0.5,
            EventKind::Click => 1.0,
            EventKind::AddToCart => 2.0,
            EventKind::Purchase => 4.0,
            EventKind::Rating => 1.0,
            EventKind::Like => 2.0,
            EventKind::Dislike | EventKind::Skip | EventKind::Feedback => 0.0,
            EventKind::Dwell => (value.unwrap_or(0.0) / 60.0).clamp(0.0, 2.0),
        }
    }

    /// Contribution to a user's affinity for the item's categories: may be negative.
    pub fn affinity(&self, kind: EventKind, value: Option<f64>) -> f64 {
        match kind {
            EventKind::Rating => {
                let r = value.unwrap_or(0.0) / self.rating_max;
                if r >= self.rating_positive_fraction {
                    r
                } else {
                    -0.5 * (1.0 - r)
                }
            }
            EventKind::Dislike => -1.0,
            EventKind::Skip => -0.3,
            EventKind::Feedback => 0.0,
            other => self.popularity(other, value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_ratings_and_dislikes_are_negative() {
        let w = SignalWeights::default();
        assert!(w.affinity(EventKind::Rating, Some(1.0)) < 0.0);
        assert!(w.affinity(EventKind::Rating, Some(4.5)) > 0.0);
        assert!(w.affinity(EventKind::Dislike, None) < 0.0);
        assert_eq!(w.popularity(EventKind::Dislike, None), 0.0);
        assert_eq!(w.popularity(EventKind::Dwell, Some(600.0)), 2.0);
    }
}
