//! BGP core micro benchmark: an established session is given N IPv4 /32 advertisements
//! (one per Service, identical attributes) and then an empty set; prints the time the core
//! takes to produce the UPDATEs and withdraws, the messages and bytes, packed and as v0.9
//! (one UPDATE per prefix). No network. Figures only, no assertions.
//!
//!     cargo run --release --example bench_bgp -- 10000

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ferrolb::bgp::open::OpenRepr;
use ferrolb::bgp::{Advertisement, Input, Output, RouteAttributes, Session, SessionConfig};
use ipnet::{IpNet, Ipv4Net};

fn sent(out: &[Output]) -> (usize, usize) {
    out.iter()
        .filter_map(|o| {
            if let Output::Send(b) = o {
                Some(b.len())
            } else {
                None
            }
        })
        .fold((0, 0), |(n, bytes), l| (n + 1, bytes + l))
}

fn run(n: u32, pack: bool) -> Result<(), String> {
    let t0 = Instant::now();
    let cfg = SessionConfig {
        addr: "192.0.2.2:179".into(),
        local_asn: 64500,
        peer_asn: 64501,
        hold_time: Duration::from_secs(90),
        router_id: None,
        node_name: "bench".into(),
        pack_updates: pack,
    };
    let mut s = Session::new(cfg, t0);
    s.handle(t0, Input::Tick);
    s.handle(
        t0,
        Input::Connected {
            local: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            interface_ipv4: None,
        },
    );
    s.handle(
        t0,
        Input::Bytes(&OpenRepr::metallb(64501, 90, Ipv4Addr::new(192, 0, 2, 2)).to_bytes()),
    );
    if !s.is_established() {
        return Err("session did not establish".into());
    }
    let ads: Vec<Advertisement> = (0..n)
        .map(|i| Advertisement {
            prefix: IpNet::V4(
                Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + i), 32).expect("32 is a valid length"),
            ),
            attributes: RouteAttributes::new(0, vec![0xfde8_0001]),
        })
        .collect();
    let start = Instant::now();
    let out = s.set_advertisements(ads).map_err(|e| e.to_string())?;
    let announce = start.elapsed();
    let (msgs, bytes) = sent(&out);
    let start = Instant::now();
    let out = s.set_advertisements([]).map_err(|e| e.to_string())?;
    let withdraw = start.elapsed();
    let (wmsgs, wbytes) = sent(&out);
    println!(
        "prefixes={n} packed={pack} announce_ms={:.2} updates={msgs} bytes={bytes} withdraw_ms={:.2} withdraws={wmsgs} withdraw_bytes={wbytes}",
        announce.as_secs_f64() * 1e3,
        withdraw.as_secs_f64() * 1e3,
    );
    Ok(())
}

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    for pack in [false, true] {
        if let Err(e) = run(n, pack) {
            eprintln!("bench_bgp: {e}");
            std::process::exit(1);
        }
    }
}
