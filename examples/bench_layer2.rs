//! Micro-benchmark of the layer2 fast path (pure, no sockets): with N services announced
//! (default 10,000, each its own IPv4 address), decode an ARP request, ask the announcer,
//! and build the reply, for a mix of announced and unannounced targets. Prints
//! `services=N frames=F ns_per_frame=X answered=A` (best of 5 runs) and the process RSS.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use ferrolb::layer2::MacAddr;
use ferrolb::layer2::announcer::Announcer;
use ferrolb::layer2::arp::{self, ArpFrame, ArpRepr, Operation};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let services: u32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let ours = MacAddr([2, 0, 0, 0, 0, 1]);
    let mut announcer = Announcer::new();
    let now = Instant::now();
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
    for i in 0..services {
        announcer.set_balancer(&format!("ns-{}/svc-{i}", i % 100), IpAddr::V4(Ipv4Addr::from(base + i)), now);
    }
    // Half the requests hit announced IPs, half miss.
    let frames: Vec<[u8; 60]> = (0..4096u32)
        .map(|i| {
            ArpFrame {
                destination: MacAddr::BROADCAST,
                source: MacAddr([4, 0, 0, 0, 0, 9]),
                arp: ArpRepr {
                    operation: Operation::Request,
                    sender_mac: MacAddr([4, 0, 0, 0, 0, 9]),
                    sender_ip: Ipv4Addr::new(192, 0, 2, 9),
                    target_mac: MacAddr([0; 6]),
                    target_ip: Ipv4Addr::from(base + (i * 7919) % (2 * services.max(1))),
                },
            }
            .to_bytes()
        })
        .collect();
    let rounds = 500;
    let mut best = f64::MAX;
    let mut answered = 0;
    for _ in 0..5 {
        answered = 0;
        let t = Instant::now();
        for _ in 0..rounds {
            for f in &frames {
                if let Ok(a) = arp::answer(f, ours, |ip| announcer.should_answer(ip)) {
                    answered += 1;
                    std::hint::black_box(a.reply.to_bytes());
                }
            }
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let total = frames.len() * rounds;
    println!("services={services} frames={total} ns_per_frame={:.1} answered={answered}", best * 1e9 / total as f64);
    println!("rss_kib={}", rss_kib());
}
