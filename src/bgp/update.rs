//! UPDATE (RFC 4271 §4.3, RFC 4760 MP_REACH/MP_UNREACH for IPv6): the generic `UpdateRepr`
//! with parse/emit, and the builders that produce v0.9's exact bytes (spec §4.6 "UPDATE
//! encoding", vector E.4) plus our additions: several prefixes with identical attributes
//! packed into one UPDATE, and IPv6 prefixes over MP-BGP (docs/differences.md).

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::advertisement::RouteAttributes;
use super::header::{self, Cursor, MAX_MESSAGE_LEN, kind};
use super::open::AS_TRANS;

/// Path attribute type codes.
pub mod attr {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const LOCAL_PREF: u8 = 5;
    pub const COMMUNITIES: u8 = 8;
    pub const MP_REACH_NLRI: u8 = 14;
    pub const MP_UNREACH_NLRI: u8 = 15;
}
const FLAG_OPTIONAL: u8 = 0x80;
const FLAG_TRANSITIVE: u8 = 0x40;
const FLAG_EXTENDED_LENGTH: u8 = 0x10;
/// ORIGIN value v0.9 always sends.
pub const ORIGIN_INCOMPLETE: u8 = 2;
pub const AS_SEQUENCE: u8 = 2;
const AFI_IPV6: u16 = 2;
const SAFI_UNICAST: u8 = 1;

