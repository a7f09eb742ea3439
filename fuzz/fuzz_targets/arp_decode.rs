//! The ARP responder on arbitrary frames: never panics; a decoded frame re-emits to the same
//! `Repr`; an answer is a unicast reply from our MAC for the requested IP.
#![no_main]

use ferrolb::layer2::MacAddr;
use ferrolb::layer2::arp::{self, ArpFrame, Operation};
use libfuzzer_sys::fuzz_target;

const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = ArpFrame::parse(data) {
        assert_eq!(ArpFrame::parse(&frame.to_bytes()), Ok(frame), "emit/parse round trip");
    }
    if let Ok(answer) = arp::answer(data, OURS, |ip| ip.is_ipv4()) {
        assert_eq!(answer.reply.arp.operation, Operation::Reply);
        assert_eq!(answer.reply.source, OURS);
        assert_eq!(answer.reply.arp.sender_mac, OURS);
        assert_eq!(answer.reply.arp.sender_ip, answer.request.target_ip);
        assert_eq!(answer.reply.destination, answer.request.sender_mac);
    }
});
