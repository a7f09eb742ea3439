//! The legacy `metallb-system/config` ConfigMap payload: text -> validated [`Config`].
//!
//! Pure: no I/O. (Work in progress: the parser lands with the foundation issue.)

mod selector;
mod types;

pub use selector::{LabelSelector, Operator, Requirement};
pub use types::{BgpAdvertisement, Config, Peer, Pool, Protocol};

/// A config rejected by [`parse`]. `Display` is v0.9's error text, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// v0.9's error text.
    pub message: String,
    /// Where in the payload the error is, when known (1-based line and column).
    pub position: Option<(usize, usize)>,
}

/// Parses and validates a config payload exactly as v0.9's `config.Parse` does.
pub fn parse(_text: &str) -> Result<Config, ConfigError> {
    todo!("foundation issue: config parser")
}
