//! NOTIFICATION (RFC 4271 §4.5): decoded when a peer ends the session, encoded when we do
//! (v0.9 never sends one; we send Cease on close and Hold Timer Expired, see
//! docs/differences.md).

use super::header::{self, Cursor, kind};

/// Error codes we send.
pub mod code {
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const CEASE: u8 = 6;
}

/// Cease subcodes (RFC 4486).
pub mod cease {
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    pub const PEER_DECONFIGURED: u8 = 3;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRepr {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

/// A NOTIFICATION body shorter than the two code bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("NOTIFICATION body of {0} bytes is shorter than its 2-byte error code")]
pub struct NotificationTooShort(pub usize);

impl NotificationRepr {
    pub fn cease(subcode: u8) -> Self {
        NotificationRepr {
            code: code::CEASE,
            subcode,
            data: Vec::new(),
        }
    }

    /// Parses the body (everything after the header).
    pub fn parse(body: &[u8]) -> Result<Self, NotificationTooShort> {
        let mut c = Cursor::new(body);
        match (c.u8(), c.u8()) {
            (Some(code), Some(subcode)) => Ok(NotificationRepr {
                code,
                subcode,
                data: c.rest.to_vec(),
            }),
            _ => Err(NotificationTooShort(body.len())),
        }
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let at = header::start(out, kind::NOTIFICATION);
        out.push(self.code);
        out.push(self.subcode);
        out.extend_from_slice(&self.data);
        header::finish(out, at);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.emit(&mut out);
        out
    }

    /// Code and subcode as v0.9 prints them (`0x%04x`).
    pub fn code16(&self) -> u16 {
        u16::from_be_bytes([self.code, self.subcode])
    }

    /// v0.9's description table (`notificationCodes`), `unknown code` otherwise.
    pub fn description(&self) -> &'static str {
        match self.code16() {
            0x0100 => "Message header error (unspecific)",
            0x0101 => "Connection not synchronized",
            0x0102 => "Bad message length",
            0x0103 => "Bad message type",
            0x0200 => "OPEN message error (unspecific)",
            0x0201 => "Unsupported version number",
            0x0202 => "Bad peer AS",
            0x0203 => "Bad BGP identifier",
            0x0204 => "Unsupported optional parameter",
            0x0206 => "Unacceptable hold time",
            0x0207 => "Unsupported capability",
            0x0300 => "UPDATE message error (unspecific)",
            0x0301 => "Malformed Attribute List",
            0x0302 => "Unrecognized Well-known Attribute",
            0x0303 => "Missing Well-known Attribute",
            0x0304 => "Attribute Flags Error",
            0x0305 => "Attribute Length Error",
            0x0306 => "Invalid ORIGIN Attribute",
            0x0308 => "Invalid NEXT_HOP Attribute",
            0x0309 => "Optional Attribute Error",
            0x030a => "Invalid Network Field",
            0x030b => "Malformed AS_PATH",
            0x0500 => "BGP FSM state error (unspecific)",
            0x0501 => "Receive Unexpected Message in OpenSent State",
            0x0502 => "Receive Unexpected Message in OpenConfirm State",
            0x0503 => "Receive Unexpected Message in Established State",
            0x0601 => "Maximum Number of Prefixes Reached",
            0x0602 => "Administrative Shutdown",
            0x0603 => "Peer De-configured",
            0x0604 => "Administrative Reset",
            0x0605 => "Connection Rejected",
            0x0606 => "Other Configuration Change",
            0x0607 => "Connection Collision Resolution",
            0x0608 => "Out of Resources",
            _ => "unknown code",
        }
    }
}

/// v0.9's error for a received NOTIFICATION.
impl std::fmt::Display for NotificationRepr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "got BGP notification code 0x{:04x} ({})",
            self.code16(),
            self.description()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::test_hex as hex;

    #[test]
    fn cease_administrative_shutdown_encodes_as_21_bytes() {
        let b = NotificationRepr::cease(cease::ADMINISTRATIVE_SHUTDOWN).to_bytes();
        assert_eq!(b, hex("ffffffffffffffffffffffffffffffff0015030602"));
    }

    #[test]
    fn received_notification_renders_v09_text() {
        let n = NotificationRepr::parse(&[6, 2]).unwrap();
        assert_eq!(
            n.to_string(),
            "got BGP notification code 0x0602 (Administrative Shutdown)"
        );
        let n = NotificationRepr::parse(&[9, 9, 1, 2]).unwrap();
        assert_eq!(
            n.to_string(),
            "got BGP notification code 0x0909 (unknown code)"
        );
        assert_eq!(n.data, vec![1, 2]);
    }

    #[test]
    fn notification_without_subcode_is_an_error() {
        assert_eq!(NotificationRepr::parse(&[6]), Err(NotificationTooShort(1)));
    }
}
