//! Ordinary least squares with inference: coefficients by Householder QR on column-scaled data
//! (never the normal equations), rank and conditioning checks, and the 95 % (or any level)
//! confidence interval of the mean and prediction interval of a new observation with Student's
//! t at n − p degrees of freedom, as statsmodels' `get_prediction().summary_frame()` gives them.
//!
//! Pure: plain data in, plain data out.

use crate::stats::linalg::{singular_values, Qr};

/// Columns whose scaled norm is this small relative to the largest are dependent.
const RANK_TOL: f64 = 1e-10;
/// Above this condition number (of the column-scaled design) a fit is flagged as ill-conditioned.
pub(crate) const HIGH_CONDITION: f64 = 1e8;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OlsError {
    #[error("{n} observations for {p} parameters: need at least p + 1")]
    TooFew { n: usize, p: usize },
    #[error("the data hold a value that is not a finite number")]
    NotFinite,
}

/// A fitted model.
#[derive(Debug, Clone)]
pub struct Ols {
    /// One per column of the design; 0 for a dependent column.
    pub coef: Vec<f64>,
    pub(crate) n: usize,
    /// Columns in the design.
    pub(crate) p: usize,
    /// Independent columns (the parameters actually estimated).
    pub(crate) rank: usize,
    /// Columns left out as linear combinations of others (dummy trap, constant features).
    pub(crate) dependent: Vec<usize>,
    pub(crate) df_resid: usize,
    pub(crate) rss: f64,
    /// `rss / df_resid`.
    pub sigma2: f64,
    pub r2: f64,
    pub adj_r2: f64,
    /// `sqrt(rss / n)`, in the target's unit.
    pub(crate) rmse: f64,
    /// Ratio of the largest to the smallest singular value of the column-scaled design.
    pub condition_number: f64,
    pub(crate) residuals: Vec<f64>,
    qr: Qr,
    scale: Vec<f64>,
    x: Vec<f64>,
}

/// Mean and bands for one new row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub mean: f64,
    pub(crate) mean_se: f64,
    /// Standard error of one new observation: `√(σ²(1 + h))`.
    pub(crate) obs_se: f64,
    pub mean_ci_lower: f64,
    pub mean_ci_upper: f64,
    pub obs_ci_lower: f64,
    pub obs_ci_upper: f64,
}

/// Fits `y ≈ X b`. `x` is column-major `n × p` and should contain the intercept column.
pub fn fit(x: &[f64], n: usize, p: usize, y: &[f64]) -> Result<Ols, OlsError> {
    fit_owned(x.to_vec(), n, p, y)
}

