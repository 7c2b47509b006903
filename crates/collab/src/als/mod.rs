//! Implicit-feedback alternating least squares (Hu, Koren & Volinsky, 2008):
//! the collaborative model for catalogs too large for EASE. Users and items get
//! `factors`-dimensional vectors; a user's predicted preference for an item is
//! their dot product. Each half-iteration solves every user's (then every
//! item's) weighted least-squares problem with a few conjugate-gradient steps
//! (Takács, Pilászy & Tikk, 2011), so one pass costs O(interactions × factors ×
//! steps) instead of a factors³ solve per row: linear in the log, with memory
//! for the two factor tables and the interactions only.
//!
//! Serving folds a history in: the user vector is solved exactly from the
//! fitted item factors (a factors × factors Cholesky solve), so a user who
//! arrived after the fit is scored too, then every item is scored by a dot
//! product.

use crate::binfile;
use crate::neighbors::Weighted;
use crate::{FitError, Interactions};
use sommelier_types::dot;
use std::io::Read;
use std::path::Path;

/// iALS settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsParams {
    /// Dimensions of the user and item vectors.
    pub factors: usize,
    /// Alternating passes (users, then items).
    pub iterations: usize,
    /// L2 regularisation λ of both tables.
    pub regularization: f32,
    /// Confidence of an observed interaction (`c = alpha`; unobserved pairs
    /// count with confidence 1 towards preference 0).
    pub alpha: f32,
    /// Conjugate-gradient steps per row and half-iteration.
    pub cg_steps: usize,
    /// Threads for the row solves.
    pub threads: usize,
    /// Seed of the initial factors.
    pub seed: u64,
}

impl Default for AlsParams {
    fn default() -> Self {
        Self {
            factors: 64,
            iterations: 15,
            regularization: 0.01,
            alpha: 1.0,
            cg_steps: 3,
            threads: 2,
            seed: 42,
        }
    }
}

impl AlsParams {
    fn check(&self) -> Result<(), FitError> {
        let bad = |m: String| Err(FitError::Params(m));
        if self.factors == 0 || self.factors > 1024 {
            return bad(format!(
                "als factors must be 1..=1024 (got {})",
                self.factors
            ));
        }
        if self.iterations == 0 {
            return bad("als iterations must be at least 1".into());
        }
        if !(self.regularization.is_finite() && self.regularization > 0.0) {
            return bad(format!(
                "als regularization must be > 0 (got {})",
                self.regularization
            ));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return bad(format!("als alpha must be > 0 (got {})", self.alpha));
        }
        if self.cg_steps == 0 {
            return bad("als cg_steps must be at least 1".into());
        }
        Ok(())
    }
}

/// Fitted item factors, and what folding a user in needs.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorModel {
    ids: Vec<String>,
    /// foldhash: every history item of every request is looked up here.
    /// Inline keys: a lookup per history item at 1M items (docs/benchmarks.md).
    index: foldhash::HashMap<sommelier_types::IdKey, u32>,
    factors: usize,
    /// Item vectors, row-major (`ids.len() × factors`).
    items: Vec<f32>,
    /// `YᵀY + λI`, row-major (`factors × factors`).
    gram: Vec<f32>,
    /// Its Cholesky factor (lower triangle, row-major, f64): a history whose
    /// confidences are all 1 needs only two triangular solves.
    gram_factor: Vec<f64>,
    alpha: f32,
}

/// Fits iALS on every item with an interaction.
pub fn fit_als(data: &Interactions, p: &AlsParams) -> Result<FactorModel, FitError> {
    p.check()?;
    let seqs = data.sequences();
    let n_items = data.items().len();
    let f = p.factors;
    // Rows of both sides as CSR: users → items and items → users.
    let user_rows = Csr::from_rows(seqs);
    let item_rows = user_rows.transposed(n_items);
    let mut rng = p.seed.max(1);
    let mut init = |n: usize| -> Vec<f32> {
        (0..n * f)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (rng >> 40) as f32 / (1u64 << 24) as f32 * 0.01
            })
            .collect()
    };
    let mut users = init(seqs.len());
    let mut items = init(n_items);
    let threads = p.threads.max(1);
    for _ in 0..p.iterations {
        let g = gram(&items, f, p.regularization);
        solve_side(&mut users, &items, &user_rows, &g, f, p, threads);
        let g = gram(&users, f, p.regularization);
        solve_side(&mut items, &users, &item_rows, &g, f, p, threads);
    }
    if items.iter().any(|x| !x.is_finite()) {
        return Err(FitError::Numeric("als produced non-finite factors".into()));
    }
    let gram = gram(&items, f, p.regularization);
    let ids = data.items().to_vec();
    Ok(FactorModel::new(ids, f, items, gram, p.alpha))
}

