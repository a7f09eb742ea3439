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
//!   With `stable_names`, names derived from the peers and pools instead ([`stable`]).
//! * [`services`]: the Services whose `address-pool` annotation names a pool that was renamed.
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
mod stable;
pub mod services;
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
    /// Names derived from the peers and pools instead of positions ([`stable`]).
    pub stable_names: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            only_data: false,
            configmap: "config".into(),
            namespace: None,
            lenient: false,
            password_secrets: false,
            stable_names: false,
        }
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
        return Err(MigrateError::Input(format!(
            "invalid namespace {namespace:?}: must be a DNS-1123 label"
        )));
    }
    if !opts.lenient {
        crate::config::parse(&payload).map_err(|e| MigrateError::RejectedByV09(e.to_string()))?;
    }
    let cf = lenient::decode(&payload).map_err(MigrateError::Decode)?;
    let (mut resources, mut warnings) = objects::build(&cf, &namespace, opts.password_secrets)?;
    if opts.stable_names {
        stable::rename(&mut resources)?;
    }
    validate::check(&resources).map_err(MigrateError::Invalid)?;
    warnings.extend(warnings::gaps(&resources));
    let yaml = render::text(&render::objects(&resources));
    Ok(Migration {
        resources,
        yaml,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lenient(data: &str) -> Result<Migration, MigrateError> {
        migrate(
            data,
            &Options {
                only_data: true,
                lenient: true,
                ..Options::default()
            },
        )
    }

    fn invalid(data: &str) -> String {
        match lenient(data) {
            Err(MigrateError::Invalid(e)) => e,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    const PEER: &str = "peers:\n- my-asn: 64512\n  peer-asn: 64513\n  peer-address: 192.0.2.1\n";

    #[test]
    fn strict_mode_refuses_what_v0_9_refuses_with_its_text() {
        let e = migrate(
            "peers:\n- my-asn: 1\n",
            &Options {
                only_data: true,
                ..Options::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            e,
            MigrateError::RejectedByV09("parsing peer #1: missing peer ASN".into())
        );
    }

    #[test]
    fn keepalive_longer_than_hold_time_is_refused() {
        let e = invalid(&format!("{PEER}  hold-time: 30s\n  keepalive-time: 1m\n"));
        assert_eq!(
            e,
            "parsing peer peer1 (legacy peer #1): invalid BGPPeer timers: invalid keepaliveTime \"1m0s\", must be lower than holdTime \"30s\""
        );
    }

    #[test]
    fn ebgp_multihop_on_an_ibgp_peer_is_refused() {
        let e = invalid(
            "peers:\n- my-asn: 1\n  peer-asn: 1\n  peer-address: 192.0.2.1\n  ebgp-multihop: true\n",
        );
        assert!(
            e.ends_with("invalid ebgp-multihop parameter set for an ibgp peer"),
            "{e}"
        );
    }

    #[test]
    fn peers_need_asns_and_addresses() {
        assert!(
            invalid("peers:\n- peer-asn: 1\n  peer-address: 192.0.2.1\n")
                .ends_with("missing local ASN")
        );
        assert!(
            invalid("peers:\n- my-asn: 1\n  peer-address: 192.0.2.1\n")
                .ends_with("missing peer ASN and dynamicASN")
        );
        assert!(
            invalid("peers:\n- my-asn: 1\n  peer-asn: 2\n  peer-address: x\n")
                .ends_with("invalid BGPPeer address \"x\"")
        );
        assert!(
            invalid(&format!("{PEER}  source-address: y\n")).ends_with("invalid source IP \"y\"")
        );
        assert!(invalid(&format!("{PEER}  router-id: z\n")).ends_with("invalid router ID \"z\""));
    }

    #[test]
    fn bfd_profiles_must_exist_and_be_in_range() {
        let e = invalid(&format!("{PEER}  bfd-profile: Missing_Profile\n"));
        assert!(
            e.ends_with("peer peer1 referencing non existing bfd profile missing-profile"),
            "{e}"
        );
        let e = invalid("bfd-profiles:\n- name: b\n  detect-multiplier: 1\n");
        assert_eq!(
            e,
            "parsing bfd profile #1 (b): invalid detect multiplier value: invalid value 1, must be in 2-255 range"
        );
        let e = invalid("bfd-profiles:\n- name: b\n- name: B\n");
        assert_eq!(e, "found duplicate bfd profile name b");
    }

    #[test]
    fn bfd_echo_with_an_ipv6_bgp_pool_is_refused() {
        let data = format!(
            "{PEER}  bfd-profile: echo\nbfd-profiles:\n- name: echo\n  echo-mode: true\naddress-pools:\n- name: v6\n  protocol: bgp\n  addresses:\n  - 2001:db8::/64\n"
        );
        assert_eq!(
            invalid(&data),
            "pool v6 has bgpadvertisement bgpadvertisement1 which references peer peer1 which has bfd echo enabled, which is not possible"
        );
    }

    #[test]
    fn aggregation_is_checked_per_family() {
        let pool = |ads: &str, addr: &str| {
            format!(
                "address-pools:\n- name: p\n  protocol: bgp\n  addresses:\n  - {addr}\n  bgp-advertisements:\n{ads}"
            )
        };
        // v0.9 refused any explicit advertisement on an IPv6 pool; the v6 length now applies.
        assert!(lenient(&pool("  - localpref: 1\n", "2001:db8::/64")).is_ok());
        let e = invalid(&pool("  - aggregation-length-v6: 48\n", "2001:db8::/64"));
        assert!(e.ends_with("invalid aggregation length 48 for IPv6: prefix 64 in this pool is more specific than the aggregation length for addresses 2001:db8::/64"), "{e}");
        let e = invalid(&pool("  - aggregation-length: 33\n", "198.51.100.0/24"));
        assert!(e.ends_with("invalid aggregation length 33 for IPv4"), "{e}");
        let e = invalid(&pool("  - aggregation-length: -1\n", "198.51.100.0/24"));
        assert!(e.contains("invalid aggregation length -1 for IPv4"), "{e}");
        // A range is refused only if none of its blocks is compatible.
        assert!(
            lenient(&pool(
                "  - aggregation-length: 27\n",
                "198.51.100.150-198.51.100.200"
            ))
            .is_ok()
        );
        assert!(
            lenient(&pool(
                "  - aggregation-length: 26\n",
                "198.51.100.150-198.51.100.200"
            ))
            .is_err()
        );
    }

    #[test]
    fn communities_follow_current_rules() {
        let pool = |c: &str| {
            format!(
                "address-pools:\n- name: p\n  protocol: bgp\n  addresses:\n  - 198.51.100.0/24\n  bgp-advertisements:\n  - communities:\n    - \"{c}\"\n"
            )
        };
        assert!(lenient(&pool("large:1:2:3")).is_ok());
        assert!(invalid(&pool("70000:1")).contains(
            "invalid community \"70000:1\" in BGP advertisement: invalid community value"
        ));
        assert!(
            invalid(&pool("unknown-alias")).ends_with("invalid community format: unknown-alias")
        );
        let e = invalid("bgp-communities:\n  bad: 1:2:3\n");
        assert_eq!(
            e,
            "parsing community \"bad\": invalid community format: 1:2:3"
        );
    }

    #[test]
    fn selectors_are_checked_in_lenient_mode() {
        let e = invalid(&format!(
            "{PEER}  node-selectors:\n  - match-expressions:\n    - key: k\n      operator: in\n      values: [a]\n"
        ));
        assert!(
            e.ends_with("\"in\" is not a valid label selector operator"),
            "{e}"
        );
        let e = invalid(&format!(
            "{PEER}  node-selectors:\n  - match-labels: {{a: b}}\n  - match-labels: {{a: b}}\n"
        ));
        assert!(
            e.ends_with("duplicate definition of nodeSelectors: selector #2 equals selector #1"),
            "{e}"
        );
    }

    #[test]
    fn a_pool_without_addresses_is_refused() {
        let e = invalid("address-pools:\n- name: p\n  protocol: layer2\n");
        assert_eq!(e, "parsing address pool p: pool has no prefixes defined");
    }

    #[test]
    fn match_expression_values_are_written_sorted_like_upstream() {
        let m = lenient(&format!("{PEER}  node-selectors:\n  - match-expressions:\n    - key: k\n      operator: In\n      values: [b, a]\n")).unwrap();
        assert!(
            m.yaml.contains("      values:\n      - a\n      - b\n"),
            "{}",
            m.yaml
        );
    }

    #[test]
    fn a_layer2_pool_with_bgp_advertisements_gets_both_in_lenient_mode() {
        let m = lenient("address-pools:\n- name: p\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n  bgp-advertisements:\n  - localpref: 5\n").unwrap();
        assert_eq!(m.resources.bgp_advertisements.len(), 1);
        assert_eq!(m.resources.l2_advertisements.len(), 1);
    }

    #[test]
    fn unknown_protocol_warning_says_whether_bgp_advertisements_were_generated() {
        let m = lenient("address-pools:\n- name: p\n  protocol: BGP\n  addresses: [192.0.2.0/28]\n  bgp-advertisements:\n  - localpref: 5\n").unwrap();
        assert_eq!(
            m.warnings,
            [Warning::UnknownProtocol {
                pool: "p".into(),
                protocol: "BGP".into(),
                has_bgp_advertisements: true
            }]
        );
        let m = lenient("address-pools:\n- name: p\n  protocol: l2\n  addresses: [192.0.2.0/28]\n")
            .unwrap();
        assert!(
            m.resources.bgp_advertisements.is_empty() && m.resources.l2_advertisements.is_empty()
        );
    }

    #[test]
    fn no_localpref_warning_without_ibgp_peers_or_with_an_explicit_localpref() {
        let pool = "address-pools:\n- name: p\n  protocol: bgp\n  addresses: [198.51.100.0/24]\n  bgp-advertisements:\n  - localpref: 100\n";
        let ibgp = "peers:\n- my-asn: 1\n  peer-asn: 1\n  peer-address: 192.0.2.1\n";
        assert!(
            lenient(&format!("{ibgp}{pool}"))
                .unwrap()
                .warnings
                .is_empty()
        );
        let plain = "address-pools:\n- name: p\n  protocol: bgp\n  addresses: [198.51.100.0/24]\n";
        assert!(
            lenient(&format!("{PEER}{plain}"))
                .unwrap()
                .warnings
                .is_empty()
        );
        assert_eq!(
            lenient(&format!("{ibgp}{plain}")).unwrap().warnings.len(),
            1
        );
    }

    #[test]
    fn an_empty_payload_gives_the_header_only() {
        let m = lenient("").unwrap();
        assert_eq!(m.yaml, HEADER);
    }
}
