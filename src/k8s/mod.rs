//! What both daemons share on the Kubernetes side.
//!
//! * [`queue`]: client-go's work queue and default controller rate limiter, as v0.9 uses them
//!   (one FIFO with dedup, one worker), sans-IO: time is passed in.
//!
//! The client setup, the core/v1 Event recorder and the ConfigMap loading join here with the
//! controller issue.

pub mod queue;
