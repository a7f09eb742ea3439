//! The protocol handler interface (v0.9's speaker `Protocol`, spec §4.2): what the speaker's
//! work loop asks of the layer2 handler today and of a BGP handler later.
//!
//! The loop owns the per-service decision ([`super::decision::decide`]) and the
//! announcement record; a handler only answers "should this node announce?" and performs
//! the announce / withdraw. A protocol with no handler registered is v0.9's
//! `internal error: unknown balancer protocol!` path (withdraw with `internalError`), which
//! is a protocol a pool names but this speaker has no handler for (ferrolb registers both
//! layer2 and bgp, so it is unreachable in the binary; the core's tests exercise it).
//!
//! Against v0.9's interface, two additions: [`Protocol::should_announce`] also sees the
//! Service (v0.9's BGP handler reads its `externalTrafficPolicy`), and
//! [`Protocol::shutdown`] lets a handler say goodbye on SIGTERM (BGP: Cease to every peer;
//! v0.9 just exits).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use futures::future::LocalBoxFuture;

use crate::config::{Config, Pool};
use crate::election::{EndpointsView, Members};

use super::decision::{ServiceView, WithdrawReason};

/// A protocol handler. Errors are the text v0.9 would log with `error=`.
pub trait Protocol {
    /// A new config was accepted by the speaker (v0.9 `SetConfig`); an error marks it stale.
    fn set_config(&mut self, config: &Config) -> Result<(), String>;

    /// Whether this node should announce `service_key` (v0.9 `ShouldAnnounce`): `None` to
    /// announce, otherwise the withdraw reason.
    fn should_announce(&self, service_key: &str, service: &ServiceView, endpoints: &EndpointsView) -> Option<WithdrawReason>;

    /// Announce `ip` for `service_key` (idempotent; v0.9 `SetBalancer`).
    fn set_balancer(&mut self, service_key: &str, ip: IpAddr, pool: &Pool) -> Result<(), String>;

    /// Stop announcing `service_key` (v0.9 `DeleteBalancer`); a no-op when not announced.
    fn delete_balancer(&mut self, service_key: &str, reason: WithdrawReason) -> Result<(), String>;

    /// The own Node object changed; `labels` are its labels (v0.9 `SetNode`).
    fn set_node(&mut self, labels: &BTreeMap<String, String>) -> Result<(), String>;

    /// The speakers memberlist reports usable (`None` while memberlist is disabled: every
    /// node with a ready endpoint is a candidate). v0.9's layer2 handler reads this at each
    /// `ShouldAnnounce`; other protocols ignore it.
    fn set_members(&mut self, _members: Option<Members>) {}

    /// Periodic work due at `now` (layer2: the interface scan and the gratuitous rounds);
    /// returns when it wants to be polled next.
    fn poll(&mut self, _now: Instant) -> Option<Instant> {
        None
    }

    /// The speaker is stopping: whatever must go out before the process exits (awaited by
    /// the shell before it logs `op=shutdown msg=done`).
    fn shutdown(&mut self) -> LocalBoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
