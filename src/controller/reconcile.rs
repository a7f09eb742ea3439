//! v0.9's per-Service reconciliation as a pure function (spec §3.2, §3.3 via the allocator,
//! §3.6 for config changes; vectors C.1–C.3).
//!
//! The shell turns a `v1.Service` into a [`ServiceView`], calls [`Controller::set_balancer`]
//! and performs the returned [`Outcome`]: a status PUT when `status` is `Some` (an empty list
//! clears `status.loadBalancer`), the Events, the log lines (with `service=<key>` context),
//! and the queue action. Status equality is judged on what v0.9 (client-go of its time) sees
//! of an ingress entry — `ip`, `hostname`, `ports` — so fields newer API servers default, such
//! as `ipMode: VIP`, never cause a write.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::allocator::{Allocator, Port, backend_key};
use crate::config::yaml::golang::parse_ip;
use crate::config::{Config, quote};
use crate::k8s::configmap::ApplyConfig;
use crate::logging::Field;

/// The annotation naming the pool to allocate from.
pub const ADDRESS_POOL_ANNOTATION: &str = "metallb.universe.tf/address-pool";
/// The annotation holding the sharing key.
pub const ALLOW_SHARED_IP_ANNOTATION: &str = "metallb.universe.tf/allow-shared-ip";

/// One `status.loadBalancer.ingress` entry, as v0.9 compares it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ingress {
    /// `ip`
    pub ip: String,
    /// `hostname`
    pub hostname: String,
    /// `ports`, rendered (`80/TCP`), in order.
    pub ports: Vec<String>,
}

impl Ingress {
    /// An entry with only an IP, as the controller writes it.
    pub fn ip(ip: impl Into<String>) -> Ingress {
        Ingress { ip: ip.into(), ..Ingress::default() }
    }
}

/// What the controller reads of a Service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceView {
    /// `spec.type`
    pub type_: String,
    /// `spec.clusterIP`
    pub cluster_ip: String,
    /// `spec.loadBalancerIP`
    pub load_balancer_ip: String,
    /// `spec.externalTrafficPolicy`
    pub external_traffic_policy: String,
    /// `spec.selector`
    pub selector: BTreeMap<String, String>,
    /// `spec.ports[]` as (protocol, port).
    pub ports: Vec<Port>,
    /// `metadata.annotations`
    pub annotations: BTreeMap<String, String>,
    /// `status.loadBalancer.ingress`
    pub ingress: Vec<Ingress>,
}

impl ServiceView {
    fn annotation(&self, key: &str) -> &str {
        self.annotations.get(key).map_or("", String::as_str)
    }
    fn sharing_key(&self) -> &str {
        self.annotation(ALLOW_SHARED_IP_ANNOTATION)
    }
    fn backend_key(&self) -> String {
        backend_key(
            self.external_traffic_policy == "Local",
            self.selector.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }
}

pub use crate::k8s::SyncState;

/// An Event to record against the Service (core/v1, component `metallb-controller`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// `Warning` (true) or `Normal`.
    pub warning: bool,
    /// `IPAllocated`, `AllocationFailed`, `InternalError`.
    pub reason: &'static str,
    /// The message.
    pub message: String,
}

pub use crate::k8s::configmap::LogLine;

/// The decision for one Service.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The queue action.
    pub state: SyncState,
    /// `Some(ingress)`: PUT this `status.loadBalancer.ingress` (empty = cleared).
    pub status: Option<Vec<Ingress>>,
    /// Events to record.
    pub events: Vec<EventRecord>,
    /// Log lines, in order.
    pub logs: Vec<LogLine>,
}

/// The controller's state: the active config, the synced marker and the allocator.
#[derive(Default)]
pub struct Controller {
    /// The accepted config (`None` until the first one).
    pub config: Option<Config>,
    /// Whether the initial list has been processed; no new IP is allocated before.
    pub synced: bool,
    /// The allocations.
    pub allocator: Allocator,
    /// Pools removed by accepted configs since the shell last drained this list.
    pub removed_pools: Vec<String>,
}

impl ApplyConfig for Controller {
    fn apply(&mut self, cfg: Option<Config>, logs: &mut Vec<LogLine>) -> Result<SyncState, String> {
        self.set_config(cfg, logs)
    }
}

