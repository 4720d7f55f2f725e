//! The one error type of the DSP core. Each variant is one broken rule; its fields carry the
//! offending values and its `Display` states the rule, so the message reaching Python says both
//! what was wrong and what is allowed.

use std::fmt;

/// Every way a DSP call can reject its arguments or input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DspError {
    /// An encoding name that is not one of the supported ones.
    UnknownEncoding {
        /// The name that was given.
        name: String,
    },
    /// A sample rate outside the range the operation supports.
    SampleRateOutOfRange {
        /// What the operation was (for the message).
        what: &'static str,
        /// The rate given, in Hz.
        sample_rate: u64,
        /// Lowest allowed rate, in Hz.
        min: u32,
        /// Highest allowed rate, in Hz.
        max: u32,
    },
    /// A channel count of zero or above the maximum.
    ChannelsOutOfRange {
        /// The count given.
        channels: u64,
        /// The largest allowed count.
        max: u16,
    },
    /// A frame duration that is zero, too long, or not a whole number of samples at the rate.
    InvalidFrameDuration {
        /// The duration given, in ms.
        frame_ms: u64,
        /// The sample rate it was applied to, in Hz.
        sample_rate: u32,
    },
    /// Input whose length is not a whole number of sample frames.
    PartialSample {
        /// What the input was (for the message).
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// Bytes in one sample frame (all channels).
        frame_bytes: usize,
    },
    /// A quality name that is not one of `low`, `medium`, `high`.
    UnknownQuality {
        /// The name that was given.
        name: String,
    },
    /// Two formats whose channel counts cannot be converted into each other.
    ChannelMismatch {
        /// Channels of the source.
        src: u16,
        /// Channels of the destination.
        dst: u16,
    },
    /// A numeric argument outside its allowed range.
    OutOfRange {
        /// The argument's name.
        name: &'static str,
        /// The value given, as text.
        value: String,
        /// The allowed range, as text.
        allowed: &'static str,
    },
}

impl fmt::Display for DspError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownEncoding { name } => write!(
                f,
                "unknown audio encoding {name:?}: expected one of \"pcm_s16le\", \"mulaw\", \"alaw\""
            ),
            Self::SampleRateOutOfRange {
                what,
                sample_rate,
                min,
                max,
            } => write!(
                f,
                "{what}: sample rate {sample_rate} Hz is not supported: expected an integer from {min} to {max} Hz"
            ),
            Self::ChannelsOutOfRange { channels, max } => {
                write!(f, "channels must be from 1 to {max}, got {channels}")
            }
            Self::InvalidFrameDuration { frame_ms, sample_rate } => write!(
                f,
                "frame_ms={frame_ms} is not usable at {sample_rate} Hz: a frame must last 1 to 1000 ms and hold a \
                 whole number of samples (sample_rate * frame_ms divisible by 1000)"
            ),
            Self::PartialSample { what, len, frame_bytes } => write!(
                f,
                "{what} of {len} bytes is not a whole number of samples: its length must be a multiple of \
                 {frame_bytes} bytes"
            ),
            Self::UnknownQuality { name } => write!(
                f,
                "unknown resampler quality {name:?}: expected one of \"low\", \"medium\", \"high\""
            ),
            Self::ChannelMismatch { src, dst } => write!(
                f,
                "cannot convert {src} channel(s) to {dst}: channel counts must be equal, or one side must be mono"
            ),
            Self::OutOfRange { name, value, allowed } => {
                write!(f, "{name}={value} is out of range: expected {allowed}")
            }
        }
    }
}

impl std::error::Error for DspError {}

/// Result type of the DSP core.
pub type DspResult<T> = Result<T, DspError>;
