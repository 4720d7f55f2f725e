//! One-pass conversion between two audio formats: decode, channel mix, resample, encode, and
//! optionally cut the result into fixed-duration frames.
#![forbid(unsafe_code)]

use crate::error::{DspError, DspResult};
use crate::format::{AudioFormat, Encoding};
use crate::framer::Framer;
use crate::g711;
use crate::resample::{Quality, Resampler};

/// Input converted per pass, ms. Every intermediate buffer here and in the resampler is sized by
/// the pass, and keeps that capacity for the stream's lifetime: converting a large chunk in 20 ms
/// passes holds a few KiB per stream instead of some 26 bytes per input byte of the largest chunk
/// seen, which counts with hundreds of streams per process. The output does not depend on it.
const PASS_MS: u64 = 20;

/// A streaming converter from `src` to `dst`. One object per audio stream (call leg direction).
///
/// Input chunks may have any length: a partial sample frame at the end of a chunk is carried over
/// to the next one, so nothing is lost or misaligned.
pub struct Transcoder {
    src: AudioFormat,
    dst: AudioFormat,
    /// `None` when the rates are equal.
    resampler: Option<Resampler>,
    framer: Option<Framer>,
    /// Bytes of an incomplete input sample frame carried to the next push.
    carry: Vec<u8>,
    decoded: Vec<i16>,
    mixed: Vec<i16>,
    resampled: Vec<i16>,
    encoded: Vec<u8>,
    /// Input bytes converted per pass: [`PASS_MS`] of whole input sample frames.
    pass_bytes: usize,
}

impl Transcoder {
    /// Builds a transcoder; `frame_ms` turns on framing of the output (whole frames of `dst`).
    ///
    /// Channel counts must be equal or one side mono (mono is copied to every channel; several
    /// channels are averaged into mono). Resampling needs both rates within the resampler's range.
    pub fn new(src: AudioFormat, dst: AudioFormat, frame_ms: Option<u64>, quality: Quality) -> DspResult<Self> {
        if src.channels != dst.channels && src.channels != 1 && dst.channels != 1 {
            return Err(DspError::ChannelMismatch {
                src: src.channels,
                dst: dst.channels,
            });
        }
        let resampler = if src.sample_rate == dst.sample_rate {
            None
        } else {
            // Resample at the smaller channel count: downmix before, upmix after.
            let channels = src.channels.min(dst.channels);
            Some(Resampler::new(
                u64::from(src.sample_rate),
                u64::from(dst.sample_rate),
                quality,
                u64::from(channels),
            )?)
        };
        let framer = match frame_ms {
            Some(ms) => Some(Framer::new(&dst, ms)?),
            None => None,
        };
        Ok(Self {
            src,
            dst,
            resampler,
            framer,
            carry: Vec::new(),
            decoded: Vec::new(),
            mixed: Vec::new(),
            resampled: Vec::new(),
            encoded: Vec::new(),
            pass_bytes: (u64::from(src.sample_rate) * PASS_MS / 1000).max(1) as usize * src.frame_bytes(),
        })
    }

    /// The input format.
    pub fn src(&self) -> AudioFormat {
        self.src
    }

    /// The output format.
    pub fn dst(&self) -> AudioFormat {
        self.dst
    }

    /// Output bytes in one frame, when framing.
    pub fn frame_bytes(&self) -> Option<usize> {
        self.framer.as_ref().map(Framer::frame_bytes)
    }

    /// Look-ahead of the resampler, in output samples (0 when the rates are equal).
    pub fn delay_samples(&self) -> usize {
        self.resampler.as_ref().map_or(0, Resampler::delay_samples)
    }

    /// Bytes waiting inside: an incomplete input sample plus an incomplete output frame.
    pub fn pending_bytes(&self) -> usize {
        self.carry.len() + self.framer.as_ref().map_or(0, Framer::pending_bytes)
    }

    /// Converts a chunk. Without framing, the converted bytes are appended to `out`; with framing,
    /// each completed frame is appended in turn (so `out` grows by whole frames only). Returns the
    /// number of frames completed (0 without framing).
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> usize {
        let mut frames = 0;
        for pass in data.chunks(self.pass_bytes) {
            self.convert(pass);
            frames += self.emit(out, false);
        }
        frames
    }

    /// Like [`Transcoder::push`], calling `frame(bytes)` for every completed frame; without framing
    /// it is called with each non-empty piece of converted audio (a chunk may give several).
    pub fn push_frames(&mut self, data: &[u8], mut frame: impl FnMut(&[u8])) -> usize {
        let mut frames = 0;
        for pass in data.chunks(self.pass_bytes) {
            self.convert(pass);
            frames += self.emit_frames(&mut frame);
        }
        frames
    }

