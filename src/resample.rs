//! Streaming sample-rate conversion of 16-bit PCM with a polyphase windowed-sinc FIR.
//!
//! Output sample `k` sits exactly at input time `k * in_rate / out_rate` (no added phase shift),
//! so a stream and a one-shot call agree sample for sample: [`Resampler::push`] emits every output
//! whose filter window is covered by the input so far, and [`Resampler::flush`] pads the tail with
//! zeros. The price is a fixed look-ahead of half the filter span, [`Resampler::delay_samples`].
//!
//! The filter is designed at construction: a Kaiser-windowed sinc whose passband and stopband are
//! fractions of the lower of the two rates (see [`Quality`]). When the reduced ratio `L/M` has at
//! most [`MAX_EXACT_PHASES`] phases, every phase has its own coefficient row; otherwise (unusual
//! rate pairs such as 8001 -> 16000) rows are kept at [`INTERPOLATED_PHASES`] fractional offsets
//! and the two neighbouring rows' outputs are linearly interpolated.
//!
//! Arithmetic is `f32` with a fixed summation order (16 partial sums), so the result does not depend
//! on chunking nor on which SIMD target the dispatcher picks. There is no dither: digital silence
//! in gives digital silence out.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use multiversion::multiversion;

use crate::error::{DspError, DspResult};
use crate::remez;

/// Lowest supported sample rate, in Hz.
pub const MIN_RATE: u32 = 8_000;
/// Highest supported sample rate, in Hz.
pub const MAX_RATE: u32 = 48_000;
/// Largest phase count for which exact per-phase coefficients are stored.
pub const MAX_EXACT_PHASES: usize = 1024;
/// Fractional-offset rows kept when the exact phase count is larger than [`MAX_EXACT_PHASES`].
pub const INTERPOLATED_PHASES: usize = 1024;
/// Largest supported channel count.
pub const MAX_CHANNELS: u16 = 8;

/// Largest phase count that uses the across-outputs kernel.
const MAX_BLOCK_PHASES: usize = 8;
/// Outputs summed together by the across-outputs kernel: wide tiles for long runs, narrow ones for
/// the tail.
const BIG_TILE: usize = 128;
const SMALL_TILE: usize = 32;

/// Lanes of the dot product; filter lengths are rounded up to a multiple of this.
const LANES: usize = 16;

/// Filter quality, trading fidelity for speed. Edges are fractions of the lower of the two rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quality {
    /// Passband to 0.40, stopband from 0.50, 60 dB attenuation.
    Low,
    /// Passband to 0.43, stopband from 0.50, 80 dB attenuation.
    Medium,
    /// Passband to 0.45, stopband from 0.50, 100 dB attenuation (below the 16-bit floor).
    High,
}

impl Quality {
    /// Parses `low`, `medium` or `high`.
    pub fn parse(name: &str) -> DspResult<Self> {
        match name {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            _ => Err(DspError::UnknownQuality { name: name.to_owned() }),
        }
    }

