//! `JitterBuffer` and the trace simulator behind the evaluation report.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use super::buffer::{Kind, with_bytes};
use super::errors::{AudioFormatError, guard};
use super::streams::PyAudioFormat;
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, PopKind};
use crate::jitter_sim::{self, AlgoReport, SimReport, Trace};

fn finite(name: &str, value: f64) -> PyResult<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(AudioFormatError::new_err(format!(
            "{name}={value} is not a time: pass a finite number of milliseconds"
        )))
    }
}

fn non_negative_u32(name: &str, value: i64) -> PyResult<u32> {
    u32::try_from(value)
        .map_err(|_| AudioFormatError::new_err(format!("{name}={value} is out of range: expected 0 to 4294967295 ms")))
}

fn stats_dict<'py>(py: Python<'py>, s: &JitterStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("current_buffer_size_ms", s.current_buffer_size_ms)?;
    d.set_item("preferred_buffer_size_ms", s.preferred_buffer_size_ms)?;
    d.set_item("playout_delay_ms", s.playout_delay_ms)?;
    d.set_item("frames_pushed", s.frames_pushed)?;
    d.set_item("frames_popped", s.frames_popped)?;
    d.set_item("frames_played", s.frames_played)?;
    d.set_item("frames_pending", s.frames_pending)?;
    d.set_item("frames_dropped", s.frames_dropped)?;
    d.set_item("frames_flushed", s.frames_flushed)?;
    d.set_item("concealed_speech_ms", s.concealed_speech_ms)?;
    d.set_item("concealed_silence_ms", s.concealed_silence_ms)?;
    d.set_item("concealment_events", s.concealment_events)?;
    d.set_item("underrun_events", s.underrun_events)?;
    d.set_item("late_dropped_ms", s.late_dropped_ms)?;
    d.set_item("duplicate_dropped_ms", s.duplicate_dropped_ms)?;
    d.set_item("overflow_dropped_ms", s.overflow_dropped_ms)?;
    d.set_item("accelerate_removed_ms", s.accelerate_removed_ms)?;
    d.set_item("stretched_ms", s.stretched_ms)?;
    d.set_item("buffer_flushes", s.buffer_flushes)?;
    d.set_item("flushed_ms", s.flushed_ms)?;
    d.set_item("delay_mean_ms", s.delay_mean_ms)?;
    d.set_item("delay_p50_ms", s.delay_p50_ms)?;
    d.set_item("delay_p95_ms", s.delay_p95_ms)?;
    Ok(d)
}

fn pop_kind_name(kind: PopKind) -> &'static str {
    match kind {
        PopKind::Buffering => "buffering",
        PopKind::Normal => "normal",
        PopKind::Resumed => "resumed",
        PopKind::Merged => "merged",
        PopKind::Stretched => "stretched",
        PopKind::Concealed => "concealed",
    }
}

#[pyclass(name = "JitterBuffer", module = "vapi_fast._native")]
pub struct PyJitterBuffer {
    inner: JitterBuffer,
}

#[pymethods]
impl PyJitterBuffer {
    #[new]
    #[pyo3(signature = (
        fmt,
        frame_ms = 20,
        min_delay_ms = 20,
        max_delay_ms = 400,
        initial_delay_ms = 80,
        percentile = 0.95,
        max_buffer_ms = 60_000,
    ))]
    fn new(
        fmt: &Bound<'_, PyAudioFormat>,
        frame_ms: i64,
        min_delay_ms: i64,
        max_delay_ms: i64,
        initial_delay_ms: i64,
        percentile: f64,
        max_buffer_ms: i64,
    ) -> PyResult<Self> {
        let config = JitterConfig {
            frame_ms: non_negative_u32("frame_ms", frame_ms)?,
            min_delay_ms: non_negative_u32("min_delay_ms", min_delay_ms)?,
            max_delay_ms: non_negative_u32("max_delay_ms", max_delay_ms)?,
            initial_delay_ms: non_negative_u32("initial_delay_ms", initial_delay_ms)?,
            percentile,
            max_buffer_ms: non_negative_u32("max_buffer_ms", max_buffer_ms)?,
            ..JitterConfig::default()
        };
        Ok(Self {
            inner: JitterBuffer::new(fmt.get().inner, config)?,
        })
    }

    #[pyo3(signature = (data, now_ms, seq = None))]
    fn push(&mut self, data: &Bound<'_, PyAny>, now_ms: f64, seq: Option<i64>) -> PyResult<()> {
        let now_ms = finite("now_ms", now_ms)?;
        let seq = seq
            .map(|s| u64::try_from(s).map_err(|_| AudioFormatError::new_err(format!("seq={s} must be >= 0"))))
            .transpose()?;
        guard(|| {
            with_bytes(data, Kind::Pcm, "audio input", |input| {
                self.inner.push(input, now_ms, seq);
            })
        })
    }

    fn pop<'py>(&mut self, py: Python<'py>, now_ms: f64) -> PyResult<Bound<'py, PyBytes>> {
        let now_ms = finite("now_ms", now_ms)?;
        guard(|| Ok(PyBytes::new(py, self.inner.pop(now_ms))))
    }

    fn clear(&mut self) -> f64 {
        self.inner.clear()
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.inner.stats())
    }

    #[getter]
    fn frame_bytes(&self) -> usize {
        self.inner.frame_bytes()
    }

    #[getter]
    fn frame_ms(&self) -> u32 {
        self.inner.config().frame_ms
    }

    #[getter]
    fn format(&self) -> PyAudioFormat {
        PyAudioFormat {
            inner: self.inner.format(),
        }
    }

    #[getter]
    fn target_delay_ms(&self) -> f64 {
        self.inner.target_delay_ms()
    }

    #[getter]
    fn current_buffer_ms(&self) -> f64 {
        self.inner.current_buffer_ms()
    }

    #[getter]
    fn playout_delay_ms(&self) -> f64 {
        self.inner.playout_delay_ms()
    }

    #[getter]
    fn last_pop_kind(&self) -> &'static str {
        pop_kind_name(self.inner.last_pop().kind)
    }
}

