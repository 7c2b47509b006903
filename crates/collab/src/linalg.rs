//! The dense linear algebra EASE needs: a row-major matrix, a checked matrix
//! product on `gemm`, and the inverse of a symmetric positive-definite matrix by
//! recursive 2×2 blocking, so that nearly all the work is matrix products.

use gemm::Parallelism;

/// A dense row-major `f32` matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Mat {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `rows × cols` values, row after row.
    pub data: Vec<f32>,
}

impl Mat {
    /// An all-zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Element `(i, j)`.
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.cols + j]
    }

    /// Mutable element `(i, j)`.
    pub fn at_mut(&mut self, i: usize, j: usize) -> &mut f32 {
        &mut self.data[i * self.cols + j]
    }

    /// Copy of the block of `rows × cols` starting at `(r0, c0)`.
    pub fn block(&self, r0: usize, c0: usize, rows: usize, cols: usize) -> Mat {
        let mut out = Mat::zeros(rows, cols);
        for i in 0..rows {
            let src = (r0 + i) * self.cols + c0;
            out.data[i * cols..(i + 1) * cols].copy_from_slice(&self.data[src..src + cols]);
        }
        out
    }

    /// Writes `b` at `(r0, c0)`.
    pub fn set_block(&mut self, r0: usize, c0: usize, b: &Mat) {
        for i in 0..b.rows {
            let dst = (r0 + i) * self.cols + c0;
            self.data[dst..dst + b.cols].copy_from_slice(&b.data[i * b.cols..(i + 1) * b.cols]);
        }
    }

    /// The transpose.
    pub fn transposed(&self) -> Mat {
        let mut out = Mat::zeros(self.cols, self.rows);
        for i in 0..self.rows {
            for j in 0..self.cols {
                out.data[j * self.rows + i] = self.data[i * self.cols + j];
            }
        }
        out
    }
}

/// How a product treats an operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// As stored.
    N,
    /// Transposed.
    T,
}

