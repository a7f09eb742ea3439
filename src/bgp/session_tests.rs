//! Session state machine tests: byte strings in, actions out, time as a parameter.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use proptest::prelude::*;

use super::advertisement::{Advertisement, RouteAttributes};
use super::header;
use super::message::Message;
use super::notification::NotificationRepr;
use super::open::{Capability, OpenRepr};
use super::session::*;
use super::test_hex as hex;
use super::update::{Codec, PathAttribute};

const ADDR: &str = "192.0.2.2:179";

fn config(local_asn: u32, peer_asn: u32, hold: u64) -> SessionConfig {
    SessionConfig {
        addr: ADDR.into(),
        local_asn,
        peer_asn,
        hold_time: Duration::from_secs(hold),
        router_id: None,
        node_name: "pandora".into(),
        pack_updates: true,
    }
}

fn local() -> IpAddr {
    "10.0.0.5".parse().unwrap()
}

fn peer_open(asn: u32, hold: u16, ipv6: bool) -> Vec<u8> {
    let mut o = OpenRepr::metallb(asn, hold, Ipv4Addr::new(192, 0, 2, 2));
    if !ipv6 {
        o.capability_params[0].retain(|c| *c != Capability::multiprotocol(2, 1));
    }
    o.to_bytes()
}

fn sends(out: &[Output]) -> Vec<Vec<u8>> {
    out.iter()
        .filter_map(|o| {
            if let Output::Send(b) = o {
                Some(b.clone())
            } else {
                None
            }
        })
        .collect()
}

/// Dial, connect, exchange OPENs; returns the session and the outputs of the final step.
fn establish(cfg: SessionConfig, peer: &[u8], t0: Instant) -> (Session, Vec<Output>) {
    let mut s = Session::new(cfg, t0);
    assert_eq!(s.handle(t0, Input::Tick), vec![Output::Dial]);
    let out = s.handle(
        t0,
        Input::Connected {
            local: local(),
            interface_ipv4: None,
        },
    );
    assert_eq!(sends(&out).len(), 1, "our OPEN");
    let out = s.handle(t0, Input::Bytes(peer));
    (s, out)
}

fn ad(p: &str, lp: u32, comms: &[u32]) -> Advertisement {
    Advertisement {
        prefix: p.parse().unwrap(),
        attributes: RouteAttributes::new(lp, comms.to_vec()),
    }
}

#[test]
fn our_open_is_the_e4_vector_with_router_id_from_local_address() {
    let t0 = Instant::now();
    let mut s = Session::new(config(64500, 64501, 90), t0);
    s.handle(t0, Input::Tick);
    let out = s.handle(
        t0,
        Input::Connected {
            local: local(),
            interface_ipv4: None,
        },
    );
    assert_eq!(
        out,
        vec![Output::Send(hex(
            "ffffffffffffffffffffffffffffffff00310104fbf4005a0a00000514021201040001000101040002000141040000fbf4"
        ))]
    );
}

#[test]
fn session_config_for_a_peer_uses_the_ip_port_label() {
    let peer = crate::config::Peer {
        my_asn: 64500,
        asn: 64501,
        addr: "2001:db8::2".parse().unwrap(),
        port: 179,
        hold_time: Duration::from_secs(100_000),
        router_id: None,
        node_selectors: vec![],
        password: String::new(),
    };
    let c = SessionConfig::for_peer(&peer, "pandora");
    assert_eq!(c.addr, "[2001:db8::2]:179");
    assert_eq!(c.open_hold_time(), 34464, "v0.9's uint16 conversion wraps");
}

#[test]
fn dial_failure_is_not_followed_by_a_disconnect() {
    let t0 = Instant::now();
    let mut s = Session::new(config(64500, 64501, 90), t0);
    s.handle(t0, Input::Tick);
    let out = s.handle(t0, Input::DialFailed("connection refused".into()));
    assert_eq!(out.len(), 1);
    assert!(matches!(
        out[0],
        Output::ConnectFailed(SessionError::Dial { .. })
    ));
    // A dial the shell never reports on times out with the 10 s deadline.
    let t1 = s.poll_timeout().unwrap();
    s.handle(t1, Input::Tick);
    let out = s.handle(t1 + CONNECT_TIMEOUT, Input::Tick);
    assert_eq!(out[0], Output::Disconnect);
    assert_eq!(out[1].clone_err_text(), "dial \"192.0.2.2:179\": timeout");
}

