//! The NDP responder on a real wire (two namespaces created by the test, a veth pair,
//! 2001:db8::/64): a solicitation like `ndisc6`'s is answered with the responder's MAC, S=1
//! O=0, from its link-local address, only while the solicited-node group is joined; a
//! gratuitous round is an unsolicited NA with O=1 to ff02::1. Needs root and `ip`.
//!
//! Not `ndisc6` itself: Debian 12's ndisc6 1.0.5 only accepts advertisements whose IPv6
//! source is the target address, and v0.9 (like us) answers from the link-local address, so
//! ndisc6 times out against the reference speaker too. We send the same solicitation.

mod layer2_support;

use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrolb::layer2::MacAddr;
use ferrolb::layer2::ndp::{NeighborAdvertisement, solicited_node_multicast};
use ferrolb::layer2::ndp_socket::{NdpSocket, Served};
use layer2_support::{Wire, in_netns};

const SERVICE_IP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);

/// Receives on `socket` until an advertisement for `target` arrives (or 10 timeouts pass).
fn capture_na(socket: &NdpSocket, target: Ipv6Addr) -> Option<(NeighborAdvertisement, Ipv6Addr)> {
    let mut buf = [0u8; 1500];
    for _ in 0..10 {
        if let Some((n, source)) = socket.recv(&mut buf).expect("capture socket")
            && let Ok(na) = NeighborAdvertisement::parse(&buf[..n])
            && na.target == target
        {
            return Some((na, source));
        }
    }
    None
}

/// Sends a Neighbor Solicitation for `target` (with a Source Link-Layer Address option) from
/// the client namespace to the target's solicited-node group, as `ndisc6` does, and returns
/// the advertisement that came back, if any.
fn solicit(wire: &Wire, target: Ipv6Addr) -> Option<(NeighborAdvertisement, Ipv6Addr)> {
    let ifname = wire.client_if.clone();
    in_netns(&wire.client, move || {
        let socket = NdpSocket::open(&ifname, Duration::from_millis(100)).expect("opening the client socket");
        let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
        ns.extend_from_slice(&target.octets());
        ns.extend_from_slice(&[1, 1]);
        ns.extend_from_slice(&socket.mac().0);
        socket.send(&ns, solicited_node_multicast(target)).expect("sending the solicitation");
        capture_na(&socket, target)
    })
    .join()
    .expect("client thread")
}

#[test]
fn solicitation_for_an_announced_ip_is_answered_solicited_not_override_only_while_the_group_is_joined() {
    let wire = Wire::new("6");
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel::<(MacAddr, Ipv6Addr)>();
    let (s, log, ifname) = (stop.clone(), served.clone(), wire.speaker_if.clone());
    let (join_tx, join_rx) = std::sync::mpsc::channel::<bool>();
    let responder = in_netns(&wire.speaker, move || {
        let socket = NdpSocket::open(&ifname, Duration::from_millis(100)).expect("opening the NDP socket");
        tx.send((socket.mac(), socket.link_local())).expect("test is waiting");
        let group = solicited_node_multicast(SERVICE_IP);
        while !s.load(Ordering::Relaxed) {
            if let Ok(join) = join_rx.try_recv() {
                if join { socket.join(group) } else { socket.leave(group) }.expect("multicast membership");
            }
            match socket.serve_one(|ip| ip == IpAddr::V6(SERVICE_IP)).expect("NDP socket") {
                Served::Idle => {}
                other => log.lock().expect("log lock").push(other),
            }
        }
    });
    struct Stop(Arc<AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let _stop = Stop(stop.clone());
    let (mac, speaker_ll) = rx.recv().expect("responder started");

    // Not joined yet: the solicitation to the solicited-node group never reaches the socket.
    assert_eq!(solicit(&wire, SERVICE_IP), None, "unanswered before joining the group");

    join_tx.send(true).expect("responder running");
    std::thread::sleep(Duration::from_millis(300));
    let (na, from) = solicit(&wire, SERVICE_IP).expect("an advertisement came back");
    assert_eq!(na, NeighborAdvertisement { solicited: true, override_flag: false, target: SERVICE_IP, target_lla: mac });
    assert_eq!(from, speaker_ll, "sent from the responder's link-local address");

    // Not announced: no answer.
    let other = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x101);
    assert_eq!(solicit(&wire, other), None, "2001:db8::101 is not announced");

    // Left the group (refcount 0): unanswered again.
    join_tx.send(false).expect("responder running");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(solicit(&wire, SERVICE_IP), None, "unanswered after leaving the group");

    stop.store(true, Ordering::Relaxed);
    responder.join().expect("responder thread");
    let answered = served.lock().expect("log lock").iter().filter(|s| matches!(s, Served::Answered { sent: Ok(()), .. })).count();
    assert_eq!(answered, 1, "exactly the one solicitation sent while joined was answered");
}

#[test]
fn gratuitous_round_is_an_unsolicited_override_na_to_all_nodes() {
    let wire = Wire::new("u");
    let ifname = wire.client_if.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let capture = in_netns(&wire.client, move || {
        let socket = NdpSocket::open(&ifname, Duration::from_millis(200)).expect("opening the capture socket");
        ready_tx.send(()).expect("test is waiting");
        capture_na(&socket, SERVICE_IP)
    });
    ready_rx.recv().expect("capture started");
    let speaker_if = wire.speaker_if.clone();
    let mac = in_netns(&wire.speaker, move || {
        let socket = NdpSocket::open(&speaker_if, Duration::from_millis(100)).expect("opening the NDP socket");
        socket.gratuitous(SERVICE_IP).expect("sending the gratuitous NA");
        socket.mac()
    })
    .join()
    .expect("speaker thread");
    let (na, _) = capture.join().expect("capture thread").expect("the NA reached the client");
    assert_eq!(na, NeighborAdvertisement { solicited: false, override_flag: true, target: SERVICE_IP, target_lla: mac });
}
