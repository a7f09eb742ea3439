//! What the rolling-update tests share (issue 9's mixed speaker cluster, issue 11's swap e2e):
//!
//! * [`Prober`]: one process-internal ARP client in the client namespace. A sender thread asks
//!   for every Service IP once per probe period (a *round*); a receiver thread records every
//!   ARP frame that reaches the client's eth0 (an AF_PACKET capture: unicast replies and the
//!   speakers' gratuitous broadcasts) with its time on the prober's clock.
//! * [`ProbeLog`]: the analyses the tests assert on: who answered an IP in a time range, the
//!   rounds answered by two MACs, the longest silence of an IP, the gratuitous frames.
//! * Speaker processes: a reference or ferrolb speaker on a node, started as the DaemonSet
//!   would (in-cluster, memberlist on), and stopped with SIGTERM or SIGKILL.
//!
//! **Allowances, both v0.9's own behaviour and both proven from the reference's log or
//! signals:** a reference speaker answering during its own shutdown ([`ReferenceShutdown`]),
//! and a reference speaker answering for a Service its rate-limited resync has not reached yet
//! after a membership change ([`ReferenceLog`]). Conflicts they explain are printed, not failed;
//! ferrolb's speakers get neither allowance.
//!
//! **The double-answer window is one probe round** (the time from one request for an IP to the
//! next, [`PROBE_PERIOD`] = 200 ms): a client that asks once and hears two different MACs is
//! exactly the failure a split brain causes, and a reply can only belong to the request before
//! it. A wider sliding window (say 1 s) would flag every correct handover as well, since the old
//! owner answers one round and the new owner the next; the handover gaps (time between the last
//! reply of one MAC and the first of the next) are printed instead.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrolb::layer2::MacAddr;
use ferrolb::layer2::arp::{ArpFrame, ArpRepr, Operation};
use ferrolb::layer2::arp_socket::ArpSocket;
use serde_json::Value;

use crate::speaker_support::{NODES, Namespaces, configmap, ensure_namespace, isolate, mac_of};
use crate::support::{
    Applied, Cluster, InCluster, InClusterOpts, NodeObject, Topology, wait_for,
};

/// How often every IP is asked for (issue 11: every 200 ms).
pub const PROBE_PERIOD: Duration = Duration::from_millis(200);

/// One ARP frame the client saw, `t` seconds after the prober started.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub t: f64,
    pub frame: ArpFrame,
}

#[derive(Default)]
struct Record {
    /// Start time of each round.
    rounds: Vec<f64>,
    frames: Vec<Seen>,
}

/// The ARP client; see the module docs. Stops its threads on drop.
pub struct Prober {
    t0: Instant,
    /// Wall-clock time at `t0` (Unix seconds), to place log lines on the prober's clock.
    wall0: f64,
    stop: Arc<AtomicBool>,
    record: Arc<Mutex<Record>>,
    client_mac: MacAddr,
    threads: Vec<JoinHandle<()>>,
}

