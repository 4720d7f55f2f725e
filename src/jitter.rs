//! Adaptive playout (jitter) buffer: bytes in whenever they arrive, exactly one frame out per `pop`.
//!
//! The buffer owns no clock: every call takes the caller's time in ms, so it runs the same on a
//! wall clock and on the simulator's virtual clock (`crate::jitter_sim`).
//!
//! # Algorithm
//!
//! *Timeline.* Every queued frame has a media index. Without sequence numbers the input is one
//! continuous byte stream and frame `i` is its `i`-th whole frame; with sequence numbers each push
//! is one packet of `frames_per_packet` frames (fixed by the first packet) placed at
//! `(seq - first_seq) * frames_per_packet`. The media time of frame `i` is `i * frame_ms`.
//!
//! *Target delay, as `NetEq`'s `DelayManager` does it.* Each arriving frame has a lateness
//! `arrival_ms - i * frame_ms`; its relative delay is that lateness minus the minimum lateness of
//! the last 2 s of arrivals (the sliding minimum absorbs clock offset, drift and
//! faster-than-real-time senders: an early frame sets a new minimum, it is never "jitter"). The
//! largest relative delay of every 500 ms of arrivals goes into a 1 ms-bucket histogram that
//! forgets old samples geometrically (`forget_factor` per sample). The target is the largest
//! `percentile` of the histogram over its half-life (the samples over which a sample's weight
//! halves: 40, i.e. 20 s, at the default forget factor), clamped to `[min_delay_ms, max_delay_ms]`:
//! it rises as soon as the quantile does, and falls only once the quantile has stayed lower that
//! long. The quantile itself swings: with about 60 samples of memory only three lie above the 95th
//! percentile, so it jumps each time a stall's sample enters or fades, and a delay that followed it
//! would be lowest just as the next stall comes. A steady delay also conceals less than a swinging
//! one of the same mean, because what a stall of height `h` conceals, `max(0, h - delay)`, is
//! convex in the delay. (Holding the target at recent peak heights, as `NetEq`'s peak tracking
//! does, costs more delay for the same concealment for that reason, so it is not done.) A peak (a
//! relative delay over twice the target and over target + 100 ms, i.e. the backlog of a stall) only
//! enters the histogram if the previous peak started less than 10 s earlier, as in `NetEq`'s peak
//! detector: an isolated stall, like the 340-500 ms one Vapi shows at call set-up, is concealed
//! once and recovered from instead of holding the delay up for the next 20 s; recurring stalls
//! raise the target.
//!
//! *Controlled quantity.* The playout delay `D = now - head_index * frame_ms - min_lateness` is how
//! much later than the earliest recent arrivals the next frame is played; a frame whose relative
//! delay is at most `D` is on time. Playback starts (and restarts after `clear`) once `D` reaches
//! the target.
//!
//! *Level control.* After `D` has stayed at least one frame above target for 100 ms, the buffer
//! shortens by cross-fading two queued frames into one. Two low-energy (silent) frames are always
//! fair game (so a pause shrinks to at most half its length per pass). Speech is only compressed to
//! pay back *debt*: the delay this buffer itself added by waiting out an underrun or by stretching,
//! and only when no silent pair is queued within the next 200 ms. Faster-than-real-time TTS raises
//! `D` without adding debt, so its speech is never compressed: all of it is played, and only its
//! pauses are shortened. When `D` is below target the buffer inserts one frame: freely in silence,
//! and in speech only when a whole frame short and at most once per 100 ms. A hard cap of
//! `max_buffer_ms` queued audio drops the oldest frames as a last resort.
//!
//! *Concealment.* A missing frame is replaced by the last played frame repeated back and forth
//! (ping-pong, so the waveform stays continuous) under a 40 ms linear fade, then by silence (the
//! codec's silence byte for G.711). Playback resumes through a 5 ms cross-fade from that
//! concealment signal, so nothing clicks. Time compression and stretching are also cross-fades over
//! a whole frame: a merge fades from the first frame into the second; an inserted frame fades from
//! the previous output played backwards into the next frame played backwards, so both of its ends
//! meet their neighbours' samples. All of this works per sample frame, on every channel alike, on
//! decoded PCM.
#![forbid(unsafe_code)]

use std::collections::VecDeque;

use crate::error::{DspError, DspResult};
use crate::format::{AudioFormat, Encoding};
use crate::g711::{alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};

/// Sliding-minimum window of arrival lateness (`NetEq`'s `max_history_ms`), ms.
const MIN_WINDOW_MS: f64 = 2000.0;
/// One histogram sample per this span of arrivals (`NetEq`'s `resample_interval_ms`), ms.
const HISTOGRAM_INTERVAL_MS: f64 = 500.0;
/// How long the delay must stay a frame above target before the buffer shortens, ms.
const SHORTEN_HOLD_MS: f64 = 100.0;
/// Speech is not compressed while a silent pair lies within this much queued audio, ms.
const SILENCE_LOOKAHEAD_MS: f64 = 200.0;
/// Debt from which speech is compressed (then until less than a frame is left), ms. Smaller debts,
/// such as a one-frame underrun, wait for the next pause: dropping silence is inaudible.
const SPEECH_DEBT_MS: f64 = 60.0;
/// Minimum spacing between two inserted speech frames, ms.
const SPEECH_STRETCH_SPACING_MS: f64 = 100.0;
/// A relative delay this far above target (and at least twice the target) is a peak, ms.
const PEAK_MARGIN_MS: f64 = 100.0;
/// A peak counts toward the target only if the previous one started at most this long before it
/// (the period of `NetEq`'s peak detector), ms.
const PEAK_PERIOD_MS: f64 = 10_000.0;
/// Arrivals of one stall's backlog come within this span and form one peak, ms.
const PEAK_EVENT_MS: f64 = 200.0;
/// Length of the concealment fade-out, ms.
const CONCEAL_FADE_MS: f64 = 40.0;
/// Length of the cross-fade from concealment back into real audio, ms.
const RESUME_FADE_MS: f64 = 5.0;
/// Frames at or below this RMS (linear 16-bit units, about -44 dBFS) are low-energy.
const LOW_ENERGY_RMS: f32 = 200.0;
/// The noise-floor-relative threshold never exceeds this RMS (about -35 dBFS).
const LOW_ENERGY_CEILING_RMS: f32 = 600.0;
/// How many just-played indices are remembered to tell duplicates from late frames.
const RECENT_FRAMES: i64 = 128;
/// Largest accepted `max_delay_ms`, ms.
const MAX_DELAY_LIMIT_MS: u32 = 10_000;
/// Largest accepted `max_buffer_ms`, ms (10 minutes).
const MAX_BUFFER_LIMIT_MS: u32 = 600_000;

/// Parameters of a [`JitterBuffer`]. All durations are in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterConfig {
    /// Duration of one output frame, ms (default 20). The frame must hold a whole number of samples.
    pub frame_ms: u32,
    /// Lowest target delay, ms (default 20).
    pub min_delay_ms: u32,
    /// Highest target delay, ms (default 400); at least `frame_ms`, at most 10 000.
    pub max_delay_ms: u32,
    /// Target delay before any arrival has been measured, ms (default 80); from `min_delay_ms` to
    /// `max_delay_ms`.
    pub initial_delay_ms: u32,
    /// Quantile of the relative-delay histogram used as target, from 0.5 to 0.999 (default 0.95).
    pub percentile: f64,
    /// Weight kept by the histogram at each new sample (one sample per 500 ms of arrivals), from
    /// 0.5 to 0.9999. The default 0.983 is `NetEq`'s: a sample's weight halves after about 20 s,
    /// and the target stays up that long after the histogram's quantile falls.
    pub forget_factor: f64,
    /// Hard cap on queued audio, ms (default 60 000): beyond it the oldest frames are dropped. It
    /// is far above `max_delay_ms` because faster-than-real-time TTS legitimately queues seconds of
    /// speech that must all be played. From `max_delay_ms` to 600 000.
    pub max_buffer_ms: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            frame_ms: 20,
            min_delay_ms: 20,
            max_delay_ms: 400,
            initial_delay_ms: 80,
            percentile: 0.95,
            forget_factor: 0.983,
            max_buffer_ms: 60_000,
        }
    }
}

impl JitterConfig {
    fn validate(&self) -> DspResult<()> {
        fn out_of_range(name: &'static str, value: &dyn ToString, allowed: &'static str) -> DspResult<()> {
            Err(DspError::OutOfRange {
                name,
                value: value.to_string(),
                allowed,
            })
        }
        if self.max_delay_ms < self.frame_ms || self.max_delay_ms > MAX_DELAY_LIMIT_MS {
            return out_of_range("max_delay_ms", &self.max_delay_ms, "frame_ms <= max_delay_ms <= 10000");
        }
        if self.min_delay_ms > self.max_delay_ms {
            return out_of_range("min_delay_ms", &self.min_delay_ms, "min_delay_ms <= max_delay_ms");
        }
        if !(self.min_delay_ms..=self.max_delay_ms).contains(&self.initial_delay_ms) {
            return out_of_range(
                "initial_delay_ms",
                &self.initial_delay_ms,
                "min_delay_ms <= initial_delay_ms <= max_delay_ms",
            );
        }
        if !(0.5..=0.999).contains(&self.percentile) {
            return out_of_range("percentile", &self.percentile, "0.5 <= percentile <= 0.999");
        }
        if !(0.5..=0.9999).contains(&self.forget_factor) {
            return out_of_range("forget_factor", &self.forget_factor, "0.5 <= forget_factor <= 0.9999");
        }
        if self.max_buffer_ms < self.max_delay_ms || self.max_buffer_ms > MAX_BUFFER_LIMIT_MS {
            return out_of_range(
                "max_buffer_ms",
                &self.max_buffer_ms,
                "max_delay_ms <= max_buffer_ms <= 600000",
            );
        }
        Ok(())
    }
}

