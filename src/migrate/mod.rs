//! `ferrolb migrate`: the legacy ConfigMap → metallb.io CRD objects (spec §9, upstream
//! `configmaptocrs`). Pure: text in, text and warnings out; the CLI shell (`cli::migrate`)
//! does the file handling.
//!
//! Contract:
//! * Input is a manifest stream holding the ConfigMap named `Options::configmap` (its
//!   `data.config`, its namespace, else `metallb-system`), or with `only_data` the bare payload.
//! * Strict (default): the payload must first pass the **v0.9 parser** (`config::parse`); a
//!   config v0.9 refuses is refused with v0.9's error text. Lenient: upstream's decoder
//!   (unknown keys ignored, newer keys understood, see [`lenient`]).
//! * The mapping is §9.3 (names per §9.2): BGPPeers `peerN`, IPAddressPools,
//!   BGPAdvertisements `bgpadvertisementN`, L2Advertisements `l2advertisementN`, BFDProfiles,
//!   the Community `communities`; with `password_secrets`, peer passwords move into
//!   `kubernetes.io/basic-auth` Secrets (written first) referenced by `passwordSecret`.
//! * The objects are then checked with current MetalLB's rules (§9.4, [`validate`]) and
//!   converted names must be valid object names. Any error aborts: there is no partial output.
//! * The text is upstream's: the header line, each object with sorted keys followed by `---`.
//!   Differences from upstream's main branch: IPAddressPool `status` is `{}` (as v0.14.9's
//!   converter writes it, and as v0.14.9's CRD can store it).
//! * Warnings list the §9.5 gaps that apply (iBGP localpref 0, IPv6 BGP pools, protocols that
//!   get no advertisement, converted names, plain-text passwords).

mod duration;
mod error;
mod input;
pub mod lenient;
mod names;
mod objects;
mod render;
mod selectors;
pub mod validate;
mod warnings;
pub mod yaml;

pub use error::MigrateError;
pub use input::DEFAULT_NAMESPACE;
pub use objects::Resources;
pub use render::HEADER;
pub use warnings::Warning;

/// How to read the input and what to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The input is the bare `config` payload, not a manifest.
    pub only_data: bool,
    /// The ConfigMap to pick from a manifest (`config`).
    pub configmap: String,
    /// Namespace for the objects; `None` = the ConfigMap's, else `metallb-system`.
    pub namespace: Option<String>,
    /// Upstream's lenient decoding instead of the v0.9 parser's verdict.
    pub lenient: bool,
    /// Emit peer passwords as Secrets instead of plain text.
    pub password_secrets: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { only_data: false, configmap: "config".into(), namespace: None, lenient: false, password_secrets: false }
    }
}

/// A successful conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The objects, as typed values.
    pub resources: Resources,
    /// The YAML text to write.
    pub yaml: String,
    /// The §9.5 gaps that apply, for stderr.
    pub warnings: Vec<Warning>,
}

/// Converts `input` per the options. See the module contract.
pub fn migrate(input: &str, opts: &Options) -> Result<Migration, MigrateError> {
    let (payload, cm_namespace) = if opts.only_data {
        (input.to_owned(), DEFAULT_NAMESPACE.to_owned())
    } else {
        let found = input::configmap_payload(input, &opts.configmap)?;
        (found.payload, found.namespace)
    };
    let namespace = opts.namespace.clone().unwrap_or(cm_namespace);
    if !names::is_valid_object_name(&namespace) || namespace.contains('.') {
        return Err(MigrateError::Input(format!("invalid namespace {namespace:?}: must be a DNS-1123 label")));
    }
    if !opts.lenient {
        crate::config::parse(&payload).map_err(|e| MigrateError::RejectedByV09(e.to_string()))?;
    }
    let cf = lenient::decode(&payload).map_err(MigrateError::Decode)?;
    let (resources, mut warnings) = objects::build(&cf, &namespace, opts.password_secrets)?;
    validate::check(&resources).map_err(MigrateError::Invalid)?;
    warnings.extend(warnings::gaps(&resources));
    let yaml = render::text(&render::objects(&resources));
    Ok(Migration { resources, yaml, warnings })
}
