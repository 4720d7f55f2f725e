//! ITU-T G.711 mu-law and A-law <-> 16-bit linear PCM.
//!
//! The per-sample functions below follow the classic Sun reference (the code behind the Python
//! standard library's `audioop`): mu-law works on the 14 most significant bits, A-law on the 13
//! most significant bits. The bulk functions give identical output, many samples per instruction.
#![forbid(unsafe_code)]

const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

fn segment(value: i32, table: &[i32; 8]) -> usize {
    table.iter().position(|&end| value <= end).unwrap_or(8)
}

/// Encodes one linear sample to mu-law (reference implementation, one sample at a time).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84 >> 2;
    const CLIP: i32 = 8159;
    let mut value = i32::from(sample) >> 2;
    let mask: i32 = if value < 0 {
        value = -value;
        0x7F
    } else {
        0xFF
    };
    value = value.min(CLIP) + BIAS;
    let seg = segment(value, &SEG_UEND);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let code = ((seg as i32) << 4) | ((value >> (seg + 1)) & 0xF);
    (code ^ mask) as u8
}

/// Decodes one mu-law byte to a linear sample.
pub const fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let mut t = (((u as i32) & 0x0F) << 3) + 0x84;
    t <<= ((u as i32) & 0x70) >> 4;
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

/// Encodes one linear sample to A-law (reference implementation, one sample at a time).
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut value = i32::from(sample) >> 3;
    let mask: i32 = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    let seg = segment(value, &SEG_AEND);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mut code = (seg as i32) << 4;
    code |= if seg < 2 {
        (value >> 1) & 0xF
    } else {
        (value >> seg) & 0xF
    };
    (code ^ mask) as u8
}

