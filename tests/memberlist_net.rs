//! ferrolb's memberlist network shell (`examples/ml_node.rs` on `memberlist::net`) against Go
//! peers on hashicorp/memberlist v0.1.7 configured like MetalLB's speaker
//! (`tests/peers/memberlist-go`). Every node is a real process on its own loopback address
//! (127.0.0.60–127.0.0.99, one port per test binary); every process is ours and is killed by
//! its own PID when its guard drops.

mod memberlist_support;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use memberlist_support::node::{
    CONVERGE, DETECT, Kind, Node, addr, converge, quiet, wait,
};


fn see_each_other(secret: &str, go_ip: &str, rust_ip: &str) {
    // ferrolb joins the Go peer, as a new speaker joins the listed pods.
    let go = Node::start(Kind::Go, "go-a", go_ip, secret, &[]);
    let rust = Node::start(Kind::Rust, "rust-b", rust_ip, secret, &[go_ip]);
    converge(&[&go, &rust], &["go-a", "rust-b"], CONVERGE);
    let j = rust.join_line().expect("join line");
    assert_eq!(
        (j["nb joigned"].as_u64(), j["error ?"].is_null()),
        (Some(1), true),
        "{j}"
    );
    // A Go peer joins the ferrolb node (the TCP push/pull in the other direction).
    let go2 = Node::start(Kind::Go, "go-c", &bump(go_ip, 1), secret, &[rust_ip]);
    converge(&[&go, &rust, &go2], &["go-a", "go-c", "rust-b"], CONVERGE);
    // Several probe, gossip and push/pull-free rounds later, still one quiet cluster.
    std::thread::sleep(Duration::from_secs(4));
    converge(
        &[&go, &rust, &go2],
        &["go-a", "go-c", "rust-b"],
        Duration::ZERO,
    );
    quiet(&[&go, &rust, &go2]);
    assert!(rust.stat("packets_received") > 0, "{}", rust.stats());
}

fn bump(ip: &str, by: u8) -> String {
    let mut o: Vec<u8> = ip.split('.').map(|x| x.parse().unwrap()).collect();
    o[3] += by;
    format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])
}

#[test]
fn rust_node_and_go_peers_agree_on_members_without_encryption() {
    see_each_other("", "127.0.0.60", "127.0.0.62");
}

#[test]
fn rust_node_and_go_peers_agree_on_members_with_metallb_encryption() {
    see_each_other(
        "memberlist-secret-of-the-cluster",
        "127.0.0.63",
        "127.0.0.65",
    );
}

