//! A slow, obviously faithful model of v0.9.3's allocator, for the property tests and the
//! benchmark only (it never ships in the library).
//!
//! It follows Go's `internal/allocator` step by step: the same maps (keyed by IP), `Assign`
//! tried at every address of the walk, the internal `assign` doing `Unassign` first. Where Go
//! iterates a map, it takes ferrolb's documented deterministic choice: pools in config order,
//! the "in use by" list sorted, the orphan with the smallest service key reported by
//! `set_pools`, re-labelling in service-key order (`allocated` is a `BTreeMap` for that).
//! Go's `net.IP` treats an IPv4-mapped IPv6 address as IPv4: inputs are canonicalised.
//! Self-contained (std and ipnet) so the benchmark can include it with `#[path]`.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// v0.9's `config.Pool`, as far as the allocator reads it.
#[derive(Clone, Debug)]
pub struct MPool {
    pub name: String,
    pub cidrs: Vec<IpNet>,
    pub avoid_buggy_ips: bool,
    pub auto_assign: bool,
}

/// v0.9's `allocator.Port`: protocol and port.
pub type MPort = (String, u16);

#[derive(Clone, Debug)]
struct Key {
    sharing: String,
    backend: String,
}

#[derive(Clone, Debug)]
struct Alloc {
    pool: String,
    ip: IpAddr,
    ports: Vec<MPort>,
    key: Key,
}

/// v0.9's three maps keyed by IP (`sharingKeyForIP`, `portsInUse`, `servicesOnIP`), side by
/// side. `sharing_key` is `None` where Go has no entry; Go deletes the key and the ports entry
/// together, and never reads an empty `servicesOnIP` entry, so an IP with neither key nor
/// services is dropped.
#[derive(Default)]
struct OnIp {
    sharing_key: Option<Key>,
    /// Port -> service (Go: `map[Port]string`), in insertion order.
    ports_in_use: Vec<(MPort, String)>,
    /// The services (Go: `map[string]bool`), in insertion order.
    services: Vec<String>,
}

impl OnIp {
    fn port_owner(&self, port: &MPort) -> Option<&String> {
        self.ports_in_use.iter().find(|(p, _)| p == port).map(|(_, s)| s)
    }
}

/// FxHash's word mixing with MurmurHash3's finaliser: much cheaper than SipHash, so the
/// model's walk costs about what a Go map lookup costs.
#[derive(Default)]
pub struct FastHasher(u64);

impl FastHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8-byte chunk")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w));
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.mix(i as u64);
        self.mix((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    fn write_isize(&mut self, i: isize) {
        self.mix(i as u64);
    }
}

/// Why `Assign` refused; turned into v0.9's text by [`Model::refusal_text`] before the state
/// changes (the walk discards refusals without paying for the text, as Go's would if it could).
enum Refusal {
    NotAllowed,
    SharingKey,
    Port(usize),
}

/// Go's `%q` for the plain names used with the model.
fn q(s: &str) -> String {
    format!("\"{s}\"")
}

fn ip_confuses_buggy_firmwares(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => matches!(v4.octets()[3], 0 | 255),
        IpAddr::V6(_) => false,
    }
}

fn pool_for(pools: &[MPool], ip: IpAddr) -> Option<usize> {
    for (i, p) in pools.iter().enumerate() {
        if p.avoid_buggy_ips && ip_confuses_buggy_firmwares(ip) {
            continue;
        }
        for cidr in &p.cidrs {
            if cidr.contains(&ip) {
                return Some(i);
            }
        }
    }
    None
}

/// v0.9's `poolCount`, with Go's float power.
pub fn pool_count(p: &MPool) -> i64 {
    let mut total: i64 = 0;
    for cidr in &p.cidrs {
        let (o, b) = (i32::from(cidr.prefix_len()), i32::from(cidr.max_prefix_len()));
        if b - o >= 62 {
            return i64::MAX;
        }
        let mut sz = 2f64.powi(b - o) as i64;
        if p.avoid_buggy_ips {
            if o <= 24 {
                sz -= 2f64.powi(24 - o) as i64 * 2;
            } else {
                if ip_confuses_buggy_firmwares(cidr.network()) {
                    sz -= 1;
                }
                if ip_confuses_buggy_firmwares(cidr.broadcast()) {
                    sz -= 1;
                }
            }
        }
        total = total.wrapping_add(sz);
    }
    total
}

