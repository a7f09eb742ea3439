//! Router-ID choice (spec §4.6 connect step 3, vector E.6). The shell looks up the
//! interface holding an IPv6 local address and passes its first IPv4 address in.

use std::net::{IpAddr, Ipv4Addr};

/// The configured router-id if IPv4; else the local address of the TCP session if it is
/// IPv4 (also IPv4-mapped IPv6, as Go's `To4` sees it); else `interface_ipv4`; else the
/// CRC-32 of the node name.
pub fn router_id(
    configured: Option<IpAddr>,
    local: IpAddr,
    interface_ipv4: Option<Ipv4Addr>,
    node_name: &str,
) -> Ipv4Addr {
    if let Some(id) = configured.and_then(to4) {
        return id;
    }
    to4(local)
        .or(interface_ipv4)
        .unwrap_or_else(|| hashed_router_id(node_name))
}

/// Go's `net.IP.To4`: IPv4, or IPv4-mapped IPv6.
pub(crate) fn to4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    }
}

/// The 4 bytes of the CRC-32 (IEEE) of the node name in little-endian order.
pub fn hashed_router_id(node_name: &str) -> Ipv4Addr {
    Ipv4Addr::from(crc32fast::hash(node_name.as_bytes()).to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e6_crc32_little_endian_router_ids() {
        for (name, crc, id) in [
            ("node1", 0x85ef2540u32, "64.37.239.133"),
            ("worker-0", 0x4b3f4036, "54.64.63.75"),
            ("pandora", 0x44ddbc75, "117.188.221.68"),
        ] {
            assert_eq!(crc32fast::hash(name.as_bytes()), crc, "{name}");
            assert_eq!(
                hashed_router_id(name),
                id.parse::<Ipv4Addr>().unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn e6_fallback_order() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let cfg: IpAddr = "192.0.2.9".parse().unwrap();
        let iface = Some(Ipv4Addr::new(198, 51, 100, 7));
        assert_eq!(
            router_id(Some(cfg), v6, iface, "node1"),
            Ipv4Addr::new(192, 0, 2, 9)
        );
        // A configured IPv6 router-id is ignored (v0.9 keeps only `To4()`).
        assert_eq!(
            router_id(Some(v6), "192.0.2.1".parse().unwrap(), None, "node1"),
            Ipv4Addr::new(192, 0, 2, 1)
        );
        assert_eq!(
            router_id(None, "::ffff:192.0.2.3".parse().unwrap(), None, "node1"),
            Ipv4Addr::new(192, 0, 2, 3)
        );
        assert_eq!(
            router_id(None, v6, iface, "node1"),
            Ipv4Addr::new(198, 51, 100, 7)
        );
        assert_eq!(
            router_id(None, v6, None, "node1"),
            Ipv4Addr::new(64, 37, 239, 133)
        );
    }
}
