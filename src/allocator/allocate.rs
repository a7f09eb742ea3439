//! The allocator's operations: v0.9's `Assign`, `AllocateFromPool`, `Allocate`, `Unassign`
//! and `SetPools` (spec §3.3–§3.6), on the tables of `services.rs` and the index of `index.rs`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::address::{self, Addr};
use super::error::AllocError;
use super::index::KeyedIndex;
use super::intern::Interner;
use super::metrics::PoolGauges;
use super::pool::Layout;
use super::port::{self, Port};
use super::services::{NONE, Services, Slot};
use super::sharing::{SharingKeys, sharing_ok};
use crate::config::Pool;

/// The IP allocator of the controller. See the module documentation for the contract.
#[derive(Default)]
pub struct Allocator {
    layout: Layout,
    services: Services,
    keys: Interner<SharingKeys>,
    ports: Interner<Box<[Port]>>,
    index: KeyedIndex,
    /// Services per pool of the layout (v0.9.3's `poolServices`).
    in_pool: Vec<u64>,
    /// The allocator gauge series that exist, by pool name (spec §5).
    gauges: BTreeMap<String, PoolGauges>,
}

/// What an accepted [`Allocator::set_pools`] changed for the metrics shell.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolsUpdate {
    /// Pools of the previous config that the new one lacks, in previous config order: delete
    /// their `addresses_total`, `addresses_in_use_total` and `services_allocated_total` series.
    pub removed: Vec<String>,
}

/// What the allocator's state costs, for the memory tests and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Services with an allocation.
    pub services: usize,
    /// Distinct IPs in use.
    pub ips_in_use: usize,
    /// Runs of keyed addresses in the index (a sequentially filled pool is one run).
    pub keyed_runs: usize,
    /// Entries of the sharing index (addresses whose key has a non-empty sharing key).
    pub shared_entries: usize,
    /// Approximate heap bytes of all of the above plus the config layout.
    pub bytes: usize,
}

fn keys_query<'a>(sharing: &'a str, backend: &'a str) -> (&'a str, &'a str) {
    (sharing, backend)
}

impl Allocator {
    /// An allocator with no pools and no allocations.
    pub fn new() -> Allocator {
        Allocator::default()
    }

    /// v0.9's `SetPools`: make `pools` (a validated config's pools, in config order) the
    /// active pools.
    ///
    /// Rejected, leaving everything as it was, when an allocated IP would be owned by no pool
    /// (`new config not compatible with assigned IPs: ...`; the service whose key sorts first
    /// is named). Otherwise the gauge series of removed pools are dropped (and reported in
    /// [`PoolsUpdate::removed`]), and every allocation whose owning pool has another name is
    /// silently re-labelled, in service-key order, exactly as v0.9 does it: unassigned and
    /// re-assigned with its own keys and ports, which sets its pool's gauges.
    pub fn set_pools(&mut self, pools: &[Pool]) -> Result<PoolsUpdate, AllocError> {
        let layout = Layout::build(pools)?;
        let mut orphan: Option<&Slot> = None;
        for (_, slot) in self.services.iter() {
            if layout.owner(slot.ip).is_none() && orphan.is_none_or(|o| slot.name < o.name) {
                orphan = Some(slot);
            }
        }
        if let Some(o) = orphan {
            return Err(AllocError::IncompatibleConfig { svc: o.name.to_string(), ip: address::decode(o.ip) });
        }
        let removed: Vec<String> =
            self.layout.pools.iter().filter(|p| layout.pool_index(&p.name).is_none()).map(|p| p.name.clone()).collect();
        for name in &removed {
            self.gauges.remove(name);
        }

        // Each allocation keeps the pool *name* it had (v0.9 stores names); those whose
        // owning pool is now called differently are re-labelled below.
        let old = std::mem::replace(&mut self.layout, layout);
        let mut in_pool = vec![0u64; self.layout.pools.len()];
        let mut relabel = Vec::new();
        let ids: Vec<u32> = self.services.iter().map(|(id, _)| id).collect();
        for id in ids {
            let slot = self.services.get(id);
            let old_name = &old.pools[slot.pool as usize].name;
            let seg = self.layout.owner(slot.ip).expect("every allocated IP has an owner: checked above");
            let owner = self.layout.segments[seg].pool;
            let label = if self.layout.pools[owner].name == *old_name {
                Some(owner)
            } else {
                relabel.push(id);
                self.layout.pool_index(old_name)
            };
            if let Some(p) = label {
                in_pool[p] += 1;
            }
            self.services.get_mut(id).pool = label.map_or(NONE, |p| p as u32);
        }
        self.in_pool = in_pool;
        self.rebuild_index();
        relabel.sort_by(|&a, &b| self.services.get(a).name.cmp(&self.services.get(b).name));
        for id in relabel {
            self.relabel(id);
        }
        Ok(PoolsUpdate { removed })
    }

