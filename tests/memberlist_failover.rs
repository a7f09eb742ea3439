//! Fast failure detection between ferrolb speakers (`memberlist::heartbeat`) on real wires:
//! ferrolb's memberlist shell (`examples/ml_node.rs`) in node namespaces node37..node40 on
//! bridge flb0, with MetalLB's encryption on, and a Go peer on hashicorp/memberlist v0.1.7
//! beside them. What each test proves is the path that found the death (the log line names
//! it) and what did not happen; the times are printed, never asserted (machine load moves
//! them; `scripts/bench/failover` measures them as figures).

mod memberlist_support;
mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use memberlist_support::node::{CONVERGE, Kind, Node, converge, wait, wall_clock};
use support::{CutLink, Topology, require_tool, run, run_ok};

const SECRET: &str = "failover-secret-of-the-cluster";
const PORT: u16 = 7946;

/// The tests of this binary share the namespaces.
static WIRES: Mutex<()> = Mutex::new(());

fn ip(ns: &str) -> String {
    Topology::addr(ns, "v4")
}

fn member(kind: Kind, ns: &str, join: &[&str]) -> Node {
    let join: Vec<String> = join.iter().map(|n| ip(n)).collect();
    let join: Vec<&str> = join.iter().map(String::as_str).collect();
    Node::start_in(Some(ns), kind, ns, &ip(ns), PORT, SECRET, &join, &[])
}

/// Three ferrolb members on `names`, joined through the first, all seeing each other.
fn cluster(names: &[&str]) -> Vec<Node> {
    let mut nodes = vec![member(Kind::Rust, names[0], &[])];
    for n in &names[1..] {
        nodes.push(member(Kind::Rust, n, &[names[0]]));
    }
    converge(&nodes.iter().collect::<Vec<_>>(), names, CONVERGE);
    // The watch targets are chosen on the next tick after each join; give the connections
    // and a few heartbeats time to be in place.
    std::thread::sleep(Duration::from_secs(2));
    nodes
}

fn sigkill(n: &Node) -> f64 {
    let t = wall_clock();
    // SAFETY: kill(2) on the PID of a child we spawned (ip netns exec execs the program).
    let r = unsafe { libc::kill(n.pid() as libc::pid_t, libc::SIGKILL) };
    assert_eq!(r, 0, "SIGKILL {}", n.name);
    t
}

/// When (Unix seconds) `n` reported `dead` as left or failed, if it did.
fn leave_time(n: &Node, dead: &str) -> Option<f64> {
    n.lines().iter().find_map(|v| {
        (v["event"] == "NodeLeave" && v["node"] == dead).then(|| v["t"].as_f64().unwrap_or(0.0))
    })
}

/// Waits until every survivor reported `dead` gone; returns the latest report, in ms after
/// `t0`.
fn detection_ms(survivors: &[&Node], dead: &str, t0: f64) -> f64 {
    let ok = wait(Duration::from_secs(20), || {
        survivors.iter().all(|n| leave_time(n, dead).is_some())
    });
    let views: Vec<_> = survivors
        .iter()
        .map(|n| (n.name.clone(), n.events()))
        .collect();
    assert!(ok, "not every survivor saw {dead} go: {views:?}");
    survivors
        .iter()
        .filter_map(|n| leave_time(n, dead))
        .map(|t| (t - t0) * 1000.0)
        .fold(0.0, f64::max)
}

fn any_log(nodes: &[&Node], needle: &str) -> bool {
    nodes.iter().any(|n| n.log_has(needle))
}

#[test]
fn a_killed_member_is_found_dead_through_its_closed_watch_connection() {
    let _w = WIRES.lock().unwrap_or_else(|e| e.into_inner());
    let _topo = Topology::add(&["node37", "node38", "node39"]);
    let nodes = cluster(&["node37", "node38", "node39"]);
    let t0 = sigkill(&nodes[2]);
    let survivors = [&nodes[0], &nodes[1]];
    let ms = detection_ms(&survivors, "node39", t0);
    println!("process death found by both survivors in {ms:.1} ms (SIGKILL to the last NodeLeave)");
    assert!(
        any_log(
            &survivors,
            "Marking node39 as failed, its watch connection closed and its TCP port refused"
        ),
        "found by the watch connection"
    );
    assert!(
        !any_log(&survivors, "Suspect node39 has failed"),
        "not by a failed probe"
    );
    assert!(!any_log(&survivors, "suspect timeout reached"));
    for n in survivors {
        assert!(
            n.events()
                .contains(&("NodeLeave".into(), "node39".into(), "dead".into())),
            "{}: {:?}",
            n.name,
            n.events()
        );
    }
}

