//! ARP over Ethernet: the frames a v0.9 speaker reads and writes (spec §4.5).
//!
//! The views are `pnet_packet`'s (`EthernetPacket`, `ArpPacket`: length-checked on
//! construction, fixed Ethernet/IPv4 layout); [`ArpFrame`] is the `Repr` with `parse` and
//! `emit`. Frames are emitted as v0.9's ARP library writes them: 14-byte Ethernet header,
//! 28-byte ARP body, zero padding to the 60-byte Ethernet minimum.
//!
//! Divergence (documented): v0.9 accepts any hardware and protocol type in a request as long
//! as the address lengths fit; we require Ethernet (1) / IPv4 (0x0800) with 6- and 4-byte
//! addresses, as RFC 826 asks. Requests that differ could not be answered correctly anyway.

use std::net::{IpAddr, Ipv4Addr};

use pnet_packet::Packet;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperation, ArpPacket, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};

use super::{DropReason, MacAddr, Malformed};

/// Ethernet header length.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Ethernet/IPv4 ARP body length.
pub const ARP_LEN: usize = 28;
/// Length of every frame we emit: the Ethernet minimum without FCS.
pub const FRAME_LEN: usize = 60;

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// 1
    Request,
    /// 2
    Reply,
    /// Anything else.
    Other(u16),
}

impl From<u16> for Operation {
    fn from(code: u16) -> Self {
        match code {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Other(other),
        }
    }
}

impl From<Operation> for u16 {
    fn from(op: Operation) -> u16 {
        match op {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Other(code) => code,
        }
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// `ar$op`
    pub operation: Operation,
    /// `ar$sha`
    pub sender_mac: MacAddr,
    /// `ar$spa`
    pub sender_ip: Ipv4Addr,
    /// `ar$tha`
    pub target_mac: MacAddr,
    /// `ar$tpa`
    pub target_ip: Ipv4Addr,
}

/// An Ethernet frame carrying ARP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpFrame {
    /// Ethernet destination.
    pub destination: MacAddr,
    /// Ethernet source.
    pub source: MacAddr,
    /// The ARP packet.
    pub arp: ArpRepr,
}

fn mac(m: pnet_base::MacAddr) -> MacAddr {
    MacAddr(m.octets())
}

fn pnet_mac(m: MacAddr) -> pnet_base::MacAddr {
    let [a, b, c, d, e, f] = m.0;
    pnet_base::MacAddr(a, b, c, d, e, f)
}

impl ArpFrame {
    /// Decodes a received frame (trailing padding is ignored).
    pub fn parse(frame: &[u8]) -> Result<ArpFrame, Malformed> {
        let eth = EthernetPacket::new(frame).ok_or(Malformed::Truncated)?;
        if eth.get_ethertype() != EtherTypes::Arp {
            return Err(Malformed::NotArp);
        }
        let body = eth.payload();
        let arp = ArpPacket::new(body).ok_or(Malformed::Truncated)?;
        if arp.get_hardware_type() != ArpHardwareTypes::Ethernet
            || arp.get_protocol_type() != EtherTypes::Ipv4
            || arp.get_hw_addr_len() != 6
            || arp.get_proto_addr_len() != 4
        {
            return Err(Malformed::UnsupportedAddresses);
        }
        Ok(ArpFrame {
            destination: mac(eth.get_destination()),
            source: mac(eth.get_source()),
            arp: ArpRepr {
                operation: arp.get_operation().0.into(),
                sender_mac: mac(arp.get_sender_hw_addr()),
                sender_ip: arp.get_sender_proto_addr(),
                target_mac: mac(arp.get_target_hw_addr()),
                target_ip: arp.get_target_proto_addr(),
            },
        })
    }

    /// Writes the frame into `buf` (at least [`FRAME_LEN`] bytes), zero-padded; returns
    /// the frame length, or `None` if `buf` is too short.
    pub fn emit(&self, buf: &mut [u8]) -> Option<usize> {
        let buf = buf.get_mut(..FRAME_LEN)?;
        buf.fill(0);
        let (head, body) = buf.split_at_mut(ETHERNET_HEADER_LEN);
        let mut eth = MutableEthernetPacket::new(head)?;
        eth.set_destination(pnet_mac(self.destination));
        eth.set_source(pnet_mac(self.source));
        eth.set_ethertype(EtherTypes::Arp);
        let mut arp = MutableArpPacket::new(&mut body[..ARP_LEN])?;
        arp.set_hardware_type(ArpHardwareTypes::Ethernet);
        arp.set_protocol_type(EtherTypes::Ipv4);
        arp.set_hw_addr_len(6);
        arp.set_proto_addr_len(4);
        arp.set_operation(ArpOperation(self.arp.operation.into()));
        arp.set_sender_hw_addr(pnet_mac(self.arp.sender_mac));
        arp.set_sender_proto_addr(self.arp.sender_ip);
        arp.set_target_hw_addr(pnet_mac(self.arp.target_mac));
        arp.set_target_proto_addr(self.arp.target_ip);
        Some(FRAME_LEN)
    }

