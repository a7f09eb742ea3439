//! ferrolb: a drop-in replacement for MetalLB v0.9.
//!
//! The crate is organised as pure cores (no I/O, time passed in) and thin shells; see
//! `DESIGN.md` in the steering repository. The binary in `main.rs` dispatches the four
//! subcommands `controller`, `speaker`, `check` and `migrate`.

pub mod cli;
pub mod config;
pub mod logging;
pub mod memberlist;
pub mod migrate;
