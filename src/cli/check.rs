//! `ferrolb check [FILE|-]`: validate a legacy ConfigMap before `kubectl apply`.
//!
//! Exit codes: 0 valid, 1 rejected (v0.9's text on the first line, then — beyond v0.9 — the
//! file, line and column with the offending line and a caret), 2 the input could not be read,
//! is not YAML, or holds no ConfigMap of that name. `--output json` prints one object,
//! `{"valid":bool,"error":...,"position":...,"pools":[...],"peers":[...]}`, for scripts.

use std::io::Read;

use clap::{Args, ValueEnum};
use ipnet::IpNet;
use serde_json::{Value, json};

use crate::config::{self, Config, Mark, manifest};

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable summary or error with a caret.
    Text,
    /// One JSON object.
    Json,
}

/// `ferrolb check` arguments.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The manifest (or, with --only-data, the bare payload) to check; `-` reads stdin.
    #[arg(default_value = "-")]
    pub file: String,
    /// Name of the ConfigMap to pick from the manifest.
    #[arg(long, default_value = "config")]
    pub config: String,
    /// The input is the ConfigMap's `config` payload itself, not a manifest.
    #[arg(long = "only-data")]
    pub only_data: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

/// The exact number of addresses in a pool: `carry` × 2¹²⁸ + `low`. IPv6 pools go past u64
/// at /64 and past u128 at `::/0` (2¹²⁸ addresses) or two /1s, all of which v0.9 accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressCount {
    carry: u32,
    low: u128,
}

impl AddressCount {
    pub fn of(cidrs: &[IpNet]) -> Self {
        cidrs.iter().fold(AddressCount::default(), |acc, c| {
            let host_bits = u32::from(c.max_prefix_len() - c.prefix_len());
            let (carry, size) = if host_bits >= 128 { (1, 0) } else { (0, 1u128 << host_bits) };
            let (low, over) = acc.low.overflowing_add(size);
            AddressCount {
                carry: acc.carry.saturating_add(carry).saturating_add(u32::from(over)),
                low,
            }
        })
    }

    /// A JSON number where one is portable (up to u64), else the exact decimal string.
    pub fn to_json(self) -> Value {
        match u64::try_from(self.low) {
            Ok(n) if self.carry == 0 => Value::from(n),
            _ => Value::from(self.to_string()),
        }
    }
}

impl std::fmt::Display for AddressCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.carry == 0 {
            return write!(f, "{}", self.low);
        }
        // carry × 2^128 + low in decimal, digit by digit (least significant first).
        const TWO_128: &str = "340282366920938463463374607431768211456";
        let scaled = mul_decimal(TWO_128, self.carry);
        f.write_str(&add_decimal(&scaled, &self.low.to_string()))
    }
}

fn mul_decimal(a: &str, m: u32) -> String {
    let mut out = Vec::new();
    let mut carry: u64 = 0;
    for d in a.bytes().rev() {
        let v = u64::from(d - b'0') * u64::from(m) + carry;
        out.push(b'0' + (v % 10) as u8);
        carry = v / 10;
    }
    while carry > 0 {
        out.push(b'0' + (carry % 10) as u8);
        carry /= 10;
    }
    out.reverse();
    String::from_utf8(out).expect("decimal digits are ASCII")
}

fn add_decimal(a: &str, b: &str) -> String {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut out = Vec::new();
    let mut carry = 0u8;
    for i in 0..a.len().max(b.len()) {
        let digit = |s: &[u8]| if i < s.len() { s[s.len() - 1 - i] - b'0' } else { 0 };
        let v = digit(a) + digit(b) + carry;
        out.push(b'0' + v % 10);
        carry = v / 10;
    }
    if carry > 0 {
        out.push(b'0' + carry);
    }
    out.reverse();
    String::from_utf8(out).expect("decimal digits are ASCII")
}

fn read_input(file: &str) -> Result<(String, String), String> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin().read_to_string(&mut text).map_err(|e| format!("cannot read standard input: {e}"))?;
        Ok(("<stdin>".into(), text))
    } else {
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
        Ok((file.to_string(), text))
    }
}

