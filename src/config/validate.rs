//! Raw model -> validated [`Config`], in v0.9's order with v0.9's texts (spec §2.3).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use super::cidr::{OverlapIndex, parse_entry};
use super::raw::{ConfigFile, RawAdvertisement, RawPeer, RawPool};
use super::selector::{LabelSelector, parse_node_selector};
use super::types::{BgpAdvertisement, Config, Peer, Pool, Protocol};
use super::yaml::Mark;
use super::yaml::golang::{parse_duration, parse_ip, parse_uint, parse_uint_error_text, quote};

/// A validation failure: v0.9's text and the position it concerns.
pub(crate) struct Invalid {
    pub message: String,
    pub mark: Mark,
}

fn at(mark: Mark) -> impl FnOnce(String) -> Invalid {
    move |message| Invalid { message, mark }
}

pub(crate) fn validate(raw: &ConfigFile) -> Result<Config, Invalid> {
    let mut cfg = Config::default();
    for (i, p) in raw.peers.iter().enumerate() {
        let peer = parse_peer(p).map_err(|e| Invalid { message: format!("parsing peer #{}: {}", i + 1, e.message), mark: e.mark })?;
        cfg.peers.push(peer);
    }

    // Go iterates the alias map randomly; we check aliases in document order.
    let mut communities: HashMap<&str, u32> = HashMap::new();
    for (alias, value, mark) in &raw.bgp_communities.entries {
        let c = parse_community(value).map_err(|e| Invalid {
            message: format!("parsing community {}: {}", quote(alias), e),
            mark: *mark,
        })?;
        communities.insert(alias, c);
    }

    let mut names: HashSet<&str> = HashSet::new();
    let mut overlaps = OverlapIndex::default();
    for (i, p) in raw.pools.iter().enumerate() {
        let pool = parse_pool(p, &communities)
            .map_err(|e| Invalid { message: format!("parsing address pool #{}: {}", i + 1, e.message), mark: e.mark })?;
        if !names.insert(&p.name) {
            return Err(Invalid {
                message: format!("duplicate definition of pool {}", quote(&p.name)),
                mark: p.marks.field(RawPool::NAME),
            });
        }
        for cidr in &pool.cidrs {
            overlaps.insert(*cidr, &p.name).map_err(at(p.marks.field(RawPool::ADDRESSES)))?;
        }
        cfg.pools.push(pool);
    }
    Ok(cfg)
}

/// v0.9's `parseHoldTime`: empty = 90 s; a Go duration truncated to whole seconds, which must
/// be 0 or at least 3 s.
pub(crate) fn parse_hold_time(ht: &str) -> Result<Duration, String> {
    if ht.is_empty() {
        return Ok(Duration::from_secs(90));
    }
    let ns = parse_duration(ht).map_err(|e| format!("invalid hold time {}: {}", quote(ht), e))?;
    let secs = ns / 1_000_000_000;
    if secs != 0 && secs < 3 {
        return Err(format!("invalid hold time {}: must be 0 or >=3s", quote(ht)));
    }
    Ok(Duration::from_secs(secs as u64))
}

fn parse_peer(p: &RawPeer) -> Result<Peer, Invalid> {
    let m = &p.marks;
    if p.my_asn == 0 {
        return Err(Invalid { message: "missing local ASN".into(), mark: m.field(RawPeer::MY_ASN) });
    }
    if p.asn == 0 {
        return Err(Invalid { message: "missing peer ASN".into(), mark: m.field(RawPeer::PEER_ASN) });
    }
    let addr = parse_ip(&p.addr)
        .ok_or_else(|| Invalid { message: format!("invalid peer IP {}", quote(&p.addr)), mark: m.field(RawPeer::ADDR) })?;
    let hold_time = parse_hold_time(&p.hold_time).map_err(at(m.field(RawPeer::HOLD_TIME)))?;
    let router_id = if p.router_id.is_empty() {
        None
    } else {
        Some(parse_ip(&p.router_id).ok_or_else(|| Invalid {
            message: format!("invalid router ID {}", quote(&p.router_id)),
            mark: m.field(RawPeer::ROUTER_ID),
        })?)
    };
    let mut node_selectors = Vec::new();
    if p.node_selectors.is_empty() {
        node_selectors.push(LabelSelector::everything());
    }
    for sel in &p.node_selectors {
        let labels: Vec<(String, String)> =
            sel.match_labels.entries.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect();
        let exprs: Vec<(String, String, Vec<String>)> = sel
            .match_expressions
            .iter()
            .map(|e| (e.key.clone(), e.operator.clone(), e.values.clone()))
            .collect();
        let s = parse_node_selector(&labels, &exprs)
            .map_err(|e| Invalid { message: format!("parsing node selector: {e}"), mark: sel.marks.node })?;
        node_selectors.push(s);
    }
    Ok(Peer {
        my_asn: p.my_asn,
        asn: p.asn,
        addr,
        port: if p.port == 0 { 179 } else { p.port },
        hold_time,
        router_id,
        node_selectors,
        password: p.password.clone(),
    })
}

/// v0.9's `parseCommunity`: `A:B`, each a decimal uint16; value `A<<16 | B`.
pub fn parse_community(c: &str) -> Result<u32, String> {
    let fs: Vec<&str> = c.split(':').collect();
    if fs.len() != 2 {
        return Err(format!("invalid community string {}", quote(c)));
    }
    let a = parse_uint(fs[0], 10, 16).map_err(|e| {
        format!("invalid first section of community {}: {}", quote(fs[0]), parse_uint_error_text(fs[0], e))
    })?;
    // v0.9 quotes the first section in the second section's error (spec §2.2 quirk).
    let b = parse_uint(fs[1], 10, 16).map_err(|e| {
        format!("invalid second section of community {}: {}", quote(fs[0]), parse_uint_error_text(fs[1], e))
    })?;
    Ok(((a as u32) << 16) + b as u32)
}

