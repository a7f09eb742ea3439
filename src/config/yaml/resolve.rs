//! yaml.v2's implicit typing of scalars (YAML 1.1 rules, `resolve.go`).

use super::golang::{parse_int64, parse_uint};

pub const STR: &str = "tag:yaml.org,2002:str";
pub const BOOL: &str = "tag:yaml.org,2002:bool";
pub const INT: &str = "tag:yaml.org,2002:int";
pub const FLOAT: &str = "tag:yaml.org,2002:float";
pub const NULL: &str = "tag:yaml.org,2002:null";
pub const TIMESTAMP: &str = "tag:yaml.org,2002:timestamp";
pub const BINARY: &str = "tag:yaml.org,2002:binary";
pub const MERGE: &str = "tag:yaml.org,2002:merge";
pub const SEQ: &str = "tag:yaml.org,2002:seq";
pub const MAP: &str = "tag:yaml.org,2002:map";

/// A resolved scalar value, with Go's dynamic types (`int` is 64-bit).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Go `int`
    Int(i64),
    /// Go `uint64` (only above `i64::MAX`)
    Uint(u64),
    Float(f64),
    /// A string; the decoder uses the node's text.
    Str,
    Timestamp,
    Merge,
}

/// `!!str` for `tag:yaml.org,2002:str`; other tags unchanged.
pub fn short_tag(tag: &str) -> String {
    match tag.strip_prefix("tag:yaml.org,2002:") {
        Some(rest) => format!("!!{rest}"),
        None => tag.to_string(),
    }
}

fn resolvable(tag: &str) -> bool {
    matches!(tag, "" | STR | BOOL | INT | FLOAT | NULL | TIMESTAMP)
}

fn lookup(s: &str) -> Option<(&'static str, Value)> {
    Some(match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            (BOOL, Value::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            (BOOL, Value::Bool(false))
        }
        "" | "~" | "null" | "Null" | "NULL" => (NULL, Value::Null),
        ".nan" | ".NaN" | ".NAN" => (FLOAT, Value::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => (FLOAT, Value::Float(f64::INFINITY)),
        "-.inf" | "-.Inf" | "-.INF" => (FLOAT, Value::Float(f64::NEG_INFINITY)),
        "<<" => (MERGE, Value::Merge),
        _ => return None,
    })
}

/// yaml.v2's `yamlStyleFloat`: `^[-+]?[0-9]*\.?[0-9]+([eE][-+][0-9]+)?$`.
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let mantissa_start = i;
    let mut mantissa_end = b.len();
    if let Some(e) = b[i..].iter().position(|c| *c == b'e' || *c == b'E') {
        mantissa_end = i + e;
        let exp = &b[mantissa_end + 1..];
        if exp.len() < 2 || !(exp[0] == b'-' || exp[0] == b'+') || !exp[1..].iter().all(u8::is_ascii_digit) {
            return false;
        }
    }
    let m = &b[mantissa_start..mantissa_end];
    // [0-9]*\.?[0-9]+  : digits, optional dot, then at least one digit.
    let (before, after) = match m.iter().position(|c| *c == b'.') {
        Some(d) => (&m[..d], &m[d + 1..]),
        None => (&m[..0], m),
    };
    before.iter().all(u8::is_ascii_digit) && !after.is_empty() && after.iter().all(u8::is_ascii_digit)
}

/// Go's `strconv.ParseFloat(s, 64)` restricted to what reaches it here; out of range is an
/// error (Go returns ±Inf with ErrRange).
fn parse_float(s: &str) -> Option<f64> {
    if s.contains('_') {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    let lower = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if v.is_infinite() && !(lower == "inf" || lower == "infinity") {
        return None;
    }
    Some(v)
}

/// yaml.v2's `parseTimestamp`: `2006-1-2T15:4:5.999999999Z07:00` (also with `t`),
/// `2006-1-2 15:4:5.999999999` and `2006-1-2`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let year_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if year_digits != 4 || b.get(4) != Some(&b'-') {
        return false;
    }
    let mut p = Cursor { b, i: 5 };
    let year: u32 = std::str::from_utf8(&b[..4]).ok().and_then(|y| y.parse().ok()).unwrap_or(0);
    let Some(month) = p.num(1, 12) else { return false };
    if !p.eat(b'-') {
        return false;
    }
    let Some(day) = p.num(1, 31) else { return false };
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if day > days[month as usize - 1] {
        return false;
    }
    if p.done() {
        return true;
    }
    let sep = b[p.i];
    if !(sep == b'T' || sep == b't' || sep == b' ') {
        return false;
    }
    p.i += 1;
    let ok = p.num(0, 23).is_some() && p.eat(b':') && p.num(0, 59).is_some() && p.eat(b':') && p.num(0, 59).is_some();
    if !ok {
        return false;
    }
    if p.i < b.len() && b[p.i] == b'.' {
        let start = p.i + 1;
        let mut j = start;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == start {
            return false;
        }
        p.i = j;
    }
    if sep == b' ' {
        return p.done();
    }
    // Z07:00: "Z" or ±hh:mm
    if p.eat(b'Z') {
        return p.done();
    }
    if p.i < b.len() && (b[p.i] == b'+' || b[p.i] == b'-') {
        p.i += 1;
        return p.fixed2(0, 23) && p.eat(b':') && p.fixed2(0, 59) && p.done();
    }
    false
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// One or two digits (Go's non-fixed `getnum`).
    fn num(&mut self, lo: u32, hi: u32) -> Option<u32> {
        let d1 = *self.b.get(self.i)?;
        if !d1.is_ascii_digit() {
            return None;
        }
        let mut v = (d1 - b'0') as u32;
        self.i += 1;
        if let Some(d2) = self.b.get(self.i).filter(|c| c.is_ascii_digit()) {
            v = v * 10 + (d2 - b'0') as u32;
            self.i += 1;
        }
        (lo..=hi).contains(&v).then_some(v)
    }
    fn fixed2(&mut self, lo: u32, hi: u32) -> bool {
        let (Some(a), Some(b)) = (self.b.get(self.i), self.b.get(self.i + 1)) else { return false };
        if !a.is_ascii_digit() || !b.is_ascii_digit() {
            return false;
        }
        self.i += 2;
        (lo..=hi).contains(&(((a - b'0') * 10 + (b - b'0')) as u32))
    }
}

