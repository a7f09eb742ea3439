//! The converter's own view of the payload: upstream `configmaptocrs` decodes the ConfigMap
//! data with a non-strict, JSON-tag based decoder (spec §9.1). This module reproduces that
//! leniency: unknown keys are ignored, keys match case-insensitively, and the keys newer than
//! v0.9.3 (`source-address`, `keepalive-time`, `bfd-profile`, `ebgp-multihop`, `bfd-profiles`,
//! `aggregation-length-v6`) are understood.
//!
//! One deliberate difference: string fields keep the scalar's text as written (`password:
//! 0123` is the password `0123`, `password: yes` is `yes`), which is what v0.9 itself reads;
//! upstream's YAML-to-JSON step would have re-formatted such values (`yes` → `true`).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

/// A scalar taken as the text written in the payload, whatever YAML type it resolves to.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct RawStr(pub String);

impl<'de> Deserialize<'de> for RawStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawStr;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawStr, E> {
                Ok(RawStr(v.to_owned()))
            }
        }
        d.deserialize_str(V)
    }
}

/// A boolean as yaml.v2 (YAML 1.1) reads it: `true/false/yes/no/on/off/y/n` in lower, Title
/// or UPPER case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bool11(pub bool);

impl<'de> Deserialize<'de> for Bool11 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bool11;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Bool11, E> {
                Ok(Bool11(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bool11, E> {
                match yaml11_bool(v) {
                    Some(b) => Ok(Bool11(b)),
                    None => Err(E::invalid_type(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// An integer as yaml.v2 (YAML 1.1) reads it into a Go integer field: decimal, `0x`/`0o`/`0b`
/// and leading-`0` octal forms, `_` separators, and a float truncated toward zero. v0.9 reads
/// these, so a config it accepts must convert with the same numbers; a value out of the
/// target's range is an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Int11<T>(pub T);

/// Go's `strconv.ParseInt(s, 0, 64)` after yaml.v2 removed the underscores.
pub fn yaml11_int(v: &str) -> Option<i128> {
    let plain = v.replace('_', "");
    let (neg, digits) = match plain.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, plain.strip_prefix('+').unwrap_or(&plain)),
    };
    let (radix, body) = if let Some(b) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, b)
    } else if let Some(b) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, b)
    } else if let Some(b) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, b)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || body.starts_with(['+', '-']) {
        return None;
    }
    let n = i128::from_str_radix(body, radix).ok()?;
    Some(if neg { -n } else { n })
}

/// yaml.v2's float form `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (after removing
/// `_`), as Go parses it.
pub fn yaml11_float(v: &str) -> Option<f64> {
    let plain = v.replace('_', "");
    let body = plain.strip_prefix(['-', '+']).unwrap_or(&plain);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    if mantissa_ok && exp_ok {
        plain.parse().ok()
    } else {
        None
    }
}

