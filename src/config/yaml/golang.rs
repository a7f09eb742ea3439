//! Go standard-library behaviour that leaks into v0.9's error texts and value semantics:
//! `strconv.Quote` (`%q`), `strconv.ParseUint`/`ParseInt`, `time.ParseDuration` and its error
//! texts (as of the Go release the reference is built with, which quotes the value), and
//! `net.ParseIP`/`net.ParseCIDR` (no zones; IPv4-mapped IPv6 is IPv4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Go's `strconv.Quote` / `fmt`'s `%q` on a string.
///
/// Printability follows Go's `unicode.IsPrint` for the characters that occur in practice:
/// controls, separators other than U+0020, the common format characters and private-use
/// characters are escaped. (Unassigned code points are not known to us and stay literal.)
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    // Cf (format) characters that Go escapes.
    let format = matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890 | 0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x1D173..=0x1D17A
        | 0xE0001 | 0xE0020..=0xE007F);
    let private = matches!(u, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD);
    let noncharacter = matches!(u, 0xFFFE | 0xFFFF) || (u & 0xFFFE) == 0xFFFE;
    !(format || private || noncharacter)
}

/// The error of Go's `strconv.ParseUint`/`ParseInt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumError {
    /// `invalid syntax`
    Syntax,
    /// `value out of range`
    Range,
}

/// Go's `strconv.ParseUint(s, base, bits)` for base 0 (prefixes `0x`, `0o`, `0b`, leading `0`
/// = octal) or an explicit base 2..=16, with Go's early range error.
pub fn parse_uint(s: &str, base: u32, bits: u32) -> Result<u64, NumError> {
    if s.is_empty() {
        return Err(NumError::Syntax);
    }
    let (mut digits, mut base) = (s, base);
    if base == 0 {
        base = 10;
        let b = s.as_bytes();
        if b[0] == b'0' {
            let lower = b.get(1).map(|c| c.to_ascii_lowercase());
            match lower {
                Some(b'b') if s.len() >= 3 => (base, digits) = (2, &s[2..]),
                Some(b'o') if s.len() >= 3 => (base, digits) = (8, &s[2..]),
                Some(b'x') if s.len() >= 3 => (base, digits) = (16, &s[2..]),
                _ => (base, digits) = (8, &s[1..]),
            }
        }
    }
    let max_val: u64 = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let cutoff = u64::MAX / base as u64 + 1;
    let mut n: u64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(36).filter(|d| *d < base).ok_or(NumError::Syntax)?;
        if n >= cutoff {
            return Err(NumError::Range);
        }
        n *= base as u64;
        let n1 = n.wrapping_add(d as u64);
        if n1 < n || n1 > max_val {
            return Err(NumError::Range);
        }
        n = n1;
    }
    Ok(n)
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
pub fn parse_int64(s: &str) -> Result<i64, NumError> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if s.is_empty() {
        return Err(NumError::Syntax);
    }
    let un = parse_uint(rest, 0, 64)?;
    if !neg && un > i64::MAX as u64 {
        return Err(NumError::Range);
    }
    if neg && un > 1u64 << 63 {
        return Err(NumError::Range);
    }
    Ok(if neg { (un as i64).wrapping_neg() } else { un as i64 })
}

/// The text of a `strconv.ParseUint` failure, `strconv.ParseUint: parsing "<s>": <reason>`.
pub fn parse_uint_error_text(s: &str, e: NumError) -> String {
    let reason = match e {
        NumError::Syntax => "invalid syntax",
        NumError::Range => "value out of range",
    };
    format!("strconv.ParseUint: parsing {}: {reason}", quote(s))
}

/// `time.ParseDuration`'s private quoting: bytes outside printable ASCII become `\xNN`.
fn duration_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if (c as u32) >= 0x80 || c < ' ' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Go's `time.ParseDuration`, in nanoseconds, with its exact error texts
/// (`time: invalid duration "x"`, `time: missing unit in duration "90"`,
/// `time: unknown unit "d" in duration "1d"`).
pub fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", duration_quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next()
        && (c == '-' || c == '+') {
            neg = c == '-';
            s = &s[1..];
        }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // leading int
        let mut i = 0;
        let mut v: u64 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            if v > (1u64 << 63) / 10 {
                return Err(invalid());
            }
            v = v * 10 + (b[i] - b'0') as u64;
            if v > 1u64 << 63 {
                return Err(invalid());
            }
            i += 1;
        }
        let pre = i > 0;
        s = &s[i..];
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if s.starts_with('.') {
            s = &s[1..];
            let b = s.as_bytes();
            let mut j = 0;
            let mut overflow = false;
            while j < b.len() && b[j].is_ascii_digit() {
                if !overflow {
                    if f > ((1u64 << 63) - 1) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + (b[j] - b'0') as u64;
                        if y > 1u64 << 63 {
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
            return Err(invalid());
        }
        let unit_len = s.bytes().take_while(|c| !(*c == b'.' || c.is_ascii_digit())).count();
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", duration_quote(orig)));
        }
        let u = &s[..unit_len];
        s = &s[unit_len..];
        let unit: u64 = match u {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    duration_quote(u),
                    duration_quote(orig)
                ));
            }
        };
        if v > (1u64 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1u64 << 63 {
                return Err(invalid());
            }
        }
        d += v;
        if d > 1u64 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    if d > (1u64 << 63) - 1 {
        return Err(invalid());
    }
    Ok(d as i64)
}