#[test]
fn ipv6_session_without_interface_ipv4_uses_crc32_router_id() {
    let t0 = Instant::now();
    let mut s = Session::new(config(64500, 64501, 90), t0);
    s.handle(t0, Input::Tick);
    let out = s.handle(
        t0,
        Input::Connected {
            local: "2001:db8::5".parse().unwrap(),
            interface_ipv4: None,
        },
    );
    let open = match Message::decode(&sends(&out)[0], Codec::default())
        .unwrap()
        .0
    {
        Message::Open(o) => o,
        m => panic!("{m:?}"),
    };
    assert_eq!(
        open.router_id,
        Ipv4Addr::new(117, 188, 221, 68),
        "E.6 pandora"
    );
}

#[test]
fn e5_hold_time_negotiation_and_keepalive_interval() {
    for (own, peer, hold, keepalive) in [
        (90, 180, 90, Some(30)),
        (90, 9, 9, Some(3)),
        (90, 0, 0, None),
        (0, 90, 0, None),
    ] {
        let (s, out) = establish(
            config(64500, 64501, own),
            &peer_open(64501, peer, true),
            Instant::now(),
        );
        assert_eq!(
            out[0],
            Output::Send(header::keepalive()),
            "KEEPALIVE right after the OPEN"
        );
        assert_eq!(
            out[1],
            Output::Established {
                hold_time: Duration::from_secs(hold),
                keepalive: keepalive.map(Duration::from_secs),
                four_octet_as: true,
                ipv6: true
            },
            "own {own} peer {peer}"
        );
        assert!(s.is_established());
    }
}

#[test]
fn e5_peer_hold_time_2_rejects_the_session() {
    let mut open = peer_open(64501, 90, true);
    open[22] = 0;
    open[23] = 2;
    let (s, out) = establish(config(64500, 64501, 90), &open, Instant::now());
    assert_eq!(out[0], Output::Disconnect);
    let Output::ConnectFailed(err) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(
        err.to_string(),
        "read OPEN from \"192.0.2.2:179\": invalid hold time '\\x02', must be 0 or >=3s"
    );
    assert!(!s.is_established());
}

#[test]
fn wrong_peer_asn_fails_with_v09_text() {
    let (_, out) = establish(
        config(64500, 64501, 90),
        &peer_open(64999, 90, true),
        Instant::now(),
    );
    assert_eq!(
        out[1],
        Output::ConnectFailed(SessionError::UnexpectedPeerAsn {
            got: 64999,
            want: 64501
        })
    );
    assert_eq!(
        out[1].clone_err_text(),
        "unexpected peer ASN 64999, want 64501"
    );
}

#[test]
fn four_byte_check_has_v09_off_by_one_at_65536() {
    // E.2 #2: Arista without the 4-octet AS capability.
    let arista = hex(
        "ffffffffffffffffffffffffffffffff002b0104fde900b4b9ecf0400e020c0104000100010200400200b4",
    );
    let (s, _) = establish(config(65536, 65001, 90), &arista, Instant::now());
    assert!(s.is_established(), "65536 passes");
    let (s, out) = establish(config(65537, 65001, 90), &arista, Instant::now());
    assert!(!s.is_established());
    assert_eq!(out[1].clone_err_text(), "peer does not support 4-byte ASNs");
}

#[test]
fn e5_reconnect_backoff_doubles_to_120s_and_resets_after_open_exchange() {
    let t0 = Instant::now();
    let mut s = Session::new(config(64500, 64501, 90), t0);
    let mut now = t0;
    let mut delays = Vec::new();
    for _ in 0..10 {
        let at = s.poll_timeout().unwrap();
        delays.push((at - now).as_secs());
        now = at;
        assert_eq!(s.handle(now, Input::Tick), vec![Output::Dial]);
        let out = s.handle(now, Input::DialFailed("connection refused".into()));
        assert_eq!(
            out[0].clone_err_text(),
            "dial \"192.0.2.2:179\": connection refused"
        );
    }
    assert_eq!(
        delays,
        [0, 0, 1, 2, 4, 8, 16, 32, 64, 120],
        "first dial at once, then E.5 retry delays"
    );
    // A successful OPEN exchange resets the backoff.
    now = s.poll_timeout().unwrap();
    s.handle(now, Input::Tick);
    s.handle(
        now,
        Input::Connected {
            local: local(),
            interface_ipv4: None,
        },
    );
    s.handle(now, Input::Bytes(&peer_open(64501, 90, true)));
    assert!(s.is_established());
    // Session drops: redial at once; the next failure retries after 0 s, then 1 s.
    s.handle(now, Input::ConnectionLost("EOF".into()));
    assert_eq!(s.poll_timeout(), Some(now));
    s.handle(now, Input::Tick);
    s.handle(now, Input::DialFailed("refused".into()));
    assert_eq!(s.poll_timeout(), Some(now));
    s.handle(now, Input::Tick);
    s.handle(now, Input::DialFailed("refused".into()));
    assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(1)));
}

