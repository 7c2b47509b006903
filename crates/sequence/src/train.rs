//! Fitting: every user's sequence is cut, from its newest end, into windows
//! of `maxlen + 1` items (input the first `maxlen`, target the next item at
//! every position; consecutive windows share one item), the loss a
//! softmax cross-entropy over the whole catalog, AdamW. Each user's last item
//! is held out for validation; after every epoch the model ranks the catalog
//! for those users, and the epoch with the best NDCG@10 is kept. Training
//! stops after `patience` epochs without improvement, at `max_epochs`, or
//! when `max_seconds` is spent.

use crate::model::{Dropout, Net, Shape, pad_left, variables};
use crate::rng::Rng;
use crate::{SasRec, SasRecParams, SequenceError};
use candle_core::{Device, Tensor};
use candle_nn::Optimizer;
use candle_nn::optim::{AdamW, ParamsAdamW};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Instant;

/// How a fit went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Users with at least three items (two to learn from, one to validate).
    pub users: usize,
    /// Items in the vocabulary.
    pub items: usize,
    /// Epochs run.
    pub epochs: usize,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Validation NDCG@10 of the kept weights (each user's last item, full
    /// catalog ranked, their other items masked).
    pub val_ndcg10: f64,
    /// Validation HR@10 of the kept weights.
    pub val_hr10: f64,
    /// Why training stopped: `patience`, `max_epochs` or `time`.
    pub stopped: String,
    /// Seconds spent.
    pub seconds: f64,
}

/// Fits the model on `sequences` (each user's items, oldest first, as indices
/// into `items`).
pub fn fit(
    sequences: &[Vec<u32>],
    items: &[String],
    p: &SasRecParams,
) -> Result<(SasRec, TrainReport), SequenceError> {
    fit_from(sequences, items, p, None)
}

/// Goes on fitting `start` (fitted over the same `items` with the same
/// shape) on `sequences`, for at most `p.max_epochs`: the weights it starts
/// from count as epoch 0, so the model returned validates at least as well
/// on these sequences' last items as `start`. How a model that was fitted
/// without some of each user's newest items learns them.
pub fn fit_more(
    start: &SasRec,
    sequences: &[Vec<u32>],
    p: &SasRecParams,
) -> Result<(SasRec, TrainReport), SequenceError> {
    fit_from(sequences, start.items(), p, Some(start))
}

fn fit_from(
    sequences: &[Vec<u32>],
    items: &[String],
    p: &SasRecParams,
    start: Option<&SasRec>,
) -> Result<(SasRec, TrainReport), SequenceError> {
    p.check()?;
    let started = Instant::now();
    let shape = Shape {
        items: items.len(),
        hidden: p.hidden,
        blocks: p.blocks,
        maxlen: p.maxlen,
    };
    let mut rng = Rng::new(p.seed);
    let init = match start {
        Some(m) if m.net.shape == shape => snapshot(&m.weights)?,
        Some(m) => {
            return Err(SequenceError::Params(format!(
                "cannot go on fitting a model of shape {:?} with shape {shape:?}",
                m.net.shape
            )));
        }
        None => Net::init(shape, &mut rng)?,
    };
    let (tensors, vars) = variables(&init)?;
    let net = Net::new(shape, &tensors)?;
    let mut opt = AdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: p.lr,
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-8,
            weight_decay: p.weight_decay,
        },
    )?;
    // Validation: each user's last item, predicted from the items before it.
    let users: Vec<&[u32]> = sequences
        .iter()
        .filter(|s| s.len() >= 3)
        .map(Vec::as_slice)
        .collect();
    let train: Vec<&[u32]> = users
        .iter()
        .flat_map(|s| windows(&s[..s.len() - 1], p.maxlen + 1))
        .collect();
    let val = Validation::new(&users, p.val_users, p.seed);
    let mut best: Option<(f64, f64, usize, HashMap<String, Tensor>)> = None;
    if start.is_some() {
        let (ndcg, hr) = val.score(&net, p.maxlen)?;
        best = Some((ndcg, hr, 0, snapshot(&tensors)?));
    }
    let (mut epoch, mut bad, mut stopped) = (0, 0, "max_epochs");
    let mut order: Vec<usize> = (0..train.len()).collect();
    while epoch < p.max_epochs {
        if started.elapsed().as_secs_f64() > p.max_seconds {
            stopped = "time";
            break;
        }
        epoch += 1;
        rng.shuffle(&mut order);
        let mut loss_sum = 0.0;
        for chunk in order.chunks(p.batch) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&w| train[w]).collect();
            let loss = step_loss(&net, &batch, p, &mut rng)?;
            loss_sum += loss.to_scalar::<f32>()? as f64 * chunk.len() as f64;
            opt.backward_step(&loss)?;
        }
        let (ndcg, hr) = val.score(&net, p.maxlen)?;
        tracing::debug!(
            epoch,
            loss = loss_sum / train.len().max(1) as f64,
            ndcg,
            hr,
            "sequence model epoch"
        );
        if best.as_ref().is_none_or(|b| ndcg > b.0) {
            best = Some((ndcg, hr, epoch, snapshot(&tensors)?));
            bad = 0;
        } else {
            bad += 1;
            if bad >= p.patience {
                stopped = "patience";
                break;
            }
        }
    }
    let (val_ndcg10, val_hr10, best_epoch, weights) = match best {
        Some(b) => b,
        None => (0.0, 0.0, 0, init),
    };
    let report = TrainReport {
        users: users.len(),
        items: items.len(),
        epochs: epoch,
        best_epoch,
        val_ndcg10,
        val_hr10,
        stopped: stopped.to_string(),
        seconds: started.elapsed().as_secs_f64(),
    };
    tracing::info!(
        epochs = report.epochs,
        best_epoch,
        val_ndcg10,
        seconds = report.seconds,
        stopped,
        "sequence model fitted"
    );
    Ok((
        SasRec::from_weights(shape, weights, items.to_vec())?,
        report,
    ))
}