    /// The name accepted by [`Quality::parse`].
    pub fn name(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// (passband edge, stopband edge, stopband attenuation in dB, passband ripple in dB); edges as
    /// fractions of the lower rate.
    fn design(self) -> (f64, f64, f64, f64) {
        match self {
            Self::Low => (0.40, 0.50, 60.0, 0.1),
            Self::Medium => (0.43, 0.50, 80.0, 0.02),
            Self::High => (0.45, 0.50, 100.0, 0.01),
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Zeroth-order modified Bessel function of the first kind (power series; converges fast for the
/// beta values used here).
fn bessel_i0(x: f64) -> f64 {
    let quarter_x2 = x * x / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..200 {
        let kf = f64::from(k);
        term *= quarter_x2 / (kf * kf);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

fn kaiser_beta(atten_db: f64) -> f64 {
    if atten_db > 50.0 {
        0.1102 * (atten_db - 8.7)
    } else if atten_db >= 21.0 {
        0.5842 * (atten_db - 21.0).powf(0.4) + 0.07886 * (atten_db - 21.0)
    } else {
        0.0
    }
}

/// Band edges (Hz) and stopband attenuation (dB) of one filter.
#[derive(Clone, Copy, Debug)]
struct Spec {
    pass_hz: f64,
    stop_hz: f64,
    atten_db: f64,
    /// Largest passband deviation allowed, dB (equiripple designs spend it to save taps).
    ripple_db: f64,
}

impl Spec {
    /// Filter length in input samples for a Kaiser design at `in_rate`.
    fn span(self, in_rate: u64) -> f64 {
        let width = (self.stop_hz - self.pass_hz) / in_rate as f64;
        (self.atten_db - 7.95) / (2.285 * 2.0 * std::f64::consts::PI * width) + 1.0
    }
}

/// The designed filter: `rows` coefficient rows of `taps` each, row `r` for fractional offset
/// `r / phase_den` of an input sample.
struct Filter {
    taps: usize,
    /// Half the span, in input samples: the look-ahead an output needs.
    half: usize,
    coeffs: Vec<f32>,
}

impl Filter {
    /// `multiple`: the tap count is rounded up to this (the dot-product kernel reads whole lanes).
    fn design(in_rate: u64, spec: Spec, phase_den: usize, rows: usize, multiple: usize) -> Self {
        let fin = in_rate as f64;
        // Cutoff in cycles per input sample.
        let cutoff = 0.5 * (spec.pass_hz + spec.stop_hz) / fin;
        let taps = (spec.span(in_rate).ceil() as usize).div_ceil(multiple) * multiple;
        let half = taps / 2;
        let beta = kaiser_beta(spec.atten_db);
        let norm = bessel_i0(beta);
        let mut coeffs = vec![0f32; rows * taps];
        let mut row_f64 = vec![0f64; taps];
        for (r, row) in coeffs.chunks_exact_mut(taps).enumerate() {
            let frac = r as f64 / phase_den as f64;
            for (j, c) in row_f64.iter_mut().enumerate() {
                // Tap j reads input q - half + 1 + j for an output at q + frac.
                let tau = j as f64 - half as f64 + 1.0 - frac;
                let x = tau / half as f64;
                *c = if x.abs() >= 1.0 {
                    0.0
                } else {
                    let arg = 2.0 * cutoff * tau;
                    let sinc = if arg == 0.0 {
                        1.0
                    } else {
                        (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
                    };
                    2.0 * cutoff * sinc * bessel_i0(beta * (1.0 - x * x).sqrt()) / norm
                };
            }
            // Unit DC gain on every row: unequal row gains would modulate the signal at the
            // phase rate and leave images above the band.
            let sum: f64 = row_f64.iter().sum();
            for (dst, src) in row.iter_mut().zip(&row_f64) {
                *dst = (src / sum) as f32;
            }
        }
        Self { taps, half, coeffs }
    }

    /// An equiripple (Parks-McClellan) design for a stage with `l` phases: about a quarter fewer
    /// taps than the Kaiser window for the same stopband, because it spends the allowed passband
    /// ripple. `None` if no design of a sensible length meets the spec.
    fn design_equiripple(in_rate: u64, spec: Spec, l: usize) -> Option<Self> {
        let rate = (in_rate as f64) * l as f64;
        // Room for four times the Kaiser length: far more than an equiripple design needs.
        let max_len = 8 * (spec.span(in_rate).ceil() as usize + 1) * l;
        let proto = remez::design_lowpass(
            spec.pass_hz / rate,
            spec.stop_hz / rate,
            spec.ripple_db,
            spec.atten_db,
            l,
            max_len,
        )?;
        // Length 2*l*half - 1, centred: tap j of phase p reads prototype index (j - half + 1)*l - p
        // from the centre; the one index past the end (j = 2*half - 1, p = 0) is a zero tap.
        let half = (proto.len() + 1) / (2 * l);
        let taps = 2 * half;
        let centre = (proto.len() - 1) as i64 / 2;
        let mut coeffs = vec![0f32; l * taps];
        for (p, row) in coeffs.chunks_exact_mut(taps).enumerate() {
            let values: Vec<f64> = (0..taps)
                .map(|j| {
                    let n = centre + (j as i64 - half as i64 + 1) * l as i64 - p as i64;
                    usize::try_from(n)
                        .ok()
                        .and_then(|n| proto.get(n))
                        .copied()
                        .unwrap_or(0.0)
                })
                .collect();
            // Scale by L (the prototype has unit DC gain at the high rate) rather than normalizing
            // each row: the rows' sums differ by the stopband ripple, and evening them out would
            // add an image of the same size on top of the filter's own.
            for (dst, v) in row.iter_mut().zip(&values) {
                *dst = (v * l as f64) as f32;
            }
        }
        Some(Self { taps, half, coeffs })
    }

    fn row(&self, r: usize) -> &[f32] {
        &self.coeffs[r * self.taps..(r + 1) * self.taps]
    }
}

/// What determines a designed filter.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct FilterKey {
    in_rate: u64,
    spec_bits: [u64; 4],
    phases: usize,
    rows: usize,
    multiple: usize,
    equiripple: bool,
}

/// Designed filters, shared by every stage that needs the same one: designing takes milliseconds
/// and a process runs many calls at the same rates, so each filter is designed once and its
/// coefficients exist once in memory.
static FILTERS: LazyLock<Mutex<HashMap<FilterKey, Arc<Filter>>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn shared_filter(key: FilterKey, design: impl FnOnce() -> Filter) -> Arc<Filter> {
    let mut cache = FILTERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    Arc::clone(cache.entry(key).or_insert_with(|| Arc::new(design())))
}

/// How output positions map to coefficient rows.
#[derive(Clone, Copy)]
enum Phases {
    /// One row per phase `p` of `L`, few phases: many outputs per phase in a chunk, summed across outputs.
    Block,
    /// One row per phase `p` of `L`, summed across taps.
    Exact,
    /// Rows at `r / INTERPOLATED_PHASES`; phase `p` of `L` interpolates rows around `p * R / L`.
    Interpolated,
}

fn phases_for(l: u64) -> Phases {
    if l as usize <= MAX_BLOCK_PHASES {
        Phases::Block
    } else if l as usize <= MAX_EXACT_PHASES {
        Phases::Exact
    } else {
        Phases::Interpolated
    }
}

/// Relative cost of a stage per second of audio: multiply-adds, weighted by the kernel's speed per
/// tap (calibrated on the benchmarks: the across-outputs kernel with an equiripple filter about a
/// quarter shorter than this Kaiser estimate is the unit).
fn stage_cost(in_rate: u64, out_rate: u64, spec: Spec) -> f64 {
    let l = out_rate / gcd(in_rate, out_rate);
    let weight = match phases_for(l) {
        Phases::Block => 0.73,
        // Per-output rows do not share loads across outputs, and large tables leave L1.
        Phases::Exact => 3.0,
        Phases::Interpolated => 6.0,
    };
    out_rate as f64 * spec.span(in_rate) * weight
}

/// One polyphase FIR from `in_rate` to `out_rate`, on planar `f32` history.
struct Stage {
    channels: usize,
    /// Reduced ratio: output k sits at input position k * m / l.
    l: u64,
    m: u64,
    phases: Phases,
    filter: Arc<Filter>,
    /// Planar history per channel; `bufs[c][0]` holds input index `buf_start`.
    bufs: Vec<Vec<f32>>,
    /// Input index of `bufs[c][0]`; negative while the leading zeros are still held.
    buf_start: i64,
    /// Input samples (per channel) pushed since the stream started.
    n_in: u64,
    /// Next output index to produce.
    next_out: u64,
    /// Scratch: the history split into `m` decimated streams (block path).
    streams: Vec<f32>,
    /// Scratch: outputs of one phase or one channel.
    scratch: Vec<f32>,
}

impl Stage {
    fn new(in_rate: u64, out_rate: u64, spec: Spec, channels: usize) -> Self {
        let g = gcd(in_rate, out_rate);
        let (l, m) = (out_rate / g, in_rate / g);
        let phases = phases_for(l);
        let (phase_den, rows, multiple) = match phases {
            Phases::Block => (l as usize, l as usize, 2),
            Phases::Exact => (l as usize, l as usize, LANES),
            Phases::Interpolated => (INTERPOLATED_PHASES, INTERPOLATED_PHASES + 1, LANES),
        };
        let equiripple = matches!(phases, Phases::Block);
        let key = FilterKey {
            in_rate,
            spec_bits: [spec.pass_hz, spec.stop_hz, spec.atten_db, spec.ripple_db].map(f64::to_bits),
            phases: phase_den,
            rows,
            multiple,
            equiripple,
        };
        let filter = shared_filter(key, || {
            // An equiripple stopband stays at its floor all the way up instead of falling away
            // like a window's, and upsampling by L folds L - 1 images of every tone back into
            // the output: give each image 10*log10(L) + 3 dB more room, so that together they
            // stay under the floor (this keeps 1 kHz THD+N within 1 dB of the 16-bit limit).
            let boost = if l > 1 { 10.0 * (l as f64).log10() + 3.0 } else { 0.0 };
            let eq_spec = Spec {
                atten_db: spec.atten_db + boost,
                ..spec
            };
            equiripple
                .then(|| Filter::design_equiripple(in_rate, eq_spec, l as usize))
                .flatten()
                .unwrap_or_else(|| Filter::design(in_rate, spec, phase_den, rows, multiple))
        });
        let mut stage = Self {
            channels,
            l,
            m,
            phases,
            filter,
            bufs: vec![Vec::new(); channels],
            buf_start: 0,
            n_in: 0,
            next_out: 0,
            streams: Vec::new(),
            scratch: Vec::new(),
        };
        stage.reset();
        stage
    }

    fn reset(&mut self) {
        // Leading zeros stand in for the input before the stream started.
        let lead = self.filter.half - 1;
        for buf in &mut self.bufs {
            buf.clear();
            buf.resize(lead, 0.0);
        }
        self.buf_start = -(lead as i64);
        self.n_in = 0;
        self.next_out = 0;
    }

    /// Look-ahead in this stage's output samples.
    fn delay_samples(&self) -> f64 {
        self.filter.half as f64 * self.l as f64 / self.m as f64
    }

    /// Input position of output `k` as (whole input index, phase numerator over `l`).
    fn position(&self, k: u64) -> (u64, u64) {
        let num = u128::from(k) * u128::from(self.m);
        ((num / u128::from(self.l)) as u64, (num % u128::from(self.l)) as u64)
    }

    /// Outputs (per channel) producible once `extra` more input samples (per channel) arrive.
    fn ready_after(&self, extra: u64) -> usize {
        // Output k needs inputs up to index q + half, so q + half < available.
        let available = self.n_in + extra;
        let half = self.filter.half as u64;
        if available <= half {
            return 0;
        }
        let q_max = available - half - 1;
        // Largest k with k*m/l <= q_max (floor), plus one.
        let k_end = ((u128::from(q_max) + 1) * u128::from(self.l)).div_ceil(u128::from(self.m)) as u64;
        k_end.saturating_sub(self.next_out) as usize
    }

    /// Outputs (per channel) the stream will have produced in all once `extra` more inputs arrive
    /// and it is flushed, minus those already produced.
    fn flush_len_after(&self, extra: u64) -> usize {
        let total = (u128::from(self.n_in + extra) * u128::from(self.l)).div_ceil(u128::from(self.m)) as u64;
        total.saturating_sub(self.next_out) as usize
    }

    /// Appends `frames` interleaved sample frames read from `sample(interleaved_index)`.
    fn ingest(&mut self, frames: usize, sample: impl Fn(usize) -> f32) {
        if self.channels == 1 {
            self.bufs[0].extend((0..frames).map(&sample));
            self.n_in += frames as u64;
            return;
        }
        for (c, buf) in self.bufs.iter_mut().enumerate() {
            buf.reserve(frames);
            buf.extend((0..frames).map(|f| sample(f * self.channels + c)));
        }
        self.n_in += frames as u64;
    }

    /// Appends mono little-endian 16-bit samples (the common case, kept free of per-sample indexing
    /// so it vectorizes).
    fn ingest_mono_le(&mut self, bytes: &[u8]) {
        self.bufs[0].extend(
            bytes
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]]))),
        );
        self.n_in += (bytes.len() / 2) as u64;
    }

    /// Zeros after the end, enough for every remaining output's window.
    fn pad_tail(&mut self) {
        let pad = self.filter.taps;
        for buf in &mut self.bufs {
            buf.resize(buf.len() + pad, 0.0);
        }
    }

    /// Produces `count` outputs per channel into `emit(interleaved_index, value)` and drops history
    /// no longer needed.
    fn produce(&mut self, count: usize, mut emit: impl FnMut(usize, f32)) {
        if count == 0 {
            return;
        }
        let half = self.filter.half as i64;
        let (q0, p0) = self.position(self.next_out);
        let first = (q0 as i64 - half + 1 - self.buf_start) as usize;
        for c in 0..self.channels {
            match self.phases {
                Phases::Block => self.produce_block(c, first, p0, count, &mut emit),
                Phases::Exact | Phases::Interpolated => {
                    let rows = if matches!(self.phases, Phases::Exact) {
                        RowMap::Exact
                    } else {
                        RowMap::Interpolated
                    };
                    self.scratch.resize(count, 0.0);
                    fir_taps(
                        &self.filter,
                        rows,
                        &self.bufs[c][first..],
                        (p0, self.l, self.m),
                        &mut self.scratch,
                    );
                    for (i, v) in self.scratch.iter().enumerate() {
                        emit(i * self.channels + c, *v);
                    }
                }
            }
        }
        self.next_out += count as u64;
        // Keep from the first input the next output will read.
        let (q, _) = self.position(self.next_out);
        let keep_from = q as i64 - half + 1;
        let drop = (keep_from - self.buf_start).clamp(0, self.bufs[0].len() as i64) as usize;
        if drop > 0 {
            for buf in &mut self.bufs {
                buf.drain(..drop);
            }
            self.buf_start += drop as i64;
        }
    }

    /// The many-outputs-per-phase path: outputs `i, i + L, i + 2L, ...` share a coefficient row and
    /// read input `M` samples apart, so after splitting the history into `M` decimated streams each
    /// coefficient multiplies a contiguous run of inputs and the sum vectorizes across outputs.
    fn produce_block(&mut self, c: usize, first: usize, p0: u64, count: usize, emit: &mut impl FnMut(usize, f32)) {
        let m = self.m as usize;
        let l = self.l as usize;
        let src = &self.bufs[c][first..];
        let stream_len = src.len().div_ceil(m) + BIG_TILE;
        self.streams.resize(m * stream_len, 0.0);
        if m == 1 {
            self.streams[..src.len()].copy_from_slice(src);
            self.streams[src.len()..].fill(0.0);
        } else {
            for (r, stream) in self.streams.chunks_exact_mut(stream_len).enumerate() {
                let mut n = 0;
                for v in src.iter().skip(r).step_by(m) {
                    stream[n] = *v;
                    n += 1;
                }
                stream[n..].fill(0.0);
            }
        }
        let (mut a, mut p) = (0usize, p0 as usize);
        for i in 0..count.min(l) {
            let outputs = (count - i).div_ceil(l);
            self.scratch.resize(outputs.div_ceil(SMALL_TILE) * SMALL_TILE, 0.0);
            fir_block(self.filter.row(p), &self.streams, stream_len, m, a, &mut self.scratch);
            for (j, v) in self.scratch[..outputs].iter().enumerate() {
                emit((i + j * l) * self.channels + c, *v);
            }
            p += m % l;
            a += m / l;
            if p >= l {
                p -= l;
                a += 1;
            }
        }
    }
}

/// Look-ahead a split plan may add up to, ms (a single stage needs at most about 8 ms).
const MAX_DELAY_MS: f64 = 9.5;
/// Most stages a conversion is split into.
const MAX_STAGES: usize = 3;
/// Extra cost of each stage per second of audio, in the units of [`stage_cost`]: buffers to fill
/// and history to rearrange on every call (about a microsecond per 20 ms chunk, measured).
const STAGE_OVERHEAD: f64 = 2.0e6;

/// The cheapest chain of rates from `in_rate` to `out_rate` (both ends included).
///
/// The sharp filtering (the transition from the passband edge to the lower rate's Nyquist) must
/// happen once, in the stage that touches the lower rate; every other stage only has to keep its
/// images and aliases out of the band, which a short filter does when the band is far below that
/// stage's Nyquist. So rates of another family (44.1 kHz <-> 16 kHz) or large ratios (48 kHz -> 16
/// kHz) can be reached through intermediate rates where the sharp stage has few phases and few
/// taps; the plan with the fewest weighted multiply-adds per second wins.
fn plan(in_rate: u64, out_rate: u64, specs: &dyn Fn(u64, u64, bool) -> Spec) -> Vec<u64> {
    if in_rate == out_rate {
        return vec![in_rate, out_rate];
    }
    // Built as a downsampling chain from the high rate to the low one; reversed for upsampling.
    let (high, low) = (in_rate.max(out_rate), in_rate.min(out_rate));
    let mut chains: Vec<Vec<u64>> = vec![vec![high, low]];
    let mut seconds: Vec<u64> = Vec::new();
    for k in 2..=8u64 {
        // A multiple of the low rate at or above the high rate (a fractional step up, then an
        // integer step down), or the high rate divided evenly (an integer step down first).
        let up = low * k;
        if up >= high && up <= 4 * high {
            seconds.push(up);
        }
        if high.is_multiple_of(k) && high / k > low {
            seconds.push(high / k);
        }
    }
    for &r1 in &seconds {
        chains.push(vec![high, r1, low]);
        for k in 2..=4u64 {
            if r1.is_multiple_of(k) && r1 / k > low && r1 / k < high {
                chains.push(vec![high, r1, r1 / k, low]);
            }
        }
    }
    let cost = |chain: &[u64]| -> f64 {
        let stages = chain.len() - 1;
        chain
            .windows(2)
            .enumerate()
            .map(|(s, w)| {
                // Downsampling chain: the last stage touches the low rate.
                let (a, b) = (w[0], w[1]);
                let (from, to) = if in_rate > out_rate { (a, b) } else { (b, a) };
                let spec = specs(from, to, s == stages - 1);
                stage_cost(from, to, spec) + STAGE_OVERHEAD
            })
            .sum()
    };
    // Look-ahead of a chain, ms: half of each stage's span (a Kaiser estimate, an upper bound).
    let delay_ms = |chain: &[u64]| -> f64 {
        let stages = chain.len() - 1;
        chain
            .windows(2)
            .enumerate()
            .map(|(s, w)| {
                let (from, to) = if in_rate > out_rate { (w[0], w[1]) } else { (w[1], w[0]) };
                let spec = specs(from, to, s == stages - 1);
                500.0 * spec.span(from) / from as f64
            })
            .sum()
    };
    // In upsampling, an integer step of 3 or more after the first stage would pass on the previous
    // stage's uneven chunks multiplied, delivering output in bursts; 20 ms in must give 20 ms
    // (+-1 sample) out.
    let smooth = |chain: &[u64]| {
        // `chain` runs from the high rate down; in time order an upsampling chain runs backwards.
        in_rate > out_rate
            || chain
                .windows(2)
                .rev()
                .skip(1)
                .all(|w| !(w[0].is_multiple_of(w[1]) && w[0] / w[1] >= 3))
    };
    let direct = vec![high, low];
    let budget_ms = delay_ms(&direct).max(MAX_DELAY_MS);
    let mut best = chains
        .into_iter()
        .filter(|c| c.len() - 1 <= MAX_STAGES && delay_ms(c) <= budget_ms && (c.len() == 2 || smooth(c)))
        .min_by(|a, b| cost(a).total_cmp(&cost(b)))
        .unwrap_or(direct);
    if in_rate < out_rate {
        best.reverse();
    }
    best
}

/// A streaming, stateful resampler for interleaved 16-bit PCM. One object per audio stream.
///
/// Ratios with few phases (8 kHz <-> 16 kHz, 16 kHz <-> 24 kHz) run as one polyphase stage. Across
/// rate families (44.1 kHz <-> 16 kHz, 11025 Hz -> 8 kHz, odd rates) and for large ratios (48 kHz
/// -> 16 kHz) the conversion is split (see [`plan`]): the sharp filtering happens once, in the stage
/// at the lower rate, and the other steps use short filters. Stages pass `f32` to each other, so
/// nothing is rounded between them.
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    quality: Quality,
    channels: usize,
    /// The stages in order, each with its output rate.
    stages: Vec<(Stage, u64)>,
    /// Interleaved output of each stage but the last, reused between calls.
    mids: Vec<Vec<f32>>,
    /// Input samples (per channel) since the stream started, and outputs produced: a split chain
    /// can round up one sample more than `ceil(n * out / in)` at the end, which is trimmed.
    n_in: u64,
    n_out: u64,
    /// Outputs gathered before conversion to bytes, reused between calls.
    staged: Vec<f32>,
}

impl Resampler {
    /// Builds a resampler from `in_rate` to `out_rate` (Hz, each from [`MIN_RATE`] to [`MAX_RATE`])
    /// for `channels` interleaved channels.
    pub fn new(in_rate: u64, out_rate: u64, quality: Quality, channels: u64) -> DspResult<Self> {
        for (what, rate) in [("resampler input", in_rate), ("resampler output", out_rate)] {
            if !(u64::from(MIN_RATE)..=u64::from(MAX_RATE)).contains(&rate) {
                return Err(DspError::SampleRateOutOfRange {
                    what,
                    sample_rate: rate,
                    min: MIN_RATE,
                    max: MAX_RATE,
                });
            }
        }
        if channels == 0 || channels > u64::from(MAX_CHANNELS) {
            return Err(DspError::ChannelsOutOfRange {
                channels,
                max: MAX_CHANNELS,
            });
        }
        let ch = channels as usize;
        let (pass, stop, atten_db, ripple_db) = quality.design();
        let low = in_rate.min(out_rate) as f64;
        let sharp = Spec {
            pass_hz: pass * low,
            stop_hz: stop * low,
            atten_db,
            ripple_db,
        };
        // A non-sharp step only has to keep its images and aliases out of the band [0, stop * low]:
        // they start at the lower of its two rates minus that band. Its passband ripple is kept
        // small so that the sharp stage's ripple is what the chain shows.
        let specs = |from: u64, to: u64, is_sharp: bool| {
            if is_sharp {
                sharp
            } else {
                Spec {
                    stop_hz: from.min(to) as f64 - stop * low,
                    ripple_db: ripple_db / 10.0,
                    ..sharp
                }
            }
        };
        let rates = plan(in_rate, out_rate, &specs);
        let count = rates.len() - 1;
        let stages = rates
            .windows(2)
            .enumerate()
            .map(|(s, w)| {
                // The sharp stage touches the lower rate: last when going down, first going up.
                let is_sharp = if in_rate > out_rate { s == count - 1 } else { s == 0 };
                (Stage::new(w[0], w[1], specs(w[0], w[1], is_sharp), ch), w[1])
            })
            .collect();
        Ok(Self {
            in_rate: in_rate as u32,
            out_rate: out_rate as u32,
            quality,
            channels: ch,
            stages,
            mids: vec![Vec::new(); count.saturating_sub(1)],
            n_in: 0,
            n_out: 0,
            staged: Vec::new(),
        })
    }

