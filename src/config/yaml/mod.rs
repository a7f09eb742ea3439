//! A yaml.v2-faithful YAML front end for the v0.9 config.
//!
//! v0.9 reads its ConfigMap with `gopkg.in/yaml.v2` v2.2.2 `UnmarshalStrict`. Its observable
//! behaviour — which texts are errors, the `line N:` numbers, YAML 1.1 scalar resolution, the
//! accumulation of every type error into one `yaml: unmarshal errors:` message — is part of
//! the contract (`ferrolb check` and the ConfigStale Event print it). Serde-based YAML crates
//! stop at the first error and resolve scalars by YAML 1.2 rules, so we do not decode through
//! serde. Instead:
//!
//! * [`parser`] drives libyaml's event parser (`unsafe-libyaml-norway`, the maintained fork of
//!   the c2rust translation that serde_yaml used; yaml.v2 itself is a Go port of the same
//!   libyaml, so syntax-error texts and marks agree) and builds yaml.v2's node tree: first
//!   document only, anchors and aliases, tags, 0-based lines.
//! * [`resolve`] is yaml.v2's YAML 1.1 implicit typing (`yes`/`on`/`~`, `0x`, `.inf`, dates).
//! * [`decode`] is yaml.v2's strict decoder over typed targets: unknown and repeated fields,
//!   repeated map keys, type errors with Go type names, merge keys, null handling.
//!
//! Decision recorded for the foundation issue: serde_yaml is deprecated upstream; its
//! maintained successors (serde_norway, serde_yaml_ng) keep serde's fail-fast model and YAML
//! 1.2 typing, which cannot give yaml.v2's texts. The small layer here is the "YAML-1.1 scalar
//! layer on top" that the issue allows, sitting on a maintained libyaml.

pub(crate) mod decode;
pub(crate) mod golang;
pub(crate) mod parser;
pub(crate) mod resolve;

/// A position in the YAML text: 0-based line and column, as libyaml marks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    /// 0-based line.
    pub line: usize,
    /// 0-based column (in characters).
    pub column: usize,
}
