//! Small dense linear algebra for least squares: Householder QR with column pivoting, the
//! triangular solves built on it, and singular values of a small square matrix (one-sided
//! Jacobi). Least squares goes through QR, never the normal equations, which square the
//! condition number.
//!
//! Matrices are column-major `Vec<f64>` with explicit row and column counts.

// Index loops mirror the textbook algorithms; iterator chains would hide the subscripts.
#![allow(clippy::needless_range_loop)]

/// `X P = Q R` for an `n × p` matrix `X` (`n ≥ p`), Householder vectors stored below `R`.
#[derive(Debug, Clone)]
pub(crate) struct Qr {
    n: usize,
    p: usize,
    /// Column-major `n × p`: `R` on and above the diagonal, Householder vectors below.
    a: Vec<f64>,
    /// Householder scalars.
    tau: Vec<f64>,
    /// Column `j` of `R` is column `perm[j]` of `X`.
    pub(crate) perm: Vec<usize>,
    /// Columns judged independent (the leading `rank` of the pivoted order).
    pub(crate) rank: usize,
}

impl Qr {
    /// Factorises `x` (column-major, `n × p`). Columns whose remaining norm is below
    /// `rel_tol × ` the largest column norm count as dependent.
    pub(crate) fn new(x: &[f64], n: usize, p: usize, rel_tol: f64) -> Qr {
        Qr::from_vec(x.to_vec(), n, p, rel_tol)
    }

    /// [`Qr::new`], factorising `a` in place.
    pub(crate) fn from_vec(mut a: Vec<f64>, n: usize, p: usize, rel_tol: f64) -> Qr {
        assert_eq!(a.len(), n * p);
        assert!(n >= p, "least squares needs at least as many rows as columns");
        let mut perm: Vec<usize> = (0..p).collect();
        let mut tau = vec![0.0; p];
        let mut norms: Vec<f64> = (0..p).map(|j| col_norm(&a, n, j, 0)).collect();
        let max_norm = norms.iter().cloned().fold(0.0, f64::max);
        let mut rank = p;
        for k in 0..p {
            // pivot: the remaining column with the largest norm (recomputed: exact, p is small)
            for j in k..p {
                norms[j] = col_norm(&a, n, j, k);
            }
            let (best, &best_norm) =
                norms.iter().enumerate().skip(k).max_by(|x, y| x.1.total_cmp(y.1)).expect("k < p");
            if best != k {
                for i in 0..n {
                    a.swap(i + k * n, i + best * n);
                }
                perm.swap(k, best);
                norms.swap(k, best);
            }
            if best_norm <= rel_tol * max_norm || best_norm == 0.0 {
                rank = rank.min(k);
                tau[k] = 0.0;
                continue;
            }
            // Householder reflector for a[k.., k]
            let alpha = a[k + k * n];
            let beta_v = if alpha >= 0.0 { -best_norm } else { best_norm };
            tau[k] = (beta_v - alpha) / beta_v;
            let scale = 1.0 / (alpha - beta_v);
            for x in &mut a[k * n + k + 1..(k + 1) * n] {
                *x *= scale;
            }
            a[k + k * n] = beta_v;
            // apply to the remaining columns: c -= tau v (v' c), v = [1, a[k+1.., k]]; over
            // slices, not indices (no bounds checks in the loops), in the same order of sums
            let (done, rest) = a.split_at_mut((k + 1) * n);
            let v = &done[k * n + k + 1..];
            for c in rest.chunks_exact_mut(n) {
                let mut dot = c[k];
                for (x, y) in v.iter().zip(&c[k + 1..]) {
                    dot += x * y;
                }
                dot *= tau[k];
                c[k] -= dot;
                for (y, x) in c[k + 1..].iter_mut().zip(v) {
                    *y -= dot * x;
                }
            }
        }
        Qr { n, p, a, tau, perm, rank }
    }

    pub(crate) fn r(&self, i: usize, j: usize) -> f64 {
        self.a[i + j * self.n]
    }