fn line(fields: &[(&'static str, &str)]) -> LogLine {
    fields.iter().map(|(k, v)| (*k, Field::from(*v))).collect()
}

/// Go's `net.IP.String()` of an optional IP (`<nil>` when none).
fn ip_string(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "<nil>".to_string(), |ip| ip.to_string())
}

impl Controller {
    /// A controller with no config, not synced, and an empty allocator.
    pub fn new() -> Controller {
        Controller::default()
    }

    /// v0.9's `SetConfig`: `None` (the ConfigMap is gone) is an error and keeps the old
    /// config; a config that would orphan an allocation is rejected with the allocator's text
    /// (the old one stays); otherwise it is applied and every Service is reprocessed. Pools
    /// that disappeared are appended to [`Controller::removed_pools`] (their metric series go).
    pub fn set_config(&mut self, cfg: Option<Config>, logs: &mut Vec<LogLine>) -> Result<SyncState, String> {
        logs.push(line(&[("event", "startUpdate"), ("msg", "start of config update")]));
        let result = self.apply_config(cfg, logs);
        logs.push(line(&[("event", "endUpdate"), ("msg", "end of config update")]));
        result
    }

    fn apply_config(&mut self, cfg: Option<Config>, logs: &mut Vec<LogLine>) -> Result<SyncState, String> {
        let Some(cfg) = cfg else {
            let e = "no MetalLB configuration in cluster";
            logs.push(line(&[("op", "setConfig"), ("error", e), ("msg", "configuration is missing, MetalLB will not function")]));
            return Err(e.to_string());
        };
        match self.allocator.set_pools(&cfg.pools) {
            Err(e) => {
                let e = e.to_string();
                logs.push(line(&[("op", "setConfig"), ("error", &e), ("msg", "applying new configuration failed")]));
                Err(e)
            }
            Ok(update) => {
                self.config = Some(cfg);
                self.removed_pools.extend(update.removed);
                Ok(SyncState::ReprocessAll)
            }
        }
    }

    /// v0.9's `MarkSynced`.
    pub fn mark_synced(&mut self) -> LogLine {
        self.synced = true;
        line(&[("event", "stateSynced"), ("msg", "controller synced, can allocate IPs now")])
    }

    /// v0.9's `SetBalancer` for Service `key` (`None`: deleted or not in the cache).
    pub fn set_balancer(&mut self, key: &str, svc: Option<&ServiceView>) -> Outcome {
        let mut out = Outcome { state: SyncState::Success, status: None, events: vec![], logs: vec![] };
        out.logs.push(line(&[("event", "startUpdate"), ("msg", "start of service update")]));
        out.state = self.set_balancer_inner(key, svc, &mut out);
        out.logs.push(line(&[("event", "endUpdate"), ("msg", "end of service update")]));
        out
    }

    fn set_balancer_inner(&mut self, key: &str, svc: Option<&ServiceView>, out: &mut Outcome) -> SyncState {
        let Some(svc) = svc else {
            if self.allocator.unassign(key) {
                out.logs.push(line(&[("event", "serviceDeleted"), ("msg", "service deleted")]));
            }
            // Services waiting for an IP may fit now.
            return SyncState::ReprocessAll;
        };
        if self.config.is_none() {
            out.logs.push(line(&[("event", "noConfig"), ("msg", "not processing, still waiting for config")]));
            return SyncState::Success;
        }
        let mut status = svc.ingress.clone();
        if !self.converge(key, svc, &mut status, out) {
            return SyncState::Error;
        }
        if status == svc.ingress {
            out.logs.push(line(&[("event", "noChange"), ("msg", "service converged, no change")]));
            return SyncState::Success;
        }
        out.status = Some(status);
        out.logs.push(line(&[("event", "serviceUpdated"), ("msg", "updated service object")]));
        SyncState::Success
    }

    fn clear(&mut self, key: &str, status: &mut Vec<Ingress>) {
        self.allocator.unassign(key);
        status.clear();
    }

    /// v0.9's `convergeBalancer`; false means "return Error" (not synced).
    fn converge(&mut self, key: &str, svc: &ServiceView, status: &mut Vec<Ingress>, out: &mut Outcome) -> bool {
        if svc.type_ != "LoadBalancer" {
            out.logs.push(line(&[("event", "clearAssignment"), ("reason", "notLoadBalancer"), ("msg", "not a LoadBalancer")]));
            self.clear(key, status);
            return true;
        }
        let Some(cluster_ip) = parse_ip(&svc.cluster_ip) else {
            out.logs.push(line(&[("event", "clearAssignment"), ("reason", "noClusterIP"), ("msg", "No ClusterIP")]));
            self.clear(key, status);
            return true;
        };
        let is_ipv6 = cluster_ip.is_ipv6();
        let mut lb_ip = match svc.ingress.as_slice() {
            [one] => parse_ip(&one.ip),
            _ => None,
        };
        if lb_ip.is_none() {
            self.clear(key, status);
        }
        // A nil IP counts as "not IPv4" here, as Go's To4() == nil does.
        if is_ipv6 != lb_ip.is_none_or(|ip| ip.is_ipv6()) {
            self.clear(key, status);
            lb_ip = None;
        }
        let ports = &svc.ports;
        let (sharing, backend) = (svc.sharing_key(), svc.backend_key());
        if let Some(ip) = lb_ip {
            if self.allocator.assign(key, ip, ports, sharing, &backend).is_err() {
                out.logs.push(line(&[
                    ("event", "clearAssignment"),
                    ("reason", "notAllowedByConfig"),
                    ("msg", "current IP not allowed by config, clearing"),
                ]));
                self.clear(key, status);
                lb_ip = None;
            }
            let desired = svc.annotation(ADDRESS_POOL_ANNOTATION);
            if lb_ip.is_some() && !desired.is_empty() && self.allocator.pool_of(key).unwrap_or("") != desired {
                out.logs.push(line(&[
                    ("event", "clearAssignment"),
                    ("reason", "differentPoolRequested"),
                    ("msg", "user requested a different pool than the one currently assigned"),
                ]));
                self.clear(key, status);
                lb_ip = None;
            }
        }
        if !svc.load_balancer_ip.is_empty() && svc.load_balancer_ip != ip_string(lb_ip) {
            out.logs.push(line(&[
                ("event", "clearAssignment"),
                ("reason", "differentIPRequested"),
                ("msg", "user requested a different IP than the one currently assigned"),
            ]));
            self.clear(key, status);
            lb_ip = None;
        }
        let ip = match lb_ip {
            Some(ip) => ip,
            None => {
                if !self.synced {
                    out.logs.push(line(&[
                        ("op", "allocateIP"),
                        ("error", "controller not synced"),
                        ("msg", "controller not synced yet, cannot allocate IP; will retry after sync"),
                    ]));
                    return false;
                }
                match self.allocate_ip(key, svc, is_ipv6) {
                    Err(e) => {
                        out.logs.push(line(&[("op", "allocateIP"), ("error", &e), ("msg", "IP allocation failed")]));
                        out.events.push(EventRecord {
                            warning: true,
                            reason: "AllocationFailed",
                            message: format!("Failed to allocate IP for {}: {e}", quote(key)),
                        });
                        // v0.9 still writes the cleared status; no retry until another trigger.
                        return true;
                    }
                    Ok(ip) => {
                        let s = ip.to_string();
                        out.logs.push(line(&[("event", "ipAllocated"), ("ip", &s), ("msg", "IP address assigned by controller")]));
                        out.events.push(EventRecord { warning: false, reason: "IPAllocated", message: format!("Assigned IP {}", quote(&s)) });
                        ip
                    }
                }
            }
        };
        let pool_known = self
            .allocator
            .pool_of(key)
            .is_some_and(|p| !p.is_empty() && self.config.as_ref().is_some_and(|c| c.pool(p).is_some()));
        if !pool_known {
            let s = ip.to_string();
            out.logs.push(line(&[("bug", "true"), ("ip", &s), ("msg", "internal error: allocated IP has no matching address pool")]));
            out.events.push(EventRecord { warning: true, reason: "InternalError", message: "allocated an IP that has no pool".into() });
            self.clear(key, status);
            return true;
        }
        *status = vec![Ingress::ip(ip.to_string())];
        true
    }

    /// v0.9's `allocateIP` (spec §3.3): loadBalancerIP, else the address-pool annotation,
    /// else the auto-assign pools.
    fn allocate_ip(&mut self, key: &str, svc: &ServiceView, is_ipv6: bool) -> Result<IpAddr, String> {
        let (ports, sharing, backend) = (&svc.ports, svc.sharing_key(), svc.backend_key());
        if !svc.load_balancer_ip.is_empty() {
            let ip = parse_ip(&svc.load_balancer_ip)
                .ok_or_else(|| format!("invalid spec.loadBalancerIP {}", quote(&svc.load_balancer_ip)))?;
            if ip.is_ipv6() != is_ipv6 {
                return Err(format!(
                    "requested spec.loadBalancerIP {} does not match the ipFamily of the service",
                    quote(&svc.load_balancer_ip)
                ));
            }
            self.allocator.assign(key, ip, ports, sharing, &backend).map_err(|e| e.to_string())?;
            return Ok(ip);
        }
        let pool = svc.annotation(ADDRESS_POOL_ANNOTATION);
        if !pool.is_empty() {
            return self.allocator.allocate_from_pool(key, is_ipv6, pool, ports, sharing, &backend).map_err(|e| e.to_string());
        }
        self.allocator.allocate(key, is_ipv6, ports, sharing, &backend).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests;