    /// Input rate in Hz.
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// Output rate in Hz.
    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// The quality the filter was designed for.
    pub fn quality(&self) -> Quality {
        self.quality
    }

    /// Interleaved channel count.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Filter lengths in input samples of each stage.
    pub fn filter_taps(&self) -> Vec<usize> {
        self.stages.iter().map(|(stage, _)| stage.filter.taps).collect()
    }

    /// The rates between the stages of a split conversion, in Hz (empty for one stage).
    pub fn intermediate_rates(&self) -> Vec<u64> {
        let n = self.stages.len();
        self.stages[..n - 1].iter().map(|(_, rate)| *rate).collect()
    }

    /// True when the rates are equal: samples are copied unchanged, with no delay.
    pub fn is_passthrough(&self) -> bool {
        self.in_rate == self.out_rate
    }

    /// Look-ahead in output samples: once primed, output lags input by this much (the filter's
    /// group delay, since the output itself is time-aligned with the input).
    pub fn delay_samples(&self) -> usize {
        if self.is_passthrough() {
            return 0;
        }
        let total: f64 = self
            .stages
            .iter()
            .map(|(stage, rate)| stage.delay_samples() * f64::from(self.out_rate) / *rate as f64)
            .sum();
        total.ceil() as usize
    }

    /// Forgets all input and starts a new stream.
    pub fn reset(&mut self) {
        for (stage, _) in &mut self.stages {
            stage.reset();
        }
        self.n_in = 0;
        self.n_out = 0;
    }

