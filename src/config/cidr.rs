//! Pool address entries (CIDR or range) and the overlap check of v0.9's `Parse`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};

use super::yaml::golang::{parse_cidr, parse_ip, quote};

/// v0.9's `parseCIDR`: an entry without `-` is a Go CIDR (host bits masked); with `-` it is a
/// range `start-end` (each side trimmed) summarised into its minimal ascending CIDR list.
/// A reversed or mixed-family range yields no CIDRs and no error (spec §2.2 quirk).
pub(crate) fn parse_entry(entry: &str) -> Result<Vec<IpNet>, String> {
    let Some((start_raw, end_raw)) = entry.split_once('-') else {
        return parse_cidr(entry).map(|n| vec![n]).ok_or_else(|| format!("invalid CIDR {}", quote(entry)));
    };
    let start = parse_ip(start_raw.trim())
        .ok_or_else(|| format!("invalid IP range {}: invalid start IP {}", quote(entry), quote(start_raw)))?;
    let end = parse_ip(end_raw.trim())
        .ok_or_else(|| format!("invalid IP range {}: invalid end IP {}", quote(entry), quote(end_raw)))?;
    Ok(summarize(start, end))
}

/// The minimal list of CIDRs covering `start..=end`, ascending; empty if reversed or mixed.
pub fn summarize(start: IpAddr, end: IpAddr) -> Vec<IpNet> {
    match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) if s <= e => Ipv4Subnets::new(s, e, 0).map(IpNet::V4).collect(),
        (IpAddr::V6(s), IpAddr::V6(e)) if s <= e => Ipv6Subnets::new(s, e, 0).map(IpNet::V6).collect(),
        _ => Vec::new(),
    }
}

/// The CIDRs accepted so far, for v0.9's overlap rule: each new CIDR is compared with every
/// earlier one (same pool included) and the *first* earlier one that overlaps is reported.
/// Accepted CIDRs are pairwise disjoint, so an index by start address answers in O(log n)
/// what v0.9 answers in O(n) per CIDR.
#[derive(Default)]
pub(crate) struct OverlapIndex {
    /// (is_v6, first address) -> (last address, config-order index, the CIDR)
    by_start: BTreeMap<(bool, u128), (u128, usize, IpNet)>,
    count: usize,
}

fn bounds(n: &IpNet) -> (bool, u128, u128) {
    match n {
        IpNet::V4(n) => (false, u32::from(n.network()) as u128, u32::from(n.broadcast()) as u128),
        IpNet::V6(n) => (true, u128::from(n.network()), u128::from(n.broadcast())),
    }
}

impl OverlapIndex {
    /// Adds `cidr` of pool `pool`, or returns v0.9's overlap error text.
    pub fn insert(&mut self, cidr: IpNet, pool: &str) -> Result<(), String> {
        let (v6, first, last) = bounds(&cidr);
        let mut hit: Option<(usize, IpNet)> = None;
        let mut consider = |idx: usize, net: IpNet| {
            if hit.is_none_or(|(i, _)| idx < i) {
                hit = Some((idx, net));
            }
        };
        // One earlier CIDR may contain ours (or equal it)...
        if let Some((_, (end, idx, net))) = self.by_start.range(..=(v6, first)).next_back()
            && bounds(net).0 == v6 && *end >= first {
                consider(*idx, *net);
            }
        // ...and any number may lie inside ours.
        for (_, (_, idx, net)) in self.by_start.range((v6, first)..=(v6, last)) {
            consider(*idx, *net);
        }
        if let Some((_, other)) = hit {
            return Err(format!(
                "CIDR {} in pool {} overlaps with already defined CIDR {}",
                quote(&cidr.to_string()),
                quote(pool),
                quote(&other.to_string())
            ));
        }
        self.by_start.insert((v6, first), (last, self.count, cidr));
        self.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(v: &[&str]) -> Vec<IpNet> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn range_becomes_minimal_ascending_cidrs() {
        assert_eq!(
            parse_entry("40.0.0.150-40.0.0.200").unwrap(),
            nets(&["40.0.0.150/31", "40.0.0.152/29", "40.0.0.160/27", "40.0.0.192/29", "40.0.0.200/32"])
        );
        assert_eq!(parse_entry("192.168.1.0 -192.168.1.3").unwrap(), nets(&["192.168.1.0/30"]));
    }

    #[test]
    fn range_with_reversed_ends_yields_no_cidrs() {
        assert_eq!(parse_entry("10.0.0.10-10.0.0.1").unwrap(), vec![]);
        assert_eq!(parse_entry("10.0.0.1-2001:db8::1").unwrap(), vec![]);
    }

    #[test]
    fn range_errors_quote_the_raw_side() {
        assert_eq!(
            parse_entry("1.2.3.4 - x ").unwrap_err(),
            r#"invalid IP range "1.2.3.4 - x ": invalid end IP " x ""#
        );
    }

    #[test]
    fn overlap_reports_the_earliest_overlapping_cidr() {
        let mut idx = OverlapIndex::default();
        idx.insert("10.0.1.0/24".parse().unwrap(), "a").unwrap();
        idx.insert("10.0.0.0/24".parse().unwrap(), "a").unwrap();
        idx.insert("2001:db8::/64".parse().unwrap(), "a").unwrap();
        let err = idx.insert("10.0.0.0/16".parse().unwrap(), "b").unwrap_err();
        assert_eq!(err, r#"CIDR "10.0.0.0/16" in pool "b" overlaps with already defined CIDR "10.0.1.0/24""#);
        let err = idx.insert("10.0.1.128/25".parse().unwrap(), "b").unwrap_err();
        assert_eq!(err, r#"CIDR "10.0.1.128/25" in pool "b" overlaps with already defined CIDR "10.0.1.0/24""#);
        idx.insert("10.0.2.0/24".parse().unwrap(), "b").unwrap();
    }
}
