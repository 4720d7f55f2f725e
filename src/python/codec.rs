//! Module-level functions: G.711 and one-shot resampling.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::buffer::{Kind, with_bytes};
use super::errors::guard;
use crate::error::DspError;
use crate::g711;
use crate::resample::{Quality, Resampler};

/// Inputs at least this long are converted with the GIL released; shorter ones (a 20 ms frame is
/// a few hundred bytes) finish faster than a release/re-acquire round trip.
pub const DETACH_BYTES: usize = 64 * 1024;

fn convert<'py>(
    py: Python<'py>,
    input: &[u8],
    out_len: usize,
    work: impl Fn(&[u8], &mut [u8]) + Send + Sync,
) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, out_len, |out| {
        if input.len() >= DETACH_BYTES {
            py.detach(|| work(input, out));
        } else {
            work(input, out);
        }
        Ok(())
    })
}

fn check_pcm(what: &'static str, len: usize) -> PyResult<()> {
    if !len.is_multiple_of(2) {
        return Err(DspError::PartialSample {
            what,
            len,
            frame_bytes: 2,
        }
        .into());
    }
    Ok(())
}

#[pyfunction(name = "ulaw_encode")]
pub fn ulaw_encode_py<'py>(py: Python<'py>, pcm: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    guard(|| {
        with_bytes(pcm, Kind::Pcm, "PCM input", |input| {
            check_pcm("PCM input", input.len())?;
            convert(py, input, input.len() / 2, g711::ulaw_encode_into)
        })?
    })
}

#[pyfunction(name = "alaw_encode")]
pub fn alaw_encode_py<'py>(py: Python<'py>, pcm: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    guard(|| {
        with_bytes(pcm, Kind::Pcm, "PCM input", |input| {
            check_pcm("PCM input", input.len())?;
            convert(py, input, input.len() / 2, g711::alaw_encode_into)
        })?
    })
}

#[pyfunction(name = "ulaw_decode")]
pub fn ulaw_decode_py<'py>(py: Python<'py>, ulaw: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    guard(|| {
        with_bytes(ulaw, Kind::Bytes, "mu-law input", |input| {
            convert(py, input, input.len() * 2, g711::ulaw_decode_into)
        })?
    })
}

#[pyfunction(name = "alaw_decode")]
pub fn alaw_decode_py<'py>(py: Python<'py>, alaw: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    guard(|| {
        with_bytes(alaw, Kind::Bytes, "A-law input", |input| {
            convert(py, input, input.len() * 2, g711::alaw_decode_into)
        })?
    })
}

#[pyfunction(name = "resample", signature = (pcm, in_rate, out_rate, quality = "high", channels = 1))]
pub fn resample_py<'py>(
    py: Python<'py>,
    pcm: &Bound<'py, PyAny>,
    in_rate: i64,
    out_rate: i64,
    quality: &str,
    channels: i64,
) -> PyResult<Bound<'py, PyBytes>> {
    // Negative values become 0 so the range checks report them.
    let [in_rate, out_rate, channels] = [in_rate, out_rate, channels].map(|v| u64::try_from(v).unwrap_or(0));
    guard(|| {
        let mut resampler = Resampler::new(in_rate, out_rate, Quality::parse(quality)?, channels)?;
        with_bytes(pcm, Kind::Pcm, "PCM input", |input| {
            let frame = 2 * resampler.channels();
            if !input.len().is_multiple_of(frame) {
                return Err(DspError::PartialSample {
                    what: "PCM input",
                    len: input.len(),
                    frame_bytes: frame,
                }
                .into());
            }
            let out_len = resampler.total_len_for(input.len() / frame) * frame;
            // Straight from the caller's bytes into the result's bytes: no intermediate buffers.
            PyBytes::new_with(py, out_len, |out| {
                let mut run = || -> PyResult<()> {
                    let pushed = resampler.push_bytes(input, out)?;
                    resampler.flush_bytes(&mut out[pushed..]);
                    Ok(())
                };
                if input.len() >= DETACH_BYTES {
                    py.detach(run)
                } else {
                    run()
                }
            })
        })?
    })
}
