//! The search's evaluation: a model run over the observed points only, with buffers reused, and
//! the initial-state design in one pass with a lane per state. The same arithmetic in the same
//! order as one plain [`run`](super::run) per state, so a fit is the same bit for bit (tested).

use super::{Init, Params, Season, Spec, Trend};
use crate::stats::linalg::NormalEquations;

/// The observed points of a series and the buffers the search reuses on every evaluation.
///
/// It runs the recursions like [`run`](super::run), with the same arithmetic in the same order (so the same
/// SSE, bit for bit), but up to the last observation only and keeping the fitted values at the
/// observed points only. A gap costs next to nothing: the seasonals are kept by `t mod m`, so
/// across a gap they stand still, and only level and trend move on.
pub(super) struct Observed {
    /// `(t, y_t)` for every observed `t`.
    pub(super) points: Vec<(usize, f64)>,
    /// Seasonal state, slot `t mod m` (what `run` calls `s[t]`).
    seasonal: Vec<f64>,
    /// Fitted values at the points, after a run.
    pub(super) fitted: Vec<f64>,
    /// The initial-state solve: the fitted values of the base run (zero initial states), the
    /// design (row-major: a row per point, a column per state), the normal equations.
    base: Vec<f64>,
    design: Vec<f64>,
    pub(super) normal: NormalEquations,
    /// The lanes of [`Observed::lanes`]: level, trend, seasonals (slot-major), fitted.
    lane_l: Vec<f64>,
    lane_b: Vec<f64>,
    lane_s: Vec<f64>,
    lane_f: Vec<f64>,
}

impl Observed {
    pub(super) fn new(y: &[Option<f64>]) -> Self {
        let points: Vec<(usize, f64)> = y.iter().enumerate().filter_map(|(t, v)| v.map(|v| (t, v))).collect();
        let n = points.len();
        Observed {
            points,
            seasonal: Vec::new(),
            fitted: Vec::with_capacity(n),
            base: Vec::with_capacity(n),
            design: Vec::new(),
            normal: Default::default(),
            lane_l: Vec::new(),
            lane_b: Vec::new(),
            lane_s: Vec::new(),
            lane_f: Vec::new(),
        }
    }

    /// Runs from the initial states in free form (see [`init_from`](super::fit::init_from)); returns the SSE.
    pub(super) fn run_free(&mut self, spec: &Spec, p: &Params, x: &[f64]) -> f64 {
        let mut i = 1;
        let trend = if spec.trend != Trend::None {
            i += 1;
            x[1]
        } else {
            0.0
        };
        self.seasonal.clear();
        if spec.seasonal() {
            self.seasonal.extend_from_slice(&x[i..i + spec.m - 1]);
            let total: f64 = self.seasonal.iter().sum();
            self.seasonal.push(if spec.season == Season::Mul { spec.m as f64 - total } else { -total });
        }
        self.run_from(spec, p, x[0], trend)
    }

    /// Runs from given initial states; returns the SSE.
    pub(super) fn run_init(&mut self, spec: &Spec, p: &Params, init: &Init) -> f64 {
        self.seasonal.clear();
        if spec.seasonal() {
            self.seasonal.extend_from_slice(&init.seasonal[..spec.m]);
        }
        self.run_from(spec, p, init.level, if spec.trend == Trend::None { 0.0 } else { init.trend })
    }

    /// One run over the observed points from level `l`, trend `b` and the seasonals already in
    /// place; fills `fitted` and returns the SSE.
    fn run_from(&mut self, spec: &Spec, p: &Params, mut l: f64, mut b: f64) -> f64 {
        let m = if spec.seasonal() { spec.m } else { 0 };
        let phi = spec.phi(p);
        self.fitted.clear();
        let mut sse = 0.0;
        let mut t = 0;
        for &(ti, v) in &self.points {
            // across a gap the states move on as forecast (without a trend they stand still)
            if spec.trend != Trend::None {
                for _ in t..ti {
                    let bd = phi * b;
                    l += bd;
                    b = bd;
                }
            }
            let bd = phi * b;
            let base = l + bd;
            let st = if m > 0 { self.seasonal[ti % m] } else { 0.0 };
            let f = match spec.season {
                Season::None => base,
                Season::Add => base + st,
                Season::Mul => base * st,
            };
            self.fitted.push(f);
            sse += (v - f) * (v - f);
            let (nl, ns) = match spec.season {
                Season::None => (p.alpha * v + (1.0 - p.alpha) * base, 0.0),
                Season::Add => {
                    (p.alpha * (v - st) + (1.0 - p.alpha) * base, p.gamma * (v - base) + (1.0 - p.gamma) * st)
                }
                Season::Mul => {
                    (p.alpha * v / st + (1.0 - p.alpha) * base, p.gamma * v / base + (1.0 - p.gamma) * st)
                }
            };
            b = p.beta * (nl - l) + (1.0 - p.beta) * bd;
            l = nl;
            if m > 0 {
                self.seasonal[ti % m] = ns;
            }
            t = ti + 1;
        }
        sse
    }