/// `dst = beta·dst + alpha·op(a)·op(b)`, on `threads` threads.
///
/// # Panics
/// When the shapes do not agree.
#[allow(unsafe_code)]
pub fn gemm_into(
    dst: &mut Mat,
    beta: f32,
    alpha: f32,
    (a, oa): (&Mat, Op),
    (b, ob): (&Mat, Op),
    threads: usize,
) {
    let (m, ka) = match oa {
        Op::N => (a.rows, a.cols),
        Op::T => (a.cols, a.rows),
    };
    let (kb, n) = match ob {
        Op::N => (b.rows, b.cols),
        Op::T => (b.cols, b.rows),
    };
    assert_eq!(ka, kb, "inner dimensions of a matrix product");
    assert_eq!(
        (dst.rows, dst.cols),
        (m, n),
        "shape of a product's destination"
    );
    assert_eq!(a.data.len(), a.rows * a.cols, "left operand size");
    assert_eq!(b.data.len(), b.rows * b.cols, "right operand size");
    assert_eq!(dst.data.len(), m * n, "destination size");
    if m == 0 || n == 0 {
        return;
    }
    if ka == 0 {
        dst.data.iter_mut().for_each(|x| *x *= beta);
        return;
    }
    // Column and row strides of op(X) for a row-major X.
    let strides = |x: &Mat, o: Op| -> (isize, isize) {
        match o {
            Op::N => (1, x.cols as isize),
            Op::T => (x.cols as isize, 1),
        }
    };
    let (a_cs, a_rs) = strides(a, oa);
    let (b_cs, b_rs) = strides(b, ob);
    let parallelism = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the assertions above check that each slice holds exactly the
    // elements its strides address: op(a) is m×k, op(b) is k×n and dst is m×n,
    // all row-major in their owners. `dst` is a unique borrow, so it cannot
    // overlap `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            ka,
            dst.data.as_mut_ptr(),
            1,
            n as isize,
            beta != 0.0,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            beta,
            alpha,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Below this size the inverse is a plain Gauss–Jordan elimination in `f64`.
const LEAF: usize = 96;

/// The inverse of a symmetric positive-definite matrix.
///
/// Splits `M = [[A, B], [Bᵀ, D]]`: with `W = A⁻¹B` and the Schur complement
/// `S = D − BᵀW` (itself SPD), `M⁻¹ = [[A⁻¹ + W S⁻¹ Wᵀ, −W S⁻¹], [·ᵀ, S⁻¹]]`.
/// About 1.3·n³ flops, almost all in [`gemm_into`]. No pivoting is needed for an
/// SPD matrix; an error names the pivot that was not positive otherwise.
pub fn spd_inverse(m: &Mat, threads: usize) -> Result<Mat, String> {
    assert_eq!(m.rows, m.cols, "inverse of a non-square matrix");
    let n = m.rows;
    if n <= LEAF {
        return leaf_inverse(m);
    }
    let h = n / 2;
    let r = n - h;
    let a = m.block(0, 0, h, h);
    let b = m.block(0, h, h, r);
    let ai = spd_inverse(&a, threads)?;
    drop(a);
    let mut w = Mat::zeros(h, r);
    gemm_into(&mut w, 0.0, 1.0, (&ai, Op::N), (&b, Op::N), threads);
    let mut s = m.block(h, h, r, r);
    gemm_into(&mut s, 1.0, -1.0, (&b, Op::T), (&w, Op::N), threads);
    drop(b);
    symmetrize(&mut s);
    let si = spd_inverse(&s, threads)?;
    drop(s);
    // ws = W S⁻¹ (h×r)
    let mut ws = Mat::zeros(h, r);
    gemm_into(&mut ws, 0.0, 1.0, (&w, Op::N), (&si, Op::N), threads);
    // top-left = A⁻¹ + (W S⁻¹) Wᵀ
    let mut tl = ai;
    gemm_into(&mut tl, 1.0, 1.0, (&ws, Op::N), (&w, Op::T), threads);
    drop(w);
    symmetrize(&mut tl);
    let mut out = Mat::zeros(n, n);
    out.set_block(0, 0, &tl);
    drop(tl);
    ws.data.iter_mut().for_each(|x| *x = -*x);
    out.set_block(0, h, &ws);
    out.set_block(h, 0, &ws.transposed());
    out.set_block(h, h, &si);
    Ok(out)
}

fn symmetrize(m: &mut Mat) {
    let n = m.rows;
    for i in 0..n {
        for j in i + 1..n {
            let v = 0.5 * (m.at(i, j) + m.at(j, i));
            *m.at_mut(i, j) = v;
            *m.at_mut(j, i) = v;
        }
    }
}

fn leaf_inverse(m: &Mat) -> Result<Mat, String> {
    let n = m.rows;
    let w = 2 * n;
    // [M | I] in f64, reduced to [I | M⁻¹].
    let mut t = vec![0f64; n * w];
    for i in 0..n {
        for j in 0..n {
            t[i * w + j] = f64::from(m.at(i, j));
        }
        t[i * w + n + i] = 1.0;
    }
    for p in 0..n {
        let pivot = t[p * w + p];
        if pivot.is_nan() || pivot <= 0.0 {
            return Err(format!(
                "the matrix is not positive definite (pivot {p} is {pivot})"
            ));
        }
        for x in &mut t[p * w..(p + 1) * w] {
            *x /= pivot;
        }
        let row: Vec<f64> = t[p * w..(p + 1) * w].to_vec();
        for i in 0..n {
            if i == p {
                continue;
            }
            let f = t[i * w + p];
            if f == 0.0 {
                continue;
            }
            for (x, r) in t[i * w..(i + 1) * w].iter_mut().zip(&row) {
                *x -= f * r;
            }
        }
    }
    let mut out = Mat::zeros(n, n);
    for i in 0..n {
        for j in 0..n {
            out.data[i * n + j] = t[i * w + n + j] as f32;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_spd(n: usize, seed: u64) -> Mat {
        // A deterministic pseudo-random X; M = XᵀX + n·I is SPD.
        let mut s = seed;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let mut x = Mat::zeros(n, n);
        x.data.iter_mut().for_each(|v| *v = next());
        let mut m = Mat::zeros(n, n);
        gemm_into(&mut m, 0.0, 1.0, (&x, Op::T), (&x, Op::N), 1);
        for i in 0..n {
            *m.at_mut(i, i) += 1.0;
        }
        m
    }

    fn max_identity_error(m: &Mat, inv: &Mat) -> f32 {
        let n = m.rows;
        let mut p = Mat::zeros(n, n);
        gemm_into(&mut p, 0.0, 1.0, (m, Op::N), (inv, Op::N), 2);
        let mut worst = 0f32;
        for i in 0..n {
            for j in 0..n {
                let want = if i == j { 1.0 } else { 0.0 };
                worst = worst.max((p.at(i, j) - want).abs());
            }
        }
        worst
    }

    #[test]
    fn products_agree_with_a_naive_loop_for_every_transpose() {
        let a = Mat {
            rows: 2,
            cols: 3,
            data: vec![1., 2., 3., 4., 5., 6.],
        };
        let b = Mat {
            rows: 3,
            cols: 2,
            data: vec![7., 8., 9., 10., 11., 12.],
        };
        let mut c = Mat::zeros(2, 2);
        gemm_into(&mut c, 0.0, 1.0, (&a, Op::N), (&b, Op::N), 1);
        assert_eq!(c.data, vec![58., 64., 139., 154.]);
        let mut c2 = Mat::zeros(2, 2);
        gemm_into(&mut c2, 0.0, 1.0, (&b, Op::T), (&a, Op::T), 1);
        assert_eq!(c2.data, vec![58., 139., 64., 154.]);
        let mut c3 = Mat {
            rows: 2,
            cols: 2,
            data: vec![1., 1., 1., 1.],
        };
        gemm_into(&mut c3, 1.0, -1.0, (&a, Op::N), (&a, Op::T), 1);
        assert_eq!(c3.data, vec![1. - 14., 1. - 32., 1. - 32., 1. - 77.]);
    }

    #[test]
    fn the_inverse_times_the_matrix_is_the_identity() {
        for n in [1, 5, 96, 97, 250, 401] {
            let m = random_spd(n, n as u64);
            let inv = spd_inverse(&m, 2).unwrap();
            let err = max_identity_error(&m, &inv);
            assert!(err < 1e-3, "n={n}: |M·M⁻¹ − I| = {err}");
        }
    }

    #[test]
    fn a_matrix_that_is_not_positive_definite_is_refused() {
        let m = Mat {
            rows: 2,
            cols: 2,
            data: vec![1., 2., 2., 1.],
        };
        assert!(
            spd_inverse(&m, 1)
                .unwrap_err()
                .contains("not positive definite")
        );
    }
}
