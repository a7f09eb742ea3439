//! The validated configuration: what v0.9's `config.Parse` returns, in plain Rust types.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::selector::LabelSelector;

/// A parsed and validated MetalLB v0.9 configuration.
///
/// v0.9 keeps pools in a Go map; we keep them in config order (the order matters for
/// deterministic auto-assignment, see `docs/differences.md`) and look them up by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// BGP peers, in config order.
    pub peers: Vec<Peer>,
    /// Address pools, in config order. Names are unique.
    pub pools: Vec<Pool>,
}

impl Config {
    /// The pool named `name`, if the config defines it.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.name == name)
    }
}

/// The protocol a pool is announced with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// `bgp`
    Bgp,
    /// `layer2`
    Layer2,
}

impl Protocol {
    /// The config-file spelling (`bgp` / `layer2`), also used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Bgp => "bgp",
            Protocol::Layer2 => "layer2",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A BGP peer (v0.9 `config.Peer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// `my-asn`
    pub my_asn: u32,
    /// `peer-asn`
    pub asn: u32,
    /// `peer-address`. An IPv4-mapped IPv6 literal is stored as IPv4, as Go's `net.IP` treats it.
    pub addr: IpAddr,
    /// `peer-port`, 179 when absent or 0.
    pub port: u16,
    /// `hold-time`, truncated to whole seconds; 90 s when absent.
    pub hold_time: Duration,
    /// `router-id`, when set.
    pub router_id: Option<IpAddr>,
    /// `node-selectors`; a single match-everything selector when absent. The peer runs on a
    /// node if any selector matches.
    pub node_selectors: Vec<LabelSelector>,
    /// `password` (TCP MD5 key), empty when unset.
    pub password: String,
}

/// An address pool (v0.9 `config.Pool`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// `name`, unique within the config.
    pub name: String,
    /// `protocol`
    pub protocol: Protocol,
    /// The pool's CIDRs in config order, range entries expanded into their minimal ascending
    /// CIDR blocks; host bits masked off. May be empty (a reversed or mixed-family range).
    pub cidrs: Vec<IpNet>,
    /// `avoid-buggy-ips`: IPv4 addresses ending in .0 or .255 are not handed out.
    pub avoid_buggy_ips: bool,
    /// `auto-assign`, true when absent.
    pub auto_assign: bool,
    /// The advertisements of a `bgp` pool (one default advertisement when none is given);
    /// always empty for `layer2`.
    pub bgp_advertisements: Vec<BgpAdvertisement>,
}

/// One BGP advertisement of a pool (v0.9 `config.BGPAdvertisement`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpAdvertisement {
    /// `aggregation-length` (Go `int`), 32 when absent.
    pub aggregation_length: i64,
    /// `localpref`, 0 when absent.
    pub local_pref: u32,
    /// Community values (`A<<16 | B`), a set: duplicates collapse, iteration is ascending.
    pub communities: BTreeSet<u32>,
}

impl Default for BgpAdvertisement {
    fn default() -> Self {
        BgpAdvertisement { aggregation_length: 32, local_pref: 0, communities: BTreeSet::new() }
    }
}