    /// Outputs the whole stream may have after `extra` more inputs: `ceil(n * out / in)`.
    fn target_after(&self, extra: u64) -> u64 {
        ((self.n_in + extra) * u64::from(self.out_rate)).div_ceil(u64::from(self.in_rate))
    }

    /// Output samples (per channel) a push of `n_samples` more input samples (per channel) would produce now.
    pub fn output_len_for(&self, n_samples: usize) -> usize {
        if self.is_passthrough() {
            return n_samples;
        }
        let mut n = n_samples as u64;
        for (stage, _) in &self.stages {
            n = stage.ready_after(n) as u64;
        }
        n.min(self.target_after(n_samples as u64).saturating_sub(self.n_out)) as usize
    }

    /// Output samples (per channel) a new stream of `n_samples` input samples (per channel) gives in
    /// all, push and flush together: `ceil(n_samples * out_rate / in_rate)`.
    pub fn total_len_for(&self, n_samples: usize) -> usize {
        (n_samples as u64 * u64::from(self.out_rate)).div_ceil(u64::from(self.in_rate)) as usize
    }

    /// Output samples (per channel) that [`Resampler::flush`] would produce now.
    pub fn flush_len(&self) -> usize {
        if self.is_passthrough() {
            return 0;
        }
        let mut n = 0u64;
        for (stage, _) in &self.stages {
            n = stage.flush_len_after(n) as u64;
        }
        n.min(self.target_after(0).saturating_sub(self.n_out)) as usize
    }

