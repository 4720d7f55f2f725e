//! Audio formats: an encoding, a sample rate and a channel count.
#![forbid(unsafe_code)]

use crate::error::{DspError, DspResult};

/// Lowest sample rate an [`AudioFormat`] may carry, in Hz.
pub const MIN_FORMAT_RATE: u32 = 1_000;
/// Highest sample rate an [`AudioFormat`] may carry, in Hz (Vapi's schema limit).
pub const MAX_FORMAT_RATE: u32 = 192_000;
/// Largest channel count supported.
pub const MAX_CHANNELS: u16 = 8;

/// How samples are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Signed 16-bit little-endian PCM (2 bytes per sample).
    PcmS16le,
    /// ITU-T G.711 mu-law (1 byte per sample).
    Mulaw,
    /// ITU-T G.711 A-law (1 byte per sample).
    Alaw,
}

impl Encoding {
    /// Parses the Vapi name of an encoding (`pcm_s16le`, `mulaw`, `alaw`).
    pub fn parse(name: &str) -> DspResult<Self> {
        match name {
            "pcm_s16le" => Ok(Self::PcmS16le),
            "mulaw" => Ok(Self::Mulaw),
            "alaw" => Ok(Self::Alaw),
            _ => Err(DspError::UnknownEncoding { name: name.to_owned() }),
        }
    }

    /// The Vapi name of the encoding.
    pub fn name(self) -> &'static str {
        match self {
            Self::PcmS16le => "pcm_s16le",
            Self::Mulaw => "mulaw",
            Self::Alaw => "alaw",
        }
    }

    /// Bytes per sample of one channel.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            Self::PcmS16le => 2,
            Self::Mulaw | Self::Alaw => 1,
        }
    }

    /// The byte that decodes to (near) zero: 0 for PCM, 0xFF for mu-law, 0xD5 for A-law.
    pub fn silence_byte(self) -> u8 {
        match self {
            Self::PcmS16le => 0x00,
            Self::Mulaw => 0xFF,
            Self::Alaw => 0xD5,
        }
    }
}

/// An audio format: encoding, sample rate in Hz, interleaved channel count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AudioFormat {
    /// How samples are stored.
    pub encoding: Encoding,
    /// Samples per second per channel, in Hz.
    pub sample_rate: u32,
    /// Interleaved channels (1 = mono).
    pub channels: u16,
}

impl AudioFormat {
    /// Validates and builds a format.
    pub fn new(encoding: Encoding, sample_rate: u64, channels: u64) -> DspResult<Self> {
        if !(u64::from(MIN_FORMAT_RATE)..=u64::from(MAX_FORMAT_RATE)).contains(&sample_rate) {
            return Err(DspError::SampleRateOutOfRange {
                what: "audio format",
                sample_rate,
                min: MIN_FORMAT_RATE,
                max: MAX_FORMAT_RATE,
            });
        }
        if channels == 0 || channels > u64::from(MAX_CHANNELS) {
            return Err(DspError::ChannelsOutOfRange {
                channels,
                max: MAX_CHANNELS,
            });
        }
        Ok(Self {
            encoding,
            sample_rate: sample_rate as u32,
            channels: channels as u16,
        })
    }

    /// Bytes of one sample frame (one sample of every channel).
    pub fn frame_bytes(&self) -> usize {
        self.encoding.bytes_per_sample() * usize::from(self.channels)
    }

    /// Samples per channel in `frame_ms` milliseconds; an error unless that is a whole, non-zero number
    /// and `frame_ms` is from 1 to 1000.
    pub fn samples_per_frame(&self, frame_ms: u64) -> DspResult<usize> {
        let product = u64::from(self.sample_rate) * frame_ms;
        if frame_ms == 0 || frame_ms > 1000 || !product.is_multiple_of(1000) {
            return Err(DspError::InvalidFrameDuration {
                frame_ms,
                sample_rate: self.sample_rate,
            });
        }
        Ok((product / 1000) as usize)
    }

    /// Bytes in `frame_ms` milliseconds of audio (see [`AudioFormat::samples_per_frame`]).
    pub fn bytes_per_frame(&self, frame_ms: u64) -> DspResult<usize> {
        Ok(self.samples_per_frame(frame_ms)? * self.frame_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_match_the_protocol_table() {
        let pcm16 = AudioFormat::new(Encoding::PcmS16le, 16_000, 1).unwrap();
        assert_eq!(pcm16.bytes_per_frame(20).unwrap(), 640);
        let ulaw = AudioFormat::new(Encoding::Mulaw, 8_000, 1).unwrap();
        assert_eq!(ulaw.bytes_per_frame(20).unwrap(), 160);
        let cd = AudioFormat::new(Encoding::PcmS16le, 44_100, 2).unwrap();
        assert_eq!(cd.bytes_per_frame(20).unwrap(), 3528);
    }

    #[test]
    fn rejects_fractional_frames_and_bad_ranges() {
        let f = AudioFormat::new(Encoding::PcmS16le, 11_025, 1).unwrap();
        assert!(matches!(
            f.bytes_per_frame(20),
            Err(DspError::InvalidFrameDuration { .. })
        ));
        assert_eq!(f.bytes_per_frame(40).unwrap(), 882);
        assert!(f.bytes_per_frame(0).is_err());
        assert!(AudioFormat::new(Encoding::Mulaw, 500, 1).is_err());
        assert!(AudioFormat::new(Encoding::Mulaw, 8000, 0).is_err());
        assert!(AudioFormat::new(Encoding::Mulaw, 8000, 9).is_err());
        assert!(Encoding::parse("opus").is_err());
        assert_eq!(Encoding::parse("alaw").unwrap().name(), "alaw");
    }
}