impl<'de, T: TryFrom<i128>> Deserialize<'de> for Int11<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<T: TryFrom<i128>> Visitor<'_> for V<T> {
            type Value = Int11<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(
                    f,
                    "an integer in the range of {}",
                    std::any::type_name::<T>()
                )
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int11<T>, E> {
                T::try_from(i128::from(v))
                    .map(Int11)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int11<T>, E> {
                T::try_from(i128::from(v))
                    .map(Int11)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int11<T>, E> {
                if !v.is_finite() || v.abs() >= 1e30 {
                    return Err(E::invalid_value(de::Unexpected::Float(v), &self));
                }
                T::try_from(v.trunc() as i128)
                    .map(Int11)
                    .map_err(|_| E::invalid_value(de::Unexpected::Float(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int11<T>, E> {
                // yaml.v2 tries an integer, then a YAML float (`0179` is the float 179).
                let n = yaml11_int(v)
                    .or_else(|| {
                        yaml11_float(v)
                            .filter(|f| f.abs() < 1e30)
                            .map(|f| f.trunc() as i128)
                    })
                    .ok_or_else(|| E::invalid_type(de::Unexpected::Str(v), &self))?;
                T::try_from(n)
                    .map(Int11)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// The YAML 1.1 boolean spellings yaml.v2 resolves.
pub fn yaml11_bool(v: &str) -> Option<bool> {
    match v {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            Some(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            Some(false)
        }
        _ => None,
    }
}

/// The value of a YAML merge key `<<`: one mapping or a list of them.
struct Merge<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Merge<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Merge<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping or a list of mappings to merge")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Merge<T>, A::Error> {
                Ok(Merge(vec![T::deserialize(
                    de::value::MapAccessDeserializer::new(map),
                )?]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Merge<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(t) = seq.next_element()? {
                    out.push(t);
                }
                Ok(Merge(out))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Declares a struct whose `Deserialize` matches keys case-insensitively (Go's
/// `encoding/json` falls back to a case-insensitive match) and ignores unknown keys. A null
/// value gives the zero struct, as a bare `-` list entry does in Go.
macro_rules! lenient_struct {
    ($(#[$m:meta])* $name:ident { $( $(#[$fm:meta])* $field:ident : $ty:ty = $key:literal ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name { $( $(#[$fm])* pub $field: $ty ),* }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str(concat!("a mapping (", stringify!($name), ")"))
                    }
                    fn visit_unit<E: de::Error>(self) -> Result<$name, E> {
                        Ok($name::default())
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some(k) = map.next_key::<RawStr>()? {
                            if k.0 == "<<" {
                                // yaml.v2 merges in place: merged fields override earlier keys,
                                // later keys override them; of a list, earlier maps win.
                                let Merge(sources) = map.next_value::<Merge<$name>>()?;
                                for src in sources.into_iter().rev() {
                                    $( if src.$field.is_some() { out.$field = src.$field; } )*
                                }
                                continue;
                            }
                            match k.0.to_lowercase().as_str() {
                                $( $key => out.$field = map.next_value()?, )*
                                _ => { map.next_value::<IgnoredAny>()?; }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

lenient_struct! {
    /// The whole payload (upstream `configFile`).
    ConfigFile {
        /// `peers`
        peers: Option<Vec<Peer>> = "peers",
        /// `bgp-communities`: alias → value, sorted by alias.
        bgp_communities: Option<BTreeMap<RawStr, Option<RawStr>>> = "bgp-communities",
        /// `address-pools`
        pools: Option<Vec<AddressPool>> = "address-pools",
        /// `bfd-profiles` (newer than v0.9.3)
        bfd_profiles: Option<Vec<BfdProfile>> = "bfd-profiles",
    }
}

lenient_struct! {
    /// One `peers[]` entry.
    Peer {
        /// `my-asn`
        my_asn: Option<Int11<u32>> = "my-asn",
        /// `peer-asn`
        asn: Option<Int11<u32>> = "peer-asn",
        /// `peer-address`
        addr: Option<RawStr> = "peer-address",
        /// `source-address` (newer)
        src_addr: Option<RawStr> = "source-address",
        /// `peer-port`
        port: Option<Int11<u16>> = "peer-port",
        /// `hold-time`
        hold_time: Option<RawStr> = "hold-time",
        /// `keepalive-time` (newer)
        keepalive_time: Option<RawStr> = "keepalive-time",
        /// `router-id`
        router_id: Option<RawStr> = "router-id",
        /// `node-selectors`
        node_selectors: Option<Vec<NodeSelector>> = "node-selectors",
        /// `password`
        password: Option<RawStr> = "password",
        /// `bfd-profile` (newer)
        bfd_profile: Option<RawStr> = "bfd-profile",
        /// `ebgp-multihop` (newer)
        ebgp_multihop: Option<Bool11> = "ebgp-multihop",
    }
}

lenient_struct! {
    /// One `node-selectors[]` entry.
    NodeSelector {
        /// `match-labels`
        match_labels: Option<BTreeMap<RawStr, Option<RawStr>>> = "match-labels",
        /// `match-expressions`
        match_expressions: Option<Vec<SelectorRequirement>> = "match-expressions",
    }
}

lenient_struct! {
    /// One `match-expressions[]` entry.
    SelectorRequirement {
        /// `key`
        key: Option<RawStr> = "key",
        /// `operator`
        operator: Option<RawStr> = "operator",
        /// `values`
        values: Option<Vec<Option<RawStr>>> = "values",
    }
}

lenient_struct! {
    /// One `address-pools[]` entry.
    AddressPool {
        /// `protocol`, any string.
        protocol: Option<RawStr> = "protocol",
        /// `name`
        name: Option<RawStr> = "name",
        /// `addresses`, verbatim.
        addresses: Option<Vec<Option<RawStr>>> = "addresses",
        /// `auto-assign`, kept only when present.
        auto_assign: Option<Bool11> = "auto-assign",
        /// `avoid-buggy-ips`
        avoid_buggy_ips: Option<Bool11> = "avoid-buggy-ips",
        /// `bgp-advertisements`
        bgp_advertisements: Option<Vec<BgpAdvertisement>> = "bgp-advertisements",
    }
}

lenient_struct! {
    /// One `bgp-advertisements[]` entry.
    BgpAdvertisement {
        /// `aggregation-length` (Go `*int32`)
        aggregation_length: Option<Int11<i32>> = "aggregation-length",
        /// `aggregation-length-v6` (newer; Go `*int32`)
        aggregation_length_v6: Option<Int11<i32>> = "aggregation-length-v6",
        /// `localpref`
        local_pref: Option<Int11<u32>> = "localpref",
        /// `communities`, verbatim.
        communities: Option<Vec<Option<RawStr>>> = "communities",
    }
}

lenient_struct! {
    /// One `bfd-profiles[]` entry (newer than v0.9.3).
    BfdProfile {
        /// `name`
        name: Option<RawStr> = "name",
        /// `receive-interval`
        receive_interval: Option<Int11<u32>> = "receive-interval",
        /// `transmit-interval`
        transmit_interval: Option<Int11<u32>> = "transmit-interval",
        /// `detect-multiplier`
        detect_multiplier: Option<Int11<u32>> = "detect-multiplier",
        /// `echo-interval`
        echo_interval: Option<Int11<u32>> = "echo-interval",
        /// `echo-mode`
        echo_mode: Option<Bool11> = "echo-mode",
        /// `passive-mode`
        passive_mode: Option<Bool11> = "passive-mode",
        /// `minimum-ttl`
        minimum_ttl: Option<Int11<u32>> = "minimum-ttl",
    }
}

/// Text of an optional raw scalar, `""` when absent or null (Go's zero string).
pub fn text(v: &Option<RawStr>) -> &str {
    v.as_ref().map_or("", |s| s.0.as_str())
}

/// Decodes a payload leniently. An empty payload (or one that is only comments / `null`) is
/// the empty config. The error is the YAML library's message with its position.
///
/// Only the first document counts: yaml.v2 (v0.9, and upstream's decoder) stops there.
pub fn decode(payload: &str) -> Result<ConfigFile, String> {
    let Some(first) = serde_norway::Deserializer::from_str(payload).next() else {
        return Ok(ConfigFile::default());
    };
    let value = serde_norway::Value::deserialize(first).map_err(|e| e.to_string())?;
    if value.is_null() {
        return Ok(ConfigFile::default());
    }
    let Some(first) = serde_norway::Deserializer::from_str(payload).next() else {
        return Ok(ConfigFile::default());
    };
    ConfigFile::deserialize(first).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_ignored_and_known_keys_match_case_insensitively() {
        let c = decode("Peers:\n- MY-ASN: 1\n  peer-asn: 2\n  foo: bar\nfrobnicate: 3\n").unwrap();
        let p = &c.peers.unwrap()[0];
        assert_eq!(p.my_asn, Some(Int11(1)));
        assert_eq!(p.asn, Some(Int11(2)));
    }

    #[test]
    fn string_fields_keep_the_scalar_text_as_written() {
        let c = decode("peers:\n- password: 0123\n  hold-time: 90\n  router-id: yes\n").unwrap();
        let p = &c.peers.unwrap()[0];
        assert_eq!(text(&p.password), "0123");
        assert_eq!(text(&p.hold_time), "90");
        assert_eq!(text(&p.router_id), "yes");
    }

    #[test]
    fn booleans_accept_yaml_1_1_spellings() {
        let c = decode("address-pools:\n- auto-assign: off\n  avoid-buggy-ips: Yes\n").unwrap();
        let p = &c.pools.unwrap()[0];
        assert_eq!(p.auto_assign, Some(Bool11(false)));
        assert_eq!(p.avoid_buggy_ips, Some(Bool11(true)));
    }

    #[test]
    fn null_list_entry_is_a_zero_struct_and_empty_payload_is_empty_config() {
        let c = decode("address-pools:\n-\n").unwrap();
        assert_eq!(c.pools.unwrap(), vec![AddressPool::default()]);
        assert_eq!(decode("").unwrap(), ConfigFile::default());
        assert_eq!(decode("# nothing\n").unwrap(), ConfigFile::default());
    }

    #[test]
    fn newer_keys_are_understood() {
        let c = decode(
            "peers:\n- source-address: 10.0.0.2\n  keepalive-time: 30s\n  bfd-profile: b\n  ebgp-multihop: true\nbfd-profiles:\n- name: b\n  echo-mode: true\naddress-pools:\n- bgp-advertisements:\n  - aggregation-length-v6: 64\n",
        )
        .unwrap();
        let p = &c.peers.unwrap()[0];
        assert_eq!(text(&p.src_addr), "10.0.0.2");
        assert_eq!(text(&p.keepalive_time), "30s");
        assert_eq!(text(&p.bfd_profile), "b");
        assert_eq!(p.ebgp_multihop, Some(Bool11(true)));
        assert_eq!(c.bfd_profiles.unwrap()[0].echo_mode, Some(Bool11(true)));
        assert_eq!(
            c.pools.unwrap()[0].bgp_advertisements.as_ref().unwrap()[0].aggregation_length_v6,
            Some(Int11(64))
        );
    }

    #[test]
    fn integers_accept_what_yaml_v2_reads() {
        let c = decode("peers:\n- my-asn: 64_512\n  peer-asn: 017\n  peer-port: 0x10\naddress-pools:\n- bgp-advertisements:\n  - localpref: 100.9\n    aggregation-length: -0b1\n").unwrap();
        let p = &c.peers.unwrap()[0];
        assert_eq!(
            (p.my_asn, p.asn, p.port),
            (Some(Int11(64512)), Some(Int11(15)), Some(Int11(16)))
        );
        let a = &c.pools.unwrap()[0].bgp_advertisements.clone().unwrap()[0];
        assert_eq!(
            (a.local_pref, a.aggregation_length),
            (Some(Int11(100)), Some(Int11(-1)))
        );
        assert!(decode("peers:\n- my-asn: -1\n").is_err());
        assert!(decode("peers:\n- my-asn: 4294967296\n").is_err());
        assert!(decode("peers:\n- my-asn: 0o\n").is_err());
        let c = decode("peers:\n- peer-port: 0179\n  my-asn: 1e3\n").unwrap();
        assert_eq!(
            (
                c.peers.as_ref().unwrap()[0].port,
                c.peers.unwrap()[0].my_asn
            ),
            (Some(Int11(179)), Some(Int11(1000)))
        );
    }

    #[test]
    fn merge_keys_fill_fields_and_later_keys_win() {
        let c = decode("peers:\n- &base\n  my-asn: 1\n  peer-asn: 2\n  peer-address: 192.0.2.1\n- <<: *base\n  peer-address: 192.0.2.2\n- peer-asn: 9\n  <<: [{my-asn: 5, peer-asn: 6}, {my-asn: 7}]\n").unwrap();
        let p = c.peers.unwrap();
        assert_eq!(
            (p[1].my_asn, p[1].asn, text(&p[1].addr)),
            (Some(Int11(1)), Some(Int11(2)), "192.0.2.2")
        );
        assert_eq!((p[2].my_asn, p[2].asn), (Some(Int11(5)), Some(Int11(6))));
    }

    #[test]
    fn only_the_first_document_counts() {
        let c = decode("peers:\n- my-asn: 1\n---\nthis: [is, broken\n").unwrap();
        assert_eq!(c.peers.unwrap()[0].my_asn, Some(Int11(1)));
    }

    #[test]
    fn type_errors_are_reported_with_a_position() {
        let e = decode("peers:\n- my-asn: abc\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = decode("peers:\n- peer-port: 70000\n").unwrap_err();
        assert!(e.contains("70000"), "{e}");
    }
}
