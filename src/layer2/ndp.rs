//! NDP: Neighbor Solicitations in, Neighbor Advertisements out (spec §4.5).
//!
//! The responder's socket is a raw ICMPv6 socket (the kernel strips the IPv6 header, checks
//! and fills the checksum), so these codecs work on ICMPv6 messages; the IPv6 source comes
//! from `recvfrom`. The fixed parts use `pnet_packet`'s NDP views. The options are walked
//! here: `pnet_packet` 0.35 computes an option's length as `u8 * 8`, which overflows (a
//! panic in debug builds) on lengths ≥ 32 that any host on the link can send.
//!
//! Like v0.9 (mdlayher/ndp): an option of length 0 or running past the end, or a link-layer
//! address option that is not 8 bytes long, makes the whole message undecodable; an
//! IPv4-mapped target is rejected; the ICMPv6 code is not checked.

use std::net::{IpAddr, Ipv6Addr};

use pnet_packet::icmpv6::Icmpv6Types;
use pnet_packet::icmpv6::ndp::{MutableNeighborAdvertPacket, NeighborAdvertFlags, NeighborSolicitPacket};
use pnet_packet::{MutablePacket, Packet};

use super::{DropReason, MacAddr, Malformed};

const OPTION_SOURCE_LLA: u8 = 1;
const OPTION_TARGET_LLA: u8 = 2;
/// Length of a Neighbor Advertisement with a Target Link-Layer Address option.
pub const NA_LEN: usize = 32;
/// `ff02::1`, where unsolicited advertisements go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A decoded Neighbor Solicitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborSolicitation {
    /// The address being resolved.
    pub target: Ipv6Addr,
    /// The first Source Link-Layer Address option, if any.
    pub source_lla: Option<MacAddr>,
}

/// A decoded ICMPv6 message, as far as the responder cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdpMessage {
    /// Type 135.
    NeighborSolicitation(NeighborSolicitation),
    /// Any other ICMPv6 type.
    Other(u8),
}

impl NdpMessage {
    /// Decodes an ICMPv6 message.
    pub fn parse(message: &[u8]) -> Result<NdpMessage, Malformed> {
        let Some(&kind) = message.first() else {
            return Err(Malformed::Truncated);
        };
        if message.len() < 4 {
            return Err(Malformed::Truncated);
        }
        if kind != Icmpv6Types::NeighborSolicit.0 {
            return Ok(NdpMessage::Other(kind));
        }
        let ns = NeighborSolicitPacket::new(message).ok_or(Malformed::Truncated)?;
        let target = ns.get_target_addr();
        if target.to_ipv4_mapped().is_some() {
            return Err(Malformed::TargetNotIpv6);
        }
        let mut source_lla = None;
        let mut rest = ns.payload_options();
        while !rest.is_empty() {
            let [kind, units, ..] = *rest else {
                return Err(Malformed::Truncated);
            };
            let len = usize::from(units) * 8;
            if len == 0 {
                return Err(Malformed::BadOption);
            }
            let option = rest.get(..len).ok_or(Malformed::Truncated)?;
            if kind == OPTION_SOURCE_LLA || kind == OPTION_TARGET_LLA {
                let mac: [u8; 6] = option[2..].try_into().map_err(|_| Malformed::BadOption)?;
                if kind == OPTION_SOURCE_LLA && source_lla.is_none() {
                    source_lla = Some(MacAddr(mac));
                }
            }
            rest = &rest[len..];
        }
        Ok(NdpMessage::NeighborSolicitation(NeighborSolicitation { target, source_lla }))
    }
}

trait PayloadOptions {
    fn payload_options(&self) -> &[u8];
}

impl PayloadOptions for NeighborSolicitPacket<'_> {
    /// Everything after the 24-byte fixed part.
    fn payload_options(&self) -> &[u8] {
        self.packet().get(24..).unwrap_or(&[])
    }
}

/// A Neighbor Advertisement with a Target Link-Layer Address option (Router=0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborAdvertisement {
    /// S flag: 1 in answer to a solicitation.
    pub solicited: bool,
    /// O flag: 1 only in unsolicited (gratuitous) advertisements, as v0.9.
    pub override_flag: bool,
    /// The advertised address.
    pub target: Ipv6Addr,
    /// The Target Link-Layer Address option: the interface's MAC.
    pub target_lla: MacAddr,
}

