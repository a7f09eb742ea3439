//! Spec §9.4: upstream runs the generated objects through the *current* MetalLB config builder
//! before writing anything. These are the rules of that builder (v0.14.9) that a converted
//! config can break, in the builder's order: BFD profiles, peers, communities, pools
//! (addresses, duplicates, overlaps), advertisements, then the BFD-echo/IPv6 rule.
//!
//! Rules that cannot fire on converted objects are left out, with the reason: duplicate
//! BGPAdvertisements and duplicate peers are compared including their names, which the
//! converter numbers; the local-preference conflict check only compares advertisements that
//! select a common node, and the converter's check runs without nodes.

use std::net::IpAddr;

use ipnet::IpNet;

use super::duration::{format_seconds, go_quote};
use super::objects::{BgpAdvertisement, BgpPeer, IpAddressPool, Resources};
use super::selectors;

/// Go's `net.ParseIP`: an IPv4-mapped IPv6 literal is IPv4.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let ip: IpAddr = s.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

fn to16(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The minimal ascending CIDR blocks covering `[start, end]` (same family, start <= end).
fn summarize(start: u128, end: u128, bits: u8) -> Vec<(u128, u8)> {
    // The last address of the block of 2^size addresses at `cur`, if it exists.
    let block_last = |cur: u128, size: u32| -> Option<u128> {
        if size >= 128 {
            (cur == 0).then_some(u128::MAX)
        } else {
            cur.checked_add((1u128 << size) - 1)
        }
    };
    let mut out = Vec::new();
    let mut cur = start;
    loop {
        let mut size = if cur == 0 {
            u32::from(bits)
        } else {
            cur.trailing_zeros().min(u32::from(bits))
        };
        while size > 0 && block_last(cur, size).is_none_or(|last| last > end) {
            size -= 1;
        }
        out.push((cur, bits - size as u8));
        let last = block_last(cur, size).unwrap_or(cur);
        if last >= end {
            return out;
        }
        cur = last + 1;
    }
}

/// Current MetalLB's `ParseCIDR`: a CIDR, or a range `a-b` whose reversed form is an error
/// (v0.9 silently yielded nothing).
pub fn parse_addresses(entry: &str) -> Result<Vec<IpNet>, String> {
    if !entry.contains('-') {
        return match entry.parse::<IpNet>() {
            Ok(n) => Ok(vec![n.trunc()]),
            Err(_) => Err(format!("invalid CIDR {}", go_quote(entry))),
        };
    }
    let (a, b) = entry.split_once('-').unwrap_or((entry, ""));
    let Some(start) = parse_ip(a.trim()) else {
        return Err(format!(
            "invalid IP range {}: invalid start IP {}",
            go_quote(entry),
            go_quote(a)
        ));
    };
    let Some(end) = parse_ip(b.trim()) else {
        return Err(format!(
            "invalid IP range {}: invalid end IP {}",
            go_quote(entry),
            go_quote(b)
        ));
    };
    if to16(start) > to16(end) {
        return Err(format!(
            "invalid IP range {}: start IP {} is after the end IP {}",
            go_quote(entry),
            go_quote(&start.to_string()),
            go_quote(&end.to_string())
        ));
    }
    Ok(match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => {
            summarize(u128::from(u32::from(s)), u128::from(u32::from(e)), 32)
                .into_iter()
                .filter_map(|(ip, len)| {
                    ipnet::Ipv4Net::new((ip as u32).into(), len)
                        .ok()
                        .map(IpNet::V4)
                })
                .collect()
        }
        (IpAddr::V6(s), IpAddr::V6(e)) => summarize(u128::from(s), u128::from(e), 128)
            .into_iter()
            .filter_map(|(ip, len)| ipnet::Ipv6Net::new(ip.into(), len).ok().map(IpNet::V6))
            .collect(),
        // Mixed families summarize to nothing, as before.
        _ => Vec::new(),
    })
}

/// Go's `cidrsOverlap`: equal, or the shorter prefix contains the longer one's network address.
#[cfg(test)]
fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    let contains = |outer: &IpNet, inner: &IpNet| {
        (outer.prefix_len() == inner.prefix_len() && outer.network() == inner.network())
            || (outer.prefix_len() < inner.prefix_len() && outer.contains(&inner.network()))
    };
    contains(a, b) || contains(b, a)
}

/// The CIDRs accepted so far. Two CIDR blocks overlap in Go's sense exactly when their address
/// intervals intersect, and accepted blocks are pairwise disjoint, so an ordered map of
/// intervals answers "which earlier CIDR overlaps" in O(log n) instead of upstream's scan.
#[derive(Default)]
struct AcceptedCidrs {
    by_start: std::collections::BTreeMap<(bool, u128), (u128, usize, IpNet)>,
}