/// Compressed rows of column indices.
struct Csr {
    offsets: Vec<usize>,
    cols: Vec<u32>,
}

impl Csr {
    fn from_rows(rows: &[Vec<u32>]) -> Self {
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        let mut cols = Vec::with_capacity(rows.iter().map(Vec::len).sum());
        offsets.push(0);
        for r in rows {
            cols.extend_from_slice(r);
            offsets.push(cols.len());
        }
        Self { offsets, cols }
    }

    fn transposed(&self, n_cols: usize) -> Self {
        let mut counts = vec![0usize; n_cols + 1];
        for &c in &self.cols {
            counts[c as usize + 1] += 1;
        }
        for i in 0..n_cols {
            counts[i + 1] += counts[i];
        }
        let offsets = counts.clone();
        let mut next = counts;
        let mut cols = vec![0u32; self.cols.len()];
        for row in 0..self.offsets.len() - 1 {
            for &c in &self.cols[self.offsets[row]..self.offsets[row + 1]] {
                cols[next[c as usize]] = row as u32;
                next[c as usize] += 1;
            }
        }
        Self { offsets, cols }
    }

    fn row(&self, i: usize) -> &[u32] {
        &self.cols[self.offsets[i]..self.offsets[i + 1]]
    }
}

/// `VᵀV + λI` of a row-major table with `f` columns.
fn gram(v: &[f32], f: usize, lambda: f32) -> Vec<f32> {
    let mut g = vec![0.0f64; f * f];
    for row in v.chunks_exact(f) {
        for (a, &x) in row.iter().enumerate() {
            if x == 0.0 {
                continue;
            }
            let x = f64::from(x);
            let ga = &mut g[a * f..(a + 1) * f];
            for (gb, &y) in ga.iter_mut().zip(row) {
                *gb += x * f64::from(y);
            }
        }
    }
    for a in 0..f {
        g[a * f + a] += f64::from(lambda);
    }
    g.into_iter().map(|x| x as f32).collect()
}

fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// `out = G v`.
fn mat_vec(g: &[f32], v: &[f32], out: &mut [f32]) {
    let f = v.len();
    for (a, o) in out.iter_mut().enumerate() {
        *o = dot(&g[a * f..(a + 1) * f], v);
    }
}

/// Solves every row of `target` against the fixed `other` side.
fn solve_side(
    target: &mut [f32],
    other: &[f32],
    rows: &Csr,
    g: &[f32],
    f: usize,
    p: &AlsParams,
    threads: usize,
) {
    let n = target.len() / f;
    let per = n.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (chunk, block) in target.chunks_mut(per * f).enumerate() {
            s.spawn(move || {
                let mut scratch = Scratch::new(f);
                for (k, x) in block.chunks_exact_mut(f).enumerate() {
                    let row = rows.row(chunk * per + k);
                    cg_row(x, other, row, g, f, p, &mut scratch);
                }
            });
        }
    });
}

struct Scratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
}

impl Scratch {
    fn new(f: usize) -> Self {
        Self {
            r: vec![0.0; f],
            p: vec![0.0; f],
            ap: vec![0.0; f],
        }
    }
}

/// A few conjugate-gradient steps on `(G + Σ (c−1) yyᵀ) x = Σ c y` over the
/// row's observed columns, from the current `x`.
fn cg_row(
    x: &mut [f32],
    other: &[f32],
    row: &[u32],
    g: &[f32],
    f: usize,
    p: &AlsParams,
    s: &mut Scratch,
) {
    let c = p.alpha;
    // r = b − A x
    mat_vec(g, x, &mut s.r);
    s.r.iter_mut().for_each(|v| *v = -*v);
    for &j in row {
        let y = &other[j as usize * f..(j as usize + 1) * f];
        axpy(&mut s.r, c - (c - 1.0) * dot(y, x), y);
    }
    s.p.copy_from_slice(&s.r);
    let mut rs_old = dot(&s.r, &s.r);
    for _ in 0..p.cg_steps {
        if rs_old < 1e-20 {
            break;
        }
        mat_vec(g, &s.p, &mut s.ap);
        if c != 1.0 {
            for &j in row {
                let y = &other[j as usize * f..(j as usize + 1) * f];
                axpy(&mut s.ap, (c - 1.0) * dot(y, &s.p), y);
            }
        }
        let step = rs_old / dot(&s.p, &s.ap);
        if !step.is_finite() {
            break;
        }
        axpy(x, step, &s.p);
        axpy(&mut s.r, -step, &s.ap);
        let rs_new = dot(&s.r, &s.r);
        let beta = rs_new / rs_old;
        for (pv, rv) in s.p.iter_mut().zip(&s.r) {
            *pv = rv + beta * *pv;
        }
        rs_old = rs_new;
    }
}