#[test]
fn a_cut_link_is_found_by_the_heartbeats_not_by_the_suspicion_timer() {
    let _w = WIRES.lock().unwrap_or_else(|e| e.into_inner());
    let _topo = Topology::add(&["node37", "node38", "node39"]);
    let nodes = cluster(&["node37", "node38", "node39"]);
    let t0 = wall_clock();
    let _cut = CutLink::cut("node39");
    let survivors = [&nodes[0], &nodes[1]];
    let ms = detection_ms(&survivors, "node39", t0);
    println!("node loss (link cut) found by both survivors in {ms:.1} ms");
    assert!(
        any_log(&survivors, "Marking node39 as failed, no heartbeat ack for"),
        "found by the heartbeats"
    );
    assert!(!any_log(
        &survivors,
        "Marking node39 as failed, suspect timeout reached"
    ));
}

/// A cgroup (v1 `cpu`) with 10 ms of CPU per 100 ms, shared with a busy loop. Removed on drop.
struct Starved {
    dir: String,
    hog: Child,
}

impl Starved {
    fn put(pid: u32) -> Starved {
        let dir = format!("/sys/fs/cgroup/cpu/ferrolb-starve-{}", std::process::id());
        std::fs::create_dir_all(&dir).expect("the cgroup v1 cpu controller at /sys/fs/cgroup/cpu");
        std::fs::write(format!("{dir}/cpu.cfs_period_us"), "100000").expect("cfs period");
        std::fs::write(format!("{dir}/cpu.cfs_quota_us"), "10000").expect("cfs quota");
        let hog = Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start the CPU hog");
        for p in [pid, hog.id()] {
            std::fs::write(format!("{dir}/cgroup.procs"), p.to_string())
                .expect("move into the cgroup");
        }
        Starved { dir, hog }
    }