fn interval(n: &IpNet) -> (bool, u128, u128) {
    match n {
        IpNet::V4(v) => (
            false,
            u128::from(u32::from(v.network())),
            u128::from(u32::from(v.broadcast())),
        ),
        IpNet::V6(v) => (true, u128::from(v.network()), u128::from(v.broadcast())),
    }
}

impl AcceptedCidrs {
    /// The earliest accepted CIDR overlapping `n` (upstream reports the first in its list).
    fn first_overlap(&self, n: &IpNet) -> Option<IpNet> {
        let (v6, start, end) = interval(n);
        let inside = self.by_start.range((v6, start)..=(v6, end)).map(|(_, v)| v);
        let before = self
            .by_start
            .range(..(v6, start))
            .next_back()
            .filter(|((fam, _), (last, _, _))| *fam == v6 && *last >= start)
            .map(|(_, v)| v);
        inside
            .chain(before)
            .min_by_key(|(_, idx, _)| *idx)
            .map(|(_, _, net)| *net)
    }

    fn insert(&mut self, n: IpNet) {
        let (v6, start, end) = interval(&n);
        let idx = self.by_start.len();
        self.by_start.insert((v6, start), (end, idx, n));
    }
}

/// Current MetalLB's community syntax: `A:B` (16-bit each) or `large:A:B:C` (32-bit each).
fn parse_community(c: &str) -> Result<(), String> {
    let fs: Vec<&str> = c.split(':').collect();
    let (fields, bits) = match fs.len() {
        2 => (&fs[..], 16),
        4 if fs[0] == "large" => (&fs[1..], 32),
        4 => {
            return Err(format!(
                "invalid community value: invalid marker for large community, expected community to be of format large:<uint32>:<uint32>:<uint32> but got {} instead",
                go_quote(c)
            ));
        }
        _ => return Err(format!("invalid community format: {c}")),
    };
    for f in fields {
        let ok = !f.is_empty()
            && f.bytes().all(|b| b.is_ascii_digit())
            && f.parse::<u64>().is_ok_and(|v| v < (1u64 << bits));
        if !ok {
            return Err(format!(
                "invalid community value: invalid section {} of community {}: not a decimal {bits}-bit unsigned number",
                go_quote(f),
                go_quote(c)
            ));
        }
    }
    Ok(())
}

fn check_bfd(r: &Resources) -> Result<(), String> {
    for (i, b) in r.bfd_profiles.iter().enumerate() {
        let ranges = [
            (b.detect_multiplier, 2, 255, "detect multiplier"),
            (b.receive_interval, 10, 60000, "receive interval"),
            (b.transmit_interval, 10, 60000, "transmit interval"),
            (b.minimum_ttl, 1, 254, "minimum ttl"),
            (b.echo_interval, 10, 60000, "echo interval"),
        ];
        for (v, min, max, what) in ranges {
            if let Some(v) = v
                && (v < min || v > max)
            {
                return Err(format!(
                    "parsing bfd profile #{} ({}): invalid {what} value: invalid value {v}, must be in {min}-{max} range",
                    i + 1,
                    b.name
                ));
            }
        }
        if r.bfd_profiles[..i].iter().any(|o| o.name == b.name) {
            return Err(format!("found duplicate bfd profile name {}", b.name));
        }
    }
    Ok(())
}

fn check_peer(p: &BgpPeer, r: &Resources) -> Result<(), String> {
    if p.my_asn == 0 {
        return Err("missing local ASN".into());
    }
    if p.peer_asn == 0 {
        return Err("missing peer ASN and dynamicASN".into());
    }
    if p.peer_asn == p.my_asn && p.ebgp_multihop {
        return Err("invalid ebgp-multihop parameter set for an ibgp peer".into());
    }
    if parse_ip(&p.peer_address).is_none() {
        return Err(format!(
            "invalid BGPPeer address {}",
            go_quote(&p.peer_address)
        ));
    }
    if let Some(ka) = p.keepalive_time
        && ka > p.hold_time
    {
        return Err(format!(
            "invalid BGPPeer timers: invalid keepaliveTime {}, must be lower than holdTime {}",
            go_quote(&format_seconds(ka)),
            go_quote(&format_seconds(p.hold_time))
        ));
    }
    if !p.router_id.is_empty() && parse_ip(&p.router_id).is_none() {
        return Err(format!("invalid router ID {}", go_quote(&p.router_id)));
    }
    if !p.source_address.is_empty() && parse_ip(&p.source_address).is_none() {
        return Err(format!("invalid source IP {}", go_quote(&p.source_address)));
    }
    selectors::check(&p.node_selectors, "nodeSelectors")?;
    if !p.bfd_profile.is_empty() && !r.bfd_profiles.iter().any(|b| b.name == p.bfd_profile) {
        return Err(format!(
            "peer {} referencing non existing bfd profile {}",
            p.name, p.bfd_profile
        ));
    }
    Ok(())
}

