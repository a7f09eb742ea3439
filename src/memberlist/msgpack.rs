//! msgpack as hashicorp/go-msgpack v0.5.3 writes and reads it with a default `MsgpackHandle`.
//!
//! That codec predates the msgpack "str8/bin" revision: Go `string`s and `[]byte`s are both
//! written as old-style raw (fixstr, str16, str32; never str8 nor bin), a nil slice as nil, an
//! empty one as a zero-length raw. Structs are maps keyed by the Go field names, written in
//! byte order of the names. Unsigned and non-negative signed integers take the smallest
//! unsigned form (positive fixint, uint8..uint64); negative ones the smallest signed form.
//! The reader is tolerant: it accepts every integer form, str8 and bin, and skips unknown keys,
//! as Go's decoder does.

use rmp::Marker;
use rmp::encode;

/// Why a msgpack value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgpackError {
    #[error("msgpack: truncated input")]
    Truncated,
    #[error("msgpack: unexpected type byte {0:#04x} for {1}")]
    UnexpectedType(u8, &'static str),
    #[error("msgpack: integer {0} out of range for {1}")]
    OutOfRange(i128, &'static str),
    #[error("msgpack: nesting deeper than {0}")]
    TooDeep(usize),
    #[error("msgpack: invalid UTF-8 in string field")]
    InvalidUtf8,
}

/// Writes values the way go-msgpack v0.5.3 does. Writing to a `Vec` cannot fail.
#[derive(Debug, Default)]
pub struct GoWriter {
    pub buf: Vec<u8>,
}

impl GoWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn map_len(&mut self, n: u32) {
        encode::write_map_len(&mut self.buf, n).expect("writing to a Vec cannot fail");
    }

    pub fn uint(&mut self, v: u64) {
        // rmp's write_uint picks the same smallest form as go-msgpack's encodeUint.
        encode::write_uint(&mut self.buf, v).expect("writing to a Vec cannot fail");
    }

    pub fn int(&mut self, v: i64) {
        if v >= 0 {
            self.uint(v as u64);
        } else {
            encode::write_sint(&mut self.buf, v).expect("writing to a Vec cannot fail");
        }
    }

    pub fn bool(&mut self, v: bool) {
        encode::write_bool(&mut self.buf, v).expect("writing to a Vec cannot fail");
    }

    pub fn nil(&mut self) {
        encode::write_nil(&mut self.buf).expect("writing to a Vec cannot fail");
    }

    /// Old-style raw header: fixstr below 32 bytes, else str16, else str32.
    fn raw_len(&mut self, n: usize) {
        if n < 32 {
            self.buf.push(0xa0 | n as u8);
        } else if n < 65536 {
            self.buf.push(Marker::Str16.to_u8());
            self.buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            self.buf.push(Marker::Str32.to_u8());
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }

    pub fn str(&mut self, s: &str) {
        self.raw_len(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// A Go `[]byte`: `None` is a nil slice (msgpack nil), `Some` a raw of that length.
    pub fn bytes(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.nil(),
            Some(b) => {
                self.raw_len(b.len());
                self.buf.extend_from_slice(b);
            }
        }
    }

    /// A struct field key.
    pub fn key(&mut self, name: &str) {
        self.str(name);
    }
}

/// Nesting limit when skipping unknown values, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

/// Reads msgpack values from a byte slice; every read checks bounds and returns `Truncated`
/// when the input ends early (stream readers use that to ask for more bytes).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], MsgpackError> {
        let end = self.pos.checked_add(n).ok_or(MsgpackError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(MsgpackError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, MsgpackError> {
        Ok(self.take(1)?[0])
    }

    fn be(&mut self, n: usize) -> Result<u64, MsgpackError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn peek(&self) -> Result<u8, MsgpackError> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or(MsgpackError::Truncated)
    }

    /// Any msgpack integer form (nil reads as 0, as Go's decoder leaves the zero value).
    pub fn integer(&mut self, what: &'static str) -> Result<i128, MsgpackError> {
        let b = self.byte()?;
        Ok(match Marker::from_u8(b) {
            Marker::FixPos(v) => i128::from(v),
            Marker::FixNeg(v) => i128::from(v),
            Marker::U8 => i128::from(self.be(1)?),
            Marker::U16 => i128::from(self.be(2)?),
            Marker::U32 => i128::from(self.be(4)?),
            Marker::U64 => i128::from(self.be(8)?),
            Marker::I8 => i128::from(self.be(1)? as u8 as i8),
            Marker::I16 => i128::from(self.be(2)? as u16 as i16),
            Marker::I32 => i128::from(self.be(4)? as u32 as i32),
            Marker::I64 => i128::from(self.be(8)? as i64),
            Marker::Null => 0,
            _ => return Err(MsgpackError::UnexpectedType(b, what)),
        })
    }

    pub fn uint<T: TryFrom<i128>>(&mut self, what: &'static str) -> Result<T, MsgpackError> {
        let v = self.integer(what)?;
        T::try_from(v).map_err(|_| MsgpackError::OutOfRange(v, what))
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool, MsgpackError> {
        let b = self.byte()?;
        match Marker::from_u8(b) {
            Marker::True => Ok(true),
            Marker::False | Marker::Null => Ok(false),
            _ => Err(MsgpackError::UnexpectedType(b, what)),
        }
    }

    /// A raw/str/bin value; nil reads as `None`.
    pub fn bytes(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, MsgpackError> {
        let b = self.byte()?;
        let n = match Marker::from_u8(b) {
            Marker::Null => return Ok(None),
            Marker::FixStr(n) => usize::from(n),
            Marker::Str8 | Marker::Bin8 => self.be(1)? as usize,
            Marker::Str16 | Marker::Bin16 => self.be(2)? as usize,
            Marker::Str32 | Marker::Bin32 => self.be(4)? as usize,
            _ => return Err(MsgpackError::UnexpectedType(b, what)),
        };
        Ok(Some(self.take(n)?))
    }

    pub fn string(&mut self, what: &'static str) -> Result<String, MsgpackError> {
        let b = self.bytes(what)?.unwrap_or_default();
        String::from_utf8(b.to_vec()).map_err(|_| MsgpackError::InvalidUtf8)
    }

    /// The length of a map (a struct); nil reads as an empty map.
    pub fn map_len(&mut self, what: &'static str) -> Result<usize, MsgpackError> {
        let b = self.byte()?;
        match Marker::from_u8(b) {
            Marker::Null => Ok(0),
            Marker::FixMap(n) => Ok(usize::from(n)),
            Marker::Map16 => Ok(self.be(2)? as usize),
            Marker::Map32 => Ok(self.be(4)? as usize),
            _ => Err(MsgpackError::UnexpectedType(b, what)),
        }
    }

    /// A struct's field key. Go matches field names exactly, so non-UTF-8 keys never match.
    pub fn key(&mut self) -> Result<&'a [u8], MsgpackError> {
        Ok(self.bytes("field name")?.unwrap_or_default())
    }

    /// Skips one value of any type (an unknown field).
    pub fn skip(&mut self) -> Result<(), MsgpackError> {
        self.skip_depth(0)
    }

    fn skip_depth(&mut self, depth: usize) -> Result<(), MsgpackError> {
        if depth > MAX_DEPTH {
            return Err(MsgpackError::TooDeep(MAX_DEPTH));
        }
        let b = self.peek()?;
        match Marker::from_u8(b) {
            Marker::Null | Marker::True | Marker::False => {
                self.byte()?;
            }
            Marker::FixPos(_)
            | Marker::FixNeg(_)
            | Marker::U8
            | Marker::U16
            | Marker::U32
            | Marker::U64
            | Marker::I8
            | Marker::I16
            | Marker::I32
            | Marker::I64 => {
                self.integer("value")?;
            }
            Marker::FixStr(_)
            | Marker::Str8
            | Marker::Str16
            | Marker::Str32
            | Marker::Bin8
            | Marker::Bin16
            | Marker::Bin32 => {
                self.bytes("value")?;
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                let n = self.map_len("value")?;
                for _ in 0..n {
                    self.skip_depth(depth + 1)?;
                    self.skip_depth(depth + 1)?;
                }
            }
            marker => {
                self.byte()?;
                let (items, data) = match marker {
                    Marker::FixArray(n) => (usize::from(n), 0),
                    Marker::Array16 => (self.be(2)? as usize, 0),
                    Marker::Array32 => (self.be(4)? as usize, 0),
                    Marker::F32 => (0, 4),
                    Marker::F64 => (0, 8),
                    Marker::FixExt1 => (0, 2),
                    Marker::FixExt2 => (0, 3),
                    Marker::FixExt4 => (0, 5),
                    Marker::FixExt8 => (0, 9),
                    Marker::FixExt16 => (0, 17),
                    Marker::Ext8 => (0, self.be(1)? as usize + 1),
                    Marker::Ext16 => (0, self.be(2)? as usize + 1),
                    Marker::Ext32 => (0, self.be(4)? as usize + 1),
                    _ => return Err(MsgpackError::UnexpectedType(b, "value")),
                };
                self.take(data)?;
                for _ in 0..items {
                    self.skip_depth(depth + 1)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_of_32_to_255_bytes_use_str16_not_str8() {
        let mut w = GoWriter::new();
        w.str(&"n".repeat(40));
        assert_eq!(&w.buf[..3], &[0xda, 0x00, 0x28]);
        let mut w = GoWriter::new();
        w.str(&"n".repeat(31));
        assert_eq!(w.buf[0], 0xbf);
    }

    #[test]
    fn nil_and_empty_byte_slices_differ() {
        let mut w = GoWriter::new();
        w.bytes(None);
        w.bytes(Some(&[]));
        assert_eq!(w.buf, vec![0xc0, 0xa0]);
    }

    #[test]
    fn integers_take_the_smallest_go_form() {
        let mut w = GoWriter::new();
        for v in [7i64, 200, 300, 70000, -1, -200, 1 << 40] {
            w.int(v);
        }
        assert_eq!(
            w.buf,
            vec![
                0x07, 0xcc, 200, 0xcd, 0x01, 0x2c, 0xce, 0x00, 0x01, 0x11, 0x70, 0xff, 0xd1, 0xff,
                0x38, 0xcf, 0, 0, 0x01, 0, 0, 0, 0, 0
            ]
        );
    }

    #[test]
    fn reader_accepts_str8_and_bin_for_raw_fields() {
        let mut r = Reader::new(&[0xd9, 2, b'h', b'i', 0xc4, 1, 9]);
        assert_eq!(r.bytes("x").unwrap(), Some(&b"hi"[..]));
        assert_eq!(r.bytes("x").unwrap(), Some(&[9u8][..]));
    }

    #[test]
    fn skip_handles_nested_values_and_rejects_deep_nesting() {
        let mut r = Reader::new(&[
            0x82, 0x01, 0x91, 0xa1, b'x', 0x02, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0xd5, 1, 2, 3, 0x05,
        ]);
        r.skip().unwrap();
        r.skip().unwrap();
        assert_eq!(r.integer("x").unwrap(), 5);
        let deep = vec![0x91u8; 100];
        assert_eq!(
            Reader::new(&deep).skip(),
            Err(MsgpackError::TooDeep(MAX_DEPTH))
        );
    }

    #[test]
    fn truncated_values_are_errors() {
        for input in [
            &[0xda, 0x00][..],
            &[0xcd, 0x01],
            &[0xa5, b'a'],
            &[0xde, 0x00],
        ] {
            let mut r = Reader::new(input);
            assert!(r.skip().is_err());
        }
    }
}
