//! The pools of a config as the allocator walks them.
//!
//! Each CIDR of each pool is a [`Segment`]: a contiguous address range with a *walk order*,
//! v0.9's `AllocateFromPool` order: ascending from the network address, IPv4 `.0`/`.255`
//! left out when the pool has avoid-buggy-ips. A position in that order is an *ordinal*; the
//! index (`index.rs`) works on ordinals, so a segment with skipped addresses has no holes.

use std::collections::{BTreeMap, HashMap};

use ipnet::IpNet;

use super::address::{self, Addr};
use super::error::AllocError;
use super::metrics::capacity;
use crate::config::Pool;

/// One pool of the active config.
#[derive(Debug, Clone)]
pub(crate) struct PoolEntry {
    pub(crate) name: String,
    pub(crate) auto_assign: bool,
    /// Its segments, in config order (range entries already expanded by the config).
    pub(crate) segments: Vec<usize>,
    /// `addresses_total` (§5), computed once.
    pub(crate) capacity: i64,
}

/// One CIDR of one pool.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) pool: usize,
    pub(crate) v6: bool,
    /// Network and broadcast address, encoded.
    first: Addr,
    last: Addr,
    /// The pool has avoid-buggy-ips and this is IPv4.
    skip_buggy: bool,
    /// The ordinal of the last address of the walk; `None` when the walk is empty (a /32 of a
    /// .0 address in an avoid-buggy-ips pool).
    pub(crate) max_ord: Option<u128>,
    pub(crate) cidr: IpNet,
}

/// Non-buggy IPv4 addresses in `[0, x)`: 254 per full /24, then those of x's /24 below x.
fn usable_below(x: u32) -> u128 {
    let low = x & 0xff;
    u128::from(x >> 8) * 254 + u128::from(low.saturating_sub(1))
}

impl Segment {
    fn new(cidr: IpNet, pool: usize, avoid_buggy: bool) -> Segment {
        let (first, last, v6) = match cidr.trunc() {
            IpNet::V4(n) => (address::encode_v4(n.network()), address::encode_v4(n.broadcast()), false),
            IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast()), true),
        };
        let skip_buggy = avoid_buggy && !v6;
        let max_ord = if skip_buggy {
            let usable =
                usable_below(last as u32).wrapping_add(u128::from(!address::confuses_buggy_firmware(last))) - usable_below(first as u32);
            usable.checked_sub(1)
        } else {
            Some(last - first)
        };
        Segment { pool, v6, first, last, skip_buggy, max_ord, cidr }
    }

    /// Whether `a` is in this CIDR, whatever the walk skips.
    pub(crate) fn contains(&self, a: Addr) -> bool {
        self.first <= a && a <= self.last && address::is_v4(a) != self.v6
    }

    /// The ordinal of `a`, an address of the walk.
    pub(crate) fn ordinal(&self, a: Addr) -> u128 {
        if self.skip_buggy { usable_below(a as u32) - usable_below(self.first as u32) } else { a - self.first }
    }

    /// The address at ordinal `ord` of the walk.
    pub(crate) fn addr(&self, ord: u128) -> Addr {
        if self.skip_buggy {
            let target = usable_below(self.first as u32) + ord;
            let block = target / 254;
            let within = target % 254;
            (self.first & !0xffff_ffff) | (block * 256 + within + 1)
        } else {
            self.first + ord
        }
    }
}

/// The pools of the active config, ready for lookups.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    pub(crate) pools: Vec<PoolEntry>,
    pub(crate) segments: Vec<Segment>,
    /// Segment indices sorted by (family, first address), for ownership lookups.
    by_start: Vec<usize>,
    /// Pool indices by name.
    by_name: HashMap<String, usize>,
}

impl Layout {
    /// The layout of `pools`. Rejects what v0.9's config validation rejects and the allocator
    /// relies on: duplicate pool names and overlapping CIDRs (with the config's texts).
    pub(crate) fn build(pools: &[Pool]) -> Result<Layout, AllocError> {
        let mut layout = Layout::default();
        // Accepted segments by (family, first address); they are pairwise disjoint, so a new
        // one overlaps some iff it overlaps its predecessor or its successor.
        let mut accepted: BTreeMap<(bool, Addr), usize> = BTreeMap::new();
        for (pi, pool) in pools.iter().enumerate() {
            if layout.by_name.insert(pool.name.clone(), pi).is_some() {
                return Err(AllocError::DuplicatePool(pool.name.clone()));
            }
            let mut segments = Vec::with_capacity(pool.cidrs.len());
            for cidr in &pool.cidrs {
                let seg = Segment::new(*cidr, pi, pool.avoid_buggy_ips);
                let key = (seg.v6, seg.first);
                let before = accepted
                    .range(..=key)
                    .next_back()
                    .map(|(_, &i)| i)
                    .filter(|&i| layout.segments[i].v6 == seg.v6 && layout.segments[i].last >= seg.first);
                let after = accepted
                    .range(key..)
                    .next()
                    .map(|(_, &i)| i)
                    .filter(|&i| layout.segments[i].v6 == seg.v6 && layout.segments[i].first <= seg.last);
                if let Some(other) = before.or(after) {
                    return Err(AllocError::OverlappingCidr {
                        cidr: cidr.trunc(),
                        pool: pool.name.clone(),
                        other: layout.segments[other].cidr.trunc(),
                    });
                }
                accepted.insert(key, layout.segments.len());
                segments.push(layout.segments.len());
                layout.segments.push(seg);
            }
            layout.pools.push(PoolEntry { name: pool.name.clone(), auto_assign: pool.auto_assign, segments, capacity: capacity(pool) });
        }
        layout.by_start = accepted.into_values().collect();
        Ok(layout)
    }

