//! Fixed-duration framing: cuts a byte stream of audio into frames of `frame_ms` milliseconds.
//!
//! Telephony peers expect audio in fixed packets (typically 20 ms), while producers hand over
//! whatever they have. [`Framer`] keeps the remainder between pushes in one reused buffer and
//! hands whole frames straight out of the caller's data whenever nothing is pending.
#![forbid(unsafe_code)]

use crate::error::DspResult;
use crate::format::AudioFormat;

/// Splits pushed audio bytes into frames of a fixed duration, keeping the remainder for the next
/// push.
///
/// The framer only counts bytes: it never splits or pads inside a push, so a partial sample (an
/// odd trailing byte of PCM16, say) simply stays pending until the rest of it arrives.
#[derive(Debug, Clone)]
pub struct Framer {
    /// Bytes in one output frame (a whole number of sample frames).
    frame_bytes: usize,
    /// Bytes in one sample frame (one sample of every channel).
    sample_bytes: usize,
    /// Byte that decodes to silence in the stream's encoding, used by `flush(true)`.
    silence: u8,
    /// Start of the next frame; always shorter than `frame_bytes`, capacity `frame_bytes`.
    pending: Vec<u8>,
}

impl Framer {
    /// Builds a framer emitting `frame_ms` milliseconds of `fmt` audio per frame.
    ///
    /// Fails with [`crate::DspError::InvalidFrameDuration`] unless `frame_ms` is from 1 to 1000
    /// and holds a whole number of samples at the format's rate (see
    /// [`AudioFormat::bytes_per_frame`]).
    pub fn new(fmt: &AudioFormat, frame_ms: u64) -> DspResult<Self> {
        let frame_bytes = fmt.bytes_per_frame(frame_ms)?;
        Ok(Self {
            frame_bytes,
            sample_bytes: fmt.frame_bytes(),
            silence: fmt.encoding.silence_byte(),
            pending: Vec::with_capacity(frame_bytes),
        })
    }

    /// Bytes in every emitted frame (all channels, interleaved).
    pub fn frame_bytes(&self) -> usize {
        self.frame_bytes
    }

    /// Bytes in one sample frame (one sample of every channel); `frame_bytes()` is a multiple of
    /// it.
    pub fn sample_bytes(&self) -> usize {
        self.sample_bytes
    }

    /// Bytes held back from earlier pushes, always less than [`Framer::frame_bytes`].
    pub fn pending_bytes(&self) -> usize {
        self.pending.len()
    }

