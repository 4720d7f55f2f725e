//! Zero-copy access to the bytes of any buffer-protocol object.

use pyo3::buffer::PyUntypedBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::errors::AudioFormatError;

/// What an input may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 16-bit PCM: raw bytes, or an array of int16.
    Pcm,
    /// G.711 codes or other 8-bit data: raw bytes, or an array of uint8/int8.
    Bytes,
}

fn byte_format(format: &[u8]) -> bool {
    matches!(
        format,
        b"B" | b"b" | b"c" | b"@B" | b"=B" | b"<B" | b"@b" | b"=b" | b"<b"
    )
}

fn int16_format(format: &[u8]) -> bool {
    // Little-endian or native (this crate targets little-endian machines) signed 16-bit.
    cfg!(target_endian = "little") && matches!(format, b"h" | b"@h" | b"=h" | b"<h")
}

/// Calls `f` with the bytes of `obj` without copying them. `bytes` objects are read directly;
/// other objects go through the buffer protocol and must be C-contiguous with a matching item type.
pub fn with_bytes<R>(obj: &Bound<'_, PyAny>, kind: Kind, what: &str, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Ok(f(bytes.as_bytes()));
    }
    let Ok(buffer) = PyUntypedBuffer::get(obj) else {
        return Err(AudioFormatError::new_err(format!(
            "{what} must be a bytes-like object (bytes, bytearray, memoryview or a C-contiguous numpy array), \
             got {}",
            obj.get_type().name().map_or_else(|_| "?".to_owned(), |n| n.to_string())
        )));
    };
    let format = buffer.format().to_bytes();
    let ok = byte_format(format) || (kind == Kind::Pcm && int16_format(format));
    if !ok {
        let allowed = if kind == Kind::Pcm {
            "bytes or int16 samples"
        } else {
            "bytes or uint8 values"
        };
        return Err(AudioFormatError::new_err(format!(
            "{what} has item format {:?} ({} bytes per item): expected {allowed}",
            String::from_utf8_lossy(format),
            buffer.item_size()
        )));
    }
    if !buffer.is_c_contiguous() {
        return Err(AudioFormatError::new_err(format!(
            "{what} is not C-contiguous: pass a contiguous buffer (for numpy, np.ascontiguousarray(a))"
        )));
    }
    let len = buffer.len_bytes();
    if len == 0 {
        return Ok(f(&[]));
    }
    // SAFETY: the buffer is C-contiguous and `len` bytes long, and `buffer` keeps the export (and
    // so the memory, which the exporter may not resize while exported) alive until after `f`.
    #[allow(unsafe_code)]
    let slice = unsafe { std::slice::from_raw_parts(buffer.buf_ptr().cast::<u8>().cast_const(), len) };
    let result = f(slice);
    drop(buffer);
    Ok(result)
}
