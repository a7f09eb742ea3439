//! v0.9's raw config model (`configFile`, `peer`, ... in `internal/config`), as yaml.v2
//! decodes it: Go field types, Go type names for error texts, YAML keys as v0.9 spells them.
//! Every struct remembers where it and its fields were, for `ferrolb check`'s caret.

use super::yaml::Mark;
use super::yaml::decode::{Decode, Decoder, Fields, Good, NamedString, Scalar, StringMap};
use super::yaml::parser::NodeId;

/// Where a struct's node and its fields' values were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Marks {
    pub node: Mark,
    fields: Vec<(usize, Mark)>,
}

impl Marks {
    /// The value position of field `id`, else the struct's own position.
    pub fn field(&self, id: usize) -> Mark {
        self.fields.iter().rev().find(|(i, _)| *i == id).map_or(self.node, |(_, m)| *m)
    }
}

/// A value that remembers its position (list entries the validator may point at).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Located<T> {
    pub value: T,
    pub mark: Mark,
}

impl<T: Decode> Decode for Located<T> {
    fn go_type(&self) -> String {
        self.value.go_type()
    }
    fn set_zero(&mut self) {
        self.value.set_zero();
    }
    fn scalar(&mut self, s: &Scalar<'_>) -> bool {
        self.value.scalar(s)
    }
    fn mapping(&mut self, d: &mut Decoder<'_>, n: NodeId) -> Option<Good> {
        self.value.mapping(d, n)
    }
    fn sequence(&mut self, d: &mut Decoder<'_>, n: NodeId) -> Option<Good> {
        self.value.sequence(d, n)
    }
    fn pointee(&mut self) -> Option<&mut dyn Decode> {
        self.value.pointee()
    }
    fn at(&mut self, mark: Mark) {
        self.mark = mark;
    }
}

/// Declares a Go struct target: its Go type name and its fields by YAML key.
macro_rules! go_struct {
    ($ty:ident, $go:literal, { $($id:literal $key:literal => $field:ident),* $(,)? }) => {
        impl Decode for $ty {
            fn go_type(&self) -> String {
                $go.into()
            }
            fn set_zero(&mut self) {
                let node = self.marks.node;
                *self = Self::default();
                self.marks.node = node;
            }
            fn mapping(&mut self, d: &mut Decoder<'_>, n: NodeId) -> Option<Good> {
                Some(d.decode_struct(n, self))
            }
            fn at(&mut self, mark: Mark) {
                self.marks.node = mark;
            }
        }
        impl Fields for $ty {
            fn field(&mut self, key: &str) -> Option<(usize, &mut dyn Decode)> {
                match key {
                    $($key => Some(($id, &mut self.$field)),)*
                    _ => None,
                }
            }
            fn field_at(&mut self, id: usize, _key: Mark, value: Mark) {
                self.marks.fields.push((id, value));
            }
        }
    };
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConfigFile {
    pub peers: Vec<RawPeer>,
    pub bgp_communities: StringMap,
    pub pools: Vec<RawPool>,
    pub marks: Marks,
}
go_struct!(ConfigFile, "config.configFile", {
    0 "peers" => peers,
    1 "bgp-communities" => bgp_communities,
    2 "address-pools" => pools,
});

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawPeer {
    pub my_asn: u32,
    pub asn: u32,
    pub addr: String,
    pub port: u16,
    pub hold_time: String,
    pub router_id: String,
    pub node_selectors: Vec<RawNodeSelector>,
    pub password: String,
    pub marks: Marks,
}
go_struct!(RawPeer, "config.peer", {
    0 "my-asn" => my_asn,
    1 "peer-asn" => asn,
    2 "peer-address" => addr,
    3 "peer-port" => port,
    4 "hold-time" => hold_time,
    5 "router-id" => router_id,
    6 "node-selectors" => node_selectors,
    7 "password" => password,
});

impl RawPeer {
    pub const MY_ASN: usize = 0;
    pub const PEER_ASN: usize = 1;
    pub const ADDR: usize = 2;
    pub const HOLD_TIME: usize = 4;
    pub const ROUTER_ID: usize = 5;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawNodeSelector {
    pub match_labels: StringMap,
    pub match_expressions: Vec<RawRequirement>,
    pub marks: Marks,
}
go_struct!(RawNodeSelector, "config.nodeSelector", {
    0 "match-labels" => match_labels,
    1 "match-expressions" => match_expressions,
});

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawRequirement {
    pub key: String,
    pub operator: String,
    pub values: Vec<String>,
    pub marks: Marks,
}
go_struct!(RawRequirement, "config.selectorRequirements", {
    0 "key" => key,
    1 "operator" => operator,
    2 "values" => values,
});

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawPool {
    pub protocol: NamedString,
    pub name: String,
    pub addresses: Vec<Located<String>>,
    pub avoid_buggy_ips: bool,
    pub auto_assign: Option<bool>,
    pub bgp_advertisements: Vec<RawAdvertisement>,
    pub marks: Marks,
}
go_struct!(RawPool, "config.addressPool", {
    0 "protocol" => protocol,
    1 "name" => name,
    2 "addresses" => addresses,
    3 "avoid-buggy-ips" => avoid_buggy_ips,
    4 "auto-assign" => auto_assign,
    5 "bgp-advertisements" => bgp_advertisements,
});

impl RawPool {
    pub const PROTOCOL: usize = 0;
    pub const NAME: usize = 1;
    pub const ADDRESSES: usize = 2;
    pub const ADVERTISEMENTS: usize = 5;
}

impl Default for RawPool {
    fn default() -> Self {
        RawPool {
            protocol: NamedString { value: String::new(), go_name: "config.Proto" },
            name: String::new(),
            addresses: Vec::new(),
            avoid_buggy_ips: false,
            auto_assign: None,
            bgp_advertisements: Vec::new(),
            marks: Marks::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawAdvertisement {
    pub aggregation_length: Option<i64>,
    pub local_pref: Option<u32>,
    pub communities: Vec<Located<String>>,
    pub marks: Marks,
}
go_struct!(RawAdvertisement, "config.bgpAdvertisement", {
    0 "aggregation-length" => aggregation_length,
    1 "localpref" => local_pref,
    2 "communities" => communities,
});

impl RawAdvertisement {
    pub const AGGREGATION_LENGTH: usize = 0;
}
