//! The assembled layer2 data plane on a real wire (two namespaces created by the test):
//! announcing an IP starts the gratuitous burst (5 rounds; ARP request + reply per round,
//! broadcast; one unsolicited NA per round to ff02::1), requests are answered while the
//! service is announced and not after it is withdrawn. The burst spacing is printed, not
//! asserted. Needs root, `ip`, `arping`.

mod layer2_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ferrolb::layer2::arp::Operation;
use ferrolb::layer2::arp_socket::ArpSocket;
use ferrolb::layer2::ndp::NeighborAdvertisement;
use ferrolb::layer2::ndp_socket::NdpSocket;
use ferrolb::layer2::responders::Responders;
use layer2_support::{Wire, in_netns};

const V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);

#[test]
fn announcing_bursts_five_rounds_and_answers_until_withdrawn() {
    let wire = Wire::new("b");
    let (client_if, client_if6) = (wire.client_if.clone(), wire.client_if.clone());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let ready6 = ready_tx.clone();
    let arp_capture = in_netns(&wire.client, move || {
        let socket = ArpSocket::open(&client_if, Duration::from_millis(100)).expect("capture socket");
        ready_tx.send(()).expect("test is waiting");
        let start = Instant::now();
        let mut frames = Vec::new();
        while start.elapsed() < Duration::from_secs(7) {
            if let Some(Ok(frame)) = socket.recv_frame().expect("capture")
                && frame.arp.sender_ip == V4
                && frame.arp.target_ip == V4
            {
                frames.push((start.elapsed(), frame));
            }
        }
        frames
    });
    let ndp_capture = in_netns(&wire.client, move || {
        let socket = NdpSocket::open(&client_if6, Duration::from_millis(100)).expect("capture socket");
        ready6.send(()).expect("test is waiting");
        let start = Instant::now();
        let mut buf = [0u8; 1500];
        let mut nas = Vec::new();
        while start.elapsed() < Duration::from_secs(7) {
            if let Some((n, _)) = socket.recv(&mut buf).expect("capture")
                && let Ok(na) = NeighborAdvertisement::parse(&buf[..n])
                && na.target == V6
            {
                nas.push(na);
            }
        }
        nas
    });
    ready_rx.recv().expect("ARP capture started");
    ready_rx.recv().expect("NDP capture started");

    let speaker_if = wire.speaker_if.clone();
    let responders = in_netns(&wire.speaker, move || {
        let mut r = Responders::new();
        r.add_arp(&speaker_if).expect("ARP responder");
        r.add_ndp(&speaker_if).expect("NDP responder");
        r
    })
    .join()
    .expect("speaker setup");
    let now = Instant::now();
    assert!(responders.set_balancer("ns/v4", IpAddr::V4(V4), now).is_empty());
    assert!(responders.set_balancer("ns/v6", IpAddr::V6(V6), now).is_empty());
    while let Some(at) = responders.next_gratuitous() {
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        let errors = responders.send_due_gratuitous(Instant::now());
        assert!(errors.is_empty(), "{errors:?}");
    }

    let out = wire.arping(V4, 2);
    assert_eq!(out.lines().filter(|l| l.starts_with("Unicast reply from 192.0.2.100 ")).count(), 2, "arping:\n{out}");

    let frames = arp_capture.join().expect("ARP capture");
    let ops: Vec<Operation> = frames.iter().map(|(_, f)| f.arp.operation).collect();
    let want: Vec<Operation> = (0..5).flat_map(|_| [Operation::Request, Operation::Reply]).collect();
    assert_eq!(ops, want, "five rounds of request + reply");
    assert!(frames.iter().all(|(_, f)| f.destination == ferrolb::layer2::MacAddr::BROADCAST));
    let starts: Vec<f64> = frames.iter().step_by(2).map(|(t, _)| t.as_secs_f64()).collect();
    let spacing: Vec<String> = starts.windows(2).map(|w| format!("{:.3}", w[1] - w[0])).collect();
    println!("gratuitous round spacing (s): {}", spacing.join(" "));

    let nas = ndp_capture.join().expect("NDP capture");
    assert_eq!(nas.len(), 5, "one unsolicited NA per round: {nas:?}");
    assert!(nas.iter().all(|na| !na.solicited && na.override_flag));
    assert_eq!(responders.counters().gratuitous_sent.load(Ordering::Relaxed), 15, "2 ARP + 1 NA per round");

    assert!(responders.delete_balancer("ns/v4").is_empty());
    let out = wire.arping(V4, 2);
    assert!(out.contains("Received 0 response"), "withdrawn, so unanswered:\n{out}");
    assert!(responders.counters().responses_sent.load(Ordering::Relaxed) >= 2);
    drop(responders);
}

#[test]
fn scan_creates_responders_for_qualifying_interfaces_and_deletes_them_when_down() {
    use ferrolb::layer2::interfaces::ScanAction;
    use ferrolb::layer2::scan::scan;

    let wire = Wire::new("s");
    let speaker_if = wire.speaker_if.clone();
    let (responders, steps) = in_netns(&wire.speaker, move || {
        let mut r = Responders::new();
        let steps = scan(&mut r).expect("scan");
        (r, steps)
    })
    .join()
    .expect("speaker scan");
    let done: Vec<String> = steps.iter().map(|s| format!("{:?} {}", s.action, s.result.is_ok())).collect();
    // lo is neither BROADCAST nor has a link-local address; the veth end gets both responders.
    assert_eq!(steps.len(), 2, "{done:?}");
    assert!(matches!(&steps[0].action, ScanAction::CreateArp { name, .. } if *name == speaker_if), "{done:?}");
    assert!(matches!(&steps[1].action, ScanAction::CreateNdp { name, .. } if *name == speaker_if), "{done:?}");
    assert!(steps.iter().all(|s| s.result.is_ok()), "{done:?}");

    assert!(responders.set_balancer("ns/v4", IpAddr::V4(V4), Instant::now()).is_empty());
    let out = wire.arping(V4, 1);
    assert!(out.contains("Unicast reply from 192.0.2.100 "), "answered by the scanned responder:\n{out}");

    layer2_support::sh_ok(&["ip", "-n", &wire.speaker, "link", "set", &wire.speaker_if, "down"]);
    let mut responders = responders;
    let steps = in_netns(&wire.speaker, move || {
        let steps = scan(&mut responders).expect("scan");
        (responders, steps)
    })
    .join()
    .expect("speaker scan")
    .1;
    let done: Vec<String> = steps.iter().map(|s| format!("{:?}", s.action)).collect();
    assert_eq!(steps.len(), 2, "{done:?}");
    assert!(matches!(steps[0].action, ScanAction::DeleteArp { .. }), "{done:?}");
    assert!(matches!(steps[1].action, ScanAction::DeleteNdp { .. }), "{done:?}");
}