/// What the receiver must know to read an AS_PATH: whether both sides negotiated 4-octet AS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Codec {
    pub four_octet_as: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsSegment {
    pub kind: u8,
    pub asns: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathAttribute {
    Origin(u8),
    AsPath(Vec<AsSegment>),
    NextHop(Ipv4Addr),
    LocalPref(u32),
    Communities(Vec<u32>),
    /// MP_REACH_NLRI for IPv6 unicast.
    MpReach {
        next_hop: Ipv6Addr,
        link_local: Option<Ipv6Addr>,
        nlri: Vec<Ipv6Net>,
    },
    /// MP_UNREACH_NLRI for IPv6 unicast.
    MpUnreach {
        withdrawn: Vec<Ipv6Net>,
    },
    /// Anything else, kept verbatim; `flags` without the extended-length bit, which emit
    /// chooses from the value's length.
    Other {
        flags: u8,
        code: u8,
        value: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateRepr {
    pub withdrawn: Vec<Ipv4Net>,
    pub attributes: Vec<PathAttribute>,
    pub nlri: Vec<Ipv4Net>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    #[error("UPDATE truncated in {0}")]
    Truncated(&'static str),
    #[error("prefix length {0} is longer than the address")]
    PrefixLength(u8),
    #[error("path attribute {code} has invalid length {len}")]
    AttributeLength { code: u8, len: usize },
}

fn truncated(what: &'static str) -> UpdateError {
    UpdateError::Truncated(what)
}

fn prefix_bytes(len: u8) -> usize {
    usize::from(len).div_ceil(8)
}

fn parse_prefixes<const N: usize>(mut b: &[u8]) -> Result<Vec<([u8; N], u8)>, UpdateError> {
    let mut out = Vec::new();
    while let [len, rest @ ..] = b {
        if usize::from(*len) > N * 8 {
            return Err(UpdateError::PrefixLength(*len));
        }
        let n = prefix_bytes(*len);
        if rest.len() < n {
            return Err(truncated("a prefix"));
        }
        let mut addr = [0u8; N];
        addr[..n].copy_from_slice(&rest[..n]);
        out.push((addr, *len));
        b = &rest[n..];
    }
    Ok(out)
}

fn parse_v4(b: &[u8]) -> Result<Vec<Ipv4Net>, UpdateError> {
    parse_prefixes::<4>(b)?
        .into_iter()
        .map(|(a, l)| {
            Ipv4Net::new(a.into(), l)
                .map(|n| n.trunc())
                .map_err(|_| UpdateError::PrefixLength(l))
        })
        .collect()
}

fn parse_v6(b: &[u8]) -> Result<Vec<Ipv6Net>, UpdateError> {
    parse_prefixes::<16>(b)?
        .into_iter()
        .map(|(a, l)| {
            Ipv6Net::new(a.into(), l)
                .map(|n| n.trunc())
                .map_err(|_| UpdateError::PrefixLength(l))
        })
        .collect()
}

/// Length byte then ⌈len/8⌉ address bytes (v0.9 `encodePrefixes`).
fn emit_prefix(out: &mut Vec<u8>, octets: &[u8], len: u8) {
    out.push(len);
    out.extend_from_slice(&octets[..prefix_bytes(len)]);
}

fn v4_prefix_len(p: &Ipv4Net) -> usize {
    1 + prefix_bytes(p.prefix_len())
}

fn v6_prefix_len(p: &Ipv6Net) -> usize {
    1 + prefix_bytes(p.prefix_len())
}

impl PathAttribute {
    fn parse(flags: u8, code: u8, v: &[u8], codec: Codec) -> Result<Self, UpdateError> {
        let bad_len = || UpdateError::AttributeLength { code, len: v.len() };
        Ok(match code {
            attr::ORIGIN => match v {
                [o] => PathAttribute::Origin(*o),
                _ => return Err(bad_len()),
            },
            attr::AS_PATH => {
                let mut c = Cursor::new(v);
                let mut segs = Vec::new();
                while !c.is_empty() {
                    let (Some(kind), Some(n)) = (c.u8(), c.u8()) else {
                        return Err(bad_len());
                    };
                    let mut asns = Vec::with_capacity(usize::from(n));
                    for _ in 0..n {
                        let asn = if codec.four_octet_as {
                            c.u32()
                        } else {
                            c.u16().map(u32::from)
                        };
                        asns.push(asn.ok_or_else(bad_len)?);
                    }
                    segs.push(AsSegment { kind, asns });
                }
                PathAttribute::AsPath(segs)
            }
            attr::NEXT_HOP => {
                let a: [u8; 4] = v.try_into().map_err(|_| bad_len())?;
                PathAttribute::NextHop(a.into())
            }
            attr::LOCAL_PREF => {
                let a: [u8; 4] = v.try_into().map_err(|_| bad_len())?;
                PathAttribute::LocalPref(u32::from_be_bytes(a))
            }
            attr::COMMUNITIES if v.len().is_multiple_of(4) => PathAttribute::Communities(
                v.chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            attr::COMMUNITIES => return Err(bad_len()),
            attr::MP_REACH_NLRI if v.len() >= 3 && v[..3] == [0, AFI_IPV6 as u8, SAFI_UNICAST] => {
                let mut c = Cursor::new(&v[3..]);
                let nh_len = c.u8().ok_or_else(bad_len)?;
                let nh = c.take(usize::from(nh_len)).ok_or_else(bad_len)?;
                let (next_hop, link_local) = match nh.len() {
                    16 => (to_v6(nh), None),
                    32 => (to_v6(&nh[..16]), Some(to_v6(&nh[16..]))),
                    _ => return Err(bad_len()),
                };
                c.u8().ok_or_else(bad_len)?; // reserved (SNPA count)
                PathAttribute::MpReach {
                    next_hop,
                    link_local,
                    nlri: parse_v6(c.rest)?,
                }
            }
            attr::MP_UNREACH_NLRI
                if v.len() >= 3 && v[..3] == [0, AFI_IPV6 as u8, SAFI_UNICAST] =>
            {
                PathAttribute::MpUnreach {
                    withdrawn: parse_v6(&v[3..])?,
                }
            }
            _ => PathAttribute::Other {
                flags: flags & !FLAG_EXTENDED_LENGTH,
                code,
                value: v.to_vec(),
            },
        })
    }

    fn flags_and_code(&self) -> (u8, u8) {
        match self {
            PathAttribute::Origin(_) => (FLAG_TRANSITIVE, attr::ORIGIN),
            PathAttribute::AsPath(_) => (FLAG_TRANSITIVE, attr::AS_PATH),
            PathAttribute::NextHop(_) => (FLAG_TRANSITIVE, attr::NEXT_HOP),
            PathAttribute::LocalPref(_) => (FLAG_TRANSITIVE, attr::LOCAL_PREF),
            // v0.9 sends 0xC0: optional transitive.
            PathAttribute::Communities(_) => (FLAG_OPTIONAL | FLAG_TRANSITIVE, attr::COMMUNITIES),
            PathAttribute::MpReach { .. } => (FLAG_OPTIONAL, attr::MP_REACH_NLRI),
            PathAttribute::MpUnreach { .. } => (FLAG_OPTIONAL, attr::MP_UNREACH_NLRI),
            PathAttribute::Other { flags, code, .. } => (*flags & !FLAG_EXTENDED_LENGTH, *code),
        }
    }

    fn emit_value(&self, codec: Codec, out: &mut Vec<u8>) {
        match self {
            PathAttribute::Origin(o) => out.push(*o),
            PathAttribute::AsPath(segs) => {
                for s in segs {
                    out.push(s.kind);
                    out.push(s.asns.len() as u8);
                    for asn in &s.asns {
                        if codec.four_octet_as {
                            out.extend_from_slice(&asn.to_be_bytes());
                        } else {
                            out.extend_from_slice(&(*asn as u16).to_be_bytes());
                        }
                    }
                }
            }
            PathAttribute::NextHop(a) => out.extend_from_slice(&a.octets()),
            PathAttribute::LocalPref(v) => out.extend_from_slice(&v.to_be_bytes()),
            PathAttribute::Communities(cs) => cs
                .iter()
                .for_each(|c| out.extend_from_slice(&c.to_be_bytes())),
            PathAttribute::MpReach {
                next_hop,
                link_local,
                nlri,
            } => {
                out.extend_from_slice(&[0, AFI_IPV6 as u8, SAFI_UNICAST]);
                out.push(if link_local.is_some() { 32 } else { 16 });
                out.extend_from_slice(&next_hop.octets());
                if let Some(ll) = link_local {
                    out.extend_from_slice(&ll.octets());
                }
                out.push(0);
                nlri.iter()
                    .for_each(|p| emit_prefix(out, &p.addr().octets(), p.prefix_len()));
            }
            PathAttribute::MpUnreach { withdrawn } => {
                out.extend_from_slice(&[0, AFI_IPV6 as u8, SAFI_UNICAST]);
                withdrawn
                    .iter()
                    .for_each(|p| emit_prefix(out, &p.addr().octets(), p.prefix_len()));
            }
            PathAttribute::Other { value, .. } => out.extend_from_slice(value),
        }
    }

    /// Flags, code, a 1-byte length (or 2 bytes with the extended-length flag when the
    /// value exceeds 255 bytes), value.
    pub fn emit(&self, codec: Codec, out: &mut Vec<u8>) {
        let mut value = Vec::new();
        self.emit_value(codec, &mut value);
        let (flags, code) = self.flags_and_code();
        if value.len() > 255 {
            out.extend_from_slice(&[flags | FLAG_EXTENDED_LENGTH, code]);
            out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        } else {
            out.extend_from_slice(&[flags, code, value.len() as u8]);
        }
        out.extend_from_slice(&value);
    }
}

fn to_v6(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    a.into()
}

impl UpdateRepr {
    /// Parses the body after the header.
    pub fn parse_body(body: &[u8], codec: Codec) -> Result<Self, UpdateError> {
        let mut c = Cursor::new(body);
        let wlen = c
            .u16()
            .ok_or_else(|| truncated("withdrawn routes length"))?;
        let withdrawn = parse_v4(
            c.take(usize::from(wlen))
                .ok_or_else(|| truncated("withdrawn routes"))?,
        )?;
        let alen = c.u16().ok_or_else(|| truncated("path attribute length"))?;
        let mut a = Cursor::new(
            c.take(usize::from(alen))
                .ok_or_else(|| truncated("path attributes"))?,
        );
        let mut attributes = Vec::new();
        while !a.is_empty() {
            let (Some(flags), Some(code)) = (a.u8(), a.u8()) else {
                return Err(truncated("a path attribute header"));
            };
            let len = if flags & FLAG_EXTENDED_LENGTH != 0 {
                a.u16()
            } else {
                a.u8().map(u16::from)
            };
            let len = len.ok_or_else(|| truncated("a path attribute length"))?;
            let value = a
                .take(usize::from(len))
                .ok_or_else(|| truncated("a path attribute value"))?;
            attributes.push(PathAttribute::parse(flags, code, value, codec)?);
        }
        Ok(UpdateRepr {
            withdrawn,
            attributes,
            nlri: parse_v4(c.rest)?,
        })
    }

    pub fn emit(&self, codec: Codec, out: &mut Vec<u8>) {
        let at = header::start(out, kind::UPDATE);
        let wlen_at = out.len();
        out.extend_from_slice(&[0, 0]);
        self.withdrawn
            .iter()
            .for_each(|p| emit_prefix(out, &p.addr().octets(), p.prefix_len()));
        let wlen = (out.len() - wlen_at - 2) as u16;
        out[wlen_at..wlen_at + 2].copy_from_slice(&wlen.to_be_bytes());
        let alen_at = out.len();
        out.extend_from_slice(&[0, 0]);
        self.attributes.iter().for_each(|a| a.emit(codec, out));
        let alen = (out.len() - alen_at - 2) as u16;
        out[alen_at..alen_at + 2].copy_from_slice(&alen.to_be_bytes());
        self.nlri
            .iter()
            .for_each(|p| emit_prefix(out, &p.addr().octets(), p.prefix_len()));
        header::finish(out, at);
    }

    pub fn to_bytes(&self, codec: Codec) -> Vec<u8> {
        let mut out = Vec::new();
        self.emit(codec, &mut out);
        out
    }
}

/// What a session knows when it builds UPDATEs (spec §4.6 "UPDATE encoding").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateBuilder {
    pub local_asn: u32,
    /// my-asn == peer-asn.
    pub ibgp: bool,
    pub four_octet_as: bool,
    /// NEXT_HOP for IPv4 prefixes (the session's local address in v0.9).
    pub next_hop_v4: Option<Ipv4Addr>,
    /// MP_REACH next hop for IPv6 prefixes.
    pub next_hop_v6: Option<Ipv6Addr>,
    /// Pack several prefixes with identical attributes into one UPDATE (v0.9 sends one each).
    pub pack: bool,
}

impl UpdateBuilder {
    pub fn codec(&self) -> Codec {
        Codec {
            four_octet_as: self.four_octet_as,
        }
    }

    /// ORIGIN, AS_PATH, [NEXT_HOP], [LOCAL_PREF for iBGP], [COMMUNITIES]: v0.9's order.
    fn common(&self, route: &RouteAttributes, next_hop: Option<Ipv4Addr>) -> Vec<PathAttribute> {
        let mut v = vec![PathAttribute::Origin(ORIGIN_INCOMPLETE)];
        v.push(PathAttribute::AsPath(if self.ibgp {
            Vec::new()
        } else if self.four_octet_as {
            vec![AsSegment {
                kind: AS_SEQUENCE,
                asns: vec![self.local_asn],
            }]
        } else {
            // v0.9 writes the low 16 bits; identical for every ASN it accepts except 65536,
            // where AS_TRANS is the RFC 6793 value.
            vec![AsSegment {
                kind: AS_SEQUENCE,
                asns: vec![u32::from(u16::try_from(self.local_asn).unwrap_or(AS_TRANS))],
            }]
        }));
        if let Some(nh) = next_hop {
            v.push(PathAttribute::NextHop(nh));
        }
        if self.ibgp {
            v.push(PathAttribute::LocalPref(route.local_pref));
        }
        if !route.communities.is_empty() {
            v.push(PathAttribute::Communities(route.communities.clone()));
        }
        v
    }

    fn attributes_len(&self, attrs: &[PathAttribute]) -> usize {
        let mut scratch = Vec::new();
        attrs
            .iter()
            .for_each(|a| a.emit(self.codec(), &mut scratch));
        scratch.len()
    }

    /// UPDATEs announcing IPv4 `prefixes` with `route`'s attributes; `None` when no IPv4
    /// next hop is known (an IPv6 session: v0.9 sent a malformed NEXT_HOP there).
    pub fn announce_v4(
        &self,
        route: &RouteAttributes,
        prefixes: &[Ipv4Net],
    ) -> Option<Vec<UpdateRepr>> {
        let attributes = self.common(route, Some(self.next_hop_v4?));
        let base = header::HEADER_LEN + 4 + self.attributes_len(&attributes);
        Some(
            self.chunks(base, prefixes, v4_prefix_len)
                .into_iter()
                .map(|nlri| UpdateRepr {
                    withdrawn: Vec::new(),
                    attributes: attributes.clone(),
                    nlri,
                })
                .collect(),
        )
    }

    /// UPDATEs announcing IPv6 `prefixes` in MP_REACH_NLRI; `None` without an IPv6 next hop.
    pub fn announce_v6(
        &self,
        route: &RouteAttributes,
        prefixes: &[Ipv6Net],
    ) -> Option<Vec<UpdateRepr>> {
        let next_hop = self.next_hop_v6?;
        let common = self.common(route, None);
        // MP_REACH header with a 2-byte length: flags, code, len, AFI, SAFI, NH len, NH, reserved.
        let base = header::HEADER_LEN + 4 + self.attributes_len(&common) + 4 + 3 + 1 + 16 + 1;
        Some(
            self.chunks(base, prefixes, v6_prefix_len)
                .into_iter()
                .map(|nlri| {
                    let mut attributes = common.clone();
                    attributes.push(PathAttribute::MpReach {
                        next_hop,
                        link_local: None,
                        nlri,
                    });
                    UpdateRepr {
                        withdrawn: Vec::new(),
                        attributes,
                        nlri: Vec::new(),
                    }
                })
                .collect(),
        )
    }

    /// v0.9's combined withdraw: all IPv4 prefixes in the Withdrawn Routes of one UPDATE
    /// (split only if they would exceed the 4096-byte message limit).
    pub fn withdraw_v4(&self, prefixes: &[Ipv4Net]) -> Vec<UpdateRepr> {
        split_by_size(header::HEADER_LEN + 4, prefixes, v4_prefix_len)
            .into_iter()
            .map(|withdrawn| UpdateRepr {
                withdrawn,
                ..UpdateRepr::default()
            })
            .collect()
    }

    /// IPv6 withdraws in MP_UNREACH_NLRI.
    pub fn withdraw_v6(&self, prefixes: &[Ipv6Net]) -> Vec<UpdateRepr> {
        split_by_size(header::HEADER_LEN + 4 + 4 + 3, prefixes, v6_prefix_len)
            .into_iter()
            .map(|withdrawn| UpdateRepr {
                attributes: vec![PathAttribute::MpUnreach { withdrawn }],
                ..UpdateRepr::default()
            })
            .collect()
    }

    fn chunks<P: Clone>(&self, base: usize, prefixes: &[P], cost: fn(&P) -> usize) -> Vec<Vec<P>> {
        if self.pack {
            split_by_size(base, prefixes, cost)
        } else {
            prefixes.iter().map(|p| vec![p.clone()]).collect()
        }
    }
}

/// Greedy split of `prefixes` into groups whose message stays within 4096 bytes.
fn split_by_size<P: Clone>(base: usize, prefixes: &[P], cost: fn(&P) -> usize) -> Vec<Vec<P>> {
    let mut out: Vec<Vec<P>> = Vec::new();
    let mut size = usize::MAX;
    for p in prefixes {
        let c = cost(p);
        if size.saturating_add(c) > MAX_MESSAGE_LEN {
            out.push(Vec::new());
            size = base;
        }
        size += c;
        if let Some(last) = out.last_mut() {
            last.push(p.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::test_hex as hex;

    fn net4(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn builder(asn: u32, ibgp: bool, fbasn: bool) -> UpdateBuilder {
        UpdateBuilder {
            local_asn: asn,
            ibgp,
            four_octet_as: fbasn,
            next_hop_v4: Some(Ipv4Addr::new(10, 0, 0, 5)),
            next_hop_v6: None,
            pack: true,
        }
    }

    fn one(b: &UpdateBuilder, route: RouteAttributes, prefix: &str) -> Vec<u8> {
        let msgs = b.announce_v4(&route, &[net4(prefix)]).unwrap();
        assert_eq!(msgs.len(), 1);
        msgs[0].to_bytes(b.codec())
    }

    #[test]
    fn e4_update_vectors_byte_for_byte() {
        let cases = [
            (
                "eBGP with 4-byte support, community 65535:65282",
                builder(64500, false, true),
                RouteAttributes {
                    local_pref: 0,
                    communities: vec![0xffffff02],
                },
                "192.168.10.1/32",
                "ffffffffffffffffffffffffffffffff0037020000001b4001010240020602010000fbf44003040a000005c00804ffffff0220c0a80a01",
            ),
            (
                "eBGP without 4-byte support",
                builder(64500, false, false),
                RouteAttributes::default(),
                "192.168.10.1/32",
                "ffffffffffffffffffffffffffffffff002e0200000012400101024002040201fbf44003040a00000520c0a80a01",
            ),
            (
                "iBGP, localpref 100, sorted communities",
                builder(64512, true, true),
                RouteAttributes::new(100, vec![0xfc000001, 0x000004d2]),
                "198.51.100.0/24",
                "ffffffffffffffffffffffffffffffff003b0200000020400101024002004003040a00000540050400000064c00808000004d2fc00000118c63364",
            ),
            (
                "iBGP default advertisement, localpref 0 still sent",
                builder(64512, true, true),
                RouteAttributes::default(),
                "198.51.100.10/32",
                "ffffffffffffffffffffffffffffffff00310200000015400101024002004003040a0000054005040000000020c633640a",
            ),
        ];
        for (name, b, route, prefix, h) in cases {
            let bytes = one(&b, route, prefix);
            assert_eq!(bytes, hex(h), "E.4 {name}");
            let back = UpdateRepr::parse_body(&bytes[19..], b.codec()).unwrap();
            assert_eq!(back.nlri, vec![net4(prefix)], "E.4 {name}");
        }
    }

    #[test]
    fn e4_combined_withdraw_byte_for_byte() {
        let b = builder(64500, false, true);
        let msgs = b.withdraw_v4(&[net4("192.168.10.1/32"), net4("198.51.100.0/24")]);
        assert_eq!(msgs.len(), 1);
        assert_eq!(
            msgs[0].to_bytes(b.codec()),
            hex("ffffffffffffffffffffffffffffffff002002000920c0a80a0118c633640000")
        );
    }

    #[test]
    fn unpacked_builder_sends_one_prefix_per_update_like_v09() {
        let mut b = builder(64500, false, true);
        b.pack = false;
        let ps = [
            net4("192.0.2.1/32"),
            net4("192.0.2.2/32"),
            net4("192.0.2.3/32"),
        ];
        let msgs = b.announce_v4(&RouteAttributes::default(), &ps).unwrap();
        assert_eq!(msgs.len(), 3);
        assert!(msgs.iter().zip(&ps).all(|(m, p)| m.nlri == vec![*p]));
    }

    #[test]
    fn packed_updates_stay_within_4096_bytes_and_keep_every_prefix() {
        let b = builder(64500, false, true);
        let ps: Vec<Ipv4Net> = (0..3000u32)
            .map(|i| Ipv4Net::new(Ipv4Addr::from(0xc000_0000 + i), 32).unwrap())
            .collect();
        let msgs = b.announce_v4(&RouteAttributes::default(), &ps).unwrap();
        assert!(msgs.len() > 1);
        let mut seen = Vec::new();
        for m in &msgs {
            let bytes = m.to_bytes(b.codec());
            assert!(bytes.len() <= MAX_MESSAGE_LEN, "{} bytes", bytes.len());
            seen.extend(m.nlri.iter().copied());
        }
        assert_eq!(seen, ps);
        // Same for the withdraw.
        let w = b.withdraw_v4(&ps);
        assert!(
            w.iter()
                .all(|m| m.to_bytes(b.codec()).len() <= MAX_MESSAGE_LEN)
        );
        assert_eq!(w.iter().map(|m| m.withdrawn.len()).sum::<usize>(), ps.len());
        assert!(
            msgs[0].to_bytes(b.codec()).len() > 4000,
            "packing fills messages"
        );
    }

    #[test]
    fn ipv6_prefixes_go_in_mp_reach_without_next_hop_attribute() {
        let mut b = builder(64512, true, true);
        b.next_hop_v6 = Some("2001:db8::5".parse().unwrap());
        let p: Ipv6Net = "2001:db8:1::10/128".parse().unwrap();
        let msgs = b
            .announce_v6(&RouteAttributes::new(100, vec![7]), &[p])
            .unwrap();
        assert_eq!(msgs.len(), 1);
        let bytes = msgs[0].to_bytes(b.codec());
        let expected = concat!(
            "ffffffffffffffffffffffffffffffff",
            "0055",
            "02",
            "0000",
            "003e",
            "40010102",
            "400200",
            "400504",
            "00000064",
            "c00804",
            "00000007",
            "800e",
            "26",
            "0002",
            "01",
            "10",
            "20010db8000000000000000000000005",
            "00",
            "80",
            "20010db8000100000000000000000010",
        );
        assert_eq!(bytes, hex(expected));
        let back = UpdateRepr::parse_body(&bytes[19..], b.codec()).unwrap();
        assert_eq!(back, msgs[0]);
        let w = b.withdraw_v6(&[p]);
        assert_eq!(
            w[0].to_bytes(b.codec()),
            hex(
                "ffffffffffffffffffffffffffffffff 002e 02 0000 0017 800f14 000201 80 20010db8000100000000000000000010"
            )
        );
    }

    #[test]
    fn packed_ipv6_updates_and_withdraws_stay_within_4096_bytes() {
        let mut b = builder(64500, false, true);
        b.next_hop_v6 = Some("2001:db8::5".parse().unwrap());
        let ps: Vec<Ipv6Net> = (0..1000u128)
            .map(|i| Ipv6Net::new(Ipv6Addr::from(0x2001_0db8_u128 << 96 | i), 128).unwrap())
            .collect();
        let route = RouteAttributes::new(0, (0..63).collect());
        let msgs = b.announce_v6(&route, &ps).unwrap();
        let withdraws = b.withdraw_v6(&ps);
        for m in msgs.iter().chain(&withdraws) {
            let bytes = m.to_bytes(b.codec());
            assert!(bytes.len() <= MAX_MESSAGE_LEN, "{} bytes", bytes.len());
            assert_eq!(&UpdateRepr::parse_body(&bytes[19..], b.codec()).unwrap(), m);
        }
        let announced: Vec<Ipv6Net> = msgs
            .iter()
            .flat_map(|m| match m.attributes.last() {
                Some(PathAttribute::MpReach { nlri, .. }) => nlri.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(announced, ps);
        assert!(msgs.len() < 10, "{} messages", msgs.len());
    }

    #[test]
    fn ipv4_announce_without_ipv4_next_hop_is_refused() {
        let mut b = builder(64500, false, true);
        b.next_hop_v4 = None;
        assert_eq!(
            b.announce_v4(&RouteAttributes::default(), &[net4("192.0.2.1/32")]),
            None
        );
    }

    #[test]
    fn asn_65536_without_four_octet_support_uses_as_trans_in_the_path() {
        let b = builder(65536, false, false);
        let m = &b
            .announce_v4(&RouteAttributes::default(), &[net4("192.0.2.1/32")])
            .unwrap()[0];
        assert_eq!(
            m.attributes[1],
            PathAttribute::AsPath(vec![AsSegment {
                kind: 2,
                asns: vec![23456]
            }])
        );
    }

    #[test]
    fn malformed_updates_are_errors_not_panics() {
        let codec = Codec::default();
        assert_eq!(
            UpdateRepr::parse_body(&[0], codec),
            Err(truncated("withdrawn routes length"))
        );
        assert_eq!(
            UpdateRepr::parse_body(&[0, 2, 33, 1], codec),
            Err(UpdateError::PrefixLength(33))
        );
        assert_eq!(
            UpdateRepr::parse_body(&[0, 2, 32, 1], codec),
            Err(truncated("a prefix"))
        );
        assert_eq!(
            UpdateRepr::parse_body(&[0, 0, 0, 4, 0x40, 1, 2, 0], codec),
            Err(truncated("a path attribute value"))
        );
        assert_eq!(
            UpdateRepr::parse_body(&[0, 0, 0, 5, 0x40, 3, 2, 0, 0], codec),
            Err(UpdateError::AttributeLength { code: 3, len: 2 })
        );
    }
}
