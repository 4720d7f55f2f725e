//! Equiripple (Parks-McClellan) linear-phase FIR lowpass design by the Remez exchange algorithm.
//!
//! A type I filter (odd length `N`, symmetric) has the zero-phase response
//! `A(w) = h[M] + 2 * sum_{k=1}^{M} h[M-k] cos(k w)`, `M = (N-1)/2`: a polynomial of degree `M` in
//! `x = cos(w)`. The design fixes the DC gain exactly, `A = 1 + (x - 1) P(x)`, and finds the
//! polynomial `P` (degree `M - 1`) that minimizes the largest weighted error over the passband and
//! the stopband: a standard weighted Chebyshev problem in `x` with desired `D' = (D - 1) / (x - 1)`
//! and weight `W' = W (1 - x)`. The fixed DC gain costs one ripple next to DC (the error goes to
//! zero there instead of reaching the ripple), less than a tap, and spares the renormalization that
//! would otherwise double the passband deviation on one side.
//!
//! The exchange works on a dense frequency grid: the trial polynomial is the barycentric Lagrange
//! interpolant through the current reference, with weights computed as products carried with a
//! separate binary exponent so that they neither overflow nor underflow for long filters. Long
//! designs start from the reference of a half-length design, stretched (reference scaling): an
//! evenly spread start is too far from the optimum for narrow transition bands and long filters.
#![forbid(unsafe_code)]

use std::f64::consts::PI;

/// Grid points per extremal frequency.
const GRID_DENSITY: usize = 16;
/// Upper bound on exchange iterations.
const MAX_ITERATIONS: usize = 60;
/// Converged when the largest grid error exceeds the levelled error by at most this, relatively.
const CONVERGED_GAP: f64 = 1e-6;
/// Accepted gap when the reference stops changing before reaching [`CONVERGED_GAP`].
const STALLED_GAP: f64 = 1e-3;
/// Grid points per block when the trial polynomial is evaluated on the grid (fits in L1).
const EVAL_BLOCK: usize = 256;
/// Designs tried by [`design_lowpass`] at most.
const MAX_SEARCH_STEPS: usize = 40;
/// Stopband level (dB) below which a design is given up: rounding in the exchange is of this order.
const FLOOR_DB: f64 = -240.0;
/// Designs with fewer unknowns than twice this start from an evenly spread reference.
const MIN_SCALED: usize = 32;
/// Factors multiplied before a barycentric weight product is renormalized.
const PRODUCT_CHUNK: usize = 16;

/// Equiripple linear-phase (type I, odd length, symmetric) lowpass by the Remez exchange algorithm.
///
/// Edges in cycles per sample (`0 < pass < stop < 0.5`). Weight: passband 1, stopband `stop_weight`
/// (= `delta_p / delta_s` wanted). Returns the `num_taps` coefficients (`h[n] = h[num_taps-1-n]`),
/// with DC gain normalized to 1, or `None` for bad arguments (even or fewer than 3 taps, edges out
/// of order, non-positive or infinite weight) or if the exchange did not converge. A filter far
/// longer than any sensible spec needs, whose stopband would lie near -240 dB (beyond what f64
/// arithmetic resolves), gives `None` too.
///
/// The DC gain is 1 by construction (not by rescaling), so the passband deviation is `delta_p` on
/// both sides; the error is equiripple over both bands except that it falls to zero at DC.
///
/// The exchange runs on a grid of 16 points per ripple, so the ripple peaks between grid points
/// can exceed the designed level by a few per cent; check a design with [`measure`].
pub fn remez_lowpass(num_taps: usize, pass: f64, stop: f64, stop_weight: f64) -> Option<Vec<f64>> {
    if num_taps < 3 || num_taps.is_multiple_of(2) || !edges_ok(pass, stop) {
        return None;
    }
    if !(stop_weight.is_finite() && stop_weight > 0.0) {
        return None;
    }
    let m = (num_taps - 1) / 2;
    let interp = solve(m + 1, pass, stop, stop_weight).ok()?.interp;

    // A at the N frequency-sampling points w_j = 2 pi j / N (A is even, so j = 0..=m suffice).
    let n = num_taps;
    let amp: Vec<f64> = (0..=m)
        .map(|j| {
            let f = j as f64 / n as f64;
            1.0 - one_minus_cos(f) * interp.eval((2.0 * PI * f).cos())
        })
        .collect();
    // Inverse DFT of a real, even spectrum: h[M +- k] = (A_0 + 2 sum_j A_j cos(2 pi j k / N)) / N.
    let cos_table: Vec<f64> = (0..n).map(|i| (2.0 * PI * i as f64 / n as f64).cos()).collect();
    let mut h = vec![0.0; n];
    for k in 0..=m {
        let mut acc = 0.0;
        let mut idx = 0usize;
        for &a in &amp[1..] {
            idx += k;
            if idx >= n {
                idx -= n;
            }
            acc += a * cos_table[idx];
        }
        let v = (amp[0] + 2.0 * acc) / n as f64;
        h[m - k] = v;
        h[m + k] = v;
    }
    let dc: f64 = h.iter().sum();
    if !(dc.is_finite() && dc > 0.0) {
        return None;
    }
    for v in &mut h {
        *v /= dc;
    }
    Some(h)
}