impl FactorModel {
    fn new(ids: Vec<String>, factors: usize, items: Vec<f32>, gram: Vec<f32>, alpha: f32) -> Self {
        let index = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (sommelier_types::IdKey::new(id), i as u32))
            .collect();
        let mut gram_factor: Vec<f64> = gram.iter().map(|&x| f64::from(x)).collect();
        if cholesky(&mut gram_factor, factors).is_none() {
            // Not positive definite (a corrupt file): every solve says so.
            gram_factor.fill(f64::NAN);
        }
        Self {
            ids,
            index,
            factors,
            items,
            gram,
            gram_factor,
            alpha,
        }
    }

    /// Items with a vector.
    pub fn items(&self) -> usize {
        self.ids.len()
    }

    /// Dimensions of the vectors.
    pub fn factors(&self) -> usize {
        self.factors
    }

    /// Every item with its vector, in model order.
    pub fn vectors(&self) -> impl Iterator<Item = (&str, &[f32])> {
        self.ids
            .iter()
            .map(String::as_str)
            .zip(self.items.chunks_exact(self.factors))
    }

    /// The vector of one item.
    pub fn item_vector(&self, item: &str) -> Option<&[f32]> {
        let i = *self.index.get(item)? as usize;
        Some(&self.items[i * self.factors..(i + 1) * self.factors])
    }

    /// The user vector of a history, solved exactly against the item factors:
    /// `(YᵀY + λI + Σ (c_h − 1) y_h y_hᵀ) x = Σ c_h y_h` with `c_h = alpha ×
    /// weight`. Items without a vector and non-positive weights are skipped;
    /// `None` when nothing is left.
    pub fn user_vector(&self, history: &[Weighted<'_>]) -> Option<Vec<f32>> {
        let f = self.factors;
        let mut b = vec![0.0f64; f];
        // Σ (c − 1) y yᵀ, only when some confidence is not 1.
        let mut extra: Option<Vec<f64>> = None;
        // Rows first, then each row touched in a short loop: at 1M items
        // every row is a cache miss, and this way they overlap instead of
        // each waiting for the arithmetic on the one before.
        let rows: Vec<(usize, f64)> = history
            .iter()
            .filter(|h| h.weight > 0.0)
            .filter_map(|h| {
                let i = *self.index.get(h.item)? as usize;
                Some((i, f64::from(self.alpha * h.weight)))
            })
            .collect();
        if rows.is_empty() {
            return None;
        }
        let touched = rows.iter().fold(0.0f32, |acc, &(i, _)| {
            acc + self.items[i * f] + self.items[(i + 1) * f - 1]
        });
        std::hint::black_box(touched);
        for &(i, c) in &rows {
            let y = &self.items[i * f..(i + 1) * f];
            for (bi, &yi) in b.iter_mut().zip(y) {
                *bi += c * f64::from(yi);
            }
            if c != 1.0 {
                let a = extra.get_or_insert_with(|| vec![0.0; f * f]);
                for (i, &yi) in y.iter().enumerate() {
                    let s = (c - 1.0) * f64::from(yi);
                    for (aij, &yj) in a[i * f..(i + 1) * f].iter_mut().zip(y) {
                        *aij += s * f64::from(yj);
                    }
                }
            }
        }
        match extra {
            None => triangular_solves(&self.gram_factor, &mut b, f),
            Some(mut a) => {
                for (x, g) in a.iter_mut().zip(&self.gram) {
                    *x += f64::from(*g);
                }
                cholesky(&mut a, f)?;
                triangular_solves(&a, &mut b, f);
            }
        }
        Some(b.into_iter().map(|x| x as f32).collect())
    }

    /// Scores every item for the history (its own items left out) and returns
    /// the best `n` with a positive score, ties by id.
    pub fn score(&self, history: &[Weighted<'_>], n: usize) -> Vec<(String, f64)> {
        match self.user_vector(history) {
            Some(x) => self.score_vector(&x, history, n),
            None => Vec::new(),
        }
    }

    /// [`FactorModel::score`] for a user vector already folded in from
    /// `history` (whose items are left out).
    pub fn score_vector(
        &self,
        x: &[f32],
        history: &[Weighted<'_>],
        n: usize,
    ) -> Vec<(String, f64)> {
        let own: std::collections::HashSet<u32> = history
            .iter()
            .filter_map(|h| self.index.get(h.item).copied())
            .collect();
        let mut scored: Vec<(u32, f32)> = self
            .items
            .chunks_exact(self.factors)
            .enumerate()
            .map(|(i, y)| (i as u32, dot(y, x)))
            .filter(|(i, s)| *s > 0.0 && !own.contains(i))
            .collect();
        let by = |a: &(u32, f32), b: &(u32, f32)| {
            b.1.total_cmp(&a.1)
                .then_with(|| self.ids[a.0 as usize].cmp(&self.ids[b.0 as usize]))
        };
        if scored.len() > n && n > 0 {
            scored.select_nth_unstable_by(n - 1, by);
        }
        scored.truncate(n);
        scored.sort_by(by);
        scored
            .into_iter()
            .map(|(i, s)| (self.ids[i as usize].clone(), f64::from(s)))
            .collect()
    }

    /// Writes the model to `path` (a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        binfile::write_atomically(path, MAGIC, |w| {
            w.write_all(&(self.ids.len() as u64).to_le_bytes())?;
            w.write_all(&(self.factors as u64).to_le_bytes())?;
            w.write_all(&self.alpha.to_le_bytes())?;
            binfile::write_ids(w, &self.ids)?;
            for x in self.items.iter().chain(&self.gram) {
                w.write_all(&x.to_le_bytes())?;
            }
            Ok(())
        })
    }

    /// Reads a model [`save`](Self::save) wrote.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let bad = |m: &str| binfile::invalid(path, m);
        let mut r = binfile::open(path, MAGIC, "an ALS model file")?;
        let n = binfile::read_u64(&mut r)? as usize;
        let f = binfile::read_u64(&mut r)? as usize;
        if f == 0 || f > 1024 || n > 1 << 32 {
            return Err(bad("implausible sizes"));
        }
        let mut u32b = [0u8; 4];
        r.read_exact(&mut u32b)?;
        let alpha = f32::from_le_bytes(u32b);
        let ids = binfile::read_ids(&mut r, n, path)?;
        let mut floats = vec![0u8; (n * f + f * f) * 4];
        r.read_exact(&mut floats)?;
        let mut all: Vec<f32> = floats
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if r.read(&mut [0u8; 1])? != 0 {
            return Err(bad("trailing bytes"));
        }
        let gram = all.split_off(n * f);
        Ok(Self::new(ids, f, all, gram, alpha))
    }
}

