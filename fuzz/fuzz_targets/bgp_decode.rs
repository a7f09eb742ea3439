//! The BGP decoders on arbitrary bytes: `Message::decode` (both AS_PATH widths), v0.9's
//! tolerant `read_open`, and a session fed the bytes as a peer's stream, never panic; every
//! decoded message re-encodes to bytes that decode to the same message.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ferrolb::bgp::open::{OpenRepr, read_open};
use ferrolb::bgp::{Codec, Input, Message, Session, SessionConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for four_octet_as in [false, true] {
        let codec = Codec { four_octet_as };
        let mut rest = data;
        while let Ok((msg, used)) = Message::decode(rest, codec) {
            assert!(used >= 19 && used <= rest.len());
            let bytes = msg.to_bytes(codec);
            let (again, n) = Message::decode(&bytes, codec).expect("re-encoded message decodes");
            assert_eq!(n, bytes.len());
            assert_eq!(again, msg, "decode(encode(m)) == m");
            rest = &rest[used..];
        }
    }
    if let Ok(Some((open, used))) = read_open(data) {
        assert!(used <= data.len());
        let _ = open.asn();
    }

    // A session whose peer OPEN is followed by the fuzz input, split in two reads.
    let t0 = Instant::now();
    let cfg = SessionConfig {
        addr: "192.0.2.2:179".into(),
        local_asn: 64500,
        peer_asn: 64501,
        hold_time: Duration::from_secs(90),
        router_id: None,
        node_name: "fuzz".into(),
        pack_updates: true,
    };
    for established in [false, true] {
        let mut s = Session::new(cfg.clone(), t0);
        s.handle(t0, Input::Tick);
        s.handle(
            t0,
            Input::Connected {
                local: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                interface_ipv4: None,
            },
        );
        if established {
            let open = OpenRepr::metallb(64501, 90, Ipv4Addr::new(192, 0, 2, 2)).to_bytes();
            s.handle(t0, Input::Bytes(&open));
        }
        let cut = data.len() / 2;
        s.handle(t0, Input::Bytes(&data[..cut]));
        s.handle(t0, Input::Bytes(&data[cut..]));
        s.handle(t0, Input::Tick);
    }
});