/// Measured ripple of a symmetric odd-length filter: the passband's largest deviation from unity
/// gain over `[0, pass]` in dB (the worse of `20 log10(1 + dev_up)` and `-20 log10(1 - dev_down)`,
/// so non-negative), and the stopband's peak `max |H(f)|` over `[stop, 0.5]` in dB (negative).
///
/// The response is evaluated on a dense grid (at least 16 points per tap over the two bands, and at
/// most `1 / (32 N)` cycles apart) and every local peak is refined by parabolic interpolation.
/// Only the symmetric part of `h` is seen. Bad arguments (even or empty `h`, edges out of order)
/// give `(inf, inf)`.
pub fn measure(h: &[f64], pass: f64, stop: f64) -> (f64, f64) {
    if h.is_empty() || h.len().is_multiple_of(2) || !edges_ok(pass, stop) {
        return (f64::INFINITY, f64::INFINITY);
    }
    let cheb = chebyshev_coeffs(h);
    let step = measure_step(h.len(), pass, stop);
    let pass_band = Band::sample(&cheb, 0.0, pass, step);
    let up = pass_band.peaks(&cheb, |a| a - 1.0).into_iter().fold(0.0, f64::max);
    let down = pass_band.peaks(&cheb, |a| 1.0 - a).into_iter().fold(0.0, f64::max);
    let pass_db = (20.0 * (1.0 + up).log10()).max(if down < 1.0 {
        -20.0 * (1.0 - down).log10()
    } else {
        f64::INFINITY
    });
    let stop_band = Band::sample(&cheb, stop, 0.5, step);
    let peak = stop_band.peaks(&cheb, f64::abs).into_iter().fold(0.0, f64::max);
    let stop_db = 20.0 * peak.log10();
    if pass_db.is_nan() || stop_db.is_nan() {
        return (f64::INFINITY, f64::INFINITY);
    }
    (pass_db, stop_db)
}

/// The shortest equiripple lowpass meeting both specs among the lengths `2 * phases * k - 1`
/// (`k = 1, 2, ...`; `phases` = 1 allows every odd length), or `None` if none up to `max_len`
/// does (or for bad arguments).
///
/// The spec is a passband deviation of at most `pass_ripple_db` (dB, either side, as [`measure`]
/// reports it) over `[0, pass]` and a stopband peak of at most `-stop_atten_db` over
/// `[stop, 0.5]`. Candidates are designed with margins (80 % of the ripple, 0.3 dB more
/// attenuation) and verified with [`measure`] against the same margins, so that rounding the
/// coefficients to f32 later cannot break the spec.
///
/// The search starts at Herrmann's length estimate for equiripple filters and moves to where the
/// measured miss (in dB) is predicted to reach zero (a secant through the last two designs),
/// keeping the longest length known to fail and the shortest known to meet, until they are
/// adjacent: the result is one allowed length above a verified failure. Typically 2 to 4 designs.
pub fn design_lowpass(
    pass: f64,
    stop: f64,
    pass_ripple_db: f64,
    stop_atten_db: f64,
    phases: usize,
    max_len: usize,
) -> Option<Vec<f64>> {
    if !edges_ok(pass, stop) || phases == 0 {
        return None;
    }
    if !(pass_ripple_db.is_finite() && pass_ripple_db > 0.0 && stop_atten_db.is_finite() && stop_atten_db > 0.0) {
        return None;
    }
    let pass_db = 0.8 * pass_ripple_db;
    let stop_db = -(stop_atten_db + 0.3);
    // The lower side of the passband is the tighter one in dB.
    let delta_p = 1.0 - 10f64.powf(-pass_db / 20.0);
    let delta_s = 10f64.powf(stop_db / 20.0);
    let weight = delta_p / delta_s;
    let step = phases.checked_mul(2)?;
    let k_max = max_len.checked_add(1)? / step;
    if k_max == 0 {
        return None;
    }
    let width = stop - pass;
    // How far the design of length `2 * phases * k - 1` misses the (margined) spec, in dB
    // (<= 0: met), or `None` if the exchange failed.
    let attempt = |k: usize| -> Option<(f64, Vec<f64>)> {
        let n = step * k - 1;
        if n < 3 {
            return None;
        }
        let h = remez_lowpass(n, pass, stop, weight)?;
        let (p, s) = measure(&h, pass, stop);
        Some(((s - stop_db).max(20.0 * (p / pass_db).log10()), h))
    };
    let estimate = herrmann_length(delta_p, delta_s, width);
    let taps_per_db = herrmann_length(delta_p, delta_s * 10f64.powf(-0.05), width) - estimate;
    let k_per_db = if taps_per_db.is_finite() && taps_per_db > 0.0 {
        taps_per_db
    } else {
        1.0 / (14.36 * width)
    } / step as f64;

    // Bracket and close in: every k <= lo fails, hi is the shortest known to meet. The next try is
    // where the miss is predicted to reach zero (secant through the last two designs).
    let mut lo = 0usize;
    let mut hi = k_max + 1;
    let mut best = None;
    let mut last: Vec<(usize, f64)> = Vec::with_capacity(2);
    let mut k = (((estimate + 1.0) / step as f64).round().max(1.0) as usize).min(k_max);
    for _ in 0..MAX_SEARCH_STEPS {
        match attempt(k) {
            Some((miss, h)) => {
                if miss <= 0.0 {
                    hi = k;
                    best = Some(h);
                } else {
                    lo = k;
                }
                if last.len() == 2 {
                    last.remove(0);
                }
                last.push((k, miss));
            }
            None => lo = lo.max(k),
        }
        if lo + 1 >= hi {
            break;
        }
        let predicted = match last[..] {
            [(k1, m1), (k2, m2)] if k1 != k2 && (m2 - m1) / (k2 as f64 - k1 as f64) < 0.0 => {
                k2 as f64 - m2 * (k2 as f64 - k1 as f64) / (m2 - m1)
            }
            [.., (k2, m2)] => k2 as f64 + m2 * k_per_db,
            [] => k as f64 + 1.0,
        };
        k = predicted.ceil().clamp((lo + 1) as f64, (hi - 1) as f64) as usize;
    }
    best
}