/// [`fit`], given the design to keep (no copy of it is made: a model's fit holds the design
/// once, beside its factorisation).
fn fit_owned(x: Vec<f64>, n: usize, p: usize, y: &[f64]) -> Result<Ols, OlsError> {
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return Err(OlsError::NotFinite);
    }
    if n < p + 1 {
        return Err(OlsError::TooFew { n, p });
    }
    // Scale every column to unit norm: the condition number drops by orders of magnitude.
    let scale: Vec<f64> = (0..p)
        .map(|j| {
            let s = x[j * n..(j + 1) * n].iter().map(|v| v * v).sum::<f64>().sqrt();
            if s > 0.0 {
                s
            } else {
                1.0
            }
        })
        .collect();
    // The scaled design is factorised in place; where it is needed again below, an entry is
    // scaled again (the same division, so the same number).
    let xs = |i: usize, j: usize| x[i + j * n] / scale[j];
    let scaled = (0..p).flat_map(|j| (0..n).map(move |i| xs(i, j))).collect();
    let qr = Qr::from_vec(scaled, n, p, RANK_TOL);
    let mut bs = qr.solve(y);
    // One step of iterative refinement: solve for the correction from the residuals (worth a
    // digit or two on ill-conditioned designs such as Longley's).
    let resid: Vec<f64> = (0..n).map(|i| y[i] - (0..p).map(|j| xs(i, j) * bs[j]).sum::<f64>()).collect();
    for (b, d) in bs.iter_mut().zip(qr.solve(&resid)) {
        *b += d;
    }
    let coef: Vec<f64> = bs.iter().zip(&scale).map(|(b, s)| b / s).collect();
    let rank = qr.rank;
    let dependent: Vec<usize> = qr.perm[rank..].to_vec();
    let fitted: Vec<f64> = (0..n).map(|i| (0..p).map(|j| xs(i, j) * bs[j]).sum()).collect();
    let residuals: Vec<f64> = y.iter().zip(&fitted).map(|(a, b)| a - b).collect();
    let rss: f64 = residuals.iter().map(|r| r * r).sum();
    let df_resid = n - rank;
    let has_const = (0..p).any(|j| {
        let c = &x[j * n..(j + 1) * n];
        c[0] != 0.0 && c.iter().all(|v| *v == c[0])
    });
    let mean = y.iter().sum::<f64>() / n as f64;
    let tss: f64 =
        if has_const { y.iter().map(|v| (v - mean).powi(2)).sum() } else { y.iter().map(|v| v * v).sum() };
    let r2 = if tss > 0.0 { 1.0 - rss / tss } else { 0.0 };
    let k_const = usize::from(has_const);
    let adj_r2 = 1.0 - (n - k_const) as f64 / df_resid as f64 * (1.0 - r2);
    let sv = singular_values(&qr.r_block(), rank);
    let condition_number = match (sv.first(), sv.last()) {
        (Some(a), Some(b)) if *b > 0.0 => a / b,
        _ => f64::INFINITY,
    };
    Ok(Ols {
        coef,
        n,
        p,
        rank,
        dependent,
        df_resid,
        rss,
        sigma2: rss / df_resid as f64,
        r2,
        adj_r2,
        rmse: (rss / n as f64).sqrt(),
        condition_number,
        residuals,
        qr,
        scale,
        x,
    })
}

impl Ols {
    /// `x0ᵀ (XᵀX)⁻¹ x0` (on the independent columns): the variance of the fitted mean at `x0` is
    /// σ² times this.
    pub(crate) fn leverage_of(&self, x0: &[f64]) -> f64 {
        let xs: Vec<f64> = x0.iter().zip(&self.scale).map(|(v, s)| v / s).collect();
        self.qr.quad_form(&xs)
    }

    /// Mean, its confidence interval and the prediction interval at `level` (e.g. 0.95).
    pub fn predict(&self, x0: &[f64], level: f64) -> Prediction {
        let mean: f64 = x0.iter().zip(&self.coef).map(|(a, b)| a * b).sum();
        let h = self.leverage_of(x0);
        let t = t_quantile(0.5 + level / 2.0, self.df_resid as f64);
        let se_mean = (self.sigma2 * h).sqrt();
        let se_obs = (self.sigma2 * (1.0 + h)).sqrt();
        Prediction {
            mean,
            mean_se: se_mean,
            obs_se: se_obs,
            mean_ci_lower: mean - t * se_mean,
            mean_ci_upper: mean + t * se_mean,
            obs_ci_lower: mean - t * se_obs,
            obs_ci_upper: mean + t * se_obs,
        }
    }

    /// Drops what only fitting and [`Ols::loo_coverage`] need (the design, the residuals, the
    /// Householder vectors), keeping what predictions need: a model held from one cycle to the
    /// next costs `p²` numbers, not `n·p`. `loo_coverage` is `None` afterwards.
    pub(crate) fn keep_for_prediction(&mut self) {
        self.x = Vec::new();
        self.residuals = Vec::new();
        self.qr.keep_r();
    }

    /// Share of observations that fall inside their leave-one-out prediction interval at
    /// `level`. Closed form per row: residual `e/(1−h)`, variance without the row
    /// `(rss − e²/(1−h))/(df−1)`, half-width `t · s₍ᵢ₎ / √(1−h)`. `None` with df < 2.
    pub(crate) fn loo_coverage(&self, level: f64) -> Option<f64> {
        if self.df_resid < 2 || self.residuals.is_empty() {
            return None;
        }
        let t = t_quantile(0.5 + level / 2.0, (self.df_resid - 1) as f64);
        let mut inside = 0usize;
        for i in 0..self.n {
            let row: Vec<f64> = (0..self.p).map(|j| self.x[i + j * self.n]).collect();
            let h = self.leverage_of(&row);
            let e = self.residuals[i];
            if h >= 1.0 - 1e-12 {
                continue; // the row determines its own fit: no out-of-sample check possible
            }
            let s2 = (self.rss - e * e / (1.0 - h)) / (self.df_resid - 1) as f64;
            if (e / (1.0 - h)).abs() <= t * (s2.max(0.0) / (1.0 - h)).sqrt() {
                inside += 1;
            }
        }
        Some(inside as f64 / self.n as f64)
    }
}

