//! No panic in any output path: every configuration the parser accepts renders as `check`'s text
//! summary, as its JSON report and through `migrate`; every one it rejects renders its error
//! (text with the caret, and JSON). Generated configs cover the extremes v0.9 accepts: IPv6
//! pools of /64 and far wider, `::/0`, `0.0.0.0/0`, reversed and mixed-family ranges, BGP
//! advertisements and peers with node selectors; two fixed cases hold 10,000 pools and 1,000
//! peers.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::migrate::{self, Options};

/// Renders `text` through every output of `check` and `migrate --only-data`.
fn render_everything(text: &str) -> bool {
    let display = "<generated>";
    let accepted = match config::parse(text) {
        Ok(cfg) => {
            let summary = summary(display, None, &cfg);
            assert!(summary.contains("address pools: "));
            let report = report_json(Some(&cfg), None, None, display);
            serde_json::to_string(&report).expect("the JSON report serialises");
            true
        }
        Err(e) => {
            let _ = report_json(None, Some(&e.message), e.position, display).to_string();
            if let Some(pos) = e.position {
                let _ = caret(display, text, pos);
            }
            false
        }
    };
    let opts = Options { only_data: true, ..Options::default() };
    match migrate::migrate(text, &opts) {
        Ok(m) => assert!(accepted, "migrate converted what the v0.9 parser rejects:\n{text}\n{}", m.yaml),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let lenient = Options { only_data: true, lenient: true, ..Options::default() };
    if let Ok(m) = migrate::migrate(text, &lenient) {
        let _ = m.yaml.len();
    }
    accepted
}

/// One address entry of pool `i`: a CIDR or a range inside the pool's own region (so that pools
/// rarely overlap and most configs are accepted), or one of the extremes.
fn address(i: usize) -> impl Strategy<Value = String> {
    let i4 = (i % 200 + 1) as u32; // the pool's IPv4 /8
    let i6 = (i % 15 + 1) as u128; // the pool's IPv6 /4
    prop_oneof![
        (any::<u32>(), 8u8..=32).prop_map(move |(a, len)| format!("{}/{len}", Ipv4Addr::from((i4 << 24) | (a >> 8)))),
        (any::<u128>(), 4u8..=128).prop_map(move |(a, len)| format!("{}/{len}", Ipv6Addr::from((i6 << 124) | (a >> 4)))),
        (any::<u32>(), any::<u32>()).prop_map(move |(a, b)| format!("{}-{}", Ipv4Addr::from((i4 << 24) | (a >> 8)), Ipv4Addr::from((i4 << 24) | (b >> 8)))),
        (any::<u128>(), any::<u128>()).prop_map(move |(a, b)| format!("{}-{}", Ipv6Addr::from((i6 << 124) | (a >> 4)), Ipv6Addr::from((i6 << 124) | (b >> 4)))),
        Just(format!("{}-{}", Ipv4Addr::from(i4 << 24), Ipv6Addr::from(i6 << 124))),
        Just("::/0".to_string()),
        Just("0.0.0.0/0".to_string()),
        Just(format!("{}/64", Ipv6Addr::from(i6 << 124))),
    ]
}

fn advertisement() -> impl Strategy<Value = String> {
    (proptest::option::weighted(0.25, -1i64..=130), proptest::option::of(any::<u32>()), proptest::collection::vec(prop_oneof![Just("no-advertise".to_string()), Just("65535:65281".to_string()), (any::<u16>(), any::<u16>()).prop_map(|(a, b)| format!("{a}:{b}"))], 0..3))
        .prop_map(|(agg, pref, comms)| {
            let mut s = "  - communities: [".to_string() + &comms.join(", ") + "]\n";
            if let Some(a) = agg {
                let _ = writeln!(s, "    aggregation-length: {a}");
            }
            if let Some(p) = pref {
                let _ = writeln!(s, "    localpref: {p}");
            }
            s
        })
}

fn pool(i: usize) -> impl Strategy<Value = String> {
    (any::<bool>(), prop_oneof![1 => Just(0usize), 9 => 1usize..4].prop_flat_map(move |n| proptest::collection::vec(address(i), n)), proptest::option::of(any::<bool>()), any::<bool>(), proptest::collection::vec(advertisement(), 0..3)).prop_map(move |(bgp, addrs, auto, avoid, advs)| {
        let mut s = format!("- name: pool{i}\n  protocol: {}\n  addresses:\n", if bgp { "bgp" } else { "layer2" });
        for a in &addrs {
            let _ = writeln!(s, "  - \"{a}\"");
        }
        if let Some(a) = auto {
            let _ = writeln!(s, "  auto-assign: {a}");
        }
        let _ = writeln!(s, "  avoid-buggy-ips: {avoid}");
        if bgp && !advs.is_empty() {
            s += "  bgp-advertisements:\n";
            for a in &advs {
                for line in a.lines() {
                    let _ = writeln!(s, "  {line}");
                }
            }
        }
        s
    })
}

fn peer() -> impl Strategy<Value = String> {
    (any::<bool>(), any::<u32>(), any::<u32>(), proptest::option::of(0u32..400), any::<bool>(), proptest::collection::vec(("[a-z]{1,5}", "[a-z0-9]{1,5}", prop_oneof![4 => Just("In"), 4 => Just("NotIn"), 4 => Just("Exists"), 4 => Just("DoesNotExist"), 1 => Just("Bogus")]), 0..3)).prop_map(
        |(v6, addr, asn, hold, password, sels)| {
            let ip = if v6 { Ipv6Addr::from((0x2001_0db8u128 << 96) | addr as u128).to_string() } else { Ipv4Addr::from(addr).to_string() };
            let mut s = format!("- peer-address: \"{ip}\"\n  peer-asn: {}\n  my-asn: {asn}\n", asn / 2 + 1);
            if let Some(h) = hold {
                let _ = writeln!(s, "  hold-time: {h}s");
            }
            if password {
                s += "  password: \"p#ss: w\\u00f6rd\"\n";
            }
            if !sels.is_empty() {
                s += "  node-selectors:\n";
                for (k, v, op) in &sels {
                    let values = if matches!(*op, "Exists" | "DoesNotExist") { String::new() } else { v.clone() };
                    let _ = writeln!(s, "  - match-labels:\n      {k}: \"{v}\"\n    match-expressions:\n    - key: {k}\n      operator: {op}\n      values: [{values}]");
                }
            }
            s
        },
    )
}

fn config_text() -> impl Strategy<Value = String> {
    (0usize..6, proptest::collection::vec(peer(), 0..3), any::<bool>())
        .prop_flat_map(|(n, peers, aliases)| {
            let pools: Vec<_> = (0..n).map(pool).collect();
            (pools, Just(peers), Just(aliases))
        })
        .prop_map(|(pools, peers, aliases)| {
            let mut s = String::new();
            if aliases {
                s += "bgp-communities:\n  no-advertise: 65535:65282\n";
            }
            if !peers.is_empty() {
                s += "peers:\n";
                peers.iter().for_each(|p| s += p);
            }
            s += "address-pools:\n";
            pools.iter().for_each(|p| s += p);
            s
        })
}

#[test]
fn every_config_renders_in_every_output() {
    // A runner by hand rather than `proptest!`, to count: the property says nothing unless a
    // good share of the generated configs is accepted (and some rejected).
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 400, ..ProptestConfig::default() });
    let (accepted, rejected) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner
        .run(&config_text(), |text| {
            let n = if render_everything(&text) { &accepted } else { &rejected };
            n.set(n.get() + 1);
            Ok(())
        })
        .expect("no output path panics");
    let (accepted, rejected) = (accepted.get(), rejected.get());
    eprintln!("{accepted} accepted, {rejected} rejected");
    assert!(accepted * 4 >= accepted + rejected, "only {accepted} of {} generated configs were valid", accepted + rejected);
    assert!(rejected > 0, "no generated config was rejected: the error paths went untested");
}

