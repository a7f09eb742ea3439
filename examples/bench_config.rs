//! Benchmark for `config::parse` (run by `scripts/bench/config`): a generated config of
//! 10,000 pools x 5 range entries (50,000 disjoint CIDRs). v0.9 checks overlaps pairwise
//! (quadratic); ferrolb keeps an ordered index. Prints `cidrs=N seconds=S` (best of 5 runs).

use std::fmt::Write;
use std::time::Instant;

fn main() {
    let pools: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let per_pool = 5;
    let mut text = String::from("address-pools:\n");
    for i in 0..pools {
        let _ = write!(text, "- name: pool-{i}\n  protocol: layer2\n  addresses:\n");
        for j in 0..per_pool {
            let k = i * per_pool + j;
            let (b, c) = (k / 256, k % 256);
            let _ = writeln!(text, "  - 10.{b}.{c}.0-10.{b}.{c}.255");
        }
    }
    let mut best = f64::MAX;
    let mut cidrs = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let cfg = ferrolb::config::parse(&text).expect("the generated config is valid");
        best = best.min(t.elapsed().as_secs_f64());
        cidrs = cfg.pools.iter().map(|p| p.cidrs.len()).sum();
    }
    println!("input_bytes={} pools={pools}", text.len());
    println!("cidrs={cidrs} seconds={best:.4}");
}
