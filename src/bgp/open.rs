//! OPEN (RFC 4271 §4.2 with capabilities, RFC 5492): v0.9's fixed 49-byte OPEN and v0.9's
//! tolerant reader, with its exact error texts (spec §4.6 step 5, vectors E.1–E.3).
//!
//! The reader follows v0.9's stream semantics: the Optional Parameters Length byte is
//! ignored and parameters are read up to the end of the message; an optional parameter or a
//! capability that claims more bytes than remain is reported by how many bytes were missing.

use std::net::Ipv4Addr;

use super::header::{self, Cursor, Header, HeaderError, kind};
use super::notification::NotificationRepr;

/// v0.9 rejects OPENs shorter than this (a quirk: the 29-byte minimum OPEN fails, E.3).
pub const MIN_OPEN_LEN: u16 = 37;
/// The 2-byte My-AS value sent when the ASN does not fit (RFC 6793).
pub const AS_TRANS: u16 = 23456;

pub mod capability {
    pub const MULTIPROTOCOL: u8 = 1;
    pub const FOUR_OCTET_AS: u8 = 65;
}
const OPT_PARAM_CAPABILITIES: u8 = 2;

/// One capability: code and value bytes (the value always complete once parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    pub code: u8,
    pub value: Vec<u8>,
}

impl Capability {
    pub fn multiprotocol(afi: u16, safi: u8) -> Self {
        let a = afi.to_be_bytes();
        Capability {
            code: capability::MULTIPROTOCOL,
            value: vec![a[0], a[1], 0, safi],
        }
    }
    pub fn four_octet_as(asn: u32) -> Self {
        Capability {
            code: capability::FOUR_OCTET_AS,
            value: asn.to_be_bytes().to_vec(),
        }
    }
}

/// An OPEN message (version 4 is implied: any other version is rejected on parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRepr {
    pub my_as: u16,
    pub hold_time: u16,
    pub router_id: Ipv4Addr,
    /// Each Capabilities optional parameter (type 2) in order, with its capabilities.
    /// Peers may send one parameter holding all capabilities or one per capability (E.3 open-4).
    pub capability_params: Vec<Vec<Capability>>,
}

/// Why an OPEN was refused; the texts are v0.9's (`readOpen`), including Go's `EOF` and
/// `unexpected EOF` for values cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("synchronization error, incorrect header marker")]
    BadMarker,
    #[error("{0}")]
    Notification(NotificationRepr),
    #[error("message type is not OPEN, got {0}, want 1")]
    NotOpen(u8),
    #[error("message length {0} too small to be OPEN")]
    TooSmall(u16),
    #[error("wrong BGP version")]
    WrongVersion,
    /// v0.9 formats the integer with `%q`, which renders it as a Go character literal.
    #[error("invalid hold time '\\x{0:02x}', must be 0 or >=3s")]
    InvalidHoldTime(u16),
    #[error("unknown BGP option type {0}")]
    UnknownOption(u8),
    #[error("EOF")]
    Eof,
    #[error("unexpected EOF")]
    UnexpectedEof,
    #[error("{leftover} leftover bytes after decoding capability {code}")]
    CapabilityLeftover { leftover: usize, code: u8 },
    #[error("{0} trailing garbage bytes after capability option")]
    TrailingGarbage(usize),
}

impl OpenRepr {
    /// The OPEN v0.9 sends (spec §4.6 step 4): AS_TRANS when the ASN needs 4 bytes, and one
    /// Capabilities parameter with MP IPv4 unicast, MP IPv6 unicast and 4-octet AS.
    pub fn metallb(asn: u32, hold_time: u16, router_id: Ipv4Addr) -> Self {
        OpenRepr {
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            router_id,
            capability_params: vec![vec![
                Capability::multiprotocol(1, 1),
                Capability::multiprotocol(2, 1),
                Capability::four_octet_as(asn),
            ]],
        }
    }

    fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.capability_params.iter().flatten()
    }

    /// The 4-octet-AS capability's value when present (the last one wins, as in v0.9),
    /// else the 2-byte My-AS.
    pub fn asn(&self) -> u32 {
        self.capabilities()
            .filter(|c| c.code == capability::FOUR_OCTET_AS)
            .filter_map(|c| c.value.as_slice().try_into().ok().map(u32::from_be_bytes))
            .last()
            .unwrap_or(u32::from(self.my_as))
    }

    pub fn four_octet_as(&self) -> bool {
        self.capabilities()
            .any(|c| c.code == capability::FOUR_OCTET_AS)
    }

    pub fn multiprotocol(&self, afi: u16, safi: u8) -> bool {
        let want = Capability::multiprotocol(afi, safi).value;
        self.capabilities().any(|c| {
            c.code == capability::MULTIPROTOCOL
                && c.value.len() == 4
                && c.value[..2] == want[..2]
                && c.value[3] == safi
        })
    }

    /// Parses the body after the header; `body` is exactly the bytes the length field covers.
    pub fn parse_body(body: &[u8]) -> Result<Self, OpenError> {
        let mut c = Cursor::new(body);
        let (Some(version), Some(my_as), Some(hold_time), Some(rid), Some(_opts_len)) =
            (c.u8(), c.u16(), c.u16(), c.u32(), c.u8())
        else {
            return Err(OpenError::UnexpectedEof);
        };
        if version != 4 {
            return Err(OpenError::WrongVersion);
        }
        if hold_time == 1 || hold_time == 2 {
            return Err(OpenError::InvalidHoldTime(hold_time));
        }
        let mut capability_params = Vec::new();
        let mut rest = c.rest;
        while !rest.is_empty() {
            let [kind, claimed, tail @ ..] = rest else {
                return Err(OpenError::UnexpectedEof);
            };
            if *kind != OPT_PARAM_CAPABILITIES {
                return Err(OpenError::UnknownOption(*kind));
            }
            let avail = usize::from(*claimed).min(tail.len());
            capability_params.push(parse_capabilities(&tail[..avail])?);
            if usize::from(*claimed) > avail {
                return Err(OpenError::TrailingGarbage(usize::from(*claimed) - avail));
            }
            rest = &tail[avail..];
        }
        Ok(OpenRepr {
            my_as,
            hold_time,
            router_id: Ipv4Addr::from(rid),
            capability_params,
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let at = header::start(out, kind::OPEN);
        out.push(4);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.router_id.octets());
        let len_at = out.len();
        out.push(0);
        for param in &self.capability_params {
            out.push(OPT_PARAM_CAPABILITIES);
            let plen_at = out.len();
            out.push(0);
            for cap in param {
                out.push(cap.code);
                out.push(cap.value.len() as u8);
                out.extend_from_slice(&cap.value);
            }
            out[plen_at] = (out.len() - plen_at - 1) as u8;
        }
        out[len_at] = (out.len() - len_at - 1) as u8;
        header::finish(out, at);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(49);
        self.emit(&mut out);
        out
    }
}

/// Capabilities inside one optional parameter; an MP or 4-octet-AS capability must carry
/// exactly 4 bytes, unknown ones are skipped (kept verbatim here).
fn parse_capabilities(mut body: &[u8]) -> Result<Vec<Capability>, OpenError> {
    let mut caps = Vec::new();
    while !body.is_empty() {
        let [code, claimed, tail @ ..] = body else {
            return Err(OpenError::UnexpectedEof);
        };
        let (code, claimed) = (*code, usize::from(*claimed));
        let avail = claimed.min(tail.len());
        let value = &tail[..avail];
        let used = match code {
            capability::MULTIPROTOCOL | capability::FOUR_OCTET_AS => match avail {
                0 => return Err(OpenError::Eof),
                1..=3 => return Err(OpenError::UnexpectedEof),
                _ => 4,
            },
            _ => avail,
        };
        if claimed > used {
            return Err(OpenError::CapabilityLeftover {
                leftover: claimed - used,
                code,
            });
        }
        caps.push(Capability {
            code,
            value: value.to_vec(),
        });
        body = &tail[avail..];
    }
    Ok(caps)
}

