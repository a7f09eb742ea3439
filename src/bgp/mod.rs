//! BGP speaker core (spec §4.6, vectors E.1–E.6), sans-IO.
//!
//! * `header`, `open`, `update`, `notification`, `message`: the wire codec. We own it
//!   instead of using a codec crate because v0.9's exact bytes (attribute order and flags,
//!   2- vs 4-byte AS_PATH, the fixed 49-byte OPEN) and its tolerant OPEN reader with its
//!   error texts are the contract; the codec is a few hundred lines checked by the vectors.
//! * `session`: one peer session as a state machine (`handle(now, Input) -> Vec<Output>`).
//! * `advertisement`: the desired-state table and its diff.
//! * `backoff`, `router_id`: reconnect delays and router-ID choice.
//! * `peers`, `announce`: which sessions run (node selectors, D.5) and what a service
//!   advertises (endpoint rules, D.4), pure.
//!
//! The network shell (`shell`: tokio tasks, `sockets`: dial with TCP MD5, `metrics`) only
//! performs what `Session` and `PeerSet` return.

pub mod advertisement;
pub mod announce;
pub mod backoff;
pub mod header;
pub mod message;
pub mod metrics;
pub mod notification;
pub mod open;
pub mod peers;
pub mod router_id;
pub mod session;
pub mod shell;
pub mod sockets;
pub mod update;

#[cfg(test)]
mod session_tests;

pub use advertisement::{Advertisement, AdvertisementError, AdvertisementTable, RouteAttributes};
pub use message::{DecodeError, Message};
pub use session::{CloseReason, Input, Output, Session, SessionConfig, SessionError, SessionStats};
pub use shell::BgpController;
pub use update::Codec;

/// Hex with optional whitespace, for the spec vectors in tests.
#[cfg(test)]
pub(crate) fn test_hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test vector is hex"))
        .collect()
}
