//! `config::parse` on arbitrary payloads: never panics; an accepted config upholds the
//! invariants v0.9 guarantees (unique pool names, pairwise disjoint CIDRs, bgp pools have
//! advertisements, layer2 pools have none).
#![no_main]

use ferrolb::config::{self, Protocol};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(cfg) = config::parse(&text) {
        let mut names: Vec<&str> = cfg.pools.iter().map(|p| p.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), cfg.pools.len(), "pool names are unique");
        let all: Vec<_> = cfg.pools.iter().flat_map(|p| p.cidrs.iter()).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(!a.contains(&b.network()) && !b.contains(&a.network()), "{a} overlaps {b}");
            }
        }
        for p in &cfg.pools {
            match p.protocol {
                Protocol::Bgp => assert!(!p.bgp_advertisements.is_empty()),
                Protocol::Layer2 => assert!(p.bgp_advertisements.is_empty()),
            }
        }
    }
});
