//! Go's `time.ParseDuration` and `time.Duration.String`, which upstream's converter uses for
//! `hold-time` and `keepalive-time` (spec §9.3). Parsing and quoting are the config module's
//! Go-faithful implementations (current Go texts: `time: invalid duration "x"`).

pub use crate::config::yaml::golang::{parse_duration as parse, quote as go_quote};

/// Whole seconds of a duration, truncated toward zero (Go's `int(d.Seconds())`).
pub fn whole_seconds(nanos: i64) -> i64 {
    nanos / 1_000_000_000
}

/// Go's `Duration.String` for a whole number of seconds: `0s`, `30s`, `2m0s`, `1h0m0s`.
pub fn format_seconds(secs: i64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let sign = if secs < 0 { "-" } else { "" };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, (a / 60) % 60, a % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_duration_syntax() {
        assert_eq!(parse("120s"), Ok(120_000_000_000));
        assert_eq!(parse("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse("2m30s"), Ok(150_000_000_000));
        assert_eq!(parse("300ms"), Ok(300_000_000));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("-3s"), Ok(-3_000_000_000));
        assert_eq!(parse("+.5s"), Ok(500_000_000));
        assert_eq!(parse("1\u{b5}s"), Ok(1_000));
    }

    #[test]
    fn errors_use_current_go_texts() {
        assert_eq!(parse("foo").unwrap_err(), r#"time: invalid duration "foo""#);
        assert_eq!(
            parse("90").unwrap_err(),
            r#"time: missing unit in duration "90""#
        );
        assert_eq!(
            parse("1x").unwrap_err(),
            r#"time: unknown unit "x" in duration "1x""#
        );
        assert_eq!(parse("").unwrap_err(), r#"time: invalid duration """#);
        assert_eq!(parse(".s").unwrap_err(), r#"time: invalid duration ".s""#);
        assert_eq!(
            parse("9999999999h").unwrap_err(),
            r#"time: invalid duration "9999999999h""#
        );
    }

    #[test]
    fn formats_like_go_duration_string() {
        assert_eq!(format_seconds(0), "0s");
        assert_eq!(format_seconds(30), "30s");
        assert_eq!(format_seconds(90), "1m30s");
        assert_eq!(format_seconds(120), "2m0s");
        assert_eq!(format_seconds(3600), "1h0m0s");
        assert_eq!(format_seconds(3725), "1h2m5s");
        assert_eq!(format_seconds(-30), "-30s");
    }

    #[test]
    fn truncation_is_toward_zero() {
        assert_eq!(whole_seconds(parse("3.9s").unwrap()), 3);
        assert_eq!(whole_seconds(parse("-2.5s").unwrap()), -2);
    }
}
