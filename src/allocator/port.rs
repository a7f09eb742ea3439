//! The ports a Service occupies on its IP.

use std::fmt;

/// One port of a Service as v0.9's allocator sees it: the protocol string as written in
/// `spec.ports[].protocol` (`TCP`, `UDP`, `SCTP`; compared byte for byte) and `spec.ports[].port`
/// (never the node port or target port).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Port {
    /// `TCP`, `UDP` or `SCTP` as the Service spells it.
    pub protocol: String,
    /// The service port.
    pub port: u16,
}

impl Port {
    /// A port of `protocol` number `port`.
    pub fn new(protocol: impl Into<String>, port: u16) -> Port {
        Port { protocol: protocol.into(), port }
    }
}

/// v0.9's `Port.String()`: `TCP/80`.
impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.protocol, self.port)
    }
}

/// The ports of one Service as a set, sorted.
///
/// v0.9 keeps the list as given; a (protocol, port) pair listed twice makes its `Unassign`
/// panic. Kubernetes rejects such Services, and a set answers every question the allocator asks.
pub(crate) fn normalize(ports: &[Port]) -> Box<[Port]> {
    let mut v = ports.to_vec();
    v.sort();
    v.dedup();
    v.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_displays_as_protocol_slash_number() {
        assert_eq!(Port::new("tcp", 80).to_string(), "tcp/80");
        assert_eq!(Port::new("SCTP", 65535).to_string(), "SCTP/65535");
    }

    #[test]
    fn normalized_ports_are_sorted_and_unique() {
        let ports = [Port::new("UDP", 53), Port::new("TCP", 80), Port::new("UDP", 53)];
        assert_eq!(&*normalize(&ports), &[Port::new("TCP", 80), Port::new("UDP", 53)]);
    }
}