/// A design matrix from a table: the intercept `const`, the numeric columns in file order, then
/// one indicator column per level of every text column (levels sorted, the first left out so the
/// indicators and the intercept are not collinear), named `column=level`.
#[derive(Debug, Clone)]
pub struct Design {
    names: Vec<String>,
    numeric: Vec<String>,
    categorical: Vec<(String, Vec<String>)>,
    /// Per text column, the share of the training rows at each level (in level order).
    shares: Vec<Vec<f64>>,
    x: Vec<f64>,
    y: Vec<f64>,
}

impl Design {
    /// Builds the design from rows of text cells. `target` is the column to predict.
    pub fn from_rows(head: &[String], rows: &[Vec<String>], target: &str) -> Result<Design, String> {
        let ti =
            head.iter().position(|h| h == target).ok_or_else(|| format!("no column named {target:?}"))?;
        for (i, r) in rows.iter().enumerate() {
            if r.len() != head.len() {
                return Err(format!("row {}: {} cells, the header has {}", i + 2, r.len(), head.len()));
            }
        }
        let mut numeric = Vec::new();
        let mut categorical = Vec::new();
        for (j, name) in head.iter().enumerate() {
            if j == ti {
                continue;
            }
            // A column is numeric when most of its cells are numbers. Then every cell must be
            // one: a blank, a NaN or a word among numbers is an error that names its row, never
            // a quiet switch to a column of levels (with one level per distinct number).
            let number = |c: &str| c.parse::<f64>().is_ok_and(f64::is_finite);
            let numbers = rows.iter().filter(|r| number(r[j].trim())).count();
            if numbers * 2 > rows.len() {
                if let Some(i) = rows.iter().position(|r| !number(r[j].trim())) {
                    return Err(format!(
                        "row {}: column {name:?} is {:?}, not a number (most of its cells are numbers)",
                        i + 2,
                        rows[i][j].trim()
                    ));
                }
                numeric.push(name.clone());
            } else {
                let mut levels: Vec<String> = rows.iter().map(|r| r[j].trim().to_string()).collect();
                levels.sort();
                levels.dedup();
                categorical.push((name.clone(), levels));
            }
        }
        let mut names = vec!["const".to_string()];
        names.extend(numeric.iter().cloned());
        for (c, levels) in &categorical {
            names.extend(levels[1..].iter().map(|l| format!("{c}={l}")));
        }
        let shares = categorical
            .iter()
            .map(|(c, levels)| {
                let j = head.iter().position(|h| h == c).expect("a column of the header");
                let n = rows.len().max(1) as f64;
                levels.iter().map(|l| rows.iter().filter(|r| r[j].trim() == l).count() as f64 / n).collect()
            })
            .collect();
        let mut d = Design { names, numeric, categorical, shares, x: Vec::new(), y: Vec::new() };
        let mut y = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            let v = r[ti].trim();
            let x = v.parse::<f64>().ok().filter(|x| x.is_finite());
            y.push(x.ok_or_else(|| format!("row {}: {target} is {v:?}, not a finite number", i + 2))?);
        }
        let cols: Vec<Vec<f64>> = rows.iter().map(|r| d.row(head, r)).collect::<Result<_, _>>()?;
        let p = d.names.len();
        d.x = (0..p).flat_map(|j| cols.iter().map(move |row| row[j])).collect();
        d.y = y;
        Ok(d)
    }

    /// The same design as [`Design::from_rows`] over a table whose numeric columns come first
    /// and text columns after, given as values: no number is written out and read back.
    /// Numeric values must be finite.
    pub(crate) fn from_columns<T: AsRef<str>>(
        numeric: Vec<(String, Vec<f64>)>,
        text: Vec<(String, Vec<T>)>,
        y: Vec<f64>,
    ) -> Result<Design, String> {
        let n = y.len();
        for (name, v) in &numeric {
            if v.len() != n || v.iter().any(|x| !x.is_finite()) {
                return Err(format!("{name}: {} values, {n} expected, all finite", v.len()));
            }
        }
        let mut categorical = Vec::with_capacity(text.len());
        // Each row's level (an index into its column's sorted levels).
        let mut text_levels: Vec<Vec<usize>> = Vec::with_capacity(text.len());
        for (name, v) in &text {
            if v.len() != n {
                return Err(format!("{name}: {} values, {n} expected", v.len()));
            }
            let values: Vec<&str> = v.iter().map(|s| s.as_ref().trim()).collect();
            let mut levels: Vec<&str> = values.clone();
            levels.sort_unstable();
            levels.dedup();
            let at: Vec<usize> =
                values.iter().map(|v| levels.binary_search(v).expect("every value is a level")).collect();
            categorical.push((name.clone(), levels.into_iter().map(str::to_string).collect::<Vec<String>>()));
            text_levels.push(at);
        }
        let mut names = vec!["const".to_string()];
        names.extend(numeric.iter().map(|(c, _)| c.clone()));
        for (c, levels) in &categorical {
            names.extend(levels[1..].iter().map(|l| format!("{c}={l}")));
        }
        // Column-major, as `fit` takes it.
        let mut x = Vec::with_capacity(n * names.len());
        x.extend(std::iter::repeat_n(1.0, n));
        for (_, v) in &numeric {
            x.extend_from_slice(v);
        }
        for ((_, levels), at) in categorical.iter().zip(&text_levels) {
            for l in 1..levels.len() {
                x.extend(at.iter().map(|&a| f64::from(u8::from(a == l))));
            }
        }
        let numeric = numeric.into_iter().map(|(c, _)| c).collect();
        let shares = categorical
            .iter()
            .zip(&text_levels)
            .map(|((_, levels), at)| {
                let mut counts = vec![0.0; levels.len()];
                for &a in at {
                    counts[a] += 1.0;
                }
                counts.iter().map(|c| c / n.max(1) as f64).collect()
            })
            .collect();
        Ok(Design { names, numeric, categorical, shares, x, y })
    }

    /// The design row of numeric and text values in the order of [`Design::from_columns`].
    pub(crate) fn row_of(&self, numeric: &[f64], text: &[&str]) -> Result<Vec<f64>, String> {
        let text: Vec<[(&str, f64); 1]> = text.iter().map(|v| [(*v, 1.0)]).collect();
        let text: Vec<&[(&str, f64)]> = text.iter().map(|t| &t[..]).collect();
        let (row, unseen) = self.weighted_row(1.0, numeric, &text);
        match unseen.first() {
            None => Ok(row),
            Some(u) => {
                let (c, _) = &self.categorical[u.column];
                Err(format!("{c}: level {:?} was not in the training data", text[u.column][0].0.trim()))
            }
        }
    }

    /// The design row of many rows summed, each with a weight: `weight` is the sum of the
    /// weights (the intercept's entry), `numeric` the weighted sums of the numeric columns, and
    /// per text column the total weight of each value. A value the training data did not have is
    /// taken as the training rows' mix of levels (its weight spread by the levels' shares), and
    /// returned apart so that the caller can weigh the spread between the levels' effects.
    pub(crate) fn weighted_row<S: AsRef<str>>(
        &self,
        weight: f64,
        numeric: &[f64],
        text: &[&[(S, f64)]],
    ) -> (Vec<f64>, Vec<Unseen<'_>>) {
        let mut out = Vec::with_capacity(self.names.len());
        out.push(weight);
        out.extend_from_slice(numeric);
        let mut unseen = Vec::new();
        for (column, (((_, levels), values), shares)) in
            self.categorical.iter().zip(text).zip(&self.shares).enumerate()
        {
            let at = out.len();
            out.extend(std::iter::repeat_n(0.0, levels.len() - 1));
            let mut other = 0.0;
            for (v, w) in values.iter() {
                match levels.iter().position(|l| l == v.as_ref().trim()) {
                    Some(0) => {}
                    Some(i) => out[at + i - 1] += w,
                    None => other += w,
                }
            }
            if other != 0.0 {
                for (o, s) in out[at..].iter_mut().zip(&shares[1..]) {
                    *o += other * s;
                }
                unseen.push(Unseen { column, columns: at..out.len(), shares, weight: other });
            }
        }
        (out, unseen)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Fits the design, handing its data to the fit (`Design::row_of` and
    /// [`Design::names`] need only the columns and levels).
    pub fn fit(&mut self) -> Result<Ols, OlsError> {
        let (x, y) = (std::mem::take(&mut self.x), std::mem::take(&mut self.y));
        fit_owned(x, y.len(), self.names.len(), &y)
    }

    /// The design row of a table row with header `head` (the target column may be absent).
    pub fn row(&self, head: &[String], row: &[String]) -> Result<Vec<f64>, String> {
        let cell = |name: &str| -> Result<&str, String> {
            let j = head.iter().position(|h| h == name).ok_or_else(|| format!("no column named {name:?}"))?;
            row.get(j).map(|s| s.trim()).ok_or_else(|| format!("{name}: missing cell"))
        };
        let mut out = vec![1.0];
        for c in &self.numeric {
            let v = cell(c)?;
            let x = v.parse::<f64>().ok().filter(|x| x.is_finite());
            out.push(x.ok_or_else(|| format!("column {c:?} is {v:?}, not a finite number"))?);
        }
        for (c, levels) in &self.categorical {
            let v = cell(c)?;
            if !levels.iter().any(|l| l == v) {
                return Err(format!("{c}: level {v:?} was not in the training data"));
            }
            out.extend(levels[1..].iter().map(|l| f64::from(u8::from(l == v))));
        }
        Ok(out)
    }
}

/// The weight of text values the training data did not have, in a row of
/// [`Design::weighted_row`]: the text column, its indicator columns in the row, and the share of
/// the training rows at each level of it (the first level included).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unseen<'d> {
    pub(crate) column: usize,
    pub(crate) columns: std::ops::Range<usize>,
    pub(crate) shares: &'d [f64],
    pub(crate) weight: f64,
}