/// Herrmann, Rabiner and Chan's length estimate for an equiripple lowpass (transition width in
/// cycles per sample).
fn herrmann_length(delta_p: f64, delta_s: f64, width: f64) -> f64 {
    let (big, small) = if delta_p >= delta_s {
        (delta_p, delta_s)
    } else {
        (delta_s, delta_p)
    };
    let lp = big.log10();
    let ls = small.log10();
    let d_inf = (0.005_309 * lp * lp + 0.071_14 * lp - 0.476_1) * ls + (-0.002_66 * lp * lp - 0.594_1 * lp - 0.427_8);
    let f = 11.012_17 + 0.512_44 * (lp - ls);
    d_inf / width - f * width + 1.0
}

fn edges_ok(pass: f64, stop: f64) -> bool {
    pass.is_finite() && stop.is_finite() && 0.0 < pass && pass < stop && stop < 0.5
}

/// `1 - cos(2 pi f)` without cancellation near DC.
fn one_minus_cos(f: f64) -> f64 {
    let s = (PI * f).sin();
    2.0 * s * s
}

/// The discretized approximation problem: minimize `max_j w_j |d_j - P(x_j)|` over the grid.
struct Grid {
    f: Vec<f64>,
    x: Vec<f64>,
    d: Vec<f64>,
    w: Vec<f64>,
    /// `[start, end)` index ranges of the bands, in grid order (increasing frequency).
    bands: Vec<(usize, usize)>,
}

impl Grid {
    /// The DC-constrained lowpass problem for `r` cosine terms.
    fn lowpass(r: usize, pass: f64, stop: f64, stop_weight: f64) -> Self {
        let spacing = 0.5 / (GRID_DENSITY * r) as f64;
        let mut grid = Self {
            f: Vec::new(),
            x: Vec::new(),
            d: Vec::new(),
            w: Vec::new(),
            bands: Vec::new(),
        };
        // Passband, without DC itself (where the transformed weight vanishes).
        let np = ((pass / spacing).ceil() as usize).max(2);
        let start = grid.x.len();
        for i in 1..=np {
            let f = if i == np { pass } else { pass * i as f64 / np as f64 };
            let omc = one_minus_cos(f);
            grid.f.push(f);
            grid.x.push((2.0 * PI * f).cos());
            grid.d.push(0.0);
            grid.w.push(omc);
        }
        grid.bands.push((start, grid.x.len()));
        let ns = (((0.5 - stop) / spacing).ceil() as usize).max(2);
        let start = grid.x.len();
        for i in 0..=ns {
            let f = if i == ns {
                0.5
            } else {
                stop + (0.5 - stop) * i as f64 / ns as f64
            };
            let omc = one_minus_cos(f);
            grid.f.push(f);
            grid.x.push((2.0 * PI * f).cos());
            grid.d.push(1.0 / omc);
            grid.w.push(stop_weight * omc);
        }
        grid.bands.push((start, grid.x.len()));
        grid
    }
}

/// Barycentric Lagrange interpolant of the levelled reference values.
struct Interpolant {
    x: Vec<f64>,
    weights: Vec<f64>,
    y: Vec<f64>,
}

impl Interpolant {
    /// Levels the error on the reference `ext` (grid indices): returns the interpolant through
    /// `d_i - (-1)^i delta / w_i` and `delta`.
    fn level(grid: &Grid, ext: &[usize]) -> Option<(Self, f64)> {
        let x: Vec<f64> = ext.iter().map(|&i| grid.x[i]).collect();
        let weights = barycentric_weights(&x)?;
        let mut num = 0.0;
        let mut den = 0.0;
        let mut sign = 1.0;
        for (&i, &a) in ext.iter().zip(&weights) {
            num += a * grid.d[i];
            den += sign * a / grid.w[i];
            sign = -sign;
        }
        let delta = num / den;
        if !delta.is_finite() {
            return None;
        }
        let mut sign = 1.0;
        let y = ext
            .iter()
            .map(|&i| {
                let v = grid.d[i] - sign * delta / grid.w[i];
                sign = -sign;
                v
            })
            .collect();
        Some((Self { x, weights, y }, delta))
    }

    fn eval(&self, x: f64) -> f64 {
        let mut num = 0.0;
        let mut den = 0.0;
        for ((&xi, &a), &y) in self.x.iter().zip(&self.weights).zip(&self.y) {
            let diff = x - xi;
            if diff == 0.0 {
                return y;
            }
            let c = a / diff;
            num += c * y;
            den += c;
        }
        num / den
    }

    /// Evaluates at every `xs`; the entries at the nodes themselves are garbage (the caller sets them).
    fn eval_many(&self, xs: &[f64], out: &mut [f64]) {
        let mut num = [0.0; EVAL_BLOCK];
        let mut den = [0.0; EVAL_BLOCK];
        for (xb, ob) in xs.chunks(EVAL_BLOCK).zip(out.chunks_mut(EVAL_BLOCK)) {
            let num = &mut num[..xb.len()];
            let den = &mut den[..xb.len()];
            num.fill(0.0);
            den.fill(0.0);
            for ((&xi, &a), &y) in self.x.iter().zip(&self.weights).zip(&self.y) {
                for ((n, d), &x) in num.iter_mut().zip(den.iter_mut()).zip(xb) {
                    let diff = x - xi;
                    let c = a / if diff == 0.0 { 1.0 } else { diff };
                    *n += c * y;
                    *d += c;
                }
            }
            for ((o, &n), &d) in ob.iter_mut().zip(num.iter()).zip(den.iter()) {
                *o = n / d;
            }
        }
    }
}

