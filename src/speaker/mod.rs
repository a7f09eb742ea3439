//! The speaker: per-service announcement decisions (pure, [`decision`]); the watch loop and
//! the protocol handlers that perform the decisions live beside it as shells.

pub mod decision;