    /// Ends the stream: drains the resampler's tail and, when framing, pads the last partial frame
    /// with silence. Appends to `out` and resets. An incomplete input sample left over is an error
    /// (the stream is reset all the same).
    pub fn flush(&mut self, out: &mut Vec<u8>) -> DspResult<usize> {
        let partial = self.carry.len();
        self.carry.clear();
        self.decoded.clear();
        self.tail();
        let frames = self.emit(out, true);
        self.reset();
        if partial > 0 {
            return Err(DspError::PartialSample {
                what: "transcoder input at flush",
                len: partial,
                frame_bytes: self.src.frame_bytes(),
            });
        }
        Ok(frames)
    }

    /// Forgets everything buffered and starts a new stream.
    pub fn reset(&mut self) {
        self.carry.clear();
        if let Some(r) = self.resampler.as_mut() {
            r.reset();
        }
        if let Some(f) = self.framer.as_mut() {
            f.reset();
        }
        self.encoded.clear();
    }

    fn convert(&mut self, data: &[u8]) {
        let unit = self.src.frame_bytes();
        // Complete the carried partial sample frame first.
        let mut rest = data;
        self.decoded.clear();
        if !self.carry.is_empty() {
            let need = (unit - self.carry.len()).min(rest.len());
            self.carry.extend_from_slice(&rest[..need]);
            rest = &rest[need..];
            if self.carry.len() == unit {
                let carry = std::mem::take(&mut self.carry);
                decode_append(self.src.encoding, &carry, &mut self.decoded);
                self.carry = carry;
                self.carry.clear();
            }
        }
        let whole = rest.len() / unit * unit;
        decode_append(self.src.encoding, &rest[..whole], &mut self.decoded);
        self.carry.extend_from_slice(&rest[whole..]);
        self.mix_resample_encode(false);
    }

    fn tail(&mut self) {
        self.mix_resample_encode(true);
    }

    fn mix_resample_encode(&mut self, flush: bool) {
        let (sc, dc) = (usize::from(self.src.channels), usize::from(self.dst.channels));
        // Downmix before resampling.
        let mono_first = sc > dc;
        if mono_first {
            self.mixed.clear();
            self.mixed.extend(self.decoded.chunks_exact(sc).map(|f| {
                let sum: i32 = f.iter().map(|&v| i32::from(v)).sum();
                (sum / sc as i32) as i16
            }));
        } else {
            std::mem::swap(&mut self.mixed, &mut self.decoded);
        }
        self.resampled.clear();
        match self.resampler.as_mut() {
            Some(r) => {
                if flush {
                    r.flush_vec(&mut self.resampled);
                } else {
                    // Lengths were made whole above, so this cannot fail.
                    let _ = r.push_vec(&self.mixed, &mut self.resampled);
                }
            }
            None => std::mem::swap(&mut self.resampled, &mut self.mixed),
        }
        if !mono_first {
            std::mem::swap(&mut self.mixed, &mut self.decoded);
        }
        // Upmix after resampling.
        if dc > sc {
            self.mixed.clear();
            self.mixed
                .extend(self.resampled.iter().flat_map(|&v| std::iter::repeat_n(v, dc)));
            std::mem::swap(&mut self.mixed, &mut self.resampled);
        }
        self.encoded.clear();
        encode_append(self.dst.encoding, &self.resampled, &mut self.encoded);
    }

    fn emit(&mut self, out: &mut Vec<u8>, pad: bool) -> usize {
        let Some(framer) = self.framer.as_mut() else {
            out.extend_from_slice(&self.encoded);
            return 0;
        };
        let mut frames = framer.push(&self.encoded, |f| out.extend_from_slice(f));
        if pad {
            let last = framer.flush(true);
            if !last.is_empty() {
                out.extend_from_slice(&last);
                frames += 1;
            }
        }
        frames
    }

    fn emit_frames(&mut self, mut frame: impl FnMut(&[u8])) -> usize {
        if let Some(framer) = self.framer.as_mut() {
            return framer.push(&self.encoded, frame);
        }
        if !self.encoded.is_empty() {
            frame(&self.encoded);
        }
        0
    }
}

fn decode_append(encoding: Encoding, bytes: &[u8], out: &mut Vec<i16>) {
    let start = out.len();
    match encoding {
        Encoding::PcmS16le => out.extend(bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]))),
        Encoding::Mulaw => {
            out.resize(start + bytes.len(), 0);
            g711::ulaw_decode_samples(bytes, &mut out[start..]);
        }
        Encoding::Alaw => {
            out.resize(start + bytes.len(), 0);
            g711::alaw_decode_samples(bytes, &mut out[start..]);
        }
    }
}

