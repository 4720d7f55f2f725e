//! Stream classes: `AudioFormat`, `Framer`, `Resampler`, `Transcoder`. One stream object per call
//! leg; using one object from two threads at once raises `RuntimeError` (the `PyO3` borrow check).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use super::buffer::{Kind, with_bytes};
use super::errors::{AudioFormatError, guard};
use crate::format::{AudioFormat, Encoding};
use crate::framer::Framer;
use crate::resample::{Quality, Resampler};
use crate::transcode::Transcoder;

/// Negative Python ints become 0 so the range check (which rejects 0) reports them.
fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[pyclass(name = "AudioFormat", module = "vapi_fast._native", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyAudioFormat {
    pub inner: AudioFormat,
}

#[pymethods]
impl PyAudioFormat {
    #[new]
    #[pyo3(signature = (encoding, sample_rate, channels = 1))]
    fn new(encoding: &str, sample_rate: i64, channels: i64) -> PyResult<Self> {
        let encoding = Encoding::parse(encoding)?;
        Ok(Self {
            inner: AudioFormat::new(encoding, non_negative(sample_rate), non_negative(channels))?,
        })
    }

    #[getter]
    fn encoding(&self) -> &'static str {
        self.inner.encoding.name()
    }

    #[getter]
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate
    }

    #[getter]
    fn channels(&self) -> u16 {
        self.inner.channels
    }

    #[getter]
    fn sample_width(&self) -> usize {
        self.inner.encoding.bytes_per_sample()
    }

    #[getter]
    fn silence_byte(&self) -> u8 {
        self.inner.encoding.silence_byte()
    }

    #[pyo3(signature = (frame_ms = 20))]
    fn bytes_per_frame(&self, frame_ms: i64) -> PyResult<usize> {
        Ok(self.inner.bytes_per_frame(non_negative(frame_ms))?)
    }

    fn bytes_per_second(&self) -> usize {
        self.inner.sample_rate as usize * self.inner.frame_bytes()
    }

    fn duration_ms(&self, n_bytes: usize) -> f64 {
        n_bytes as f64 * 1000.0 / self.bytes_per_second() as f64
    }

    #[classmethod]
    fn from_vapi(_cls: &Bound<'_, pyo3::types::PyType>, obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let dict = obj
            .cast::<PyDict>()
            .map_err(|_| AudioFormatError::new_err("a Vapi audioFormat must be a dict"))?;
        let format: String = match dict.get_item("format")? {
            Some(v) => v
                .extract()
                .map_err(|_| AudioFormatError::new_err("audioFormat.format must be a string"))?,
            None => "pcm_s16le".to_owned(),
        };
        if !matches!(format.as_str(), "pcm_s16le" | "mulaw") {
            return Err(AudioFormatError::new_err(format!(
                "audioFormat.format {format:?} is not one Vapi supports: expected \"pcm_s16le\" or \"mulaw\""
            )));
        }
        if let Some(container) = dict.get_item("container")? {
            let container: String = container
                .extract()
                .map_err(|_| AudioFormatError::new_err("audioFormat.container must be a string"))?;
            if container != "raw" {
                return Err(AudioFormatError::new_err(format!(
                    "audioFormat.container {container:?} is not supported: expected \"raw\""
                )));
            }
        }
        let rate: i64 = match dict.get_item("sampleRate")? {
            Some(v) => {
                let f: f64 = v
                    .extract()
                    .map_err(|_| AudioFormatError::new_err("audioFormat.sampleRate must be a number"))?;
                if f.fract() != 0.0 {
                    return Err(AudioFormatError::new_err(format!(
                        "audioFormat.sampleRate {f} is not a whole number of Hz"
                    )));
                }
                f as i64
            }
            None => 16_000,
        };
        Self::new(&format, rate, 1)
    }

    fn to_vapi<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        if self.inner.encoding == Encoding::Alaw || self.inner.channels != 1 {
            return Err(AudioFormatError::new_err(format!(
                "{} is not a Vapi wire format: Vapi carries mono \"pcm_s16le\" or \"mulaw\"",
                self.__repr__()
            )));
        }
        let dict = PyDict::new(py);
        dict.set_item("format", self.inner.encoding.name())?;
        dict.set_item("container", "raw")?;
        dict.set_item("sampleRate", self.inner.sample_rate)?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        format!(
            "AudioFormat(encoding={:?}, sample_rate={}, channels={})",
            self.inner.encoding.name(),
            self.inner.sample_rate,
            self.inner.channels
        )
    }
}

#[pyclass(name = "Framer", module = "vapi_fast._native")]
pub struct PyFramer {
    inner: Framer,
    fmt: AudioFormat,
    frame_ms: u64,
}

#[pymethods]
impl PyFramer {
    #[new]
    #[pyo3(signature = (fmt, frame_ms = 20))]
    fn new(fmt: &Bound<'_, PyAudioFormat>, frame_ms: i64) -> PyResult<Self> {
        let fmt = fmt.get().inner;
        let frame_ms = non_negative(frame_ms);
        Ok(Self {
            inner: Framer::new(&fmt, frame_ms)?,
            fmt,
            frame_ms,
        })
    }

