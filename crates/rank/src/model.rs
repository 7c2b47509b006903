//! The learned scorer: a linear model over named candidate features, fitted
//! from labelled examples by L2-regularised logistic regression with Newton
//! steps. A linear model keeps every score explainable:
//! [`LinearModel::contributions`] says how much each feature added.

use serde::{Deserialize, Serialize};

/// Named weights; the score of a feature vector `x` is `bias + Σ wᵢ·xᵢ`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    /// Feature names, in the order of the weights.
    pub features: Vec<String>,
    /// One weight per feature.
    pub weights: Vec<f64>,
    /// Intercept.
    pub bias: f64,
}

/// One feature's part in a score.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Contribution {
    /// Feature name.
    pub feature: String,
    /// Its value for this candidate.
    pub value: f64,
    /// `weight × value`.
    pub contribution: f64,
}

impl LinearModel {
    /// The score (a logit) of `x`.
    ///
    /// # Panics
    /// When `x` does not have one value per feature.
    pub fn score(&self, x: &[f64]) -> f64 {
        assert_eq!(x.len(), self.weights.len(), "one value per feature");
        self.bias + self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>()
    }

    /// The `n` features that contributed most (by absolute value) to `x`'s
    /// score, largest first; features with no contribution are left out.
    pub fn contributions(&self, x: &[f64], n: usize) -> Vec<Contribution> {
        let mut c: Vec<Contribution> = self
            .features
            .iter()
            .zip(&self.weights)
            .zip(x)
            .filter(|((_, w), v)| **w * **v != 0.0)
            .map(|((f, w), v)| Contribution {
                feature: f.clone(),
                value: *v,
                contribution: w * v,
            })
            .collect();
        c.sort_by(|a, b| {
            b.contribution
                .abs()
                .total_cmp(&a.contribution.abs())
                .then_with(|| a.feature.cmp(&b.feature))
        });
        c.truncate(n);
        c
    }
}

/// How a fit went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitStats {
    /// Examples.
    pub examples: usize,
    /// Positive examples.
    pub positives: usize,
    /// Mean log-loss at the end.
    pub log_loss: f64,
    /// Newton iterations run.
    pub iterations: usize,
}

/// Why a fit could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FitError {
    /// No positive or no negative example: nothing to learn.
    OneClass,
    /// Rows of different lengths or a non-finite value.
    BadInput(String),
}