#[test]
fn open_not_answered_within_10s_times_out() {
    let t0 = Instant::now();
    let mut s = Session::new(config(64500, 64501, 90), t0);
    s.handle(t0, Input::Tick);
    s.handle(
        t0 + Duration::from_secs(3),
        Input::Connected {
            local: local(),
            interface_ipv4: None,
        },
    );
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + CONNECT_TIMEOUT),
        "one deadline over dial and OPEN"
    );
    let out = s.handle(t0 + CONNECT_TIMEOUT, Input::Tick);
    assert_eq!(out[0], Output::Disconnect);
    assert_eq!(
        out[1].clone_err_text(),
        "read OPEN from \"192.0.2.2:179\": i/o timeout"
    );
}

#[test]
fn notification_instead_of_open_is_reported_with_v09_text() {
    let (_, out) = establish(
        config(64500, 64501, 90),
        &hex("ffffffffffffffffffffffffffffffff0015030202"),
        Instant::now(),
    );
    assert_eq!(
        out[1].clone_err_text(),
        "read OPEN from \"192.0.2.2:179\": got BGP notification code 0x0202 (Bad peer AS)"
    );
}

#[test]
fn keepalives_every_third_of_hold_time_and_none_when_hold_is_zero() {
    let t0 = Instant::now();
    let (mut s, _) = establish(config(64500, 64501, 90), &peer_open(64501, 90, true), t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    let t = t0 + Duration::from_secs(30);
    assert_eq!(
        s.handle(t, Input::Tick),
        vec![Output::Send(header::keepalive())]
    );
    s.handle(t, Input::Bytes(&header::keepalive()));
    assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(30)));

    let (s, _) = establish(config(64500, 64501, 90), &peer_open(64501, 0, true), t0);
    assert_eq!(
        s.poll_timeout(),
        None,
        "no keepalives and no hold timer at hold 0"
    );
}

#[test]
fn silent_peer_is_dropped_after_hold_time_with_a_notification() {
    let t0 = Instant::now();
    let (mut s, _) = establish(config(64500, 64501, 9), &peer_open(64501, 90, true), t0);
    // The peer's keepalives keep the session up past several hold times.
    for i in 1..=10 {
        let t = t0 + Duration::from_secs(3 * i);
        let out = s.handle(t, Input::Tick);
        assert!(out.iter().all(|o| matches!(o, Output::Send(_))), "{out:?}");
        s.handle(t, Input::Bytes(&header::keepalive()));
    }
    // Then it goes silent.
    let last = t0 + Duration::from_secs(30);
    let mut now;
    let out = loop {
        now = s.poll_timeout().unwrap();
        let out = s.handle(now, Input::Tick);
        if out.iter().any(|o| matches!(o, Output::SessionDown(_))) {
            break out;
        }
    };
    assert_eq!(now, last + Duration::from_secs(9));
    assert_eq!(
        out[0],
        Output::Send(hex("ffffffffffffffffffffffffffffffff00150304 00"))
    );
    assert_eq!(out[1], Output::Disconnect);
    assert_eq!(
        out[2],
        Output::SessionDown(SessionError::HoldTimerExpired(9))
    );
    assert_eq!(s.stats().hold_timer_expirations, 1);
    assert!(!s.stats().session_up);
    assert_eq!(s.poll_timeout(), Some(now), "reconnects at once");
}

#[test]
fn peer_notification_ends_the_session_without_replying() {
    let t0 = Instant::now();
    let (mut s, _) = establish(config(64500, 64501, 90), &peer_open(64501, 90, true), t0);
    let out = s.handle(t0, Input::Bytes(&NotificationRepr::cease(4).to_bytes()));
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0], Output::Disconnect);
    assert_eq!(
        out[1].clone_err_text(),
        "got BGP notification code 0x0604 (Administrative Reset)"
    );
}

