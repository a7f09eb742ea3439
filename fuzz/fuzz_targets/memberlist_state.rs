//! The SWIM core fed arbitrary packets and stream messages (length-prefixed chunks of the
//! input), with ticks in between: never panics, and the local node stays a member.
#![no_main]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrolb::memberlist::state::{Config, Memberlist};
use ferrolb::memberlist::wire::decode_stream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut m = Memberlist::new(
        Config::metallb("self", IpAddr::from([127, 0, 0, 1]), false),
        now,
        1,
    );
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
        let _ = m.tick(now);
    }
    assert!(m.members().iter().any(|n| n.name == "self"));
});