    /// The frame as bytes.
    pub fn to_bytes(&self) -> [u8; FRAME_LEN] {
        let mut buf = [0u8; FRAME_LEN];
        self.emit(&mut buf).expect("FRAME_LEN bytes hold an Ethernet ARP frame");
        buf
    }
}

/// A request this speaker answers, and the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpAnswer {
    /// The request (log keys `ip`, `senderIP`, `senderMAC`).
    pub request: ArpRepr,
    /// The reply frame to send.
    pub reply: ArpFrame,
}

/// v0.9's ARP responder decision for one received frame on an interface with MAC
/// `interface_mac`; `announced` says whether an IP is in the announcement set.
///
/// Checks in v0.9's order: decodes, is a request, Ethernet destination is broadcast or
/// ours, target announced. The sender IP is not checked, so probes from 0.0.0.0 are answered.
pub fn answer(frame: &[u8], interface_mac: MacAddr, announced: impl Fn(IpAddr) -> bool) -> Result<ArpAnswer, DropReason> {
    let request = ArpFrame::parse(frame)?;
    if request.arp.operation != Operation::Request {
        return Err(DropReason::NotRequest);
    }
    if request.destination != MacAddr::BROADCAST && request.destination != interface_mac {
        return Err(DropReason::EthernetDestination);
    }
    if !announced(IpAddr::V4(request.arp.target_ip)) {
        return Err(DropReason::NotAnnounced);
    }
    let arp = request.arp;
    let reply = ArpFrame {
        // Unicast to the MAC in the ARP payload, not the Ethernet source (as v0.9).
        destination: arp.sender_mac,
        source: interface_mac,
        arp: ArpRepr {
            operation: Operation::Reply,
            sender_mac: interface_mac,
            sender_ip: arp.target_ip,
            target_mac: arp.sender_mac,
            target_ip: arp.sender_ip,
        },
    };
    Ok(ArpAnswer { request: arp, reply })
}

