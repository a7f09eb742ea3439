//! ARP flood client for `scripts/bench/layer2`: from the namespace it runs in, sends ARP
//! requests for TARGET on INTERFACE at RATE per second for SECONDS, and captures the replies on
//! the same AF_PACKET socket. Requests are told apart by their sender IP (768 addresses of the
//! documentation ranges, in turn), which the reply carries back as its target IP; a reply's
//! latency is its receive time minus the send time of the latest request with that sender IP.
//! Prints `rate=R sent=S replies=A replies_per_s=X p50_us=P p99_us=Q`.
//!
//!   usage: bench_l2_flood INTERFACE TARGET RATE SECONDS

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrolb::layer2::MacAddr;
use ferrolb::layer2::arp::{ArpFrame, ArpRepr, Operation};
use ferrolb::layer2::arp_socket::ArpSocket;

fn sender_ip(id: usize) -> Ipv4Addr {
    let base = [[192, 0, 2], [198, 51, 100], [203, 0, 113]][id / 256];
    Ipv4Addr::new(base[0], base[1], base[2], (id % 256) as u8)
}

fn id_of(ip: Ipv4Addr) -> Option<usize> {
    let o = ip.octets();
    let block = match [o[0], o[1], o[2]] {
        [192, 0, 2] => 0,
        [198, 51, 100] => 1,
        [203, 0, 113] => 2,
        _ => return None,
    };
    Some(block * 256 + o[3] as usize)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, interface, target, rate, seconds] = args.as_slice() else {
        eprintln!("usage: bench_l2_flood INTERFACE TARGET RATE SECONDS");
        std::process::exit(2);
    };
    let target: Ipv4Addr = target.parse().expect("TARGET is an IPv4 address");
    let rate: u64 = rate.parse().expect("RATE is a number");
    let seconds: u64 = seconds.parse().expect("SECONDS is a number");
    let socket = Arc::new(
        ArpSocket::open(interface, Duration::from_millis(50))
            .expect("open the AF_PACKET socket (root?)"),
    );
    // Its own requests need not come back through the capture (the same for both speakers).
    socket.ignore_outgoing().expect("PACKET_IGNORE_OUTGOING");
    let ours: MacAddr = socket.mac();
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; 768]));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));

    let receiver = {
        let (socket, sent_at, stop) = (socket.clone(), sent_at.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut latencies: Vec<u64> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let Ok(Some(Ok(frame))) = socket.recv_frame() else {
                    continue;
                };
                let now = Instant::now();
                if frame.arp.operation != Operation::Reply
                    || frame.arp.sender_ip != target
                    || frame.destination != ours
                {
                    continue;
                }
                let Some(id) = id_of(frame.arp.target_ip) else {
                    continue;
                };
                if let Some(at) = sent_at.lock().map(|v| v[id]).unwrap_or(None) {
                    latencies.push(now.duration_since(at).as_micros() as u64);
                }
            }
            latencies
        })
    };

    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut next = start;
    let mut n: usize = 0;
    while Instant::now() < end {
        let id = n % 768;
        let frame = ArpFrame {
            destination: MacAddr::BROADCAST,
            source: ours,
            arp: ArpRepr {
                operation: Operation::Request,
                sender_mac: ours,
                sender_ip: sender_ip(id),
                target_mac: MacAddr([0; 6]),
                target_ip: target,
            },
        };
        if let Ok(mut v) = sent_at.lock() {
            v[id] = Some(Instant::now());
        }
        if socket.send_raw(&frame.to_bytes()).is_ok() {
            sent.fetch_add(1, Ordering::Relaxed);
        }
        n += 1;
        next += interval;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    // Late replies still count.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut latencies = receiver.join().expect("receiver thread");
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let replies = latencies.len();
    println!(
        "rate={rate} sent={} replies={replies} replies_per_s={:.0} p50_us={} p99_us={}",
        sent.load(Ordering::Relaxed),
        replies as f64 / seconds as f64,
        pct(0.50),
        pct(0.99)
    );
}