fn sharing_ok(existing: &Key, sharing: &str, backend: &str) -> bool {
    if existing.sharing.is_empty() {
        return false;
    }
    if sharing.is_empty() {
        return false;
    }
    if existing.sharing != sharing {
        return false;
    }
    if existing.backend != backend {
        return false;
    }
    true
}

/// The model allocator.
#[derive(Default)]
pub struct Model {
    pools: Vec<MPool>,
    allocated: BTreeMap<String, Alloc>,
    ips: HashMap<IpAddr, OnIp, BuildHasherDefault<FastHasher>>,
    pool_services: BTreeMap<String, i64>,
    /// The gauge series: pool -> (addresses_total, addresses_in_use_total).
    pub gauges: BTreeMap<String, (i64, i64)>,
}

impl Model {
    pub fn new() -> Model {
        Model::default()
    }

    /// `SetPools`; on success, the removed pools in previous config order.
    pub fn set_pools(&mut self, pools: Vec<MPool>) -> Result<Vec<String>, String> {
        for (svc, alloc) in &self.allocated {
            if pool_for(&pools, alloc.ip).is_none() {
                return Err(format!(
                    "new config not compatible with assigned IPs: service {} cannot own {} under new config",
                    q(svc),
                    q(&alloc.ip.to_string())
                ));
            }
        }
        let mut removed = Vec::new();
        for p in &self.pools {
            if !pools.iter().any(|n| n.name == p.name) {
                self.gauges.remove(&p.name);
                removed.push(p.name.clone());
            }
        }
        self.pools = pools;
        let svcs: Vec<String> = self.allocated.keys().cloned().collect();
        for svc in svcs {
            let mut alloc = self.allocated[&svc].clone();
            let pool = self.pools[pool_for(&self.pools, alloc.ip).expect("checked above")].name.clone();
            if pool != alloc.pool {
                self.unassign(&svc);
                alloc.pool = pool;
                self.assign_internal(&svc, alloc);
            }
        }
        Ok(removed)
    }

    fn assign_internal(&mut self, svc: &str, alloc: Alloc) {
        self.unassign(svc);
        let ip = alloc.ip;
        let on = self.ips.entry(ip).or_default();
        on.sharing_key = Some(alloc.key.clone());
        for port in &alloc.ports {
            match on.ports_in_use.iter_mut().find(|(p, _)| p == port) {
                Some(entry) => entry.1 = svc.to_string(),
                None => on.ports_in_use.push((port.clone(), svc.to_string())),
            }
        }
        if !on.services.iter().any(|s| s == svc) {
            on.services.push(svc.to_string());
        }
        *self.pool_services.entry(alloc.pool.clone()).or_default() += 1;
        let capacity = pool_count(self.pools.iter().find(|p| p.name == alloc.pool).expect("assigned pools exist"));
        self.gauges.insert(alloc.pool.clone(), (capacity, self.pool_services[&alloc.pool]));
        self.allocated.insert(svc.to_string(), alloc);
    }

    fn try_assign(&mut self, svc: &str, ip: IpAddr, ports: &[MPort], sharing: &str, backend: &str) -> Result<(), Refusal> {
        let Some(pool) = pool_for(&self.pools, ip) else { return Err(Refusal::NotAllowed) };
        if let Some(on) = self.ips.get(&ip)
            && let Some(existing) = &on.sharing_key
        {
            if !sharing_ok(existing, sharing, backend) {
                let others = on.services.iter().filter(|o| *o != svc).count();
                if others > 0 {
                    return Err(Refusal::SharingKey);
                }
            }
            for (i, port) in ports.iter().enumerate() {
                if let Some(cur) = on.port_owner(port)
                    && cur != svc
                {
                    return Err(Refusal::Port(i));
                }
            }
        }
        let alloc = Alloc {
            pool: self.pools[pool].name.clone(),
            ip,
            ports: ports.to_vec(),
            key: Key { sharing: sharing.to_string(), backend: backend.to_string() },
        };
        self.assign_internal(svc, alloc);
        Ok(())
    }

    fn refusal_text(&self, r: Refusal, svc: &str, ip: IpAddr, ports: &[MPort]) -> String {
        match r {
            Refusal::NotAllowed => format!("{} is not allowed in config", q(&ip.to_string())),
            Refusal::SharingKey => {
                let mut others: Vec<&str> = self.ips[&ip].services.iter().filter(|o| *o != svc).map(String::as_str).collect();
                others.sort();
                format!("can't change sharing key for {}, address also in use by {}", q(svc), others.join(","))
            }
            Refusal::Port(i) => format!("port {}/{} is already in use on {}", ports[i].0, ports[i].1, q(&ip.to_string())),
        }
    }