impl std::fmt::Display for FitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FitError::OneClass => f.write_str("the examples are all of one class"),
            FitError::BadInput(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FitError {}

/// Fits a logistic regression of `labels` on `rows` (each `features.len()`
/// long) with L2 penalty `l2` on the weights (not the bias). Newton's method on
/// the (d+1)×(d+1) Hessian, so it converges in a few passes for the few dozen
/// features a ranker has. Positives may be up-weighted by `positive_weight`
/// to balance one positive among hundreds of candidates.
pub fn fit_logistic(
    features: Vec<String>,
    rows: &[Vec<f64>],
    labels: &[bool],
    l2: f64,
    positive_weight: f64,
) -> Result<(LinearModel, FitStats), FitError> {
    let d = features.len();
    if rows.len() != labels.len() {
        return Err(FitError::BadInput("one label per row".into()));
    }
    if let Some(i) = rows
        .iter()
        .position(|r| r.len() != d || r.iter().any(|v| !v.is_finite()))
    {
        return Err(FitError::BadInput(format!(
            "row {i} has {} values (expected {d}) or a non-finite one",
            rows[i].len()
        )));
    }
    let positives = labels.iter().filter(|l| **l).count();
    if positives == 0 || positives == labels.len() {
        return Err(FitError::OneClass);
    }
    // Parameters: [bias, w₀ … w_{d−1}].
    let p = d + 1;
    let mut theta = vec![0.0f64; p];
    let mut iterations = 0;
    let mut loss = f64::INFINITY;
    for it in 0..50 {
        iterations = it + 1;
        let mut grad = vec![0.0f64; p];
        let mut hess = vec![0.0f64; p * p];
        let mut new_loss = 0.0;
        let mut total_w = 0.0;
        for (x, &y) in rows.iter().zip(labels) {
            let z = theta[0] + theta[1..].iter().zip(x).map(|(w, v)| w * v).sum::<f64>();
            let prob = sigmoid(z);
            let sw = if y { positive_weight } else { 1.0 };
            total_w += sw;
            new_loss += sw * if y { softplus(-z) } else { softplus(z) };
            let r = sw * (prob - if y { 1.0 } else { 0.0 });
            let h = sw * prob * (1.0 - prob);
            grad[0] += r;
            for j in 0..d {
                grad[j + 1] += r * x[j];
            }
            // Hessian: h · [1, x]ᵀ[1, x], upper triangle then mirrored.
            hess[0] += h;
            for j in 0..d {
                hess[j + 1] += h * x[j];
                let row = (j + 1) * p;
                for k in j..d {
                    hess[row + k + 1] += h * x[j] * x[k];
                }
            }
        }
        for j in 0..p {
            for k in 0..j {
                hess[j * p + k] = hess[k * p + j];
            }
        }
        for j in 1..p {
            grad[j] += l2 * theta[j];
            hess[j * p + j] += l2;
            new_loss += 0.5 * l2 * theta[j] * theta[j];
        }
        hess[0] += 1e-9;
        let step = solve(&mut hess, &mut grad, p)
            .ok_or_else(|| FitError::BadInput("singular Hessian".into()))?;
        for j in 0..p {
            theta[j] -= step[j];
        }
        let converged = (loss - new_loss).abs() <= 1e-9 * total_w.max(1.0);
        loss = new_loss;
        if converged || step.iter().all(|s| s.abs() < 1e-8) {
            break;
        }
    }
    // Report the unweighted mean log-loss of the final model.
    let model = LinearModel {
        features,
        weights: theta[1..].to_vec(),
        bias: theta[0],
    };
    let log_loss = rows
        .iter()
        .zip(labels)
        .map(|(x, &y)| {
            let z = model.score(x);
            if y { softplus(-z) } else { softplus(z) }
        })
        .sum::<f64>()
        / rows.len() as f64;
    Ok((
        model,
        FitStats {
            examples: rows.len(),
            positives,
            log_loss,
            iterations,
        },
    ))
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// ln(1 + eᶻ), stable for large |z|.
fn softplus(z: f64) -> f64 {
    if z > 30.0 { z } else { z.exp().ln_1p() }
}

/// Solves `a · x = b` (a is n×n, row-major) by Gaussian elimination with
/// partial pivoting; `None` when singular.
fn solve(a: &mut [f64], b: &mut [f64], n: usize) -> Option<Vec<f64>> {
    for col in 0..n {
        let piv =
            (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[piv * n + col].abs() < 1e-300 {
            return None;
        }
        if piv != col {
            for k in 0..n {
                a.swap(piv * n + k, col * n + k);
            }
            b.swap(piv, col);
        }
        for i in col + 1..n {
            let f = a[i * n + col] / a[col * n + col];
            if f == 0.0 {
                continue;
            }
            for k in col..n {
                a[i * n + k] -= f * a[col * n + k];
            }
            b[i] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| a[i * n + k] * x[k]).sum();
        x[i] = (b[i] - s) / a[i * n + i];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_the_direction_of_a_known_model() {
        // y = 1 when 2·x₀ − x₁ > 0.3, with x on a grid; x₂ is noise-free junk.
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for i in 0..30 {
            for j in 0..30 {
                let x0 = i as f64 / 29.0;
                let x1 = j as f64 / 29.0;
                let x2 = ((i * 7 + j * 13) % 10) as f64 / 10.0;
                rows.push(vec![x0, x1, x2]);
                labels.push(2.0 * x0 - x1 > 0.3);
            }
        }
        let names = vec!["a".to_string(), "b".to_string(), "junk".to_string()];
        let (m, stats) = fit_logistic(names, &rows, &labels, 0.1, 1.0).unwrap();
        assert!(m.weights[0] > 0.0 && m.weights[1] < 0.0, "{m:?}");
        assert!(m.weights[0].abs() > 5.0 * m.weights[2].abs(), "{m:?}");
        // Ratio close to 2 : −1.
        let ratio = m.weights[0] / -m.weights[1];
        assert!((ratio - 2.0).abs() < 0.3, "ratio {ratio}");
        assert!(stats.log_loss < 0.2, "{stats:?}");
        // The model separates the classes it was fitted on.
        let correct = rows
            .iter()
            .zip(&labels)
            .filter(|(x, y)| (m.score(x) > 0.0) == **y)
            .count();
        assert!(correct as f64 / rows.len() as f64 > 0.97);
    }

    #[test]
    fn contributions_name_the_largest_terms() {
        let m = LinearModel {
            features: vec!["x".into(), "y".into(), "z".into()],
            weights: vec![1.0, -3.0, 0.5],
            bias: 0.2,
        };
        assert!((m.score(&[1.0, 1.0, 0.0]) - (0.2 + 1.0 - 3.0)).abs() < 1e-12);
        let c = m.contributions(&[1.0, 1.0, 0.0], 5);
        assert_eq!(
            c.iter().map(|c| c.feature.as_str()).collect::<Vec<_>>(),
            ["y", "x"]
        );
        assert_eq!(c[0].contribution, -3.0);
    }

    #[test]
    fn one_class_and_ragged_input_are_refused() {
        let names = vec!["a".to_string()];
        assert_eq!(
            fit_logistic(
                names.clone(),
                &[vec![1.0], vec![2.0]],
                &[true, true],
                1.0,
                1.0
            )
            .unwrap_err(),
            FitError::OneClass
        );
        assert!(matches!(
            fit_logistic(
                names,
                &[vec![1.0, 2.0], vec![2.0]],
                &[true, false],
                1.0,
                1.0
            ),
            Err(FitError::BadInput(_))
        ));
    }
}
