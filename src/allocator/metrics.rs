//! The per-pool allocator gauges of spec §5, with v0.9.3's semantics.
//!
//! * `metallb_allocator_addresses_total{pool}`: [`capacity`], set when a service is assigned in
//!   the pool (v0.9.3 does not refresh it on config changes).
//! * `metallb_allocator_addresses_in_use_total{pool}`: the number of *services* assigned in the
//!   pool, set on assign only, so it is stale after an unassign until the next assign (v0.9.4
//!   changed this to distinct IPs, refreshed everywhere; the contract is v0.9.3).
//! * Both series of a pool disappear when a config without that pool is accepted.

use crate::config::Pool;
use ipnet::IpNet;

use super::address;

/// What the two gauge series of one pool show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGauges {
    /// `metallb_allocator_addresses_total`.
    pub addresses_total: i64,
    /// `metallb_allocator_addresses_in_use_total` (v0.9.3: services, stale after unassign).
    pub addresses_in_use_total: u64,
}

/// v0.9's `poolCount`: the number of addresses of `pool`.
///
/// Every address of every CIDR counts, network and broadcast included. With avoid-buggy-ips a
/// CIDR of /24 or shorter loses 2 per /24 it contains; a longer one loses 1 if its first
/// address is a .0/.255 and 1 if its last is (a /32 of a .0 counts -1, as in v0.9). A CIDR
/// with 62 or more host bits makes the whole pool `i64::MAX`. Sums wrap like Go's `int64`.
pub fn capacity(pool: &Pool) -> i64 {
    let mut total: i64 = 0;
    for cidr in &pool.cidrs {
        let host_bits = cidr.max_prefix_len() - cidr.prefix_len();
        if host_bits >= 62 {
            return i64::MAX;
        }
        let mut size: i64 = 1 << host_bits;
        if pool.avoid_buggy_ips {
            if cidr.prefix_len() <= 24 {
                size -= (1i64 << (24 - cidr.prefix_len())) * 2;
            } else {
                let (first, last) = match cidr.trunc() {
                    IpNet::V4(n) => (address::encode_v4(n.network()), address::encode_v4(n.broadcast())),
                    IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
                };
                size -= i64::from(address::confuses_buggy_firmware(first)) + i64::from(address::confuses_buggy_firmware(last));
            }
        }
        total = total.wrapping_add(size);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Protocol;

    fn pool(cidrs: &[&str], avoid: bool) -> Pool {
        Pool {
            name: "p".into(),
            protocol: Protocol::Bgp,
            cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            avoid_buggy_ips: avoid,
            auto_assign: true,
            bgp_advertisements: vec![],
        }
    }

    /// Vector B.7 (`TestPoolCount`).
    #[test]
    fn b7_pool_count() {
        let cases: &[(&[&str], bool, i64)] = &[
            (&["1.2.3.0/24"], false, 256),
            (&["1.2.3.0/24", "2.3.4.128/25"], false, 384),
            (&["1.2.3.0/24", "2.3.4.128/25"], true, 381),
            (&["1.2.3.0/24", "2.3.4.128/25", "1000::/64"], true, i64::MAX),
        ];
        for (cidrs, avoid, want) in cases {
            assert_eq!(capacity(&pool(cidrs, *avoid)), *want, "{cidrs:?} avoid={avoid}");
        }
    }

    #[test]
    fn sixty_two_host_bits_saturate_but_sixty_one_do_not() {
        assert_eq!(capacity(&pool(&["1000::/66"], false)), i64::MAX);
        assert_eq!(capacity(&pool(&["1000::/67"], false)), 1 << 61);
        assert_eq!(capacity(&pool(&["10.0.0.0/8", "1000::/66"], false)), i64::MAX);
    }

    #[test]
    fn avoid_buggy_arithmetic_for_short_and_long_cidrs() {
        assert_eq!(capacity(&pool(&["10.0.0.0/8"], true)), (1 << 24) - (1 << 16) * 2);
        assert_eq!(capacity(&pool(&["1.2.4.0/31"], true)), 1);
        assert_eq!(capacity(&pool(&["1.2.4.254/31"], true)), 1);
        assert_eq!(capacity(&pool(&["1.2.4.0/32"], true)), -1, "v0.9 subtracts for first and last");
        assert_eq!(capacity(&pool(&["1.2.4.4/30"], true)), 4);
        assert_eq!(capacity(&pool(&["1000::4:0/120"], true)), 256, "no buggy IPv6 addresses");
    }

    #[test]
    fn empty_pool_has_no_capacity() {
        assert_eq!(capacity(&pool(&[], true)), 0);
    }
}
