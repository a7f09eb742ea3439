//! yaml.v2's strict decoder (`decode.go`), over typed targets instead of reflection.
//!
//! Each Go type of v0.9's raw config model is a [`Decode`] target that knows its Go type
//! name (for `cannot unmarshal !!str `x` into uint32`) and which YAML shapes it accepts.
//! Type errors accumulate in [`Decoder::terrors`] and decoding goes on, exactly as yaml.v2
//! does; [`Fatal`] errors (yaml.v2's `failf` panics) stop everything.

use std::collections::HashSet;

use super::Mark;
use super::golang::quote;
use super::parser::{Document, Kind, NodeId};
use super::resolve::{self, BINARY, MAP, NULL, SEQ, STR, Value, resolve, short_tag};

/// One accumulated type error: its text (`line N: ...`) and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeError {
    pub text: String,
    pub mark: Mark,
}

/// An error that aborts decoding (yaml.v2's `failf`), already prefixed with `yaml: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fatal {
    pub message: String,
    pub mark: Mark,
}

pub(crate) type Good = Result<bool, Fatal>;

/// A scalar as a target sees it: its resolved tag and value and its source text.
pub(crate) struct Scalar<'a> {
    pub value: &'a Value,
    pub text: &'a str,
    /// The decoded bytes of a `!!binary` scalar.
    pub binary: Option<&'a str>,
}

/// A decoding target: one Go type of the raw model.
pub(crate) trait Decode {
    /// The Go type name yaml.v2 prints in type errors (`uint32`, `config.peer`).
    fn go_type(&self) -> String;
    /// Resets to Go's zero value (a null scalar).
    fn set_zero(&mut self);
    /// Accepts a non-null scalar; `false` is a type error.
    fn scalar(&mut self, _s: &Scalar<'_>) -> bool {
        false
    }
    /// Accepts a mapping node; `None` is a type error.
    fn mapping(&mut self, _d: &mut Decoder<'_>, _n: NodeId) -> Option<Good> {
        None
    }
    /// Accepts a sequence node; `None` is a type error.
    fn sequence(&mut self, _d: &mut Decoder<'_>, _n: NodeId) -> Option<Good> {
        None
    }
    /// For pointer types: allocate (if nil) and return the pointee.
    fn pointee(&mut self) -> Option<&mut dyn Decode> {
        None
    }
    /// Told where its node is (structs remember it for error positions).
    fn at(&mut self, _mark: Mark) {}
}

pub(crate) struct Decoder<'d> {
    pub doc: &'d Document,
    pub terrors: Vec<TypeError>,
    active_aliases: Vec<NodeId>,
}

impl<'d> Decoder<'d> {
    pub fn new(doc: &'d Document) -> Self {
        Decoder { doc, terrors: Vec::new(), active_aliases: Vec::new() }
    }

    pub fn mark(&self, n: NodeId) -> Mark {
        self.doc.nodes[n].mark
    }

    fn fatal(&self, n: NodeId, message: String) -> Fatal {
        Fatal { message, mark: self.mark(n) }
    }

    /// yaml.v2's `unmarshal`: aliases, null handling and pointer allocation, then by kind.
    pub fn unmarshal(&mut self, n: NodeId, out: &mut dyn Decode) -> Good {
        let node = &self.doc.nodes[n];
        if let Kind::Alias(target) = node.kind {
            if self.active_aliases.contains(&n) {
                return Err(self.fatal(n, format!("yaml: anchor '{}' value contains itself", node.value)));
            }
            self.active_aliases.push(n);
            let good = self.unmarshal(target, out);
            self.active_aliases.pop();
            return good;
        }
        let is_null = node.tag == NULL
            || (matches!(node.kind, Kind::Scalar)
                && node.tag.is_empty()
                && (node.value == "null" || node.value == "~" || (node.value.is_empty() && node.implicit)));
        if !is_null
            && let Some(inner) = out.pointee() {
                return self.unmarshal_value(n, inner);
            }
        self.unmarshal_value(n, out)
    }

    fn unmarshal_value(&mut self, n: NodeId, out: &mut dyn Decode) -> Good {
        out.at(self.mark(n));
        match &self.doc.nodes[n].kind {
            Kind::Scalar => self.scalar(n, out),
            Kind::Mapping(_) => match out.mapping(self, n) {
                Some(good) => good,
                None => {
                    self.terror(n, MAP, out);
                    Ok(false)
                }
            },
            Kind::Sequence(_) => match out.sequence(self, n) {
                Some(good) => good,
                None => {
                    self.terror(n, SEQ, out);
                    Ok(false)
                }
            },
            Kind::Alias(_) => self.unmarshal(n, out),
        }
    }