/// A pool with its parsed CIDRs, per address entry.
struct ParsedPool<'a> {
    pool: &'a IpAddressPool,
    per_entry: Vec<(&'a str, Vec<IpNet>)>,
}

fn check_pools(r: &Resources) -> Result<Vec<ParsedPool<'_>>, String> {
    for (alias, value) in &r.communities {
        parse_community(value)
            .map_err(|e| format!("parsing community {}: {e}", go_quote(alias)))?;
    }
    let mut parsed: Vec<ParsedPool> = Vec::with_capacity(r.pools.len());
    let mut all = AcceptedCidrs::default();
    for p in &r.pools {
        let ctx = |e: String| format!("parsing address pool {}: {e}", p.name);
        if p.addresses.is_empty() {
            return Err(ctx("pool has no prefixes defined".into()));
        }
        let mut per_entry = Vec::with_capacity(p.addresses.len());
        for a in &p.addresses {
            let nets = parse_addresses(a).map_err(|e| {
                ctx(format!(
                    "invalid CIDR {} in pool {}: {e}",
                    go_quote(a),
                    go_quote(&p.name)
                ))
            })?;
            per_entry.push((a.as_str(), nets));
        }
        if parsed.iter().any(|o| o.pool.name == p.name) {
            let first = parsed
                .iter()
                .find(|o| o.pool.name == p.name)
                .map_or(0, |o| o.pool.index);
            return Err(format!(
                "duplicate definition of pool {} (legacy pools #{first} and #{} have the same converted name)",
                go_quote(&p.name),
                p.index
            ));
        }
        for (_, nets) in &per_entry {
            for n in nets {
                if let Some(m) = all.first_overlap(n) {
                    return Err(format!(
                        "CIDR {} in pool {} overlaps with already defined CIDR {}",
                        go_quote(&n.to_string()),
                        go_quote(&p.name),
                        go_quote(&m.to_string())
                    ));
                }
                all.insert(*n);
            }
        }
        parsed.push(ParsedPool { pool: p, per_entry });
    }
    Ok(parsed)
}

fn check_advertisement(
    a: &BgpAdvertisement,
    r: &Resources,
    pools: &[ParsedPool],
) -> Result<(), String> {
    for (i, c) in a.communities.iter().enumerate() {
        if a.communities[..i].contains(c) {
            return Err(format!("duplicate definition of community {}", go_quote(c)));
        }
    }
    let v4 = a.aggregation_length.unwrap_or(32);
    if v4 > 32 {
        return Err(format!("invalid aggregation length {v4} for IPv4"));
    }
    let v6 = a.aggregation_length_v6.unwrap_or(128);
    if v6 > 128 {
        return Err(format!("invalid aggregation length {v6} for IPv6"));
    }
    for c in &a.communities {
        if r.communities.iter().any(|(alias, _)| alias == c) {
            continue;
        }
        parse_community(c).map_err(|e| {
            format!(
                "invalid community {} in BGP advertisement: {e}",
                go_quote(c)
            )
        })?;
    }
    let Some(pool) = pools.iter().find(|p| p.pool.name == a.pool) else {
        return Ok(());
    };
    for (entry, nets) in &pool.per_entry {
        let Some(first) = nets.first() else { continue };
        let (max, family) = match first {
            IpNet::V4(_) => (v4, "IPv4"),
            IpNet::V6(_) => (v6, "IPv6"),
        };
        let lowest = nets
            .iter()
            .map(|n| i32::from(n.prefix_len()))
            .min()
            .unwrap_or(0);
        if max < lowest {
            return Err(format!(
                "invalid aggregation length {max} for {family}: prefix {lowest} in this pool is more specific than the aggregation length for addresses {entry}"
            ));
        }
    }
    Ok(())
}

