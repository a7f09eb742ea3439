//! A small block-style YAML emitter for the generated objects.
//!
//! Why not `serde_norway`'s serializer: it quotes only what is ambiguous in YAML 1.2, while
//! `kubectl` reads YAML 1.1 (goyaml.v2), where `yes`, `on`, `n` or `64512:1` are not strings.
//! A label value `"yes"` emitted plain would reach the API server as a boolean. This emitter
//! quotes every string that YAML 1.1 *or* 1.2 would read as something else, sorts mapping
//! keys as goyaml.v2 does, and lays out blocks as upstream's output does (spec §9.4), so the
//! goldens compare byte for byte.

use std::cmp::Ordering;

/// A YAML value: what the generated objects are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A mapping; keys are sorted when emitted.
    Map(Vec<(String, Node)>),
    /// A sequence, in order.
    Seq(Vec<Node>),
    /// A string, quoted when needed.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl Node {
    /// A string node.
    pub fn str(s: impl Into<String>) -> Node {
        Node::Str(s.into())
    }
}

/// Emits `node` (a mapping) as one YAML document body, without the `---` separator.
pub fn emit_document(node: &Node, out: &mut String) {
    match node {
        Node::Map(entries) if !entries.is_empty() => emit_map(entries, 0, false, out),
        other => {
            emit_inline(other, out);
            out.push('\n');
        }
    }
}

fn indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A value that is written on the same line as its key or dash.
fn emit_inline(node: &Node, out: &mut String) {
    match node {
        Node::Map(_) => out.push_str("{}"),
        Node::Seq(_) => out.push_str("[]"),
        Node::Str(s) => emit_scalar(s, out),
        Node::Int(i) => out.push_str(&i.to_string()),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
    }
}

fn is_block(node: &Node) -> bool {
    match node {
        Node::Map(e) => !e.is_empty(),
        Node::Seq(e) => !e.is_empty(),
        _ => false,
    }
}

fn emit_map(entries: &[(String, Node)], at: usize, first_inline: bool, out: &mut String) {
    let mut sorted: Vec<&(String, Node)> = entries.iter().collect();
    sorted.sort_by(|a, b| key_order(&a.0, &b.0));
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if !(i == 0 && first_inline) {
            indent(at, out);
        }
        emit_scalar(k, out);
        out.push(':');
        match v {
            Node::Map(e) if !e.is_empty() => {
                out.push('\n');
                emit_map(e, at + 2, false, out);
            }
            Node::Seq(items) if !items.is_empty() => {
                out.push('\n');
                emit_seq(items, at, false, out);
            }
            other => {
                out.push(' ');
                emit_inline(other, out);
                out.push('\n');
            }
        }
    }
}

fn emit_seq(items: &[Node], at: usize, first_inline: bool, out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if !(i == 0 && first_inline) {
            indent(at, out);
        }
        out.push_str("- ");
        match item {
            Node::Map(e) if is_block(item) => emit_map(e, at + 2, true, out),
            Node::Seq(e) if is_block(item) => emit_seq(e, at + 2, true, out),
            other => {
                emit_inline(other, out);
                out.push('\n');
            }
        }
    }
}

/// goyaml.v2's mapping-key order: rune by rune, letters after non-letters, runs of digits
/// compared as numbers. For the fixed keys of the objects this is plain alphabetical order.
pub fn key_order(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let n = ar.len().min(br.len());
    for i in 0..n {
        if ar[i] == br[i] {
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .saturating_mul(10)
                .saturating_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .saturating_mul(10)
                .saturating_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

fn emit_scalar(s: &str, out: &mut String) {
    if needs_quotes(s) {
        double_quote(s, out);
    } else {
        out.push_str(s);
    }
}

fn double_quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02X}", c as u32))
            }
            c if c == '\u{feff}' || ((c as u32) >= 0x80 && (c as u32) < 0xa0) => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether a string must be quoted to be read back as the same string by a YAML 1.1 reader
/// (goyaml.v2, kubectl) and by a YAML 1.2 reader (serde_norway).
pub fn needs_quotes(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return true;
    };
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return true;
    }
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) || s.ends_with(':') {
        return true;
    }
    if s.contains(": ") || s.contains(" #") || s.contains(":\t") || s.contains("\t#") {
        return true;
    }
    if s.chars()
        .any(|c| c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}')
    {
        return true;
    }
    resolves_to_non_string(s)
}

fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~", ".inf", "-.inf", "+.inf",
        ".nan", "<<", "=",
    ];
    let lower = s.to_ascii_lowercase();
    if WORDS.contains(&lower.as_str()) {
        return true;
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let b = unsigned.as_bytes();
    if b.is_empty() || !(b[0].is_ascii_digit() || b[0] == b'.') {
        return false;
    }
    let all = |rest: &[u8], f: fn(u8) -> bool| {
        !rest.is_empty() && rest.iter().all(|&c| c == b'_' || f(c))
    };
    // Integers: decimal (a leading 0 is octal in YAML 1.1), hex, octal, binary, with `_`.
    if all(b, |c| c.is_ascii_digit()) {
        return true;
    }
    for (prefix, f) in [
        ("0x", (|c: u8| c.is_ascii_hexdigit()) as fn(u8) -> bool),
        ("0o", |c: u8| (b'0'..=b'7').contains(&c)),
        ("0b", |c: u8| c == b'0' || c == b'1'),
    ] {
        if let Some(rest) = unsigned.strip_prefix(prefix)
            && all(rest.as_bytes(), f)
        {
            return true;
        }
    }
    is_float(unsigned) || is_sexagesimal(unsigned) || is_timestamp(s)
}

/// `(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?`
fn is_float(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if let Some(e) = exp {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        if e.is_empty() || !e.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    let (int, frac) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], Some(&mantissa[i + 1..])),
        None => (mantissa, None),
    };
    let int_ok = int.bytes().all(|c| c.is_ascii_digit() || c == b'_');
    let frac_ok = frac.is_none_or(|f| f.bytes().all(|c| c.is_ascii_digit() || c == b'_'));
    int_ok
        && frac_ok
        && (int.bytes().any(|c| c.is_ascii_digit())
            || frac.is_some_and(|f| f.bytes().any(|c| c.is_ascii_digit())))
}

/// YAML 1.1 base-60 numbers (`190:20:30`, `64512:1`): goyaml.v2 quotes them on output.
fn is_sexagesimal(s: &str) -> bool {
    let mut parts = s.split(':');
    let head = parts.next().unwrap_or("");
    if head.is_empty()
        || !head.as_bytes()[0].is_ascii_digit()
        || !head.bytes().all(|c| c.is_ascii_digit() || c == b'_')
    {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        return false;
    }
    let last = rest.len() - 1;
    rest.iter().enumerate().all(|(i, p)| {
        let p = if i == last {
            p.split('.').next().unwrap_or("")
        } else {
            p
        };
        !p.is_empty()
            && p.len() <= 2
            && p.bytes().all(|c| c.is_ascii_digit())
            && (p.len() == 1 || p.as_bytes()[0] <= b'5')
    })
}