/// Counters and gauges of a [`JitterBuffer`], named after `NetEq`'s network and lifetime statistics.
///
/// Counters run from construction or [`JitterBuffer::reset`]; [`JitterBuffer::clear`] keeps them.
/// Every frame pushed ends in exactly one place, so at any time
/// `frames_pushed == frames_played + frames_dropped + frames_flushed + frames_pending`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JitterStats {
    /// Queued audio now, ms: from the next frame to play to the newest queued frame (gaps left by
    /// missing packets included), plus the incomplete stream frame (`NetEq`: `current_buffer_size_ms`).
    pub current_buffer_size_ms: f64,
    /// Target playout delay now, ms (`NetEq`: `preferred_buffer_size_ms`).
    pub preferred_buffer_size_ms: f64,
    /// Playout delay now, ms: how much later than the earliest recent arrivals the next frame
    /// plays (the quantity steered to the target); 0 before the first arrival.
    pub playout_delay_ms: f64,
    /// Whole frames that entered the buffer: completed stream frames, and every frame of every
    /// packet (a packet's short last frame is padded with silence), duplicates and late ones included.
    pub frames_pushed: u64,
    /// Calls to `pop`: output frames of every kind.
    pub frames_popped: u64,
    /// Queued frames that were played (a merge plays one frame and removes the other).
    pub frames_played: u64,
    /// Queued frames not yet played.
    pub frames_pending: u64,
    /// Frames dropped: late + duplicate + overflow + removed for acceleration.
    pub frames_dropped: u64,
    /// Queued frames discarded by `clear`.
    pub frames_flushed: u64,
    /// Concealment output while the last played audio was speech, ms (`NetEq`: speech expand).
    pub concealed_speech_ms: f64,
    /// Concealment output while the last played audio was silence, ms (`NetEq`: `silent_concealed_samples`).
    pub concealed_silence_ms: f64,
    /// Runs of consecutive concealment frames (`NetEq`: `concealment_events`).
    pub concealment_events: u64,
    /// Times playback ran out of queued audio (`NetEq`: `interruption_count`, without its length filter).
    pub underrun_events: u64,
    /// Frames that arrived after their slot was played or skipped, ms (`NetEq`: `late_packets_discarded`).
    pub late_dropped_ms: f64,
    /// Frames whose slot already held a frame, ms.
    pub duplicate_dropped_ms: f64,
    /// Oldest frames dropped by the `max_buffer_ms` cap, ms (`NetEq`: buffer flushes on overflow).
    pub overflow_dropped_ms: f64,
    /// Frames removed by time compression, ms (`NetEq`: `removed_samples_for_acceleration`).
    pub accelerate_removed_ms: f64,
    /// Frames inserted by time stretching, ms (`NetEq`: `inserted_samples_for_deceleration`).
    pub stretched_ms: f64,
    /// Calls to `clear` (`NetEq`: `packet_buffer_flushes`).
    pub buffer_flushes: u64,
    /// Audio discarded by `clear`, incomplete stream frames included, ms.
    pub flushed_ms: f64,
    /// Mean time played frames spent queued (pop time minus arrival time), ms (`NetEq`: `mean_waiting_time_ms`).
    pub delay_mean_ms: f64,
    /// Median of that time, ms (2 ms resolution below 500 ms, 10 ms below 2 s, 500 ms below 60 s).
    pub delay_p50_ms: f64,
    /// 95th percentile of that time, ms (same resolution).
    pub delay_p95_ms: f64,
}

/// What one `pop` put out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopKind {
    /// Nothing to play yet (start-up, or after `clear`): silence that is not counted as concealment.
    Buffering,
    /// A queued frame, unchanged.
    Normal,
    /// A queued frame, entered through a cross-fade from concealment or silence.
    Resumed,
    /// Two queued frames cross-faded into one (time compression: one frame removed).
    Merged,
    /// A synthetic frame inserted before the next queued frame (time stretching).
    Stretched,
    /// Concealment: a fading repeat of the last frame, then silence.
    Concealed,
}

/// What the last `pop` did, for callers and simulators that follow individual frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PopInfo {
    /// Kind of output.
    pub kind: PopKind,
    /// Media index of the frame played (`Normal`, `Resumed`, `Merged`) or stood in for
    /// (`Concealed`: the frame being waited for or skipped); `None` otherwise. Stream indices count
    /// whole frames from 0 since construction or `reset`; packet indices are
    /// `(seq - first_seq) * frames_per_packet + k`, shifted to the queue's end when the sequence
    /// restarts.
    pub frame_index: Option<i64>,
    /// Media index of the frame removed by a `Merged` pop.
    pub removed_index: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    present: bool,
    low_energy: bool,
    rms: f32,
    arrival_ms: f64,
}

const EMPTY_SLOT: Slot = Slot {
    present: false,
    low_energy: true,
    rms: 0.0,
    arrival_ms: 0.0,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unset,
    Stream,
    Packets {
        origin_seq: u64,
        base_index: i64,
        frames_per_packet: i64,
    },
}

/// What the output buffer currently holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// Start-up silence or concealment: nothing to continue from.
    Synthetic,
    /// Real audio at low energy.
    Quiet,
    /// Real audio above the low-energy threshold.
    Speech,
}

impl Output {
    fn audio(low_energy: bool) -> Self {
        if low_energy { Self::Quiet } else { Self::Speech }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Buffering,
    Playing,
}

/// Per-sample G.711 / PCM conversion to and from `f32` linear samples.
#[derive(Debug, Clone)]
struct Codec {
    encoding: Encoding,
    /// Decoded value of every G.711 byte (unused for PCM): one table per process, not per buffer.
    table: &'static [f32; 256],
}

/// The linear value of G.711 byte `code`, A-law (`alaw`) or mu-law; usable in constants.
const fn g711_linear(alaw: bool, code: usize) -> i32 {
    (if alaw {
        alaw_to_linear(code as u8)
    } else {
        ulaw_to_linear(code as u8)
    }) as i32
}

/// Builds the decoded-value table of a G.711 law at compile time.
const fn g711_table(alaw: bool) -> [f32; 256] {
    let mut table = [0.0f32; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = g711_linear(alaw, code) as f32;
        code += 1;
    }
    table
}

static ULAW_TABLE: [f32; 256] = g711_table(false);
static ALAW_TABLE: [f32; 256] = g711_table(true);
static NO_TABLE: [f32; 256] = [0.0; 256];

impl Codec {
    fn new(encoding: Encoding) -> Self {
        let table = match encoding {
            Encoding::Mulaw => &ULAW_TABLE,
            Encoding::Alaw => &ALAW_TABLE,
            Encoding::PcmS16le => &NO_TABLE,
        };
        Self { encoding, table }
    }

    fn decode(&self, bytes: &[u8], out: &mut [f32]) {
        if self.encoding == Encoding::PcmS16le {
            for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f32::from(i16::from_le_bytes([pair[0], pair[1]]));
            }
        } else {
            for (o, &code) in out.iter_mut().zip(bytes) {
                *o = self.table[usize::from(code)];
            }
        }
    }

    fn encode(&self, pcm: &[f32], out: &mut [u8]) {
        let to_i16 = |x: f32| x.round().clamp(-32768.0, 32767.0) as i16;
        match self.encoding {
            Encoding::PcmS16le => {
                for (pair, &x) in out.chunks_exact_mut(2).zip(pcm) {
                    pair.copy_from_slice(&to_i16(x).to_le_bytes());
                }
            }
            Encoding::Mulaw => {
                for (o, &x) in out.iter_mut().zip(pcm) {
                    *o = linear_to_ulaw(to_i16(x));
                }
            }
            Encoding::Alaw => {
                for (o, &x) in out.iter_mut().zip(pcm) {
                    *o = linear_to_alaw(to_i16(x));
                }
            }
        }
    }

    fn rms(&self, bytes: &[u8]) -> f32 {
        // Integer sums of squares: exact (as the f64 sums they replace were, so every decision
        // taken on the result is unchanged), and without the f64 add chain's latency, which made
        // this the largest cost of a push.
        let (sum, n) = if self.encoding == Encoding::PcmS16le {
            let sum: u64 = bytes
                .chunks_exact(2)
                .map(|pair| {
                    let x = i32::from(i16::from_le_bytes([pair[0], pair[1]]));
                    u64::from((x * x).unsigned_abs())
                })
                .sum();
            (sum, bytes.len() / 2)
        } else {
            let squares = if self.encoding == Encoding::Alaw {
                &ALAW_SQUARES
            } else {
                &ULAW_SQUARES
            };
            let sum: u64 = bytes.iter().map(|&code| u64::from(squares[usize::from(code)])).sum();
            (sum, bytes.len())
        };
        if n == 0 {
            0.0
        } else {
            (sum as f64 / n as f64).sqrt() as f32
        }
    }
}

/// Squares of the decoded value of every G.711 byte (at most 32256^2, so they fit a `u32`).
const fn g711_squares(alaw: bool) -> [u32; 256] {
    let mut squares = [0u32; 256];
    let mut code = 0;
    while code < 256 {
        squares[code] = g711_linear(alaw, code).unsigned_abs().pow(2);
        code += 1;
    }
    squares
}

static ULAW_SQUARES: [u32; 256] = g711_squares(false);
static ALAW_SQUARES: [u32; 256] = g711_squares(true);

/// Relative-delay tracking: sliding minimum of lateness and the forgetting histogram.
#[derive(Debug, Clone)]
struct DelayEstimator {
    /// (arrival ms, lateness ms), lateness strictly increasing from front to back.
    window: VecDeque<(f64, f64)>,
    interval_start_ms: Option<f64>,
    interval_max_ms: f64,
    /// Bucket `b` holds the weight of relative delays in `[b, b + 1)` ms; the last one everything above.
    histogram: Vec<f64>,
    samples: u64,
    target_ms: f64,
    /// The latest peak.
    last_peak: Option<Peak>,
    /// Recent quantiles as (sample number, quantile ms), values strictly decreasing from front to
    /// back, none older than `hold_samples`: the front is the largest of the window.
    recent_quantiles: VecDeque<(u64, f64)>,
    /// Samples over which the histogram's weight halves (about 40 at the default forget factor).
    hold_samples: u64,
}