fn encode_append(encoding: Encoding, samples: &[i16], out: &mut Vec<u8>) {
    let start = out.len();
    match encoding {
        Encoding::PcmS16le => out.extend(samples.iter().flat_map(|v| v.to_le_bytes())),
        Encoding::Mulaw => {
            out.resize(start + samples.len(), 0);
            g711::ulaw_encode_samples(samples, &mut out[start..]);
        }
        Encoding::Alaw => {
            out.resize(start + samples.len(), 0);
            g711::alaw_encode_samples(samples, &mut out[start..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(encoding: Encoding, rate: u64, channels: u64) -> AudioFormat {
        AudioFormat::new(encoding, rate, channels).unwrap()
    }

    fn tone_pcm(n: usize, rate: f64) -> Vec<u8> {
        (0..n)
            .flat_map(|i| {
                let v = (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / rate).sin()) as i16;
                v.to_le_bytes()
            })
            .collect()
    }

    #[test]
    fn any_chunking_gives_the_same_bytes() {
        let src = fmt(Encoding::PcmS16le, 16000, 1);
        let dst = fmt(Encoding::Mulaw, 8000, 1);
        let input = tone_pcm(16000, 16000.0);
        let mut whole = Transcoder::new(src, dst, None, Quality::High).unwrap();
        let mut expect = Vec::new();
        whole.push(&input, &mut expect);
        whole.flush(&mut expect).unwrap();
        assert_eq!(expect.len(), 8000);
        for chunk in [1, 3, 160, 321, 641] {
            let mut t = Transcoder::new(src, dst, None, Quality::High).unwrap();
            let mut got = Vec::new();
            for piece in input.chunks(chunk) {
                t.push(piece, &mut got);
            }
            t.flush(&mut got).unwrap();
            assert_eq!(got, expect, "chunk {chunk}");
        }
    }

    #[test]
    fn a_large_chunk_is_converted_in_bounded_passes() {
        // 2 s of mu-law at once: the working buffers stay sized for one 20 ms pass (160 samples in,
        // 320 out), and the output is the same as from 20 ms pushes.
        let src = fmt(Encoding::Mulaw, 8000, 1);
        let dst = fmt(Encoding::PcmS16le, 16000, 1);
        let input: Vec<u8> = tone_pcm(16000, 8000.0)
            .chunks_exact(2)
            .map(|b| g711::linear_to_ulaw(i16::from_le_bytes([b[0], b[1]])))
            .collect();
        let mut big = Transcoder::new(src, dst, None, Quality::High).unwrap();
        let mut got = Vec::new();
        big.push(&input, &mut got);
        assert!(big.decoded.capacity() <= 2 * 160, "{}", big.decoded.capacity());
        assert!(big.resampled.capacity() <= 2 * 320, "{}", big.resampled.capacity());
        assert!(big.encoded.capacity() <= 2 * 640, "{}", big.encoded.capacity());
        let mut small = Transcoder::new(src, dst, None, Quality::High).unwrap();
        let mut expect = Vec::new();
        for piece in input.chunks(160) {
            small.push(piece, &mut expect);
        }
        assert_eq!(got, expect);
        assert!(got.len() >= 2 * 32000 - 2 * small.delay_samples());
    }

    #[test]
    fn framing_yields_whole_frames_and_pads_the_last() {
        let src = fmt(Encoding::Mulaw, 8000, 1);
        let dst = fmt(Encoding::PcmS16le, 16000, 1);
        let mut t = Transcoder::new(src, dst, Some(20), Quality::High).unwrap();
        let mut frames = Vec::new();
        let n = t.push_frames(&[0xFF; 1000], |f| frames.push(f.to_vec()));
        assert_eq!(n, frames.len());
        assert!(frames.iter().all(|f| f.len() == 640 && f.iter().all(|&b| b == 0)));
        let mut tail = Vec::new();
        let flushed = t.flush(&mut tail).unwrap();
        // 1000 mu-law bytes = 125 ms = 6.25 frames: everything comes out, the last frame padded.
        assert_eq!((n + flushed) * 640, 7 * 640);
        assert_eq!(tail.len(), flushed * 640);
    }

    #[test]
    fn channel_mixing_and_partial_samples() {
        let stereo = fmt(Encoding::PcmS16le, 16000, 2);
        let mono = fmt(Encoding::PcmS16le, 16000, 1);
        let mut down = Transcoder::new(stereo, mono, None, Quality::High).unwrap();
        let mut out = Vec::new();
        down.push(&[100, 0, 200, 0, 7], &mut out);
        assert_eq!(out, 150i16.to_le_bytes());
        assert_eq!(down.pending_bytes(), 1);
        assert!(matches!(down.flush(&mut out), Err(DspError::PartialSample { .. })));
        let mut up = Transcoder::new(mono, stereo, None, Quality::High).unwrap();
        out.clear();
        up.push(&[1, 2], &mut out);
        assert_eq!(out, [1, 2, 1, 2]);
        let four = fmt(Encoding::PcmS16le, 16000, 4);
        assert!(matches!(
            Transcoder::new(stereo, four, None, Quality::High),
            Err(DspError::ChannelMismatch { .. })
        ));
    }
}