const MAGIC: &[u8; 8] = b"SMLALS01";

/// Overwrites the lower triangle of a symmetric positive definite `A`
/// (row-major, `f × f`) with its Cholesky factor `L` (`A = L Lᵀ`); `None`
/// when `A` is not positive definite.
fn cholesky(a: &mut [f64], f: usize) -> Option<()> {
    for j in 0..f {
        let mut d = a[j * f + j];
        for k in 0..j {
            d -= a[j * f + k] * a[j * f + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * f + j] = d;
        for i in j + 1..f {
            let mut s = a[i * f + j];
            for k in 0..j {
                s -= a[i * f + k] * a[j * f + k];
            }
            a[i * f + j] = s / d;
        }
    }
    Some(())
}

/// Solves `L Lᵀ x = b` in place (`b` becomes `x`) with the factor from
/// [`cholesky`].
fn triangular_solves(a: &[f64], b: &mut [f64], f: usize) {
    // L y = b, then Lᵀ x = y.
    for i in 0..f {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * f + k] * b[k];
        }
        b[i] = s / a[i * f + i];
    }
    for i in (0..f).rev() {
        let mut s = b[i];
        for k in i + 1..f {
            s -= a[k * f + i] * b[k];
        }
        b[i] = s / a[i * f + i];
    }
}

#[cfg(test)]
mod tests;
