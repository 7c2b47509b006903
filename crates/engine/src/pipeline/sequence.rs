//! The sequence model's view of one request: the user's state after their
//! newest positive history (oldest first, as the online features hold it, so
//! an event is counted the moment it is applied, without a refit), computed
//! once and read by the sequential source (the most probable next items) and
//! by the ranker's `sequence.logp` signal (every candidate's log-probability).

use super::Pipeline;
use crate::config::SequentialModel;
use crate::models::Models;
use sommelier_recall::{NextItems, UserState};
use std::sync::Arc;

/// A user's state in the fitted sequence model.
pub(crate) struct UserSequence {
    models: Arc<Models>,
    /// Every item's score after the user's history, by vocabulary index.
    scores: Vec<f32>,
    /// log Σ exp(score) over the vocabulary: scores minus this are
    /// log-probabilities.
    log_norm: f32,
    /// Every item the user has an event on (left out of the proposals: a
    /// long-time user's best next items are mostly ones they had long ago,
    /// beyond the history the model reads).
    seen: Vec<u32>,
}

/// Log-probabilities below this are clamped: the signal is
/// `1 + max(log p, FLOOR) / -FLOOR`, in [0, 1].
const FLOOR: f64 = -15.0;

impl UserSequence {
    /// The state of `user` in the pipeline's fitted model; `None` when the
    /// configuration does not use one, none is fitted, or the user has no
    /// positive history the model knows. A named set (an experiment
    /// variant's) uses the sequence model it was fitted with, whatever the
    /// engine's configuration says.
    pub(crate) fn of(p: &Pipeline<'_>, user: &UserState<'_>) -> Option<Self> {
        let models = p.models.clone()?;
        if p.config.models.sequential_model != SequentialModel::Sasrec && !models.is_named() {
            return None;
        }
        let model = models.sasrec.as_ref()?;
        let items: Vec<&str> = user
            .history
            .iter()
            .filter(|h| h.kind.is_positive())
            .map(|h| h.item.as_str())
            .collect();
        let state = match model.state(&items) {
            Ok(Some(s)) => s,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "sequence model failed; the transition table serves");
                return None;
            }
        };
        let scores = model.scores(&state);
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let log_norm = max + scores.iter().map(|s| (s - max).exp()).sum::<f32>().ln();
        // The history is among the seen items (every event marks its item seen).
        let seen = user.seen.iter().filter_map(|i| model.index_of(i)).collect();
        Some(Self {
            models,
            scores,
            log_norm,
            seen,
        })
    }

    fn model(&self) -> &sommelier_sequence::SasRec {
        self.models.sasrec.as_ref().expect("checked in `of`")
    }

    /// The ranker's signal for `item`: its log-probability as the next item,
    /// mapped to [0, 1] (0 for items the model does not know).
    pub(crate) fn signal(&self, item: &str) -> f64 {
        let m = self.model();
        m.index_of(item).map_or(0.0, |i| {
            let lp = f64::from(self.scores[i as usize] - self.log_norm);
            1.0 + lp.max(FLOOR) / -FLOOR
        })
    }
}

impl NextItems for UserSequence {
    fn next(&self, n: usize) -> Vec<(String, f64)> {
        let m = self.model();
        let mut scores = self.scores.clone();
        for &i in &self.seen {
            scores[i as usize] = f32::NEG_INFINITY;
        }
        m.best(&scores, n)
            .into_iter()
            .map(|(i, s)| {
                (
                    m.items()[i as usize].clone(),
                    f64::from(s - self.log_norm).exp(),
                )
            })
            .collect()
    }
}