    fn push<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        guard(|| {
            with_bytes(data, Kind::Pcm, "audio input", |input| {
                let list = PyList::empty(py);
                let mut failed = None;
                self.inner.push(input, |frame| {
                    if failed.is_none()
                        && let Err(e) = list.append(PyBytes::new(py, frame))
                    {
                        failed = Some(e);
                    }
                });
                failed.map_or(Ok(list), Err)
            })?
        })
    }

    #[pyo3(signature = (pad = true))]
    fn flush<'py>(&mut self, py: Python<'py>, pad: bool) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.flush(pad))
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    #[getter]
    fn pending_bytes(&self) -> usize {
        self.inner.pending_bytes()
    }

    #[getter]
    fn frame_bytes(&self) -> usize {
        self.inner.frame_bytes()
    }

    #[getter]
    fn frame_ms(&self) -> u64 {
        self.frame_ms
    }

    #[getter]
    fn format(&self) -> PyAudioFormat {
        PyAudioFormat { inner: self.fmt }
    }
}

#[pyclass(name = "Resampler", module = "vapi_fast._native")]
pub struct PyResampler {
    inner: Resampler,
}

#[pymethods]
impl PyResampler {
    #[new]
    #[pyo3(signature = (in_rate, out_rate, quality = "high", channels = 1))]
    fn new(in_rate: i64, out_rate: i64, quality: &str, channels: i64) -> PyResult<Self> {
        Ok(Self {
            inner: Resampler::new(
                non_negative(in_rate),
                non_negative(out_rate),
                Quality::parse(quality)?,
                non_negative(channels),
            )?,
        })
    }

    fn push<'py>(&mut self, py: Python<'py>, pcm: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        guard(|| {
            with_bytes(pcm, Kind::Pcm, "PCM input", |input| {
                let frame = 2 * self.inner.channels();
                if !input.len().is_multiple_of(frame) {
                    return Err(crate::error::DspError::PartialSample {
                        what: "PCM input",
                        len: input.len(),
                        frame_bytes: frame,
                    }
                    .into());
                }
                let n = self.inner.output_len_for(input.len() / frame) * frame;
                PyBytes::new_with(py, n, |out| {
                    self.inner.push_bytes(input, out)?;
                    Ok(())
                })
            })?
        })
    }

    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        guard(|| {
            let n = self.inner.flush_len() * 2 * self.inner.channels();
            PyBytes::new_with(py, n, |out| {
                self.inner.flush_bytes(out);
                Ok(())
            })
        })
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    #[getter]
    fn delay_samples(&self) -> usize {
        self.inner.delay_samples()
    }

    #[getter]
    fn in_rate(&self) -> u32 {
        self.inner.in_rate()
    }

    #[getter]
    fn out_rate(&self) -> u32 {
        self.inner.out_rate()
    }

    #[getter]
    fn quality(&self) -> &'static str {
        self.inner.quality().name()
    }

    #[getter]
    fn channels(&self) -> usize {
        self.inner.channels()
    }

    #[getter]
    fn filter_taps(&self) -> Vec<usize> {
        self.inner.filter_taps()
    }

    #[getter]
    fn intermediate_rates(&self) -> Vec<u64> {
        self.inner.intermediate_rates()
    }
}

#[pyclass(name = "Transcoder", module = "vapi_fast._native")]
pub struct PyTranscoder {
    inner: Transcoder,
    frame_ms: Option<u64>,
    out: Vec<u8>,
}

impl PyTranscoder {
    /// Hands `self.out` to Python: one bytes object, or a list of frames when framing.
    fn output<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let result = match self.inner.frame_bytes() {
            None => PyBytes::new(py, &self.out).into_any(),
            Some(size) => {
                let list = PyList::empty(py);
                for frame in self.out.chunks_exact(size) {
                    list.append(PyBytes::new(py, frame))?;
                }
                list.into_any()
            }
        };
        self.out.clear();
        Ok(result)
    }
}

#[pymethods]
impl PyTranscoder {
    #[new]
    #[pyo3(signature = (src, dst, frame_ms = None, quality = "high"))]
    fn new(
        src: &Bound<'_, PyAudioFormat>,
        dst: &Bound<'_, PyAudioFormat>,
        frame_ms: Option<i64>,
        quality: &str,
    ) -> PyResult<Self> {
        let frame_ms = frame_ms.map(non_negative);
        Ok(Self {
            inner: Transcoder::new(src.get().inner, dst.get().inner, frame_ms, Quality::parse(quality)?)?,
            frame_ms,
            out: Vec::new(),
        })
    }

    fn push<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| {
            with_bytes(data, Kind::Pcm, "audio input", |input| {
                self.out.clear();
                self.inner.push(input, &mut self.out);
            })?;
            self.output(py)
        })
    }

    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| {
            self.out.clear();
            self.inner.flush(&mut self.out)?;
            self.output(py)
        })
    }

    fn reset(&mut self) {
        self.inner.reset();
        self.out.clear();
    }

    #[getter]
    fn src(&self) -> PyAudioFormat {
        PyAudioFormat {
            inner: self.inner.src(),
        }
    }

    #[getter]
    fn dst(&self) -> PyAudioFormat {
        PyAudioFormat {
            inner: self.inner.dst(),
        }
    }

    #[getter]
    fn frame_ms(&self) -> Option<u64> {
        self.frame_ms
    }

    #[getter]
    fn delay_samples(&self) -> usize {
        self.inner.delay_samples()
    }

    #[getter]
    fn pending_bytes(&self) -> usize {
        self.inner.pending_bytes()
    }
}
