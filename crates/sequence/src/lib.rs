//! A SASRec-style next-item transformer (self-attention over a user's item
//! sequence, full-catalog cross-entropy), fitted on CPU with candle's autograd
//! and AdamW ([`fit`]), and scored at request time from the user's newest
//! history ([`SasRec::scores`]), so a new event counts without a refit.

mod loss;
mod model;
mod rng;
mod single;
mod train;

pub use train::{TrainReport, fit, fit_more};

use candle_core::{Device, Tensor};
use model::{Net, Shape};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Why a fit, a load or a forward pass failed.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    /// A setting is out of range (the caller's configuration).
    #[error("invalid sequence model setting: {0}")]
    Params(String),
    /// The tensor library failed (a bug, or weights that do not fit the shape).
    #[error("sequence model: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The model files.
    #[error("sequence model file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl SequenceError {
    /// What is wrong with `path`.
    fn file(path: &Path, reason: &dyn std::fmt::Display) -> Self {
        SequenceError::File {
            path: path.display().to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Settings of the model and its fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SasRecParams {
    /// Width of the embeddings and hidden states.
    pub hidden: usize,
    /// Attention blocks.
    pub blocks: usize,
    /// Longest history read (the newest items).
    pub maxlen: usize,
    /// Dropout rate while training.
    pub dropout: f32,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Users per step.
    pub batch: usize,
    /// At most this many passes over the users.
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation NDCG@10.
    pub patience: usize,
    /// Stop starting epochs after this many seconds.
    pub max_seconds: f64,
    /// Users whose last item validates each epoch (a seeded sample when
    /// there are more).
    pub val_users: usize,
    /// Seed of the initial weights, the order of users and dropout.
    pub seed: u64,
    /// Most further passes, by the engine, over every user's whole
    /// sequence after the ranker has learned from the newest items the
    /// first fit left out (0: serve the model the ranker read); `patience`
    /// ends them as it ends the first fit.
    pub more_epochs: usize,
}

/// The defaults read the newest 50 items (what the engine's online features
/// keep per user, so what a request can read), and a fit starts no epoch
/// after 7 minutes (so that 1M events fit in 10).
impl Default for SasRecParams {
    fn default() -> Self {
        Self {
            hidden: 64,
            blocks: 2,
            maxlen: 50,
            dropout: 0.3,
            lr: 2e-3,
            weight_decay: 0.0,
            batch: 128,
            max_epochs: 200,
            patience: 10,
            max_seconds: 420.0,
            val_users: 2_000,
            seed: 0,
            more_epochs: 40,
        }
    }
}

impl SasRecParams {
    fn check(&self) -> Result<(), SequenceError> {
        let ok = self.hidden > 0
            && self.blocks > 0
            && self.maxlen > 0
            && (0.0..1.0).contains(&self.dropout)
            && self.lr > 0.0
            && self.weight_decay >= 0.0
            && self.batch > 0
            && self.max_seconds >= 0.0;
        if ok {
            Ok(())
        } else {
            Err(SequenceError::Params(format!(
                "hidden, blocks, maxlen and batch must be ≥ 1, dropout in [0, 1), lr > 0 (got {self:?})"
            )))
        }
    }
}

/// A fitted model over a fixed item vocabulary (cloning shares the weights).
#[derive(Clone)]
pub struct SasRec {
    net: Net,
    weights: HashMap<String, Tensor>,
    items: Vec<String>,
    index: HashMap<String, u32>,
    /// The output embeddings `(items, hidden)`, row-major, scored against a
    /// user's state without building a tensor per request.
    outputs: Vec<f32>,
    /// The request-time forward pass of one history (`single.rs`).
    single: single::Single,
}

/// What `meta.json` beside the weights holds.
#[derive(Serialize, Deserialize)]
struct Meta {
    shape: Shape,
    items: Vec<String>,
}

const WEIGHTS: &str = "sequence.safetensors";
const META: &str = "sequence.json";

impl SasRec {
    fn from_weights(
        shape: Shape,
        weights: HashMap<String, Tensor>,
        items: Vec<String>,
    ) -> Result<Self, SequenceError> {
        let net = Net::new(shape, &weights)?;
        let outputs = net.outputs()?.flatten_all()?.to_vec1::<f32>()?;
        let single = single::Single::new(shape, &weights)?;
        let index = items
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect();
        Ok(Self {
            net,
            weights,
            items,
            index,
            outputs,
            single,
        })
    }

    /// Item ids by index.
    pub fn items(&self) -> &[String] {
        &self.items
    }

    /// The vocabulary's index of `item`.
    pub fn index_of(&self, item: &str) -> Option<u32> {
        self.index.get(item).copied()
    }

    /// Width of the user state.
    pub fn hidden(&self) -> usize {
        self.net.shape.hidden
    }

    /// The newest `maxlen` of `history` (oldest first) the model knows, as
    /// indices; items it was not fitted on are skipped.
    fn known(&self, history: &[&str]) -> Vec<u32> {
        let mut v: Vec<u32> = history.iter().filter_map(|h| self.index_of(h)).collect();
        let start = v.len().saturating_sub(self.net.shape.maxlen);
        v.drain(..start);
        v
    }

    /// The user's state after `history` (oldest first): a score of an item is
    /// its dot product with this. `None` when no item of the history is known.
    pub fn state(&self, history: &[&str]) -> Result<Option<Vec<f32>>, SequenceError> {
        let known = self.known(history);
        if known.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.single.last_state(&known)))
    }

    /// [`SasRec::state`] through candle's batched forward pass (what
    /// training and evaluation use), for checking the single-history one.
    #[cfg(test)]
    fn state_batched(&self, history: &[&str]) -> Result<Option<Vec<f32>>, SequenceError> {
        let known = self.known(history);
        if known.is_empty() {
            return Ok(None);
        }
        let x = model::pad_left(&[known.as_slice()], self.net.shape.maxlen)?;
        Ok(Some(self.net.last_state(&x)?.flatten_all()?.to_vec1()?))
    }

    /// Scores of every item after `state`, by index.
    pub fn scores(&self, state: &[f32]) -> Vec<f32> {
        let d = self.net.shape.hidden;
        self.outputs
            .chunks_exact(d)
            .map(|row| sommelier_types::dot(row, state))
            .collect()
    }

    /// The `limit` best next items after `history`, leaving out the history
    /// itself, best first (ties by index).
    pub fn top(&self, history: &[&str], limit: usize) -> Result<Vec<(&str, f32)>, SequenceError> {
        let Some(state) = self.state(history)? else {
            return Ok(Vec::new());
        };
        let mut scores = self.scores(&state);
        for h in history {
            if let Some(i) = self.index_of(h) {
                scores[i as usize] = f32::NEG_INFINITY;
            }
        }
        Ok(self
            .best(&scores, limit)
            .into_iter()
            .map(|(i, s)| (self.items[i as usize].as_str(), s))
            .collect())
    }

    /// The `limit` best finite entries of `scores` (by index), best first,
    /// ties by index.
    pub fn best(&self, scores: &[f32], limit: usize) -> Vec<(u32, f32)> {
        let mut idx: Vec<u32> = (0..scores.len() as u32)
            .filter(|i| scores[*i as usize].is_finite())
            .collect();
        let by = |a: &u32, b: &u32| {
            scores[*b as usize]
                .total_cmp(&scores[*a as usize])
                .then(a.cmp(b))
        };
        if idx.len() > limit {
            idx.select_nth_unstable_by(limit, by);
            idx.truncate(limit);
        }
        idx.sort_by(by);
        idx.into_iter().map(|i| (i, scores[i as usize])).collect()
    }

    /// Writes the weights (safetensors) and the vocabulary into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), SequenceError> {
        let (w, m) = (dir.join(WEIGHTS), dir.join(META));
        let err = SequenceError::file;
        candle_core::safetensors::save(&self.weights, &w).map_err(|e| err(&w, &e))?;
        let meta = Meta {
            shape: self.net.shape,
            items: self.items.clone(),
        };
        let body = serde_json::to_vec(&meta).map_err(|e| err(&m, &e))?;
        std::fs::write(&m, body).map_err(|e| err(&m, &e))
    }

    /// Removes what [`save`](Self::save) wrote into `dir`, if anything.
    pub fn remove(dir: &Path) -> std::io::Result<()> {
        for name in [WEIGHTS, META] {
            match std::fs::remove_file(dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads what [`save`](Self::save) wrote; `None` when `dir` has no model.
    pub fn load(dir: &Path) -> Result<Option<Self>, SequenceError> {
        let (w, m) = (dir.join(WEIGHTS), dir.join(META));
        if !m.exists() {
            return Ok(None);
        }
        let err = SequenceError::file;
        let body = std::fs::read(&m).map_err(|e| err(&m, &e))?;
        let meta: Meta = serde_json::from_slice(&body).map_err(|e| err(&m, &e))?;
        let weights = candle_core::safetensors::load(&w, &Device::Cpu).map_err(|e| err(&w, &e))?;
        Self::from_weights(meta.shape, weights, meta.items)
            .map(Some)
            .map_err(|e| err(&w, &e))
    }
}

impl std::fmt::Debug for SasRec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SasRec")
            .field("shape", &self.net.shape)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 120 users walking a ring of 30 items (each starts somewhere, steps by
    /// one): the next item is always the successor of the last.
    fn ring() -> (Vec<Vec<u32>>, Vec<String>) {
        let items: Vec<String> = (0..30).map(|i| format!("i{i}")).collect();
        let seqs = (0..120u32)
            .map(|u| (0..12).map(|k| (u * 7 + k) % 30).collect())
            .collect();
        (seqs, items)
    }

    fn small() -> SasRecParams {
        SasRecParams {
            hidden: 16,
            maxlen: 8,
            dropout: 0.1,
            lr: 1e-2,
            batch: 32,
            max_epochs: 40,
            patience: 40,
            ..SasRecParams::default()
        }
    }

    /// The single-history forward pass gives candle's batched one's state,
    /// for histories shorter than, as long as and longer than `maxlen`, on
    /// random weights (biases and gains too, so none hides a mistake).
    #[test]
    fn the_request_forward_pass_matches_the_batched_one() {
        let shape = Shape {
            items: 30,
            hidden: 16,
            blocks: 2,
            maxlen: 8,
        };
        let mut rng = rng::Rng::new(5);
        let mut w = Net::init(shape, &mut rng).unwrap();
        for (name, t) in w.iter_mut() {
            if name.ends_with(".b") || name.ends_with(".gain") || name.ends_with(".bias") {
                let v: Vec<f32> = (0..t.elem_count())
                    .map(|_| 1.0 + 0.3 * rng.normal())
                    .collect();
                *t = Tensor::from_vec(v, t.shape(), &Device::Cpu).unwrap();
            }
        }
        let items: Vec<String> = (0..30).map(|i| format!("i{i}")).collect();
        let m = SasRec::from_weights(shape, w, items).unwrap();
        for len in [1usize, 2, 5, 8, 12] {
            let history: Vec<String> = (0..len).map(|k| format!("i{}", (k * 7 + 3) % 30)).collect();
            let history: Vec<&str> = history.iter().map(String::as_str).collect();
            let fast = m.state(&history).unwrap().unwrap();
            let slow = m.state_batched(&history).unwrap().unwrap();
            let gap = fast
                .iter()
                .zip(&slow)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(gap < 1e-4, "length {len}: states differ by {gap}");
        }
        assert!(m.state(&["unknown"]).unwrap().is_none());
    }

    #[test]
    fn learns_what_comes_next_and_leaves_the_history_out() {
        let (seqs, items) = ring();
        let (m, report) = fit(&seqs, &items, &small()).unwrap();
        assert!(report.val_hr10 > 0.9, "{report:?}");
        let top = m.top(&["i3", "i4", "i5"], 3).unwrap();
        assert_eq!(top[0].0, "i6", "{top:?}");
        assert!(top.iter().all(|(i, _)| !["i3", "i4", "i5"].contains(i)));
        // Unknown items are skipped; nothing known, no state.
        assert!(m.state(&["nope"]).unwrap().is_none());
        assert_eq!(m.top(&["nope", "i10"], 1).unwrap()[0].0, "i11");
    }

    #[test]
    fn fitting_more_learns_the_newest_items_and_never_ends_worse_than_it_began() {
        let (seqs, items) = ring();
        let short: Vec<Vec<u32>> = seqs.iter().map(|s| s[..s.len() - 2].to_vec()).collect();
        let barely = SasRecParams {
            max_epochs: 2,
            ..small()
        };
        let (start, _) = fit(&short, &items, &barely).unwrap();
        // Scored on the whole sequences' last items, where it starts.
        let none = SasRecParams {
            max_epochs: 0,
            ..small()
        };
        let (same, r0) = fit_more(&start, &seqs, &none).unwrap();
        assert_eq!(r0.best_epoch, 0, "{r0:?}");
        let history = ["i3", "i4", "i5"];
        assert_eq!(
            same.top(&history, 5).unwrap(),
            start.top(&history, 5).unwrap()
        );
        let (more, r1) = fit_more(&start, &seqs, &small()).unwrap();
        assert!(r1.best_epoch > 0, "{r1:?}");
        assert!(
            r1.val_hr10 > 0.9 && r1.val_ndcg10 > r0.val_ndcg10,
            "{r0:?} {r1:?}"
        );
        assert_eq!(more.top(&history, 1).unwrap()[0].0, "i6");
        let other = SasRecParams {
            hidden: 8,
            ..small()
        };
        assert!(matches!(
            fit_more(&start, &seqs, &other),
            Err(SequenceError::Params(_))
        ));
    }

    #[test]
    fn the_same_seed_gives_the_same_model_and_a_saved_model_scores_alike() {
        let (seqs, items) = ring();
        let p = SasRecParams {
            max_epochs: 3,
            ..small()
        };
        let (a, ra) = fit(&seqs, &items, &p).unwrap();
        let (b, rb) = fit(&seqs, &items, &p).unwrap();
        assert_eq!(ra.val_ndcg10, rb.val_ndcg10);
        let h = ["i1", "i2"];
        let sa = a.state(&h).unwrap().unwrap();
        assert_eq!(sa, b.state(&h).unwrap().unwrap());
        let dir = tempfile::tempdir().unwrap();
        a.save(dir.path()).unwrap();
        let c = SasRec::load(dir.path()).unwrap().expect("saved");
        assert_eq!(c.scores(&c.state(&h).unwrap().unwrap()), a.scores(&sa));
        SasRec::remove(dir.path()).unwrap();
        assert!(SasRec::load(dir.path()).unwrap().is_none());
    }

    #[test]
    fn a_broken_weights_file_is_an_error_naming_it() {
        let (seqs, items) = ring();
        let p = SasRecParams {
            max_epochs: 1,
            ..small()
        };
        let (a, _) = fit(&seqs, &items, &p).unwrap();
        let dir = tempfile::tempdir().unwrap();
        a.save(dir.path()).unwrap();
        std::fs::write(dir.path().join(WEIGHTS), b"not safetensors").unwrap();
        let e = SasRec::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains(WEIGHTS), "{e}");
    }

    #[test]
    fn bad_settings_are_refused() {
        let (seqs, items) = ring();
        let p = SasRecParams {
            dropout: 1.0,
            ..small()
        };
        assert!(matches!(
            fit(&seqs, &items, &p),
            Err(SequenceError::Params(_))
        ));
    }
}
