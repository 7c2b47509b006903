//! Fitting the item-to-item similarity (`crate::similarity`): the
//! co-occurrence table over the whole log, and the prior that sets how much
//! an item's co-occurrence counts against its content vector.
//!
//! The prior is chosen on the log itself: users are split in two halves by a
//! hash of their id; the blend is built from half A (its co-occurrence, its
//! interaction counts) and scored against the co-occurrence neighbours of
//! half B — the items another population chose together — for a sample of
//! items, at each prior of [`PRIORS`]; the prior with the best precision@10
//! is kept (the smaller on a tie) and the trials go into `fitted.json`.

use crate::similarity::{DEFAULT_PRIOR, Hybrid};
use crate::{Engine, Result};
use serde::{Deserialize, Serialize};
use sommelier_collab::{CooccurrenceParams, Interactions, ItemNeighbors, fit_cooccurrence};
use sommelier_index::Filter;
use sommelier_recall::ItemSimilarity;
use sommelier_types::fnv1a;
use std::collections::{HashMap, HashSet};

/// Priors tried, in interactions (0: co-occurrence alone wherever an item
/// has any; the last: content alone).
pub(crate) const PRIORS: [f64; 9] = [0.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 300.0, 1e12];

/// Items the prior is checked on (each a short blend and a lookup).
const CHECK_ITEMS: usize = 300;

/// Neighbours of half B an answer is scored against, and the answer's length.
const TRUTH: usize = 20;
const ANSWER: usize = 10;

/// One prior tried by the fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriorTrial {
    /// The prior (interactions at which both halves of the blend weigh the same).
    pub prior: f64,
    /// Precision@10 against the other half's co-occurrence neighbours.
    pub precision: f64,
}

impl Engine {
    fn cooccurrence_params(&self) -> CooccurrenceParams {
        CooccurrenceParams {
            threads: self.config().models.fit_threads,
            ..CooccurrenceParams::default()
        }
    }

    /// The co-occurrence table of `data`, the prior chosen for the blend
    /// (`None` when the log is too small to tell; the default then applies)
    /// and the priors tried.
    pub(super) fn fit_similar(
        &self,
        data: &Interactions,
    ) -> Result<(ItemNeighbors, Option<f64>, Vec<PriorTrial>)> {
        let table = fit_cooccurrence(data, &self.cooccurrence_params())
            .map_err(|e| crate::EngineError::Model(e.to_string()))?;
        let (a, b) = data.split_users(|u| fnv1a(u).is_multiple_of(2));
        let (table_a, table_b) = (
            fit_cooccurrence(&a, &self.cooccurrence_params())
                .map_err(|e| crate::EngineError::Model(e.to_string()))?,
            fit_cooccurrence(&b, &self.cooccurrence_params())
                .map_err(|e| crate::EngineError::Model(e.to_string()))?,
        );
        let counts_a = counts(&a);
        // Items the other half knows well enough to say what goes with them.
        let counts_b = counts(&b);
        let mut items: Vec<&String> = counts_b
            .iter()
            .filter(|(_, n)| **n >= 5)
            .map(|(i, _)| i)
            .collect();
        items.sort_by_key(|i| fnv1a(i));
        items.truncate(CHECK_ITEMS);
        if items.len() < 20 {
            return Ok((table, None, Vec::new()));
        }
        let snapshot = self.snapshot()?;
        let interactions = |i: &str| counts_a.get(i).copied().unwrap_or(0);
        let filter = Filter::default();
        let mut trials = Vec::new();
        for prior in PRIORS {
            let hybrid = Hybrid {
                cooccurrence: Some(&table_a),
                snapshot: &snapshot,
                interactions: &interactions,
                prior,
            };
            let mut hits = 0usize;
            let mut asked = 0usize;
            for item in &items {
                let truth: HashSet<&str> = table_b
                    .neighbors(item)
                    .into_iter()
                    .take(TRUTH)
                    .map(|(j, _)| j)
                    .collect();
                if truth.is_empty() {
                    continue;
                }
                let answer = hybrid
                    .similar(&[item.as_str()], ANSWER, &filter)
                    .map_err(crate::EngineError::Index)?;
                hits += answer
                    .iter()
                    .filter(|(j, _)| truth.contains(j.as_str()))
                    .count();
                asked += ANSWER;
            }
            if asked == 0 {
                return Ok((table, None, Vec::new()));
            }
            trials.push(PriorTrial {
                prior,
                precision: hits as f64 / asked as f64,
            });
        }
        let best = trials
            .iter()
            .fold(None::<PriorTrial>, |best, t| match best {
                Some(b) if b.precision >= t.precision => Some(b),
                _ => Some(*t),
            })
            .map(|t| t.prior);
        tracing::info!(
            prior = best.unwrap_or(DEFAULT_PRIOR),
            items = items.len(),
            "item similarity blend fitted"
        );
        Ok((table, best, trials))
    }
}

/// Distinct users per item (items no one in `data` chose left out).
fn counts(data: &Interactions) -> HashMap<String, u64> {
    data.items()
        .iter()
        .zip(data.item_counts(data.sequences()))
        .filter(|(_, n)| *n > 0)
        .map(|(i, n)| (i.clone(), u64::from(n)))
        .collect()
}