/// Decodes one A-law byte to a linear sample.
pub const fn alaw_to_linear(code: u8) -> i16 {
    let a = (code ^ 0x55) as i32;
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

// Bulk codecs.
//
// The reference finds the segment with a table search, which LLVM cannot vectorize. The kernels
// below are branch-free lane-wise arithmetic instead: encoders read the segment and mantissa
// from the bits of an exact f32 conversion (its exponent is the position of the leading one),
// decoders use a per-lane variable shift, which LLVM lowers to a multiply by a power of two
// built in a float exponent. Each bulk function is compiled once per x86 feature level by
// `multiversion`, because the wheel itself targets baseline SSE2 and 16-bit lane shifts,
// blends and packs only become cheap with SSE4.1 and AVX2. `#[inline(always)]` keeps the
// kernels inside each clone: an out-of-line call would run them at the baseline level.

/// Samples per inner loop: fixed-length array loops vectorize fully, and at 32 the working set
/// stays in registers for every feature level.
const BLOCK: usize = 32;

/// `(bits >> 19) - ULAW_EXP_BASE == segment << 4 | mantissa` for a biased mu-law magnitude
/// 33..=8191 as f32: 127 is the f32 exponent bias, 5 the exponent of segment 0 (32..=63).
const ULAW_EXP_BASE: u16 = (127 + 5) << 4;
/// The same for A-law magnitudes 32..=4095: segment 1 starts at 2^5, segment 0 is linear.
const ALAW_EXP_BASE: i16 = (127 + 4) << 4;

#[expect(clippy::inline_always, reason = "must inline into each multiversion clone")]
#[inline(always)]
fn ulaw_encode_fast(sample: i16) -> u8 {
    let x = sample >> 2;
    // The reference negates after the shift, so -1..-4 map to magnitude 1, not 0.
    let mag = x.unsigned_abs();
    // min(mag, CLIP) + BIAS lands on 8192 for the loudest inputs, which the reference maps to
    // the top code through its `seg >= 8` branch; 8191 has the same code.
    let v = (mag + 33).min(8191);
    let code = ((f32::from(v).to_bits() >> 19) as u16).wrapping_sub(ULAW_EXP_BASE);
    let mask = if x < 0 { 0x7F } else { 0xFF };
    (code ^ mask) as u8
}

#[expect(clippy::inline_always, reason = "must inline into each multiversion clone")]
#[inline(always)]
fn alaw_encode_fast(sample: i16) -> u8 {
    let x = sample >> 3;
    // -x - 1 (= !x) for negative x, as in the reference. Spelled as a max because LLVM turned
    // `x ^ (x >> 15)` into byte-wise loads of the sign from the PCM bytes, at half the speed.
    let v = x.max(!x);
    // v is 0..=4095: widening it as unsigned costs one instruction on SSE2, signed two.
    let log = ((f32::from(v as u16).to_bits() >> 19) as i16).wrapping_sub(ALAW_EXP_BASE);
    // Below 64 A-law is linear with step 2; the float exponent formula covers only v >= 32.
    let code = if v < 32 { v >> 1 } else { log };
    let mask = if x < 0 { 0x55 } else { 0xD5 };
    (code ^ mask) as u8
}

#[expect(clippy::inline_always, reason = "must inline into each multiversion clone")]
#[inline(always)]
fn ulaw_decode_fast(code: u8) -> i16 {
    let u = !code;
    let seg = (u >> 4) & 7;
    // At most (120 + 132) << 7 = 32256, so the 16-bit lanes never overflow.
    let t = ((u16::from(u & 0x0F) << 3) + 0x84) << seg;
    let r = t as i16 - 0x84;
    if u & 0x80 != 0 { -r } else { r }
}

#[expect(clippy::inline_always, reason = "must inline into each multiversion clone")]
#[inline(always)]
fn alaw_decode_fast(code: u8) -> i16 {
    let a = code ^ 0x55;
    let seg = (a >> 4) & 7;
    // Segment 0 lacks the implicit leading 0x100 and shares segment 1's step of 16.
    let t = (u16::from(a & 0x0F) << 4) + if seg == 0 { 8 } else { 0x108 };
    let t = (t << seg.saturating_sub(1)) as i16;
    if a & 0x80 != 0 { t } else { -t }
}

/// Runs `enc` over little-endian PCM16 bytes, a block at a time so LLVM sees fixed-length loops.
#[expect(clippy::inline_always, reason = "must inline into each multiversion clone")]
#[inline(always)]
fn encode_bytes_with(pcm: &[u8], out: &mut [u8], enc: impl Fn(i16) -> u8) {
    let mut src = pcm.chunks_exact(2 * BLOCK);
    let mut dst = out.chunks_exact_mut(BLOCK);
    for (s, d) in (&mut src).zip(&mut dst) {
        let s: &[u8; 2 * BLOCK] = s.try_into().expect("chunks_exact yields whole blocks");
        let d: &mut [u8; BLOCK] = d.try_into().expect("chunks_exact yields whole blocks");
        for (d, s) in d.iter_mut().zip(s.chunks_exact(2)) {
            *d = enc(i16::from_le_bytes([s[0], s[1]]));
        }
    }
    for (d, s) in dst.into_remainder().iter_mut().zip(src.remainder().chunks_exact(2)) {
        *d = enc(i16::from_le_bytes([s[0], s[1]]));
    }
}

#[expect(clippy::inline_always, reason = "must inline into each multiversion clone")]
#[inline(always)]
fn encode_samples_with(pcm: &[i16], out: &mut [u8], enc: impl Fn(i16) -> u8) {
    let mut src = pcm.chunks_exact(BLOCK);
    let mut dst = out.chunks_exact_mut(BLOCK);
    for (s, d) in (&mut src).zip(&mut dst) {
        let s: &[i16; BLOCK] = s.try_into().expect("chunks_exact yields whole blocks");
        let d: &mut [u8; BLOCK] = d.try_into().expect("chunks_exact yields whole blocks");
        for (d, &s) in d.iter_mut().zip(s) {
            *d = enc(s);
        }
    }
    for (d, &s) in dst.into_remainder().iter_mut().zip(src.remainder()) {
        *d = enc(s);
    }
}

#[expect(clippy::inline_always, reason = "must inline into each multiversion clone")]
#[inline(always)]
fn decode_bytes_with(codes: &[u8], out: &mut [u8], dec: impl Fn(u8) -> i16) {
    let mut src = codes.chunks_exact(BLOCK);
    let mut dst = out.chunks_exact_mut(2 * BLOCK);
    for (s, d) in (&mut src).zip(&mut dst) {
        let s: &[u8; BLOCK] = s.try_into().expect("chunks_exact yields whole blocks");
        let d: &mut [u8; 2 * BLOCK] = d.try_into().expect("chunks_exact yields whole blocks");
        for (d, &s) in d.chunks_exact_mut(2).zip(s) {
            d.copy_from_slice(&dec(s).to_le_bytes());
        }
    }
    for (d, &s) in dst.into_remainder().chunks_exact_mut(2).zip(src.remainder()) {
        d.copy_from_slice(&dec(s).to_le_bytes());
    }
}

#[expect(clippy::inline_always, reason = "must inline into each multiversion clone")]
#[inline(always)]
fn decode_samples_with(codes: &[u8], out: &mut [i16], dec: impl Fn(u8) -> i16) {
    let mut src = codes.chunks_exact(BLOCK);
    let mut dst = out.chunks_exact_mut(BLOCK);
    for (s, d) in (&mut src).zip(&mut dst) {
        let s: &[u8; BLOCK] = s.try_into().expect("chunks_exact yields whole blocks");
        let d: &mut [i16; BLOCK] = d.try_into().expect("chunks_exact yields whole blocks");
        for (d, &s) in d.iter_mut().zip(s) {
            *d = dec(s);
        }
    }
    for (d, &s) in dst.into_remainder().iter_mut().zip(src.remainder()) {
        *d = dec(s);
    }
}

// One clone per x86 feature level; the first the running CPU supports is picked once and cached.
macro_rules! dispatched {
    ($name:ident, $with:ident, $kernel:ident, $in:ty, $out:ty) => {
        #[multiversion::multiversion(targets(
            "x86_64+avx512f+avx512bw+avx512vl",
            "x86_64+avx2+fma",
            "x86_64+avx",
            "x86_64+sse4.1",
            "aarch64+neon"
        ))]
        fn $name(input: &[$in], out: &mut [$out]) {
            $with(input, out, $kernel);
        }
    };
}

