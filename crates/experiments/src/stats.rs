//! The statistics the analysis needs, written out so that each can be
//! checked against known values: the normal distribution, the chi-square
//! tail, the delta method for a ratio of per-unit sums, and the mixture
//! sequential probability ratio test.

/// The standard normal CDF (through `erfc`, relative error below 1.2e-7).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Two-sided p-value of a z statistic.
pub fn two_sided_p(z: f64) -> f64 {
    (2.0 * (1.0 - normal_cdf(z.abs()))).clamp(0.0, 1.0)
}

/// The standard normal quantile (Acklam's rational approximation, refined
/// by one Newton step).
pub fn normal_quantile(p: f64) -> f64 {
    assert!(p > 0.0 && p < 1.0, "quantile of {p}");
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // One Newton step on the CDF.
    let e = normal_cdf(x) - p;
    let density = (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    x - e / density
}

/// `ln Γ(x)` for x > 0 (Lanczos, g = 7).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised upper incomplete gamma function Q(a, x).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_front = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        // P by its series, Q = 1 − P.
        let (mut sum, mut term, mut n) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            n += 1.0;
            term *= x / n;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (1.0 - sum * ln_front.exp()).clamp(0.0, 1.0)
    } else {
        // Q by its continued fraction (modified Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (ln_front.exp() * h).clamp(0.0, 1.0)
    }
}

/// P(χ²ₖ ≥ x): the p-value of a chi-square statistic with `k` degrees of
/// freedom.
pub fn chi2_sf(x: f64, k: usize) -> f64 {
    gamma_q(k as f64 / 2.0, x / 2.0)
}

/// The chi-square goodness-of-fit test of observed counts against expected
/// shares (sample ratio mismatch): the statistic and its p-value.
pub fn chi2_fit(observed: &[u64], shares: &[f64]) -> (f64, f64) {
    let n: u64 = observed.iter().sum();
    let total: f64 = shares.iter().sum();
    if n == 0 || observed.len() < 2 || total <= 0.0 {
        return (0.0, 1.0);
    }
    let stat: f64 = observed
        .iter()
        .zip(shares)
        .map(|(o, s)| {
            let e = n as f64 * s / total;
            (*o as f64 - e).powi(2) / e
        })
        .sum();
    (stat, chi2_sf(stat, observed.len() - 1))
}

/// A metric over units with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The value.
    pub value: f64,
    /// Its standard error (0 when it cannot be estimated).
    pub se: f64,
    /// Units it is over.
    pub units: usize,
}

/// The mean of per-unit values and its standard error.
pub fn mean(values: &[f64]) -> Estimate {
    let n = values.len();
    if n == 0 {
        return Estimate {
            value: 0.0,
            se: 0.0,
            units: 0,
        };
    }
    let m = values.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    Estimate {
        value: m,
        se: (var / n as f64).sqrt(),
        units: n,
    }
}

/// Σ numerator / Σ denominator over units (clicks per exposure, say), with
/// the delta method's standard error, which accounts for the units'
/// own correlation (one user's many exposures are not independent).
pub fn ratio(pairs: &[(f64, f64)]) -> Estimate {
    let n = pairs.len();
    let (sx, sy) = pairs
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    if n == 0 || sy <= 0.0 {
        return Estimate {
            value: 0.0,
            se: 0.0,
            units: n,
        };
    }
    let r = sx / sy;
    let nf = n as f64;
    let (mx, my) = (sx / nf, sy / nf);
    let se = if n > 1 {
        let (mut vxx, mut vyy, mut vxy) = (0.0, 0.0, 0.0);
        for (x, y) in pairs {
            vxx += (x - mx).powi(2);
            vyy += (y - my).powi(2);
            vxy += (x - mx) * (y - my);
        }
        let d = nf - 1.0;
        let (vxx, vyy, vxy) = (vxx / d, vyy / d, vxy / d);
        ((vxx - 2.0 * r * vxy + r * r * vyy).max(0.0) / (nf * my * my)).sqrt()
    } else {
        0.0
    };
    Estimate {
        value: r,
        se,
        units: n,
    }
}

/// The always-valid p-value of one look of the mixture SPRT (Johari,
/// Pekelis, Walsh; a normal mixture of variance `tau2` over the effect):
/// `diff` is the estimated difference and `var` its variance. Taking the
/// running minimum over looks gives a p-value that may be read at every
/// look (daily, say) without inflating the false positives.
pub fn msprt_p(diff: f64, var: f64, tau2: f64) -> f64 {
    if var <= 0.0 || tau2 <= 0.0 || !diff.is_finite() {
        return 1.0;
    }
    let ln_lambda =
        0.5 * (var / (var + tau2)).ln() + tau2 * diff * diff / (2.0 * var * (var + tau2));
    (-ln_lambda).exp().min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() < tol, "{a} against {b}");
    }

    #[test]
    fn the_normal_distribution_matches_its_tables() {
        close(normal_cdf(0.0), 0.5, 1e-7);
        close(normal_cdf(1.959_964), 0.975, 1e-6);
        close(normal_cdf(-1.0), 0.158_655_25, 1e-6);
        close(normal_quantile(0.975), 1.959_964, 1e-6);
        close(normal_quantile(0.8), 0.841_621_2, 1e-6);
        close(normal_quantile(0.001), -3.090_232, 1e-5);
        close(two_sided_p(1.959_964), 0.05, 1e-6);
    }

    #[test]
    fn the_chi_square_tail_matches_its_tables() {
        close(chi2_sf(3.841_459, 1), 0.05, 1e-6);
        close(chi2_sf(5.991_465, 2), 0.05, 1e-6);
        close(chi2_sf(10.827_57, 1), 0.001, 1e-6);
        close(chi2_sf(30.0, 10), 0.000_857_1, 1e-6);
        close(chi2_sf(0.0, 3), 1.0, 1e-12);
        // 5,000 against 5,400 out of 10,400 at 50/50: flagged.
        let (_, p) = chi2_fit(&[5000, 5400], &[1.0, 1.0]);
        assert!(p < 0.001, "{p}");
        let (_, p) = chi2_fit(&[5000, 5050], &[1.0, 1.0]);
        assert!(p > 0.1, "{p}");
    }

    #[test]
    fn the_ratio_standard_error_matches_a_hand_computed_case() {
        // Units (clicks, exposures): R = 6/12 = .5.
        let pairs = [(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)];
        let e = ratio(&pairs);
        close(e.value, 0.5, 1e-12);
        // Every unit has the same rate: no spread at all.
        close(e.se, 0.0, 1e-12);
        let pairs = [(0.0, 2.0), (2.0, 2.0)];
        let e = ratio(&pairs);
        close(e.value, 0.5, 1e-12);
        // vxx = 2, vyy = 0, vxy = 0, my = 2: sqrt(2 / (2 * 4)) = .5.
        close(e.se, 0.5, 1e-12);
        let m = mean(&[1.0, 2.0, 3.0]);
        close(m.value, 2.0, 1e-12);
        close(m.se, (1.0f64 / 3.0).sqrt(), 1e-12);
    }

    #[test]
    fn the_sequential_p_value_is_one_without_evidence_and_small_with_much() {
        close(msprt_p(0.0, 1e-4, 1e-4), 1.0, 1e-12);
        assert!(msprt_p(0.06, 1e-4, 1e-4) < 1e-3);
        // It is more cautious than the fixed-horizon test at the same z.
        let (d, v) = (0.02, 1e-4);
        assert!(msprt_p(d, v, 1e-4) > two_sided_p(d / v.sqrt()));
    }
}