/// Runs `check`; returns the process exit code.
pub fn run(args: &CheckArgs) -> i32 {
    let (display, input) = match read_input(&args.file) {
        Ok(v) => v,
        Err(e) => return usage_error(args, &e),
    };
    let payload = if args.only_data {
        None
    } else {
        match manifest::find_configmap(&input, &args.config) {
            Ok(p) => Some(p),
            Err(e) => return usage_error(args, &format!("{display}: {e}")),
        }
    };
    let text = payload.as_ref().map_or(input.as_str(), |p| p.text.as_str());
    let result = config::parse(text);
    // Where the error is in the file the user edits (0-based), and that file's text.
    let locate = |m: Mark| -> Option<Mark> {
        match &payload {
            None => Some(m),
            Some(p) => p.file_position(m),
        }
    };
    match (&result, args.output) {
        (Ok(cfg), Output::Text) => {
            print!("{}", summary(&display, payload.as_ref(), cfg));
            0
        }
        (Ok(cfg), Output::Json) => {
            println!("{}", report_json(Some(cfg), None, None, &display));
            0
        }
        (Err(e), Output::Text) => {
            println!("{}", e.message);
            match e.position.and_then(locate) {
                Some(pos) => print!("{}", caret(&display, &input, pos)),
                None => {
                    if let (Some(_), Some(m)) = (&payload, e.position) {
                        println!("  --> {display}: line {} of the ConfigMap's config value", m.line + 1);
                    }
                }
            }
            1
        }
        (Err(e), Output::Json) => {
            println!("{}", report_json(None, Some(&e.message), e.position.and_then(locate), &display));
            1
        }
    }
}

fn usage_error(args: &CheckArgs, msg: &str) -> i32 {
    match args.output {
        Output::Text => eprintln!("ferrolb check: {msg}"),
        Output::Json => println!("{}", json!({"valid": false, "error": msg, "position": null, "pools": [], "peers": []})),
    }
    2
}

/// rustc-style pointer at a 0-based position: `--> file:line:col`, the line, a caret.
fn caret(display: &str, text: &str, pos: Mark) -> String {
    let line_text = text.lines().nth(pos.line).unwrap_or("").trim_end_matches('\r');
    let num = (pos.line + 1).to_string();
    let pad = " ".repeat(num.len());
    let col: String = line_text.chars().take(pos.column).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    format!(
        "{pad}--> {display}:{}:{}\n{pad} |\n{num} | {line_text}\n{pad} | {col}^\n",
        pos.line + 1,
        pos.column + 1
    )
}

fn summary(display: &str, payload: Option<&manifest::Payload>, cfg: &Config) -> String {
    let mut out = String::new();
    match payload {
        Some(p) => {
            let ns = p.namespace.as_deref().unwrap_or("metallb-system");
            out += &format!("{display}: ConfigMap {ns}/{} is a valid MetalLB v0.9 configuration\n", p.name);
            if !p.has_config_key {
                out += "note: it has no data.config key; MetalLB v0.9 treats that as an empty configuration\n";
            }
        }
        None => out += &format!("{display}: valid MetalLB v0.9 configuration\n"),
    }
    out += &format!("address pools: {}\n", cfg.pools.len());
    for p in &cfg.pools {
        let total = AddressCount::of(&p.cidrs);
        out += &format!(
            "  {}  protocol={}  addresses={}  auto-assign={}  avoid-buggy-ips={}\n",
            p.name, p.protocol, total, p.auto_assign, p.avoid_buggy_ips
        );
        if p.cidrs.is_empty() {
            out += "    (no addresses: a reversed or mixed-family range gives none)\n";
        }
        for c in &p.cidrs {
            out += &format!("    {c}\n");
        }
        for a in &p.bgp_advertisements {
            let comms: Vec<String> = a.communities.iter().map(|c| format!("{}:{}", c >> 16, c & 0xffff)).collect();
            out += &format!(
                "    advertisement: aggregation-length={} localpref={} communities=[{}]\n",
                a.aggregation_length,
                a.local_pref,
                comms.join(", ")
            );
        }
    }
    out += &format!("peers: {}\n", cfg.peers.len());
    for p in &cfg.peers {
        let sels: Vec<String> = p
            .node_selectors
            .iter()
            .map(|s| if s.requirements.is_empty() { "all nodes".to_string() } else { s.to_string() })
            .collect();
        out += &format!(
            "  {}  my-asn={} peer-asn={} hold-time={}s router-id={} password={} node-selectors=[{}]\n",
            std::net::SocketAddr::new(p.addr, p.port),
            p.my_asn,
            p.asn,
            p.hold_time.as_secs(),
            p.router_id.map_or("(from the session)".to_string(), |r| r.to_string()),
            if p.password.is_empty() { "no" } else { "yes" },
            sels.join(" | ")
        );
    }
    out
}

