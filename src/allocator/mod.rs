//! Which IP each Service gets: v0.9's allocator (spec §3.3–§3.6, §5), without its cost.
//!
//! Pure: no I/O, no clock. The controller feeds it the pools of the accepted config
//! ([`Allocator::set_pools`]) and, per Service, the ports, the sharing key (annotation
//! `metallb.universe.tf/allow-shared-ip`) and the backend key ([`backend_key`]); the metrics
//! shell reads [`Allocator::pool_gauges`].
//!
//! # Contract
//! * The answers are v0.9's, step by step, error texts included: [`Allocator::assign`],
//!   [`Allocator::allocate_from_pool`], [`Allocator::allocate`], [`Allocator::unassign`] and
//!   [`Allocator::set_pools`] behave like `Assign`, `AllocateFromPool`, `Allocate`, `Unassign`
//!   and `SetPools` of v0.9.3, including its quirks: the network and broadcast addresses are
//!   handed out (`.0`/`.255` are skipped only with avoid-buggy-ips); a service with a sharing
//!   key may land on an earlier, already used, compatible address; an IP's sharing key is the
//!   one of its most recently assigned user and is forgotten when no ports remain on it; the
//!   `addresses_in_use_total` gauge counts services and is stale after an unassign.
//! * Where v0.9 iterates a Go map its answer is random; we pick one deterministic answer,
//!   documented in `docs/differences.md`: auto-assign pools are tried in config order, the
//!   "in use by" list is sorted, `set_pools` reports the incompatible allocation whose service
//!   key sorts first and re-labels services in service-key order.
//! * Cost: v0.9 walks a pool address by address for every allocation. Here the next candidate
//!   comes from an index (`index`) in O(log n), and memory is proportional to the number of
//!   allocations, never to the size of a pool: a /8 and an IPv6 /64 cost what their allocations
//!   cost ([`Allocator::footprint`]).
//! * Addresses follow Go's `net.IP`: an IPv4-mapped IPv6 address is the IPv4 address.
//!
//! Files: `address` (the canonical 128-bit address), `pool` (the pools of a config as
//! walkable segments, ownership, capacity), `index` (the keyed-address runs and the sharing
//! index), `sharing` (the allow-shared-ip rules, backend keys), `port`, `services` (the
//! allocation tables), `intern` (shared key and port-list storage), `metrics` (the
//! per-pool gauges), `error`, and `allocate` (the operations).

mod address;
mod allocate;
mod error;
mod index;
mod intern;
mod metrics;
mod pool;
mod port;
mod services;
mod sharing;

pub use allocate::{Allocator, Footprint, PoolsUpdate};
pub use error::AllocError;
pub use metrics::{PoolGauges, capacity};
pub use port::Port;
pub use sharing::backend_key;

#[cfg(test)]
mod tests;
