//! The 19-byte message header every BGP message starts with (RFC 4271 §4.1): a zero-copy
//! checked view and the writer used by every `emit`.

/// The all-ones marker v0.9 sends and requires.
pub const MARKER: [u8; 16] = [0xff; 16];
/// Marker, length and type.
pub const HEADER_LEN: usize = 19;
/// RFC 4271's largest message; our encoders split their output to stay under it.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Message type codes.
pub mod kind {
    pub const OPEN: u8 = 1;
    pub const UPDATE: u8 = 2;
    pub const NOTIFICATION: u8 = 3;
    pub const KEEPALIVE: u8 = 4;
}

/// Why a buffer does not start with a usable header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("message truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    /// v0.9's text (`readOpen` and the session reader).
    #[error("synchronization error, incorrect header marker")]
    BadMarker,
}

/// A checked view over a buffer that holds at least a complete header with a valid marker.
/// The body may still be incomplete: `message_len` says how many bytes the message claims.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    buffer: &'a [u8],
}

impl<'a> Header<'a> {
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, HeaderError> {
        if buffer.len() < HEADER_LEN {
            return Err(HeaderError::Truncated {
                need: HEADER_LEN,
                have: buffer.len(),
            });
        }
        if buffer[..16] != MARKER {
            return Err(HeaderError::BadMarker);
        }
        Ok(Header { buffer })
    }

    /// The length field: the whole message including the header.
    pub fn message_len(&self) -> u16 {
        u16::from_be_bytes([self.buffer[16], self.buffer[17]])
    }

    pub fn message_type(&self) -> u8 {
        self.buffer[18]
    }

    /// The bytes after the header that are present in the buffer (possibly more or fewer
    /// than the length field claims).
    pub fn rest(&self) -> &'a [u8] {
        &self.buffer[HEADER_LEN..]
    }
}

/// Starts a message in `out`; returns the offset to pass to [`finish`].
pub(crate) fn start(out: &mut Vec<u8>, message_type: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&[0, 0, message_type]);
    at
}

/// Fills in the length field of the message started at `at`.
pub(crate) fn finish(out: &mut [u8], at: usize) {
    let len = out.len() - at;
    debug_assert!(
        len <= usize::from(u16::MAX),
        "callers keep messages under 64 KiB"
    );
    out[at + 16..at + 18].copy_from_slice(&(len as u16).to_be_bytes());
}

/// A KEEPALIVE: a bare header of type 4 (E.4).
pub fn keepalive() -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    let at = start(&mut out, kind::KEEPALIVE);
    finish(&mut out, at);
    out
}

/// Big-endian readers over a slice that never panic: `None` when the slice is too short.
pub(crate) struct Cursor<'a> {
    pub(crate) rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(rest: &'a [u8]) -> Self {
        Cursor { rest }
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_is_the_19_byte_e4_vector() {
        assert_eq!(keepalive(), hex("ffffffffffffffffffffffffffffffff001304"));
    }

    #[test]
    fn header_with_a_wrong_marker_is_a_synchronization_error() {
        let mut b = keepalive();
        b[3] = 0;
        let err = Header::new_checked(&b).unwrap_err();
        assert_eq!(
            err.to_string(),
            "synchronization error, incorrect header marker"
        );
    }

    #[test]
    fn short_buffer_is_truncated_not_a_panic() {
        assert_eq!(
            Header::new_checked(&[0xff; 5]).unwrap_err(),
            HeaderError::Truncated { need: 19, have: 5 }
        );
    }

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        super::super::test_hex(s)
    }
}
