//! Command-line front ends: one module per subcommand. `main.rs` only dispatches.

pub mod check;
pub mod daemon;
pub mod goflag;
pub mod migrate;