/// A burst of frames arriving far above target: the backlog of one stall.
#[derive(Debug, Clone, Copy)]
struct Peak {
    start_ms: f64,
    last_ms: f64,
    /// The previous peak started at most `PEAK_PERIOD_MS` before this one.
    recurring: bool,
}

impl DelayEstimator {
    fn new(config: &JitterConfig) -> Self {
        let mut estimator = Self {
            window: VecDeque::new(),
            interval_start_ms: None,
            interval_max_ms: 0.0,
            histogram: vec![0.0; config.max_delay_ms as usize + 2],
            samples: 0,
            target_ms: 0.0,
            last_peak: None,
            recent_quantiles: VecDeque::new(),
            // The forget factor is validated to lie in [0.5, 0.9999], so this is 1 to 6931.
            hold_samples: (0.5f64.ln() / config.forget_factor.ln()).round().max(1.0) as u64,
        };
        estimator.reset(config);
        estimator
    }

    fn reset(&mut self, config: &JitterConfig) {
        self.forget_arrivals();
        self.histogram.fill(0.0);
        // The initial delay acts as one pseudo-sample, so it is outvoted as soon as data arrives.
        let bucket = (config.initial_delay_ms as usize).min(self.histogram.len() - 1);
        self.histogram[bucket] = 1.0;
        self.samples = 0;
        self.target_ms = f64::from(config.initial_delay_ms);
        self.last_peak = None;
        self.recent_quantiles.clear();
    }

    /// Forgets the arrival timeline but keeps the histogram: after a flush the next audio starts a
    /// new timeline on the same network.
    fn forget_arrivals(&mut self) {
        self.window.clear();
        self.interval_start_ms = None;
        self.interval_max_ms = 0.0;
    }

    fn observe(&mut self, now_ms: f64, lateness_ms: f64, config: &JitterConfig) {
        while self.window.back().is_some_and(|&(_, l)| l >= lateness_ms) {
            self.window.pop_back();
        }
        self.window.push_back((now_ms, lateness_ms));
        let min = self.min_lateness(now_ms).unwrap_or(lateness_ms);
        let mut relative = (lateness_ms - min).max(0.0);
        let target = self.target_ms;
        if relative > (2.0 * target).max(target + PEAK_MARGIN_MS) && !self.register_peak(now_ms) {
            // An isolated stall (like the one at call set-up) must not hold the delay up for the
            // next 20 s: it is concealed once and recovered from. Peaks that recur within
            // PEAK_PERIOD_MS are the network's normal behaviour: they count.
            relative = 0.0;
        }
        match self.interval_start_ms {
            Some(start) if now_ms - start < HISTOGRAM_INTERVAL_MS => {
                self.interval_max_ms = self.interval_max_ms.max(relative);
            }
            Some(_) => {
                self.add_sample(self.interval_max_ms, config);
                self.interval_start_ms = Some(now_ms);
                self.interval_max_ms = relative;
            }
            None => {
                self.interval_start_ms = Some(now_ms);
                self.interval_max_ms = relative;
            }
        }
    }

    /// Registers a frame of a peak; true if its peak recurs soon enough to count.
    fn register_peak(&mut self, now_ms: f64) -> bool {
        if let Some(peak) = self.last_peak.as_mut().filter(|p| now_ms - p.last_ms <= PEAK_EVENT_MS) {
            peak.last_ms = now_ms;
            return peak.recurring;
        }
        let recurring = self.last_peak.is_some_and(|p| now_ms - p.start_ms <= PEAK_PERIOD_MS);
        self.last_peak = Some(Peak {
            start_ms: now_ms,
            last_ms: now_ms,
            recurring,
        });
        recurring
    }

    fn add_sample(&mut self, relative_ms: f64, config: &JitterConfig) {
        // Weighting the first samples equally (as NetEq's start_forget_weight does) lets the first
        // seconds of a call set the target instead of waiting for the initial guess to decay.
        let forget = config.forget_factor.min(1.0 - 1.0 / (self.samples as f64 + 2.0));
        for weight in &mut self.histogram {
            *weight *= forget;
        }
        let bucket = (relative_ms.max(0.0) as usize).min(self.histogram.len() - 1);
        self.histogram[bucket] += 1.0 - forget;
        self.samples += 1;
        let total: f64 = self.histogram.iter().sum();
        let mut cumulative = 0.0;
        let mut quantile = self.histogram.len();
        for (b, weight) in self.histogram.iter().enumerate() {
            cumulative += weight;
            if cumulative >= config.percentile * total {
                quantile = b + 1;
                break;
            }
        }
        let quantile = (quantile as f64).clamp(f64::from(config.min_delay_ms), f64::from(config.max_delay_ms));
        // Up at once, down only once the quantile has stayed lower for the histogram's half-life.
        while self.recent_quantiles.back().is_some_and(|&(_, q)| q <= quantile) {
            self.recent_quantiles.pop_back();
        }
        self.recent_quantiles.push_back((self.samples, quantile));
        while self
            .recent_quantiles
            .front()
            .is_some_and(|&(n, _)| n + self.hold_samples <= self.samples)
        {
            self.recent_quantiles.pop_front();
        }
        self.target_ms = self.recent_quantiles.front().map_or(quantile, |&(_, q)| q);
    }

    fn min_lateness(&mut self, now_ms: f64) -> Option<f64> {
        while self.window.len() > 1 && self.window.front().is_some_and(|&(t, _)| t < now_ms - MIN_WINDOW_MS) {
            self.window.pop_front();
        }
        self.window.front().map(|&(_, l)| l)
    }
}

/// Distribution of the time played frames spent queued.
#[derive(Debug, Clone)]
struct WaitHistogram {
    bins: Vec<u32>,
    count: u64,
    sum_ms: f64,
}

impl WaitHistogram {
    /// Bin layout as (first ms, bin width ms, bins): 2 ms wide to 500 ms, 10 ms to 2 s, 500 ms to
    /// 60 s, then one bin for the rest. Fine where playout delays live, coarse where only a
    /// faster-than-real-time backlog reaches, and 2 KiB per buffer instead of a uniform grid's 4.
    const RANGES: [(f64, f64, usize); 3] = [(0.0, 2.0, 250), (500.0, 10.0, 150), (2000.0, 500.0, 116)];
    const BINS: usize = 250 + 150 + 116 + 1;

    fn new() -> Self {
        Self {
            bins: vec![0; Self::BINS],
            count: 0,
            sum_ms: 0.0,
        }
    }

    fn reset(&mut self) {
        self.bins.fill(0);
        self.count = 0;
        self.sum_ms = 0.0;
    }

    fn add(&mut self, wait_ms: f64) {
        let wait_ms = wait_ms.max(0.0);
        let mut first_bin = 0;
        let mut bin = Self::BINS - 1;
        for (start, width, bins) in Self::RANGES {
            if wait_ms < start + width * bins as f64 {
                bin = first_bin + ((wait_ms - start) / width) as usize;
                break;
            }
            first_bin += bins;
        }
        self.bins[bin] = self.bins[bin].saturating_add(1);
        self.count += 1;
        self.sum_ms += wait_ms;
    }

    fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_ms / self.count as f64
        }
    }

    fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        let bin = self
            .bins
            .iter()
            .position(|&n| {
                seen += u64::from(n);
                seen >= rank
            })
            .unwrap_or(Self::BINS - 1);
        // The bin's midpoint; the last bin (beyond the ranges) answers with its lower edge.
        let mut first_bin = 0;
        for (start, width, bins) in Self::RANGES {
            if bin < first_bin + bins {
                return start + ((bin - first_bin) as f64 + 0.5) * width;
            }
            first_bin += bins;
        }
        let (start, width, bins) = Self::RANGES[Self::RANGES.len() - 1];
        start + width * bins as f64
    }
}

/// Counters behind [`JitterStats`].
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    frames_pushed: u64,
    frames_popped: u64,
    frames_played: u64,
    late: u64,
    duplicate: u64,
    overflow: u64,
    accelerate: u64,
    stretched: u64,
    flushed_frames: u64,
    flushed_ms: f64,
    flushes: u64,
    concealed_speech: u64,
    concealed_silence: u64,
    concealment_events: u64,
    underrun_events: u64,
}

/// Scalar playout state, reset as one.
#[derive(Debug, Clone, Copy)]
struct Playout {
    phase: Phase,
    /// Media index of `slots[0]`: the next frame to play.
    head: i64,
    /// Next stream frame index to complete.
    stream_next: i64,
    /// Largest media index ever placed (for late-packet detection after `clear`).
    max_index: Option<i64>,
    /// While buffering, frames at or above this index may still extend the queue's front.
    front_floor: Option<i64>,
    /// Bit `k` set: index `head - 1 - k` was played (so a second copy is a duplicate, not late).
    recent_played: u128,
    /// Delay this buffer added itself (underrun waits, stretches) and may remove from speech, ms.
    debt_ms: f64,
    /// Consecutive pops with the delay at least a frame above target.
    above_pops: u32,
    /// Pops since the last inserted speech frame.
    since_speech_stretch: u32,
    /// Consecutive concealment frames so far.
    conceal_run: u32,
    /// Sample frames of concealment produced in this run (drives the fade-out).
    conceal_pos: usize,
    /// The concealment run started after speech.
    conceal_after_speech: bool,
    /// What `out` holds.
    output: Output,
    /// Speech is being compressed to pay back debt (until less than a frame is left).
    compressing_speech: bool,
    /// Noise floor estimate (RMS of the quietest recent frames).
    noise_floor_rms: f32,
    last_now_ms: f64,
    pending: u64,
    last_pop: PopInfo,
}

impl Playout {
    fn new() -> Self {
        Self {
            phase: Phase::Buffering,
            head: 0,
            stream_next: 0,
            max_index: None,
            front_floor: None,
            recent_played: 0,
            debt_ms: 0.0,
            above_pops: 0,
            since_speech_stretch: u32::MAX,
            conceal_run: 0,
            conceal_pos: 0,
            conceal_after_speech: false,
            output: Output::Synthetic,
            compressing_speech: false,
            noise_floor_rms: LOW_ENERGY_RMS / 2.0,
            last_now_ms: 0.0,
            pending: 0,
            last_pop: PopInfo {
                kind: PopKind::Buffering,
                frame_index: None,
                removed_index: None,
            },
        }
    }
}