/// Checks `r` against current MetalLB's rules; the error names the object and the rule.
pub fn check(r: &Resources) -> Result<(), String> {
    check_bfd(r)?;
    for p in &r.peers {
        check_peer(p, r)
            .map_err(|e| format!("parsing peer {} (legacy peer #{}): {e}", p.name, p.index))?;
    }
    let pools = check_pools(r)?;
    for a in &r.bgp_advertisements {
        check_advertisement(a, r, &pools)
            .map_err(|e| format!("BGPAdvertisement {} (pool {}): {e}", a.name, a.pool))?;
    }
    // BFD echo mode cannot serve IPv6 announcements; every converted advertisement goes to
    // every peer.
    for p in &pools {
        let has_v6 = p
            .per_entry
            .iter()
            .flat_map(|(_, n)| n)
            .any(|n| matches!(n, IpNet::V6(_)));
        if !has_v6 {
            continue;
        }
        for a in r
            .bgp_advertisements
            .iter()
            .filter(|a| a.pool == p.pool.name)
        {
            for peer in &r.peers {
                let echo = r
                    .bfd_profiles
                    .iter()
                    .any(|b| b.name == peer.bfd_profile && b.echo_mode);
                if echo {
                    return Err(format!(
                        "pool {} has bgpadvertisement {} which references peer {} which has bfd echo enabled, which is not possible",
                        p.pool.name, a.name, peer.name
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_summarize_to_minimal_ascending_blocks() {
        let nets: Vec<String> = parse_addresses("40.0.0.150-40.0.0.200")
            .unwrap()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(
            nets,
            [
                "40.0.0.150/31",
                "40.0.0.152/29",
                "40.0.0.160/27",
                "40.0.0.192/29",
                "40.0.0.200/32"
            ]
        );
        let nets: Vec<String> = parse_addresses("0.0.0.0-255.255.255.255")
            .unwrap()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["0.0.0.0/0"]);
        let nets: Vec<String> = parse_addresses("::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
            .unwrap()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["::/0"]);
        let nets: Vec<String> = parse_addresses(" 2001:db8::1 - 2001:db8::2")
            .unwrap()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["2001:db8::1/128", "2001:db8::2/128"]);
    }

    #[test]
    fn reversed_range_is_now_an_error() {
        assert_eq!(
            parse_addresses("10.0.0.9-10.0.0.1").unwrap_err(),
            r#"invalid IP range "10.0.0.9-10.0.0.1": start IP "10.0.0.9" is after the end IP "10.0.0.1""#
        );
    }

    #[test]
    fn cidr_host_bits_are_masked_and_bad_entries_refused() {
        assert_eq!(
            parse_addresses("10.20.30.40/24").unwrap()[0].to_string(),
            "10.20.30.0/24"
        );
        assert_eq!(
            parse_addresses("1.2.3.0/33").unwrap_err(),
            r#"invalid CIDR "1.2.3.0/33""#
        );
        assert!(
            parse_addresses("x-10.0.0.1")
                .unwrap_err()
                .contains("invalid start IP \"x\"")
        );
    }

    #[test]
    fn communities_follow_current_syntax() {
        assert!(parse_community("64512:1").is_ok());
        assert!(parse_community("large:1:2:3").is_ok());
        assert!(
            parse_community("65536:1")
                .unwrap_err()
                .starts_with("invalid community value")
        );
        assert_eq!(
            parse_community("no-export").err().unwrap(),
            "invalid community format: no-export"
        );
    }

    proptest::proptest! {
        /// The interval index finds the same first overlap as upstream's linear scan.
        #[test]
        fn interval_index_matches_the_linear_scan(nets in proptest::collection::vec((0u32..64, 24u8..=30), 1..40)) {
            let nets: Vec<IpNet> = nets
                .into_iter()
                .map(|(host, len)| IpNet::V4(ipnet::Ipv4Net::new((0x0a00_0000 | (host << 2)).into(), len).unwrap().trunc()))
                .collect();
            let mut index = AcceptedCidrs::default();
            let mut list: Vec<IpNet> = Vec::new();
            for n in nets {
                let scan = list.iter().find(|m| overlaps(&n, m)).copied();
                proptest::prop_assert_eq!(index.first_overlap(&n), scan);
                if scan.is_none() {
                    index.insert(n);
                    list.push(n);
                }
            }
        }
    }

    #[test]
    fn overlap_is_equality_or_containment_of_the_network_address() {
        let n = |s: &str| s.parse::<IpNet>().unwrap();
        assert!(overlaps(&n("10.0.0.0/8"), &n("10.1.0.0/16")));
        assert!(overlaps(&n("10.1.0.0/16"), &n("10.0.0.0/8")));
        assert!(!overlaps(&n("10.0.0.0/24"), &n("10.0.1.0/24")));
    }
}
