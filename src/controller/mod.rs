//! The controller (replaces `metallb/controller:v0.9.x`).
//!
//! * [`reconcile`] is the pure core: v0.9's `SetBalancer` / `SetConfig` / `MarkSynced`
//!   (spec §3.1, §3.2, §3.6) over a plain view of a Service and the allocator, returning the
//!   decision — the status to write, the Events, the log lines, the queue result. The same
//!   inputs always give the same decision.
//! * The Kubernetes shell (reflectors, work queue, status PUTs, core/v1 Events, metrics) is
//!   built on it by the controller issue.

pub mod reconcile;