    /// How many periods the cgroup was throttled in (`cpu.stat` `nr_throttled`).
    fn throttled(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("{}/cpu.stat", self.dir)).unwrap_or_default();
        stat.lines()
            .find_map(|l| l.strip_prefix("nr_throttled "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Starved {
    fn drop(&mut self) {
        let _ = self.hog.kill();
        let _ = self.hog.wait();
        // Whatever is left in it (the member, if it still runs) goes back to the root group.
        if let Ok(procs) = std::fs::read_to_string(format!("{}/cgroup.procs", self.dir)) {
            for p in procs.lines() {
                let _ = std::fs::write("/sys/fs/cgroup/cpu/cgroup.procs", p);
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Loads nftables `rules` (one table) into namespace `ns`; the table goes with the namespace.
fn nft_load(ns: &str, rules: &str) {
    let path = std::env::temp_dir().join(format!("ferrolb-nft-{}.txt", std::process::id()));
    std::fs::write(&path, rules).expect("write the nft rules");
    let out = run(Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f"])
        .arg(&path));
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The packets counted by the `counter`s of table `inet <table>` in `ns`, added up.
fn nft_counted(ns: &str, table: &str) -> u64 {
    let out = run_ok(
        Command::new("ip").args(["netns", "exec", ns, "nft", "list", "table", "inet", table]),
    );
    out.split("counter packets ")
        .skip(1)
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// 10 % of the datagrams and segments into and out of `ns` dropped (nftables `numgen`; this
/// kernel has no netem).
fn lossy(ns: &str) {
    nft_load(
        ns,
        "table inet flbloss {
        chain input { type filter hook input priority 0; numgen random mod 10 == 0 counter drop; }
        chain output { type filter hook output priority 0; numgen random mod 10 == 0 counter drop; }
    }",
    );
}

#[test]
fn neither_a_cpu_starved_peer_nor_one_behind_a_lossy_link_is_declared_dead_in_a_minute() {
    let _w = WIRES.lock().unwrap_or_else(|e| e.into_inner());
    require_tool("nft");
    let names = ["node37", "node38", "node39", "node40"];
    let _topo = Topology::add(&names);
    let nodes = cluster(&names);
    let starved = Starved::put(nodes[2].pid());
    lossy("node40");
    std::thread::sleep(Duration::from_secs(60));
    let all: Vec<&Node> = nodes.iter().collect();
    let throttled = starved.throttled();
    let lost = nft_counted("node40", "flbloss");
    println!("a minute: node39 throttled in {throttled} periods, {lost} packets of node40 dropped");
    assert!(
        throttled > 100,
        "node39 was really starved ({throttled} throttled periods)"
    );
    assert!(lost > 100, "node40's link was really lossy ({lost} drops)");
    for n in &all {
        let leaves: Vec<_> = n
            .events()
            .into_iter()
            .filter(|e| e.0 == "NodeLeave")
            .collect();
        assert!(leaves.is_empty(), "{} saw members go: {leaves:?}", n.name);
    }
    let verdicts: Vec<String> = all
        .iter()
        .flat_map(|n| {
            n.lines()
                .into_iter()
                .filter_map(|v| v.get("msg").and_then(|m| m.as_str()).map(str::to_string))
                .filter(|m| {
                    m.contains("as failed")
                        || m.contains("Failed heartbeats")
                        || m.contains("Suspect")
                })
                .map(|m| format!("{}: {m}", n.name))
                .collect::<Vec<_>>()
        })
        .collect();
    println!("confirmations and suspicions: {verdicts:#?}");
    // v0.1.7's own SWIM may suspect the lossy peer ("Suspect node40 has failed, no acks
    // received"), which it then refutes; a verdict is "Marking <node> as failed".
    assert!(
        !verdicts.iter().any(|v| v.contains("Marking ")),
        "no member was declared dead: {verdicts:#?}"
    );
    converge(&all, &names, Duration::ZERO);
}

/// Counts the UDP datagrams to the memberlist port of `ns` from now on ([`udp_in`]).
fn count_udp_in(ns: &str) {
    nft_load(
        ns,
        "table inet flbcount {
        chain input { type filter hook input priority 0; udp dport 7946 counter; }
    }",
    );
}

fn udp_in(ns: &str) -> u64 {
    nft_counted(ns, "flbcount")
}

#[test]
fn a_go_speaker_gets_no_heartbeats_and_hears_of_a_killed_ferrolb_member_from_its_watchers() {
    let _w = WIRES.lock().unwrap_or_else(|e| e.into_inner());
    require_tool("nft");
    let names = ["node37", "node38", "node39", "node40"];
    let _topo = Topology::add(&names);
    let go = member(Kind::Go, "node40", &[]);
    let nodes: Vec<Node> = names[..3]
        .iter()
        .map(|n| member(Kind::Rust, n, &["node40"]))
        .collect();
    let mut all: Vec<&Node> = nodes.iter().collect();
    all.push(&go);
    converge(&all, &names, CONVERGE);
    std::thread::sleep(Duration::from_secs(2));
    // v0.1.7's own traffic to the Go peer: each ferrolb member probes one of three others a
    // second and acks the Go peer's probes, about two datagrams a second in all. Heartbeats
    // would add ten a second per ferrolb member.
    count_udp_in("node40");
    let before = udp_in("node40");
    std::thread::sleep(Duration::from_secs(10));
    let per_s = (udp_in("node40") - before) as f64 / 10.0;
    println!("datagrams to the Go peer: {per_s:.1}/s");
    assert!(
        per_s < 10.0,
        "the Go peer is sent heartbeats: {per_s:.1} datagrams/s"
    );
    let t0 = sigkill(&nodes[2]);
    let ok = wait(Duration::from_secs(20), || {
        !go.members().contains(&"node39".to_string())
    });
    assert!(ok, "the Go peer still lists node39: {:?}", go.members());
    let seen = go
        .lines_at()
        .into_iter()
        .find(|(t, v)| {
            *t > t0
                && v.get("members")
                    .and_then(|m| m.as_array())
                    .is_some_and(|m| !m.iter().any(|x| x["name"] == "node39"))
        })
        .map(|(t, _)| (t - t0) * 1000.0);
    println!(
        "the Go peer dropped node39 {:.1} ms after the SIGKILL",
        seen.unwrap_or(f64::NAN)
    );
    assert!(
        !go.log_has("Suspect node39 has failed"),
        "the Go peer heard it from the watchers, not from its own probe"
    );
    assert_eq!(
        go.complaints(),
        Vec::<String>::new(),
        "the Go peer complained"
    );
    converge(
        &[&nodes[0], &nodes[1], &go],
        &["node37", "node38", "node40"],
        Duration::ZERO,
    );
}
