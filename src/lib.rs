//! ferrolb: a drop-in replacement for MetalLB v0.9.
//!
//! The crate is organised as pure cores (no I/O, time passed in) and thin shells; see
//! `DESIGN.md` in the steering repository. The binary in `main.rs` dispatches the four
//! subcommands `controller`, `speaker`, `check` and `migrate`.

pub mod allocator;
pub mod bgp;
pub mod cli;
pub mod config;
pub mod controller;
pub mod election;
pub mod k8s;
pub mod layer2;
pub mod logging;
pub mod memberlist;
pub mod metrics;
pub mod migrate;
pub mod speaker;
