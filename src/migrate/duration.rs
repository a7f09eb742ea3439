//! Go's `time.ParseDuration` and `time.Duration.String`, which upstream's converter uses for
//! `hold-time` and `keepalive-time` (spec §9.3). Error texts are those of current Go
//! (`time: invalid duration "x"`), as the converter is built with a current toolchain.

const MAX: u64 = 1 << 63;

fn invalid(orig: &str) -> String {
    format!("time: invalid duration {}", go_quote(orig))
}

/// Go's `strconv.Quote` for the characters that can appear here: printable text unchanged,
/// `"` and `\` escaped, control characters as `\xNN` / `\n` / `\t`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn unit_nanos(u: &str) -> Option<u64> {
    Some(match u {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Parses a Go duration string into nanoseconds.
pub fn parse(orig: &str) -> Result<i64, String> {
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first()
        && (c == b'-' || c == b'+')
    {
        neg = c == b'-';
        s = &s[1..];
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid(orig));
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid(orig));
        }
        // Integer part.
        let mut i = 0;
        let mut v: u64 = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            if v > MAX / 10 {
                return Err(invalid(orig));
            }
            v = v * 10 + u64::from(s[i] - b'0');
            if v > MAX {
                return Err(invalid(orig));
            }
            i += 1;
        }
        let pre = i > 0;
        s = &s[i..];
        // Fraction part.
        let mut f: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let mut j = 0;
            let mut overflow = false;
            while j < s.len() && s[j].is_ascii_digit() {
                if !overflow {
                    if f > (MAX - 1) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + u64::from(s[j] - b'0');
                        if y > MAX {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                j += 1;
            }
            post = j > 0;
            s = &s[j..];
        }
        if !pre && !post {
            return Err(invalid(orig));
        }
        // Unit: everything up to the next '.' or digit.
        let mut k = 0;
        while k < s.len() && !(s[k] == b'.' || s[k].is_ascii_digit()) {
            k += 1;
        }
        if k == 0 {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        let u = String::from_utf8_lossy(&s[..k]).into_owned();
        s = &s[k..];
        let Some(unit) = unit_nanos(&u) else {
            return Err(format!(
                "time: unknown unit {} in duration {}",
                go_quote(&u),
                go_quote(orig)
            ));
        };
        if v > MAX / unit {
            return Err(invalid(orig));
        }
        v *= unit;
        if f > 0 {
            // Go computes the fraction in float64, as here.
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > MAX {
                return Err(invalid(orig));
            }
        }
        d += v;
        if d > MAX {
            return Err(invalid(orig));
        }
    }
    if neg {
        // d <= 2^63, so -d fits.
        return Ok((d as i128).wrapping_neg() as i64);
    }
    if d > MAX - 1 {
        return Err(invalid(orig));
    }
    Ok(d as i64)
}

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
