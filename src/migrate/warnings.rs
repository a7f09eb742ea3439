//! The semantic gaps of spec §9.5 that apply to one config: what the converted CRs will do
//! differently from the v0.9 ConfigMap. Printed on stderr; they never stop the conversion.

use std::fmt;

use super::objects::Resources;

/// One applicable gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// §9.2: a pool or BFD profile was renamed.
    NameConverted {
        /// `IpAddressPool` or `BFDProfile`.
        kind: String,
        /// The legacy name.
        from: String,
        /// The object name.
        to: String,
    },
    /// §9.5.1: an iBGP peer exists and this advertisement has no localpref: v0.9 sends
    /// LOCAL_PREF 0, MetalLB >= v0.13 sends none (the router's default, usually 100).
    IbgpLocalPrefZero {
        /// The iBGP peers' object names.
        peers: Vec<String>,
        /// The advertisement.
        advertisement: String,
        /// Its pool.
        pool: String,
    },
    /// §9.5.2: a `bgp` pool holds IPv6 addresses, which v0.9 could not announce.
    Ipv6BgpPool {
        /// The pool.
        pool: String,
    },
    /// §9.3: a pool whose protocol is neither `bgp` nor `layer2` gets no advertisement.
    UnknownProtocol {
        /// The pool.
        pool: String,
        /// The protocol string.
        protocol: String,
        /// Whether BGPAdvertisements were generated from its `bgp-advertisements` anyway.
        has_bgp_advertisements: bool,
    },
    /// §9.5.4: a peer password is written in plain text in the BGPPeer.
    PlainTextPassword {
        /// The peer.
        peer: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::NameConverted { kind, from, to } => {
                write!(
                    f,
                    "{kind} name {from:?} is not a valid Kubernetes name; it becomes {to:?} (advertisements and peers refer to the new name)"
                )
            }
            Warning::IbgpLocalPrefZero {
                peers,
                advertisement,
                pool,
            } => write!(
                f,
                "{advertisement} (pool {pool:?}) has no localpref and {} iBGP: MetalLB v0.9 sends LOCAL_PREF 0 to iBGP peers, MetalLB >= v0.13 treats localPref 0 as unset and sends none, so the router applies its default (usually 100); set localPref explicitly if the routers rely on 0",
                if peers.len() == 1 {
                    format!("peer {} is", peers[0])
                } else {
                    format!("peers {} are", peers.join(", "))
                }
            ),
            Warning::Ipv6BgpPool { pool } => write!(
                f,
                "pool {pool:?} has IPv6 addresses and protocol bgp: MetalLB v0.9 could not announce IPv6 over BGP, MetalLB >= v0.13 will announce them (aggregationLengthV6 defaults to 128)"
            ),
            Warning::UnknownProtocol {
                pool,
                protocol,
                has_bgp_advertisements,
            } => {
                write!(
                    f,
                    "pool {pool:?} has protocol {protocol:?}, which is neither bgp nor layer2: "
                )?;
                if *has_bgp_advertisements {
                    write!(
                        f,
                        "no L2Advertisement is generated, but its bgp-advertisements become BGPAdvertisements, so MetalLB >= v0.13 will announce it over BGP"
                    )
                } else {
                    write!(
                        f,
                        "no advertisement is generated, so MetalLB >= v0.13 will allocate from it but never announce its addresses"
                    )
                }
            }
            Warning::PlainTextPassword { peer } => write!(
                f,
                "{peer} has a password, written in plain text in spec.password; pass --password-secret to put it in a kubernetes.io/basic-auth Secret instead"
            ),
        }
    }
}

fn has_ipv6(addresses: &[String]) -> bool {
    // Any IPv6 literal contains ':'; IPv4 CIDRs and ranges never do.
    addresses.iter().any(|a| a.contains(':'))
}

/// The gaps that apply to `r`, after the name conversions already collected.
pub fn gaps(r: &Resources) -> Vec<Warning> {
    let mut out = Vec::new();
    let ibgp: Vec<String> = r
        .peers
        .iter()
        .filter(|p| p.my_asn == p.peer_asn)
        .map(|p| p.name.clone())
        .collect();
    if !ibgp.is_empty() {
        for a in r.bgp_advertisements.iter().filter(|a| a.local_pref == 0) {
            out.push(Warning::IbgpLocalPrefZero {
                peers: ibgp.clone(),
                advertisement: a.name.clone(),
                pool: a.pool.clone(),
            });
        }
    }
    for p in &r.pools {
        if p.protocol == "bgp" && has_ipv6(&p.addresses) {
            out.push(Warning::Ipv6BgpPool {
                pool: p.name.clone(),
            });
        }
        if p.protocol != "bgp" && p.protocol != "layer2" {
            out.push(Warning::UnknownProtocol {
                pool: p.name.clone(),
                protocol: p.protocol.clone(),
                has_bgp_advertisements: r.bgp_advertisements.iter().any(|a| a.pool == p.name),
            });
        }
    }
    for p in r.peers.iter().filter(|p| !p.password.is_empty()) {
        out.push(Warning::PlainTextPassword {
            peer: p.name.clone(),
        });
    }
    out
}