    /// v0.9's `Assign`: give `ip` to `svc` if the config owns it and the sharing rules allow
    /// it (spec §3.4). On success any previous allocation of `svc` is replaced; on failure
    /// nothing changes.
    pub fn assign(&mut self, svc: &str, ip: IpAddr, ports: &[Port], sharing_key: &str, backend_key: &str) -> Result<(), AllocError> {
        let addr = address::encode(ip);
        let seg = self.layout.owner(addr).ok_or(AllocError::NotAllowed(address::decode(addr)))?;
        self.check_sharing(svc, addr, ports, sharing_key, backend_key)?;
        self.record(svc, addr, seg, ports, sharing_key, backend_key);
        Ok(())
    }

    /// v0.9's `AllocateFromPool`: `svc`'s current IP if it has one (re-assigned with the new
    /// ports and keys; an IP of the other family is an error), else the first address of
    /// `pool`'s walk (§3.3) that `assign` would accept. Works for `auto-assign: false` pools.
    pub fn allocate_from_pool(
        &mut self,
        svc: &str,
        is_ipv6: bool,
        pool: &str,
        ports: &[Port],
        sharing_key: &str,
        backend_key: &str,
    ) -> Result<IpAddr, AllocError> {
        if let Some(id) = self.services.find(svc) {
            let ip = address::decode(self.services.get(id).ip);
            if ip.is_ipv6() != is_ipv6 {
                return Err(AllocError::WrongFamily(ip));
            }
            self.assign(svc, ip, ports, sharing_key, backend_key)?;
            return Ok(ip);
        }
        let p = self.layout.pool_index(pool).ok_or_else(|| AllocError::UnknownPool(pool.to_string()))?;
        match self.first_assignable(p, is_ipv6, svc, ports, sharing_key, backend_key) {
            Some((seg, addr)) => {
                self.record(svc, addr, seg, ports, sharing_key, backend_key);
                Ok(address::decode(addr))
            }
            None => Err(AllocError::PoolExhausted(pool.to_string())),
        }
    }

    /// v0.9's `Allocate`: `svc`'s current IP if it has one (re-assigned, whatever its family),
    /// else the first success of [`Allocator::allocate_from_pool`] over the `auto-assign`
    /// pools **in config order** (v0.9: random order).
    pub fn allocate(
        &mut self,
        svc: &str,
        is_ipv6: bool,
        ports: &[Port],
        sharing_key: &str,
        backend_key: &str,
    ) -> Result<IpAddr, AllocError> {
        if let Some(id) = self.services.find(svc) {
            let ip = address::decode(self.services.get(id).ip);
            self.assign(svc, ip, ports, sharing_key, backend_key)?;
            return Ok(ip);
        }
        for p in 0..self.layout.pools.len() {
            if !self.layout.pools[p].auto_assign {
                continue;
            }
            if let Some((seg, addr)) = self.first_assignable(p, is_ipv6, svc, ports, sharing_key, backend_key) {
                self.record(svc, addr, seg, ports, sharing_key, backend_key);
                return Ok(address::decode(addr));
            }
        }
        Err(AllocError::NoAvailableIps)
    }

    /// v0.9's `Unassign`: release `svc`'s allocation; whether it had one. When no ports remain
    /// registered on the IP its sharing key is forgotten (even if port-less services remain),
    /// and the IP is free again at once. The in-use gauge is not updated (v0.9.3).
    pub fn unassign(&mut self, svc: &str) -> bool {
        let Some(id) = self.services.find(svc) else { return false };
        let addr = self.services.get(id).ip;
        let ports_remain = self.services.on_ip(addr).any(|s| *s.name != *svc && !self.ports.get(s.ports).is_empty());
        if !ports_remain && let Some(old) = self.services.set_ip_key(addr, None) {
            let seg = self.layout.owner(addr).expect("an allocated IP is owned by a pool of the active config");
            let ord = self.layout.segments[seg].ordinal(addr);
            self.index.rekey(seg, ord, Some((old, self.shareable(old))), None);
            self.keys.release(old);
        }
        let slot = self.services.remove(id);
        if let Some(n) = self.in_pool.get_mut(slot.pool as usize) {
            *n -= 1;
        }
        self.keys.release(slot.key);
        self.ports.release(slot.ports);
        true
    }

