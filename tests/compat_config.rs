//! The config compatibility corpus (`compat/config/cases`): every spec vector A.1–A.11 and our
//! own cases, each a payload with the verdict v0.9's `config.Parse` gives it (`OK` plus a
//! summary of the parsed values, or `ERR <exact text>`). See `compat/config/README.md`.

use std::fs;
use std::path::Path;
use std::time::Duration;

use ferrolb::config::{self, Config};

/// Go's `time.Duration.String()` for whole seconds.
fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// The verdict in the corpus format: peers in order, pools sorted by name.
fn verdict(result: Result<Config, config::ConfigError>) -> String {
    let cfg = match result {
        Err(e) => return format!("ERR {e}\n"),
        Ok(c) => c,
    };
    let mut out = String::from("OK\n");
    for (i, p) in cfg.peers.iter().enumerate() {
        let sels: String = p.node_selectors.iter().map(|s| format!("[{s}]")).collect();
        out += &format!(
            "peer {} my={} asn={} addr={} port={} hold={} rid={} pw={} sel={}\n",
            i + 1,
            p.my_asn,
            p.asn,
            p.addr,
            p.port,
            go_duration(p.hold_time),
            p.router_id.map(|r| r.to_string()).unwrap_or_default(),
            config::quote(&p.password),
            sels
        );
    }
    let mut pools: Vec<_> = cfg.pools.iter().collect();
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    for p in pools {
        let cidrs: Vec<String> = p.cidrs.iter().map(|c| c.to_string()).collect();
        out += &format!(
            "pool {} proto={} avoid={} auto={} cidrs=[{}]\n",
            config::quote(&p.name),
            p.protocol,
            p.avoid_buggy_ips,
            p.auto_assign,
            cidrs.join(" ")
        );
        for a in &p.bgp_advertisements {
            let comms: Vec<String> = a.communities.iter().map(|c| c.to_string()).collect();
            out += &format!("  ad agg={} lp={} comms=[{}]\n", a.aggregation_length, a.local_pref, comms.join(" "));
        }
    }
    out
}

#[test]
fn every_compat_config_case_gets_v0_9_s_verdict() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat/config/cases");
    let mut names: Vec<_> = fs::read_dir(&dir)
        .expect("compat/config/cases exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 100, "corpus unexpectedly small: {}", names.len());
    let mut failures = Vec::new();
    for input in &names {
        let text = fs::read_to_string(input).expect("case is UTF-8");
        let expected = fs::read_to_string(input.with_extension("expected")).expect("every case has a verdict");
        let got = verdict(config::parse(&text));
        if got != expected {
            failures.push(format!("{}\n--- expected\n{expected}--- got\n{got}", input.display()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), names.len(), failures.join("\n"));
}

#[test]
fn spec_vector_a3_has_the_documented_values() {
    let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("compat/config/cases/A.03-all-features.yaml")).unwrap();
    let cfg = config::parse(&text).unwrap();
    let pool1 = cfg.pool("pool1").unwrap();
    assert_eq!(pool1.bgp_advertisements[0].communities.iter().copied().collect::<Vec<_>>(), vec![0x04D2_0929, 0xFC00_04D2]);
    let pool3 = cfg.pool("pool3").unwrap();
    assert_eq!(pool3.cidrs.len(), 11);
    assert_eq!(cfg.peers[1].node_selectors[0].to_string(), "bar in (quux),foo=bar");
}