    /// v0.9's `poolFor`: the segment (and so the pool) owning `a`, if any. A .0/.255 IPv4
    /// address is not owned by an avoid-buggy-ips pool.
    pub(crate) fn owner(&self, a: Addr) -> Option<usize> {
        let v6 = !address::is_v4(a);
        let after = self.by_start.partition_point(|&i| (self.segments[i].v6, self.segments[i].first) <= (v6, a));
        let seg = *self.by_start.get(after.checked_sub(1)?)?;
        let s = &self.segments[seg];
        (s.contains(a) && !(s.skip_buggy && address::confuses_buggy_firmware(a))).then_some(seg)
    }

    /// The index of the pool called `name`.
    pub(crate) fn pool_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Protocol;

    fn pool(name: &str, cidrs: &[&str], avoid: bool) -> Pool {
        Pool {
            name: name.into(),
            protocol: Protocol::Layer2,
            cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            avoid_buggy_ips: avoid,
            auto_assign: true,
            bgp_advertisements: vec![],
        }
    }

    fn walk(seg: &Segment) -> Vec<String> {
        (0..=seg.max_ord.map_or(-1, |m| m as i64)).map(|o| address::decode(seg.addr(o as u128)).to_string()).collect()
    }

    #[test]
    fn walk_starts_at_the_network_address_and_includes_broadcast() {
        let l = Layout::build(&[pool("p", &["10.0.0.0/30"], false)]).unwrap();
        assert_eq!(walk(&l.segments[0]), ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    }

    #[test]
    fn avoid_buggy_walk_skips_dot_zero_and_dot_255_across_blocks() {
        let l = Layout::build(&[pool("p", &["10.0.0.0/23"], true)]).unwrap();
        let w = walk(&l.segments[0]);
        assert_eq!(w.len(), 508);
        assert_eq!(w[0], "10.0.0.1");
        assert_eq!(w[253], "10.0.0.254");
        assert_eq!(w[254], "10.0.1.1");
        assert_eq!(w[507], "10.0.1.254");
        let seg = &l.segments[0];
        for (o, ip) in w.iter().enumerate() {
            assert_eq!(seg.ordinal(address::encode(ip.parse().unwrap())), o as u128);
        }
    }

    #[test]
    fn avoid_buggy_walk_of_small_cidrs() {
        let l = Layout::build(&[pool("p", &["1.2.4.0/31", "1.2.4.254/31", "1.2.5.0/32", "1.2.6.128/25"], true)]).unwrap();
        assert_eq!(walk(&l.segments[0]), ["1.2.4.1"]);
        assert_eq!(walk(&l.segments[1]), ["1.2.4.254"]);
        assert!(walk(&l.segments[2]).is_empty());
        assert_eq!(l.segments[2].max_ord, None);
        assert_eq!(walk(&l.segments[3]).len(), 127);
    }

    #[test]
    fn avoid_buggy_does_not_apply_to_ipv6() {
        let l = Layout::build(&[pool("p", &["1000::4:0/120"], true)]).unwrap();
        let w = walk(&l.segments[0]);
        assert_eq!((w.len(), w[0].as_str(), w[255].as_str()), (256, "1000::4:0", "1000::4:ff"));
    }

    #[test]
    fn owner_respects_family_and_avoid_buggy() {
        let l =
            Layout::build(&[pool("a", &["1.2.3.4/31", "1000::4/127"], false), pool("b", &["1.2.4.0/24", "1000::4:0/120"], true)]).unwrap();
        let own = |s: &str| l.owner(address::encode(s.parse().unwrap())).map(|seg| l.pools[l.segments[seg].pool].name.as_str());
        assert_eq!(own("1.2.3.5"), Some("a"));
        assert_eq!(own("1.2.3.6"), None);
        assert_eq!(own("1.2.4.0"), None);
        assert_eq!(own("1.2.4.255"), None);
        assert_eq!(own("1.2.4.254"), Some("b"));
        assert_eq!(own("1000::4:0"), Some("b"));
        assert_eq!(own("1000::5"), Some("a"));
        assert_eq!(own("::ffff:1.2.3.4"), Some("a"));
        assert_eq!(own("::1.2.3.4"), None);
    }

    #[test]
    fn overlapping_and_duplicate_pools_are_rejected_with_config_texts() {
        let e = Layout::build(&[pool("a", &["10.0.0.0/24"], false), pool("b", &["10.0.0.128/25"], false)]).unwrap_err();
        assert_eq!(e.to_string(), r#"CIDR "10.0.0.128/25" in pool "b" overlaps with already defined CIDR "10.0.0.0/24""#);
        let e = Layout::build(&[pool("a", &["10.0.0.128/25", "10.0.0.0/24"], false)]).unwrap_err();
        assert_eq!(e.to_string(), r#"CIDR "10.0.0.0/24" in pool "a" overlaps with already defined CIDR "10.0.0.128/25""#);
        let ok = Layout::build(&[pool("a", &["10.0.0.0/25", "::/1"], false), pool("b", &["10.0.0.128/25", "8000::/1"], false)]);
        assert!(ok.is_ok(), "adjacent CIDRs and the other family do not overlap");
        let e = Layout::build(&[pool("a", &["10.0.0.0/24"], false), pool("a", &["10.0.1.0/24"], false)]).unwrap_err();
        assert_eq!(e.to_string(), r#"duplicate definition of pool "a""#);
    }

    #[test]
    fn a_huge_ipv6_segment_has_a_full_walk() {
        let l = Layout::build(&[pool("p", &["::/0"], false)]).unwrap();
        assert_eq!(l.segments[0].max_ord, Some(u128::MAX));
    }
}
