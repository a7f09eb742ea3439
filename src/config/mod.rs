//! The legacy `metallb-system/config` ConfigMap payload: text -> validated [`Config`].
//!
//! Pure: no I/O. [`parse`] is v0.9's `config.Parse`: the same accepted configs, the same
//! values, and the same first error with the same text, byte for byte (spec §2, vectors A).
//!
//! * [`yaml`] reproduces yaml.v2 v2.2.2's strict decoding (see its docs for why it is not
//!   serde-based); `raw` is v0.9's raw model; `validate` applies §2.3 in its order.
//! * Go library texts inside errors (`time: invalid duration "x"`, `strconv.ParseUint: ...`,
//!   apimachinery's label validation) are those of the Go release and apimachinery version the
//!   reference is built with (the reference wins over the spec's older wording).
//! * Where v0.9 iterates a Go map (bgp-communities aliases, match-labels) the first error is
//!   nondeterministic; we check in document order (aliases) and key order (labels).
//! * Beyond v0.9, every error carries the position it concerns, for `ferrolb check`.
//!
//! Known divergence: an IPv4-mapped IPv6 CIDR (`::ffff:1.2.3.0/120`) is an IPv4 CIDR here
//! (`1.2.3.0/24`), as Go prints it; Go keeps its 128-bit mask for the aggregation-length check.

mod cidr;
pub mod manifest;
mod raw;
mod selector;
mod types;
mod validate;
pub mod yaml;

pub use cidr::summarize;
pub use selector::{LabelSelector, Operator, Requirement};
pub use types::{BgpAdvertisement, Config, Peer, Pool, Protocol};
pub use validate::parse_community;
pub use yaml::Mark;
pub use yaml::golang::quote;

/// A config rejected by [`parse`]. `Display` is v0.9's error text, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// v0.9's error text.
    pub message: String,
    /// Where in the payload the error is (0-based line and column), when known.
    pub position: Option<Mark>,
}

/// Parses and validates a config payload exactly as v0.9's `config.Parse` does.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let wrap = |m: String, position: Option<Mark>| ConfigError { message: format!("could not parse config: {m}"), position };
    let doc = yaml::parser::parse_first_document(text.as_bytes()).map_err(|e| wrap(e.message, e.mark))?;
    let mut raw = raw::ConfigFile::default();
    let terrors = yaml::decode::decode_document(&doc, &mut raw).map_err(|f| wrap(f.message, Some(f.mark)))?;
    if let Some(first) = terrors.first() {
        let lines: Vec<&str> = terrors.iter().map(|t| t.text.as_str()).collect();
        return Err(wrap(format!("yaml: unmarshal errors:\n  {}", lines.join("\n  ")), Some(first.mark)));
    }
    validate::validate(&raw).map_err(|e| ConfigError { message: e.message, position: Some(e.mark) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keys_nested_to_the_depth_limit_decode_within_a_small_stack() {
        let mut text = String::new();
        for i in 0..200 {
            text += &format!("{}<<:\n", "  ".repeat(i));
        }
        text += &format!("{}peers: []\n", "  ".repeat(200));
        // Debug builds, a 1 MiB thread: hostile nesting must not overflow the stack.
        let handle = std::thread::Builder::new().stack_size(1 << 20).spawn(move || parse(&text)).unwrap();
        assert_eq!(handle.join().unwrap(), Ok(Config::default()));
    }
}
