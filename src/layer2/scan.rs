//! The interface scan shell (spec §4.5): reads the host's interfaces and applies
//! [`plan_scan`]'s plan to the [`Responders`]; v0.9 runs it at start and every 10 s.
//!
//! Interfaces, flags and addresses come from `getifaddrs` (netlink, so they are those of the
//! calling thread's network namespace); the flags are the kernel's `dev->flags`, the same
//! value v0.9 reads from `/sys/class/net/<if>/flags`. Only the bond/bridge-port test reads
//! sysfs (`/sys/class/net/<if>/master`, as v0.9), which reflects the namespace /sys was
//! mounted in: right in a hostNetwork pod and under `ip netns exec`.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::interfaces::{InterfaceInfo, ScanAction, plan_scan};
use super::responders::Responders;

/// Reads every interface of the current network namespace, in index order.
pub fn read_host_interfaces() -> io::Result<Vec<InterfaceInfo>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed below.
    if unsafe { libc::getifaddrs(&mut head) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut by_name: BTreeMap<String, (u32, InterfaceInfo)> = BTreeMap::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let cname = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        let name = cname.to_string_lossy().into_owned();
        let entry = by_name.entry(name.clone()).or_insert_with(|| {
            // SAFETY: a valid NUL-terminated string.
            let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
            let flags = ifa.ifa_flags as libc::c_int;
            let info = InterfaceInfo {
                has_master: std::fs::exists(format!("/sys/class/net/{name}/master")).unwrap_or(true),
                name,
                index,
                up: flags & libc::IFF_UP != 0,
                noarp: flags & libc::IFF_NOARP != 0,
                broadcast: flags & libc::IFF_BROADCAST != 0,
                addresses: Ok(Vec::new()),
            };
            (index, info)
        });
        if ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_addr points at a sockaddr whose family says its real type.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        let ip = match family {
            libc::AF_INET => {
                // SAFETY: the family is AF_INET.
                let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)))
            }
            libc::AF_INET6 => {
                // SAFETY: the family is AF_INET6.
                let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr))
            }
            _ => continue,
        };
        if let Ok(addresses) = &mut entry.1.addresses {
            addresses.push(ip);
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    let mut interfaces: Vec<(u32, InterfaceInfo)> = by_name.into_values().collect();
    interfaces.sort_by_key(|(index, _)| *index);
    Ok(interfaces.into_iter().map(|(_, info)| info).collect())
}

/// What one scan step did (the shell logs `createARPResponder` etc. from these).
#[derive(Debug)]
pub struct ScanStep {
    /// The planned step.
    pub action: ScanAction,
    /// Its outcome; a failed creation ends the pass, as in v0.9.
    pub result: io::Result<()>,
}

/// One scan pass over the current namespace's interfaces.
pub fn scan(responders: &mut Responders) -> io::Result<Vec<ScanStep>> {
    let interfaces = read_host_interfaces()?;
    let plan = plan_scan(&interfaces, &responders.arp_indices(), &responders.ndp_indices());
    let mut steps = Vec::new();
    for action in plan.actions {
        let result = match &action {
            ScanAction::CreateArp { name, .. } => responders.add_arp(name),
            ScanAction::CreateNdp { name, .. } => responders.add_ndp(name),
            ScanAction::DeleteArp { index } => {
                if let Some(name) = responders.interface_of(*index, false) {
                    responders.remove_arp(&name);
                }
                Ok(())
            }
            ScanAction::DeleteNdp { index } => {
                if let Some(name) = responders.interface_of(*index, true) {
                    responders.remove_ndp(&name);
                }
                Ok(())
            }
            ScanAction::Abort { error, .. } => Err(io::Error::other(error.clone())),
        };
        let failed = result.is_err();
        steps.push(ScanStep { action, result });
        if failed {
            break;
        }
    }
    Ok(steps)
}
