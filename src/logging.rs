//! JSON log lines with v0.9's shape (spec §6): one object per line on stdout, keys sorted
//! (go-kit encodes a map), `ts` in UTC RFC 3339 with nanoseconds, `caller` as `file:line`,
//! and Go's `encoding/json` string escaping (HTML characters as `\u003c` and friends).
//!
//! This is the formatter the daemons share; the `log_json!` macro fills `caller` from the
//! call site.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// A log value.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// A string (also errors, IPs and other Stringers, as go-kit writes them).
    Str(String),
    /// A number.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// `null` (a nil error).
    Null,
}

impl From<&str> for Field {
    fn from(s: &str) -> Self {
        Field::Str(s.to_string())
    }
}
impl From<String> for Field {
    fn from(s: String) -> Self {
        Field::Str(s)
    }
}
impl From<&String> for Field {
    fn from(s: &String) -> Self {
        Field::Str(s.clone())
    }
}
impl From<i64> for Field {
    fn from(v: i64) -> Self {
        Field::Int(v)
    }
}
impl From<usize> for Field {
    fn from(v: usize) -> Self {
        Field::Int(v as i64)
    }
}
impl From<bool> for Field {
    fn from(v: bool) -> Self {
        Field::Bool(v)
    }
}
/// An optional value: `None` is `null` (Go's nil error).
impl<T: Into<Field>> From<Option<T>> for Field {
    fn from(v: Option<T>) -> Self {
        v.map_or(Field::Null, Into::into)
    }
}

/// Go `encoding/json` string encoding with HTML escaping.
pub fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `time.RFC3339Nano` in UTC: fraction without trailing zeros, omitted when zero.
pub fn rfc3339_nano(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut frac = String::new();
    if d.subsec_nanos() != 0 {
        frac = format!(".{:09}", d.subsec_nanos()).trim_end_matches('0').to_string();
    }
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Formats one log line (without the newline).
pub fn format_line(caller: &str, fields: &[(&str, Field)], now: SystemTime) -> String {
    let mut map: BTreeMap<&str, String> = BTreeMap::new();
    for (k, v) in fields {
        let v = match v {
            Field::Str(s) => go_json_string(s),
            Field::Int(i) => i.to_string(),
            Field::Bool(b) => b.to_string(),
            Field::Null => "null".to_string(),
        };
        map.insert(k, v);
    }
    map.insert("caller", go_json_string(caller));
    map.insert("ts", go_json_string(&rfc3339_nano(now)));
    let body: Vec<String> = map.iter().map(|(k, v)| format!("{}:{}", go_json_string(k), v)).collect();
    format!("{{{}}}", body.join(","))
}

/// Writes one log line to stdout.
pub fn emit(caller: &str, fields: &[(&str, Field)]) {
    let line = format_line(caller, fields, SystemTime::now());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// `log_json!("op" => "startup", "msg" => "...")`: one JSON line with `caller` = this file:line.
#[macro_export]
macro_rules! log_json {
    ($($k:literal => $v:expr),* $(,)?) => {
        $crate::logging::emit(
            &format!("{}:{}", file!().rsplit('/').next().unwrap_or(file!()), line!()),
            &[$(($k, $crate::logging::Field::from($v))),*],
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn keys_are_sorted_and_html_is_escaped_like_go() {
        let t = UNIX_EPOCH + Duration::new(1_585_010_473, 538_364_521);
        let line = format_line("main.go:42", &[("msg", "a<b>&c".into()), ("event", "x".into()), ("n", Field::Int(3))], t);
        assert_eq!(
            line,
            r#"{"caller":"main.go:42","event":"x","msg":"a\u003cb\u003e\u0026c","n":3,"ts":"2020-03-24T00:41:13.538364521Z"}"#
        );
    }

    #[test]
    fn rfc3339_nano_trims_zeros() {
        assert_eq!(rfc3339_nano(UNIX_EPOCH + Duration::new(0, 500_000_000)), "1970-01-01T00:00:00.5Z");
        assert_eq!(rfc3339_nano(UNIX_EPOCH + Duration::new(951_782_400, 0)), "2000-02-29T00:00:00Z");
    }
}