dispatched!(ulaw_encode_bytes_mv, encode_bytes_with, ulaw_encode_fast, u8, u8);
dispatched!(alaw_encode_bytes_mv, encode_bytes_with, alaw_encode_fast, u8, u8);
dispatched!(ulaw_encode_samples_mv, encode_samples_with, ulaw_encode_fast, i16, u8);
dispatched!(alaw_encode_samples_mv, encode_samples_with, alaw_encode_fast, i16, u8);
dispatched!(ulaw_decode_bytes_mv, decode_bytes_with, ulaw_decode_fast, u8, u8);
dispatched!(alaw_decode_bytes_mv, decode_bytes_with, alaw_decode_fast, u8, u8);
dispatched!(ulaw_decode_samples_mv, decode_samples_with, ulaw_decode_fast, u8, i16);
dispatched!(alaw_decode_samples_mv, decode_samples_with, alaw_decode_fast, u8, i16);

/// Encodes little-endian PCM16 bytes to mu-law, one code byte per sample.
///
/// `pcm.len()` must be even (callers reject odd lengths) and `out.len() == pcm.len() / 2`; the
/// output equals [`linear_to_ulaw`] applied to every sample.
///
/// # Panics
/// If the lengths do not match.
pub fn ulaw_encode_into(pcm: &[u8], out: &mut [u8]) {
    assert_eq!(pcm.len(), 2 * out.len(), "PCM16 input must be 2 bytes per output code");
    ulaw_encode_bytes_mv(pcm, out);
}

/// Encodes little-endian PCM16 bytes to A-law, one code byte per sample.
///
/// `pcm.len()` must be even (callers reject odd lengths) and `out.len() == pcm.len() / 2`; the
/// output equals [`linear_to_alaw`] applied to every sample.
///
/// # Panics
/// If the lengths do not match.
pub fn alaw_encode_into(pcm: &[u8], out: &mut [u8]) {
    assert_eq!(pcm.len(), 2 * out.len(), "PCM16 input must be 2 bytes per output code");
    alaw_encode_bytes_mv(pcm, out);
}

/// Decodes mu-law bytes to little-endian PCM16 bytes; `out.len() == 2 * codes.len()`.
///
/// # Panics
/// If the lengths do not match.
pub fn ulaw_decode_into(codes: &[u8], out: &mut [u8]) {
    assert_eq!(
        out.len(),
        2 * codes.len(),
        "PCM16 output must be 2 bytes per input code"
    );
    ulaw_decode_bytes_mv(codes, out);
}

/// Decodes A-law bytes to little-endian PCM16 bytes; `out.len() == 2 * codes.len()`.
///
/// # Panics
/// If the lengths do not match.
pub fn alaw_decode_into(codes: &[u8], out: &mut [u8]) {
    assert_eq!(
        out.len(),
        2 * codes.len(),
        "PCM16 output must be 2 bytes per input code"
    );
    alaw_decode_bytes_mv(codes, out);
}

/// Encodes PCM16 samples to mu-law, one code byte per sample; `out.len() == pcm.len()`.
///
/// # Panics
/// If the lengths differ.
pub fn ulaw_encode_samples(pcm: &[i16], out: &mut [u8]) {
    assert_eq!(pcm.len(), out.len(), "one mu-law code per sample");
    ulaw_encode_samples_mv(pcm, out);
}

