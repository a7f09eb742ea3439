//! The ARP responder on a real wire: two network namespaces created by this test, joined by a
//! veth pair (192.0.2.0/24 only); the responder runs in one, `arping` and raw captures in the
//! other. Needs root and `ip`/`arping`; fails loudly without them. The namespaces are deleted
//! by a guard, also when a test panics.

mod layer2_support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ferrolb::layer2::arp::{ArpFrame, Operation};
use ferrolb::layer2::arp_socket::{ArpSocket, Served};
use ferrolb::layer2::{DropReason, MacAddr};
use layer2_support::{Wire, in_netns};

const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

/// The responder serving SERVICE_IP until dropped; what it did is recorded.
struct Responder {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Served>>>,
    mac: MacAddr,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    fn start(wire: &Wire) -> Responder {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (s, l, ifname) = (stop.clone(), log.clone(), wire.speaker_if.clone());
        let thread = in_netns(&wire.speaker, move || {
            let socket = ArpSocket::open(&ifname, Duration::from_millis(100)).expect("opening the ARP socket");
            tx.send(socket.mac()).expect("test is waiting");
            while !s.load(Ordering::Relaxed) {
                match socket.serve_one(|ip| ip == IpAddr::V4(SERVICE_IP)) {
                    Ok(Served::Idle) => {}
                    Ok(served) => l.lock().expect("log lock").push(served),
                    Err(e) => panic!("ARP socket failed: {e}"),
                }
            }
        });
        let mac = rx.recv().expect("responder started");
        Responder { stop, log, mac, thread: Some(thread) }
    }

    fn served(&self) -> Vec<Served> {
        self.log.lock().expect("log lock").clone()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn mac_upper(mac: MacAddr) -> String {
    mac.to_string().to_uppercase()
}

#[test]
fn arping_for_an_announced_ip_gets_unicast_replies_with_the_responder_mac() {
    let wire = Wire::new("r");
    let responder = Responder::start(&wire);
    let out = wire.arping(SERVICE_IP, 3);
    let replies = out.lines().filter(|l| l.starts_with("Unicast reply from 192.0.2.100 ")).count();
    assert_eq!(replies, 3, "arping output:\n{out}");
    assert!(out.contains(&format!("[{}]", mac_upper(responder.mac))), "replies carry the responder MAC:\n{out}");
    let answered = responder.served().iter().filter(|s| matches!(s, Served::Answered { sent: Ok(()), .. })).count();
    assert_eq!(answered, 3);
}

#[test]
fn arping_for_an_ip_not_announced_gets_no_reply() {
    let wire = Wire::new("n");
    let responder = Responder::start(&wire);
    let out = wire.arping(Ipv4Addr::new(192, 0, 2, 101), 2);
    assert!(out.contains("Received 0 response"), "arping output:\n{out}");
    let served = responder.served();
    assert!(served.iter().all(|s| !matches!(s, Served::Answered { .. })), "{served:?}");
    assert!(served.contains(&Served::Dropped(DropReason::NotAnnounced)), "{served:?}");
}

#[test]
fn a_flood_of_malformed_frames_leaves_the_responder_answering() {
    let wire = Wire::new("m");
    let responder = Responder::start(&wire);
    let ifname = wire.client_if.clone();
    let sent = in_netns(&wire.client, move || {
        let socket = ArpSocket::open(&ifname, Duration::from_millis(100)).expect("opening the flood socket");
        let mut frame = [0u8; 60];
        frame[..6].copy_from_slice(&[0xff; 6]);
        frame[6..12].copy_from_slice(&socket.mac().0);
        frame[12..14].copy_from_slice(&[0x08, 0x06]);
        let mut sent = 0;
        for i in 0..2000u32 {
            let b = i.to_be_bytes();
            // Vary hardware type, lengths and content; every frame is an ARP EtherType.
            frame[14..18].copy_from_slice(&b);
            frame[18] = b[3];
            frame[19] = b[2];
            let len = 14 + (i as usize % 47);
            if socket.send_raw(&frame[..len.max(14)]).is_ok() {
                sent += 1;
            }
        }
        sent
    })
    .join()
    .expect("flood thread");
    assert!(sent > 1000, "sent {sent} malformed frames");
    let out = wire.arping(SERVICE_IP, 2);
    assert_eq!(out.lines().filter(|l| l.starts_with("Unicast reply from 192.0.2.100 ")).count(), 2, "arping output:\n{out}");
    let malformed = responder.served().iter().filter(|s| matches!(s, Served::Dropped(DropReason::Malformed(_)))).count();
    assert!(malformed > 0, "the flood reached the responder and was counted as malformed");
}

#[test]
fn gratuitous_round_puts_a_broadcast_request_and_reply_on_the_wire() {
    let wire = Wire::new("g");
    let ifname = wire.client_if.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let capture = in_netns(&wire.client, move || {
        let socket = ArpSocket::open(&ifname, Duration::from_millis(200)).expect("opening the capture socket");
        ready_tx.send(()).expect("test is waiting");
        let mut frames = Vec::new();
        for _ in 0..25 {
            match socket.recv_frame().expect("capture socket") {
                Some(Ok(frame)) if frame.arp.target_ip == SERVICE_IP => frames.push(frame),
                _ => {}
            }
            if frames.len() == 2 {
                break;
            }
        }
        frames
    });
    ready_rx.recv().expect("capture started");
    let speaker_if = wire.speaker_if.clone();
    let (mac, sent) = in_netns(&wire.speaker, move || {
        let socket = ArpSocket::open(&speaker_if, Duration::from_millis(100)).expect("opening the ARP socket");
        let (n, result) = socket.gratuitous(SERVICE_IP);
        result.expect("sending the gratuitous round");
        (socket.mac(), n)
    })
    .join()
    .expect("speaker thread");
    assert_eq!(sent, 2, "gratuitous_sent counts two packets per interface per round");
    let frames: Vec<ArpFrame> = capture.join().expect("capture thread");
    let ops: Vec<Operation> = frames.iter().map(|f| f.arp.operation).collect();
    assert_eq!(ops, [Operation::Request, Operation::Reply]);
    for f in frames {
        assert_eq!(f.destination, MacAddr::BROADCAST);
        assert_eq!((f.source, f.arp.sender_mac, f.arp.target_mac), (mac, mac, MacAddr::BROADCAST));
        assert_eq!((f.arp.sender_ip, f.arp.target_ip), (SERVICE_IP, SERVICE_IP));
    }
}