    /// [`Resampler::run`] into little-endian bytes: outputs are gathered as `f32` first, then
    /// converted in one pass the compiler vectorizes. Returns the bytes written.
    fn run_to_bytes(&mut self, flush: bool, out: &mut [u8]) -> usize {
        let mut staged = std::mem::take(&mut self.staged);
        staged.clear();
        staged.resize(out.len() / 2, 0.0);
        let count = self.run(flush, |i, v| staged[i] = v);
        let values = count * self.channels;
        for (dst, v) in out[..2 * values].chunks_exact_mut(2).zip(&staged[..values]) {
            dst.copy_from_slice(&to_i16(*v).to_le_bytes());
        }
        self.staged = staged;
        2 * values
    }

    /// Runs the stages on input already ingested by the first; `flush` drains them.
    fn run(&mut self, flush: bool, mut emit: impl FnMut(usize, f32)) -> usize {
        let last = self.stages.len() - 1;
        let limit = self.target_after(0).saturating_sub(self.n_out) as usize;
        for s in 0..=last {
            let stage = &mut self.stages[s].0;
            if s > 0 {
                let mid = &self.mids[s - 1];
                stage.ingest(mid.len() / self.channels, |i| mid[i]);
            }
            let mut count = if flush {
                stage.flush_len_after(0)
            } else {
                stage.ready_after(0)
            };
            if flush {
                stage.pad_tail();
            }
            if s == last {
                count = count.min(limit);
                stage.produce(count, &mut emit);
                self.n_out += count as u64;
                return count;
            }
            let mid = &mut self.mids[s];
            mid.clear();
            mid.resize(count * self.channels, 0.0);
            stage.produce(count, |i, v| mid[i] = v);
        }
        unreachable!("the loop returns at the last stage")
    }