/// One gratuitous round for `ip` on an interface: an ARP request and an ARP reply, both
/// broadcast, sender = target = `ip`, target MAC broadcast.
pub fn gratuitous(interface_mac: MacAddr, ip: Ipv4Addr) -> [ArpFrame; 2] {
    [Operation::Request, Operation::Reply].map(|operation| ArpFrame {
        destination: MacAddr::BROADCAST,
        source: interface_mac,
        arp: ArpRepr { operation, sender_mac: interface_mac, sender_ip: ip, target_mac: MacAddr::BROADCAST, target_ip: ip },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OURS: MacAddr = MacAddr([0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
    const REQUESTER: MacAddr = MacAddr([1, 2, 3, 4, 5, 6]);

    /// D.6 defaults: Ethernet destination ours, request for 192.168.1.10 from
    /// 01:02:03:04:05:06 / 192.168.1.1.
    fn request() -> ArpFrame {
        ArpFrame {
            destination: OURS,
            source: REQUESTER,
            arp: ArpRepr {
                operation: Operation::Request,
                sender_mac: REQUESTER,
                sender_ip: Ipv4Addr::new(192, 168, 1, 1),
                target_mac: MacAddr([0; 6]),
                target_ip: Ipv4Addr::new(192, 168, 1, 10),
            },
        }
    }

    fn allow_all(_: IpAddr) -> bool {
        true
    }

    fn only_20(ip: IpAddr) -> bool {
        ip == IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20))
    }

    #[test]
    fn drop_reasons_follow_d6() {
        let mut reply_op = request();
        reply_op.arp.operation = Operation::Reply;
        let mut bad_dst = request();
        bad_dst.destination = MacAddr([6, 5, 4, 3, 2, 1]);
        let mut broadcast = request();
        broadcast.destination = MacAddr::BROADCAST;
        let mut for_20 = request();
        for_20.arp.target_ip = Ipv4Addr::new(192, 168, 1, 20);
        type Case = (&'static str, ArpFrame, fn(IpAddr) -> bool, Option<DropReason>);
        let cases: [Case; 6] = [
            ("D.6 ARP reply", reply_op, allow_all, Some(DropReason::NotRequest)),
            ("D.6 bad Ethernet destination", bad_dst, allow_all, Some(DropReason::EthernetDestination)),
            ("D.6 OK (unicast)", request(), allow_all, None),
            ("D.6 OK (broadcast)", broadcast, allow_all, None),
            ("D.6 shouldAnnounce denies request", request(), only_20, Some(DropReason::NotAnnounced)),
            ("D.6 shouldAnnounce allows request", for_20, only_20, None),
        ];
        for (id, frame, policy, want) in cases {
            let got = answer(&frame.to_bytes(), OURS, policy);
            assert_eq!(got.err(), want, "{id}");
        }
    }

    #[test]
    fn reply_is_unicast_to_the_requester_with_our_mac_for_the_requested_ip() {
        let got = answer(&request().to_bytes(), OURS, allow_all).unwrap();
        let want = ArpFrame {
            destination: REQUESTER,
            source: OURS,
            arp: ArpRepr {
                operation: Operation::Reply,
                sender_mac: OURS,
                sender_ip: Ipv4Addr::new(192, 168, 1, 10),
                target_mac: REQUESTER,
                target_ip: Ipv4Addr::new(192, 168, 1, 1),
            },
        };
        assert_eq!(got.reply, want);
        #[rustfmt::skip]
        let bytes: [u8; 42] = [
            1, 2, 3, 4, 5, 6,  0x00, 0x11, 0x22, 0x33, 0x44, 0x55,  0x08, 0x06,
            0, 1,  0x08, 0x00,  6, 4,  0, 2,
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55,  192, 168, 1, 10,
            1, 2, 3, 4, 5, 6,  192, 168, 1, 1,
        ];
        let emitted = got.reply.to_bytes();
        assert_eq!(emitted[..42], bytes);
        assert_eq!(emitted[42..], [0u8; 18], "zero padding to 60 bytes, as v0.9's Ethernet library");
    }

    #[test]
    fn probe_from_unspecified_sender_is_answered() {
        let mut probe = request();
        probe.destination = MacAddr::BROADCAST;
        probe.arp.sender_ip = Ipv4Addr::UNSPECIFIED;
        let got = answer(&probe.to_bytes(), OURS, allow_all).unwrap();
        assert_eq!(got.reply.arp.target_ip, Ipv4Addr::UNSPECIFIED);
    }

    #[test]
    fn gratuitous_round_is_a_broadcast_request_and_reply_for_the_ip() {
        let ip = Ipv4Addr::new(192, 0, 2, 7);
        let [req, rep] = gratuitous(OURS, ip);
        for (frame, op) in [(req, Operation::Request), (rep, Operation::Reply)] {
            assert_eq!(frame.destination, MacAddr::BROADCAST);
            assert_eq!(frame.source, OURS);
            assert_eq!(
                frame.arp,
                ArpRepr { operation: op, sender_mac: OURS, sender_ip: ip, target_mac: MacAddr::BROADCAST, target_ip: ip }
            );
        }
    }

    #[test]
    fn undecodable_frames_are_malformed() {
        let good = request().to_bytes();
        let mut not_arp = good;
        not_arp[12..14].copy_from_slice(&[0x08, 0x00]);
        let mut ieee802 = good;
        ieee802[15] = 6;
        let mut long_hw = good;
        long_hw[18] = 8;
        let cases: [(&str, &[u8], Malformed); 5] = [
            ("empty", &[], Malformed::Truncated),
            ("Ethernet header only", &good[..14], Malformed::Truncated),
            ("ARP body cut", &good[..41], Malformed::Truncated),
            ("IPv4 EtherType", &not_arp, Malformed::NotArp),
            ("IEEE 802 hardware", &ieee802, Malformed::UnsupportedAddresses),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(ArpFrame::parse(bytes), Err(want), "{name}");
        }
        assert_eq!(ArpFrame::parse(&long_hw), Err(Malformed::UnsupportedAddresses));
        assert!(ArpFrame::parse(&good[..42]).is_ok(), "an unpadded 42-byte frame decodes");
    }

    fn arb_mac() -> impl Strategy<Value = MacAddr> {
        any::<[u8; 6]>().prop_map(MacAddr)
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(dst in arb_mac(), src in arb_mac(), op in any::<u16>(), smac in arb_mac(),
                                       sip in any::<u32>(), tmac in arb_mac(), tip in any::<u32>()) {
            let frame = ArpFrame { destination: dst, source: src, arp: ArpRepr {
                operation: op.into(), sender_mac: smac, sender_ip: sip.into(), target_mac: tmac, target_ip: tip.into() } };
            prop_assert_eq!(ArpFrame::parse(&frame.to_bytes()), Ok(frame));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = answer(&bytes, OURS, allow_all);
        }
    }
}
