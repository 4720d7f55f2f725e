//! The native audio core of `vapi_fast`.
//!
//! The DSP modules are pure Rust (no Python, no unsafe code, no clocks or I/O) and are tested by
//! plain `cargo test`. The Python bindings live only in `python`, behind the `python` feature.

pub mod error;
pub mod format;
pub mod framer;
pub mod g711;
pub mod jitter;
pub mod jitter_sim;
pub mod remez;
pub mod resample;
pub mod transcode;

#[cfg(feature = "python")]
mod python;

pub use error::{DspError, DspResult};
pub use format::{AudioFormat, Encoding};