    /// Pushes interleaved samples; writes every output they complete into `out` (interleaved) and
    /// returns how many values were written. `out` must hold at least
    /// `output_len_for(input.len() / channels) * channels` values.
    pub fn push(&mut self, input: &[i16], out: &mut [i16]) -> DspResult<usize> {
        self.check_len(input.len(), 2)?;
        if self.is_passthrough() {
            out[..input.len()].copy_from_slice(input);
            return Ok(input.len());
        }
        let frames = input.len() / self.channels;
        self.stages[0].0.ingest(frames, |i| f32::from(input[i]));
        self.n_in += frames as u64;
        let count = self.run(false, |i, v| out[i] = to_i16(v));
        Ok(count * self.channels)
    }

    /// Like [`Resampler::push`] for little-endian 16-bit bytes in and out.
    pub fn push_bytes(&mut self, input: &[u8], out: &mut [u8]) -> DspResult<usize> {
        self.check_len(input.len(), 1)?;
        if self.is_passthrough() {
            out[..input.len()].copy_from_slice(input);
            return Ok(input.len());
        }
        let frames = input.len() / 2 / self.channels;
        if self.channels == 1 {
            self.stages[0].0.ingest_mono_le(input);
        } else {
            self.stages[0].0.ingest(frames, |i| {
                f32::from(i16::from_le_bytes([input[2 * i], input[2 * i + 1]]))
            });
        }
        self.n_in += frames as u64;
        Ok(self.run_to_bytes(false, out))
    }

