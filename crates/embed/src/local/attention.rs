//! Multi-head self-attention over a padded batch, computed straight from the
//! fused QKV projection. Each sequence only attends over its real tokens (the
//! same result as an additive padding mask, without the padded work), and the
//! many tiny per-head products run in plain loops instead of hundreds of small
//! GEMM calls, whose dispatch overhead dominated on short texts.

use candle_core::{Result, Tensor};

/// Shape of one batch.
pub(crate) struct Dims {
    /// Padded length of every sequence.
    pub len: usize,
    /// Attention heads.
    pub heads: usize,
    /// Size of one head.
    pub head_dim: usize,
}

/// `qkv`: (batch × len, 3 × hidden) with queries already scaled by 1/√head_dim;
/// `lens`: real length of each sequence. Returns the context, (batch × len,
/// hidden); rows of padding positions are zero.
pub(crate) fn attend(qkv: &Tensor, lens: &[usize], d: &Dims, threads: usize) -> Result<Tensor> {
    let hidden = d.heads * d.head_dim;
    let data = qkv.flatten_all()?.to_vec1::<f32>()?;
    let mut out = vec![0f32; lens.len() * d.len * hidden];
    let threads = threads.min(lens.len()).max(1);
    let per = lens.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (chunk, (out, lens)) in out
            .chunks_mut(per * d.len * hidden)
            .zip(lens.chunks(per))
            .enumerate()
        {
            let data = &data;
            s.spawn(move || {
                let mut scores = vec![0f32; d.len];
                for (i, &n) in lens.iter().enumerate() {
                    let seq = (chunk * per + i) * d.len;
                    let out = &mut out[i * d.len * hidden..(i + 1) * d.len * hidden];
                    for h in 0..d.heads {
                        let off = h * d.head_dim;
                        for t in 0..n {
                            let q = &data[(seq + t) * 3 * hidden + off..][..d.head_dim];
                            let mut max = f32::NEG_INFINITY;
                            for (s, score) in scores[..n].iter_mut().enumerate() {
                                let k =
                                    &data[(seq + s) * 3 * hidden + hidden + off..][..d.head_dim];
                                *score = q.iter().zip(k).map(|(a, b)| a * b).sum();
                                max = max.max(*score);
                            }
                            let mut sum = 0.0;
                            for score in &mut scores[..n] {
                                *score = (*score - max).exp();
                                sum += *score;
                            }
                            let ctx = &mut out[t * hidden + off..][..d.head_dim];
                            for (s, &p) in scores[..n].iter().enumerate() {
                                let v = &data[(seq + s) * 3 * hidden + 2 * hidden + off..]
                                    [..d.head_dim];
                                let w = p / sum;
                                ctx.iter_mut().zip(v).for_each(|(c, v)| *c += w * v);
                            }
                        }
                    }
                }
            });
        }
    });
    Tensor::from_vec(out, (lens.len() * d.len, hidden), qkv.device())
}
