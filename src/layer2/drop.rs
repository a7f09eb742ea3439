//! Why a received ARP or NDP packet is not answered.

use std::fmt;

/// Why a request was dropped. The first five are v0.9's drop reasons (`internal/layer2`);
/// [`DropReason::Malformed`] is ours: v0.9 skips undecodable packets silently, ferrolb counts
/// them (the `metallb_layer2_malformed_dropped` counter, label `reason` = [`Malformed::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// ARP: the operation is not a request (v0.9 `dropReasonARPReply`).
    NotRequest,
    /// ARP: the Ethernet destination is neither broadcast nor the interface's MAC.
    EthernetDestination,
    /// NDP: the ICMPv6 message is not a Neighbor Solicitation.
    MessageType,
    /// NDP: the solicitation has no Source Link-Layer Address option (DAD probes have none).
    NoSourceLinkLayerAddress,
    /// The target IP is not announced by this speaker.
    NotAnnounced,
    /// NDP: the message came from the responder's own link-local address.
    OwnMessage,
    /// The packet does not decode.
    Malformed(Malformed),
}

/// How a packet failed to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Malformed {
    /// Shorter than its fixed part or than a length field says.
    #[error("truncated")]
    Truncated,
    /// ARP: the EtherType is not 0x0806.
    #[error("not ARP")]
    NotArp,
    /// ARP: not Ethernet (1) / IPv4 (0x0800) with 6- and 4-byte addresses.
    #[error("not Ethernet/IPv4 ARP")]
    UnsupportedAddresses,
    /// NDP: an option with length 0, or a link-layer address option that is not 8 bytes.
    #[error("bad NDP option")]
    BadOption,
    /// NDP: the target is an IPv4-mapped address.
    #[error("target is not IPv6")]
    TargetNotIpv6,
}

impl Malformed {
    /// The `reason` label of the malformed-packet counter.
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::Truncated => "truncated",
            Malformed::NotArp => "notARP",
            Malformed::UnsupportedAddresses => "unsupportedAddresses",
            Malformed::BadOption => "badOption",
            Malformed::TargetNotIpv6 => "targetNotIPv6",
        }
    }
}

impl From<Malformed> for DropReason {
    fn from(m: Malformed) -> Self {
        DropReason::Malformed(m)
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::NotRequest => f.write_str("not an ARP request"),
            DropReason::EthernetDestination => f.write_str("Ethernet destination is not broadcast or ours"),
            DropReason::MessageType => f.write_str("not a neighbor solicitation"),
            DropReason::NoSourceLinkLayerAddress => f.write_str("no source link-layer address option"),
            DropReason::NotAnnounced => f.write_str("target IP not announced"),
            DropReason::OwnMessage => f.write_str("sent by ourselves"),
            DropReason::Malformed(m) => write!(f, "malformed: {m}"),
        }
    }
}
