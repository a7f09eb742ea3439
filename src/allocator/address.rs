//! The allocator's address: one `u128` for both families.
//!
//! v0.9 keys its maps by `ip.String()`, and Go's `net.IP` treats an IPv4-mapped IPv6 address
//! (`::ffff:1.2.3.4`) as the IPv4 address. We encode IPv4 as its mapped form, so the encoding
//! is a bijection with Go's distinct IPs, and canonicalise every input through it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A canonical address: IPv4 as `::ffff:a.b.c.d`, IPv6 as itself.
pub(crate) type Addr = u128;

const V4_MAPPED: u128 = 0xffff_0000_0000;

/// The canonical encoding of `ip` (an IPv4-mapped IPv6 address becomes IPv4, as in Go).
pub(crate) fn encode(ip: IpAddr) -> Addr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => V4_MAPPED | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The encoding of an IPv4 address.
pub(crate) fn encode_v4(v4: Ipv4Addr) -> Addr {
    V4_MAPPED | u128::from(u32::from(v4))
}

/// The address `a` encodes.
pub(crate) fn decode(a: Addr) -> IpAddr {
    if is_v4(a) { IpAddr::V4(Ipv4Addr::from(a as u32)) } else { IpAddr::V6(Ipv6Addr::from(a)) }
}

/// Whether `a` encodes an IPv4 address.
pub(crate) fn is_v4(a: Addr) -> bool {
    a >> 32 == 0xffff
}

/// v0.9's `ipConfusesBuggyFirmwares`: an IPv4 address ending in .0 or .255.
pub(crate) fn confuses_buggy_firmware(a: Addr) -> bool {
    is_v4(a) && matches!(a & 0xff, 0 | 255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_address() {
        let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
        let v4: IpAddr = "1.2.3.4".parse().unwrap();
        assert_eq!(encode(mapped), encode(v4));
        assert_eq!(decode(encode(mapped)), v4);
        assert!(is_v4(encode(mapped)));
    }

    #[test]
    fn ipv6_round_trips_and_is_not_v4() {
        for s in ["::", "1000::4:5", "2001:db8::1", "::1.2.3.4", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"] {
            let ip: IpAddr = s.parse().unwrap();
            assert_eq!(decode(encode(ip)), ip, "{s}");
            assert!(!is_v4(encode(ip)), "{s}");
        }
    }

    #[test]
    fn buggy_firmware_addresses_are_ipv4_dot_zero_and_dot_255_only() {
        let enc = |s: &str| encode(s.parse().unwrap());
        assert!(confuses_buggy_firmware(enc("1.2.4.0")));
        assert!(confuses_buggy_firmware(enc("1.2.4.255")));
        assert!(!confuses_buggy_firmware(enc("1.2.4.254")));
        assert!(!confuses_buggy_firmware(enc("1000::4:0")));
        assert!(!confuses_buggy_firmware(enc("1000::4:ff")));
    }
}
