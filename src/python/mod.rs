//! The Python module `vapi_fast._native`: the only place that uses pyo3.

mod buffer;
mod codec;
mod errors;
mod jitter;
mod streams;

use pyo3::prelude::*;

#[pymodule(name = "_native")]
mod native {
    #[pymodule_export]
    use super::codec::{alaw_decode_py, alaw_encode_py, resample_py, ulaw_decode_py, ulaw_encode_py};
    #[pymodule_export]
    use super::errors::{AudioFormatError, NativeError};
    #[pymodule_export]
    use super::jitter::{PyJitterBuffer, jitter_traces_py, simulate_jitter_py};
    #[pymodule_export]
    use super::streams::{PyAudioFormat, PyFramer, PyResampler, PyTranscoder};

    use super::{Bound, PyModule, PyModuleMethods, PyResult};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }
}