impl NeighborAdvertisement {
    /// Writes the ICMPv6 message (checksum 0: the kernel fills it) into `buf`; returns its
    /// length, or `None` if `buf` is shorter than [`NA_LEN`].
    pub fn emit(&self, buf: &mut [u8]) -> Option<usize> {
        let buf = buf.get_mut(..NA_LEN)?;
        buf.fill(0);
        let mut na = MutableNeighborAdvertPacket::new(buf)?;
        na.set_icmpv6_type(Icmpv6Types::NeighborAdvert);
        let mut flags = 0;
        if self.solicited {
            flags |= NeighborAdvertFlags::Solicited;
        }
        if self.override_flag {
            flags |= NeighborAdvertFlags::Override;
        }
        na.set_flags(flags);
        na.set_target_addr(self.target);
        let option = &mut na.packet_mut()[24..NA_LEN];
        option[0] = OPTION_TARGET_LLA;
        option[1] = 1;
        option[2..].copy_from_slice(&self.target_lla.0);
        Some(NA_LEN)
    }

    /// The message as bytes.
    pub fn to_bytes(&self) -> [u8; NA_LEN] {
        let mut buf = [0u8; NA_LEN];
        self.emit(&mut buf).expect("NA_LEN bytes hold a neighbor advertisement");
        buf
    }

    /// Decodes an advertisement of the shape we emit (used by tests and the fuzz target).
    pub fn parse(message: &[u8]) -> Result<NeighborAdvertisement, Malformed> {
        let m = message.get(..NA_LEN).ok_or(Malformed::Truncated)?;
        if m[0] != Icmpv6Types::NeighborAdvert.0 || m[24] != OPTION_TARGET_LLA || m[25] != 1 {
            return Err(Malformed::BadOption);
        }
        let target: [u8; 16] = m[8..24].try_into().map_err(|_| Malformed::Truncated)?;
        let mac: [u8; 6] = m[26..32].try_into().map_err(|_| Malformed::Truncated)?;
        Ok(NeighborAdvertisement {
            solicited: m[4] & NeighborAdvertFlags::Solicited != 0,
            override_flag: m[4] & NeighborAdvertFlags::Override != 0,
            target: target.into(),
            target_lla: MacAddr(mac),
        })
    }
}

/// A solicitation this speaker answers, and the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdpAnswer {
    /// The solicitation (log keys `ip`, `senderIP`, `senderLLAddr`).
    pub request: NeighborSolicitation,
    /// Where to send the advertisement: the solicitation's source.
    pub destination: Ipv6Addr,
    /// The advertisement.
    pub reply: NeighborAdvertisement,
}

/// v0.9's NDP responder decision for one ICMPv6 `message` from `source`, received by the
/// responder bound to `own_address` on an interface with MAC `interface_mac`.
pub fn answer(
    message: &[u8],
    source: Ipv6Addr,
    own_address: Ipv6Addr,
    interface_mac: MacAddr,
    announced: impl Fn(IpAddr) -> bool,
) -> Result<NdpAnswer, DropReason> {
    if source == own_address {
        return Err(DropReason::OwnMessage);
    }
    let NdpMessage::NeighborSolicitation(ns) = NdpMessage::parse(message)? else {
        return Err(DropReason::MessageType);
    };
    // DAD probes (source ::) carry no source link-layer address (RFC 4861 §7.1.1); the
    // explicit check also keeps a malformed probe with one from making us send to `::`.
    if ns.source_lla.is_none() || source.is_unspecified() {
        return Err(DropReason::NoSourceLinkLayerAddress);
    }
    if !announced(IpAddr::V6(ns.target)) {
        return Err(DropReason::NotAnnounced);
    }
    Ok(NdpAnswer {
        request: ns,
        destination: source,
        reply: NeighborAdvertisement { solicited: true, override_flag: false, target: ns.target, target_lla: interface_mac },
    })
}

/// The unsolicited advertisement of one gratuitous round, sent to [`ALL_NODES`].
pub fn gratuitous(interface_mac: MacAddr, ip: Ipv6Addr) -> NeighborAdvertisement {
    NeighborAdvertisement { solicited: false, override_flag: true, target: ip, target_lla: interface_mac }
}