/// `(m, e)` with `v = m * 2^e`, `0.5 <= |m| < 1`, for finite nonzero `v`.
fn frexp(v: f64) -> (f64, i32) {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(v * 2f64.powi(64));
        return (m, e - 64);
    }
    let m = f64::from_bits((bits & !(0x7ff_u64 << 52)) | (1022_u64 << 52));
    (m, biased - 1022)
}

/// Barycentric weights `1 / prod_{j != i} 2 (x_i - x_j)`, up to a common factor. Each product is
/// carried as mantissa and binary exponent, so that no length of reference overflows or underflows.
fn barycentric_weights(x: &[f64]) -> Option<Vec<f64>> {
    let mut mant = Vec::with_capacity(x.len());
    let mut expo = Vec::with_capacity(x.len());
    for (i, &xi) in x.iter().enumerate() {
        let mut m = 1.0f64;
        let mut e = 0i32;
        for part in [&x[..i], &x[i + 1..]] {
            for chunk in part.chunks(PRODUCT_CHUNK) {
                let p = chunk.iter().fold(1.0, |p, &xj| p * (2.0 * (xi - xj)));
                if !(p.is_finite() && p != 0.0) {
                    return None;
                }
                let (pm, pe) = frexp(p);
                let (mm, me) = frexp(m * pm);
                m = mm;
                e += pe + me;
            }
        }
        mant.push(m);
        expo.push(e);
    }
    let e_min = expo.iter().copied().min()?;
    Some(
        mant.iter()
            .zip(&expo)
            .map(|(&m, &e)| {
                // The largest weight is of order 1; one too small to matter underflows to 0.
                let shift = (e - e_min).min(1100);
                2f64.powi(-shift) / m
            })
            .collect(),
    )
}

/// The DC-constrained lowpass with `r` cosine terms: its grid, the optimal interpolant of `P`
/// and its reference.
///
/// A long design starts from the reference of a half-length one, stretched to the new count
/// (reference scaling): a reference spread evenly over the bands is too far from the optimum
/// when the transition band spans several ripples, and the exchange, starting from a levelled
/// error many orders of magnitude below the optimum, drowns in rounding before it gets there.
/// Scaled, it converges in some 5 to 15 iterations at every level.
///
/// A design whose stopband would lie far below what f64 arithmetic resolves (predicted from the
/// half-length design: the attenuation in dB roughly doubles with the length) gives `None` at once.
fn solve(r: usize, pass: f64, stop: f64, stop_weight: f64) -> Result<Solution, Failure> {
    // P has degree r - 2: n = r - 1 unknown coefficients, n + 1 reference points.
    let n = r - 1;
    let grid = Grid::lowpass(r, pass, stop, stop_weight);
    if n >= 2 * MIN_SCALED {
        match solve(n / 2 + 1, pass, stop, stop_weight) {
            Ok(coarse) => {
                let coarse_stop_db = 20.0 * (coarse.delta.abs() / stop_weight).log10();
                if 2.0 * coarse_stop_db < FLOOR_DB {
                    return Err(Failure::BelowFloor);
                }
                let scaled =
                    scale_reference(&coarse.grid, &coarse.ext, &grid, n + 1).and_then(|init| exchange(&grid, n, init));
                if let Some((interp, ext, delta)) = scaled {
                    return Ok(Solution {
                        grid,
                        interp,
                        ext,
                        delta,
                    });
                }
            }
            Err(Failure::BelowFloor) => return Err(Failure::BelowFloor),
            Err(Failure::NoConvergence) => {}
        }
    }
    // Short designs, and the fallback: an evenly spread reference.
    let (interp, ext, delta) = initial_reference(&grid, n + 1)
        .and_then(|init| exchange(&grid, n, init))
        .ok_or(Failure::NoConvergence)?;
    Ok(Solution {
        grid,
        interp,
        ext,
        delta,
    })
}

enum Failure {
    /// The stopband would lie below [`FLOOR_DB`].
    BelowFloor,
    /// The exchange broke down or did not converge.
    NoConvergence,
}

/// A converged design: its grid, the interpolant of `P`, its reference and levelled error.
struct Solution {
    grid: Grid,
    interp: Interpolant,
    ext: Vec<usize>,
    delta: f64,
}