#[test]
fn a_different_secret_never_joins_in_either_direction() {
    let go = Node::start(Kind::Go, "go-a", "127.0.0.66", "the-go-secret", &[]);
    let rust = Node::start(
        Kind::Rust,
        "rust-b",
        "127.0.0.67",
        "another-secret",
        &["127.0.0.66"],
    );
    let j = rust.join_line().expect("join line");
    assert_eq!(j["nb joigned"].as_u64(), Some(0), "{j}");
    assert!(!j["error ?"].is_null(), "{j}");
    let go2 = Node::start(
        Kind::Go,
        "go-c",
        "127.0.0.68",
        "the-go-secret",
        &["127.0.0.67"],
    );
    // An unencrypted node does not get in either.
    let plain = Node::start(
        Kind::Rust,
        "rust-d",
        "127.0.0.69",
        "",
        &["127.0.0.66", "127.0.0.67"],
    );
    assert_eq!(
        plain.join_line().expect("join line")["nb joigned"].as_u64(),
        Some(0)
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(go.members(), ["go-a"]);
    assert_eq!(rust.members(), ["rust-b"]);
    assert_eq!(go2.members(), ["go-c"]);
    assert_eq!(plain.members(), ["rust-d"]);
    assert!(
        wait(Duration::from_secs(3), || rust.stat("streams_refused") >= 2),
        "go-c's and rust-d's joins were refused and counted: {}",
        rust.stats()
    );
    assert!(
        go.log_has("failed to receive"),
        "the Go peer refused our join stream"
    );
    assert!(
        rust.log_has(
            "[ERR] memberlist: failed to receive: No installed keys could decrypt the message"
        ),
        "rust-b logged go-c's refused join as Go does"
    );
}

#[test]
fn sigkilled_rust_node_is_seen_dead_by_go_and_rejoins_after_restart() {
    let secret = "kill-test-secret";
    let go = Node::start(Kind::Go, "go-a", "127.0.0.70", secret, &[]);
    let rust = Node::start(Kind::Rust, "rust-b", "127.0.0.71", secret, &["127.0.0.70"]);
    converge(&[&go, &rust], &["go-a", "rust-b"], CONVERGE);
    drop(rust); // SIGKILL: no leave message
    converge(&[&go], &["go-a"], DETECT);
    assert!(
        go.log_has("Suspect rust-b has failed"),
        "the Go peer found rust-b dead by failed probes, not by a leave"
    );
    let rust = Node::start(Kind::Rust, "rust-b", "127.0.0.71", secret, &["127.0.0.70"]);
    converge(&[&go, &rust], &["go-a", "rust-b"], CONVERGE);
}

#[test]
fn sigkilled_go_peer_is_seen_dead_by_rust_and_rejoins_after_restart() {
    let go = Node::start(Kind::Go, "go-a", "127.0.0.72", "", &[]);
    let rust = Node::start(Kind::Rust, "rust-b", "127.0.0.73", "", &["127.0.0.72"]);
    converge(&[&go, &rust], &["go-a", "rust-b"], CONVERGE);
    drop(go);
    converge(&[&rust], &["rust-b"], DETECT);
    // The killed process's port refuses the TCP fallback of the failed probe: dead at once,
    // without the 4 s suspicion Go would wait for (docs/differences.md).
    assert!(rust.log_has("[INFO] memberlist: Marking go-a as failed, its TCP port refused the probe"));
    assert!(
        rust.events()
            .contains(&("NodeLeave".into(), "go-a".into(), "dead".into())),
        "{:?}",
        rust.events()
    );
    // The restarted Go peer joins the listed pods, as a restarted speaker does.
    let go = Node::start(Kind::Go, "go-a", "127.0.0.72", "", &["127.0.0.73"]);
    converge(&[&go, &rust], &["go-a", "rust-b"], CONVERGE);
}

#[test]
fn a_frozen_go_peer_is_found_dead_by_the_suspicion_timer_and_refutes_when_it_thaws() {
    let go = Node::start(Kind::Go, "go-a", "127.0.0.97", "", &[]);
    let rust = Node::start(Kind::Rust, "rust-b", "127.0.0.98", "", &["127.0.0.97"]);
    converge(&[&go, &rust], &["go-a", "rust-b"], CONVERGE);
    // SIGSTOP: its kernel still accepts connections on the port, nothing answers; only the
    // SWIM path (failed probe, suspicion, timeout) can find it dead, as in Go.
    signal(&go, "STOP");
    converge(&[&rust], &["rust-b"], DETECT);
    assert!(rust.log_has("[INFO] memberlist: Suspect go-a has failed, no acks received"));
    assert!(rust.log_has("[INFO] memberlist: Marking go-a as failed, suspect timeout reached"));
    assert!(!rust.log_has("refused the probe"));
    // Thawed, it hears it was declared dead and refutes: alive again on both sides.
    signal(&go, "CONT");
    converge(&[&go, &rust], &["go-a", "rust-b"], CONVERGE);
}

/// Sends SIG`name` to the member process `n` (a PID this test started).
fn signal(n: &Node, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(n.child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {}", n.name);
}

#[test]
fn sigterm_makes_go_peers_see_the_rust_node_left_not_failed() {
    let go = Node::start(Kind::Go, "go-a", "127.0.0.74", "", &[]);
    let go2 = Node::start(Kind::Go, "go-c", "127.0.0.75", "", &["127.0.0.74"]);
    let mut rust = Node::start(Kind::Rust, "rust-b", "127.0.0.76", "", &["127.0.0.74"]);
    converge(&[&go, &go2, &rust], &["go-a", "go-c", "rust-b"], CONVERGE);
    let t = Instant::now();
    rust.sigterm();
    converge(&[&go, &go2], &["go-a", "go-c"], Duration::from_secs(5));
    let seen = t.elapsed();
    assert!(
        rust.wait_exit(Duration::from_secs(3)),
        "rust-b exits after leaving"
    );
    let leave = rust
        .lines()
        .iter()
        .find_map(|v| v.get("leave").cloned())
        .expect("leave line");
    assert!(
        leave["error"].is_null(),
        "leave broadcast done before the 1 s timeout: {leave}"
    );
    for g in [&go, &go2] {
        assert!(
            !g.log_has("Suspect rust-b") && !g.log_has("Marking rust-b as failed"),
            "{} saw a leave, not a failure",
            g.name
        );
    }
    println!(
        "graceful leave seen by both Go peers after {} ms (leave call {} ms)",
        seen.as_millis(),
        leave["ms"]
    );
}

#[test]
fn go_peer_leaving_is_reported_left_by_rust() {
    let go = Node::start(Kind::Go, "go-a", "127.0.0.77", "", &[]);
    let rust = Node::start(Kind::Rust, "rust-b", "127.0.0.78", "", &["127.0.0.77"]);
    converge(&[&go, &rust], &["go-a", "rust-b"], CONVERGE);
    let mut go = go;
    drop(go.child.stdin.take()); // the peer leaves with a 1 s timeout and exits
    converge(&[&rust], &["rust-b"], Duration::from_secs(5));
    assert!(
        rust.events()
            .contains(&("NodeLeave".into(), "go-a".into(), "left".into())),
        "{:?}",
        rust.events()
    );
    assert!(go.wait_exit(Duration::from_secs(3)));
}

#[test]
fn two_go_peers_and_one_rust_node_converge_and_agree_on_a_death() {
    let secret = "mixed-secret";
    let a = Node::start(Kind::Go, "go-a", "127.0.0.80", secret, &[]);
    let b = Node::start(Kind::Go, "go-b", "127.0.0.81", secret, &["127.0.0.80"]);
    let r = Node::start(Kind::Rust, "rust-c", "127.0.0.82", secret, &["127.0.0.81"]);
    converge(&[&a, &b, &r], &["go-a", "go-b", "rust-c"], CONVERGE);
    std::thread::sleep(Duration::from_secs(4));
    converge(&[&a, &b, &r], &["go-a", "go-b", "rust-c"], Duration::ZERO);
    quiet(&[&a, &b, &r]);
    drop(b);
    converge(&[&a, &r], &["go-a", "rust-c"], DETECT);
}

#[test]
fn one_go_peer_and_two_rust_nodes_converge_and_agree_on_a_death() {
    let secret = "mixed-secret-2";
    let a = Node::start(Kind::Go, "go-a", "127.0.0.84", secret, &[]);
    let r1 = Node::start(Kind::Rust, "rust-b", "127.0.0.85", secret, &["127.0.0.84"]);
    // The second ferrolb node only knows the first: it learns go-a through push/pull and gossip.
    let r2 = Node::start(Kind::Rust, "rust-c", "127.0.0.86", secret, &["127.0.0.85"]);
    converge(&[&a, &r1, &r2], &["go-a", "rust-b", "rust-c"], CONVERGE);
    std::thread::sleep(Duration::from_secs(4));
    converge(
        &[&a, &r1, &r2],
        &["go-a", "rust-b", "rust-c"],
        Duration::ZERO,
    );
    quiet(&[&a, &r1, &r2]);
    drop(r1);
    converge(&[&a, &r2], &["go-a", "rust-c"], DETECT);
    assert!(
        r2.events()
            .contains(&("NodeLeave".into(), "rust-b".into(), "dead".into())),
        "{:?}",
        r2.events()
    );
}

/// Datagrams a fuzzer would try first: every type byte with junk, bad compounds, bad
/// compress bodies, bad CRCs, truncated encryption headers, random bytes.
fn garbage(i: u32) -> Vec<u8> {
    let mut x = i.wrapping_mul(2_654_435_761) ^ 0x9e37_79b9;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    // Never empty: an empty datagram is "too short" before any decryption.
    let len = 1 + (rnd() % 300) as usize;
    let body: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
    let ty = [(i % 14) as u8];
    let prefix: &[u8] = match i % 6 {
        0 => &ty,               // any type, junk body
        1 => &[7, 200, 0, 5],   // compound with lying lengths
        2 => &[9, 0x82, 0xa4],  // compress with a broken map
        3 => &[12, 1, 2, 3, 4], // hasCrc with a wrong CRC
        4 => &[10, 1],          // an encrypt envelope on a plain node
        _ => &[],               // random bytes
    };
    [prefix, &body[..]].concat()
}

fn flood(target: &str, count: u32) {
    let s = UdpSocket::bind("127.0.0.99:0").expect("bind the flood socket");
    let to: SocketAddr = addr(target).parse().unwrap();
    for i in 0..count {
        let _ = s.send_to(&garbage(i), to);
        if i % 500 == 499 {
            // Loopback drops what the receive buffer cannot hold; pace a little.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn a_flood_of_garbage_datagrams_is_counted_and_the_node_stays_healthy() {
    let go = Node::start(Kind::Go, "go-a", "127.0.0.90", "", &[]);
    let rust = Node::start(Kind::Rust, "rust-b", "127.0.0.91", "", &["127.0.0.90"]);
    converge(&[&go, &rust], &["go-a", "rust-b"], CONVERGE);
    let n = 20_000;
    flood("127.0.0.91", n);
    // Garbage TCP streams too: each is refused and counted.
    for _ in 0..5 {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(addr("127.0.0.91")).expect("connect");
        let _ = c.write_all(&[6, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xc1]);
    }
    assert!(
        wait(Duration::from_secs(5), || rust.stat("packets_malformed")
            > u64::from(n) / 2
            && rust.stat("streams_refused") >= 5),
        "most of the garbage arrived and was counted: {}",
        rust.stats()
    );
    // Still a healthy member: it answers probes and keeps its view.
    std::thread::sleep(Duration::from_secs(3));
    converge(&[&go, &rust], &["go-a", "rust-b"], Duration::ZERO);
    assert!(
        !go.log_has("Suspect rust-b"),
        "the Go peer never suspected rust-b"
    );
    assert_eq!(go.complaints(), Vec::<String>::new());
    let packets_before = rust.stat("packets_received");
    assert!(
        wait(Duration::from_secs(5), || rust.stat("packets_received")
            > packets_before),
        "still receiving probes and gossip"
    );
}

#[test]
fn a_keyed_node_counts_undecryptable_garbage_and_stays_healthy() {
    let secret = "flood-secret";
    let go = Node::start(Kind::Go, "go-a", "127.0.0.92", secret, &[]);
    let rust = Node::start(Kind::Rust, "rust-b", "127.0.0.93", secret, &["127.0.0.92"]);
    converge(&[&go, &rust], &["go-a", "rust-b"], CONVERGE);
    let n = 5_000;
    flood("127.0.0.93", n);
    assert!(
        wait(Duration::from_secs(5), || rust
            .stat("packets_undecryptable")
            > u64::from(n) / 2),
        "{}",
        rust.stats()
    );
    assert_eq!(
        rust.stat("packets_malformed"),
        0,
        "nothing undecryptable reached the decoder"
    );
    std::thread::sleep(Duration::from_secs(3));
    converge(&[&go, &rust], &["go-a", "rust-b"], Duration::ZERO);
    assert!(!go.log_has("Suspect rust-b"));
}
