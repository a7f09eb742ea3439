//! The mapping of spec §9.3: the leniently decoded payload → typed metallb.io objects.

use std::collections::BTreeMap;

use super::duration;
use super::error::MigrateError;
use super::lenient::{self, ConfigFile, text};
use super::names;
use super::warnings::Warning;

/// A label selector as the CRDs spell it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// `matchLabels`
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`
    pub match_expressions: Vec<Expression>,
}

/// One `matchExpressions` entry, copied verbatim (values sorted, see [`build`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expression {
    /// `key`
    pub key: String,
    /// `operator`
    pub operator: String,
    /// `values`
    pub values: Vec<String>,
}

/// A `metallb.io/v1beta2` BGPPeer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpPeer {
    /// `peerN`
    pub name: String,
    /// Position in the legacy `peers` list, 1-based.
    pub index: usize,
    /// `spec.myASN`
    pub my_asn: u32,
    /// `spec.peerASN` (omitted when 0)
    pub peer_asn: u32,
    /// `spec.peerAddress`, verbatim
    pub peer_address: String,
    /// `spec.sourceAddress` (omitted when empty)
    pub source_address: String,
    /// `spec.peerPort` (omitted when 0)
    pub peer_port: u16,
    /// `spec.holdTime` in whole seconds, always emitted
    pub hold_time: i64,
    /// `spec.keepaliveTime` in whole seconds, when given
    pub keepalive_time: Option<i64>,
    /// `spec.routerID` (omitted when empty)
    pub router_id: String,
    /// `spec.nodeSelectors`
    pub node_selectors: Vec<Selector>,
    /// `spec.password` in plain text (empty with `--password-secret`)
    pub password: String,
    /// `spec.passwordSecret`: the Secret's name, or `{}`
    pub password_secret: Option<String>,
    /// `spec.bfdProfile` (converted name)
    pub bfd_profile: String,
    /// `spec.ebgpMultiHop`
    pub ebgp_multihop: bool,
}

/// A `kubernetes.io/basic-auth` Secret holding one peer's password (`--password-secret`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordSecret {
    /// `<peer>-password`
    pub name: String,
    /// The `password` key.
    pub password: String,
}

/// A `metallb.io/v1beta1` IPAddressPool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAddressPool {
    /// Converted name.
    pub name: String,
    /// The legacy name.
    pub legacy_name: String,
    /// Position in the legacy `address-pools` list, 1-based.
    pub index: usize,
    /// The legacy `protocol` string (not stored on the CR).
    pub protocol: String,
    /// `spec.addresses`, verbatim
    pub addresses: Vec<String>,
    /// `spec.autoAssign`, only when the legacy key was present
    pub auto_assign: Option<bool>,
    /// `spec.avoidBuggyIPs` (omitted when false)
    pub avoid_buggy_ips: bool,
}

/// A `metallb.io/v1beta1` BGPAdvertisement for one pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpAdvertisement {
    /// `bgpadvertisementN`
    pub name: String,
    /// `spec.aggregationLength`, when given
    pub aggregation_length: Option<i32>,
    /// `spec.aggregationLengthV6`, when given
    pub aggregation_length_v6: Option<i32>,
    /// `spec.localPref` (omitted when 0)
    pub local_pref: u32,
    /// `spec.communities`, verbatim
    pub communities: Vec<String>,
    /// `spec.ipAddressPools: [pool]` (converted name)
    pub pool: String,
}

/// A `metallb.io/v1beta1` L2Advertisement for one pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Advertisement {
    /// `l2advertisementN`
    pub name: String,
    /// `spec.ipAddressPools: [pool]`
    pub pool: String,
}

/// A `metallb.io/v1beta1` BFDProfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdProfile {
    /// Converted name.
    pub name: String,
    /// `spec.receiveInterval`
    pub receive_interval: Option<u32>,
    /// `spec.transmitInterval`
    pub transmit_interval: Option<u32>,
    /// `spec.detectMultiplier`
    pub detect_multiplier: Option<u32>,
    /// `spec.echoInterval`
    pub echo_interval: Option<u32>,
    /// `spec.echoMode`, always emitted
    pub echo_mode: bool,
    /// `spec.passiveMode`, always emitted
    pub passive_mode: bool,
    /// `spec.minimumTtl`
    pub minimum_ttl: Option<u32>,
}

/// Everything the conversion generates, in output order (§9.3; Secrets come first so a
/// `passwordSecret` reference never points at nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// The namespace of every object.
    pub namespace: String,
    /// Peer password Secrets (`--password-secret` only).
    pub secrets: Vec<PasswordSecret>,
    /// BGPPeers.
    pub peers: Vec<BgpPeer>,
    /// IPAddressPools.
    pub pools: Vec<IpAddressPool>,
    /// BGPAdvertisements.
    pub bgp_advertisements: Vec<BgpAdvertisement>,
    /// L2Advertisements.
    pub l2_advertisements: Vec<L2Advertisement>,
    /// BFDProfiles.
    pub bfd_profiles: Vec<BfdProfile>,
    /// The `communities` Community's aliases, sorted by alias.
    pub communities: Vec<(String, String)>,
}

fn convert_name(
    name: &str,
    kind: &str,
    warnings: &mut Vec<Warning>,
) -> Result<String, MigrateError> {
    let Some(converted) = names::convert(name) else {
        return Err(MigrateError::Convert(format!(
            "failed to make {kind} K8S compatible: {name} (a name needs at least one letter a-z; rename it in the ConfigMap)"
        )));
    };
    if !names::is_valid_object_name(&converted) {
        return Err(MigrateError::Convert(format!(
            "cannot convert {kind} name {}: the converted name {} is not a valid Kubernetes object name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit); rename it in the ConfigMap",
            duration::go_quote(name),
            duration::go_quote(&converted)
        )));
    }
    if converted != name {
        warnings.push(Warning::NameConverted {
            kind: kind.to_owned(),
            from: name.to_owned(),
            to: converted.clone(),
        });
    }
    Ok(converted)
}

fn hold_time(v: &str) -> Result<i64, String> {
    if v.is_empty() {
        return Ok(90);
    }
    let q = duration::go_quote(v);
    let nanos = duration::parse(v).map_err(|e| format!("invalid hold time {q}: {e}"))?;
    let secs = duration::whole_seconds(nanos);
    if secs != 0 && secs < 3 {
        return Err(format!("invalid hold time {q}: must be 0 or >=3s"));
    }
    Ok(secs)
}

fn keepalive_time(v: &str) -> Result<i64, String> {
    let nanos = duration::parse(v)
        .map_err(|e| format!("invalid keepalive time {}: {e}", duration::go_quote(v)))?;
    Ok(duration::whole_seconds(nanos))
}

fn selector(s: &lenient::NodeSelector) -> Selector {
    let match_labels = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.0.clone(), text(v).to_owned()))
        .collect();
    let match_expressions = s
        .match_expressions
        .iter()
        .flatten()
        .map(|e| {
            let mut values: Vec<String> = e
                .values
                .iter()
                .flatten()
                .map(|v| text(v).to_owned())
                .collect();
            // Upstream's validation pass sorts the values in place before the objects are
            // written, so its output lists them sorted; they are a set anyway.
            values.sort();
            Expression {
                key: text(&e.key).to_owned(),
                operator: text(&e.operator).to_owned(),
                values,
            }
        })
        .collect();
    Selector {
        match_labels,
        match_expressions,
    }
}

/// Builds the objects of §9.3 from a decoded payload. Errors are those of upstream's
/// conversion steps (names, then timers); the rules of §9.4 are checked by `validate`.
pub fn build(
    cf: &ConfigFile,
    namespace: &str,
    password_secrets: bool,
) -> Result<(Resources, Vec<Warning>), MigrateError> {
    let mut warnings = Vec::new();
    let legacy_pools = cf.pools.as_deref().unwrap_or_default();
    let legacy_bfd = cf.bfd_profiles.as_deref().unwrap_or_default();
    let legacy_peers = cf.peers.as_deref().unwrap_or_default();

    // Names first, in upstream's order: pools, BFD profiles, peer BFD references.
    let mut pool_names = Vec::with_capacity(legacy_pools.len());
    for p in legacy_pools {
        pool_names.push(convert_name(text(&p.name), "IpAddressPool", &mut warnings)?);
    }
    let mut bfd_names = Vec::with_capacity(legacy_bfd.len());
    for b in legacy_bfd {
        bfd_names.push(convert_name(text(&b.name), "BFDProfile", &mut warnings)?);
    }
    let mut peer_bfd = Vec::with_capacity(legacy_peers.len());
    for p in legacy_peers {
        let b = text(&p.bfd_profile);
        peer_bfd.push(if b.is_empty() {
            String::new()
        } else {
            // A reference is renamed like the profile it names; a second warning would be noise.
            convert_name(b, "BFDProfile", &mut Vec::new())?
        });
    }

    let mut r = Resources {
        namespace: namespace.to_owned(),
        ..Resources::default()
    };

    r.bfd_profiles = legacy_bfd
        .iter()
        .zip(bfd_names)
        .map(|(b, name)| BfdProfile {
            name,
            receive_interval: b.receive_interval.map(|v| v.0),
            transmit_interval: b.transmit_interval.map(|v| v.0),
            detect_multiplier: b.detect_multiplier.map(|v| v.0),
            echo_interval: b.echo_interval.map(|v| v.0),
            echo_mode: b.echo_mode.is_some_and(|v| v.0),
            passive_mode: b.passive_mode.is_some_and(|v| v.0),
            minimum_ttl: b.minimum_ttl.map(|v| v.0),
        })
        .collect();

    r.communities = cf
        .bgp_communities
        .iter()
        .flatten()
        .map(|(k, v)| (k.0.clone(), text(v).to_owned()))
        .collect();

    for (i, (p, bfd)) in legacy_peers.iter().zip(peer_bfd).enumerate() {
        let name = format!("peer{}", i + 1);
        let ctx =
            |e: String| MigrateError::Convert(format!("peer #{} ({}): {e}", i + 1, text(&p.addr)));
        let hold = hold_time(text(&p.hold_time)).map_err(ctx)?;
        let keepalive = match text(&p.keepalive_time) {
            "" => None,
            k => Some(keepalive_time(k).map_err(ctx)?),
        };
        let password = text(&p.password).to_owned();
        let (password, password_secret) = if password_secrets && !password.is_empty() {
            let secret = format!("{name}-password");
            r.secrets.push(PasswordSecret {
                name: secret.clone(),
                password,
            });
            (String::new(), Some(secret))
        } else {
            (password, None)
        };
        r.peers.push(BgpPeer {
            name,
            index: i + 1,
            my_asn: p.my_asn.map_or(0, |v| v.0),
            peer_asn: p.asn.map_or(0, |v| v.0),
            peer_address: text(&p.addr).to_owned(),
            source_address: text(&p.src_addr).to_owned(),
            peer_port: p.port.map_or(0, |v| v.0),
            hold_time: hold,
            keepalive_time: keepalive,
            router_id: text(&p.router_id).to_owned(),
            node_selectors: p.node_selectors.iter().flatten().map(selector).collect(),
            password,
            password_secret,
            bfd_profile: bfd,
            ebgp_multihop: p.ebgp_multihop.is_some_and(|v| v.0),
        });
    }

    for (i, (p, name)) in legacy_pools.iter().zip(&pool_names).enumerate() {
        r.pools.push(IpAddressPool {
            name: name.clone(),
            legacy_name: text(&p.name).to_owned(),
            index: i + 1,
            protocol: text(&p.protocol).to_owned(),
            addresses: p
                .addresses
                .iter()
                .flatten()
                .map(|a| text(a).to_owned())
                .collect(),
            auto_assign: p.auto_assign.map(|v| v.0),
            avoid_buggy_ips: p.avoid_buggy_ips.is_some_and(|v| v.0),
        });
    }

    // BGP advertisements: one counter across all pools; every legacy entry of any pool, and an
    // empty one for a `bgp` pool without entries.
    for (p, name) in legacy_pools.iter().zip(&pool_names) {
        let ads = p.bgp_advertisements.as_deref().unwrap_or_default();
        for a in ads {
            let n = r.bgp_advertisements.len() + 1;
            r.bgp_advertisements.push(BgpAdvertisement {
                name: format!("bgpadvertisement{n}"),
                aggregation_length: a.aggregation_length.map(|v| v.0),
                aggregation_length_v6: a.aggregation_length_v6.map(|v| v.0),
                local_pref: a.local_pref.map_or(0, |v| v.0),
                communities: a
                    .communities
                    .iter()
                    .flatten()
                    .map(|c| text(c).to_owned())
                    .collect(),
                pool: name.clone(),
            });
        }
        if ads.is_empty() && text(&p.protocol) == "bgp" {
            let n = r.bgp_advertisements.len() + 1;
            r.bgp_advertisements.push(BgpAdvertisement {
                name: format!("bgpadvertisement{n}"),
                aggregation_length: None,
                aggregation_length_v6: None,
                local_pref: 0,
                communities: Vec::new(),
                pool: name.clone(),
            });
        }
    }

    for (p, name) in legacy_pools.iter().zip(&pool_names) {
        if text(&p.protocol) == "layer2" {
            let n = r.l2_advertisements.len() + 1;
            r.l2_advertisements.push(L2Advertisement {
                name: format!("l2advertisement{n}"),
                pool: name.clone(),
            });
        }
    }

    Ok((r, warnings))
}