/// Reads the peer's OPEN from the start of a byte stream, as v0.9's `readOpen` does:
/// `Ok(None)` until enough bytes are buffered, then the OPEN and the bytes it used.
pub fn read_open(buf: &[u8]) -> Result<Option<(OpenRepr, usize)>, OpenError> {
    let hdr = match Header::new_checked(buf) {
        Ok(h) => h,
        Err(HeaderError::Truncated { .. }) => return Ok(None),
        Err(HeaderError::BadMarker) => return Err(OpenError::BadMarker),
    };
    match hdr.message_type() {
        kind::NOTIFICATION => {
            // v0.9 reads only the 2-byte code, whatever the length says.
            return match hdr.rest() {
                [code, subcode, ..] => Err(OpenError::Notification(NotificationRepr {
                    code: *code,
                    subcode: *subcode,
                    data: Vec::new(),
                })),
                _ => Ok(None),
            };
        }
        kind::OPEN => {}
        other => return Err(OpenError::NotOpen(other)),
    }
    let len = hdr.message_len();
    if len < MIN_OPEN_LEN {
        return Err(OpenError::TooSmall(len));
    }
    let len = usize::from(len);
    if buf.len() < len {
        return Ok(None);
    }
    Ok(Some((
        OpenRepr::parse_body(&buf[header::HEADER_LEN..len])?,
        len,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::test_hex as hex;

    fn read_all(bytes: &[u8]) -> Result<OpenRepr, OpenError> {
        match read_open(bytes)? {
            Some((open, used)) => {
                assert_eq!(used, bytes.len(), "the whole OPEN is consumed");
                Ok(open)
            }
            None => panic!("a complete OPEN must not ask for more bytes"),
        }
    }

    #[test]
    fn e1_metallb_open_reads_back_hold_and_asn() {
        let b = OpenRepr::metallb(12345, 4, Ipv4Addr::new(1, 2, 3, 4)).to_bytes();
        let open = read_all(&b).unwrap();
        assert_eq!(open.hold_time, 4);
        assert_eq!(open.asn(), 12345);
    }

    #[test]
    fn e2_four_byte_asn_detection() {
        let cases = [
            // E.2 #1: MetalLB's own OPEN.
            (
                "ffffffffffffffffffffffffffffffff 0031 01 04 fdea 005a b9ecf027 14 02 12 01040001 0001 01040002 0001 4104 0000fdea",
                true,
                65002,
                90,
            ),
            // E.2 #2: Arista EOS 4.13 without the 4-octet AS capability.
            (
                "ffffffffffffffffffffffffffffffff 002b 01 04 fde9 00b4 b9ecf040 0e 02 0c 01040001 0001 0200 4002 00b4",
                false,
                65001,
                180,
            ),
        ];
        for (h, fbasn, asn, hold) in cases {
            let open = read_all(&hex(h)).unwrap();
            assert_eq!(open.four_octet_as(), fbasn, "{h}");
            assert_eq!(open.asn(), asn, "{h}");
            assert_eq!(open.hold_time, hold, "{h}");
            // Our encoder reproduces each captured OPEN byte for byte.
            assert_eq!(open.to_bytes(), hex(h));
        }
    }

    #[test]
    fn e3_captured_opens_all_parse() {
        let cases = [
            (
                "open-1",
                "ffffffffffffffffffffffffffffffff00410104000100b40a01010124022201040001000101040001000402004002012c41040000000145080001010100010401",
                1,
                180,
                [10, 1, 1, 1],
                true,
            ),
            (
                "open-2",
                "ffffffffffffffffffffffffffffffff00250104fc1f0028c0a8124108020641040000fc1f",
                64543,
                40,
                [192, 168, 18, 65],
                false,
            ),
            (
                "open-3",
                "ffffffffffffffffffffffffffffffff00330104fc1f0028c0a8104516021401040001000102004002000041040000fc1f4600",
                64543,
                40,
                [192, 168, 16, 69],
                true,
            ),
            (
                "open-4",
                "ffffffffffffffffffffffffffffffff00350104fc1f00b4c0a810011802060104000100010202800002020200020641040000fc1f",
                64543,
                180,
                [192, 168, 16, 1],
                true,
            ),
        ];
        for (name, h, asn, hold, rid, mp4) in cases {
            let bytes = hex(h);
            let open = read_all(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(open.asn(), asn, "{name}");
            assert!(open.four_octet_as(), "{name}");
            assert_eq!(open.hold_time, hold, "{name}");
            assert_eq!(open.router_id, Ipv4Addr::from(rid), "{name}");
            assert_eq!(open.multiprotocol(1, 1), mp4, "{name}");
            assert_eq!(open.to_bytes(), bytes, "{name} re-encodes byte for byte");
        }
        let open4 = read_all(&hex(cases[3].1)).unwrap();
        assert_eq!(
            open4.capability_params.len(),
            4,
            "open-4 has four Capabilities parameters"
        );
    }

    #[test]
    fn e3_minimal_29_byte_open_is_too_small() {
        let b = hex("ffffffffffffffffffffffffffffffff001d0104fc1f0028c0a8124100");
        assert_eq!(
            read_open(&b).unwrap_err().to_string(),
            "message length 29 too small to be OPEN"
        );
    }

    #[test]
    fn e4_open_vectors_byte_for_byte() {
        let cases = [
            (
                64500,
                90,
                [10, 0, 0, 5],
                "ffffffffffffffffffffffffffffffff00310104fbf4005a0a00000514021201040001000101040002000141040000fbf4",
            ),
            (
                4200000001,
                0,
                [192, 0, 2, 1],
                "ffffffffffffffffffffffffffffffff003101045ba00000c00002011402120104000100010104000200014104fa56ea01",
            ),
        ];
        for (asn, hold, rid, h) in cases {
            let b = OpenRepr::metallb(asn, hold, Ipv4Addr::from(rid)).to_bytes();
            assert_eq!(b, hex(h), "AS {asn}");
            assert_eq!(b.len(), 49);
            let open = read_all(&b).unwrap();
            assert_eq!(open.asn(), asn);
            assert!(open.multiprotocol(2, 1), "IPv6 unicast is advertised");
        }
    }

    fn err_text(h: &str) -> String {
        read_open(&hex(h)).unwrap_err().to_string()
    }

    const OPEN_HDR: &str = "ffffffffffffffffffffffffffffffff";

    #[test]
    fn v09_error_texts_for_malformed_opens() {
        // E.5 last row: hold time 2 renders with Go's %q quirk.
        assert_eq!(
            err_text(&format!(
                "{OPEN_HDR}0025 01 04 fc1f 0002 c0a81241 08 02 06 41040000fc1f"
            )),
            "invalid hold time '\\x02', must be 0 or >=3s"
        );
        assert_eq!(
            err_text(&format!(
                "{OPEN_HDR}0025 01 04 fc1f 0001 c0a81241 08 02 06 41040000fc1f"
            )),
            "invalid hold time '\\x01', must be 0 or >=3s"
        );
        assert_eq!(
            err_text(&format!(
                "{OPEN_HDR}0025 01 03 fc1f 0028 c0a81241 08 02 06 41040000fc1f"
            )),
            "wrong BGP version"
        );
        assert_eq!(
            err_text(&format!(
                "{OPEN_HDR}0025 01 04 fc1f 0028 c0a81241 08 01 06 41040000fc1f"
            )),
            "unknown BGP option type 1"
        );
        assert_eq!(
            err_text(&format!("{OPEN_HDR}0013 04")),
            "message type is not OPEN, got 4, want 1"
        );
        assert_eq!(
            err_text(&format!("{OPEN_HDR}0015 03 0602")),
            "got BGP notification code 0x0602 (Administrative Shutdown)"
        );
        assert_eq!(
            err_text("fffffffffffffffffffffffffffffff0 0025 01"),
            "synchronization error, incorrect header marker"
        );
        // 4-octet AS capability claiming 6 bytes with 6 present.
        assert_eq!(
            err_text(&format!(
                "{OPEN_HDR}0027 01 04 fc1f 0028 c0a81241 0a 02 08 41060000fc1f0000"
            )),
            "2 leftover bytes after decoding capability 65"
        );
        // An unknown capability claiming more than the option holds.
        assert_eq!(
            err_text(&format!(
                "{OPEN_HDR}0025 01 04 fc1f 0028 c0a81241 08 02 06 4609 00000000"
            )),
            "5 leftover bytes after decoding capability 70"
        );
        // The option claims 9 bytes, only 6 remain in the message.
        assert_eq!(
            err_text(&format!(
                "{OPEN_HDR}0025 01 04 fc1f 0028 c0a81241 08 02 09 41040000fc1f"
            )),
            "3 trailing garbage bytes after capability option"
        );
        // MP capability of length 2 and 0.
        assert_eq!(
            err_text(&format!(
                "{OPEN_HDR}0025 01 04 fc1f 0028 c0a81241 08 02 06 0102 0001 0200"
            )),
            "unexpected EOF"
        );
        assert_eq!(
            err_text(&format!(
                "{OPEN_HDR}0025 01 04 fc1f 0028 c0a81241 08 02 06 4100 02000200"
            )),
            "EOF"
        );
        // A lone byte where an option header should start.
        assert_eq!(
            err_text(&format!(
                "{OPEN_HDR}0025 01 04 fc1f 0028 c0a81241 08 02 05 41040000fc1f"
            )),
            "unexpected EOF"
        );
    }

    #[test]
    fn streaming_read_waits_for_the_whole_open() {
        let b = OpenRepr::metallb(64500, 90, Ipv4Addr::new(10, 0, 0, 5)).to_bytes();
        for cut in 0..b.len() {
            assert_eq!(read_open(&b[..cut]), Ok(None), "cut at {cut}");
        }
        let mut two = b.clone();
        two.extend_from_slice(&header::keepalive());
        assert_eq!(read_open(&two).unwrap().unwrap().1, 49);
    }

    #[test]
    fn opts_length_byte_is_ignored_like_v09() {
        // open-2 with an Optional Parameters Length of 0 instead of 8.
        let open = read_all(&hex(
            "ffffffffffffffffffffffffffffffff00250104fc1f0028c0a8124100020641040000fc1f",
        ))
        .unwrap();
        assert_eq!(open.asn(), 64543);
    }
}