    /// For a linear model: runs from the zero initial states (lane 0) and from each unit one
    /// (lane `j` for state `j − 1`) side by side, and fills `base`, `design` and the
    /// normal equations. Each lane does exactly what [`Observed::run_free`] does for its initial
    /// states, so the design is the same as from `k + 1` separate runs; but the lanes of a step
    /// are independent, so they run in parallel rather than one long chain after another.
    pub(super) fn lanes(&mut self, spec: &Spec, p: &Params) {
        debug_assert!(spec.season != Season::Mul);
        let k = spec.n_states();
        let lanes = k + 1;
        let m = if spec.seasonal() { spec.m } else { 0 };
        let phi = spec.phi(p);
        // initial states: lane j has free state j − 1 at 1, the rest at 0 (see `run_free`)
        let (l, b, s, f) = (&mut self.lane_l, &mut self.lane_b, &mut self.lane_s, &mut self.lane_f);
        l.clear();
        l.resize(lanes, 0.0);
        b.clear();
        b.resize(lanes, 0.0);
        f.clear();
        f.resize(lanes, 0.0);
        s.clear();
        s.resize(m * lanes, 0.0);
        l[1] = 1.0;
        if spec.trend != Trend::None {
            b[2] = 1.0;
        }
        if m > 0 {
            // free seasonal i is lane `first + i`; the last one makes a lane's sum 0
            let first = 2 + usize::from(spec.trend != Trend::None);
            for i in 0..m - 1 {
                s[i * lanes + first + i] = 1.0;
            }
            for lane in 0..lanes {
                let total: f64 = (0..m - 1).map(|slot| s[slot * lanes + lane]).sum();
                s[(m - 1) * lanes + lane] = -total;
            }
        }
        let n = self.points.len();
        self.base.clear();
        self.design.clear();
        self.design.resize(n * k, 0.0);
        self.normal.reset(k);
        let mut t = 0;
        for (row, &(ti, v)) in self.points.iter().enumerate() {
            if spec.trend != Trend::None && ti > t {
                if lanes <= 4 {
                    // few lanes: a tight loop per lane costs fewer instructions
                    for (l, b) in l.iter_mut().zip(b.iter_mut()) {
                        let (mut lv, mut bv) = (*l, *b);
                        for _ in t..ti {
                            let bd = phi * bv;
                            lv += bd;
                            bv = bd;
                        }
                        (*l, *b) = (lv, bv);
                    }
                } else {
                    for _ in t..ti {
                        for (l, b) in l.iter_mut().zip(b.iter_mut()) {
                            let bd = phi * *b;
                            *l += bd;
                            *b = bd;
                        }
                    }
                }
            }
            if m > 0 {
                let st = &mut s[(ti % m) * lanes..(ti % m + 1) * lanes];
                for (((l, b), st), f) in l.iter_mut().zip(b.iter_mut()).zip(st.iter_mut()).zip(f.iter_mut()) {
                    let bd = phi * *b;
                    let base = *l + bd;
                    *f = base + *st;
                    let nl = p.alpha * (v - *st) + (1.0 - p.alpha) * base;
                    let ns = p.gamma * (v - base) + (1.0 - p.gamma) * *st;
                    *b = p.beta * (nl - *l) + (1.0 - p.beta) * bd;
                    *l = nl;
                    *st = ns;
                }
            } else {
                for ((l, b), f) in l.iter_mut().zip(b.iter_mut()).zip(f.iter_mut()) {
                    let bd = phi * *b;
                    let base = *l + bd;
                    *f = base;
                    let nl = p.alpha * v + (1.0 - p.alpha) * base;
                    *b = p.beta * (nl - *l) + (1.0 - p.beta) * bd;
                    *l = nl;
                }
            }
            let row_x = &mut self.design[row * k..(row + 1) * k];
            for (x, fj) in row_x.iter_mut().zip(&f[1..]) {
                *x = fj - f[0];
            }
            self.base.push(f[0]);
            self.normal.add_row(row_x, v - f[0]);
            t = ti + 1;
        }
    }