    /// Appends `data` and calls `emit` with every frame it completes, in order; returns the number
    /// of frames emitted.
    ///
    /// Each frame passed to `emit` is exactly [`Framer::frame_bytes`] long. Frames lying wholly in
    /// `data` are borrowed from it without copying; only a frame started by an earlier push is
    /// assembled in the internal buffer. Whatever is left over (possibly a partial sample) stays
    /// pending.
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) -> usize {
        let mut frames = 0;
        if !self.pending.is_empty() {
            let missing = self.frame_bytes - self.pending.len();
            if data.len() < missing {
                self.pending.extend_from_slice(data);
                return 0;
            }
            let (head, rest) = data.split_at(missing);
            self.pending.extend_from_slice(head);
            emit(&self.pending);
            self.pending.clear();
            frames += 1;
            data = rest;
        }
        let mut whole = data.chunks_exact(self.frame_bytes);
        for frame in &mut whole {
            emit(frame);
            frames += 1;
        }
        self.pending.extend_from_slice(whole.remainder());
        debug_assert!(self.pending.len() < self.frame_bytes);
        frames
    }

    /// Number of frames a [`Framer::push`] of `len` bytes would emit now, so callers can size
    /// their output before pushing.
    pub fn frames_for(&self, len: usize) -> usize {
        (self.pending.len() + len) / self.frame_bytes
    }

    /// Takes what is pending and leaves the framer empty.
    ///
    /// With `pad` the result is one full frame ([`Framer::frame_bytes`] bytes): the pending bytes
    /// followed by the encoding's silence byte (see [`crate::Encoding::silence_byte`]). Without
    /// `pad` it is the raw pending bytes, possibly ending in a partial sample. Empty in both cases
    /// when nothing is pending.
    pub fn flush(&mut self, pad: bool) -> Vec<u8> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let mut out = if pad {
            let mut frame = Vec::with_capacity(self.frame_bytes);
            frame.extend_from_slice(&self.pending);
            frame.resize(self.frame_bytes, self.silence);
            frame
        } else {
            self.pending.clone()
        };
        self.pending.clear();
        out.shrink_to_fit();
        out
    }

    /// Drops pending bytes, as at the start of a new stream; keeps the buffer for reuse.
    pub fn reset(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DspError;
    use crate::format::Encoding;
    use proptest::prelude::*;

    fn framer(encoding: Encoding, rate: u64, channels: u64, frame_ms: u64) -> Framer {
        Framer::new(&AudioFormat::new(encoding, rate, channels).unwrap(), frame_ms).unwrap()
    }

    /// Pushes `data` and returns the emitted frames.
    fn push_all(f: &mut Framer, data: &[u8]) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        let n = f.push(data, |frame| frames.push(frame.to_vec()));
        assert_eq!(n, frames.len());
        frames
    }

    #[test]
    fn frame_sizes_follow_the_format() {
        assert_eq!(framer(Encoding::Mulaw, 8000, 1, 20).frame_bytes(), 160);
        assert_eq!(framer(Encoding::PcmS16le, 16_000, 1, 20).frame_bytes(), 640);
        let stereo = framer(Encoding::PcmS16le, 48_000, 2, 10);
        assert_eq!(stereo.frame_bytes(), 1920);
        assert_eq!(stereo.sample_bytes(), 4);
    }

    #[test]
    fn rejects_fractional_frames() {
        let fmt = AudioFormat::new(Encoding::PcmS16le, 11_025, 1).unwrap();
        assert!(matches!(
            Framer::new(&fmt, 20),
            Err(DspError::InvalidFrameDuration { frame_ms: 20, .. })
        ));
        assert!(Framer::new(&fmt, 0).is_err());
    }

    #[test]
    fn whole_frames_are_borrowed_from_the_input() {
        let mut f = framer(Encoding::Mulaw, 8000, 1, 20);
        let data: Vec<u8> = (0..400).map(|i| i as u8).collect();
        let mut starts = Vec::new();
        assert_eq!(f.push(&data, |frame| starts.push(frame.as_ptr())), 2);
        assert_eq!(starts, [data.as_ptr(), data[160..].as_ptr()]);
        assert_eq!(f.pending_bytes(), 80);
    }

    #[test]
    fn completes_a_pending_frame_then_continues_from_the_input() {
        let mut f = framer(Encoding::Mulaw, 8000, 1, 10);
        assert!(push_all(&mut f, &[1; 50]).is_empty());
        assert_eq!(f.frames_for(30), 1);
        let frames = push_all(&mut f, &[2; 130]);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0][..50], [1; 50]);
        assert_eq!(frames[0][50..], [2; 30]);
        assert_eq!(frames[1], [2; 80]);
        assert_eq!(f.pending_bytes(), 20);
    }

    #[test]
    fn keeps_an_odd_trailing_pcm_byte() {
        let mut f = framer(Encoding::PcmS16le, 16_000, 1, 20);
        assert_eq!(push_all(&mut f, &[7; 641]).len(), 1);
        assert_eq!(f.pending_bytes(), 1);
        assert_eq!(push_all(&mut f, &[7; 639]).len(), 1);
        assert_eq!(f.pending_bytes(), 0);
    }

    #[test]
    fn flush_pads_with_the_encodings_silence() {
        for (encoding, silence) in [(Encoding::Mulaw, 0xFF), (Encoding::Alaw, 0xD5), (Encoding::PcmS16le, 0)] {
            let mut f = framer(encoding, 8000, 1, 10);
            push_all(&mut f, &[0x11; 3]);
            let frame = f.flush(true);
            assert_eq!(frame.len(), f.frame_bytes());
            assert_eq!(frame[..3], [0x11; 3]);
            assert!(frame[3..].iter().all(|&b| b == silence), "{encoding:?}");
            assert_eq!(f.pending_bytes(), 0);
        }
    }

    #[test]
    fn flush_without_pad_returns_the_raw_remainder() {
        let mut f = framer(Encoding::PcmS16le, 8000, 1, 10);
        push_all(&mut f, &[1, 2, 3]);
        assert_eq!(f.flush(false), [1, 2, 3]);
        assert!(f.flush(false).is_empty());
        assert!(f.flush(true).is_empty());
    }

    #[test]
    fn reset_drops_pending_bytes() {
        let mut f = framer(Encoding::Alaw, 8000, 1, 20);
        push_all(&mut f, &[5; 100]);
        f.reset();
        assert_eq!(f.pending_bytes(), 0);
        let frames = push_all(&mut f, &[6; 160]);
        assert_eq!(frames, [vec![6; 160]]);
    }

    fn any_framer() -> impl Strategy<Value = Framer> {
        (
            prop_oneof![Just(Encoding::PcmS16le), Just(Encoding::Mulaw), Just(Encoding::Alaw)],
            prop_oneof![Just(8000_u64), Just(16_000), Just(22_050), Just(44_100), Just(48_000)],
            1_u64..=3,
            prop_oneof![Just(1_u64), Just(2), Just(5), Just(10), Just(20)],
        )
            .prop_filter_map(
                "frame must hold whole samples",
                |(encoding, rate, channels, frame_ms)| {
                    Framer::new(&AudioFormat::new(encoding, rate, channels).ok()?, frame_ms).ok()
                },
            )
    }

    proptest! {
        #[test]
        fn frames_reassemble_the_input(
            mut f in any_framer(),
            data in proptest::collection::vec(any::<u8>(), 0..6000),
            mut cuts in proptest::collection::vec(0_usize..6000, 0..12),
        ) {
            cuts.push(0);
            cuts.push(data.len());
            for cut in &mut cuts {
                *cut = (*cut).min(data.len());
            }
            cuts.sort_unstable();

            let frame_bytes = f.frame_bytes();
            let mut joined = Vec::new();
            for piece in cuts.windows(2).map(|w| &data[w[0]..w[1]]) {
                let expected = f.frames_for(piece.len());
                let mut sizes = Vec::new();
                let emitted = f.push(piece, |frame| {
                    sizes.push(frame.len());
                    joined.extend_from_slice(frame);
                });
                prop_assert!(sizes.iter().all(|&n| n == frame_bytes), "frame sizes {:?}", sizes);
                prop_assert_eq!(emitted, sizes.len());
                prop_assert_eq!(emitted, expected);
                prop_assert!(f.pending_bytes() < frame_bytes);
            }
            prop_assert_eq!(joined.len(), data.len() / frame_bytes * frame_bytes);
            joined.extend(f.flush(false));
            prop_assert_eq!(joined, data);
            prop_assert_eq!(f.pending_bytes(), 0);
        }
    }
}