/// Adaptive jitter buffer for one call leg: [`push`](Self::push) bytes as they arrive,
/// [`pop`](Self::pop) exactly one frame every `frame_ms`, [`clear`](Self::clear) on barge-in.
///
/// See the module documentation for the algorithm. Time arguments are the caller's clock in ms;
/// they should not go backwards (a non-finite time is replaced by the last valid one).
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    fmt: AudioFormat,
    config: JitterConfig,
    codec: Codec,
    /// Bytes of one output frame.
    frame_bytes: usize,
    channels: usize,
    /// Sample frames (one sample of every channel) per output frame.
    frame_samples: usize,
    frame_ms: f64,
    bytes_per_ms: f64,
    cap_frames: i64,
    hold_pops: u32,
    lookahead_frames: usize,
    stretch_spacing_pops: u32,
    conceal_fade_samples: f64,
    resume_fade: Vec<f32>,
    merge_fade: Vec<f32>,
    mode: Mode,
    /// Frame `k` of the queue occupies bytes `[k * frame_bytes, (k + 1) * frame_bytes)`; missing
    /// frames hold silence so the layout stays uniform. `u8` contents make `clear` O(1).
    data: VecDeque<u8>,
    slots: VecDeque<Slot>,
    partial: Vec<u8>,
    delay: DelayEstimator,
    state: Playout,
    counters: Counters,
    waits: WaitHistogram,
    out: Vec<u8>,
    scratch_bytes: Vec<u8>,
    pcm_a: Vec<f32>,
    pcm_b: Vec<f32>,
    pcm_out: Vec<f32>,
    conceal_src: Vec<f32>,
}

impl JitterBuffer {
    /// Builds a buffer for `fmt` audio. Fails unless `config.frame_ms` is a whole number of samples
    /// at the format's rate, `min_delay_ms <= initial_delay_ms <= max_delay_ms`,
    /// `frame_ms <= max_delay_ms <= 10000`, `0.5 <= percentile <= 0.999`,
    /// `0.5 <= forget_factor <= 0.9999` and `max_delay_ms <= max_buffer_ms <= 600000`.
    pub fn new(fmt: AudioFormat, config: JitterConfig) -> DspResult<Self> {
        let frame_bytes = fmt.bytes_per_frame(u64::from(config.frame_ms))?;
        config.validate()?;
        let channels = usize::from(fmt.channels);
        let frame_samples = frame_bytes / fmt.frame_bytes();
        let frame_ms = f64::from(config.frame_ms);
        let per_ms = |ms: f64| (ms / frame_ms).ceil().max(1.0);
        let resume_len = ((RESUME_FADE_MS * f64::from(fmt.sample_rate) / 1000.0) as usize).clamp(1, frame_samples);
        let silence = fmt.encoding.silence_byte();
        let samples = frame_samples * channels;
        Ok(Self {
            fmt,
            config,
            codec: Codec::new(fmt.encoding),
            frame_bytes,
            channels,
            frame_samples,
            frame_ms,
            bytes_per_ms: frame_bytes as f64 / frame_ms,
            cap_frames: i64::from(config.max_buffer_ms.div_ceil(config.frame_ms)),
            hold_pops: per_ms(SHORTEN_HOLD_MS) as u32,
            lookahead_frames: per_ms(SILENCE_LOOKAHEAD_MS) as usize,
            stretch_spacing_pops: per_ms(SPEECH_STRETCH_SPACING_MS) as u32,
            conceal_fade_samples: CONCEAL_FADE_MS * f64::from(fmt.sample_rate) / 1000.0,
            resume_fade: raised_cosine(resume_len),
            merge_fade: raised_cosine(frame_samples),
            mode: Mode::Unset,
            data: VecDeque::new(),
            slots: VecDeque::new(),
            partial: Vec::with_capacity(frame_bytes),
            delay: DelayEstimator::new(&config),
            state: Playout::new(),
            counters: Counters::default(),
            waits: WaitHistogram::new(),
            out: vec![silence; frame_bytes],
            scratch_bytes: vec![0; frame_bytes],
            pcm_a: vec![0.0; samples],
            pcm_b: vec![0.0; samples],
            pcm_out: vec![0.0; samples],
            conceal_src: vec![0.0; samples],
        })
    }

    /// Bytes of one output frame (`frame_ms` of audio, all channels).
    pub fn frame_bytes(&self) -> usize {
        self.frame_bytes
    }

    /// The audio format this buffer holds.
    pub fn format(&self) -> AudioFormat {
        self.fmt
    }

    /// The configuration this buffer was built with.
    pub fn config(&self) -> JitterConfig {
        self.config
    }

    /// Queues `data` that arrived at `now_ms`.
    ///
    /// Without `seq` the bytes continue one stream: any length is accepted and re-framed, and an
    /// incomplete frame (odd PCM bytes included) waits for the next push. With `seq` the push is one
    /// packet placed by its sequence number: late packets (older than what was played or skipped)
    /// and duplicates are dropped and counted; a short last frame is padded with silence; frames
    /// beyond the first packet's frame count are dropped as overflow. A sequence number that jumps
    /// by more than `max_buffer_ms` of audio restarts the numbering at the queue's end.
    pub fn push(&mut self, data: &[u8], now_ms: f64, seq: Option<u64>) {
        let now = self.sanitize_time(now_ms);
        match seq {
            None => self.push_stream(data, now),
            Some(seq) => self.push_packet(data, now, seq),
        }
        self.enforce_cap();
    }

    /// Returns the next output frame (exactly [`frame_bytes`](Self::frame_bytes) bytes) for time
    /// `now_ms`. Call it once per `frame_ms`.
    pub fn pop(&mut self, now_ms: f64) -> &[u8] {
        self.pop_step(now_ms);
        &self.out
    }

    /// Like [`pop`](Self::pop) but writes into `out`, which must be exactly `frame_bytes()` long.
    pub fn pop_into(&mut self, now_ms: f64, out: &mut [u8]) -> DspResult<()> {
        if out.len() != self.frame_bytes {
            return Err(DspError::OutOfRange {
                name: "out",
                value: format!("{} bytes", out.len()),
                allowed: "a buffer of exactly frame_bytes() bytes",
            });
        }
        self.pop_step(now_ms);
        out.copy_from_slice(&self.out);
        Ok(())
    }

    /// What the last [`pop`](Self::pop) did.
    pub fn last_pop(&self) -> PopInfo {
        self.state.last_pop
    }

    /// Discards everything queued (barge-in) and returns the discarded audio in ms, the incomplete
    /// stream frame included. The next `pop` returns silence, and playback restarts once new audio
    /// has been buffered up to the target delay. Late packets from before the flush are dropped.
    /// Costs O(1): the queue holds plain bytes, so emptying it does no per-frame work.
    pub fn clear(&mut self) -> f64 {
        let frames = self.state.pending;
        let discarded_ms = frames as f64 * self.frame_ms + self.partial.len() as f64 / self.bytes_per_ms;
        self.counters.flushes += 1;
        self.counters.flushed_frames += frames;
        self.counters.flushed_ms += discarded_ms;
        self.data.clear();
        self.slots.clear();
        self.partial.clear();
        self.delay.forget_arrivals();
        let s = &mut self.state;
        s.pending = 0;
        s.head = match self.mode {
            Mode::Packets { .. } => s.max_index.map_or(s.head, |m| m + 1).max(s.head),
            Mode::Stream | Mode::Unset => s.stream_next.max(s.head),
        };
        s.stream_next = s.head;
        s.front_floor = Some(s.head);
        s.recent_played = 0;
        s.phase = Phase::Buffering;
        s.debt_ms = 0.0;
        s.above_pops = 0;
        s.conceal_run = 0;
        s.conceal_pos = 0;
        s.output = Output::Synthetic;
        s.compressing_speech = false;
        discarded_ms
    }

    /// Returns to the freshly built state: queue, delay history, statistics and numbering.
    pub fn reset(&mut self) {
        self.mode = Mode::Unset;
        self.data.clear();
        self.slots.clear();
        self.partial.clear();
        self.delay.reset(&self.config);
        self.state = Playout::new();
        self.counters = Counters::default();
        self.waits.reset();
        self.out.fill(self.fmt.encoding.silence_byte());
    }

    /// Current target delay, ms (see [`JitterStats::preferred_buffer_size_ms`]).
    pub fn target_delay_ms(&self) -> f64 {
        self.delay.target_ms
    }

    /// Queued audio now, ms (see [`JitterStats::current_buffer_size_ms`]).
    pub fn current_buffer_ms(&self) -> f64 {
        self.slots.len() as f64 * self.frame_ms + self.partial.len() as f64 / self.bytes_per_ms
    }

    /// Playout delay at the time of the latest call, ms (see [`JitterStats::playout_delay_ms`]).
    pub fn playout_delay_ms(&self) -> f64 {
        match self.delay.window.front() {
            Some(&(_, min)) => (self.state.last_now_ms - self.state.head as f64 * self.frame_ms - min).max(0.0),
            None => 0.0,
        }
    }

    /// Snapshot of the counters and gauges.
    pub fn stats(&self) -> JitterStats {
        let c = &self.counters;
        let f = self.frame_ms;
        JitterStats {
            current_buffer_size_ms: self.current_buffer_ms(),
            preferred_buffer_size_ms: self.delay.target_ms,
            playout_delay_ms: self.playout_delay_ms(),
            frames_pushed: c.frames_pushed,
            frames_popped: c.frames_popped,
            frames_played: c.frames_played,
            frames_pending: self.state.pending,
            frames_dropped: c.late + c.duplicate + c.overflow + c.accelerate,
            frames_flushed: c.flushed_frames,
            concealed_speech_ms: c.concealed_speech as f64 * f,
            concealed_silence_ms: c.concealed_silence as f64 * f,
            concealment_events: c.concealment_events,
            underrun_events: c.underrun_events,
            late_dropped_ms: c.late as f64 * f,
            duplicate_dropped_ms: c.duplicate as f64 * f,
            overflow_dropped_ms: c.overflow as f64 * f,
            accelerate_removed_ms: c.accelerate as f64 * f,
            stretched_ms: c.stretched as f64 * f,
            buffer_flushes: c.flushes,
            flushed_ms: c.flushed_ms,
            delay_mean_ms: self.waits.mean(),
            delay_p50_ms: self.waits.quantile(0.5),
            delay_p95_ms: self.waits.quantile(0.95),
        }
    }