    fn scalar(&mut self, n: NodeId, out: &mut dyn Decode) -> Good {
        let node = &self.doc.nodes[n];
        let (tag, value) = if node.tag.is_empty() && !node.implicit {
            (STR.to_string(), Value::Str)
        } else {
            resolve(&node.tag, &node.value).map_err(|m| self.fatal(n, m))?
        };
        let binary = if tag == BINARY {
            match base64_std(&node.value) {
                Some(b) => Some(b),
                None => return Err(self.fatal(n, "yaml: !!binary value contains invalid base64 data".into())),
            }
        } else {
            None
        };
        if value == Value::Null {
            out.set_zero();
            return Ok(true);
        }
        let s = Scalar { value: &value, text: &node.value, binary: binary.as_deref() };
        if out.scalar(&s) {
            return Ok(true);
        }
        self.terror(n, &tag, out);
        Ok(false)
    }

    /// yaml.v2's `terror`: `line N: cannot unmarshal !!tag `value` into type`, the value cut
    /// to 7 bytes and `...` when longer than 10.
    pub fn terror(&mut self, n: NodeId, tag: &str, out: &dyn Decode) {
        let node = &self.doc.nodes[n];
        let tag = if node.tag.is_empty() { tag } else { node.tag.as_str() };
        let mut value = String::new();
        if tag != SEQ && tag != MAP {
            let v = node.value.as_bytes();
            let shown = if v.len() > 10 {
                format!("{}...", String::from_utf8_lossy(&v[..7]))
            } else {
                node.value.clone()
            };
            value = format!(" `{shown}`");
        }
        self.terrors.push(TypeError {
            text: format!("line {}: cannot unmarshal {}{} into {}", node.mark.line + 1, short_tag(tag), value, out.go_type()),
            mark: node.mark,
        });
    }

    fn pairs(&self, n: NodeId) -> Vec<(NodeId, NodeId)> {
        match &self.doc.nodes[n].kind {
            Kind::Mapping(c) => c.chunks(2).map(|p| (p[0], p[1])).collect(),
            _ => Vec::new(),
        }
    }

    fn is_merge(&self, n: NodeId) -> bool {
        let node = &self.doc.nodes[n];
        matches!(node.kind, Kind::Scalar) && node.value == "<<" && (node.implicit || node.tag == resolve::MERGE)
    }

    /// yaml.v2's `merge`: `<<` takes a mapping, an alias of one, or a sequence of those
    /// (earlier entries win, so they are applied last).
    fn merge(&mut self, n: NodeId, out: &mut dyn Decode) -> Result<(), Fatal> {
        let want_map = |d: &Self, at: NodeId| d.fatal(at, "yaml: map merge requires map or sequence of maps as the value".into());
        let node_kind = self.doc.nodes[n].kind.clone();
        match node_kind {
            Kind::Mapping(_) => {
                self.unmarshal(n, out)?;
            }
            Kind::Alias(target) => {
                if !matches!(self.doc.nodes[target].kind, Kind::Mapping(_)) {
                    return Err(want_map(self, n));
                }
                self.unmarshal(n, out)?;
            }
            Kind::Sequence(children) => {
                for &c in children.iter().rev() {
                    match self.doc.nodes[c].kind {
                        Kind::Alias(t) if !matches!(self.doc.nodes[t].kind, Kind::Mapping(_)) => {
                            return Err(want_map(self, n));
                        }
                        Kind::Alias(_) | Kind::Mapping(_) => {}
                        _ => return Err(want_map(self, n)),
                    }
                    self.unmarshal(c, out)?;
                }
            }
            Kind::Scalar => return Err(want_map(self, n)),
        }
        Ok(())
    }

    /// yaml.v2's `mappingStruct` in strict mode, for a target that lists its fields.
    pub fn decode_struct<S: Fields>(&mut self, n: NodeId, out: &mut S) -> Good {
        let mut done: HashSet<usize> = HashSet::new();
        let mut name = String::new();
        for (k, v) in self.pairs(n) {
            if self.is_merge(k) {
                self.merge(v, out)?;
                continue;
            }
            if !self.unmarshal(k, &mut name)? {
                continue;
            }
            let type_name = out.go_type();
            let key_mark = self.mark(k);
            let value_mark = self.mark(v);
            match out.field(&name) {
                Some((id, field)) => {
                    if !done.insert(id) {
                        self.terrors.push(TypeError {
                            text: format!("line {}: field {} already set in type {}", key_mark.line + 1, name, type_name),
                            mark: key_mark,
                        });
                        continue;
                    }
                    self.unmarshal(v, field)?;
                    out.field_at(id, key_mark, value_mark);
                }
                None => self.terrors.push(TypeError {
                    text: format!("line {}: field {} not found in type {}", key_mark.line + 1, name, type_name),
                    mark: key_mark,
                }),
            }
        }
        Ok(true)
    }