/// `count` grid indices placed like the reference `ext` on the `coarse` lowpass grid.
///
/// Each band's points are mapped by their ripple phase: in the passband the error is zero at DC
/// (phase 0) and the coarse extrema sit at phases 1/2, 3/2, ..., the last at the band edge; in the
/// stopband they sit at phases 0, 1, ... from the band edge, and the band's end (f = 0.5, where
/// the error always has an extremum) closes the list. The fine points take the same phases
/// stretched to the new count, so that no stretch of a band is left without points (the trial
/// polynomial would run away there).
fn scale_reference(coarse: &Grid, ext: &[usize], grid: &Grid, count: usize) -> Option<Vec<usize>> {
    let [(ps, pt), (ss, st)] = coarse.bands[..] else {
        return None;
    };
    let old_pass: Vec<f64> = ext
        .iter()
        .filter(|&&i| ps <= i && i < pt)
        .map(|&i| coarse.f[i])
        .collect();
    let old_stop: Vec<f64> = ext
        .iter()
        .filter(|&&i| ss <= i && i < st)
        .map(|&i| coarse.f[i])
        .collect();
    let (kp_old, ks_old) = (old_pass.len(), old_stop.len());
    if kp_old == 0 || ks_old == 0 || count < 4 {
        return None;
    }
    // The points added go to the bands in proportion to their widths (the transition edges
    // take a fixed share of the extra spacing; it does not grow with the length).
    let pass_share = coarse.f[pt - 1] / (coarse.f[pt - 1] + 0.5 - coarse.f[ss]);
    let added = count as f64 - ext.len() as f64;
    let kp = ((kp_old as f64 + pass_share * added).round() as usize).clamp(1, count - 2);
    let ks = count - kp;

    // Passband knots (phase, f): DC, then the extrema.
    let mut knots: Vec<(f64, f64)> = vec![(0.0, 0.0)];
    knots.extend(old_pass.iter().enumerate().map(|(i, &f)| (i as f64 + 0.5, f)));
    let scale = (kp_old as f64 - 0.5) / (kp as f64 - 0.5);
    let mut freqs: Vec<f64> = (0..kp).map(|j| interpolate(&knots, (j as f64 + 0.5) * scale)).collect();

    // Stopband knots: the extrema, then the band's end.
    knots.clear();
    knots.extend(old_stop.iter().enumerate().map(|(i, &f)| (i as f64, f)));
    if ext.last() != Some(&(st - 1)) {
        knots.push((ks_old as f64, 0.5));
    }
    let last = knots.len() as f64 - 1.0;
    freqs.extend(
        (0..ks)
            .map(|j| if ks < 2 { 0.0 } else { j as f64 * last / (ks - 1) as f64 })
            .map(|u| interpolate(&knots, u)),
    );

    // Nearest grid points in the right band, strictly increasing.
    let mut out: Vec<usize> = Vec::with_capacity(count);
    for (j, &f) in freqs.iter().enumerate() {
        let (s, t) = grid.bands[usize::from(j >= kp)];
        let band_f = &grid.f[s..t];
        let above = s + band_f.partition_point(|&g| g < f).min(t - s - 1);
        let mut idx = if above > s && f - grid.f[above - 1] < grid.f[above] - f {
            above - 1
        } else {
            above
        };
        if let Some(&prev) = out.last() {
            idx = idx.max(prev + 1);
        }
        if idx >= t {
            return None;
        }
        out.push(idx);
    }
    Some(out)
}

/// Piecewise-linear interpolation through `knots` (increasing first coordinates), clamped at the ends.
fn interpolate(knots: &[(f64, f64)], u: f64) -> f64 {
    if knots.len() < 2 {
        return knots.first().map_or(0.0, |k| k.1);
    }
    let i = knots.partition_point(|k| k.0 <= u).clamp(1, knots.len() - 1);
    let (u0, f0) = knots[i - 1];
    let (u1, f1) = knots[i];
    let t = ((u - u0) / (u1 - u0)).clamp(0.0, 1.0);
    f0 + (f1 - f0) * t
}

/// Remez exchange for a polynomial with `n` coefficients on `grid` from the reference `ext`:
/// returns the interpolant that levels the weighted error and its reference, or `None` if the
/// exchange breaks down or does not converge.
fn exchange(grid: &Grid, n: usize, mut ext: Vec<usize>) -> Option<(Interpolant, Vec<usize>, f64)> {
    let g = grid.x.len();
    if n == 0 || g < 2 * (n + 1) || ext.len() != n + 1 {
        return None;
    }
    let mut values = vec![0.0; g];
    let mut err = vec![0.0; g];
    for _ in 0..MAX_ITERATIONS {
        let (interp, delta) = Interpolant::level(grid, &ext)?;
        interp.eval_many(&grid.x, &mut values);
        let mut sign = 1.0;
        for (&i, &y) in ext.iter().zip(&interp.y) {
            values[i] = y;
            err[i] = sign * delta;
            sign = -sign;
        }
        let mut max_err = 0.0f64;
        for (j, e) in err.iter_mut().enumerate() {
            *e = grid.w[j] * (grid.d[j] - values[j]);
            max_err = max_err.max(e.abs());
        }
        // Exact levelled values at the reference (rounding must not move a node off it).
        let mut sign = 1.0;
        for &i in &ext {
            err[i] = sign * delta;
            sign = -sign;
        }
        if !max_err.is_finite() {
            return None;
        }
        let level = delta.abs();
        let gap = (max_err - level) / level;
        if gap <= CONVERGED_GAP {
            return Some((interp, ext, delta));
        }
        let next = select_extrema(&err, &grid.bands, level * (1.0 - 1e-9), n + 1)?;
        if next == ext {
            return (gap <= STALLED_GAP).then_some((interp, ext, delta));
        }
        ext = next;
    }
    None
}

/// `count` grid indices spread evenly in frequency over the bands, taken as one interval, the
/// first half a spacing in (near DC the lowpass weight vanishes: no reference point belongs there).
fn initial_reference(grid: &Grid, count: usize) -> Option<Vec<usize>> {
    let g = grid.x.len();
    let spacing = (g - 1) as f64 / count as f64;
    let mut ext: Vec<usize> = Vec::with_capacity(count);
    for i in 0..count {
        let mut j = ((i as f64 + 0.5) * spacing).round() as usize;
        if let Some(&last) = ext.last() {
            j = j.max(last + 1);
        }
        ext.push(j.min(g - 1));
    }
    // The last point at the band's end (for a lowpass: f = 0.5, always an extremum).
    *ext.last_mut()? = g - 1;
    ext.windows(2).all(|p| p[0] < p[1]).then_some(ext)
}