fn int_value(v: i64) -> Value {
    Value::Int(v)
}

/// yaml.v2's `resolve(tag, in)`: the resolved tag and value, or the fatal
/// `cannot decode !!X `in` as a !!Y` error for an explicit tag that does not fit.
pub fn resolve(tag: &str, input: &str) -> Result<(String, Value), String> {
    if !resolvable(tag) {
        return Ok((tag.to_string(), Value::Str));
    }
    let (rtag, out) = resolve_implicit(tag, input);
    // The deferred check of resolve.go.
    if tag.is_empty() || tag == rtag || tag == STR || tag == BINARY {
        return Ok((rtag.to_string(), out));
    }
    if tag == FLOAT && rtag == INT
        && let Value::Int(v) = out {
            return Ok((FLOAT.to_string(), Value::Float(v as f64)));
        }
    Err(format!("yaml: cannot decode {} `{}` as a {}", short_tag(rtag), input, short_tag(tag)))
}

fn resolve_implicit(tag: &str, input: &str) -> (&'static str, Value) {
    let hint = match input.as_bytes().first() {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => 0,
    };
    if hint == 0 || tag == STR || tag == BINARY {
        return (STR, Value::Str);
    }
    if let Some(hit) = lookup(input) {
        return hit;
    }
    match hint {
        b'.' => {
            if let Some(f) = parse_float(input) {
                return (FLOAT, Value::Float(f));
            }
        }
        b'D' | b'S' => {
            if (tag.is_empty() || tag == TIMESTAMP) && is_timestamp(input) {
                return (TIMESTAMP, Value::Timestamp);
            }
            let plain = input.replace('_', "");
            if let Ok(v) = parse_int64(&plain) {
                return (INT, int_value(v));
            }
            if let Ok(v) = parse_uint(&plain, 0, 64) {
                return (INT, Value::Uint(v));
            }
            if yaml_style_float(&plain)
                && let Some(f) = parse_float(&plain) {
                    return (FLOAT, Value::Float(f));
                }
            if let Some(bin) = plain.strip_prefix("0b") {
                if let Ok(v) = parse_uint(bin, 2, 64) {
                    return (INT, if v <= i64::MAX as u64 { Value::Int(v as i64) } else { Value::Uint(v) });
                }
            } else if let Some(bin) = plain.strip_prefix("-0b")
                && let Ok(v) = parse_uint(bin, 2, 64).and_then(|v| if v <= 1u64 << 63 { Ok(v) } else { Err(super::golang::NumError::Range) }) {
                    return (INT, Value::Int((v as i64).wrapping_neg()));
                }
        }
        _ => {}
    }
    (STR, Value::Str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> (String, Value) {
        resolve("", s).unwrap()
    }

    #[test]
    fn yaml_1_1_booleans_in_three_casings_only() {
        for s in ["yes", "Yes", "YES", "on", "On", "y", "true", "TRUE"] {
            assert_eq!(r(s), (BOOL.into(), Value::Bool(true)), "{s}");
        }
        for s in ["no", "Off", "N", "False"] {
            assert_eq!(r(s), (BOOL.into(), Value::Bool(false)), "{s}");
        }
        assert_eq!(r("tRuE").0, STR);
    }

    #[test]
    fn numbers_follow_go_strconv_with_base_prefixes() {
        assert_eq!(r("42"), (INT.into(), Value::Int(42)));
        assert_eq!(r("0x1F"), (INT.into(), Value::Int(31)));
        assert_eq!(r("010"), (INT.into(), Value::Int(8)));
        assert_eq!(r("1_000"), (INT.into(), Value::Int(1000)));
        assert_eq!(r("08"), (FLOAT.into(), Value::Float(8.0)));
        assert_eq!(r("18446744073709551615"), (INT.into(), Value::Uint(u64::MAX)));
        assert_eq!(r("1e3").0, STR);
        assert_eq!(r("1e+3"), (FLOAT.into(), Value::Float(1000.0)));
        assert_eq!(r("0b101"), (INT.into(), Value::Int(5)));
        assert_eq!(r(".5"), (FLOAT.into(), Value::Float(0.5)));
        assert_eq!(r("64512:1").0, STR, "no sexagesimal");
    }

    #[test]
    fn dates_are_timestamps_and_nulls_resolve() {
        assert_eq!(r("2001-12-14").0, TIMESTAMP);
        assert_eq!(r("2001-12-14t21:59:43.10Z").0, TIMESTAMP);
        assert_eq!(r("2001-02-30").0, STR);
        assert_eq!(r("~"), (NULL.into(), Value::Null));
        assert_eq!(r(""), (NULL.into(), Value::Null));
    }

    #[test]
    fn explicit_tags_that_do_not_fit_are_fatal() {
        assert_eq!(resolve(INT, "abc").unwrap_err(), "yaml: cannot decode !!str `abc` as a !!int");
        assert_eq!(resolve(FLOAT, "3").unwrap(), (FLOAT.into(), Value::Float(3.0)));
        assert_eq!(resolve(STR, "3").unwrap(), (STR.into(), Value::Str));
        assert_eq!(resolve("!custom", "3").unwrap(), ("!custom".into(), Value::Str));
    }
}