/// Encodes PCM16 samples to A-law, one code byte per sample; `out.len() == pcm.len()`.
///
/// # Panics
/// If the lengths differ.
pub fn alaw_encode_samples(pcm: &[i16], out: &mut [u8]) {
    assert_eq!(pcm.len(), out.len(), "one A-law code per sample");
    alaw_encode_samples_mv(pcm, out);
}

/// Decodes mu-law bytes to PCM16 samples; `out.len() == codes.len()`.
///
/// # Panics
/// If the lengths differ.
pub fn ulaw_decode_samples(codes: &[u8], out: &mut [i16]) {
    assert_eq!(codes.len(), out.len(), "one sample per mu-law code");
    ulaw_decode_samples_mv(codes, out);
}

/// Decodes A-law bytes to PCM16 samples; `out.len() == codes.len()`.
///
/// # Panics
/// If the lengths differ.
pub fn alaw_decode_samples(codes: &[u8], out: &mut [i16]) {
    assert_eq!(codes.len(), out.len(), "one sample per A-law code");
    alaw_decode_samples_mv(codes, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    type BytesFn = fn(&[u8], &mut [u8]);
    type EncodeSamplesFn = fn(&[i16], &mut [u8]);
    type DecodeSamplesFn = fn(&[u8], &mut [i16]);

    /// Chunk lengths that exercise whole blocks, tails only, and both together.
    const CHUNKS: [usize; 9] = [1, 7, 31, 32, 33, 63, 160, 161, 1001];

    fn every_sample() -> Vec<i16> {
        (i16::MIN..=i16::MAX).collect()
    }

    fn to_bytes(pcm: &[i16]) -> Vec<u8> {
        pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    fn check_encoder(reference: fn(i16) -> u8, bytes_fn: BytesFn, samples_fn: EncodeSamplesFn) {
        let pcm = every_sample();
        let expected: Vec<u8> = pcm.iter().map(|&s| reference(s)).collect();
        // One leading byte so the PCM bytes also start at an odd address.
        let mut shifted = vec![0xAB];
        shifted.extend(to_bytes(&pcm));
        let bytes = &shifted[1..];

        let mut out = vec![0; pcm.len()];
        bytes_fn(bytes, &mut out);
        assert_eq!(out, expected);
        out.fill(0);
        samples_fn(&pcm, &mut out);
        assert_eq!(out, expected);

        // Starting at sample 1 misaligns the blocks against the first pass; the lengths route
        // every sample through the tail path for some chunk size.
        for chunk in CHUNKS {
            let mut out = vec![0; pcm.len()];
            let mut start = 1;
            while start < pcm.len() {
                let end = (start + chunk).min(pcm.len());
                bytes_fn(&bytes[2 * start..2 * end], &mut out[start..end]);
                start = end;
            }
            assert_eq!(out[1..], expected[1..], "bytes, chunk {chunk}");

            out.fill(0);
            let mut start = 1;
            while start < pcm.len() {
                let end = (start + chunk).min(pcm.len());
                samples_fn(&pcm[start..end], &mut out[start..end]);
                start = end;
            }
            assert_eq!(out[1..], expected[1..], "samples, chunk {chunk}");
        }
    }

    fn check_decoder(reference: fn(u8) -> i16, bytes_fn: BytesFn, samples_fn: DecodeSamplesFn) {
        // Every code four times, so each one lands at several block positions.
        let codes: Vec<u8> = (0..4 * 256).map(|i| i as u8).collect();
        let expected: Vec<i16> = codes.iter().map(|&c| reference(c)).collect();
        let expected_bytes = to_bytes(&expected);

        for chunk in CHUNKS.into_iter().chain([codes.len()]) {
            // One spare leading byte so the PCM output starts at an odd address.
            let mut buf = vec![0; 2 * codes.len() + 1];
            let out = &mut buf[1..];
            let mut samples = vec![0; codes.len()];
            for (i, part) in codes.chunks(chunk).enumerate() {
                let start = i * chunk;
                let end = start + part.len();
                bytes_fn(part, &mut out[2 * start..2 * end]);
                samples_fn(part, &mut samples[start..end]);
            }
            assert_eq!(out, &expected_bytes[..], "bytes, chunk {chunk}");
            assert_eq!(samples, expected, "samples, chunk {chunk}");
        }
    }

    #[test]
    fn bulk_ulaw_encode_matches_reference_for_every_sample() {
        check_encoder(linear_to_ulaw, ulaw_encode_into, ulaw_encode_samples);
    }

    #[test]
    fn bulk_alaw_encode_matches_reference_for_every_sample() {
        check_encoder(linear_to_alaw, alaw_encode_into, alaw_encode_samples);
    }

    #[test]
    fn bulk_ulaw_decode_matches_reference_for_every_code() {
        check_decoder(ulaw_to_linear, ulaw_decode_into, ulaw_decode_samples);
    }

    #[test]
    fn bulk_alaw_decode_matches_reference_for_every_code() {
        check_decoder(alaw_to_linear, alaw_decode_into, alaw_decode_samples);
    }

    #[test]
    fn scalar_kernels_match_reference() {
        // The bulk tests run the clone for this CPU; this pins the shared kernel source itself.
        for s in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode_fast(s), linear_to_ulaw(s), "mu-law encode {s}");
            assert_eq!(alaw_encode_fast(s), linear_to_alaw(s), "A-law encode {s}");
        }
        for c in 0..=u8::MAX {
            assert_eq!(ulaw_decode_fast(c), ulaw_to_linear(c), "mu-law decode {c:#04x}");
            assert_eq!(alaw_decode_fast(c), alaw_to_linear(c), "A-law decode {c:#04x}");
        }
    }

    #[test]
    fn anchors_match_g711() {
        // -1 is not silence: the reference negates after shifting, so its magnitude is 1.
        for (sample, code) in [(0, 0xFF), (-1, 0x7E), (32767, 0x80), (-32768, 0x00)] {
            assert_eq!(linear_to_ulaw(sample), code, "mu-law encode {sample}");
        }
        for (code, sample) in [(0xFF, 0), (0x7F, 0), (0x00, -32124), (0x80, 32124)] {
            assert_eq!(ulaw_to_linear(code), sample, "mu-law decode {code:#04x}");
        }
        for (sample, code) in [(0, 0xD5), (-1, 0x55), (32767, 0xAA), (-32768, 0x2A)] {
            assert_eq!(linear_to_alaw(sample), code, "A-law encode {sample}");
        }
        for (code, sample) in [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256)] {
            assert_eq!(alaw_to_linear(code), sample, "A-law decode {code:#04x}");
        }
    }

    #[test]
    #[should_panic(expected = "2 bytes per output code")]
    fn encode_rejects_mismatched_lengths() {
        ulaw_encode_into(&[0; 4], &mut [0; 3]);
    }

    #[test]
    #[should_panic(expected = "one sample per A-law code")]
    fn decode_rejects_mismatched_lengths() {
        alaw_decode_samples(&[0; 4], &mut [0; 3]);
    }

    /// Two seconds at 8 kHz of a vowel-like tone stack under a syllable-rate envelope, scaled to
    /// an RMS of -20 dBFS.
    fn speech_like() -> Vec<i16> {
        let rate = 8000.0;
        let raw: Vec<f64> = (0..16_000)
            .map(|n| {
                let t = f64::from(n) / rate;
                let tone = [(140.0, 1.0), (420.0, 0.6), (1130.0, 0.35), (2450.0, 0.15)]
                    .iter()
                    .map(|&(hz, amp)| amp * (std::f64::consts::TAU * hz * t).sin())
                    .sum::<f64>();
                let envelope = 0.6 + 0.4 * (std::f64::consts::TAU * 3.0 * t).sin();
                tone * envelope
            })
            .collect();
        let rms = (raw.iter().map(|x| x * x).sum::<f64>() / raw.len() as f64).sqrt();
        let gain = 0.1 * 32768.0 / rms;
        raw.iter().map(|x| (x * gain).round() as i16).collect()
    }

    fn snr_db(signal: &[i16], decoded: &[i16]) -> f64 {
        let power: f64 = signal.iter().map(|&s| f64::from(s).powi(2)).sum();
        let noise: f64 = signal
            .iter()
            .zip(decoded)
            .map(|(&s, &d)| (f64::from(s) - f64::from(d)).powi(2))
            .sum();
        10.0 * (power / noise).log10()
    }

    #[test]
    fn round_trip_snr_of_speech_at_minus_20_dbfs() {
        let pcm = speech_like();
        let bytes = to_bytes(&pcm);
        let laws: [(&str, BytesFn, BytesFn); 2] = [
            ("mu-law", ulaw_encode_into, ulaw_decode_into),
            ("A-law", alaw_encode_into, alaw_decode_into),
        ];
        for (name, encode, decode) in laws {
            let mut codes = vec![0; pcm.len()];
            encode(&bytes, &mut codes);
            let mut out = vec![0; bytes.len()];
            decode(&codes, &mut out);
            let decoded: Vec<i16> = out.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
            let snr = snr_db(&pcm, &decoded);
            assert!(snr >= 37.0, "{name} SNR {snr:.2} dB");
        }
    }
}
