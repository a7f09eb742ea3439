//! The SWIM core fed arbitrary packets and stream messages (length-prefixed chunks of the
//! input), with ticks in between: never panics, and the local node stays a member. Twice: as
//! v0.1.7 (`Config::metallb`) and with ferrolb's heartbeats and watch connections
//! (`Config::ferrolb`), whose closes and refusals the input drives too.
#![no_main]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrolb::memberlist::state::{Action, Config, Memberlist};
use ferrolb::memberlist::wire::decode_stream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ip = IpAddr::from([127, 0, 0, 1]);
    run(Config::metallb("self", ip, false), data);
    run(Config::ferrolb("self", ip, false), data);
});

fn run(cfg: Config, data: &[u8]) {
    let mut now = Instant::now();
    let mut m = Memberlist::new(cfg, now, 1);
    let from = SocketAddr::new(IpAddr::from([127, 0, 0, 2]), 7946);
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        let _ = m.handle_packet(now, from, chunk);
        if let Ok(Some(msg)) = decode_stream(chunk) {
            let _ = m.handle_stream(now, msg.clone());
            let _ = m.handle_push_pull_reply(now, msg);
        }
        now += Duration::from_millis(u64::from(len) * 40);
        for a in m.tick(now) {
            // The shell's answers, chosen by the input: a watch that ends, a dial refused.
            match a {
                Action::Watch { node, id, .. } if len % 3 == 0 => {
                    let _ = m.handle_watch_closed(now, &node, id);
                }
                Action::TcpPing { seq, .. } if len % 2 == 0 => {
                    let _ = m.handle_tcp_ping_refused(now, seq);
                }
                Action::TcpPing { seq, .. } => m.handle_tcp_ping_reply(now, seq, None),
                _ => {}
            }
        }
    }
    assert!(m.members().iter().any(|n| n.name == "self"));
}
