//! Allocator benchmark (run by `scripts/bench/allocator`): sequential auto-allocations of
//! `default/svc-<i>` with port TCP/80 and no sharing key, as a controller start-up with many
//! new Services would make them.
//!
//! `bench_allocator ferrolb v4|v6 N` times ferrolb's allocator over a /8 or a /64;
//! `bench_allocator model N` times the linear-walk model of v0.9 (the property tests' model)
//! over the /8. Each prints one line with its peak RSS. Figures only, no assertions.

use std::time::Instant;

use ferrolb::allocator::{Allocator, Port};
use ferrolb::config::{Pool, Protocol};

#[path = "../src/allocator/tests/model.rs"]
mod model;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

fn cidr(v6: bool) -> &'static str {
    if v6 { "2001:db8::/64" } else { "10.0.0.0/8" }
}

fn ferrolb(v6: bool, n: usize) -> Result<(), String> {
    let mut a = Allocator::new();
    let pool = Pool {
        name: "bench".into(),
        protocol: Protocol::Layer2,
        cidrs: vec![cidr(v6).parse().map_err(|e| format!("{e}"))?],
        avoid_buggy_ips: false,
        auto_assign: true,
        bgp_advertisements: vec![],
    };
    a.set_pools(&[pool]).map_err(|e| e.to_string())?;
    let ports = [Port::new("TCP", 80)];
    let start = Instant::now();
    let mut last = None;
    for i in 0..n {
        last = Some(a.allocate(&format!("default/svc-{i}"), v6, &ports, "", "").map_err(|e| e.to_string())?);
    }
    let seconds = start.elapsed().as_secs_f64();
    let f = a.footprint();
    println!(
        "case=ferrolb pool={} allocations={n} seconds={seconds:.3} rss_mib={:.1} last_ip={} index_runs={} state_mib={:.1}",
        cidr(v6),
        peak_rss_mib(),
        last.map_or("-".to_string(), |ip| ip.to_string()),
        f.keyed_runs,
        f.bytes as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

fn model(n: usize) -> Result<(), String> {
    let mut m = model::Model::new();
    let pool = model::MPool {
        name: "bench".into(),
        cidrs: vec![cidr(false).parse().map_err(|e| format!("{e}"))?],
        avoid_buggy_ips: false,
        auto_assign: true,
    };
    m.set_pools(vec![pool])?;
    let ports = [("TCP".to_string(), 80u16)];
    let start = Instant::now();
    let mut last = None;
    for i in 0..n {
        last = Some(m.allocate(&format!("default/svc-{i}"), false, &ports, "", "")?);
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "case=model-v0.9-linear-walk pool={} allocations={n} seconds={seconds:.3} rss_mib={:.1} last_ip={}",
        cidr(false),
        peak_rss_mib(),
        last.map_or("-".to_string(), |ip| ip.to_string())
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = |s: Option<&String>| s.and_then(|s| s.parse::<usize>().ok());
    let result = match args.first().map(String::as_str) {
        Some("ferrolb") => match (args.get(1).map(String::as_str), count(args.get(2))) {
            (Some("v4"), Some(n)) => ferrolb(false, n),
            (Some("v6"), Some(n)) => ferrolb(true, n),
            _ => Err("usage: bench_allocator ferrolb v4|v6 N".into()),
        },
        Some("model") => match count(args.get(1)) {
            Some(n) => model(n),
            None => Err("usage: bench_allocator model N".into()),
        },
        _ => Err("usage: bench_allocator ferrolb v4|v6 N | model N".into()),
    };
    if let Err(e) = result {
        eprintln!("bench_allocator: {e}");
        std::process::exit(2);
    }
}