/// The new reference: `count` alternating local extrema of `err` with `|err| >= threshold`,
/// preferring the largest.
fn select_extrema(err: &[f64], bands: &[(usize, usize)], threshold: f64, count: usize) -> Option<Vec<usize>> {
    let mut cand: Vec<usize> = Vec::with_capacity(count + 8);
    for &(s, t) in bands {
        for j in s..t {
            let v = err[j];
            if v.abs() < threshold {
                continue;
            }
            let is_peak = if v > 0.0 {
                (j == s || v >= err[j - 1]) && (j + 1 == t || v > err[j + 1])
            } else {
                (j == s || v <= err[j - 1]) && (j + 1 == t || v < err[j + 1])
            };
            if !is_peak {
                continue;
            }
            // Alternation: of consecutive extrema of one sign keep the largest.
            match cand.last_mut() {
                Some(last) if (err[*last] > 0.0) == (v > 0.0) => {
                    if v.abs() > err[*last].abs() {
                        *last = j;
                    }
                }
                _ => cand.push(j),
            }
        }
    }
    while cand.len() > count {
        let len = cand.len();
        if len == count + 1 {
            // Only an end can go without breaking the alternation.
            if err[cand[0]].abs() <= err[cand[len - 1]].abs() {
                cand.remove(0);
            } else {
                cand.pop();
            }
            continue;
        }
        let (i, _) = cand
            .iter()
            .enumerate()
            .min_by(|a, b| err[*a.1].abs().total_cmp(&err[*b.1].abs()))?;
        if i == 0 || i == len - 1 {
            cand.remove(i);
        } else {
            // Its two neighbours share a sign: drop it and the smaller of them.
            let drop = if err[cand[i - 1]].abs() <= err[cand[i + 1]].abs() {
                i - 1
            } else {
                i + 1
            };
            cand.remove(i.max(drop));
            cand.remove(i.min(drop));
        }
    }
    (cand.len() == count).then_some(cand)
}

/// `A(x) = sum c_k T_k(x)` for a symmetric odd-length `h`.
fn chebyshev_coeffs(h: &[f64]) -> Vec<f64> {
    let m = (h.len() - 1) / 2;
    let mut c = Vec::with_capacity(m + 1);
    c.push(h[m]);
    c.extend((1..=m).map(|k| h[m - k] + h[m + k]));
    c
}

/// Clenshaw's recurrence for four points at once (independent chains).
fn eval_cheb4(c: &[f64], x: [f64; 4]) -> [f64; 4] {
    let mut b1 = [0.0; 4];
    let mut b2 = [0.0; 4];
    for &ck in c[1..].iter().rev() {
        for l in 0..4 {
            let b0 = ck + 2.0 * x[l] * b1[l] - b2[l];
            b2[l] = b1[l];
            b1[l] = b0;
        }
    }
    std::array::from_fn(|l| c[0] + x[l] * b1[l] - b2[l])
}

fn eval_cheb(c: &[f64], f: f64) -> f64 {
    eval_cheb4(c, [(2.0 * PI * f).cos(); 4])[0]
}

/// Frequency step of the [`measure`] grid.
fn measure_step(taps: usize, pass: f64, stop: f64) -> f64 {
    let covered = pass + (0.5 - stop);
    (1.0 / (32 * taps) as f64).min(covered / (16 * taps) as f64)
}

/// The response sampled evenly over one band, both edges included.
struct Band {
    freqs: Vec<f64>,
    amp: Vec<f64>,
    step: f64,
}

impl Band {
    fn sample(c: &[f64], lo: f64, hi: f64, max_step: f64) -> Self {
        let count = ((hi - lo) / max_step).ceil().max(1.0) as usize + 1;
        let step = (hi - lo) / (count - 1) as f64;
        let freqs: Vec<f64> = (0..count)
            .map(|i| if i + 1 == count { hi } else { lo + step * i as f64 })
            .collect();
        let mut amp = Vec::with_capacity(count);
        for chunk in freqs.chunks(4) {
            let mut x = [0.0; 4];
            for (xl, &f) in x.iter_mut().zip(chunk) {
                *xl = (2.0 * PI * f).cos();
            }
            amp.extend_from_slice(&eval_cheb4(c, x)[..chunk.len()]);
        }
        Self { freqs, amp, step }
    }