    /// `Qᵀ y`.
    pub(crate) fn qt(&self, y: &[f64]) -> Vec<f64> {
        let n = self.n;
        let mut v = y.to_vec();
        for k in 0..self.p {
            if self.tau[k] == 0.0 {
                continue;
            }
            let col = &self.a[k * n + k + 1..(k + 1) * n];
            let mut dot = v[k];
            for (x, y) in col.iter().zip(&v[k + 1..]) {
                dot += x * y;
            }
            dot *= self.tau[k];
            v[k] -= dot;
            for (y, x) in v[k + 1..].iter_mut().zip(col) {
                *y -= dot * x;
            }
        }
        v
    }

    /// Least-squares solution of `X b ≈ y`; coefficients of dependent columns are 0.
    pub(crate) fn solve(&self, y: &[f64]) -> Vec<f64> {
        let qty = self.qt(y);
        let r = self.rank;
        let mut z = vec![0.0; r];
        for i in (0..r).rev() {
            let mut s = qty[i];
            for j in i + 1..r {
                s -= self.r(i, j) * z[j];
            }
            z[i] = s / self.r(i, i);
        }
        let mut b = vec![0.0; self.p];
        for (j, zj) in z.iter().enumerate() {
            b[self.perm[j]] = *zj;
        }
        b
    }

    /// `‖R⁻ᵀ Pᵀ x‖²`, which is `xᵀ (XᵀX)⁻¹ x` on the independent columns.
    pub(crate) fn quad_form(&self, x: &[f64]) -> f64 {
        let r = self.rank;
        let mut w = vec![0.0; r];
        for i in 0..r {
            let mut s = x[self.perm[i]];
            for (k, wk) in w.iter().enumerate().take(i) {
                s -= self.r(k, i) * wk;
            }
            w[i] = s / self.r(i, i);
        }
        w.iter().map(|v| v * v).sum()
    }

    /// Keeps only `R` (the upper triangle of the leading `p` rows): enough for [`Qr::quad_form`],
    /// no longer for solving. A fitted model kept between cycles needs `p²` numbers, not `n·p`.
    pub(crate) fn keep_r(&mut self) {
        let (n, p) = (self.n, self.p);
        let mut a = vec![0.0; p * p];
        for j in 0..p {
            for i in 0..=j.min(n.saturating_sub(1)) {
                a[i + j * p] = self.a[i + j * n];
            }
        }
        self.a = a;
        self.n = p;
        self.tau = Vec::new();
    }

    /// The leading `rank × rank` block of `R`, column-major.
    pub(crate) fn r_block(&self) -> Vec<f64> {
        let r = self.rank;
        let mut m = vec![0.0; r * r];
        for j in 0..r {
            for i in 0..=j {
                m[i + j * r] = self.r(i, j);
            }
        }
        m
    }
}

#[cfg(test)]
/// Least squares through the normal equations and a Cholesky factorisation: about five times
/// cheaper than QR for tall matrices, but it squares the condition number. Only for inner loops
/// whose answer is polished by [`Qr`] afterwards; `None` when `XᵀX` is not positive definite.
pub(crate) fn solve_normal(x: &[f64], n: usize, p: usize, y: &[f64]) -> Option<Vec<f64>> {
    let mut g = vec![0.0; p * p];
    let mut rhs = vec![0.0; p];
    for j in 0..p {
        let cj = &x[j * n..(j + 1) * n];
        rhs[j] = cj.iter().zip(y).map(|(a, b)| a * b).sum();
        for i in 0..=j {
            let ci = &x[i * n..(i + 1) * n];
            g[i + j * p] = ci.iter().zip(cj).map(|(a, b)| a * b).sum();
        }
    }
    cholesky_solve(&mut g, rhs, p)
}

/// `XᵀX` (upper triangle) and `Xᵀy` built one row of `X` at a time, for a caller that makes the
/// rows one by one. The sums run over the rows in order, as in `solve_normal` (the plain solve the tests hold it to), so the answer is
/// the same bit for bit; but the `p(p+1)/2` sums of a row are independent, so they vectorise.
#[derive(Debug, Clone, Default)]
pub(crate) struct NormalEquations {
    p: usize,
    gram: Vec<f64>,
    rhs: Vec<f64>,
}