    /// Appends to a `Vec` instead of a caller slice.
    pub fn push_vec(&mut self, input: &[i16], out: &mut Vec<i16>) -> DspResult<()> {
        self.check_len(input.len(), 2)?;
        let start = out.len();
        out.resize(
            start + self.output_len_for(input.len() / self.channels) * self.channels,
            0,
        );
        self.push(input, &mut out[start..])?;
        Ok(())
    }

    /// Ends the stream: produces the remaining outputs (input padded with zeros), writes them into
    /// `out` (at least `flush_len() * channels` values) and resets. Returns the count written.
    pub fn flush(&mut self, out: &mut [i16]) -> usize {
        if self.is_passthrough() {
            return 0;
        }
        let count = self.run(true, |i, v| out[i] = to_i16(v));
        self.reset();
        count * self.channels
    }

    /// Like [`Resampler::flush`] writing little-endian bytes; returns bytes written.
    pub fn flush_bytes(&mut self, out: &mut [u8]) -> usize {
        if self.is_passthrough() {
            return 0;
        }
        let written = self.run_to_bytes(true, out);
        self.reset();
        written
    }

    /// Appends the flushed tail to a `Vec`.
    pub fn flush_vec(&mut self, out: &mut Vec<i16>) {
        let start = out.len();
        out.resize(start + self.flush_len() * self.channels, 0);
        self.flush(&mut out[start..]);
    }

    fn check_len(&self, len: usize, bytes_per_value: usize) -> DspResult<()> {
        let frame = self.channels * 2;
        if !(len * bytes_per_value).is_multiple_of(frame) {
            return Err(DspError::PartialSample {
                what: "PCM input",
                len: len * bytes_per_value,
                frame_bytes: frame,
            });
        }
        Ok(())
    }
}

/// One-shot conversion of a whole interleaved buffer; equal to push + flush on a new [`Resampler`].
pub fn resample(input: &[i16], in_rate: u64, out_rate: u64, quality: Quality, channels: u64) -> DspResult<Vec<i16>> {
    let mut r = Resampler::new(in_rate, out_rate, quality, channels)?;
    let mut out = Vec::new();
    r.push_vec(input, &mut out)?;
    r.flush_vec(&mut out);
    Ok(out)
}

const ROUND_MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding and subtracting it rounds to nearest even.

#[inline]
fn to_i16(value: f32) -> i16 {
    let clamped = value.clamp(-32768.0, 32767.0);
    ((clamped + ROUND_MAGIC) - ROUND_MAGIC) as i16
}

/// How a phase numerator picks coefficients in [`fir_taps`].
#[derive(Clone, Copy)]
enum RowMap {
    Exact,
    Interpolated,
}

#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl",
    "x86_64+avx2+fma",
    "x86_64+avx",
    "x86_64+sse4.1",
    "aarch64+neon"
))]
fn fir_taps(filter: &Filter, rows: RowMap, buf: &[f32], (p0, l, m): (u64, u64, u64), out: &mut [f32]) {
    let (step_q, step_p) = ((m / l) as usize, m % l);
    let (mut offset, mut p) = (0usize, p0);
    for v in out.iter_mut() {
        let window = &buf[offset..offset + filter.taps];
        *v = match rows {
            RowMap::Exact => dot(filter.row(p as usize), window),
            RowMap::Interpolated => {
                let pos = p as f64 * INTERPOLATED_PHASES as f64 / l as f64;
                let r = pos as usize;
                let frac = (pos - r as f64) as f32;
                let a = dot(filter.row(r), window);
                let b = dot(filter.row(r + 1), window);
                a + frac * (b - a)
            }
        };
        offset += step_q;
        p += step_p;
        if p >= l {
            p -= l;
            offset += 1;
        }
    }
}

