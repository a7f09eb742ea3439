//! Any BGP message: framing of a byte stream and strict decoding into `Message`, used by the
//! fuzz target, the property tests and a peer model in the session tests. The session's own
//! reader is v0.9's tolerant one (`open::read_open`, then header-only reading).

use super::header::{self, Header, HeaderError, kind};
use super::notification::{NotificationRepr, NotificationTooShort};
use super::open::{MIN_OPEN_LEN, OpenError, OpenRepr};
use super::update::{Codec, UpdateError, UpdateRepr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Open(OpenRepr),
    Update(UpdateRepr),
    Notification(NotificationRepr),
    Keepalive,
    /// A type we do not interpret (ROUTE-REFRESH and others), body verbatim.
    Other {
        kind: u8,
        body: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error("bad message length {0}")]
    BadLength(u16),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Update(#[from] UpdateError),
    #[error(transparent)]
    Notification(#[from] NotificationTooShort),
}

impl Message {
    /// Decodes the first message of `buf`; returns it and the bytes it used.
    /// `Header(Truncated)` means more bytes are needed.
    pub fn decode(buf: &[u8], codec: Codec) -> Result<(Message, usize), DecodeError> {
        let hdr = Header::new_checked(buf)?;
        let len = hdr.message_len();
        let min = match hdr.message_type() {
            kind::OPEN => MIN_OPEN_LEN,
            _ => header::HEADER_LEN as u16,
        };
        if len < min {
            return Err(match hdr.message_type() {
                kind::OPEN => OpenError::TooSmall(len).into(),
                _ => DecodeError::BadLength(len),
            });
        }
        let len = usize::from(len);
        if buf.len() < len {
            return Err(HeaderError::Truncated {
                need: len,
                have: buf.len(),
            }
            .into());
        }
        let body = &buf[header::HEADER_LEN..len];
        let msg = match hdr.message_type() {
            kind::OPEN => Message::Open(OpenRepr::parse_body(body)?),
            kind::UPDATE => Message::Update(UpdateRepr::parse_body(body, codec)?),
            kind::NOTIFICATION => Message::Notification(NotificationRepr::parse(body)?),
            kind::KEEPALIVE if body.is_empty() => Message::Keepalive,
            kind::KEEPALIVE => return Err(DecodeError::BadLength(len as u16)),
            other => Message::Other {
                kind: other,
                body: body.to_vec(),
            },
        };
        Ok((msg, len))
    }

    pub fn emit(&self, codec: Codec, out: &mut Vec<u8>) {
        match self {
            Message::Open(o) => o.emit(out),
            Message::Update(u) => u.emit(codec, out),
            Message::Notification(n) => n.emit(out),
            Message::Keepalive => out.extend_from_slice(&header::keepalive()),
            Message::Other { kind, body } => {
                let at = header::start(out, *kind);
                out.extend_from_slice(body);
                header::finish(out, at);
            }
        }
    }

    pub fn to_bytes(&self, codec: Codec) -> Vec<u8> {
        let mut out = Vec::new();
        self.emit(codec, &mut out);
        out
    }
}

/// Splits a byte stream into messages; stops at the first incomplete one.
pub fn decode_all(mut buf: &[u8], codec: Codec) -> Result<Vec<Message>, DecodeError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (m, used) = Message::decode(buf, codec)?;
        out.push(m);
        buf = &buf[used..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use ipnet::{Ipv4Net, Ipv6Net};
    use proptest::prelude::*;

    use super::*;
    use crate::bgp::open::Capability;
    use crate::bgp::update::{AsSegment, PathAttribute};

    fn v4net() -> impl Strategy<Value = Ipv4Net> {
        (any::<u32>(), 0u8..=32)
            .prop_map(|(a, l)| Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc())
    }

    fn v6net() -> impl Strategy<Value = Ipv6Net> {
        (any::<u128>(), 0u8..=128)
            .prop_map(|(a, l)| Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc())
    }

    fn attribute(four: bool) -> impl Strategy<Value = PathAttribute> {
        let asn = if four {
            any::<u32>().boxed()
        } else {
            any::<u16>().prop_map(u32::from).boxed()
        };
        prop_oneof![
            any::<u8>().prop_map(PathAttribute::Origin),
            prop::collection::vec(
                (any::<u8>(), prop::collection::vec(asn, 0..8))
                    .prop_map(|(kind, asns)| AsSegment { kind, asns }),
                0..4
            )
            .prop_map(PathAttribute::AsPath),
            any::<u32>().prop_map(|a| PathAttribute::NextHop(a.into())),
            any::<u32>().prop_map(PathAttribute::LocalPref),
            prop::collection::vec(any::<u32>(), 0..100).prop_map(PathAttribute::Communities),
            (
                any::<u128>(),
                prop::option::of(any::<u128>()),
                prop::collection::vec(v6net(), 0..30)
            )
                .prop_map(|(nh, ll, nlri)| PathAttribute::MpReach {
                    next_hop: nh.into(),
                    link_local: ll.map(Into::into),
                    nlri
                }),
            prop::collection::vec(v6net(), 0..30)
                .prop_map(|withdrawn| PathAttribute::MpUnreach { withdrawn }),
            (
                any::<u8>(),
                any::<u8>(),
                prop::collection::vec(any::<u8>(), 0..300)
            )
                .prop_filter("known codes have their own variants", |(_, c, _)| ![
                    1, 2, 3, 5, 8, 14, 15
                ]
                .contains(c))
                .prop_map(|(f, code, value)| PathAttribute::Other {
                    flags: f & !0x10,
                    code,
                    value
                }),
        ]
    }

    fn message(four: bool) -> impl Strategy<Value = Message> {
        let cap = prop_oneof![
            (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Capability::multiprotocol(a, s)),
            any::<u32>().prop_map(Capability::four_octet_as),
            (any::<u8>(), prop::collection::vec(any::<u8>(), 0..8))
                .prop_filter("MP and 4-octet AS carry 4 bytes", |(c, _)| *c != 1
                    && *c != 65)
                .prop_map(|(code, value)| Capability { code, value }),
        ];
        let open = (
            any::<u16>().prop_filter("hold 1 and 2 are invalid", |h| *h != 1 && *h != 2),
            any::<u16>(),
            any::<u32>(),
            prop::collection::vec(prop::collection::vec(cap, 0..4), 0..4),
        )
            .prop_map(|(hold_time, my_as, rid, capability_params)| {
                Message::Open(OpenRepr {
                    my_as,
                    hold_time,
                    router_id: rid.into(),
                    capability_params,
                })
            })
            .prop_filter("v0.9 minimum OPEN length", |m| {
                m.to_bytes(Codec::default()).len() >= 37
            });
        let update = (
            prop::collection::vec(v4net(), 0..20),
            prop::collection::vec(attribute(four), 0..6),
            prop::collection::vec(v4net(), 0..20),
        )
            .prop_map(|(withdrawn, attributes, nlri)| {
                Message::Update(UpdateRepr {
                    withdrawn,
                    attributes,
                    nlri,
                })
            });
        prop_oneof![
            open,
            update,
            (
                any::<u8>(),
                any::<u8>(),
                prop::collection::vec(any::<u8>(), 0..20)
            )
                .prop_map(|(code, subcode, data)| Message::Notification(
                    NotificationRepr {
                        code,
                        subcode,
                        data
                    }
                )),
            Just(Message::Keepalive),
            (5u8..=255, prop::collection::vec(any::<u8>(), 0..40))
                .prop_map(|(kind, body)| Message::Other { kind, body }),
        ]
    }

    proptest! {
        #[test]
        fn decode_of_encode_is_identity(four in any::<bool>(), msgs in prop::collection::vec(message(true), 1..4)) {
            let codec = Codec { four_octet_as: four };
            // A 2-byte codec cannot carry 4-byte ASNs: narrow them first.
            let msgs: Vec<Message> = msgs.into_iter().map(|m| if four { m } else { narrow(m) }).collect();
            let mut stream = Vec::new();
            msgs.iter().for_each(|m| m.emit(codec, &mut stream));
            prop_assert_eq!(decode_all(&stream, codec).unwrap(), msgs);
        }

        #[test]
        fn decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200), four in any::<bool>()) {
            let mut b = vec![0xff; 16];
            b.extend_from_slice(&bytes);
            let _ = decode_all(&b, Codec { four_octet_as: four });
            let _ = crate::bgp::open::read_open(&b);
        }
    }

    fn narrow(m: Message) -> Message {
        match m {
            Message::Update(mut u) => {
                for a in &mut u.attributes {
                    if let PathAttribute::AsPath(segs) = a {
                        segs.iter_mut()
                            .for_each(|s| s.asns.iter_mut().for_each(|x| *x &= 0xffff));
                    }
                }
                Message::Update(u)
            }
            m => m,
        }
    }

    #[test]
    fn short_keepalive_length_is_a_bad_length() {
        let mut b = header::keepalive();
        b[17] = 18;
        assert_eq!(
            Message::decode(&b, Codec::default()),
            Err(DecodeError::BadLength(18))
        );
    }

    #[test]
    fn incomplete_message_reports_how_many_bytes_it_needs() {
        let b = OpenRepr::metallb(1, 90, Ipv4Addr::LOCALHOST).to_bytes();
        assert_eq!(
            Message::decode(&b[..30], Codec::default()),
            Err(DecodeError::Header(HeaderError::Truncated {
                need: 49,
                have: 30
            }))
        );
    }
}