    /// v0.9's `IP`: the IP allocated to `svc`.
    pub fn ip_of(&self, svc: &str) -> Option<IpAddr> {
        self.services.find(svc).map(|id| address::decode(self.services.get(id).ip))
    }

    /// v0.9's `Pool`: the pool owning `svc`'s IP.
    pub fn pool_of(&self, svc: &str) -> Option<&str> {
        let id = self.services.find(svc)?;
        self.layout.pools.get(self.services.get(id).pool as usize).map(|p| p.name.as_str())
    }

    /// The allocator gauge series as v0.9.3 would expose them now, by pool name.
    pub fn pool_gauges(&self) -> &BTreeMap<String, PoolGauges> {
        &self.gauges
    }

    /// The exact number of services allocated in `pool` (the gauge may be stale).
    pub fn services_in_pool(&self, pool: &str) -> Option<u64> {
        self.layout.pool_index(pool).map(|p| self.in_pool[p])
    }

    /// The capacity of `pool` (the `addresses_total` value, §5).
    pub fn capacity_of(&self, pool: &str) -> Option<i64> {
        self.layout.pool_index(pool).map(|p| self.layout.pools[p].capacity)
    }

    /// What the state costs.
    pub fn footprint(&self) -> Footprint {
        let (keyed_runs, shared_entries) = self.index.size();
        // A B-tree entry costs about its key and value plus a share of node overhead.
        let run_bytes = keyed_runs * 48 + shared_entries * 48;
        let layout_bytes = self.layout.segments.len() * size_of::<super::pool::Segment>()
            + self.layout.pools.iter().map(|p| size_of::<super::pool::PoolEntry>() + p.name.len() + p.segments.len() * 8).sum::<usize>();
        Footprint {
            services: self.services.len(),
            ips_in_use: self.services.ips_in_use(),
            keyed_runs,
            shared_entries,
            bytes: self.services.bytes() + self.keys.bytes() + self.ports.bytes() + run_bytes + layout_bytes + self.in_pool.len() * 8,
        }
    }

    fn shareable(&self, key: u32) -> bool {
        !self.keys.get(key).sharing.is_empty()
    }

    /// The sharing and port checks of `Assign` (spec §3.4 step 2).
    fn check_sharing(&self, svc: &str, addr: Addr, ports: &[Port], sharing_key: &str, backend_key: &str) -> Result<(), AllocError> {
        let Some(current) = self.services.ip_key(addr) else { return Ok(()) };
        if !sharing_ok(self.keys.get(current), sharing_key, backend_key) {
            let mut others: Vec<String> = self.services.on_ip(addr).filter(|s| *s.name != *svc).map(|s| s.name.to_string()).collect();
            if !others.is_empty() {
                others.sort();
                return Err(AllocError::SharingKeyMismatch { svc: svc.to_string(), others });
            }
        }
        match self.first_port_clash(addr, svc, ports) {
            Some(port) => Err(AllocError::PortInUse { port: port.clone(), ip: address::decode(addr) }),
            None => Ok(()),
        }
    }

