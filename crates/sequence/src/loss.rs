//! The softmax cross-entropy over the whole catalog as one operation: the
//! forward pass computes each row's log-sum-exp and, in the same pass, the
//! gradient (softmax minus the one-hot target, over the rows), which the
//! backward pass only scales. Built from candle's elementwise operations it
//! took several passes over the `(targets, items)` logits each way, most of
//! a training step.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use parking_lot::Mutex;
use rayon::prelude::*;

struct CrossEntropy {
    targets: Vec<u32>,
    /// The gradient of the mean loss with respect to the logits, left by
    /// the forward pass for the backward one.
    grad: Mutex<Option<Vec<f32>>>,
}

/// Mean over rows of `-log softmax(logits)[target]`; `logits` is `(N, items)`.
pub(crate) fn cross_entropy(logits: &Tensor, targets: Vec<u32>) -> Result<Tensor> {
    logits.contiguous()?.apply_op1(CrossEntropy {
        targets,
        grad: Mutex::new(None),
    })
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "full-catalog-cross-entropy"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (rows, cols) = layout.shape().dims2()?;
        if rows != self.targets.len() {
            candle_core::bail!("{rows} rows of logits for {} targets", self.targets.len());
        }
        let (start, end) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("logits must be contiguous".into()))?;
        let x = &storage.as_slice::<f32>()?[start..end];
        let mut grad = vec![0f32; rows * cols];
        let inv_n = 1.0 / rows as f32;
        let loss: f64 = grad
            .par_chunks_mut(cols)
            .zip(x.par_chunks(cols))
            .zip(self.targets.par_iter())
            .map(|((g, row), &t)| {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f32;
                for (gi, &xi) in g.iter_mut().zip(row) {
                    let e = (xi - max).exp();
                    *gi = e;
                    sum += e;
                }
                let scale = inv_n / sum;
                g.iter_mut().for_each(|gi| *gi *= scale);
                g[t as usize] -= inv_n;
                f64::from(sum.ln() + max - row[t as usize])
            })
            .sum();
        *self.grad.lock() = Some(grad);
        let mean = (loss / rows as f64) as f32;
        Ok((CpuStorage::F32(vec![mean]), Shape::from(())))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let grad = self
            .grad
            .lock()
            .take()
            .ok_or_else(|| candle_core::Error::Msg("backward ran twice".into()))?;
        let g = Tensor::from_vec(grad, arg.shape(), arg.device())?;
        Ok(Some(g.broadcast_mul(grad_res)?))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    #[test]
    fn matches_candles_own_cross_entropy_and_its_gradient() {
        let v: Vec<f32> = (0..4 * 7)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let targets = vec![0u32, 6, 3, 3];
        let a = Var::from_tensor(&Tensor::from_vec(v, (4, 7), &Device::Cpu).unwrap()).unwrap();
        let ours = super::cross_entropy(a.as_tensor(), targets.clone()).unwrap();
        let t = Tensor::new(targets.as_slice(), &Device::Cpu).unwrap();
        let theirs = candle_nn::loss::cross_entropy(a.as_tensor(), &t).unwrap();
        let (x, y) = (
            ours.to_scalar::<f32>().unwrap(),
            theirs.to_scalar::<f32>().unwrap(),
        );
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        let grad = |loss: Tensor| -> Vec<Vec<f32>> {
            let g = loss.backward().unwrap();
            g.get(&a).unwrap().to_vec2().unwrap()
        };
        let (g1, g2) = (grad(ours), grad(theirs));
        for (r1, r2) in g1.iter().zip(&g2) {
            for (p, q) in r1.iter().zip(r2) {
                assert!((p - q).abs() < 1e-5, "{g1:?} vs {g2:?}");
            }
        }
    }
}