    // ---- input ----

    fn sanitize_time(&mut self, now_ms: f64) -> f64 {
        if now_ms.is_finite() {
            self.state.last_now_ms = now_ms;
        }
        self.state.last_now_ms
    }

    fn tail(&self) -> i64 {
        self.state.head + self.slots.len() as i64
    }

    fn push_stream(&mut self, mut data: &[u8], now: f64) {
        if self.mode != Mode::Stream {
            self.mode = Mode::Stream;
            self.state.stream_next = self.tail();
        }
        let fb = self.frame_bytes;
        if !self.partial.is_empty() {
            let take = (fb - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() == fb {
                let frame = std::mem::take(&mut self.partial);
                self.place_stream_frame(&frame, now);
                self.partial = frame;
                self.partial.clear();
            }
        }
        let mut frames = data.chunks_exact(fb);
        for frame in &mut frames {
            self.place_stream_frame(frame, now);
        }
        self.partial.extend_from_slice(frames.remainder());
    }

    fn place_stream_frame(&mut self, frame: &[u8], now: f64) {
        let index = self.state.stream_next;
        self.state.stream_next += 1;
        self.place(index, frame, now);
    }

    fn push_packet(&mut self, data: &[u8], now: f64, seq: u64) {
        if data.is_empty() {
            return;
        }
        let fb = self.frame_bytes;
        if !self.partial.is_empty() {
            // Switching from stream to packets: complete the stream's last frame rather than lose it.
            let mut frame = std::mem::take(&mut self.partial);
            frame.resize(fb, self.fmt.encoding.silence_byte());
            self.place_stream_frame(&frame, now);
            frame.clear();
            self.partial = frame;
        }
        let frames_in_packet = data.len().div_ceil(fb) as i64;
        let mut index = None;
        if let Mode::Packets {
            origin_seq,
            base_index,
            frames_per_packet,
        } = self.mode
        {
            let offset = i128::from(seq) - i128::from(origin_seq);
            let candidate = i128::from(base_index) + offset * i128::from(frames_per_packet);
            let low = i128::from(self.state.head) - i128::from(self.cap_frames);
            let high = i128::from(self.tail()) + i128::from(self.cap_frames);
            if (low..=high).contains(&candidate) {
                index = Some(candidate as i64);
            }
        }
        let index = index.unwrap_or_else(|| {
            // First packet, or a sequence restart: number from the queue's end.
            let frames_per_packet = match self.mode {
                Mode::Packets { frames_per_packet, .. } => frames_per_packet,
                _ => frames_in_packet,
            };
            let base_index = self.tail().max(self.state.max_index.map_or(i64::MIN, |m| m + 1));
            self.mode = Mode::Packets {
                origin_seq: seq,
                base_index,
                frames_per_packet,
            };
            base_index
        });
        let Mode::Packets { frames_per_packet, .. } = self.mode else {
            return;
        };
        for (k, chunk) in data.chunks(fb).enumerate() {
            let k = k as i64;
            if k >= frames_per_packet {
                self.counters.frames_pushed += 1;
                self.counters.overflow += 1;
                continue;
            }
            if chunk.len() == fb {
                self.place(index + k, chunk, now);
            } else {
                let mut frame = std::mem::take(&mut self.scratch_bytes);
                frame.clear();
                frame.extend_from_slice(chunk);
                frame.resize(fb, self.fmt.encoding.silence_byte());
                self.place(index + k, &frame, now);
                self.scratch_bytes = frame;
            }
        }
    }

    /// Puts one whole frame at media index `index`.
    fn place(&mut self, index: i64, frame: &[u8], now: f64) {
        self.counters.frames_pushed += 1;
        let lateness = now - index as f64 * self.frame_ms;
        if index < self.state.head && !self.extend_front(index) {
            let age = self.state.head - 1 - index;
            if age < RECENT_FRAMES && self.state.recent_played & (1u128 << age) != 0 {
                self.counters.duplicate += 1;
            } else {
                // A late frame is the clearest sign the delay is too short: let it count.
                self.delay.observe(now, lateness, &self.config);
                self.counters.late += 1;
            }
            return;
        }
        let pos = (index - self.state.head) as usize;
        let fb = self.frame_bytes;
        if pos >= self.slots.len() {
            let silence = self.fmt.encoding.silence_byte();
            let missing = pos - self.slots.len();
            self.data.extend(std::iter::repeat_n(silence, missing * fb));
            self.slots.extend(std::iter::repeat_n(EMPTY_SLOT, missing));
            self.data.extend(frame.iter().copied());
            self.slots.push_back(EMPTY_SLOT);
        } else if self.slots[pos].present {
            self.counters.duplicate += 1;
            return;
        } else {
            for (dst, &src) in self.data.range_mut(pos * fb..(pos + 1) * fb).zip(frame) {
                *dst = src;
            }
        }
        self.delay.observe(now, lateness, &self.config);
        let rms = self.codec.rms(frame);
        let s = &mut self.state;
        // Fast down, slow up (about 2.5 %/s at 20 ms frames): pauses pull the floor down quickly,
        // continuous speech only raises it slowly.
        s.noise_floor_rms = if rms < s.noise_floor_rms {
            rms
        } else {
            s.noise_floor_rms * 1.000_5
        };
        let threshold = LOW_ENERGY_RMS.max((2.0 * s.noise_floor_rms).min(LOW_ENERGY_CEILING_RMS));
        self.slots[pos] = Slot {
            present: true,
            low_energy: rms <= threshold,
            rms,
            arrival_ms: now,
        };
        s.pending += 1;
        s.max_index = Some(s.max_index.map_or(index, |m| m.max(index)));
    }

    /// While nothing has played since start or `clear`, an early-numbered packet that arrives
    /// after a later one extends the queue's front instead of counting as late.
    fn extend_front(&mut self, index: i64) -> bool {
        let s = &self.state;
        let allowed = s.phase == Phase::Buffering
            && s.front_floor.is_none_or(|floor| index >= floor)
            && self.tail() - index <= self.cap_frames
            && matches!(self.mode, Mode::Packets { .. });
        if !allowed {
            return false;
        }
        let silence = self.fmt.encoding.silence_byte();
        let added = (self.state.head - index) as usize;
        for _ in 0..added * self.frame_bytes {
            self.data.push_front(silence);
        }
        for _ in 0..added {
            self.slots.push_front(EMPTY_SLOT);
        }
        self.state.head = index;
        true
    }

    fn enforce_cap(&mut self) {
        while self.slots.len() as i64 > self.cap_frames {
            let slot = self.drop_head();
            if slot.present {
                self.counters.overflow += 1;
            }
        }
    }

    /// Removes the head slot without playing it.
    fn drop_head(&mut self) -> Slot {
        let slot = self.slots.pop_front().unwrap_or(EMPTY_SLOT);
        self.data.drain(..self.frame_bytes.min(self.data.len()));
        if slot.present {
            self.state.pending -= 1;
        }
        self.state.head += 1;
        self.state.recent_played <<= 1;
        slot
    }

    /// Removes the head slot as played.
    fn consume_head(&mut self, now: f64) -> Slot {
        let slot = self.drop_head();
        self.state.recent_played |= 1;
        self.counters.frames_played += 1;
        self.waits.add(now - slot.arrival_ms);
        slot
    }

    fn slot(&self, k: usize) -> Slot {
        self.slots.get(k).copied().unwrap_or(EMPTY_SLOT)
    }

    fn copy_frame(&self, k: usize, dst: &mut [u8]) {
        let fb = self.frame_bytes;
        for (d, &s) in dst.iter_mut().zip(self.data.range(k * fb..(k + 1) * fb)) {
            *d = s;
        }
    }

    fn decode_frame(&self, k: usize, pcm: &mut [f32], scratch: &mut [u8]) {
        self.copy_frame(k, scratch);
        self.codec.decode(scratch, pcm);
    }

    // ---- output ----

    fn pop_step(&mut self, now_ms: f64) {
        let now = self.sanitize_time(now_ms);
        self.counters.frames_popped += 1;
        self.state.since_speech_stretch = self.state.since_speech_stretch.saturating_add(1);
        let delay = self
            .delay
            .min_lateness(now)
            .map(|min| now - self.state.head as f64 * self.frame_ms - min);
        let target = self.delay.target_ms;
        if let Some(d) = delay {
            self.state.debt_ms = self.state.debt_ms.min((d - target).max(0.0));
        }
        match self.state.phase {
            Phase::Buffering => {
                if self.state.pending > 0 && delay.is_some_and(|d| d >= target) {
                    while !self.slot(0).present {
                        self.drop_head();
                    }
                    self.state.phase = Phase::Playing;
                    self.emit_resume(now);
                } else {
                    self.emit_silence();
                }
            }
            Phase::Playing => self.play(now, delay, target),
        }
    }

    fn play(&mut self, now: f64, delay: Option<f64>, target: f64) {
        let head = self.slot(0);
        if head.present {
            if self.state.conceal_run > 0 {
                let resume = self.state.conceal_after_speech || delay.is_none_or(|d| d >= target);
                if resume {
                    self.emit_resume(now);
                } else {
                    // Resuming in a pause costs nothing to wait for: rebuild the target first.
                    self.state.debt_ms += self.frame_ms;
                    self.emit_conceal(self.state.head);
                }
                return;
            }
            self.control(now, delay, target);
            return;
        }
        let waited_for = self.state.head;
        if let Some(gap) = self.slots.iter().position(|s| s.present) {
            // Missing frames with later ones queued are lost or late. Skip one per pop to keep
            // the timeline, or more when an earlier underrun wait already used up their time.
            let extra = (self.state.debt_ms / self.frame_ms).floor() as usize;
            let skip = gap.min(1 + extra);
            self.state.debt_ms = (self.state.debt_ms - (skip - 1) as f64 * self.frame_ms).max(0.0);
            for _ in 0..skip {
                self.drop_head();
            }
        } else {
            if self.state.conceal_run == 0 {
                self.counters.underrun_events += 1;
            }
            self.state.debt_ms += self.frame_ms;
        }
        self.emit_conceal(waited_for);
    }

    fn control(&mut self, now: f64, delay: Option<f64>, target: f64) {
        let Some(d) = delay else {
            self.emit_normal(now);
            return;
        };
        let f = self.frame_ms;
        let excess = d - target;
        self.state.above_pops = if excess >= f { self.state.above_pops + 1 } else { 0 };
        let (a, b) = (self.slot(0), self.slot(1));
        let debt = self.state.debt_ms;
        self.state.compressing_speech = debt >= f && (self.state.compressing_speech || debt >= SPEECH_DEBT_MS.max(f));
        if self.state.above_pops >= self.hold_pops && b.present {
            let silent_pair = a.low_energy && b.low_energy;
            if silent_pair || (self.state.compressing_speech && !self.silent_pair_ahead()) {
                self.state.debt_ms = (self.state.debt_ms - f).max(0.0);
                self.emit_merge(now);
                return;
            }
        }
        if excess < 0.0 && self.state.output != Output::Synthetic {
            let silent = a.low_energy && self.state.output == Output::Quiet;
            let speech_ok = excess <= -f && self.state.since_speech_stretch >= self.stretch_spacing_pops;
            if silent || speech_ok {
                if !silent {
                    self.state.since_speech_stretch = 0;
                }
                self.state.debt_ms += f;
                self.emit_stretch();
                return;
            }
        }
        self.emit_normal(now);
    }

    fn silent_pair_ahead(&self) -> bool {
        let n = self.slots.len().min(self.lookahead_frames + 1);
        (0..n.saturating_sub(1)).any(|k| {
            let (a, b) = (self.slots[k], self.slots[k + 1]);
            a.present && b.present && a.low_energy && b.low_energy
        })
    }

    fn set_last(&mut self, kind: PopKind, frame_index: Option<i64>, removed_index: Option<i64>) {
        self.state.last_pop = PopInfo {
            kind,
            frame_index,
            removed_index,
        };
    }

    fn emit_silence(&mut self) {
        self.out.fill(self.fmt.encoding.silence_byte());
        self.state.output = Output::Synthetic;
        self.set_last(PopKind::Buffering, None, None);
    }

    fn emit_normal(&mut self, now: f64) {
        let index = self.state.head;
        let mut out = std::mem::take(&mut self.out);
        self.copy_frame(0, &mut out);
        self.out = out;
        let slot = self.consume_head(now);
        self.state.output = Output::audio(slot.low_energy);
        self.set_last(PopKind::Normal, Some(index), None);
    }

    fn emit_merge(&mut self, now: f64) {
        let (a, b) = (self.slot(0), self.slot(1));
        let mut scratch = std::mem::take(&mut self.scratch_bytes);
        let mut pcm_a = std::mem::take(&mut self.pcm_a);
        let mut pcm_b = std::mem::take(&mut self.pcm_b);
        self.decode_frame(0, &mut pcm_a, &mut scratch);
        self.decode_frame(1, &mut pcm_b, &mut scratch);
        crossfade(&pcm_a, &pcm_b, &self.merge_fade, self.channels, &mut self.pcm_out);
        self.codec.encode(&self.pcm_out, &mut self.out);
        (self.scratch_bytes, self.pcm_a, self.pcm_b) = (scratch, pcm_a, pcm_b);
        let first = self.state.head;
        // The louder frame counts as played, the quieter one as removed.
        let (played, removed) = if b.rms > a.rms {
            (first + 1, first)
        } else {
            (first, first + 1)
        };
        if played == first {
            self.consume_head(now);
            self.drop_head();
        } else {
            self.drop_head();
            self.consume_head(now);
        }
        self.counters.accelerate += 1;
        self.state.output = Output::audio(a.low_energy && b.low_energy);
        self.set_last(PopKind::Merged, Some(played), Some(removed));
    }

    fn emit_stretch(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch_bytes);
        let mut pcm_a = std::mem::take(&mut self.pcm_a);
        let mut pcm_b = std::mem::take(&mut self.pcm_b);
        let mut pcm_out = std::mem::take(&mut self.pcm_out);
        self.codec.decode(&self.out, &mut pcm_out);
        reverse_frames(&pcm_out, self.channels, &mut pcm_a);
        self.decode_frame(0, &mut pcm_out, &mut scratch);
        reverse_frames(&pcm_out, self.channels, &mut pcm_b);
        crossfade(&pcm_a, &pcm_b, &self.merge_fade, self.channels, &mut pcm_out);
        self.codec.encode(&pcm_out, &mut self.out);
        (self.scratch_bytes, self.pcm_a, self.pcm_b, self.pcm_out) = (scratch, pcm_a, pcm_b, pcm_out);
        self.counters.stretched += 1;
        self.state.output = Output::audio(self.state.output == Output::Quiet && self.slot(0).low_energy);
        self.set_last(PopKind::Stretched, None, None);
    }

