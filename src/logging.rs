//! JSON log lines with v0.9's shape (spec §6): one object per line on stdout, keys sorted
//! (go-kit encodes a map), `ts` in UTC RFC 3339 with nanoseconds, `caller` as `file:line`,
//! and Go's `encoding/json` string escaping (HTML characters as `\u003c` and friends).
//!
//! This is the formatter the daemons share; the `log_json!` macro fills `caller` from the
//! call site.

use std::cell::RefCell;
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
    push_go_json_string(&mut out, s);
    out
}

/// [`go_json_string`] appended to `out`.
fn push_go_json_string(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
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
        frac = format!(".{:09}", d.subsec_nanos())
            .trim_end_matches('0')
            .to_string();
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
    let mut out = String::with_capacity(256);
    push_line(&mut out, caller, fields, now);
    out
}

/// [`format_line`] appended to `out`: keys sorted as go-kit's map encoding sorts them; a key
/// given twice keeps its last value, and `caller` and `ts` always win (as v0.9's logger adds
/// them last).
fn push_line(out: &mut String, caller: &str, fields: &[(&str, Field)], now: SystemTime) {
    use std::fmt::Write as _;
    enum Value<'a> {
        Field(&'a Field),
        Text(&'a str),
    }
    let ts = rfc3339_nano(now);
    let mut entries: Vec<(&str, Value<'_>)> = Vec::with_capacity(fields.len() + 2);
    entries.extend(fields.iter().map(|(k, v)| (*k, Value::Field(v))));
    entries.push(("caller", Value::Text(caller)));
    entries.push(("ts", Value::Text(&ts)));
    // Stable: among equal keys the later one stays last, and only the last is written.
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    let mut first = true;
    for (n, (key, value)) in entries.iter().enumerate() {
        if entries.get(n + 1).is_some_and(|next| next.0 == *key) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        push_go_json_string(out, key);
        out.push(':');
        match value {
            Value::Text(t) => push_go_json_string(out, t),
            Value::Field(Field::Str(t)) => push_go_json_string(out, t),
            Value::Field(Field::Int(i)) => {
                let _ = write!(out, "{i}");
            }
            Value::Field(Field::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
            Value::Field(Field::Null) => out.push_str("null"),
        }
    }
    out.push('}');
}

thread_local! {
    /// Lines a hot thread has formatted but not yet written ([`buffer_this_thread`]).
    static BUFFER: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Flush a thread's buffered lines once they reach this size even if the thread stays busy.
const BUFFER_LIMIT: usize = 16 * 1024;

/// From now on, this thread's log lines are kept in a buffer until [`flush_this_thread`]
/// (or 16 KiB): the layer2 responders log every answered request as v0.9 does, and under a
/// flood one `write` per line would cost more than the answer. The responders flush
/// whenever their socket has nothing queued, so a line waits only while more requests wait.
pub fn buffer_this_thread() {
    BUFFER.with(|b| {
        b.borrow_mut()
            .get_or_insert_with(|| String::with_capacity(BUFFER_LIMIT + 1024));
    });
}

/// Writes this thread's buffered lines (a no-op for an unbuffered thread).
pub fn flush_this_thread() {
    BUFFER.with(|b| {
        if let Some(buf) = b.borrow_mut().as_mut() {
            drain_to_stdout(buf);
        }
    });
}

/// Writes `buf` to stdout in one `write` and empties it. A failed write (stdout closed)
/// loses the lines, as Go's logger does.
fn drain_to_stdout(buf: &mut String) {
    if !buf.is_empty() {
        let _ = std::io::stdout().lock().write_all(buf.as_bytes());
        buf.clear();
    }
}

/// Writes one log line to stdout (or to this thread's buffer, see [`buffer_this_thread`]).
pub fn emit(caller: &str, fields: &[(&str, Field)]) {
    let now = SystemTime::now();
    let buffered = BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        let Some(buf) = b.as_mut() else { return false };
        push_line(buf, caller, fields, now);
        buf.push('\n');
        if buf.len() >= BUFFER_LIMIT {
            drain_to_stdout(buf);
        }
        true
    });
    if !buffered {
        let mut line = String::with_capacity(256);
        push_line(&mut line, caller, fields, now);
        line.push('\n');
        drain_to_stdout(&mut line);
    }
}

/// `log_json!("op" => "startup", "msg" => "...")`: one JSON line with `caller` = this file:line.
#[macro_export]
macro_rules! log_json {
    ($($k:literal => $v:expr),* $(,)?) => {
        $crate::logging::emit(
            {
                const CALLER: &str = concat!(file!(), ":", line!());
                CALLER.rsplit('/').next().unwrap_or(CALLER)
            },
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
        let line = format_line(
            "main.go:42",
            &[
                ("msg", "a<b>&c".into()),
                ("event", "x".into()),
                ("n", Field::Int(3)),
            ],
            t,
        );
        assert_eq!(
            line,
            r#"{"caller":"main.go:42","event":"x","msg":"a\u003cb\u003e\u0026c","n":3,"ts":"2020-03-24T00:41:13.538364521Z"}"#
        );
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_and_caller_and_ts_win() {
        let t = UNIX_EPOCH + Duration::new(0, 0);
        let fields = [
            ("msg", Field::from("a")),
            ("caller", "x.go:1".into()),
            ("msg", "b".into()),
            ("ok", Field::Bool(true)),
        ];
        assert_eq!(
            format_line("main.go:7", &fields, t),
            r#"{"caller":"main.go:7","msg":"b","ok":true,"ts":"1970-01-01T00:00:00Z"}"#
        );
    }

    #[test]
    fn rfc3339_nano_trims_zeros() {
        assert_eq!(
            rfc3339_nano(UNIX_EPOCH + Duration::new(0, 500_000_000)),
            "1970-01-01T00:00:00.5Z"
        );
        assert_eq!(
            rfc3339_nano(UNIX_EPOCH + Duration::new(951_782_400, 0)),
            "2000-02-29T00:00:00Z"
        );
    }
}
