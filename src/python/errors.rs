//! Python exceptions raised by the native module, and the mapping from [`DspError`].

use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::error::DspError;

create_exception!(
    vapi_fast._native,
    AudioFormatError,
    PyValueError,
    "Bad audio arguments or input: the message says what was wrong and what is allowed."
);
create_exception!(
    vapi_fast._native,
    NativeError,
    PyRuntimeError,
    "An internal fault in the native core (a bug): the operation was abandoned, nothing was corrupted."
);

impl From<DspError> for PyErr {
    fn from(err: DspError) -> Self {
        AudioFormatError::new_err(err.to_string())
    }
}

/// Runs `f`, turning a Rust panic into [`NativeError`] so it never reaches Python as `PanicException`.
pub fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(NativeError::new_err(format!(
                "internal error in vapi_fast._native: {detail}"
            )))
        }
    }
}