#[test]
fn garbage_marker_ends_the_session() {
    let t0 = Instant::now();
    let (mut s, _) = establish(config(64500, 64501, 90), &peer_open(64501, 90, true), t0);
    let out = s.handle(t0, Input::Bytes(&[0u8; 19]));
    assert_eq!(out[1], Output::SessionDown(SessionError::BadMarker));
}

#[test]
fn close_sends_cease_with_the_reason_and_stops_for_good() {
    for (reason, sub) in [(CloseReason::Shutdown, 2u8), (CloseReason::PeerRemoved, 3)] {
        let t0 = Instant::now();
        let (mut s, _) = establish(config(64500, 64501, 90), &peer_open(64501, 90, true), t0);
        let out = s.handle(t0, Input::Close(reason));
        assert_eq!(
            out[0],
            Output::Send(NotificationRepr::cease(sub).to_bytes())
        );
        assert_eq!(out[1], Output::Disconnect);
        assert_eq!(out[2], Output::SessionDown(SessionError::Closed));
        assert!(s.is_closed());
        assert_eq!(s.poll_timeout(), None);
        assert!(s.handle(t0, Input::Tick).is_empty());
        assert!(
            s.set_advertisements([ad("192.0.2.1/32", 0, &[])])
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn close_while_idle_sends_nothing() {
    let t0 = Instant::now();
    let mut s = Session::new(config(64500, 64501, 90), t0);
    assert!(s.handle(t0, Input::Close(CloseReason::Shutdown)).is_empty());
}

#[test]
fn open_and_keepalive_split_across_reads_and_coalesced() {
    let t0 = Instant::now();
    let mut s = Session::new(config(64500, 64501, 90), t0);
    s.handle(t0, Input::Tick);
    s.handle(
        t0,
        Input::Connected {
            local: local(),
            interface_ipv4: None,
        },
    );
    let mut stream = peer_open(64501, 90, true);
    stream.extend_from_slice(&header::keepalive());
    stream.extend_from_slice(&header::keepalive()[..7]);
    let mut outs = Vec::new();
    for b in &stream {
        outs.extend(s.handle(t0, Input::Bytes(std::slice::from_ref(b))));
    }
    assert!(s.is_established());
    assert!(
        !outs
            .iter()
            .any(|o| matches!(o, Output::SessionDown(_) | Output::ConnectFailed(_)))
    );
}

#[test]
fn advertisements_set_before_connect_are_sent_after_open_exchange_as_e4_bytes() {
    let t0 = Instant::now();
    let mut s = Session::new(config(64512, 64512, 90), t0);
    assert!(
        s.set_advertisements([ad("198.51.100.0/24", 100, &[0xfc000001, 1234])])
            .unwrap()
            .is_empty()
    );
    s.handle(t0, Input::Tick);
    s.handle(
        t0,
        Input::Connected {
            local: local(),
            interface_ipv4: None,
        },
    );
    let out = s.handle(t0, Input::Bytes(&peer_open(64512, 90, true)));
    assert_eq!(
        sends(&out)[1],
        hex(
            "ffffffffffffffffffffffffffffffff003b0200000020400101024002004003040a00000540050400000064c00808000004d2fc00000118c63364"
        ),
        "E.4 iBGP UPDATE"
    );
    assert_eq!(s.stats().updates_sent, 1);
    assert_eq!(s.stats().announced_prefixes, 1);
    assert_eq!(s.stats().pending_prefixes, 1);
}

#[test]
fn removed_prefixes_go_in_one_combined_withdraw() {
    let t0 = Instant::now();
    let (mut s, _) = establish(config(64500, 64501, 90), &peer_open(64501, 90, true), t0);
    s.set_advertisements([
        ad("192.168.10.1/32", 0, &[]),
        ad("198.51.100.0/24", 0, &[]),
        ad("192.0.2.1/32", 0, &[]),
    ])
    .unwrap();
    let out = s.set_advertisements([ad("192.0.2.1/32", 0, &[])]).unwrap();
    assert_eq!(
        sends(&out),
        vec![hex(
            "ffffffffffffffffffffffffffffffff002002000920c0a80a0118c633640000"
        )],
        "E.4 combined withdraw, nothing re-sent for the unchanged prefix"
    );
    assert_eq!(
        s.stats().updates_sent,
        2,
        "one packed UPDATE and one withdraw"
    );
    assert_eq!(s.stats().announced_prefixes, 1);
}

#[test]
fn unpacked_session_sends_one_update_per_prefix_like_v09() {
    let t0 = Instant::now();
    let mut cfg = config(64500, 64501, 90);
    cfg.pack_updates = false;
    let (mut s, _) = establish(cfg, &peer_open(64501, 90, true), t0);
    let out = s
        .set_advertisements((1..=5).map(|i| ad(&format!("192.0.2.{i}/32"), 0, &[])))
        .unwrap();
    assert_eq!(sends(&out).len(), 5);
    assert_eq!(s.stats().updates_sent, 5);
}

#[test]
fn ipv6_prefixes_are_sent_over_mp_bgp_only_to_peers_that_negotiated_ipv6() {
    let t0 = Instant::now();
    let ads = [ad("2001:db8::10/128", 0, &[]), ad("192.0.2.1/32", 0, &[])];
    let (mut s, _) = establish(config(64500, 64501, 90), &peer_open(64501, 90, false), t0);
    let out = s.set_advertisements(ads.clone()).unwrap();
    let msgs: Vec<Message> = sends(&out)
        .iter()
        .map(|b| {
            Message::decode(
                b,
                Codec {
                    four_octet_as: true,
                },
            )
            .unwrap()
            .0
        })
        .collect();
    assert_eq!(
        msgs.len(),
        1,
        "only the IPv4 prefix to a peer without IPv6 unicast"
    );
    assert_eq!(s.stats().announced_prefixes, 1);
    assert_eq!(s.stats().pending_prefixes, 2);

    let (mut s, _) = establish(config(64500, 64501, 90), &peer_open(64501, 90, true), t0);
    let out = s.set_advertisements(ads).unwrap();
    let msgs: Vec<Message> = sends(&out)
        .iter()
        .map(|b| {
            Message::decode(
                b,
                Codec {
                    four_octet_as: true,
                },
            )
            .unwrap()
            .0
        })
        .collect();
    assert_eq!(msgs.len(), 2);
    let Message::Update(u) = &msgs[1] else {
        panic!()
    };
    assert!(
        matches!(&u.attributes.last(), Some(PathAttribute::MpReach { next_hop, nlri, .. })
        if *next_hop == "::ffff:10.0.0.5".parse::<std::net::Ipv6Addr>().unwrap() && nlri.len() == 1)
    );
}

#[test]
fn ipv4_prefixes_on_an_ipv6_session_use_the_interface_ipv4_next_hop() {
    let t0 = Instant::now();
    let mut s = Session::new(config(64500, 64501, 90), t0);
    s.handle(t0, Input::Tick);
    s.handle(
        t0,
        Input::Connected {
            local: "2001:db8::5".parse().unwrap(),
            interface_ipv4: Some(Ipv4Addr::new(192, 0, 2, 5)),
        },
    );
    s.handle(t0, Input::Bytes(&peer_open(64501, 90, true)));
    let out = s
        .set_advertisements([ad("198.51.100.1/32", 0, &[])])
        .unwrap();
    let Message::Update(u) = Message::decode(
        &sends(&out)[0],
        Codec {
            four_octet_as: true,
        },
    )
    .unwrap()
    .0
    else {
        panic!()
    };
    assert!(
        u.attributes
            .contains(&PathAttribute::NextHop(Ipv4Addr::new(192, 0, 2, 5)))
    );
}

impl Output {
    fn clone_err_text(&self) -> String {
        match self {
            Output::ConnectFailed(e) | Output::SessionDown(e) => e.to_string(),
            o => panic!("not an error output: {o:?}"),
        }
    }
}

/// The peer: decodes everything we send and keeps a RIB; drops it when the session ends.
#[derive(Default)]
struct PeerModel {
    rib: BTreeMap<IpNet, RouteAttributes>,
    updates: u64,
}

impl PeerModel {
    fn apply(&mut self, out: &[Output], codec: Codec) {
        for o in out {
            match o {
                Output::Send(b) => match Message::decode(b, codec)
                    .expect("we send well-formed messages")
                    .0
                {
                    Message::Update(u) => {
                        self.updates += 1;
                        let mut attrs = RouteAttributes::default();
                        let mut v6 = Vec::new();
                        for a in &u.attributes {
                            match a {
                                PathAttribute::LocalPref(lp) => attrs.local_pref = *lp,
                                PathAttribute::Communities(c) => attrs.communities = c.clone(),
                                PathAttribute::MpReach { nlri, .. } => {
                                    v6.extend(nlri.iter().map(|n| IpNet::V6(*n)))
                                }
                                PathAttribute::MpUnreach { withdrawn } => {
                                    withdrawn.iter().for_each(|n| {
                                        self.rib.remove(&IpNet::V6(*n));
                                    })
                                }
                                _ => {}
                            }
                        }
                        u.withdrawn.iter().for_each(|n| {
                            self.rib.remove(&IpNet::V4(*n));
                        });
                        for p in u.nlri.iter().map(|n| IpNet::V4(*n)).chain(v6) {
                            self.rib.insert(p, attrs.clone());
                        }
                    }
                    Message::Open(_) | Message::Keepalive | Message::Notification(_) => {}
                    m => panic!("unexpected {m:?}"),
                },
                Output::Disconnect => self.rib.clear(),
                _ => {}
            }
        }
    }
}

fn arb_ads() -> impl Strategy<Value = Vec<Advertisement>> {
    prop::collection::vec(
        (
            0u16..300,
            any::<bool>(),
            0u32..3,
            prop::collection::vec(0u32..5, 0..3),
        )
            .prop_map(|(host, v6, lp, comms)| {
                let prefix: IpNet = if v6 {
                    format!("2001:db8::{host:x}/128").parse().unwrap()
                } else {
                    format!("10.{}.{}.0/{}", host % 7, host % 256, 24 + host % 9)
                        .parse::<IpNet>()
                        .unwrap()
                        .trunc()
                };
                ad(&prefix.to_string(), lp, &comms)
            }),
        0..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever the sequence of desired sets, reconnects and packing, the peer's RIB built
    /// from the bytes we send equals the desired set the peer can carry, and `updates_sent`
    /// counts exactly the UPDATEs on the wire.
    #[test]
    fn peer_rib_converges_to_desired_set(
        steps in prop::collection::vec((arb_ads(), 0u8..6), 1..8),
        ibgp in any::<bool>(), peer_v6 in any::<bool>(), pack in any::<bool>(), four in any::<bool>(),
    ) {
        let t0 = Instant::now();
        let mut cfg = config(64500, if ibgp { 64500 } else { 64501 }, 90);
        cfg.pack_updates = pack;
        let mut open = peer_open(cfg.peer_asn, 90, peer_v6);
        if !four {
            let mut o = OpenRepr::parse_body(&open[19..]).unwrap();
            o.capability_params[0].retain(|c| c.code != 65);
            open = o.to_bytes();
        }
        let codec = Codec { four_octet_as: four };
        let mut s = Session::new(cfg, t0);
        let mut peer = PeerModel::default();
        for (ads, event) in steps {
            if event == 0 && s.is_established() {
                peer.apply(&s.handle(t0, Input::ConnectionLost("reset".into())), codec);
            }
            if !s.is_established() && event <= 2 {
                peer.apply(&s.handle(t0, Input::Tick), codec);
                peer.apply(&s.handle(t0, Input::Connected { local: local(), interface_ipv4: None }), codec);
                peer.apply(&s.handle(t0, Input::Bytes(&open)), codec);
                prop_assert!(s.is_established());
            }
            let desired: BTreeMap<_, _> = ads.iter().map(|a| (a.prefix.trunc(), a.attributes.clone())).collect();
            peer.apply(&s.set_advertisements(ads).unwrap(), codec);
            if s.is_established() {
                let want: BTreeMap<_, _> = desired.iter()
                    .filter(|(p, _)| peer_v6 || matches!(p, IpNet::V4(_)))
                    // eBGP carries no LOCAL_PREF.
                    .map(|(p, a)| (*p, RouteAttributes { local_pref: if ibgp { a.local_pref } else { 0 }, ..a.clone() }))
                    .collect();
                prop_assert_eq!(&peer.rib, &want);
                prop_assert_eq!(s.stats().announced_prefixes, want.len());
            } else {
                prop_assert!(peer.rib.is_empty());
            }
            prop_assert_eq!(s.stats().updates_sent, peer.updates);
            prop_assert_eq!(s.stats().pending_prefixes, desired.len());
        }
    }
}
