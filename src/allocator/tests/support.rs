//! Helpers shared by the allocator tests.

use std::net::IpAddr;

use crate::allocator::Port;
use crate::config::{Pool, Protocol};

/// A pool as a validated config would hold it.
pub(super) fn pool(name: &str, cidrs: &[&str], auto_assign: bool, avoid_buggy_ips: bool) -> Pool {
    Pool {
        name: name.into(),
        protocol: Protocol::Layer2,
        cidrs: cidrs.iter().map(|c| c.parse().expect("test CIDR")).collect(),
        avoid_buggy_ips,
        auto_assign,
        bgp_advertisements: vec![],
    }
}

/// `ports("tcp/80", ...)` as in v0.9's tests.
pub(super) fn ports(specs: &[&str]) -> Vec<Port> {
    specs
        .iter()
        .map(|s| {
            let (proto, port) = s.split_once('/').expect("proto/port");
            Port::new(proto, port.parse().expect("port number"))
        })
        .collect()
}

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().expect("test IP")
}