    /// yaml.v2's `mapping` into `map[string]string`, strict: a repeated key is an error
    /// reported at the value's line.
    fn decode_string_map(&mut self, n: NodeId, out: &mut StringMap) -> Good {
        for (k, v) in self.pairs(n) {
            if self.is_merge(k) {
                self.merge(v, out)?;
                continue;
            }
            let mut key = String::new();
            if !self.unmarshal(k, &mut key)? {
                continue;
            }
            let mut value = String::new();
            if !self.unmarshal(v, &mut value)? {
                continue;
            }
            if out.entries.iter().any(|(ek, _, _)| *ek == key) {
                let mark = self.mark(v);
                self.terrors.push(TypeError {
                    text: format!("line {}: key {} already set in map", mark.line + 1, quote(&key)),
                    mark,
                });
                continue;
            }
            out.entries.push((key, value, self.mark(v)));
        }
        Ok(true)
    }
}

/// A struct target: its fields by YAML key.
pub(crate) trait Fields: Decode {
    /// The field for `key`: a stable index (for the repeated-field check) and its target.
    fn field(&mut self, key: &str) -> Option<(usize, &mut dyn Decode)>;
    /// Where field `id`'s key and value were (for error positions after validation).
    fn field_at(&mut self, _id: usize, _key: Mark, _value: Mark) {}
}

/// Decodes document root `root` into `out` and returns the accumulated type errors.
pub(crate) fn decode_document(doc: &Document, out: &mut dyn Decode) -> Result<Vec<TypeError>, Fatal> {
    let mut d = Decoder::new(doc);
    if let Some(root) = doc.root {
        d.unmarshal(root, out)?;
    }
    Ok(d.terrors)
}

// ---- Go's standard decoding of std base64 (`encoding/base64.StdEncoding.DecodeString`,
// which skips \r and \n).
fn base64_std(s: &str) -> Option<String> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    let clean: Vec<u8> = s.bytes().filter(|b| *b != b'\r' && *b != b'\n').collect();
    if !clean.len().is_multiple_of(4) {
        return None;
    }
    let pad = clean.iter().rev().take_while(|b| **b == b'=').count();
    if pad > 2 || clean[..clean.len() - pad].contains(&b'=') {
        return None;
    }
    for &b in &clean[..clean.len() - pad] {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    String::from_utf8(out).ok()
}

// ---- Go float conversions as amd64 performs them (CVTTSD2SQ), which v0.9's decoder uses
// when a float lands in an integer field.
/// 2^63, exactly.
const TWO_63: f64 = (1u64 << 63) as f64;

fn go_f64_to_i64(f: f64) -> i64 {
    if !(-TWO_63..TWO_63).contains(&f) {
        i64::MIN
    } else {
        f.trunc() as i64
    }
}

fn go_f64_to_u64(f: f64) -> u64 {
    if f < TWO_63 {
        go_f64_to_i64(f) as u64
    } else {
        (go_f64_to_i64(f - TWO_63) as u64) ^ (1 << 63)
    }
}

/// yaml.v2's rules for an unsigned field of `bits` bits.
fn to_uint(v: &Value, bits: u32) -> Option<u64> {
    let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let u = match *v {
        Value::Int(i) if i >= 0 => i as u64,
        Value::Uint(u) => u,
        Value::Float(f) if f <= u64::MAX as f64 => go_f64_to_u64(f),
        _ => return None,
    };
    (u <= max).then_some(u)
}

/// yaml.v2's rules for Go `int` (64-bit).
fn to_int(v: &Value) -> Option<i64> {
    match *v {
        Value::Int(i) => Some(i),
        Value::Float(f) if f <= i64::MAX as f64 => Some(go_f64_to_i64(f)),
        _ => None,
    }
}

// ---- Primitive targets.

impl Decode for String {
    fn go_type(&self) -> String {
        "string".into()
    }
    fn set_zero(&mut self) {
        self.clear();
    }
    fn scalar(&mut self, s: &Scalar<'_>) -> bool {
        // Any scalar fills a string field, with its source text (yaml.v2 uses n.value).
        *self = s.binary.unwrap_or(s.text).to_string();
        true
    }
}

