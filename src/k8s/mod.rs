//! What both daemons share on the Kubernetes side.
//!
//! * [`configmap`]: the ConfigMap key's handling (stale/loaded gauges, logs, Events).
//! * [`watch`]: one watch forwarded into a daemon's channel, with backoff.
//! * [`queue`]: client-go's work queue and default controller rate limiter, as v0.9 uses them
//!   (one FIFO with dedup, one worker), sans-IO: time is passed in.
//!
//! The client setup, the core/v1 Event recorder and the ConfigMap loading join here with the
//! controller issue.

pub mod client;
pub mod configmap;
pub mod events;
pub mod queue;
pub mod store;
pub mod watch;

/// What the work queue does with a key after processing it (v0.9's `SyncState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Forget the key.
    Success,
    /// Re-enqueue the key, rate limited.
    Error,
    /// Forget the key and re-enqueue every Service, rate limited.
    ReprocessAll,
}
