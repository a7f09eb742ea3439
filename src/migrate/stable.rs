//! `--stable-names`: object names derived from what each object describes, instead of
//! upstream's positions (`peer1`, `bgpadvertisement2`, …, spec §9.3). Re-running the
//! conversion after a peer or pool was added, removed or moved in the ConfigMap then names
//! every other object as before, so `kubectl apply` updates objects in place instead of
//! deleting one and creating another under a name that used to mean something else.
//!
//! The names:
//! * BGPPeer `peer-<peerASN>-<peerAddress>`, the address with `:` as `-` (`peer-64501-192.0.2.1`,
//!   `peer-64501-2001-db8--1`). Two peers with the same address and ASN (a peer per node
//!   group, say) each get `-<8 hex digits>` of a SHA-256 of their other settings.
//! * BGPAdvertisement: the pool's name for its first advertisement, `<pool>-<k>` for its k-th.
//! * L2Advertisement: the pool's name.
//! * Password Secrets follow their peer: `<peer>-password`.
//!
//! Such names can still meet (pool `a`'s second advertisement and pool `a-2`'s first), so the
//! last step checks each kind for a name used twice and refuses the conversion with both
//! owners named, rather than invent a tie-break that would itself depend on order.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::error::MigrateError;
use super::names;
use super::objects::{BgpPeer, Resources};

/// Renames the objects of `r` as the module describes. Pure; on error `r` is left renamed
/// halfway and must be dropped (the caller returns the error, nothing is written).
pub fn rename(r: &mut Resources) -> Result<(), MigrateError> {
    rename_peers(r);
    let mut per_pool: BTreeMap<String, usize> = BTreeMap::new();
    for a in &mut r.bgp_advertisements {
        let k = per_pool.entry(a.pool.clone()).or_insert(0);
        *k += 1;
        a.name = if *k == 1 {
            a.pool.clone()
        } else {
            format!("{}-{k}", a.pool)
        };
    }
    for a in &mut r.l2_advertisements {
        a.name = a.pool.clone();
    }
    unique(
        "BGPPeer",
        r.peers
            .iter()
            .map(|p| (p.name.as_str(), p.peer_address.as_str())),
    )?;
    unique(
        "BGPAdvertisement",
        r.bgp_advertisements
            .iter()
            .map(|a| (a.name.as_str(), a.pool.as_str())),
    )?;
    unique(
        "L2Advertisement",
        r.l2_advertisements
            .iter()
            .map(|a| (a.name.as_str(), a.pool.as_str())),
    )?;
    for n in r.peers.iter().map(|p| &p.name) {
        if !names::is_valid_object_name(n) {
            return Err(MigrateError::Convert(format!(
                "--stable-names: the derived BGPPeer name {n:?} is not a valid Kubernetes object name; drop --stable-names"
            )));
        }
    }
    Ok(())
}

fn rename_peers(r: &mut Resources) {
    let base: Vec<String> = r.peers.iter().map(peer_base).collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for b in &base {
        *count.entry(b).or_insert(0) += 1;
    }
    let renamed: Vec<String> = r
        .peers
        .iter()
        .zip(&base)
        .map(|(p, b)| {
            if count[b.as_str()] > 1 {
                format!("{b}-{}", settings_digest(p))
            } else {
                b.clone()
            }
        })
        .collect();
    for (p, name) in r.peers.iter_mut().zip(renamed) {
        p.name = name;
    }
    for s in &mut r.secrets {
        // The Secrets were named `<positional peer>-password`; find the peer that refers to it.
        if let Some(p) = r
            .peers
            .iter_mut()
            .find(|p| p.password_secret.as_deref() == Some(s.name.as_str()))
        {
            s.name = format!("{}-password", p.name);
            p.password_secret = Some(s.name.clone());
        }
    }
}

/// `peer-<asn>-<address>`: an address is `[0-9a-f.:]`, and `:` is not allowed in a name. An
/// IPv6 address ending in `::` would end the name in `-`, which is not allowed either; a `0`
/// keeps it a spelling of the same address.
fn peer_base(p: &BgpPeer) -> String {
    let mut addr = p.peer_address.to_ascii_lowercase().replace(':', "-");
    if addr.ends_with('-') {
        addr.push('0');
    }
    format!("peer-{}-{addr}", p.peer_asn)
}

/// Eight hex digits of a SHA-256 of what else tells two sessions to one router apart (the
/// password is left out: a name is no place for anything derived from it).
fn settings_digest(p: &BgpPeer) -> String {
    let canonical = format!(
        "{}|{}|{}|{}|{}|{:?}|{}|{}|{:?}",
        p.my_asn,
        p.source_address,
        p.peer_port,
        p.router_id,
        p.hold_time,
        p.keepalive_time,
        p.bfd_profile,
        p.ebgp_multihop,
        p.node_selectors
    );
    let digest = Sha256::digest(canonical.as_bytes());
    digest[..4].iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Refuses the conversion when two objects of `kind` got one name; `owners` pairs each name
/// with what it was derived from (a peer's address, an advertisement's pool).
fn unique<'a>(
    kind: &str,
    owners: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<(), MigrateError> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, from) in owners {
        if let Some(first) = seen.insert(name, from) {
            return Err(MigrateError::Convert(format!(
                "--stable-names: two {kind}s would both be named {name:?} (derived from {first:?} and {from:?}); rename a pool in the ConfigMap, or drop --stable-names for upstream's numbered names"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "stable_tests.rs"]
mod tests;