fn parse_pool(p: &RawPool, communities: &HashMap<&str, u32>) -> Result<Pool, Invalid> {
    let m = &p.marks;
    if p.name.is_empty() {
        return Err(Invalid { message: "missing pool name".into(), mark: m.field(RawPool::NAME) });
    }
    if p.addresses.is_empty() {
        return Err(Invalid { message: "pool has no prefixes defined".into(), mark: m.field(RawPool::ADDRESSES) });
    }
    let mut cidrs = Vec::new();
    for entry in &p.addresses {
        let nets = parse_entry(&entry.value).map_err(|e| Invalid {
            message: format!("invalid CIDR {} in pool {}: {}", quote(&entry.value), quote(&p.name), e),
            mark: entry.mark,
        })?;
        cidrs.extend(nets);
    }
    let proto_mark = m.field(RawPool::PROTOCOL);
    let (protocol, bgp_advertisements) = match p.protocol.value.as_str() {
        "layer2" => {
            if !p.bgp_advertisements.is_empty() {
                return Err(Invalid {
                    message: "cannot have bgp-advertisements configuration element in a layer2 address pool".into(),
                    mark: m.field(RawPool::ADVERTISEMENTS),
                });
            }
            (Protocol::Layer2, Vec::new())
        }
        "bgp" => {
            let ads = parse_advertisements(&p.bgp_advertisements, &cidrs, communities)
                .map_err(|e| Invalid { message: format!("parsing BGP communities: {}", e.message), mark: e.mark })?;
            (Protocol::Bgp, ads)
        }
        "" => return Err(Invalid { message: "address pool is missing the protocol field".into(), mark: proto_mark }),
        other => return Err(Invalid { message: format!("unknown protocol {}", quote(other)), mark: proto_mark }),
    };
    Ok(Pool {
        name: p.name.clone(),
        protocol,
        cidrs,
        avoid_buggy_ips: p.avoid_buggy_ips,
        auto_assign: p.auto_assign.unwrap_or(true),
        bgp_advertisements,
    })
}

/// Go's `%q` applied to an `int`: the value as a quoted character (`33` -> `'!'`).
fn go_quote_int_as_rune(v: i64) -> String {
    let c = u32::try_from(v).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
    let body = match c {
        '\'' => "\\'".to_string(),
        '\\' => "\\\\".to_string(),
        '"' => "\"".to_string(),
        _ => {
            let q = quote(&c.to_string());
            q[1..q.len() - 1].to_string()
        }
    };
    format!("'{body}'")
}

fn parse_advertisements(
    ads: &[RawAdvertisement],
    cidrs: &[ipnet::IpNet],
    communities: &HashMap<&str, u32>,
) -> Result<Vec<BgpAdvertisement>, Invalid> {
    // A missing or empty list gives one default advertisement with no checks at all, which
    // is why IPv6 bgp pools without advertisements parse (spec §2.3).
    if ads.is_empty() {
        return Ok(vec![BgpAdvertisement::default()]);
    }
    let mut out = Vec::new();
    for raw in ads {
        let agg_mark = raw.marks.field(RawAdvertisement::AGGREGATION_LENGTH);
        let aggregation_length = raw.aggregation_length.unwrap_or(32);
        if aggregation_length > 32 {
            return Err(Invalid {
                message: format!("invalid aggregation length {}", go_quote_int_as_rune(aggregation_length)),
                mark: agg_mark,
            });
        }
        for cidr in cidrs {
            if aggregation_length < cidr.prefix_len() as i64 {
                return Err(Invalid {
                    message: format!(
                        "invalid aggregation length {}: prefix {} in this pool is more specific than the aggregation length",
                        aggregation_length,
                        quote(&cidr.to_string())
                    ),
                    mark: agg_mark,
                });
            }
        }
        let mut set = BTreeSet::new();
        for c in &raw.communities {
            let v = match communities.get(c.value.as_str()) {
                Some(v) => *v,
                None => parse_community(&c.value).map_err(|e| Invalid {
                    message: format!("invalid community {} in BGP advertisement: {}", quote(&c.value), e),
                    mark: c.mark,
                })?,
            };
            set.insert(v);
        }
        out.push(BgpAdvertisement { aggregation_length, local_pref: raw.local_pref.unwrap_or(0), communities: set });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_length_quirk_prints_a_quoted_rune() {
        assert_eq!(go_quote_int_as_rune(33), "'!'");
        assert_eq!(go_quote_int_as_rune(39), r"'\''");
        assert_eq!(go_quote_int_as_rune(127), r"'\x7f'");
        assert_eq!(go_quote_int_as_rune(0x110000), "'\u{FFFD}'");
    }

    #[test]
    fn community_second_section_error_names_the_first_section() {
        assert_eq!(
            parse_community("1:99999999").unwrap_err(),
            r#"invalid second section of community "1": strconv.ParseUint: parsing "99999999": value out of range"#
        );
        assert_eq!(parse_community("65535:65281"), Ok(0xFFFF_FF01));
    }

    #[test]
    fn hold_time_truncates_to_seconds() {
        assert_eq!(parse_hold_time("3.9s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_hold_time("-500ms"), Ok(Duration::ZERO));
        assert_eq!(parse_hold_time("2999ms").unwrap_err(), r#"invalid hold time "2999ms": must be 0 or >=3s"#);
    }
}