    /// `Assign`.
    pub fn assign(&mut self, svc: &str, ip: IpAddr, ports: &[MPort], sharing: &str, backend: &str) -> Result<(), String> {
        let ip = ip.to_canonical();
        self.try_assign(svc, ip, ports, sharing, backend).map_err(|r| self.refusal_text(r, svc, ip, ports))
    }

    /// `AllocateFromPool`, walking every address.
    pub fn allocate_from_pool(
        &mut self,
        svc: &str,
        is_ipv6: bool,
        pool_name: &str,
        ports: &[MPort],
        sharing: &str,
        backend: &str,
    ) -> Result<IpAddr, String> {
        if let Some(alloc) = self.allocated.get(svc) {
            let ip = alloc.ip;
            if is_ipv6 != ip.is_ipv6() {
                return Err(format!("IP for wrong family assigned {ip}"));
            }
            self.assign(svc, ip, ports, sharing, backend)?;
            return Ok(ip);
        }
        let Some(pool) = self.pools.iter().find(|p| p.name == pool_name).cloned() else {
            return Err(format!("unknown pool {}", q(pool_name)));
        };
        for cidr in &pool.cidrs {
            let cidr_is_ipv6 = matches!(cidr, IpNet::V6(_));
            if cidr_is_ipv6 != is_ipv6 {
                continue;
            }
            let (first, last) = match cidr {
                IpNet::V4(n) => (u128::from(u32::from(n.network())), u128::from(u32::from(n.broadcast()))),
                IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
            };
            let mut x = first;
            loop {
                let ip = if is_ipv6 { IpAddr::V6(Ipv6Addr::from(x)) } else { IpAddr::V4(Ipv4Addr::from(x as u32)) };
                if !(pool.avoid_buggy_ips && ip_confuses_buggy_firmwares(ip)) && self.try_assign(svc, ip, ports, sharing, backend).is_ok() {
                    return Ok(ip);
                }
                if x == last {
                    break;
                }
                x += 1;
            }
        }
        Err(format!("no available IPs in pool {}", q(pool_name)))
    }

    /// `Allocate`, pools in config order.
    pub fn allocate(&mut self, svc: &str, is_ipv6: bool, ports: &[MPort], sharing: &str, backend: &str) -> Result<IpAddr, String> {
        if let Some(alloc) = self.allocated.get(svc) {
            let ip = alloc.ip;
            self.assign(svc, ip, ports, sharing, backend)?;
            return Ok(ip);
        }
        for i in 0..self.pools.len() {
            if !self.pools[i].auto_assign {
                continue;
            }
            let name = self.pools[i].name.clone();
            if let Ok(ip) = self.allocate_from_pool(svc, is_ipv6, &name, ports, sharing, backend) {
                return Ok(ip);
            }
        }
        Err("no available IPs".to_string())
    }

    /// `Unassign`.
    pub fn unassign(&mut self, svc: &str) -> bool {
        let Some(al) = self.allocated.remove(svc) else { return false };
        let ip = al.ip;
        let on = self.ips.get_mut(&ip).expect("an allocated IP has its per-IP entry");
        for port in &al.ports {
            let at = on.ports_in_use.iter().position(|(p, _)| p == port);
            let cur = at.map(|i| on.ports_in_use.remove(i).1);
            assert_eq!(cur.as_deref(), Some(svc), "incoherent state: port {port:?} of {svc}");
        }
        on.services.retain(|s| s != svc);
        if on.ports_in_use.is_empty() {
            on.sharing_key = None;
            if on.services.is_empty() {
                self.ips.remove(&ip);
            }
        }
        *self.pool_services.get_mut(&al.pool).expect("counted on assign") -= 1;
        true
    }

    /// `IP`.
    pub fn ip_of(&self, svc: &str) -> Option<IpAddr> {
        self.allocated.get(svc).map(|a| a.ip)
    }

    /// `Pool`: the pool owning the service's IP.
    pub fn pool_of(&self, svc: &str) -> Option<String> {
        let ip = self.ip_of(svc)?;
        pool_for(&self.pools, ip).map(|i| self.pools[i].name.clone())
    }

    /// `poolServices[pool]`.
    pub fn services_in_pool(&self, pool: &str) -> i64 {
        self.pool_services.get(pool).copied().unwrap_or(0)
    }
}