/// The solicited-node multicast group of `ip`: `ff02::1:ff` followed by its low 24 bits.
pub fn solicited_node_multicast(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OURS: MacAddr = MacAddr([0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
    const THEIRS: MacAddr = MacAddr([1, 2, 3, 4, 5, 6]);

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn ns(target: &str, options: &[u8]) -> Vec<u8> {
        let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&ip(target).octets());
        m.extend_from_slice(options);
        m
    }

    fn slla(mac: MacAddr) -> Vec<u8> {
        let mut o = vec![OPTION_SOURCE_LLA, 1];
        o.extend_from_slice(&mac.0);
        o
    }

    fn allow_all(_: IpAddr) -> bool {
        true
    }

    #[test]
    fn solicitation_with_source_lla_is_answered_solicited_not_override() {
        let got = answer(&ns("2001:db8::10", &slla(THEIRS)), ip("fe80::2"), ip("fe80::1"), OURS, allow_all).unwrap();
        assert_eq!(got.destination, ip("fe80::2"));
        assert_eq!(got.request.source_lla, Some(THEIRS));
        assert_eq!(
            got.reply,
            NeighborAdvertisement { solicited: true, override_flag: false, target: ip("2001:db8::10"), target_lla: OURS }
        );
        let mut want = vec![136, 0, 0, 0, 0x40, 0, 0, 0];
        want.extend_from_slice(&ip("2001:db8::10").octets());
        want.extend_from_slice(&[2, 1, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(got.reply.to_bytes().as_slice(), want.as_slice());
    }

    #[test]
    fn solicitations_are_dropped_for_v09_reasons() {
        let only_20 = |a: IpAddr| a == IpAddr::V6(ip("2001:db8::20"));
        let mut target_lla_only = vec![OPTION_TARGET_LLA, 1];
        target_lla_only.extend_from_slice(&THEIRS.0);
        let na = gratuitous(OURS, ip("2001:db8::10")).to_bytes();
        let good = ns("2001:db8::10", &slla(THEIRS));
        type Case<'a> = (&'a str, Vec<u8>, Ipv6Addr, DropReason);
        let cases: [Case; 6] = [
            ("from our own address", good.clone(), ip("fe80::1"), DropReason::OwnMessage),
            ("an advertisement", na.to_vec(), ip("fe80::2"), DropReason::MessageType),
            ("no options", ns("2001:db8::10", &[]), ip("fe80::2"), DropReason::NoSourceLinkLayerAddress),
            ("only a target LLA", ns("2001:db8::10", &target_lla_only), ip("fe80::2"), DropReason::NoSourceLinkLayerAddress),
            ("DAD probe", ns("2001:db8::10", &[]), Ipv6Addr::UNSPECIFIED, DropReason::NoSourceLinkLayerAddress),
            ("not announced", good, ip("fe80::2"), DropReason::NotAnnounced),
        ];
        for (name, message, source, want) in cases {
            assert_eq!(answer(&message, source, ip("fe80::1"), OURS, only_20).err(), Some(want), "{name}");
        }
    }

    #[test]
    fn malformed_solicitations_are_typed_errors() {
        let mut zero_len = slla(THEIRS);
        zero_len.extend_from_slice(&[14, 0]);
        let mut long_lla = vec![OPTION_SOURCE_LLA, 2];
        long_lla.extend_from_slice(&[0; 14]);
        let mut past_end = slla(THEIRS);
        past_end.extend_from_slice(&[14, 200, 0, 0]);
        let cases: [(&str, Vec<u8>, Malformed); 6] = [
            ("empty", vec![], Malformed::Truncated),
            ("fixed part cut", ns("2001:db8::10", &[])[..23].to_vec(), Malformed::Truncated),
            ("zero-length option", ns("2001:db8::10", &zero_len), Malformed::BadOption),
            ("16-byte link-layer option", ns("2001:db8::10", &long_lla), Malformed::BadOption),
            ("option past the end (length ≥ 32 units)", ns("2001:db8::10", &past_end), Malformed::Truncated),
            ("IPv4-mapped target", ns("::ffff:192.0.2.1", &slla(THEIRS)), Malformed::TargetNotIpv6),
        ];
        for (name, message, want) in cases {
            assert_eq!(NdpMessage::parse(&message), Err(want), "{name}");
        }
    }

    #[test]
    fn unknown_options_are_skipped() {
        let mut options = vec![14, 1, 0, 0, 0, 0, 0, 0];
        options.extend(slla(THEIRS));
        let parsed = NdpMessage::parse(&ns("2001:db8::10", &options)).unwrap();
        assert_eq!(parsed, NdpMessage::NeighborSolicitation(NeighborSolicitation { target: ip("2001:db8::10"), source_lla: Some(THEIRS) }));
    }

    #[test]
    fn gratuitous_advertisement_overrides_and_is_not_solicited() {
        let na = gratuitous(OURS, ip("2001:db8::7"));
        assert_eq!(na.to_bytes()[4], 0x20);
        assert_eq!(NeighborAdvertisement::parse(&na.to_bytes()), Ok(na));
    }

    #[test]
    fn solicited_node_group_keeps_the_low_24_bits() {
        assert_eq!(solicited_node_multicast(ip("2001:db8::abcd:1234:5678")), ip("ff02::1:ff34:5678"));
        assert_eq!(solicited_node_multicast(ip("fe80::1")), ip("ff02::1:ff00:1"));
    }

    proptest! {
        #[test]
        fn arbitrary_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = answer(&bytes, ip("fe80::2"), ip("fe80::1"), OURS, allow_all);
        }

        #[test]
        fn advertisement_round_trips(s in any::<bool>(), o in any::<bool>(), t in any::<u128>(), mac in any::<[u8; 6]>()) {
            let na = NeighborAdvertisement { solicited: s, override_flag: o, target: t.into(), target_lla: MacAddr(mac) };
            prop_assert_eq!(NeighborAdvertisement::parse(&na.to_bytes()), Ok(na));
        }
    }
}