/// Go's `net.ParseIP`: IPv4 dotted quads (no leading zeros) or IPv6 (no zone); an
/// IPv4-mapped IPv6 literal is an IPv4 address, as Go's `To4()` sees it.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Ok(v4) = s.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    if s.contains('%') {
        return None;
    }
    let v6 = s.parse::<Ipv6Addr>().ok()?;
    Some(unmap(v6))
}

fn unmap(v6: Ipv6Addr) -> IpAddr {
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// Go's `net.ParseCIDR`, returning the masked network. The prefix length is decimal digits
/// only (leading zeros allowed). An IPv4-mapped IPv6 network of length >= 96 is the IPv4
/// network of length - 96, as Go prints it.
pub fn parse_cidr(s: &str) -> Option<IpNet> {
    let (addr, len) = s.split_once('/')?;
    if len.is_empty() || len.len() > 8 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: u32 = len.parse().ok()?;
    if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        if len > 32 {
            return None;
        }
        return Some(IpNet::V4(Ipv4Net::new(v4, len as u8).ok()?.trunc()));
    }
    if addr.contains('%') || len > 128 {
        return None;
    }
    let v6 = addr.parse::<Ipv6Addr>().ok()?;
    let net = Ipv6Net::new(v6, len as u8).ok()?.trunc();
    match net.network().to_ipv4_mapped() {
        Some(v4) if len >= 96 => Some(IpNet::V4(Ipv4Net::new(v4, (len - 96) as u8).ok()?)),
        _ => Some(IpNet::V6(net)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_like_go() {
        assert_eq!(quote("a\"b\\c\n\té"), r#""a\"b\\c\n\té""#);
        assert_eq!(quote("\u{200b}\x01"), r#""\u200b\x01""#);
    }

    #[test]
    fn parse_uint_matches_strconv() {
        assert_eq!(parse_uint("65535", 10, 16), Ok(65535));
        assert_eq!(parse_uint("65536", 10, 16), Err(NumError::Range));
        assert_eq!(parse_uint("99999x", 10, 16), Err(NumError::Range));
        assert_eq!(parse_uint("1x", 10, 16), Err(NumError::Syntax));
        assert_eq!(parse_uint("", 10, 16), Err(NumError::Syntax));
        assert_eq!(parse_uint("+1", 10, 16), Err(NumError::Syntax));
        assert_eq!(parse_uint("0x1f", 0, 64), Ok(31));
        assert_eq!(parse_uint("017", 0, 64), Ok(15));
        assert_eq!(parse_uint("08", 0, 64), Err(NumError::Syntax));
        assert_eq!(parse_uint("0", 0, 64), Ok(0));
        assert_eq!(parse_int64("-0x10"), Ok(-16));
        assert_eq!(parse_int64("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_int64("9223372036854775808"), Err(NumError::Range));
    }

    #[test]
    fn durations_parse_and_fail_like_go() {
        assert_eq!(parse_duration("90s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("2m30s"), Ok(150_000_000_000));
        assert_eq!(parse_duration("-5s"), Ok(-5_000_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("foo"), Err(r#"time: invalid duration "foo""#.into()));
        assert_eq!(parse_duration("90"), Err(r#"time: missing unit in duration "90""#.into()));
        assert_eq!(parse_duration("1d"), Err(r#"time: unknown unit "d" in duration "1d""#.into()));
        assert_eq!(parse_duration(""), Err(r#"time: invalid duration """#.into()));
    }

    #[test]
    fn ip_parsing_follows_go() {
        assert_eq!(parse_ip("1.2.3.4"), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(parse_ip("1.2.3.400"), None);
        assert_eq!(parse_ip("01.2.3.4"), None);
        assert_eq!(parse_ip("fe80::1%eth0"), None);
        assert_eq!(parse_ip("::ffff:1.2.3.4"), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(parse_cidr("10.20.30.40/24"), Some("10.20.30.0/24".parse().unwrap()));
        assert_eq!(parse_cidr("1.2.3.0/33"), None);
        assert_eq!(parse_cidr("1.2.3.0/024"), Some("1.2.3.0/24".parse().unwrap()));
        assert_eq!(parse_cidr(" 1.2.3.0/24"), None);
        assert_eq!(parse_cidr("::ffff:1.2.3.0/120"), Some("1.2.3.0/24".parse().unwrap()));
        assert_eq!(parse_cidr("2001:db8::1/64"), Some("2001:db8::/64".parse().unwrap()));
    }
}
