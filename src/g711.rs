//! ITU-T G.711 mu-law and A-law <-> 16-bit linear PCM.
//!
//! The per-sample functions below follow the classic Sun reference (the code CPython's `audioop`
//! uses): mu-law works on the 14 most significant bits, A-law on the 13 most significant bits.
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
pub fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let mut t = ((i32::from(u) & 0x0F) << 3) + 0x84;
    t <<= (i32::from(u) & 0x70) >> 4;
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
    code |= if seg < 2 { (value >> 1) & 0xF } else { (value >> seg) & 0xF };
    (code ^ mask) as u8
}

/// Decodes one A-law byte to a linear sample.
pub fn alaw_to_linear(code: u8) -> i16 {
    let a = i32::from(code ^ 0x55);
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