    /// Writes concealment frame number `run` of the current event into `pcm_out`; false when the
    /// fade has already reached silence (then `pcm_out` is left untouched).
    fn conceal_pcm(&mut self, run: u32, pos: usize) -> bool {
        if pos as f64 >= self.conceal_fade_samples {
            return false;
        }
        let ch = self.channels;
        let n = self.frame_samples;
        for j in 0..n {
            let gain = (1.0 - (pos + j) as f64 / self.conceal_fade_samples).max(0.0) as f32;
            // Even frames run backwards, odd ones forwards: each starts where the last one ended.
            let src = if run & 1 == 1 { j } else { n - 1 - j };
            for c in 0..ch {
                self.pcm_out[j * ch + c] = self.conceal_src[src * ch + c] * gain;
            }
        }
        true
    }

    fn emit_conceal(&mut self, waited_for: i64) {
        let s = &mut self.state;
        if s.conceal_run == 0 {
            s.conceal_after_speech = s.output == Output::Speech;
            s.conceal_pos = 0;
            self.counters.concealment_events += 1;
            if s.output == Output::Synthetic {
                self.conceal_src.fill(0.0);
            } else {
                self.codec.decode(&self.out, &mut self.conceal_src);
            }
        }
        let (run, pos) = (self.state.conceal_run, self.state.conceal_pos);
        if self.conceal_pcm(run, pos) {
            self.codec.encode(&self.pcm_out, &mut self.out);
        } else {
            self.out.fill(self.fmt.encoding.silence_byte());
        }
        let s = &mut self.state;
        s.conceal_run += 1;
        s.conceal_pos += self.frame_samples;
        if s.conceal_after_speech {
            self.counters.concealed_speech += 1;
        } else {
            self.counters.concealed_silence += 1;
        }
        s.output = Output::Synthetic;
        self.set_last(PopKind::Concealed, Some(waited_for), None);
    }

    /// Plays the head frame, cross-faded in from the concealment signal (or from silence).
    fn emit_resume(&mut self, now: f64) {
        let index = self.state.head;
        let (run, pos) = (self.state.conceal_run, self.state.conceal_pos);
        let from_concealment = run > 0 && self.conceal_pcm(run, pos);
        if !from_concealment {
            self.pcm_out.fill(0.0);
        }
        let mut scratch = std::mem::take(&mut self.scratch_bytes);
        let mut pcm_a = std::mem::take(&mut self.pcm_a);
        self.decode_frame(0, &mut pcm_a, &mut scratch);
        let ch = self.channels;
        for (j, &w) in self.resume_fade.iter().enumerate() {
            for c in 0..ch {
                let i = j * ch + c;
                pcm_a[i] = self.pcm_out[i] * (1.0 - w) + pcm_a[i] * w;
            }
        }
        self.codec.encode(&pcm_a, &mut self.out);
        (self.scratch_bytes, self.pcm_a) = (scratch, pcm_a);
        let slot = self.consume_head(now);
        let s = &mut self.state;
        s.conceal_run = 0;
        s.conceal_pos = 0;
        s.above_pops = 0;
        s.output = Output::audio(slot.low_energy);
        self.set_last(PopKind::Resumed, Some(index), None);
    }
}

/// Weights rising from 0 to 1 over `n` points along a raised cosine.
fn raised_cosine(n: usize) -> Vec<f32> {
    if n <= 1 {
        return vec![1.0; n];
    }
    (0..n)
        .map(|j| (0.5 - 0.5 * (std::f64::consts::PI * j as f64 / (n - 1) as f64).cos()) as f32)
        .collect()
}

/// `out = a * (1 - w) + b * w`, with one weight per sample frame applied to every channel.
fn crossfade(a: &[f32], b: &[f32], weights: &[f32], channels: usize, out: &mut [f32]) {
    for (j, &w) in weights.iter().enumerate() {
        for c in 0..channels {
            let i = j * channels + c;
            out[i] = a[i] * (1.0 - w) + b[i] * w;
        }
    }
}

