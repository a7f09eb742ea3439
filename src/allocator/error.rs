//! The allocator's errors, with v0.9's texts byte for byte (Go's `%q` is [`quote`]).

use std::net::IpAddr;

use ipnet::IpNet;

use super::port::Port;
use crate::config::quote;

/// Why the allocator refused. `Display` is v0.9's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// No pool of the config owns the IP (or only one with avoid-buggy-ips and a .0/.255 IP).
    #[error("{} is not allowed in config", quote(&.0.to_string()))]
    NotAllowed(IpAddr),
    /// The IP is in use by other services whose sharing keys do not admit this one.
    /// `others` is sorted (v0.9 lists them in Go map order).
    #[error("can't change sharing key for {}, address also in use by {}", quote(.svc), .others.join(","))]
    SharingKeyMismatch {
        /// The requesting service.
        svc: String,
        /// The other services on the IP, sorted.
        others: Vec<String>,
    },
    /// Another service on the IP already uses this (protocol, port).
    #[error("port {port} is already in use on {}", quote(&.ip.to_string()))]
    PortInUse {
        /// The first requested port that collides, in the order requested.
        port: Port,
        /// The IP.
        ip: IpAddr,
    },
    /// `AllocateFromPool` found no assignable address.
    #[error("no available IPs in pool {}", quote(.0))]
    PoolExhausted(String),
    /// `Allocate` found no assignable address in any auto-assign pool.
    #[error("no available IPs")]
    NoAvailableIps,
    /// The address-pool annotation names a pool the config does not have.
    #[error("unknown pool {}", quote(.0))]
    UnknownPool(String),
    /// The service already holds an IP of the other family.
    #[error("IP for wrong family assigned {0}")]
    WrongFamily(IpAddr),
    /// `set_pools`: an allocated IP would be owned by no pool.
    #[error("new config not compatible with assigned IPs: service {} cannot own {} under new config", quote(.svc), quote(&.ip.to_string()))]
    IncompatibleConfig {
        /// The service (the one whose key sorts first, when several are orphaned).
        svc: String,
        /// Its IP.
        ip: IpAddr,
    },
    /// `set_pools` was given two pools of one name (config validation rejects this first).
    #[error("duplicate definition of pool {}", quote(.0))]
    DuplicatePool(String),
    /// `set_pools` was given overlapping CIDRs (config validation rejects this first).
    #[error("CIDR {} in pool {} overlaps with already defined CIDR {}", quote(&.cidr.to_string()), quote(.pool), quote(&.other.to_string()))]
    OverlappingCidr {
        /// The later CIDR.
        cidr: IpNet,
        /// Its pool.
        pool: String,
        /// The CIDR defined earlier.
        other: IpNet,
    },
}