#[test]
fn the_whole_address_space_renders() {
    let text = "address-pools:\n- name: all\n  protocol: layer2\n  addresses:\n  - 0.0.0.0/0\n  - ::/0\n";
    assert!(render_everything(text), "v0.9 accepts one pool of every address");
    let cfg = config::parse(text).expect("valid");
    let report = report_json(Some(&cfg), None, None, "-");
    assert_eq!(report["pools"][0]["addresses"], serde_json::json!("340282366920938463463374607436063178752"));
}

#[test]
fn ten_thousand_pools_render() {
    let mut text = "address-pools:\n".to_string();
    for i in 0..10_000u32 {
        let _ = write!(text, "- name: p{i}\n  protocol: layer2\n  addresses:\n  - {}/30\n", Ipv4Addr::from(0x0a00_0000 | (i << 2)));
    }
    assert!(render_everything(&text), "10,000 disjoint pools are a valid config");
}

#[test]
fn a_thousand_peers_with_node_selectors_render() {
    let mut text = "peers:\n".to_string();
    for i in 0..1_000u32 {
        let _ = write!(
            text,
            "- peer-address: \"{}\"\n  peer-asn: 64512\n  my-asn: 64513\n  node-selectors:\n  - match-labels:\n      rack: r{i}\n    match-expressions:\n    - key: zone\n      operator: In\n      values: [a, b]\n",
            Ipv6Addr::from((0x2001_0db8u128 << 96) | i as u128)
        );
    }
    text += "address-pools:\n- name: bgp\n  protocol: bgp\n  addresses:\n  - 198.51.100.0/24\n";
    if let Err(e) = config::parse(&text) {
        panic!("1,000 peers are a valid config: {e}");
    }
    assert!(render_everything(&text));
}