/// Copies of the weights as they are now.
fn snapshot(tensors: &HashMap<String, Tensor>) -> candle_core::Result<HashMap<String, Tensor>> {
    tensors
        .iter()
        .map(|(k, t)| Ok((k.clone(), t.copy()?)))
        .collect()
}

/// `s` cut from its end into windows of `len` items, each sharing its first
/// item with the end of the one before; windows of fewer than two items (no
/// target) are dropped.
fn windows(s: &[u32], len: usize) -> Vec<&[u32]> {
    let mut out = Vec::new();
    let mut end = s.len();
    while end >= 2 {
        let start = end.saturating_sub(len);
        out.push(&s[start..end]);
        if start == 0 {
            break;
        }
        end = start + 1;
    }
    out
}

/// Mean cross-entropy of the next item at every non-padding position.
fn step_loss(
    net: &Net,
    batch: &[&[u32]],
    p: &SasRecParams,
    rng: &mut Rng,
) -> Result<Tensor, SequenceError> {
    let inputs: Vec<&[u32]> = batch.iter().map(|s| &s[..s.len() - 1]).collect();
    let x = pad_left(&inputs, p.maxlen)?;
    let (b, l) = x.dims2()?;
    // Targets, aligned with the left-padded inputs.
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for (r, s) in batch.iter().enumerate() {
        let n = (s.len() - 1).min(l);
        for j in 0..n {
            rows.push((r * l + l - n + j) as u32);
            targets.push(s[s.len() - n + j]);
        }
    }
    let h = net.forward(&x, Some(Dropout { p: p.dropout, rng }))?;
    let d = p.hidden;
    let rows = Tensor::from_vec(rows, targets.len(), &Device::Cpu)?;
    let h = h.reshape((b * l, d))?.index_select(&rows, 0)?;
    let logits = h.matmul(&net.outputs()?.t()?)?;
    Ok(crate::loss::cross_entropy(&logits, targets)?)
}

/// The held-out last items of (a sample of) the users.
struct Validation<'a> {
    inputs: Vec<&'a [u32]>,
    targets: Vec<u32>,
}

impl<'a> Validation<'a> {
    fn new(users: &[&'a [u32]], max: usize, seed: u64) -> Self {
        let mut idx: Vec<usize> = (0..users.len()).collect();
        if idx.len() > max {
            Rng::new(seed ^ 0x5eed).shuffle(&mut idx);
            idx.truncate(max);
            idx.sort_unstable();
        }
        Self {
            inputs: idx
                .iter()
                .map(|&u| &users[u][..users[u].len() - 1])
                .collect(),
            targets: idx.iter().map(|&u| users[u][users[u].len() - 1]).collect(),
        }
    }

    /// NDCG@10 and HR@10 over the catalog, each user's inputs masked.
    fn score(&self, net: &Net, maxlen: usize) -> Result<(f64, f64), SequenceError> {
        let (mut ndcg, mut hr) = (0.0, 0.0);
        for (inputs, targets) in self.inputs.chunks(256).zip(self.targets.chunks(256)) {
            let scores = net
                .next_scores(&pad_left(inputs, maxlen)?)?
                .to_vec2::<f32>()?;
            for ((row, seen), &t) in scores.iter().zip(inputs).zip(targets) {
                let target = row[t as usize];
                let mut masked = vec![false; row.len()];
                for &i in seen.iter() {
                    masked[i as usize] = true;
                }
                let rank = row
                    .iter()
                    .enumerate()
                    .filter(|(i, s)| !masked[*i] && *i != t as usize && **s > target)
                    .count();
                if rank < 10 {
                    hr += 1.0;
                    ndcg += 1.0 / (rank as f64 + 2.0).log2();
                }
            }
        }
        let n = self.targets.len().max(1) as f64;
        Ok((ndcg / n, hr / n))
    }
}

#[cfg(test)]
mod tests {
    use super::windows;

    #[test]
    fn windows_cover_every_target_once() {
        let s: Vec<u32> = (0..12).collect();
        let w = windows(&s, 5);
        assert_eq!(w, vec![&s[7..12], &s[3..8], &s[0..4]]);
        // Every item but the first is a target exactly once.
        let targets: usize = w.iter().map(|w| w.len() - 1).sum();
        assert_eq!(targets, s.len() - 1);
        assert!(windows(&s[..1], 5).is_empty());
        assert_eq!(windows(&s[..5], 5), vec![&s[..5]]);
    }
}