impl NormalEquations {
    /// Starts over for `p` columns (keeping the buffers).
    pub(crate) fn reset(&mut self, p: usize) {
        self.p = p;
        // `Sum for f64` starts from −0.0; so do these sums
        self.gram.clear();
        self.gram.resize(p * p, -0.0);
        self.rhs.clear();
        self.rhs.resize(p, -0.0);
    }

    /// Adds the row `x` (length `p`) with the observation `y`.
    pub(crate) fn add_row(&mut self, x: &[f64], y: f64) {
        let p = self.p;
        for (j, &xj) in x.iter().enumerate() {
            self.rhs[j] += xj * y;
            for (g, &xi) in self.gram[j * p..j * p + j + 1].iter_mut().zip(x) {
                *g += xi * xj;
            }
        }
    }

    /// The least-squares solution, as `solve_normal` gives it; `None` when `XᵀX` is not
    /// positive definite.
    pub(crate) fn solve(&mut self) -> Option<Vec<f64>> {
        cholesky_solve(&mut self.gram, self.rhs.clone(), self.p)
    }

    /// The solution with `rel` times the mean diagonal added to the diagonal (a light ridge, for
    /// columns that are nearly dependent on short data), leaving the sums as they are.
    pub(crate) fn solve_ridge(&self, rel: f64) -> Option<Vec<f64>> {
        let p = self.p;
        let mut g = self.gram.clone();
        let mean_diag = (0..p).map(|j| g[j * p + j]).sum::<f64>() / p.max(1) as f64;
        for j in 0..p {
            g[j * p + j] += rel * mean_diag;
        }
        cholesky_solve(&mut g, self.rhs.clone(), p)
    }
}

/// Solves `G b = rhs` for the symmetric `G` given by its upper triangle (column-major, `p × p`),
/// by Cholesky; `G` is overwritten. `None` when `G` is not positive definite.
fn cholesky_solve(g: &mut [f64], rhs: Vec<f64>, p: usize) -> Option<Vec<f64>> {
    // Cholesky: G = Lᵀ L stored in the upper triangle
    for j in 0..p {
        let diag = g[j + j * p];
        let mut d = diag;
        for k in 0..j {
            d -= g[k + j * p] * g[k + j * p];
        }
        // what is left of the column must not be rounding noise
        if d <= 1e-12 * diag || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        g[j + j * p] = d;
        for i in j + 1..p {
            let mut v = g[j + i * p];
            for k in 0..j {
                v -= g[k + j * p] * g[k + i * p];
            }
            g[j + i * p] = v / d;
        }
    }
    // solve Uᵀ z = rhs, then U b = z
    let mut z = rhs;
    for i in 0..p {
        for k in 0..i {
            z[i] -= g[k + i * p] * z[k];
        }
        z[i] /= g[i + i * p];
    }
    for i in (0..p).rev() {
        for k in i + 1..p {
            z[i] -= g[i + k * p] * z[k];
        }
        z[i] /= g[i + i * p];
    }
    Some(z)
}

fn col_norm(a: &[f64], n: usize, j: usize, from: usize) -> f64 {
    // scaled to avoid overflow and underflow
    let col = &a[j * n + from..j * n + n];
    let scale = col.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if scale == 0.0 {
        return 0.0;
    }
    scale * col.iter().map(|v| (v / scale) * (v / scale)).sum::<f64>().sqrt()
}