fn report_json(cfg: Option<&Config>, error: Option<&str>, pos: Option<Mark>, display: &str) -> Value {
    let pools: Vec<Value> = cfg.map_or(vec![], |c| {
        c.pools
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "protocol": p.protocol.as_str(),
                    "cidrs": p.cidrs.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                    "addresses": AddressCount::of(&p.cidrs).to_json(),
                    "auto_assign": p.auto_assign,
                    "avoid_buggy_ips": p.avoid_buggy_ips,
                    "bgp_advertisements": p.bgp_advertisements.iter().map(|a| json!({
                        "aggregation_length": a.aggregation_length,
                        "localpref": a.local_pref,
                        "communities": a.communities.iter().map(|c| format!("{}:{}", c >> 16, c & 0xffff)).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect()
    });
    let peers: Vec<Value> = cfg.map_or(vec![], |c| {
        c.peers
            .iter()
            .map(|p| {
                json!({
                    "address": p.addr.to_string(),
                    "port": p.port,
                    "my_asn": p.my_asn,
                    "peer_asn": p.asn,
                    "hold_time_seconds": p.hold_time.as_secs(),
                    "router_id": p.router_id.map(|r| r.to_string()),
                    "password_set": !p.password.is_empty(),
                    "node_selectors": p.node_selectors.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                })
            })
            .collect()
    });
    json!({
        "valid": error.is_none(),
        "error": error,
        "position": pos.map(|m| json!({"file": display, "line": m.line + 1, "column": m.column + 1})),
        "pools": pools,
        "peers": peers,
    })
}

#[cfg(test)]
mod address_count_tests {
    use super::*;

    fn count(cidrs: &[&str]) -> AddressCount {
        let v: Vec<IpNet> = cidrs.iter().map(|c| c.parse().unwrap()).collect();
        AddressCount::of(&v)
    }

    #[test]
    fn pool_sizes_are_exact_from_one_address_to_the_whole_ipv6_space() {
        assert_eq!(count(&["192.0.2.0/24"]).to_string(), "256");
        assert_eq!(count(&["2001:db8::/64"]).to_string(), "18446744073709551616");
        assert_eq!(count(&["::/0"]).to_string(), "340282366920938463463374607431768211456");
        assert_eq!(count(&["::/1", "8000::/1"]).to_string(), "340282366920938463463374607431768211456");
        assert_eq!(count(&["::/0", "0.0.0.0/0"]).to_string(), "340282366920938463463374607436063178752");
        assert_eq!(count(&[]).to_string(), "0");
    }

    #[test]
    fn json_gives_a_number_up_to_u64_and_the_exact_string_beyond() {
        assert_eq!(count(&["0.0.0.0/0"]).to_json(), serde_json::json!(4294967296u64));
        assert_eq!(count(&["2001:db8::/65"]).to_json(), serde_json::json!(9223372036854775808u64));
        assert_eq!(count(&["2001:db8::/64"]).to_json(), serde_json::json!("18446744073709551616"));
    }
}

#[cfg(test)]
mod output_tests;
