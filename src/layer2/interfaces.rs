//! v0.9's interface rules (spec §4.5 "Interface scan"): which ARP and NDP responders a
//! scan pass creates and deletes, as a pure function over what the shell read from the host.
//!
//! For each interface, in the order the host lists them: its addresses are read first (a
//! failure aborts the whole pass, `op=getAddresses`); it is skipped when down, when it is a
//! bond slave or bridge port (`/sys/class/net/<if>/master` exists), or when its sysfs flags
//! have NOARP (0x80). It gets an ARP responder when it has the BROADCAST flag (even without
//! an IPv4 address) and an NDP responder when it has an IPv6 link-local unicast address.
//! Responders of interfaces that no longer qualify are deleted after all creations.
//!
//! The shell performs [`ScanPlan::actions`] in order and, like v0.9, stops the pass at the
//! first creation that fails (the deletions of that pass are then skipped too).

use std::collections::BTreeSet;
use std::net::IpAddr;

/// What the shell read about one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Name (`eth0`).
    pub name: String,
    /// Kernel index.
    pub index: u32,
    /// IFF_UP.
    pub up: bool,
    /// `/sys/class/net/<name>/master` exists (or could not be checked for absence).
    pub has_master: bool,
    /// The sysfs flags have NOARP (0x80); `false` when the file is unreadable, as in v0.9.
    pub noarp: bool,
    /// IFF_BROADCAST.
    pub broadcast: bool,
    /// The interface's addresses, or the error listing them.
    pub addresses: Result<Vec<IpAddr>, String>,
}

/// One step of a scan pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanAction {
    /// Create an ARP responder (log `event=createARPResponder`).
    CreateArp {
        /// Interface index.
        index: u32,
        /// Interface name.
        name: String,
    },
    /// Create an NDP responder (log `event=createNDPResponder`).
    CreateNdp {
        /// Interface index.
        index: u32,
        /// Interface name.
        name: String,
    },
    /// Close the ARP responder of `index` (log `event=deleteARPResponder`).
    DeleteArp {
        /// Interface index.
        index: u32,
    },
    /// Close the NDP responder of `index` (log `event=deleteNDPResponder`).
    DeleteNdp {
        /// Interface index.
        index: u32,
    },
    /// Listing the addresses of `name` failed: log `op=getAddresses` and end the pass here.
    Abort {
        /// Interface name.
        name: String,
        /// The error text.
        error: String,
    },
}

/// The steps of one scan pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanPlan {
    /// In the order v0.9 performs them.
    pub actions: Vec<ScanAction>,
}

fn is_ipv6_link_local_unicast(ip: &IpAddr) -> bool {
    // Go skips anything with an IPv4 form (including IPv4-mapped) before the fe80::/10 test.
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_none() && v6.is_unicast_link_local(),
        IpAddr::V4(_) => false,
    }
}

/// The plan of one scan pass over `interfaces`, given the interfaces that currently have an
/// ARP (`arp`) or NDP (`ndp`) responder.
pub fn plan_scan(interfaces: &[InterfaceInfo], arp: &BTreeSet<u32>, ndp: &BTreeSet<u32>) -> ScanPlan {
    let mut actions = Vec::new();
    let (mut keep_arp, mut keep_ndp) = (BTreeSet::new(), BTreeSet::new());
    for ifi in interfaces {
        let addresses = match &ifi.addresses {
            Ok(a) => a,
            Err(error) => {
                actions.push(ScanAction::Abort { name: ifi.name.clone(), error: error.clone() });
                return ScanPlan { actions };
            }
        };
        if !ifi.up || ifi.has_master || ifi.noarp {
            continue;
        }
        if ifi.broadcast {
            keep_arp.insert(ifi.index);
            if !arp.contains(&ifi.index) {
                actions.push(ScanAction::CreateArp { index: ifi.index, name: ifi.name.clone() });
            }
        }
        if addresses.iter().any(is_ipv6_link_local_unicast) {
            keep_ndp.insert(ifi.index);
            if !ndp.contains(&ifi.index) {
                actions.push(ScanAction::CreateNdp { index: ifi.index, name: ifi.name.clone() });
            }
        }
    }
    actions.extend(arp.difference(&keep_arp).map(|&index| ScanAction::DeleteArp { index }));
    actions.extend(ndp.difference(&keep_ndp).map(|&index| ScanAction::DeleteNdp { index }));
    ScanPlan { actions }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifi(name: &str, index: u32, addrs: &[&str]) -> InterfaceInfo {
        InterfaceInfo {
            name: name.into(),
            index,
            up: true,
            has_master: false,
            noarp: false,
            broadcast: true,
            addresses: Ok(addrs.iter().map(|a| a.parse().unwrap()).collect()),
        }
    }

    fn set(items: &[u32]) -> BTreeSet<u32> {
        items.iter().copied().collect()
    }

    #[test]
    fn broadcast_gets_arp_and_link_local_gets_ndp() {
        let plan = plan_scan(&[ifi("eth0", 2, &["192.0.2.1", "fe80::1"]), ifi("eth1", 3, &[])], &set(&[]), &set(&[]));
        assert_eq!(
            plan.actions,
            vec![
                ScanAction::CreateArp { index: 2, name: "eth0".into() },
                ScanAction::CreateNdp { index: 2, name: "eth0".into() },
                ScanAction::CreateArp { index: 3, name: "eth1".into() },
            ]
        );
    }

    #[test]
    fn down_enslaved_and_noarp_interfaces_get_no_responder() {
        let mut down = ifi("down", 2, &["fe80::1"]);
        down.up = false;
        let mut port = ifi("port", 3, &["fe80::2"]);
        port.has_master = true;
        let mut noarp = ifi("noarp", 4, &["fe80::3"]);
        noarp.noarp = true;
        assert_eq!(plan_scan(&[down, port, noarp], &set(&[]), &set(&[])).actions, vec![]);
    }

    #[test]
    fn loopback_like_interfaces_and_global_v6_only_get_nothing() {
        let mut lo = ifi("lo", 1, &["127.0.0.1", "::1"]);
        lo.broadcast = false;
        let mut global = ifi("tun0", 5, &["2001:db8::1", "::ffff:192.0.2.1"]);
        global.broadcast = false;
        assert_eq!(plan_scan(&[lo, global], &set(&[]), &set(&[])).actions, vec![]);
    }

    #[test]
    fn existing_responders_are_kept_and_vanished_ones_deleted_last() {
        let plan = plan_scan(&[ifi("eth0", 2, &["fe80::1"]), ifi("eth2", 9, &[])], &set(&[2, 4]), &set(&[2, 4]));
        assert_eq!(
            plan.actions,
            vec![
                ScanAction::CreateArp { index: 9, name: "eth2".into() },
                ScanAction::DeleteArp { index: 4 },
                ScanAction::DeleteNdp { index: 4 },
            ]
        );
    }

    #[test]
    fn address_error_aborts_the_pass_before_deletions() {
        let mut broken = ifi("eth1", 3, &[]);
        broken.addresses = Err("netlink: boom".into());
        broken.up = false;
        let plan = plan_scan(&[ifi("eth0", 2, &[]), broken, ifi("eth2", 4, &[])], &set(&[7]), &set(&[]));
        assert_eq!(
            plan.actions,
            vec![
                ScanAction::CreateArp { index: 2, name: "eth0".into() },
                ScanAction::Abort { name: "eth1".into(), error: "netlink: boom".into() },
            ]
        );
    }
}