/// Quantile `q` of Student's t with `df` degrees of freedom.
///
/// statrs' inverse CDF loses accuracy at large df; above 1000 df the Cornish–Fisher expansion
/// around the normal quantile (Abramowitz & Stegun 26.7.5, four terms) is used instead, which is
/// accurate to about machine precision there.
pub fn t_quantile(q: f64, df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
    if df > 1000.0 {
        let z = Normal::new(0.0, 1.0).expect("standard normal").inverse_cdf(q);
        let (z2, z3) = (z * z, z * z * z);
        let (z5, z7, z9) = (z3 * z2, z3 * z2 * z2, z3 * z3 * z3);
        let g1 = (z3 + z) / 4.0;
        let g2 = (5.0 * z5 + 16.0 * z3 + 3.0 * z) / 96.0;
        let g3 = (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / 384.0;
        let g4 = (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / 92160.0;
        return z + g1 / df + g2 / df.powi(2) + g3 / df.powi(3) + g4 / df.powi(4);
    }
    StudentsT::new(0.0, 1.0, df).expect("df > 0").inverse_cdf(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    #[test]
    fn a_design_from_columns_is_the_design_from_rows() {
        let head: Vec<String> = ["a", "b", "t", "y"].iter().map(|s| s.to_string()).collect();
        let data = [
            (0.5, 1e-7, " z", 3.0),
            (2.0, 3.25, "x ", 1.5),
            (1.0 / 3.0, 7.0, "y", 2.0),
            (4.0, 0.0, "x", 9.0),
        ];
        let rows: Vec<Vec<String>> = data
            .iter()
            .map(|(a, b, t, y)| vec![a.to_string(), b.to_string(), t.to_string(), y.to_string()])
            .collect();
        let want = Design::from_rows(&head, &rows, "y").unwrap();
        let got = Design::from_columns(
            vec![
                ("a".into(), data.iter().map(|d| d.0).collect()),
                ("b".into(), data.iter().map(|d| d.1).collect()),
            ],
            vec![("t".into(), data.iter().map(|d| d.2.to_string()).collect())],
            data.iter().map(|d| d.3).collect(),
        )
        .unwrap();
        assert_eq!((&got.names, &got.x, &got.y), (&want.names, &want.x, &want.y));
        let row = ["0.25".to_string(), "2".to_string(), "y ".to_string()];
        assert_eq!(got.row_of(&[0.25, 2.0], &["y "]).unwrap(), want.row(&head[..3], &row).unwrap());
        assert!(got.row_of(&[0.25, 2.0], &["w"]).is_err());
        assert!(Design::from_columns::<&str>(vec![("a".into(), vec![f64::NAN])], vec![], vec![1.0]).is_err());
    }

    #[test]
    fn simple_regression_by_hand() {
        // y = [1, 2, 2, 4] on t = 0..3: b = (0.9, 0.9), residuals (0.1, 0.2, -0.7, 0.4)
        let x = [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 2.0, 3.0];
        let m = fit(&x, 4, 2, &[1.0, 2.0, 2.0, 4.0]).unwrap();
        assert!(close(m.coef[0], 0.9, 1e-14) && close(m.coef[1], 0.9, 1e-14));
        assert!(close(m.rss, 0.7, 1e-14));
        assert!(close(m.sigma2, 0.35, 1e-14));
        // tss = 4.75 - ... mean 2.25: (1.5625 + 0.0625 + 0.0625 + 3.0625) = 4.75
        assert!(close(m.r2, 1.0 - 0.7 / 4.75, 1e-14));
        assert!(close(m.adj_r2, 1.0 - 3.0 / 2.0 * (0.7 / 4.75), 1e-14));
        // at t = 4: mean 4.5, x0'(X'X)^-1 x0 = (7 - 24 + 32)/10 = 1.5
        let p = m.predict(&[1.0, 4.0], 0.95);
        let t = t_quantile(0.975, 2.0); // 4.302652729749464
        assert!(close(t, 4.302_652_729_749_464, 1e-12), "{t}");
        assert!(close(p.mean, 4.5, 1e-14));
        assert!(close(p.mean_ci_upper, 4.5 + t * (0.35f64 * 1.5).sqrt(), 1e-12));
        assert!(close(p.obs_ci_lower, 4.5 - t * (0.35f64 * 2.5).sqrt(), 1e-12));
    }

    #[test]
    fn dependent_columns_are_found() {
        // one-hot with all levels plus an intercept: the dummy-variable trap
        let n = 6;
        let a = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let b = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut x = vec![1.0; n];
        x.extend(a);
        x.extend(b);
        let m = fit(&x, n, 3, &[1.0, 1.2, 0.9, 3.0, 3.1, 2.8]).unwrap();
        assert_eq!(m.rank, 2);
        assert_eq!(m.dependent.len(), 1);
        assert_eq!(m.df_resid, 4);
        // group means are still fitted exactly
        let p = m.predict(&[1.0, 1.0, 0.0], 0.95);
        assert!(close(p.mean, 31.0 / 30.0, 1e-12), "{}", p.mean);
    }

    #[test]
    fn refuses_what_it_cannot_fit() {
        assert_eq!(fit(&[1.0, 1.0], 2, 1, &[1.0, f64::NAN]).unwrap_err(), OlsError::NotFinite);
        assert_eq!(
            fit(&[1.0, 1.0, 0.0, 1.0], 2, 2, &[1.0, 2.0]).unwrap_err(),
            OlsError::TooFew { n: 2, p: 2 }
        );
    }

    #[test]
    fn loo_coverage_counts_rows_inside() {
        let ts: Vec<f64> = (0..30).map(f64::from).collect();
        let mut x = vec![1.0; 30];
        x.extend(&ts);
        // a line plus a deterministic wiggle, and one wild outlier
        let mut y: Vec<f64> = ts.iter().map(|t| 2.0 + 0.5 * t + (t * 1.7).sin() * 0.3).collect();
        y[10] += 25.0;
        let m = fit(&x, 30, 2, &y).unwrap();
        let c = m.loo_coverage(0.95).unwrap();
        assert!(c < 1.0 && c > 0.8, "{c}");
    }
}