    /// What the initial states are fitted to: each observation less the base run's value.
    pub(super) fn target(&self) -> Vec<f64> {
        self.points.iter().zip(&self.base).map(|((_, v), b)| v - b).collect()
    }

    /// The design, column-major (for QR).
    pub(super) fn design_by_column(&self, k: usize) -> Vec<f64> {
        let n = self.points.len();
        let mut out = vec![0.0; n * k];
        for (row, xs) in self.design.chunks_exact(k.max(1)).enumerate() {
            for (j, x) in xs.iter().enumerate() {
                out[row + j * n] = *x;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_series::*;
    use super::super::*;
    use super::*;
    use crate::stats::forecast::fit::init_from;

    #[test]
    pub(super) fn the_search_runs_only_the_observed_points_and_agrees_with_run_bit_for_bit() {
        // gaps at the start, in the middle and at the end, longer than a season
        let mut y = series(120, 6, 0.3, 4.0, 9);
        for t in (0..20).chain(50..63).chain([70, 71, 90]).chain(115..120) {
            y[t] = None;
        }
        let p = Params { alpha: 0.3, beta: 0.2, gamma: 0.1, phi: 0.9 };
        for spec in candidates(6, true) {
            let x: Vec<f64> = (0..spec.n_states()).map(|i| [50.0, 0.5, -1.0, 2.0, 0.5, 1.5][i % 6]).collect();
            let mut w = Observed::new(&y);
            let sse = w.run_free(&spec, &p, &x);
            let r = run(&spec, &p, &init_from(&spec, &x), &y);
            assert_eq!(sse.to_bits(), r.sse.to_bits(), "{}", spec.name());
            let at_points: Vec<f64> = w.points.iter().map(|(t, _)| r.fitted[*t]).collect();
            assert_eq!(w.fitted, at_points, "{}", spec.name());
            assert_eq!(w.points.len(), r.n_obs);
        }
    }

    #[test]
    pub(super) fn the_lanes_give_the_design_of_one_run_per_initial_state_bit_for_bit() {
        let mut y = series(100, 6, 0.3, 4.0, 5);
        for t in (0..9).chain(40..55).chain([77]) {
            y[t] = None;
        }
        let p = Params { alpha: 0.4, beta: 0.15, gamma: 0.2, phi: 0.93 };
        for spec in candidates(6, false) {
            let k = spec.n_states();
            let mut w = Observed::new(&y);
            w.lanes(&spec, &p);
            let (design, base, target) = (w.design.clone(), w.base.clone(), w.target());
            // the same from k + 1 separate runs
            let mut x = vec![0.0; k];
            w.run_free(&spec, &p, &x);
            let base_runs = w.fitted.clone();
            assert_eq!(base, base_runs, "{}", spec.name());
            let want_target: Vec<f64> = w.points.iter().zip(&base_runs).map(|((_, v), b)| v - b).collect();
            assert_eq!(target, want_target, "{}", spec.name());
            for j in 0..k {
                x[j] = 1.0;
                w.run_free(&spec, &p, &x);
                x[j] = 0.0;
                for (row, (f, b)) in w.fitted.iter().zip(&base_runs).enumerate() {
                    assert_eq!(
                        design[row * k + j].to_bits(),
                        (f - b).to_bits(),
                        "{} state {j} row {row}",
                        spec.name()
                    );
                }
            }
            // and the normal equations solve as solve_normal does on that design
            let by_column = w.design_by_column(k);
            let want = crate::stats::linalg::solve_normal(&by_column, w.points.len(), k, &target);
            assert_eq!(w.normal.solve(), want, "{}", spec.name());
        }
    }
}
