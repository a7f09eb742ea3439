//! The speaker (spec §4): per-service announcement decisions (pure, [`decision`]), the
//! per-key logic that performs them through the protocol handlers ([`core`], [`protocol`]),
//! the layer2 and BGP handlers ([`layer2`], [`bgp`]), the speaker's metrics ([`metrics`]) and the Kubernetes
//! shell ([`shell`]).

pub mod bgp;
pub mod core;
pub mod decision;
pub mod layer2;
pub mod metrics;
pub mod protocol;
pub mod shell;