/// Singular values of a small square matrix (column-major, `p × p`), largest first, by one-sided
/// Jacobi rotations.
pub(crate) fn singular_values(m: &[f64], p: usize) -> Vec<f64> {
    let mut a = m.to_vec();
    for _sweep in 0..60 {
        let mut off = 0.0f64;
        for i in 0..p {
            for j in i + 1..p {
                let (mut alpha, mut beta, mut gamma) = (0.0, 0.0, 0.0);
                for k in 0..p {
                    let (x, y) = (a[k + i * p], a[k + j * p]);
                    alpha += x * x;
                    beta += y * y;
                    gamma += x * y;
                }
                if gamma == 0.0 {
                    continue;
                }
                off = off.max(gamma.abs() / (alpha * beta).sqrt());
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let t = if zeta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                for k in 0..p {
                    let (x, y) = (a[k + i * p], a[k + j * p]);
                    a[k + i * p] = c * x - s * y;
                    a[k + j * p] = s * x + c * y;
                }
            }
        }
        if off < 1e-15 {
            break;
        }
    }
    let mut sv: Vec<f64> = (0..p).map(|j| col_norm(&a, p, j, 0)).collect();
    sv.sort_by(|x, y| y.total_cmp(x));
    sv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn solves_an_exact_system() {
        // x = [[1,1],[1,2],[1,3]] col-major; y = 1 + 2t
        let x = [1.0, 1.0, 1.0, 1.0, 2.0, 3.0];
        let q = Qr::new(&x, 3, 2, 1e-12);
        let b = q.solve(&[3.0, 5.0, 7.0]);
        assert!(close(b[0], 1.0, 1e-14) && close(b[1], 2.0, 1e-14), "{b:?}");
        assert_eq!(q.rank, 2);
    }

    #[test]
    fn least_squares_and_quadratic_form_by_hand() {
        // y = [1, 2, 2, 4] on t = 0..3 with intercept: slope 0.9, intercept 0.9
        let x = [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 2.0, 3.0];
        let q = Qr::new(&x, 4, 2, 1e-12);
        let b = q.solve(&[1.0, 2.0, 2.0, 4.0]);
        assert!(close(b[0], 0.9, 1e-14) && close(b[1], 0.9, 1e-14), "{b:?}");
        // (XᵀX)⁻¹ = [[7, -3], [-3, 2]] / 10 ; x0 = (1, 4): (7 - 24 + 32)/10 = 1.5
        assert!(close(q.quad_form(&[1.0, 4.0]), 1.5, 1e-14));
    }

    #[test]
    fn detects_a_dependent_column() {
        // third column = first + second
        let x = [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0];
        let q = Qr::new(&x, 4, 3, 1e-10);
        assert_eq!(q.rank, 2);
        let b = q.solve(&[1.0, 3.0, 5.0, 7.0]);
        // fitted values still exact
        for (i, y) in [1.0, 3.0, 5.0, 7.0].iter().enumerate() {
            let fit = b[0] * x[i] + b[1] * x[4 + i] + b[2] * x[8 + i];
            assert!(close(fit, *y, 1e-12));
        }
    }

    #[test]
    fn normal_equations_agree_with_qr_on_a_well_conditioned_problem() {
        let x = [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 2.0, 3.0];
        let b = solve_normal(&x, 4, 2, &[1.0, 2.0, 2.0, 4.0]).unwrap();
        assert!(close(b[0], 0.9, 1e-13) && close(b[1], 0.9, 1e-13), "{b:?}");
        assert!(solve_normal(&[1.0, 1.0, 2.0, 2.0], 2, 2, &[1.0, 2.0]).is_none(), "singular");
    }

    #[test]
    fn normal_equations_by_row_match_solve_normal_bit_for_bit() {
        let mut rng = fastrand::Rng::with_seed(3);
        let (n, p) = (40, 5);
        let x: Vec<f64> = (0..n * p).map(|_| rng.f64() * 10.0 - 5.0).collect();
        let y: Vec<f64> = (0..n).map(|_| rng.f64()).collect();
        let mut ne = NormalEquations::default();
        ne.reset(p);
        for t in 0..n {
            let row: Vec<f64> = (0..p).map(|j| x[t + j * n]).collect();
            ne.add_row(&row, y[t]);
        }
        let got = ne.solve().unwrap();
        let want = solve_normal(&x, n, p, &y).unwrap();
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        // a repeated column is singular either way
        ne.reset(2);
        for t in 0..n {
            ne.add_row(&[x[t], x[t]], y[t]);
        }
        assert!(ne.solve().is_none());
    }

    #[test]
    fn singular_values_by_hand() {
        // diag(3, 1) rotated: singular values 3 and 1
        let (c, s) = (0.6f64, 0.8f64);
        let m = [3.0 * c, 3.0 * s, -s, c];
        let sv = singular_values(&m, 2);
        assert!(close(sv[0], 3.0, 1e-14) && close(sv[1], 1.0, 1e-14), "{sv:?}");
    }
}
