//! The NDP responder on arbitrary ICMPv6 messages: never panics; an answer is a solicited,
//! non-override advertisement of the target with our MAC, which re-parses to itself.
#![no_main]

use std::net::Ipv6Addr;

use ferrolb::layer2::MacAddr;
use ferrolb::layer2::ndp::{self, NdpMessage, NeighborAdvertisement};
use libfuzzer_sys::fuzz_target;

const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);

fuzz_target!(|data: &[u8]| {
    let own = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let peer = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
    let _ = NdpMessage::parse(data);
    let _ = NeighborAdvertisement::parse(data);
    if let Ok(answer) = ndp::answer(data, peer, own, OURS, |_| true) {
        assert!(answer.reply.solicited && !answer.reply.override_flag);
        assert_eq!(answer.reply.target_lla, OURS);
        assert_eq!(answer.reply.target, answer.request.target);
        assert_eq!(answer.destination, peer);
        assert_eq!(NeighborAdvertisement::parse(&answer.reply.to_bytes()), Ok(answer.reply));
    }
});