    /// The first of `ports` (in the order given) that another service on `addr` uses.
    fn first_port_clash<'p>(&self, addr: Addr, svc: &str, ports: &'p [Port]) -> Option<&'p Port> {
        ports.iter().find(|p| self.services.on_ip(addr).any(|s| *s.name != *svc && self.ports.get(s.ports).binary_search(p).is_ok()))
    }

    /// The address v0.9's walk of `pool` would settle on for an unallocated `svc`: per
    /// segment in config order, the first unkeyed address, or an earlier address carrying the
    /// same non-empty sharing keys with no port clash.
    fn first_assignable(
        &self,
        pool: usize,
        v6: bool,
        svc: &str,
        ports: &[Port],
        sharing_key: &str,
        backend_key: &str,
    ) -> Option<(usize, Addr)> {
        let shared = if sharing_key.is_empty() {
            None
        } else {
            self.keys.find(&keys_query(sharing_key, backend_key), |k| *k.sharing == *sharing_key && *k.backend == *backend_key)
        };
        for &seg in &self.layout.pools[pool].segments {
            let s = &self.layout.segments[seg];
            if s.v6 != v6 {
                continue;
            }
            let free = self.index.first_unkeyed(seg, s.max_ord);
            let mut best = free;
            if let Some(k) = shared
                && let Some(o) = self.index.shared_before(k, seg, free).find(|&o| self.first_port_clash(s.addr(o), svc, ports).is_none())
            {
                best = Some(o);
            }
            let Some(o) = best else { continue };
            let a = s.addr(o);
            if v6 && address::is_v4(a) {
                // The IPv4-mapped block inside an IPv6 CIDR (only in CIDRs of /80 or shorter
                // around ::ffff:0:0, after 2^32 allocations): Go sees IPv4 addresses there
                // that the IPv6 CIDR does not own. Treated as the end of the segment.
                continue;
            }
            return Some((seg, a));
        }
        None
    }

    /// The recording half of `Assign`, once the checks passed.
    fn record(&mut self, svc: &str, addr: Addr, seg: usize, ports: &[Port], sharing_key: &str, backend_key: &str) {
        let key = self.keys.acquire(
            &keys_query(sharing_key, backend_key),
            |k| *k.sharing == *sharing_key && *k.backend == *backend_key,
            || SharingKeys { sharing: sharing_key.into(), backend: backend_key.into() },
        );
        let ports = self.ports.acquire_value(port::normalize(ports));
        self.unassign(svc);
        let pool = self.layout.segments[seg].pool as u32;
        self.place(Slot::new(svc.into(), addr, key, ports, pool), seg);
    }

    /// v0.9's internal `assign` after its `Unassign`: the slot brings one reference to its key
    /// and its ports. The IP's key becomes the slot's key; the pool's gauges are set.
    fn place(&mut self, slot: Slot, seg: usize) {
        let (addr, key, pool) = (slot.ip, slot.key, slot.pool as usize);
        self.services.insert(slot);
        self.keys.retain(key);
        let old = self.services.set_ip_key(addr, Some(key));
        let ord = self.layout.segments[seg].ordinal(addr);
        self.index.rekey(seg, ord, old.map(|k| (k, self.shareable(k))), Some((key, self.shareable(key))));
        if let Some(old) = old {
            self.keys.release(old);
        }
        self.in_pool[pool] += 1;
        let entry = &self.layout.pools[pool];
        let gauges = PoolGauges { addresses_total: entry.capacity, addresses_in_use_total: self.in_pool[pool] };
        match self.gauges.get_mut(&entry.name) {
            Some(g) => *g = gauges,
            None => {
                self.gauges.insert(entry.name.clone(), gauges);
            }
        }
    }

    /// `SetPools`' re-labelling of one allocation: unassign, then the internal assign.
    fn relabel(&mut self, id: u32) {
        let (name, addr, key, ports) = {
            let s = self.services.get(id);
            (s.name.clone(), s.ip, s.key, s.ports)
        };
        self.keys.retain(key);
        self.ports.retain(ports);
        self.unassign(&name);
        let seg = self.layout.owner(addr).expect("every allocated IP has an owner under the accepted config");
        let pool = self.layout.segments[seg].pool as u32;
        self.place(Slot::new(name, addr, key, ports, pool), seg);
    }

    fn rebuild_index(&mut self) {
        self.index = KeyedIndex::new(self.layout.segments.len());
        let keyed: Vec<(Addr, u32)> = self.services.keyed_ips().collect();
        for (addr, key) in keyed {
            let seg = self.layout.owner(addr).expect("every allocated IP has an owner under the accepted config");
            let ord = self.layout.segments[seg].ordinal(addr);
            self.index.rekey(seg, ord, None, Some((key, self.shareable(key))));
        }
    }

    /// Test support: the index must equal one rebuilt from the tables.
    #[cfg(test)]
    pub(crate) fn check_index(&self) {
        let mut fresh = KeyedIndex::new(self.layout.segments.len());
        for (addr, key) in self.services.keyed_ips() {
            let seg = self.layout.owner(addr).expect("keyed IPs are owned");
            fresh.rekey(seg, self.layout.segments[seg].ordinal(addr), None, Some((key, self.shareable(key))));
        }
        for seg in 0..self.layout.segments.len() {
            assert_eq!(self.index.keyed(seg), fresh.keyed(seg), "keyed runs of segment {seg}");
        }
        assert_eq!(self.index.shared(), fresh.shared(), "sharing index");
        let mut counts = vec![0u64; self.layout.pools.len()];
        for (_, s) in self.services.iter() {
            counts[s.pool as usize] += 1;
        }
        assert_eq!(counts, self.in_pool, "services per pool");
    }
}