/// A Go named string type (`config.Proto`): same rules as `string`, its own type name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NamedString {
    pub value: String,
    pub go_name: &'static str,
}

impl Decode for NamedString {
    fn go_type(&self) -> String {
        self.go_name.into()
    }
    fn set_zero(&mut self) {
        self.value.clear();
    }
    fn scalar(&mut self, s: &Scalar<'_>) -> bool {
        self.value.scalar(s)
    }
}

impl Decode for u32 {
    fn go_type(&self) -> String {
        "uint32".into()
    }
    fn set_zero(&mut self) {
        *self = 0;
    }
    fn scalar(&mut self, s: &Scalar<'_>) -> bool {
        to_uint(s.value, 32).map(|u| *self = u as u32).is_some()
    }
}

impl Decode for u16 {
    fn go_type(&self) -> String {
        "uint16".into()
    }
    fn set_zero(&mut self) {
        *self = 0;
    }
    fn scalar(&mut self, s: &Scalar<'_>) -> bool {
        to_uint(s.value, 16).map(|u| *self = u as u16).is_some()
    }
}

impl Decode for i64 {
    fn go_type(&self) -> String {
        "int".into()
    }
    fn set_zero(&mut self) {
        *self = 0;
    }
    fn scalar(&mut self, s: &Scalar<'_>) -> bool {
        to_int(s.value).map(|i| *self = i).is_some()
    }
}

impl Decode for bool {
    fn go_type(&self) -> String {
        "bool".into()
    }
    fn set_zero(&mut self) {
        *self = false;
    }
    fn scalar(&mut self, s: &Scalar<'_>) -> bool {
        match s.value {
            Value::Bool(b) => {
                *self = *b;
                true
            }
            _ => false,
        }
    }
}

/// A Go pointer field (`*int`, `*bool`): nil on null, allocated otherwise.
impl<T: Decode + Default> Decode for Option<T> {
    fn go_type(&self) -> String {
        format!("*{}", T::default().go_type())
    }
    fn set_zero(&mut self) {
        *self = None;
    }
    fn pointee(&mut self) -> Option<&mut dyn Decode> {
        Some(self.get_or_insert_with(T::default))
    }
}

/// A Go slice.
impl<T: Decode + Default> Decode for Vec<T> {
    fn go_type(&self) -> String {
        format!("[]{}", T::default().go_type())
    }
    fn set_zero(&mut self) {
        self.clear();
    }
    fn sequence(&mut self, d: &mut Decoder<'_>, n: NodeId) -> Option<Good> {
        let Kind::Sequence(children) = d.doc.nodes[n].kind.clone() else { return None };
        let mut out = Vec::with_capacity(children.len());
        for c in children {
            let mut e = T::default();
            match d.unmarshal(c, &mut e) {
                Ok(true) => out.push(e),
                Ok(false) => {}
                Err(f) => return Some(Err(f)),
            }
        }
        *self = out;
        Some(Ok(true))
    }
}

/// A Go `map[string]string`, in document order, with each value's position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StringMap {
    pub entries: Vec<(String, String, Mark)>,
}

impl Decode for StringMap {
    fn go_type(&self) -> String {
        "map[string]string".into()
    }
    fn set_zero(&mut self) {
        self.entries.clear();
    }
    fn mapping(&mut self, d: &mut Decoder<'_>, n: NodeId) -> Option<Good> {
        Some(d.decode_string_map(n, self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_like_go() {
        assert_eq!(base64_std("aGVsbG8=").as_deref(), Some("hello"));
        assert_eq!(base64_std("aGVsbG8").as_deref(), None);
        assert_eq!(base64_std("aGVs\nbG8=").as_deref(), Some("hello"));
    }

    #[test]
    fn float_to_int_conversions_match_amd64_go() {
        assert_eq!(go_f64_to_i64(f64::NEG_INFINITY), i64::MIN);
        assert_eq!(go_f64_to_i64(-1.9), -1);
        assert_eq!(go_f64_to_u64(-1.0), u64::MAX);
        assert_eq!(to_uint(&Value::Float(1.5), 32), Some(1));
        assert_eq!(to_uint(&Value::Float(-0.5), 32), Some(0));
        assert_eq!(to_uint(&Value::Float(-1.5), 32), None);
        assert_eq!(to_uint(&Value::Int(-1), 32), None);
        assert_eq!(to_int(&Value::Uint(u64::MAX)), None);
    }
}
