//! The forward pass for one history at request time, in plain Rust: the
//! same network as `model.rs` (pre-norm causal attention blocks, the final
//! norm), computing only what the newest position's state needs: every
//! position's keys and values, but queries, attention and the feed-forward
//! layer of the last block for the newest position alone. Candle spread the
//! few small matrix products of one short sequence over its thread pool,
//! where the hand-offs cost more than the arithmetic (docs/benchmarks.md).

use crate::model::{Dense, Layers, Norm, Shape, layers};
use candle_core::{Result, Tensor};
use sommelier_types::dot;
use std::collections::HashMap;

/// Dense layers over plain arrays: `y = W x + b`, `y_i = Σ_j W[i][j] x_j + b_i`.
impl Dense<Vec<f32>> {
    fn apply(&self, x: &[f32], out: &mut [f32]) {
        let d = x.len();
        for (i, o) in out.iter_mut().enumerate() {
            *o = dot(&self.w[i * d..(i + 1) * d], x) + self.b[i];
        }
    }
}

impl Norm<Vec<f32>> {
    fn apply(&self, x: &[f32], out: &mut [f32]) {
        let n = x.len() as f32;
        let mean = x.iter().sum::<f32>() / n;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / (var + 1e-8).sqrt();
        for (i, o) in out.iter_mut().enumerate() {
            *o = (x[i] - mean) * inv * self.gain[i] + self.bias[i];
        }
    }
}

/// The weights as plain arrays.
#[derive(Clone)]
pub(crate) struct Single {
    shape: Shape,
    layers: Layers<Vec<f32>>,
}

impl Single {
    /// The arrays of `w` (already checked by `Net::new`).
    pub(crate) fn new(shape: Shape, w: &HashMap<String, Tensor>) -> Result<Self> {
        let layers = layers(shape, |name, _| {
            w.get(name)
                .ok_or_else(|| candle_core::Error::Msg(format!("weight `{name}` is missing")))?
                .flatten_all()?
                .to_vec1::<f32>()
        })?;
        Ok(Self { shape, layers })
    }

    /// The newest position's state after `seq` (item indices, oldest first,
    /// 1 ≤ len ≤ maxlen): what `Net::last_state` gives for one unpadded
    /// history.
    pub(crate) fn last_state(&self, seq: &[u32]) -> Vec<f32> {
        let d = self.shape.hidden;
        let l = seq.len();
        let first_pos = self.shape.maxlen - l;
        let scale_emb = (d as f32).sqrt();
        // Hidden states, one row per position.
        let mut h = vec![0f32; l * d];
        for (t, &i) in seq.iter().enumerate() {
            let e = &self.layers.item[(i as usize + 1) * d..][..d];
            let p = &self.layers.pos[(first_pos + t) * d..][..d];
            for j in 0..d {
                h[t * d + j] = e[j] * scale_emb + p[j];
            }
        }
        let scale = 1.0 / (d as f32).sqrt();
        let (mut a, mut k, mut v) = (vec![0f32; l * d], vec![0f32; l * d], vec![0f32; l * d]);
        let (mut q, mut y, mut o) = (vec![0f32; d], vec![0f32; d], vec![0f32; d]);
        let (mut n2, mut f1, mut f2) = (vec![0f32; d], vec![0f32; d], vec![0f32; d]);
        let mut att = vec![0f32; l];
        let last_block = self.layers.blocks.len().saturating_sub(1);
        for (bi, blk) in self.layers.blocks.iter().enumerate() {
            for t in 0..l {
                blk.norm1.apply(&h[t * d..][..d], &mut a[t * d..][..d]);
                blk.k.apply(&a[t * d..][..d], &mut k[t * d..][..d]);
                blk.v.apply(&a[t * d..][..d], &mut v[t * d..][..d]);
            }
            // Every position feeds the next block; the last block only the
            // newest position's state.
            let from = if bi == last_block { l - 1 } else { 0 };
            // Positions are updated newest first: each reads only keys and
            // values computed above, never an updated state.
            for t in (from..l).rev() {
                blk.q.apply(&a[t * d..][..d], &mut q);
                let mut max = f32::NEG_INFINITY;
                for (j, s) in att[..=t].iter_mut().enumerate() {
                    *s = dot(&q, &k[j * d..][..d]) * scale;
                    max = max.max(*s);
                }
                let mut total = 0.0;
                for s in &mut att[..=t] {
                    *s = (*s - max).exp();
                    total += *s;
                }
                y.iter_mut().for_each(|x| *x = 0.0);
                for (j, s) in att[..=t].iter().enumerate() {
                    let w = s / total;
                    for (yy, vv) in y.iter_mut().zip(&v[j * d..][..d]) {
                        *yy += w * vv;
                    }
                }
                blk.out.apply(&y, &mut o);
                let row = &mut h[t * d..][..d];
                for (x, oo) in row.iter_mut().zip(&o) {
                    *x += oo;
                }
                blk.norm2.apply(row, &mut n2);
                blk.ff1.apply(&n2, &mut f1);
                f1.iter_mut().for_each(|x| *x = x.max(0.0));
                blk.ff2.apply(&f1, &mut f2);
                for (x, ff) in row.iter_mut().zip(&f2) {
                    *x += ff;
                }
            }
        }
        let mut out = vec![0f32; d];
        self.layers.norm.apply(&h[(l - 1) * d..][..d], &mut out);
        out
    }
}