/// Reverses the order of sample frames, keeping each frame's channel order.
fn reverse_frames(src: &[f32], channels: usize, out: &mut [f32]) {
    let n = src.len() / channels;
    for j in 0..n {
        let from = (n - 1 - j) * channels;
        out[j * channels..(j + 1) * channels].copy_from_slice(&src[from..from + channels]);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn format(encoding: Encoding, sample_rate: u64, channels: u64) -> AudioFormat {
        AudioFormat::new(encoding, sample_rate, channels).unwrap()
    }

    fn buffer(fmt: AudioFormat) -> JitterBuffer {
        JitterBuffer::new(fmt, JitterConfig::default()).unwrap()
    }

    /// Mono PCM16 sine frames: `frames` frames of 20 ms at 16 kHz.
    fn sine_pcm16(frames: usize, amplitude: f64) -> Vec<u8> {
        (0..frames * 320)
            .flat_map(|n| {
                let x = amplitude * (std::f64::consts::TAU * 440.0 * n as f64 / 16_000.0).sin();
                (x.round() as i16).to_le_bytes()
            })
            .collect()
    }

    fn samples(bytes: &[u8]) -> Vec<f64> {
        bytes
            .chunks_exact(2)
            .map(|p| f64::from(i16::from_le_bytes([p[0], p[1]])))
            .collect()
    }

    fn assert_ms(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-9, "{actual} ms, expected {expected} ms");
    }

    fn conserved(jb: &JitterBuffer) -> bool {
        let s = jb.stats();
        s.frames_pushed == s.frames_played + s.frames_dropped + s.frames_flushed + s.frames_pending
    }

    #[test]
    fn rejects_invalid_configurations() {
        let fmt = format(Encoding::Mulaw, 8000, 1);
        let base = JitterConfig::default();
        let bad = [
            JitterConfig { frame_ms: 0, ..base },
            JitterConfig {
                min_delay_ms: 100,
                initial_delay_ms: 80,
                ..base
            },
            JitterConfig {
                initial_delay_ms: 500,
                ..base
            },
            JitterConfig {
                max_delay_ms: 10,
                min_delay_ms: 0,
                initial_delay_ms: 0,
                ..base
            },
            JitterConfig {
                max_delay_ms: 20_000,
                ..base
            },
            JitterConfig {
                percentile: 0.3,
                ..base
            },
            JitterConfig {
                percentile: f64::NAN,
                ..base
            },
            JitterConfig {
                forget_factor: 1.0,
                ..base
            },
            JitterConfig {
                max_buffer_ms: 100,
                ..base
            },
        ];
        for config in bad {
            assert!(JitterBuffer::new(fmt, config).is_err(), "{config:?} was accepted");
        }
        let err = JitterBuffer::new(
            fmt,
            JitterConfig {
                percentile: 2.0,
                ..base
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("percentile"), "{err}");
        // 11.025 kHz has no whole number of samples in 20 ms... but does in 40 ms.
        let odd = format(Encoding::PcmS16le, 11_025, 1);
        assert!(JitterBuffer::new(odd, base).is_err());
        assert!(JitterBuffer::new(odd, JitterConfig { frame_ms: 40, ..base }).is_ok());
    }

    #[test]
    fn paced_input_plays_back_bit_exact() {
        let fmt = format(Encoding::PcmS16le, 16_000, 1);
        let mut jb = buffer(fmt);
        let input = sine_pcm16(100, 8000.0);
        let fb = jb.frame_bytes();
        assert_eq!(fb, 640);
        let mut played = Vec::new();
        for k in 0..100usize {
            let now = k as f64 * 20.0;
            jb.push(&input[k * fb..(k + 1) * fb], now + 1.0, None);
            let out = jb.pop(now + 5.0).to_vec();
            assert_eq!(out.len(), fb);
            let info = jb.last_pop();
            match info.kind {
                PopKind::Buffering => {}
                PopKind::Resumed => assert_eq!(info.frame_index, Some(0)),
                PopKind::Normal => played.push((info.frame_index.unwrap(), out)),
                other => panic!("unexpected {other:?} at pop {k}"),
            }
        }
        assert!(played.len() > 80);
        for (index, out) in played {
            let i = index as usize;
            assert_eq!(out, input[i * fb..(i + 1) * fb], "frame {i} changed");
        }
        assert!(conserved(&jb));
    }

    #[test]
    fn odd_pcm_bytes_wait_for_the_next_push() {
        let fmt = format(Encoding::PcmS16le, 16_000, 1);
        let mut jb = buffer(fmt);
        let input = sine_pcm16(3, 1000.0);
        jb.push(&input[..1], 0.0, None);
        jb.push(&input[1..639], 1.0, None);
        assert_eq!(jb.stats().frames_pushed, 0);
        assert!((jb.current_buffer_ms() - 639.0 / 32.0).abs() < 1e-9);
        jb.push(&input[639..1281], 2.0, None);
        assert_eq!(jb.stats().frames_pushed, 2);
        assert!((jb.current_buffer_ms() - (40.0 + 1.0 / 32.0)).abs() < 1e-9);
        assert!((jb.clear() - (40.0 + 1.0 / 32.0)).abs() < 1e-9);
    }

    fn loud_mulaw_frames(encoding: Encoding, frames: usize) -> Vec<u8> {
        (0..frames * 160)
            .map(|n| {
                let x = (12_000.0 * (std::f64::consts::TAU * 300.0 * n as f64 / 8000.0).sin()) as i16;
                if encoding == Encoding::Mulaw {
                    linear_to_ulaw(x)
                } else {
                    linear_to_alaw(x)
                }
            })
            .collect()
    }

    #[test]
    fn concealment_fades_out_to_the_codec_silence_byte() {
        for encoding in [Encoding::Mulaw, Encoding::Alaw] {
            let fmt = format(encoding, 8000, 1);
            let mut jb = buffer(fmt);
            jb.push(&loud_mulaw_frames(encoding, 10), 0.0, None);
            let mut kinds = Vec::new();
            let mut outputs = Vec::new();
            for k in 0..20 {
                outputs.push(jb.pop(100.0 + 20.0 * f64::from(k)).to_vec());
                kinds.push(jb.last_pop().kind);
            }
            let first = kinds.iter().position(|&k| k == PopKind::Concealed).unwrap();
            // The first concealment frame repeats the speech, faded; after 40 ms: codec silence.
            assert!(outputs[first].iter().any(|&b| b != encoding.silence_byte()));
            for out in &outputs[first + 2..] {
                assert!(
                    out.iter().all(|&b| b == encoding.silence_byte()),
                    "{encoding:?}: {out:?}"
                );
            }
            let s = jb.stats();
            assert_eq!(s.underrun_events, 1);
            assert!(s.concealed_speech_ms >= 20.0 * (20 - first) as f64 - 1e-9);
        }
    }

    #[test]
    fn stereo_concealment_fades_both_channels_alike() {
        let fmt = format(Encoding::PcmS16le, 16_000, 2);
        let mut jb = buffer(fmt);
        let frame: Vec<u8> = (0..320)
            .flat_map(|_| [8000i16.to_le_bytes(), (-4000i16).to_le_bytes()])
            .flatten()
            .collect();
        for k in 0..6 {
            jb.push(&frame, 20.0 * f64::from(k), None);
        }
        for k in 0..12 {
            let out = jb.pop(100.0 + 20.0 * f64::from(k)).to_vec();
            if jb.last_pop().kind != PopKind::Concealed {
                continue;
            }
            for pair in samples(&out).chunks_exact(2) {
                // Same gain on both channels: left stays -2x right (within rounding).
                assert!((pair[0] + 2.0 * pair[1]).abs() <= 2.0, "{pair:?}");
            }
        }
        assert!(jb.stats().concealment_events >= 1);
    }

    /// Largest jump between consecutive samples of the concatenated output.
    fn max_step(frames: &[Vec<u8>]) -> f64 {
        let all: Vec<f64> = frames.iter().flat_map(|f| samples(f)).collect();
        all.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn stall_conceal_resume_and_catch_up_are_click_free() {
        let fmt = format(Encoding::PcmS16le, 16_000, 1);
        let mut jb = buffer(fmt);
        let amplitude = 10_000.0;
        let input = sine_pcm16(400, amplitude);
        let fb = jb.frame_bytes();
        let mut outputs = Vec::new();
        let mut kinds = Vec::new();
        for k in 0..460usize {
            let now = k as f64 * 20.0;
            // Frames 150..=169 are held back for 400 ms, then arrive together (a TCP stall).
            let pushes: Vec<usize> = match k {
                150..=169 => vec![],
                170 => (150..=170).collect(),
                k if k < 400 => vec![k],
                _ => vec![],
            };
            for i in pushes {
                jb.push(&input[i * fb..(i + 1) * fb], now + 1.0, None);
            }
            outputs.push(jb.pop(now + 5.0).to_vec());
            kinds.push(jb.last_pop().kind);
        }
        for kind in [PopKind::Concealed, PopKind::Resumed, PopKind::Merged] {
            assert!(kinds.contains(&kind), "no {kind:?} in {kinds:?}");
        }
        // A sine's steepest step is amplitude * 2 pi f / rate (about 0.17 * amplitude here); a
        // click would be a jump of the order of the amplitude.
        let step = max_step(&outputs);
        assert!(step <= 0.3 * amplitude, "largest step {step}");
        // The stall is paid back: the delay after recovery is back near the target.
        let s = jb.stats();
        assert!(s.accelerate_removed_ms >= 200.0, "{s:?}");
        assert!(conserved(&jb));
    }

    #[test]
    fn stretching_is_click_free() {
        let fmt = format(Encoding::PcmS16le, 16_000, 1);
        let config = JitterConfig {
            initial_delay_ms: 20,
            ..JitterConfig::default()
        };
        let mut jb = JitterBuffer::new(fmt, config).unwrap();
        let amplitude = 10_000.0;
        let input = sine_pcm16(300, amplitude);
        let fb = jb.frame_bytes();
        // Packets are paced at first; from packet 50 on every fourth one is 70 ms late. Late
        // packets are skipped (with sequence numbers nothing waits for them), the target rises
        // and the buffer stretches speech to reach it.
        let mut events: Vec<(f64, usize)> = (0..300)
            .map(|k| {
                let late = if k >= 50 && k % 4 == 0 { 70.0 } else { 0.0 };
                (20.0 * k as f64 + 21.0 + late, k)
            })
            .collect();
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut next = 0;
        let mut outputs = Vec::new();
        for k in 0..320u32 {
            let now = 20.0 * f64::from(k) + 5.0;
            while let Some(&(arrival, i)) = events.get(next).filter(|e| e.0 <= now) {
                jb.push(&input[i * fb..(i + 1) * fb], arrival, Some(i as u64));
                next += 1;
            }
            outputs.push(jb.pop(now).to_vec());
        }
        let s = jb.stats();
        assert!(s.stretched_ms > 0.0 && s.late_dropped_ms > 0.0, "{s:?}");
        let step = max_step(&outputs);
        assert!(step <= 0.3 * amplitude, "largest step {step}");
    }

    #[test]
    fn clear_discards_everything_and_the_next_pop_is_silence() {
        let fmt = format(Encoding::Mulaw, 8000, 1);
        let mut jb = buffer(fmt);
        let audio = loud_mulaw_frames(Encoding::Mulaw, 20);
        jb.push(&audio[..160 * 10 + 40], 0.0, None);
        for k in 0..6 {
            jb.pop(100.0 + 20.0 * f64::from(k));
        }
        let pending = jb.stats().frames_pending as f64;
        let flushed = jb.clear();
        assert!((flushed - (pending * 20.0 + 5.0)).abs() < 1e-9, "{flushed}");
        let out = jb.pop(220.0);
        assert!(out.iter().all(|&b| b == 0xFF));
        assert_eq!(jb.last_pop().kind, PopKind::Buffering);
        let s = jb.stats();
        assert_eq!(s.buffer_flushes, 1);
        assert!((s.flushed_ms - flushed).abs() < 1e-9);
        assert!(conserved(&jb));
        // New audio after the flush starts a new timeline and plays once buffered.
        for k in 0..10u32 {
            let now = 240.0 + 20.0 * f64::from(k);
            jb.push(&audio[..160], now, None);
            jb.pop(now + 5.0);
        }
        assert!(jb.stats().frames_played > 6);
    }

    #[test]
    fn wait_quantiles_are_bin_midpoints_at_every_scale() {
        let mut h = WaitHistogram::new();
        assert_ms(h.quantile(0.5), 0.0);
        for (wait, mid) in [
            (10.3, 11.0),
            (-4.0, 1.0),
            (1004.0, 1005.0),
            (30_100.0, 30_250.0),
            (1e9, 60_000.0),
        ] {
            h.reset();
            h.add(wait);
            assert_ms(h.quantile(0.5), mid);
        }
        h.reset();
        for wait in [1.0, 3.0, 5.0, 7.0] {
            h.add(wait);
        }
        assert_ms(h.quantile(0.5), 3.0);
        assert_ms(h.quantile(0.95), 7.0);
        assert_ms(h.mean(), 4.0);
    }

    #[test]
    fn clear_does_no_per_frame_work() {
        // Emptying a VecDeque runs a destructor per element unless the element type has none, and
        // keeping its capacity means no deallocation: together, clear costs the same for 20 ms as
        // for 60 s of queued audio. Timing it belongs in the benchmarks, not in a test.
        const { assert!(!std::mem::needs_drop::<u8>() && !std::mem::needs_drop::<Slot>()) };
        let fmt = format(Encoding::Mulaw, 8000, 1);
        let mut jb = buffer(fmt);
        let second = loud_mulaw_frames(Encoding::Mulaw, 50);
        for k in 0..60 {
            jb.push(&second, f64::from(k), None);
        }
        assert!(jb.current_buffer_ms() >= 59_000.0, "{}", jb.current_buffer_ms());
        let (data_capacity, slots_capacity) = (jb.data.capacity(), jb.slots.capacity());
        assert!(data_capacity >= 60 * second.len() && slots_capacity >= 3000);
        let flushed = jb.clear();
        assert!((flushed - 60_000.0).abs() < 1e-9, "{flushed}");
        assert!(jb.data.is_empty() && jb.slots.is_empty());
        assert_eq!(
            (jb.data.capacity(), jb.slots.capacity()),
            (data_capacity, slots_capacity)
        );
        assert!(conserved(&jb));
    }

    fn packet(seq: u64) -> Vec<u8> {
        // The number sits at the end, clear of the 5 ms fade-in at start-up.
        let mut p = vec![0u8; 640];
        p[600..608].copy_from_slice(&seq.to_le_bytes());
        p
    }

    #[test]
    fn sequence_numbers_handle_reordering_loss_late_and_duplicates() {
        let fmt = format(Encoding::PcmS16le, 16_000, 1);
        let mut jb = buffer(fmt);
        // Before playback starts, an early packet arriving after a later one goes in front.
        jb.push(&packet(101), 0.0, Some(101));
        jb.push(&packet(100), 1.0, Some(100));
        jb.push(&packet(102), 2.0, Some(102));
        jb.push(&packet(101), 3.0, Some(101));
        jb.push(&packet(104), 4.0, Some(104));
        assert_ms(jb.stats().duplicate_dropped_ms, 20.0);
        let mut played = Vec::new();
        for k in 0..8 {
            let out = jb.pop(100.0 + 20.0 * f64::from(k)).to_vec();
            let info = jb.last_pop();
            if matches!(info.kind, PopKind::Normal | PopKind::Resumed) {
                played.push(u64::from_le_bytes(out[600..608].try_into().unwrap()));
            }
            if info.kind == PopKind::Concealed && jb.stats().late_dropped_ms < 1.0 {
                // 103 was skipped (104 is queued): arriving now it is late.
                jb.push(&packet(103), 100.0 + 20.0 * f64::from(k) + 1.0, Some(103));
            }
        }
        assert_eq!(played[..3], [100, 101, 102]);
        assert!(played.contains(&104));
        let s = jb.stats();
        assert_ms(s.late_dropped_ms, 20.0);
        // A duplicate of an already played packet is a duplicate, not late.
        jb.push(&packet(100), 300.0, Some(100));
        assert_ms(jb.stats().duplicate_dropped_ms, 40.0);
        assert!(conserved(&jb));
    }

    #[test]
    fn a_packet_before_the_flush_is_late_after_it() {
        let fmt = format(Encoding::PcmS16le, 16_000, 1);
        let mut jb = buffer(fmt);
        for seq in 10..15 {
            jb.push(&packet(seq), seq as f64, Some(seq));
        }
        jb.clear();
        jb.push(&packet(9), 20.0, Some(9));
        jb.push(&packet(15), 21.0, Some(15));
        let s = jb.stats();
        assert_ms(s.late_dropped_ms, 20.0);
        assert_eq!(s.frames_pending, 1);
    }

    #[test]
    fn the_hard_cap_drops_the_oldest_frames() {
        let fmt = format(Encoding::Mulaw, 8000, 1);
        let config = JitterConfig {
            max_buffer_ms: 400,
            ..JitterConfig::default()
        };
        let mut jb = JitterBuffer::new(fmt, config).unwrap();
        jb.push(&vec![0x55; 160 * 30], 0.0, None);
        let s = jb.stats();
        assert_eq!(s.frames_pending, 20);
        assert_ms(s.overflow_dropped_ms, 200.0);
        assert!(conserved(&jb));
    }

    #[test]
    fn pop_into_checks_the_length_and_reset_starts_over() {
        let fmt = format(Encoding::Alaw, 8000, 1);
        let mut jb = buffer(fmt);
        let mut out = vec![0u8; 160];
        jb.pop_into(0.0, &mut out).unwrap();
        assert!(out.iter().all(|&b| b == 0xD5));
        assert!(jb.pop_into(20.0, &mut out[..100]).is_err());
        jb.push(&[1, 2, 3], 30.0, None);
        jb.reset();
        assert_eq!(
            jb.stats(),
            JitterStats {
                preferred_buffer_size_ms: 80.0,
                ..JitterStats::default()
            }
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push { len: usize, dt: f64, seq: Option<u64> },
        Pop { dt: f64 },
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0usize..1500, 0.0..60.0f64, proptest::option::of(0u64..40))
                .prop_map(|(len, dt, seq)| Op::Push { len, dt, seq }),
            4 => (0.0..40.0f64).prop_map(|dt| Op::Pop { dt }),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn invariants_hold_for_any_sequence_of_calls(
            stereo in any::<bool>(),
            ops in proptest::collection::vec(op(), 1..250),
            seed in any::<u8>(),
        ) {
            let fmt = if stereo {
                format(Encoding::PcmS16le, 16_000, 2)
            } else {
                format(Encoding::Mulaw, 8000, 1)
            };
            let mut jb = buffer(fmt);
            let fb = jb.frame_bytes();
            let silence = fmt.encoding.silence_byte();
            let mut now = 0.0;
            let mut pops = 0;
            let mut cleared = false;
            let mut seq_base = 0;
            for op in ops {
                let before = jb.stats();
                match op {
                    Op::Push { len, dt, seq } => {
                        now += dt;
                        let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed | 1)).collect();
                        jb.push(&data, now, seq.map(|s| s + seq_base));
                        cleared = false;
                    }
                    Op::Pop { dt } => {
                        now += dt;
                        let out = jb.pop(now).to_vec();
                        pops += 1;
                        prop_assert_eq!(out.len(), fb);
                        let after = jb.stats();
                        // One frame out: at most one queued frame played, at most one removed.
                        prop_assert!(after.frames_played - before.frames_played <= 1);
                        prop_assert!(after.frames_dropped - before.frames_dropped <= 1);
                        if cleared {
                            prop_assert!(out.iter().all(|&b| b == silence));
                            cleared = false;
                        }
                    }
                    Op::Clear => {
                        let pending = before.frames_pending;
                        let ms = jb.clear();
                        prop_assert!(ms >= pending as f64 * 20.0 - 1e-9);
                        prop_assert_eq!(jb.stats().frames_pending, 0);
                        cleared = true;
                        seq_base += 1000;
                    }
                }
                let s = jb.stats();
                prop_assert_eq!(s.frames_popped, pops);
                prop_assert_eq!(s.frames_pushed, s.frames_played + s.frames_dropped + s.frames_flushed + s.frames_pending);
                for v in [
                    s.current_buffer_size_ms, s.preferred_buffer_size_ms, s.playout_delay_ms,
                    s.concealed_speech_ms, s.concealed_silence_ms, s.late_dropped_ms, s.duplicate_dropped_ms,
                    s.overflow_dropped_ms, s.accelerate_removed_ms, s.stretched_ms, s.flushed_ms,
                    s.delay_mean_ms, s.delay_p50_ms, s.delay_p95_ms,
                ] {
                    prop_assert!(v >= 0.0 && v.is_finite(), "{:?}", s);
                }
                prop_assert!(s.current_buffer_size_ms + 1e-9 >= s.frames_pending as f64 * 20.0);
                prop_assert!((20.0..=400.0).contains(&s.preferred_buffer_size_ms));
            }
        }
    }
}