/// Names accepted by [`simulate_jitter_py`], in the order of the evaluation.
const TRACES: [&str; 7] = [
    "vapi_tcp",
    "tts_burst",
    "pareto_stalls",
    "spikes",
    "drift_plus_100ppm",
    "drift_minus_100ppm",
    "loss_reorder",
];

fn trace_by_name(name: &str, seed: u64) -> PyResult<Trace> {
    Ok(match name {
        "vapi_tcp" => jitter_sim::trace_vapi_tcp(seed),
        "tts_burst" => jitter_sim::trace_tts_burst(seed),
        "pareto_stalls" => jitter_sim::trace_pareto_stalls(seed),
        "spikes" => jitter_sim::trace_spikes(seed),
        "drift_plus_100ppm" => jitter_sim::trace_drift(seed, 100.0),
        "drift_minus_100ppm" => jitter_sim::trace_drift(seed, -100.0),
        "loss_reorder" => jitter_sim::trace_loss_reorder(seed),
        _ => {
            return Err(AudioFormatError::new_err(format!(
                "unknown trace {name:?}: expected one of {}",
                TRACES.join(", ")
            )));
        }
    })
}

fn algo_dict<'py>(py: Python<'py>, a: &AlgoReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &a.name)?;
    d.set_item("mean_delay_ms", a.mean_delay_ms)?;
    d.set_item("p95_delay_ms", a.p95_delay_ms)?;
    d.set_item("max_delay_ms", a.max_delay_ms)?;
    d.set_item("frames_played", a.frames_played)?;
    d.set_item("concealed_frames", a.concealed_frames)?;
    d.set_item("speech_concealed_frames", a.speech_concealed_frames)?;
    d.set_item("speech_concealment_pct", a.speech_concealment_pct)?;
    d.set_item("frames_dropped", a.frames_dropped)?;
    d.set_item("speech_frames_dropped", a.speech_frames_dropped)?;
    d.set_item("recovery_ms", PyList::new(py, &a.recovery_ms)?)?;
    d.set_item("max_recovery_ms", a.max_recovery_ms())?;
    Ok(d)
}

fn report_dict<'py>(py: Python<'py>, r: &SimReport, trace: &Trace) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("trace", &r.trace)?;
    d.set_item("duration_ms", trace.duration_ms())?;
    d.set_item("format", PyAudioFormat { inner: trace.fmt })?;
    d.set_item("percentile", r.percentile)?;
    d.set_item("speech_frames", r.speech_frames)?;
    d.set_item("adaptive", algo_dict(py, &r.adaptive)?)?;
    let fixed = PyList::empty(py);
    for f in &r.fixed {
        fixed.append(algo_dict(py, f)?)?;
    }
    d.set_item("fixed", fixed)?;
    d.set_item("optimum", algo_dict(py, &r.optimum)?)?;
    d.set_item("optimum_offset_ms", r.optimum_offset_ms)?;
    d.set_item("stats", stats_dict(py, &r.stats)?)?;
    d.set_item("max_buffer_ms", r.max_buffer_ms)?;
    d.set_item("minute_mean_delay_ms", PyList::new(py, &r.minute_mean_delay_ms)?)?;
    d.set_item("minute_speech_concealed", PyList::new(py, &r.minute_speech_concealed)?)?;
    Ok(d)
}

#[pyfunction(name = "jitter_traces")]
pub fn jitter_traces_py() -> Vec<&'static str> {
    TRACES.to_vec()
}

#[pyfunction(name = "simulate_jitter", signature = (trace, seed = 7, percentile = 0.95))]
pub fn simulate_jitter_py<'py>(
    py: Python<'py>,
    trace: &str,
    seed: u64,
    percentile: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let trace = trace_by_name(trace, seed)?;
    let config = JitterConfig {
        percentile,
        ..JitterConfig::default()
    };
    // Minutes of virtual time take tens of milliseconds: let other threads run meanwhile.
    let report = py.detach(|| jitter_sim::simulate(&trace, &config))?;
    report_dict(py, &report, &trace)
}
