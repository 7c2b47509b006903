//! GELU (the exact, erf-based form BERT was trained with), computed in
//! parallel with a fast erf. candle's `gelu_erf` runs a scalar libm `erf` on
//! one thread and took ~15 % of encoding time on 2 cores.

use candle_core::{Result, Tensor};

/// erf with the Abramowitz–Stegun 7.1.26 rational approximation: absolute error
/// below 1.5e-7, under f32 rounding of the activations that follow.
#[inline]
fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152_1,
        1.061_405_4,
    ];
    let sign = x.signum();
    let x = x.abs();
    let t = 1.0 / (1.0 + P * x);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    sign * (1.0 - poly * (-x * x).exp())
}

#[inline]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `x * Φ(x)` element-wise, split over `threads` threads.
pub(crate) fn gelu_erf(t: &Tensor, threads: usize) -> Result<Tensor> {
    let shape = t.shape().clone();
    let mut v = t.flatten_all()?.to_vec1::<f32>()?;
    if threads <= 1 {
        v.iter_mut().for_each(|x| *x = gelu(*x));
        return Tensor::from_vec(v, shape, t.device());
    }
    let chunk = v.len().div_ceil(threads).max(4096);
    std::thread::scope(|s| {
        for part in v.chunks_mut(chunk) {
            s.spawn(move || part.iter_mut().for_each(|x| *x = gelu(*x)));
        }
    });
    Tensor::from_vec(v, shape, t.device())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_exact_erf_gelu() {
        let xs: Vec<f32> = (-800..=800).map(|i| i as f32 / 100.0).collect();
        let t = Tensor::new(xs.as_slice(), &candle_core::Device::Cpu).unwrap();
        let exact = t.gelu_erf().unwrap().to_vec1::<f32>().unwrap();
        let fast = gelu_erf(&t, 2).unwrap().to_vec1::<f32>().unwrap();
        for ((x, a), b) in xs.iter().zip(exact).zip(fast) {
            assert!(
                (a - b).abs() < 2e-6 * (1.0 + x.abs()),
                "gelu({x}): {a} vs {b}"
            );
        }
    }
}