impl Prober {
    /// Starts probing `ips` from eth0 of namespace `ns` (whose IPv4 address is `client_ip`).
    pub fn start(ns: &str, client_ip: Ipv4Addr, ips: Vec<Ipv4Addr>) -> Prober {
        let t0 = Instant::now();
        let wall0 = unix_seconds(SystemTime::now());
        let stop = Arc::new(AtomicBool::new(false));
        let record = Arc::new(Mutex::new(Record::default()));
        let (tx, rx) = mpsc::channel();
        let path = format!("/run/netns/{ns}");
        let (stop_rx, record_rx) = (Arc::clone(&stop), Arc::clone(&record));
        let receiver = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
            // SAFETY: setns on this thread only, with a valid namespace descriptor.
            assert_eq!(
                unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
                0,
                "setns {path}"
            );
            let socket = Arc::new(
                ArpSocket::open("eth0", Duration::from_millis(50))
                    .expect("raw ARP socket in the client"),
            );
            tx.send(Arc::clone(&socket)).expect("prober start");
            while !stop_rx.load(Ordering::Relaxed) {
                match socket.recv_frame() {
                    Ok(Some(Ok(frame))) => {
                        let t = t0.elapsed().as_secs_f64();
                        record_rx
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .frames
                            .push(Seen { t, frame });
                    }
                    Ok(_) => {}
                    Err(e) => panic!("prober receive: {e}"),
                }
            }
        });
        let socket: Arc<ArpSocket> = rx.recv().expect("the prober's receiver opened its socket");
        let client_mac = socket.mac();
        let (stop_tx, record_tx) = (Arc::clone(&stop), Arc::clone(&record));
        let sender = std::thread::spawn(move || {
            let mut next = Instant::now();
            while !stop_tx.load(Ordering::Relaxed) {
                record_tx
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .rounds
                    .push(t0.elapsed().as_secs_f64());
                for ip in &ips {
                    let request = ArpFrame {
                        destination: MacAddr::BROADCAST,
                        source: client_mac,
                        arp: ArpRepr {
                            operation: Operation::Request,
                            sender_mac: client_mac,
                            sender_ip: client_ip,
                            target_mac: MacAddr([0; 6]),
                            target_ip: *ip,
                        },
                    };
                    socket
                        .send(&request.to_bytes(), MacAddr::BROADCAST)
                        .expect("send an ARP request");
                }
                next += PROBE_PERIOD;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
        });
        Prober {
            t0,
            wall0,
            stop,
            record,
            client_mac,
            threads: vec![receiver, sender],
        }
    }

    /// Now, on the prober's clock (seconds).
    pub fn now(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }

    /// What was seen so far.
    pub fn log(&self) -> ProbeLog {
        let r = self.record.lock().unwrap_or_else(|e| e.into_inner());
        ProbeLog {
            rounds: r.rounds.clone(),
            frames: r.frames.clone(),
            client_mac: self.client_mac,
            wall0: self.wall0,
        }
    }

    /// Waits (polling, bounded by `limit`) until, over the last second, every IP of `want` was
    /// answered, and only by the MAC given; returns the time it first held, or what was seen.
    pub fn wait_owners(
        &self,
        want: &BTreeMap<Ipv4Addr, String>,
        limit: Duration,
    ) -> Result<f64, String> {
        let start = Instant::now();
        loop {
            let now = self.now();
            let log = self.log();
            let seen: BTreeMap<Ipv4Addr, BTreeSet<String>> = want
                .keys()
                .map(|ip| (*ip, log.answering(*ip, now - 1.0, now)))
                .collect();
            let wrong: Vec<String> = want
                .iter()
                .filter(|(ip, mac)| seen[*ip] != BTreeSet::from([(*mac).clone()]))
                .map(|(ip, mac)| format!("{ip}: want {mac}, answered by {:?}", seen[ip]))
                .collect();
            if wrong.is_empty() {
                return Ok(now);
            }
            if start.elapsed() > limit {
                return Err(wrong.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops probing and returns everything seen.
    pub fn stop(mut self) -> ProbeLog {
        self.halt();
        self.log()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Two MACs answering one round of requests for one IP.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub ip: Ipv4Addr,
    pub round_start: f64,
    pub answers: Vec<(f64, String)>,
}

/// A reference speaker's graceful shutdown, from SIGTERM to its observed exit. v0.9 keeps its
/// responders running while `Leave` waits for the leave broadcast (up to 1 s) and until the
/// process exits, and its peers take over as soon as the leave reaches them: the leaving node
/// and the new owner can both answer in that interval. That is the reference's own behaviour
/// (ferrolb's speaker silences its responders before it leaves), so such rounds are reported,
/// not failed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceShutdown {
    pub mac: String,
    pub signalled: f64,
    pub exited: f64,
}

/// A reference speaker's JSON log, read after it stopped, and its node's MAC.
///
/// v0.9 answers a membership change late, by design of its work queue: each memberlist event
/// makes it queue every Service with `AddRateLimited`, and client-go's default limiter is one
/// token bucket for the whole process (10 per second once a burst of 100 is spent). After five
/// events with 20 Services, the next change reaches its last Services up to 2 s later, and until
/// then it keeps answering for a Service whose owner is now a node that just joined. A Go
/// speaker joining a Go cluster meets the same. A conflicting round is this lag when the
/// reference speaker that answered in it had logged a membership event (`node event - forcing
/// sync`) before its reply, and the first thing it then logged for that Service, after the
/// reply, was `serviceWithdrawn` with reason `notOwner`: it answered as the owner it no longer
/// was and withdrew as soon as its resync reached the Service.
#[derive(Debug, Clone)]
pub struct ReferenceLog {
    pub mac: String,
    pub lines: Vec<Value>,
}

/// How the reference's late withdrawal explains a conflict, for the test's output.
#[derive(Debug, Clone, PartialEq)]
pub struct LateWithdrawal {
    pub mac: String,
    pub service: String,
    /// The membership event before the reply, the reply, and the withdrawal (prober clock).
    pub event: f64,
    pub reply: f64,
    pub withdrawn: f64,
}

/// Slack for placing a log line and a captured frame on one clock: the frame is stamped when
/// the prober receives it, after the speaker sent it.
const CLOCK_SLACK: f64 = 0.005;

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// A log line's `ts` (RFC 3339) in Unix seconds.
fn ts_of(line: &Value) -> Option<f64> {
    let ts: k8s_openapi::jiff::Timestamp = line["ts"].as_str()?.parse().ok()?;
    Some(ts.as_microsecond() as f64 / 1e6)
}

/// A change of the answering MAC for one IP.
#[derive(Debug, Clone, PartialEq)]
pub struct Handover {
    pub ip: Ipv4Addr,
    pub from: String,
    pub to: String,
    /// Last reply from `from`, first reply from `to`.
    pub last_old: f64,
    pub first_new: f64,
}

/// Everything a [`Prober`] saw.
#[derive(Debug, Clone)]
pub struct ProbeLog {
    pub rounds: Vec<f64>,
    pub frames: Vec<Seen>,
    pub client_mac: MacAddr,
    /// Wall-clock time of the prober's 0 (Unix seconds).
    pub wall0: f64,
}

impl ProbeLog {
    /// Replies to the client's requests for `ip` (unicast ARP replies to the client with
    /// sender IP `ip`): (time, sender MAC).
    pub fn replies(&self, ip: Ipv4Addr) -> Vec<(f64, String)> {
        self.frames
            .iter()
            .filter(|s| {
                s.frame.destination == self.client_mac
                    && s.frame.arp.operation == Operation::Reply
                    && s.frame.arp.sender_ip == ip
            })
            .map(|s| (s.t, s.frame.arp.sender_mac.to_string()))
            .collect()
    }

    /// The MACs that answered `ip` in `[from, to]`.
    pub fn answering(&self, ip: Ipv4Addr, from: f64, to: f64) -> BTreeSet<String> {
        self.replies(ip)
            .into_iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|(_, m)| m)
            .collect()
    }

    /// Rounds (from `from` on) in which `ip` was answered by more than one MAC.
    pub fn conflicts(&self, ip: Ipv4Addr, from: f64) -> Vec<Conflict> {
        let replies = self.replies(ip);
        let mut out = Vec::new();
        for (i, start) in self.rounds.iter().enumerate().filter(|(_, s)| **s >= from) {
            let end = self.rounds.get(i + 1).copied().unwrap_or(f64::INFINITY);
            let answers: Vec<(f64, String)> = replies
                .iter()
                .filter(|(t, _)| *t >= *start && *t < end)
                .cloned()
                .collect();
            let macs: BTreeSet<&String> = answers.iter().map(|(_, m)| m).collect();
            if macs.len() > 1 {
                out.push(Conflict {
                    ip,
                    round_start: *start,
                    answers,
                });
            }
        }
        out
    }

    /// The conflicting rounds for `ips` from `from` on, split into (unexplained, explained by a
    /// reference speaker still answering during its own shutdown: one of the MACs is that
    /// node's and the round started between its SIGTERM and its exit).
    pub fn split_conflicts(
        &self,
        ips: &[Ipv4Addr],
        from: f64,
        shutdowns: &[ReferenceShutdown],
    ) -> (Vec<Conflict>, Vec<Conflict>) {
        ips.iter()
            .flat_map(|ip| self.conflicts(*ip, from))
            .partition(|c| {
                !shutdowns.iter().any(|s| {
                    c.round_start >= s.signalled
                        && c.round_start <= s.exited
                        && c.answers.iter().any(|(_, m)| *m == s.mac)
                })
            })
    }

    /// Whether a reference speaker's late withdrawal explains `c` (see [`ReferenceLog`]): of
    /// the round's two MACs, one is a reference speaker's whose log shows it answered before
    /// its resync reached `service`.
    pub fn late_withdrawal(
        &self,
        c: &Conflict,
        service: &str,
        references: &[ReferenceLog],
    ) -> Option<LateWithdrawal> {
        let macs: BTreeSet<&String> = c.answers.iter().map(|(_, m)| m).collect();
        if macs.len() != 2 {
            return None;
        }
        references.iter().find_map(|r| {
            let reply = c
                .answers
                .iter()
                .filter(|(_, m)| *m == r.mac)
                .map(|(t, _)| *t)
                .fold(f64::NEG_INFINITY, f64::max);
            if !reply.is_finite() {
                return None;
            }
            let timed = r
                .lines
                .iter()
                .filter_map(|l| Some((ts_of(l)? - self.wall0, l)));
            let event = timed
                .clone()
                .filter(|(t, l)| *t <= reply && l["msg"] == "node event - forcing sync")
                .map(|(t, _)| t)
                .last()?;
            let (withdrawn, next) = timed.clone().find(|(t, l)| {
                *t > event
                    && l["service"] == service
                    && (l["event"] == "serviceAnnounced" || l["event"] == "serviceWithdrawn")
            })?;
            (next["event"] == "serviceWithdrawn"
                && next["reason"] == "notOwner"
                && withdrawn >= reply - CLOCK_SLACK)
                .then(|| LateWithdrawal {
                    mac: r.mac.clone(),
                    service: service.to_string(),
                    event,
                    reply,
                    withdrawn,
                })
        })
    }

    /// The longest time in `[from, to]` without a reply for `ip` (the ends count as edges).
    pub fn longest_silence(&self, ip: Ipv4Addr, from: f64, to: f64) -> f64 {
        let mut last = from;
        let mut longest: f64 = 0.0;
        for (t, _) in self
            .replies(ip)
            .into_iter()
            .filter(|(t, _)| *t >= from && *t <= to)
        {
            longest = longest.max(t - last);
            last = t;
        }
        longest.max(to - last)
    }

    /// Every change of the answering MAC for `ip` after `from`.
    pub fn handovers(&self, ip: Ipv4Addr, from: f64) -> Vec<Handover> {
        let mut out = Vec::new();
        let mut current: Option<(f64, String)> = None;
        for (t, mac) in self.replies(ip).into_iter().filter(|(t, _)| *t >= from) {
            match &current {
                Some((last, m)) if *m != mac => {
                    out.push(Handover {
                        ip,
                        from: m.clone(),
                        to: mac.clone(),
                        last_old: *last,
                        first_new: t,
                    });
                }
                _ => {}
            }
            current = Some((t, mac));
        }
        out
    }

    /// Gratuitous ARP frames for `ip` after `from` (broadcast, sender IP = target IP = `ip`,
    /// request or reply): (time, sender MAC).
    pub fn gratuitous(&self, ip: Ipv4Addr, from: f64) -> Vec<(f64, String)> {
        self.frames
            .iter()
            .filter(|s| s.t >= from && s.frame.destination == MacAddr::BROADCAST)
            .filter(|s| {
                s.frame.arp.sender_ip == ip
                    && s.frame.arp.target_ip == ip
                    && s.frame.source != self.client_mac
            })
            .map(|s| (s.t, s.frame.arp.sender_mac.to_string()))
            .collect()
    }
}

/// The IPv4 address of namespace `ns`.
pub fn v4_of(ns: &str) -> Ipv4Addr {
    Topology::addr(ns, "v4")
        .parse()
        .expect("an IPv4 address from scripts/netns")
}

/// `nodes` in v0.9's layer2 election order for service `key` (first = owner).
pub fn election_order(key: &str, nodes: &[&str]) -> Vec<String> {
    let mut rest: Vec<&str> = nodes.to_vec();
    let mut order = Vec::new();
    while !rest.is_empty() {
        let first = crate::speaker_support::owner(key, &rest);
        rest.retain(|n| *n != first);
        order.push(first);
    }
    order
}

/// Which implementation a speaker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Reference,
    Ferrolb,
}

/// A speaker on one node namespace, started as the DaemonSet's container (in-cluster, `speaker`
/// service account). `env` is added in front of the command (`env K=V ... CMD`), so the
/// manifest's variables can override what `scripts/in-cluster` sets; `args` are the container's.
pub fn spawn_speaker(
    c: &Arc<Cluster>,
    node: &str,
    which: Impl,
    env: &[String],
    args: &[String],
    memberlist: bool,
) -> InCluster {
    let reference = crate::support::reference("speaker");
    let mut cmd: Vec<String> = Vec::new();
    if !env.is_empty() {
        cmd.push("env".into());
        cmd.extend(env.iter().cloned());
    }
    match which {
        Impl::Reference => cmd.push(reference),
        Impl::Ferrolb => cmd.extend([env!("CARGO_BIN_EXE_ferrolb").to_string(), "speaker".into()]),
    }
    cmd.extend(args.iter().cloned());
    let opts = InClusterOpts {
        netns: Some(node.to_string()),
        no_memberlist: !memberlist,
        ..Default::default()
    };
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    InCluster::spawn(c, "speaker", &opts, &cmd)
}

/// Sends `signal` ("TERM", "KILL") to the process, waits for it to exit (bounded) and returns
/// whether it exited successfully.
pub fn stop(p: &mut InCluster, signal: &str) -> bool {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &p.pid().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{signal} {}", p.pid());
    let status = wait_for(Duration::from_secs(20), || p.try_wait())
        .unwrap_or_else(|| panic!("pid {} did not exit on SIG{signal}", p.pid()));
    status.success()
}

/// The logs of several processes, for failure messages.
pub fn logs(ps: &[&InCluster]) -> String {
    ps.iter()
        .map(|p| format!("== {}\n{}", p.log_path().display(), p.log()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The speaker tests' node namespaces and client namespace (`speaker_support::Namespaces`),
/// with a Node object for each node; on drop the Nodes go first, then the namespaces.
pub struct Nodes {
    _objects: Vec<NodeObject>,
    _namespaces: Namespaces,
}

impl Nodes {
    pub fn up(c: &Arc<Cluster>) -> Nodes {
        let namespaces = Namespaces::up();
        let objects = NODES
            .iter()
            .map(|n| c.node(n, &Topology::addr(n, "v4")))
            .collect();
        Nodes {
            _objects: objects,
            _namespaces: namespaces,
        }
    }
}

/// What a speaker test on the three nodes sets up first: the [`Nodes`], the test namespace,
/// the isolation policy, and the `CONFIGMAP` with `config`. Dropped config first, nodes last.
pub struct Stage {
    _config: Applied,
    _isolation: Applied,
    _nodes: Nodes,
}

impl Stage {
    pub fn up(c: &Arc<Cluster>, config: &str) -> Stage {
        let nodes = Nodes::up(c);
        ensure_namespace(c);
        let isolation = isolate(c);
        Stage {
            _config: configmap(c, config),
            _isolation: isolation,
            _nodes: nodes,
        }
    }
}

/// The endpoint nodes of the `i`th Service: every fourth Service has endpoints on all three
/// nodes, the others on two.
pub fn endpoint_nodes(i: usize) -> Vec<&'static str> {
    NODES
        .iter()
        .enumerate()
        .filter(|(k, _)| i % 4 == 3 || *k != i % 4)
        .map(|(_, n)| *n)
        .collect()
}

/// The owner's MAC of every IP when `alive` are the memberlist members: for each
/// (IP, Service key `ns/name`, endpoint nodes), the first of v0.9's election order among the
/// endpoint nodes that are alive.
pub fn elected_owners(
    alive: &[&str],
    services: impl IntoIterator<Item = (Ipv4Addr, String, Vec<&'static str>)>,
) -> BTreeMap<Ipv4Addr, String> {
    services
        .into_iter()
        .map(|(ip, key, nodes)| {
            let usable: Vec<&str> = nodes.into_iter().filter(|n| alive.contains(n)).collect();
            (ip, mac_of(&election_order(&key, &usable)[0]))
        })
        .collect()
}

/// Waits (90 s) until the prober sees `want` answer alone (see [`Prober::wait_owners`]) and
/// returns when; panics with `what`, the members and the processes' logs if it does not.
pub fn converge(
    prober: &Prober,
    want: &BTreeMap<Ipv4Addr, String>,
    alive: &[&str],
    what: &str,
    ps: &[&InCluster],
) -> f64 {
    prober
        .wait_owners(want, Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("{what}: the election's owners (members {alive:?}) do not answer alone:\n{e}\nlogs:\n{}", logs(ps)))
}

/// Prints every handover of `ips` from `from` on, with its gap.
pub fn print_handovers(log: &ProbeLog, ips: impl IntoIterator<Item = Ipv4Addr>, from: f64) {
    for ip in ips {
        for h in log.handovers(ip, from) {
            println!(
                "handover {} {} -> {}: gap {:.3} s (last old reply at {:.3}, first new at {:.3})",
                h.ip,
                h.from,
                h.to,
                h.first_new - h.last_old,
                h.last_old,
                h.first_new
            );
        }
    }
}

/// Asserts that no round from `from` on was answered by two MACs for any of `ips` (each with
/// its Service's `namespace/name`), but for the rounds v0.9's own behaviour explains (see the
/// module's notes): a reference speaker between its SIGTERM and its exit, or one whose log
/// shows its resync had not reached the Service yet. Those are printed.
pub fn assert_one_mac_per_round(
    log: &ProbeLog,
    ips: &[(Ipv4Addr, String)],
    from: f64,
    shutdowns: &[ReferenceShutdown],
    references: &[ReferenceLog],
) {
    let only_ips: Vec<Ipv4Addr> = ips.iter().map(|(ip, _)| *ip).collect();
    let (conflicts, reference_shutdown) = log.split_conflicts(&only_ips, from, shutdowns);
    for c in &reference_shutdown {
        println!(
            "answered twice while a reference speaker was shutting down (v0.9's own behaviour): {c:?}"
        );
    }
    let service_of: BTreeMap<Ipv4Addr, &str> =
        ips.iter().map(|(ip, s)| (*ip, s.as_str())).collect();
    let mut unexplained = Vec::new();
    for c in conflicts {
        match log.late_withdrawal(&c, service_of[&c.ip], references) {
            Some(w) => println!(
                "answered twice while a reference speaker's rate-limited resync had not reached \
                 {} yet (v0.9's own behaviour): membership event at {:.3}, its reply at {:.3}, \
                 withdrawn (notOwner) at {:.3}: {c:?}",
                w.service, w.event, w.reply, w.withdrawn
            ),
            None => unexplained.push(c),
        }
    }
    assert!(
        unexplained.is_empty(),
        "rounds answered by two MACs: {unexplained:#?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REF: &str = "02:00:00:00:00:17";
    const NEW: &str = "02:00:00:00:00:16";
    const SVC: &str = "speaker-l2/rl-12";

    /// A reference log: a membership event at 4.879 s, the Service withdrawn at 4.885 s (the
    /// prober's 0 is 2026-11-25T00:00:00Z).
    fn reference(withdrawal: Value) -> (ProbeLog, Vec<ReferenceLog>) {
        let wall0 = ts_of(&json!({"ts": "2026-11-25T00:00:00Z"})).unwrap();
        let log = ProbeLog { rounds: vec![], frames: vec![], client_mac: MacAddr([0; 6]), wall0 };
        let lines = vec![
            json!({"msg": "node event - forcing sync", "node event": "NodeJoin", "ts": "2026-11-25T00:00:04.879Z"}),
            json!({"event": "serviceAnnounced", "service": "speaker-l2/rl-11", "ts": "2026-11-25T00:00:04.880Z"}),
            withdrawal,
        ];
        (log, vec![ReferenceLog { mac: REF.into(), lines }])
    }

    fn conflict(reference_reply: f64) -> Conflict {
        Conflict {
            ip: Ipv4Addr::new(192, 0, 2, 140),
            round_start: 4.8,
            answers: vec![(reference_reply, REF.into()), (4.881, NEW.into())],
        }
    }

    #[test]
    fn a_reply_between_the_event_and_the_services_withdrawal_is_the_references_lag() {
        let (log, refs) = reference(json!({"event": "serviceWithdrawn", "reason": "notOwner", "service": SVC, "ts": "2026-11-25T00:00:04.885Z"}));
        let w = log.late_withdrawal(&conflict(4.882), SVC, &refs).expect("explained");
        assert_eq!((w.mac.as_str(), w.service.as_str()), (REF, SVC));
        assert!((w.event - 4.879).abs() < 1e-6 && (w.withdrawn - 4.885).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn a_reply_before_any_event_or_after_the_withdrawal_or_a_reannouncement_is_not() {
        let withdrawn = json!({"event": "serviceWithdrawn", "reason": "notOwner", "service": SVC, "ts": "2026-11-25T00:00:04.885Z"});
        let (log, refs) = reference(withdrawn.clone());
        // Before the event: the reference had not heard of the change at all.
        assert_eq!(log.late_withdrawal(&conflict(4.870), SVC, &refs), None);
        // After the withdrawal (beyond the clock slack): it should have been silent.
        assert_eq!(log.late_withdrawal(&conflict(4.895), SVC, &refs), None);
        // Another Service's lines prove nothing about this one.
        assert_eq!(log.late_withdrawal(&conflict(4.882), "speaker-l2/rl-11", &refs), None);
        // The resync reached the Service and announced it again: it still thought it the owner.
        let (log, refs) = reference(json!({"event": "serviceAnnounced", "service": SVC, "ts": "2026-11-25T00:00:04.885Z"}));
        assert_eq!(log.late_withdrawal(&conflict(4.882), SVC, &refs), None);
        // Withdrawn for another reason than a new owner.
        let (log, refs) = reference(json!({"event": "serviceWithdrawn", "reason": "noIPAllocated", "service": SVC, "ts": "2026-11-25T00:00:04.885Z"}));
        assert_eq!(log.late_withdrawal(&conflict(4.882), SVC, &refs), None);
        // Three MACs in one round are never explained.
        let (log, refs) = reference(withdrawn);
        let mut c = conflict(4.882);
        c.answers.push((4.883, "02:00:00:00:00:15".into()));
        assert_eq!(log.late_withdrawal(&c, SVC, &refs), None);
    }
}