/// A date prefix `YYYY-M-D`, which goyaml.v2 may resolve as a timestamp.
fn is_timestamp(s: &str) -> bool {
    let mut it = s.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (it.next(), it.next(), it.next()) else {
        return false;
    };
    let d: String = d.chars().take_while(char::is_ascii_digit).collect();
    y.len() == 4
        && y.bytes().all(|c| c.is_ascii_digit())
        && (1..=2).contains(&m.len())
        && m.bytes().all(|c| c.is_ascii_digit())
        && (1..=2).contains(&d.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(n: &Node) -> String {
        let mut s = String::new();
        emit_document(n, &mut s);
        s
    }

    #[test]
    fn nested_blocks_are_laid_out_like_upstream() {
        let n = Node::Map(vec![
            (
                "spec".into(),
                Node::Map(vec![
                    (
                        "nodeSelectors".into(),
                        Node::Seq(vec![Node::Map(vec![
                            (
                                "matchLabels".into(),
                                Node::Map(vec![("a".into(), Node::str("b"))]),
                            ),
                            (
                                "matchExpressions".into(),
                                Node::Seq(vec![Node::Map(vec![
                                    ("values".into(), Node::Seq(vec![Node::str("x")])),
                                    ("key".into(), Node::str("k")),
                                ])]),
                            ),
                        ])]),
                    ),
                    ("empty".into(), Node::Map(vec![])),
                    ("num".into(), Node::Int(3)),
                ]),
            ),
            ("status".into(), Node::Map(vec![])),
        ]);
        assert_eq!(
            doc(&n),
            "spec:\n  empty: {}\n  nodeSelectors:\n  - matchExpressions:\n    - key: k\n      values:\n      - x\n    matchLabels:\n      a: b\n  num: 3\nstatus: {}\n"
        );
    }

    #[test]
    fn yaml_1_1_ambiguous_strings_are_quoted() {
        for s in [
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "n",
            "true",
            "null",
            "~",
            "",
            "64512:1",
            "190:20:30",
            "123",
            "0123",
            "0x1F",
            "0o17",
            "1e3",
            "1.5",
            ".5",
            "-1",
            "1_000",
            ".inf",
            "2001-01-01",
            "- a",
            "a: b",
            "a #b",
            " lead",
            "trail ",
            "#x",
            "*x",
            "&x",
            "!x",
            "x:",
            "a\nb",
            "%x",
            "@x",
            "'",
            "\"",
        ] {
            assert!(needs_quotes(s), "{s:?} must be quoted");
        }
    }

    #[test]
    fn ordinary_strings_stay_plain() {
        for s in [
            "1234:5678",
            "65535:65281",
            "10.0.0.1",
            "fc00:f853:0ccd:e799::/124",
            "192.168.0.150-192.168.0.200",
            "metallb.io/v1beta1",
            "kubernetes.io/hostname",
            "yourPassword",
            "my-ip-space",
            "1m30s",
            "In",
            "a,b",
            "a b",
        ] {
            assert!(!needs_quotes(s), "{s:?} should be plain");
        }
    }

    #[test]
    fn keys_sort_like_goyaml_v2() {
        let mut v = vec!["status", "apiVersion", "spec", "kind", "metadata"];
        v.sort_by(|a, b| key_order(a, b));
        assert_eq!(v, ["apiVersion", "kind", "metadata", "spec", "status"]);
        let mut v = vec!["a10", "a9", "a/b", "ab"];
        v.sort_by(|a, b| key_order(a, b));
        assert_eq!(v, ["a/b", "a9", "a10", "ab"]);
    }

    #[test]
    fn control_characters_are_escaped_in_double_quotes() {
        let mut out = String::new();
        emit_scalar("a\u{1}\"\\b", &mut out);
        assert_eq!(out, "\"a\\x01\\\"\\\\b\"");
    }
}

#[cfg(test)]
mod round_trip {
    use super::*;
    use proptest::prelude::*;

    fn parse_back(text: &str) -> serde_norway::Value {
        serde_norway::from_str(text).expect("emitted YAML parses")
    }

    proptest! {
        /// Any string, as key or value, reads back as the same string.
        #[test]
        fn strings_round_trip(s in "[ -~\u{a0}-\u{17f}\t\n\r\u{1}\u{85}\u{2028}\u{feff}]{0,12}", k in "[a-zA-Z0-9 ._/:#-]{1,8}") {
            let n = Node::Map(vec![(k.clone(), Node::Seq(vec![Node::str(s.clone()), Node::Map(vec![(k.clone(), Node::str(s.clone()))])]))]);
            let mut out = String::new();
            emit_document(&n, &mut out);
            let v = parse_back(&out);
            let seq = v.get(k.as_str()).and_then(|x| x.as_sequence()).unwrap_or_else(|| panic!("{out}"));
            prop_assert_eq!(seq[0].as_str(), Some(s.as_str()), "{}", out);
            prop_assert_eq!(seq[1].get(k.as_str()).and_then(|x| x.as_str()), Some(s.as_str()), "{}", out);
        }

        /// A plain scalar is never one that YAML 1.1 resolves to a bool, null, number or time.
        #[test]
        fn plain_scalars_are_yaml_1_1_strings(s in "[-+.:_0-9a-zA-Z~<=]{1,8}") {
            if !needs_quotes(&s) {
                let lower = s.to_ascii_lowercase();
                prop_assert!(!["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"].contains(&lower.as_str()));
                prop_assert!(s.parse::<f64>().is_err() || s.chars().any(|c| c.is_ascii_alphabetic() && !"eE".contains(c)), "{}", s);
                // YAML 1.1 integers start with a digit (after a sign) and may contain `_`.
                if s.trim_start_matches(['-', '+']).starts_with(|c: char| c.is_ascii_digit()) {
                    prop_assert!(s.replace('_', "").parse::<i64>().is_err(), "{}", s);
                }
            }
        }
    }
}