// Inlined into each multiversioned caller so it is compiled for that caller's target features.
#[allow(clippy::inline_always)]
#[inline(always)]
fn dot(coeffs: &[f32], window: &[f32]) -> f32 {
    // LANES independent partial sums in a fixed order: they vectorize on every target, keep enough
    // add chains in flight to hide latency, and give the same bits whichever target runs.
    let mut acc = [0f32; LANES];
    for (c, x) in coeffs.chunks_exact(LANES).zip(window.chunks_exact(LANES)) {
        for i in 0..LANES {
            acc[i] += c[i] * x[i];
        }
    }
    let mut width = LANES / 2;
    while width > 0 {
        for i in 0..width {
            acc[i] += acc[i + width];
        }
        width /= 2;
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speechish(n: usize, rate: f64) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f64 / rate;
                let env = 0.5 + 0.5 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
                let v = 6000.0 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()
                    + 3000.0 * (2.0 * std::f64::consts::PI * 1330.0 * t).sin()
                    + 1500.0 * (2.0 * std::f64::consts::PI * 3100.0 * t).sin();
                (v * env) as i16
            })
            .collect()
    }

    fn chunked(input: &[i16], in_rate: u64, out_rate: u64, chunk: usize) -> Vec<i16> {
        let mut r = Resampler::new(in_rate, out_rate, Quality::High, 1).unwrap();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            r.push_vec(piece, &mut out).unwrap();
        }
        r.flush_vec(&mut out);
        out
    }

    #[test]
    fn streaming_equals_one_shot_for_every_chunking() {
        for (fin, fout) in [
            (8000, 16000),
            (16000, 8000),
            (44100, 16000),
            (16000, 24000),
            (8001, 16000),
        ] {
            let input = speechish(fin as usize / 5 + 37, fin as f64);
            let whole = resample(&input, fin, fout, Quality::High, 1).unwrap();
            let expected_len = (input.len() as u64 * fout).div_ceil(fin) as usize;
            assert_eq!(whole.len(), expected_len, "{fin}->{fout}");
            for chunk in [1, 17, 159, 160, 161, 509] {
                assert_eq!(chunked(&input, fin, fout, chunk), whole, "{fin}->{fout} chunk {chunk}");
            }
        }
    }

    #[test]
    fn silence_stays_silent_and_steady_chunks_give_steady_output() {
        let mut r = Resampler::new(8000, 16000, Quality::High, 1).unwrap();
        let zeros = vec![0i16; 160];
        let mut sizes = Vec::new();
        for _ in 0..20 {
            let mut out = Vec::new();
            r.push_vec(&zeros, &mut out).unwrap();
            assert!(out.iter().all(|&v| v == 0));
            sizes.push(out.len());
        }
        // After priming, every 20 ms in gives 20 ms out.
        assert!(sizes[2..].iter().all(|&n| n == 320), "{sizes:?}");
        assert!(r.delay_samples() * 1000 / 16000 <= 10);
    }

    #[test]
    fn delay_is_at_most_ten_ms_for_every_pair() {
        let rates = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
        for &fin in &rates {
            for &fout in &rates {
                let r = Resampler::new(fin, fout, Quality::High, 1).unwrap();
                let ms = r.delay_samples() as f64 * 1000.0 / fout as f64;
                assert!(ms <= 10.0, "{fin}->{fout}: {ms} ms");
            }
        }
    }

    #[test]
    fn stereo_channels_are_independent() {
        let left = speechish(4000, 16000.0);
        let right: Vec<i16> = left.iter().map(|v| v / 2).collect();
        let inter: Vec<i16> = left.iter().zip(&right).flat_map(|(a, b)| [*a, *b]).collect();
        let out = resample(&inter, 16000, 24000, Quality::High, 2).unwrap();
        let l_out = resample(&left, 16000, 24000, Quality::High, 1).unwrap();
        let r_out = resample(&right, 16000, 24000, Quality::High, 1).unwrap();
        let expect: Vec<i16> = l_out.iter().zip(&r_out).flat_map(|(a, b)| [*a, *b]).collect();
        assert_eq!(out, expect);
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(matches!(
            Resampler::new(7999, 16000, Quality::High, 1),
            Err(DspError::SampleRateOutOfRange { .. })
        ));
        assert!(Resampler::new(8000, 48001, Quality::High, 1).is_err());
        assert!(Resampler::new(8000, 16000, Quality::High, 0).is_err());
        let mut r = Resampler::new(8000, 16000, Quality::High, 2).unwrap();
        assert!(matches!(
            r.push(&[1, 2, 3], &mut [0; 64]),
            Err(DspError::PartialSample { .. })
        ));
        assert!(r.push_bytes(&[1, 2, 3], &mut [0; 64]).is_err());
        assert!(Quality::parse("best").is_err());
    }

    #[test]
    fn same_rate_is_an_exact_copy() {
        let input = speechish(2000, 16000.0);
        assert_eq!(resample(&input, 16000, 16000, Quality::High, 1).unwrap(), input);
        assert_eq!(
            Resampler::new(16000, 16000, Quality::High, 1).unwrap().delay_samples(),
            0
        );
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl",
    "x86_64+avx2+fma",
    "x86_64+avx",
    "x86_64+sse4.1",
    "aarch64+neon"
))]
fn fir_block(coeffs: &[f32], streams: &[f32], stream_len: usize, m: usize, start: usize, out: &mut [f32]) {
    // out[j] = sum over taps t of coeffs[t] * x[start + t + j*m], where x[a] = stream (a % m) at
    // index (a / m). Each output keeps one running sum in tap order, so its bits do not depend on
    // how outputs are grouped into tiles. Wide tiles amortize the per-tap bookkeeping over more
    // outputs; narrow ones waste fewer lanes on a short tail. `out.len()` is a multiple of
    // SMALL_TILE and every stream has BIG_TILE readable values past its last output.
    let mut done = 0;
    while out.len() - done >= BIG_TILE {
        let (tile, _) = out[done..].split_at_mut(BIG_TILE);
        fir_tile::<BIG_TILE>(coeffs, streams, stream_len, m, start, done, tile);
        done += BIG_TILE;
    }
    while done < out.len() {
        let (tile, _) = out[done..].split_at_mut(SMALL_TILE);
        fir_tile::<SMALL_TILE>(coeffs, streams, stream_len, m, start, done, tile);
        done += SMALL_TILE;
    }
}

// Inlined into each multiversioned caller so it is compiled for that caller's target features.
#[allow(clippy::inline_always)]
#[inline(always)]
fn fir_tile<const B: usize>(
    coeffs: &[f32],
    streams: &[f32],
    stream_len: usize,
    m: usize,
    start: usize,
    first_output: usize,
    out: &mut [f32],
) {
    let mut acc = [0f32; B];
    let (mut r, mut n) = (start % m, start / m + first_output);
    for &c in coeffs {
        let base = r * stream_len + n;
        let xs = &streams[base..base + B];
        for j in 0..B {
            acc[j] += c * xs[j];
        }
        r += 1;
        if r == m {
            r = 0;
            n += 1;
        }
    }
    out.copy_from_slice(&acc);
}