    /// The local maxima of `g(A)` over the band (edges included), interior ones refined by
    /// evaluating at the vertex of the parabola through the three grid values.
    fn peaks(&self, c: &[f64], g: impl Fn(f64) -> f64) -> Vec<f64> {
        let v: Vec<f64> = self.amp.iter().map(|&a| g(a)).collect();
        let n = v.len();
        let mut out = Vec::new();
        for j in 0..n {
            let left = if j > 0 { v[j - 1] } else { f64::NEG_INFINITY };
            let right = if j + 1 < n { v[j + 1] } else { f64::NEG_INFINITY };
            if !(v[j] >= left && v[j] > right) {
                continue;
            }
            let mut best = v[j];
            if j > 0 && j + 1 < n {
                let curv = left - 2.0 * v[j] + right;
                if curv < 0.0 {
                    let p = (0.5 * (left - right) / curv).clamp(-1.0, 1.0);
                    best = best.max(g(eval_cheb(c, self.freqs[j] + p * self.step)));
                }
            }
            out.push(best);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RIPPLE_DB: f64 = 0.01;

    /// Kaiser-window length for the same attenuation and transition width.
    fn kaiser_len(atten_db: f64, width: f64) -> f64 {
        (atten_db - 7.95) / (2.285 * 2.0 * PI * width) + 1.0
    }

    /// Designs, checks spec, allowed length and minimality; returns the filter.
    fn check_design(pass: f64, stop: f64, atten_db: f64, phases: usize) -> Vec<f64> {
        let h = design_lowpass(pass, stop, RIPPLE_DB, atten_db, phases, 4000)
            .unwrap_or_else(|| panic!("no design for {pass}/{stop} {atten_db} dB phases {phases}"));
        let n = h.len();
        assert!((n + 1).is_multiple_of(2 * phases), "length {n} not 2*{phases}*k-1");
        let (p, s) = measure(&h, pass, stop);
        let what = format!("{pass}/{stop} {atten_db} dB phases {phases}: N={n} pass {p:.5} dB stop {s:.2} dB");
        assert!(p <= 0.8 * RIPPLE_DB, "{what}");
        assert!(s <= -(atten_db + 0.3), "{what}");
        // Coefficients rounded to f32 still meet the unmargined spec.
        let h32: Vec<f64> = h.iter().map(|&v| f64::from(v as f32)).collect();
        let (p32, s32) = measure(&h32, pass, stop);
        assert!(
            p32 <= RIPPLE_DB && s32 <= -atten_db,
            "{what}; f32: {p32:.5} dB, {s32:.2} dB"
        );
        // The next shorter allowed length does not meet the (margined) spec.
        if n > 2 * phases + 2 {
            let shorter = n - 2 * phases;
            let delta_p = 1.0 - 10f64.powf(-0.8 * RIPPLE_DB / 20.0);
            let delta_s = 10f64.powf(-(atten_db + 0.3) / 20.0);
            if let Some(hs) = remez_lowpass(shorter, pass, stop, delta_p / delta_s) {
                let (ps, ss) = measure(&hs, pass, stop);
                assert!(
                    ps > 0.8 * RIPPLE_DB || ss > -(atten_db + 0.3),
                    "{what}; N={shorter} also meets: {ps}, {ss}"
                );
            }
        }
        // Symmetric and unit DC gain.
        assert!(
            (0..n).all(|i| h[i].to_bits() == h[n - 1 - i].to_bits()),
            "{what}: not symmetric"
        );
        assert!((h.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{what}: DC gain");
        h
    }

    fn check_fewer_than_kaiser(pass: f64, stop: f64, atten_db: f64, phases: usize, min_saving: f64) {
        let h = check_design(pass, stop, atten_db, phases);
        let kaiser = kaiser_len(atten_db, stop - pass);
        let saving = 1.0 - h.len() as f64 / kaiser;
        assert!(
            saving >= min_saving,
            "{pass}/{stop} {atten_db} dB phases {phases}: N={} vs Kaiser {kaiser:.1}: saving {:.1} %",
            h.len(),
            100.0 * saving
        );
    }

    #[test]
    fn remez_upsample_8k_to_16k() {
        check_fewer_than_kaiser(0.225, 0.25, 100.0, 2, 0.25);
    }

    #[test]
    fn remez_decimate_16k_to_8k() {
        check_fewer_than_kaiser(0.225, 0.25, 100.0, 1, 0.25);
    }

    #[test]
    fn remez_decimate_48k_to_16k() {
        check_fewer_than_kaiser(0.15, 8.0 / 48.0, 100.0, 1, 0.25);
    }

    #[test]
    fn remez_upsample_8k_to_48k() {
        check_fewer_than_kaiser(0.075, 4.0 / 48.0, 100.0, 6, 0.25);
    }

    #[test]
    fn remez_60_and_80_db() {
        check_fewer_than_kaiser(0.2, 0.25, 60.0, 2, 0.0);
        check_fewer_than_kaiser(0.215, 0.25, 80.0, 1, 0.0);
    }

    /// Refined stopband peaks (interior ones) in dB, and the passband deviation peaks (linear).
    fn ripples(h: &[f64], pass: f64, stop: f64) -> (Vec<f64>, Vec<f64>) {
        let c = chebyshev_coeffs(h);
        let step = measure_step(h.len(), pass, stop);
        let sb = Band::sample(&c, stop, 0.5, step);
        let stop_peaks = sb.peaks(&c, f64::abs).iter().map(|p| 20.0 * p.log10()).collect();
        let pb = Band::sample(&c, 0.0, pass, step);
        let pass_peaks = pb
            .peaks(&c, |a| (a - 1.0).abs())
            .into_iter()
            .filter(|&p| p > 0.0)
            .collect();
        (stop_peaks, pass_peaks)
    }

    fn check_equiripple(n: usize, pass: f64, stop: f64, weight: f64) {
        let h = remez_lowpass(n, pass, stop, weight).unwrap_or_else(|| panic!("N={n} weight {weight}: no design"));
        assert_eq!(h.len(), n);
        assert!(
            (0..n).all(|i| h[i].to_bits() == h[n - 1 - i].to_bits()),
            "N={n}: not symmetric"
        );
        let (stop_peaks, pass_peaks) = ripples(&h, pass, stop);
        let hi = stop_peaks.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Every interior stopband ripple reaches the same level (the band's last point, f = 0.5,
        // may stay lower: the reference has one point to spare).
        let interior = &stop_peaks[..stop_peaks.len() - 1];
        let lo = interior.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(
            hi - lo < 1.0,
            "N={n} weight {weight}: stopband peaks from {lo:.2} to {hi:.2} dB over {} ripples",
            interior.len()
        );
        // The passband ripple is `weight` times the stopband ripple.
        let dp = pass_peaks.iter().copied().fold(0.0, f64::max);
        let ratio = dp / 10f64.powf(hi / 20.0);
        assert!(
            (ratio / weight - 1.0).abs() < 0.02,
            "N={n}: ripple ratio {ratio} vs weight {weight}"
        );
        // ... and equiripple too, apart from the lobe next to DC (the DC gain is pinned to 1).
        let inner = pass_peaks.iter().skip(1).copied().fold(f64::INFINITY, f64::min);
        assert!(
            20.0 * (dp / inner).log10() < 1.0,
            "N={n}: passband peaks from {inner:e} to {dp:e}"
        );
    }

    #[test]
    fn remez_equiripple_and_symmetric() {
        check_equiripple(31, 0.2, 0.3, 10.0);
        check_equiripple(161, 0.225, 0.25, 100.0);
        check_equiripple(551, 0.075, 4.0 / 48.0, 300.0);
    }

    #[test]
    fn remez_long_filters_with_heavy_stopband_weight() {
        check_equiripple(1601, 0.2, 0.203, 100.0);
        check_equiripple(1601, 0.0235, 0.026, 300.0);
    }

    #[test]
    fn remez_short_filters() {
        for n in [3, 5, 7, 15, 31] {
            let h = remez_lowpass(n, 0.1, 0.4, 1.0).unwrap_or_else(|| panic!("N={n}: no design"));
            assert!(
                (0..n).all(|i| h[i].to_bits() == h[n - 1 - i].to_bits()),
                "N={n}: not symmetric"
            );
            assert!((h.iter().sum::<f64>() - 1.0).abs() < 1e-12, "N={n}: DC gain");
        }
        // Longer is better, and 31 taps reach far.
        let (_, s15) = measure(&remez_lowpass(15, 0.1, 0.4, 1.0).unwrap_or_default(), 0.1, 0.4);
        let (_, s31) = measure(&remez_lowpass(31, 0.1, 0.4, 1.0).unwrap_or_default(), 0.1, 0.4);
        assert!(s31 < s15 - 40.0, "15 taps {s15:.1} dB, 31 taps {s31:.1} dB");
    }

    #[test]
    fn remez_gives_up_far_below_the_f64_floor() {
        // A 0.05 transition over 1601 taps would reach some -600 dB; 0.004 some -140 dB.
        assert!(remez_lowpass(1601, 0.2, 0.25, 10.0).is_none());
        assert!(remez_lowpass(1601, 0.2, 0.204, 10.0).is_some());
    }

    #[test]
    fn remez_rejects_bad_arguments() {
        assert!(remez_lowpass(101, 0.25, 0.25, 10.0).is_none());
        assert!(remez_lowpass(101, 0.3, 0.25, 10.0).is_none());
        assert!(remez_lowpass(101, 0.2, 0.5, 10.0).is_none());
        assert!(remez_lowpass(101, 0.0, 0.25, 10.0).is_none());
        assert!(remez_lowpass(101, f64::NAN, 0.25, 10.0).is_none());
        assert!(remez_lowpass(100, 0.2, 0.25, 10.0).is_none());
        assert!(remez_lowpass(1, 0.2, 0.25, 10.0).is_none());
        assert!(remez_lowpass(0, 0.2, 0.25, 10.0).is_none());
        assert!(remez_lowpass(101, 0.2, 0.25, 0.0).is_none());
        assert!(remez_lowpass(101, 0.2, 0.25, f64::INFINITY).is_none());
        assert!(design_lowpass(0.25, 0.25, 0.01, 100.0, 1, 1000).is_none());
        assert!(design_lowpass(0.2, 0.5, 0.01, 100.0, 1, 1000).is_none());
        assert!(design_lowpass(0.2, 0.25, 0.0, 100.0, 1, 1000).is_none());
        assert!(design_lowpass(0.2, 0.25, 0.01, -1.0, 1, 1000).is_none());
        assert!(design_lowpass(0.2, 0.25, 0.01, 100.0, 0, 1000).is_none());
        assert!(design_lowpass(0.2, 0.25, 0.01, 100.0, usize::MAX, usize::MAX).is_none());
        // A spec beyond `max_len`.
        assert!(design_lowpass(0.225, 0.25, 0.01, 100.0, 1, 101).is_none());
        for (h, pass, stop) in [(&[][..], 0.2, 0.25), (&[0.5, 0.5], 0.2, 0.25), (&[1.0], 0.3, 0.25)] {
            let (p, s) = measure(h, pass, stop);
            assert!(
                p.is_infinite() && p > 0.0 && s.is_infinite() && s > 0.0,
                "{h:?}: {p}, {s}"
            );
        }
    }

    #[test]
    fn remez_measure_sees_a_known_response() {
        // h = [1/4, 1/2, 1/4]: A(f) = cos^2(pi f).
        let h = [0.25, 0.5, 0.25];
        let (p, s) = measure(&h, 0.1, 0.4);
        let want_p = -20.0 * (PI * 0.1).cos().powi(2).log10();
        let want_s = 20.0 * (PI * 0.4).cos().powi(2).log10();
        assert!(
            (p - want_p).abs() < 1e-9 && (s - want_s).abs() < 1e-9,
            "{p} vs {want_p}, {s} vs {want_s}"
        );
    }
}
