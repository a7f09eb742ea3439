//! Fast failure detection between ferrolb speakers, beside (never instead of) v0.1.7's SWIM.
//!
//! v0.1.7 finds a dead member through its probe round robin: one probe a second over all
//! members, 500 ms to time out, then a suspicion of 4 s or more. A layer 2 failover waits for
//! all of it. Between ferrolb speakers (those whose node meta offers
//! [`Feature::Watch`](super::meta::Feature::Watch)) this detector adds two faster signals:
//!
//! * **Watch connections: process death.** Each speaker keeps one idle TCP connection open to
//!   the memberlist port of each peer it watches. When the peer's process dies, its kernel
//!   closes the socket at once (FIN or RST). The watcher then dials the port again: *refused*
//!   means nothing listens there any more, and the peer is declared dead at once. A process in
//!   the middle of its exit may still accept the dial and then reset it (its listening socket
//!   closes a few milliseconds after the others), so a dial that ends without an ack is
//!   repeated every [`PORT_RETRY`] until it is refused, answered, or [`PORT_CHECK`] has
//!   passed. A dial that is answered, or that times out, proves nothing (a reset by the
//!   network, a host that is down), and the heartbeats decide.
//! * **Heartbeats: node loss.** Each speaker pings the peers it watches every
//!   [`HeartbeatConfig::interval`] (200 ms, the gossip interval: a ping and an ack are
//!   ~100-byte datagrams, 10 packets a second per watched peer; 100 ms cost 0.6 % of a core
//!   per idle speaker for no gain that matters beside the 1.3 s bound). A ping from the
//!   watched peer counts as an ack and holds our next heartbeat back
//!   ([`Heartbeats::on_ping_from`]), so of two speakers that watch each other only one
//!   pings: half the datagrams in clusters of up to four speakers. After
//!   [`HeartbeatConfig::miss_window`] without an ack (800 ms: four heartbeats in a row lost)
//!   it confirms, as SWIM does: indirect pings
//!   through other members (Go peers relay them too) and a ping over TCP (retransmitted by
//!   the kernel through a lossy link), while the heartbeats go on. Only when nothing answers
//!   for [`HeartbeatConfig::confirm`] more (500 ms) is the peer dead: a silent node is found
//!   in about 1.3 s instead of v0.1.7's 5 to 6 s.
//!
//! **No false death under load or loss.** With 10 % loss each way, a heartbeat round trip
//! fails with p = 0.19; four in a row, p = 1.3·10⁻³ per heartbeat (a confirmation every few
//! minutes), and then the heartbeats of the confirmation, two indirect paths and a TCP ping
//! (which the kernel retransmits) must all fail too: p ≈ 10⁻⁵ per confirmation. A peer starved of CPU still answers within its scheduler's period
//! (tens of ms). A watcher that was itself starved (its timers ran late by more than
//! [`HeartbeatConfig::stall`]) cannot tell whether acks were lost or merely unread, so it
//! forgets the misses and starts counting again.
//!
//! **Who watches whom.** The ferrolb speakers sorted by name form a ring; each watches the
//! next [`HeartbeatConfig::watchers`] (3) after itself. Every speaker is then watched by three
//! others, and the cost per node stays constant however large the cluster.
//!
//! The verdict goes out as the `dead` message Go's suspicion timer would send (From = the
//! watcher), so Go peers act on it as their own; a peer declared dead by mistake refutes it
//! as it would a wrong suspicion. Pure: time comes in, [`Step`]s go out; the core
//! ([`super::state`]) turns them into packets and connections.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The timers of the detector (see the module docs for why these values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatConfig {
    pub interval: Duration,
    pub miss_window: Duration,
    pub confirm: Duration,
    pub watchers: usize,
    pub stall: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            interval: Duration::from_millis(200),
            miss_window: Duration::from_millis(800),
            confirm: Duration::from_millis(500),
            watchers: 3,
            stall: Duration::from_millis(300),
        }
    }
}

/// Heartbeat sequence numbers have the top bit set, so they never meet the core's probe and
/// relay numbers (which count up from 0: 2³¹ probes would take decades).
pub const SEQ_BIT: u32 = 1 << 31;

pub fn is_heartbeat_seq(seq: u32) -> bool {
    seq & SEQ_BIT != 0
}

/// One peer to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub addr: SocketAddr,
}

/// Why a peer was declared dead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Its memberlist port refused a connection: the process is gone.
    PortRefused,
    /// No ack over UDP, indirect pings or TCP for this long.
    Silent(Duration),
}

/// What the core must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A heartbeat: a `ping` to `node`, not piggybacking any gossip.
    Ping {
        node: String,
        to: SocketAddr,
        seq: u32,
    },
    /// Misses piled up: indirect pings through other members and a TCP ping, all with `seq`,
    /// the TCP one to give up at `deadline`.
    Confirm {
        node: String,
        to: SocketAddr,
        seq: u32,
        deadline: Instant,
    },
    /// Open (and hold) a watch connection; report its end with `id`.
    Watch {
        node: String,
        to: SocketAddr,
        id: u64,
    },
    /// Close the watch connection to `node`, if one is open.
    Unwatch { node: String },
    /// The watch connection ended: dial the port once (a TCP ping with `seq`).
    CheckPort {
        node: String,
        to: SocketAddr,
        seq: u32,
        deadline: Instant,
    },
    /// Declare `node` dead.
    Dead { node: String, cause: Cause },
}

#[derive(Debug, Clone)]
struct Peer {
    to: SocketAddr,
    last_ack: Instant,
    next_ping: Instant,
    confirm_until: Option<Instant>,
    /// The open watch connection's id.
    watch: Option<u64>,
    /// When to (re)open the watch connection, while none is open.
    watch_at: Option<Instant>,
    /// The dials after a watch ended: until when they may go on, and when the next one goes.
    port_check: Option<PortCheck>,
}

#[derive(Debug, Clone, Copy)]
struct PortCheck {
    until: Instant,
    next: Option<Instant>,
}

/// How long to wait before reopening a watch that ended without a verdict.
const REWATCH: Duration = Duration::from_secs(1);
/// The dials after a watch ended: the same budget as a probe's.
pub const PORT_CHECK: Duration = Duration::from_millis(500);
/// The pause between two such dials.
pub const PORT_RETRY: Duration = Duration::from_millis(20);
/// How long a heartbeat waits after a ping from its peer, in intervals (see
/// [`Heartbeats::on_ping_from`]): one and a half.
pub fn heard_hold(interval: Duration) -> Duration {
    interval * 3 / 2
}

/// The detector of one node.
#[derive(Debug)]
pub struct Heartbeats {
    cfg: HeartbeatConfig,
    peers: BTreeMap<String, Peer>,
    /// Outstanding sequence numbers: whose, and until when an answer still counts.
    inflight: HashMap<u32, (String, Instant)>,
    seq: u32,
    next_watch_id: u64,
    last_tick: Option<Instant>,
}

impl Heartbeats {
    pub fn new(cfg: HeartbeatConfig) -> Self {
        Heartbeats {
            cfg,
            peers: BTreeMap::new(),
            inflight: HashMap::new(),
            seq: 0,
            next_watch_id: 0,
            last_tick: None,
        }
    }

    pub fn config(&self) -> &HeartbeatConfig {
        &self.cfg
    }

    /// The peers `me` watches: the next [`HeartbeatConfig::watchers`] names after it in the
    /// sorted ring of `capable` (ferrolb speakers offering the feature, `me` among them).
    pub fn ring_successors<'a>(&self, me: &str, capable: &[&'a str]) -> Vec<&'a str> {
        let mut ring: Vec<&str> = capable.iter().copied().filter(|n| *n != me).collect();
        ring.sort_unstable();
        ring.dedup();
        let k = self.cfg.watchers.min(ring.len());
        let start = ring.partition_point(|n| *n < me);
        (0..k).map(|i| ring[(start + i) % ring.len()]).collect()
    }

    /// Watch exactly `targets` from now on.
    pub fn set_targets(&mut self, now: Instant, targets: &[Target]) -> Vec<Step> {
        let mut out = Vec::new();
        let gone: Vec<String> = self
            .peers
            .iter()
            .filter(|(n, p)| !targets.iter().any(|t| &t.name == *n && t.addr == p.to))
            .map(|(n, _)| n.clone())
            .collect();
        for n in gone {
            self.forget(&n, &mut out);
        }
        for t in targets {
            if self.peers.contains_key(&t.name) {
                continue;
            }
            self.peers.insert(
                t.name.clone(),
                Peer {
                    to: t.addr,
                    last_ack: now,
                    next_ping: now,
                    confirm_until: None,
                    watch: None,
                    watch_at: Some(now),
                    port_check: None,
                },
            );
        }
        out
    }

    fn forget(&mut self, node: &str, out: &mut Vec<Step>) {
        if let Some(p) = self.peers.remove(node)
            && p.watch.is_some()
        {
            out.push(Step::Unwatch {
                node: node.to_string(),
            });
        }
        self.inflight.retain(|_, (n, _)| n != node);
    }

    pub fn watched(&self) -> impl Iterator<Item = &str> {
        self.peers.keys().map(String::as_str)
    }

    fn next_seq(&mut self, node: &str, until: Instant) -> u32 {
        self.seq = self.seq.wrapping_add(1) & !SEQ_BIT;
        let seq = self.seq | SEQ_BIT;
        self.inflight.insert(seq, (node.to_string(), until));
        seq
    }

    /// An ack (over UDP, relayed, or over TCP) with `seq`. Returns whether it was ours.
    pub fn on_ack(&mut self, now: Instant, seq: u32) -> bool {
        let Some((node, _)) = self.inflight.remove(&seq) else {
            return false;
        };
        if let Some(p) = self.peers.get_mut(&node) {
            p.last_ack = now;
            p.confirm_until = None;
            p.port_check = None;
            // A watch that ended while the port still answers (reset by the network, or a
            // peer that would not hold it): try again, but not in a loop.
            if p.watch.is_none() && p.watch_at.is_none() {
                p.watch_at = Some(now + REWATCH);
            }
        }
        true
    }

    /// A ping from `from` (the heartbeat of a peer that watches us too, or one of its
    /// probes): the peer's process is alive and its packets reach us, all an ack of ours would
    /// have said. So it counts as one, and our next heartbeat to that peer waits
    /// [`heard_hold`] (1.5 intervals) from now. Of two peers that watch each other (every pair, in a
    /// cluster of up to four speakers), only one then keeps pinging: the other's heartbeat
    /// is pushed back by each arrival, by more than an interval so that a pinger whose timer
    /// fires a millisecond late does not hand the role back and forth. That halves the
    /// heartbeat traffic; the miss window still counts from the last thing heard, so a peer
    /// that falls silent is found as fast as before.
    pub fn on_ping_from(&mut self, now: Instant, from: SocketAddr) {
        let hold = heard_hold(self.cfg.interval);
        for p in self.peers.values_mut().filter(|p| p.to == from) {
            p.last_ack = now;
            p.confirm_until = None;
            p.next_ping = p.next_ping.max(now + hold);
        }
    }

    /// A TCP ping with `seq` was refused: the peer's process is gone.
    pub fn on_refused(&mut self, seq: u32) -> Vec<Step> {
        let mut out = Vec::new();
        let Some((node, _)) = self.inflight.remove(&seq) else {
            return out;
        };
        if self.peers.contains_key(&node) {
            self.forget(&node, &mut out);
            out.push(Step::Dead {
                node,
                cause: Cause::PortRefused,
            });
        }
        out
    }

    /// A TCP ping with `seq` ended without an ack and without a refusal (timeout, reset).
    pub fn on_unanswered(&mut self, now: Instant, seq: u32) {
        let Some((node, _)) = self.inflight.remove(&seq) else {
            return;
        };
        let Some(p) = self.peers.get_mut(&node) else {
            return;
        };
        if let Some(c) = p.port_check.as_mut() {
            if now + PORT_RETRY < c.until {
                c.next = Some(now + PORT_RETRY);
                return;
            }
            p.port_check = None;
        }
        if p.watch.is_none() && p.watch_at.is_none() {
            p.watch_at = Some(now + REWATCH);
        }
    }

    /// The watch connection `id` to `node` ended (or could not be opened).
    pub fn on_watch_closed(&mut self, now: Instant, node: &str, id: u64) -> Vec<Step> {
        let Some(p) = self.peers.get_mut(node).filter(|p| p.watch == Some(id)) else {
            return Vec::new();
        };
        p.watch = None;
        p.port_check = Some(PortCheck {
            until: now + PORT_CHECK,
            next: Some(now),
        });
        let mut out = Vec::new();
        self.dial_port(now, node, &mut out);
        out
    }

    /// The next dial of a port check that is due.
    fn dial_port(&mut self, now: Instant, node: &str, out: &mut Vec<Step>) {
        let Some(p) = self.peers.get_mut(node) else {
            return;
        };
        let Some(c) = p
            .port_check
            .as_mut()
            .filter(|c| c.next.is_some_and(|t| t <= now))
        else {
            return;
        };
        c.next = None;
        let (to, deadline) = (p.to, c.until);
        let seq = self.next_seq(node, deadline);
        out.push(Step::CheckPort {
            node: node.to_string(),
            to,
            seq,
            deadline,
        });
    }

    /// Runs the timers.
    pub fn tick(&mut self, now: Instant) -> Vec<Step> {
        let mut out = Vec::new();
        let stalled = self
            .last_tick
            .is_some_and(|t| now.saturating_duration_since(t) > self.cfg.stall);
        self.last_tick = Some(now);
        self.inflight.retain(|_, (_, until)| *until > now);
        let names: Vec<String> = self.peers.keys().cloned().collect();
        for node in names {
            let Some(p) = self.peers.get_mut(&node) else {
                continue;
            };
            if stalled {
                // We were not running: the acks may be waiting unread in the socket.
                p.last_ack = now;
                p.confirm_until = None;
            }
            if p.watch_at.is_some_and(|t| t <= now) {
                self.next_watch_id += 1;
                p.watch_at = None;
                p.watch = Some(self.next_watch_id);
                out.push(Step::Watch {
                    node: node.clone(),
                    to: p.to,
                    id: self.next_watch_id,
                });
            }
            self.dial_port(now, &node, &mut out);
            let p = &self.peers[&node];
            let (to, last_ack) = (p.to, p.last_ack);
            if let Some(until) = p.confirm_until {
                if now >= until {
                    self.forget(&node, &mut out);
                    out.push(Step::Dead {
                        node,
                        cause: Cause::Silent(now.saturating_duration_since(last_ack)),
                    });
                    continue;
                }
            } else if now.saturating_duration_since(last_ack) >= self.cfg.miss_window {
                let deadline = now + self.cfg.confirm;
                let seq = self.next_seq(&node, deadline);
                if let Some(p) = self.peers.get_mut(&node) {
                    p.confirm_until = Some(deadline);
                }
                out.push(Step::Confirm {
                    node: node.clone(),
                    to,
                    seq,
                    deadline,
                });
            }
            if self.peers[&node].next_ping <= now {
                let until = now + self.cfg.miss_window + self.cfg.confirm;
                let seq = self.next_seq(&node, until);
                if let Some(p) = self.peers.get_mut(&node) {
                    p.next_ping = now + self.cfg.interval;
                }
                out.push(Step::Ping { node, to, seq });
            }
        }
        out
    }

    /// The earliest instant at which [`Self::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.peers
            .values()
            .flat_map(|p| {
                let miss = p.last_ack + self.cfg.miss_window;
                [
                    Some(p.next_ping),
                    Some(p.confirm_until.unwrap_or(miss)),
                    p.watch_at,
                    p.port_check.and_then(|c| c.next),
                ]
            })
            .flatten()
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, i], 7946))
    }

    fn target(name: &str, i: u8) -> Target {
        Target {
            name: name.into(),
            addr: addr(i),
        }
    }

    /// A detector watching "b" since `t0`.
    fn watching_b(t0: Instant) -> Heartbeats {
        let mut hb = Heartbeats::new(HeartbeatConfig::default());
        hb.set_targets(t0, &[target("b", 2)]);
        hb
    }

    /// [`watching_b`] whose watch connection (id 1) ended at `t0`: the first dial's seq.
    fn closed_watch(t0: Instant) -> (Heartbeats, u32) {
        let mut hb = watching_b(t0);
        hb.tick(t0);
        let steps = hb.on_watch_closed(t0, "b", 1);
        let Some(Step::CheckPort { seq, to, .. }) = steps.first().cloned() else {
            panic!("no dial: {steps:?}")
        };
        assert_eq!(to, addr(2));
        (hb, seq)
    }

    fn pings(steps: &[Step]) -> Vec<u32> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Ping { seq, .. } => Some(*seq),
                _ => None,
            })
            .collect()
    }

    /// Runs `hb` from `t0` for `d` in 10 ms steps, acking every heartbeat when `answer`.
    fn run(hb: &mut Heartbeats, t0: Instant, d: Duration, answer: bool) -> Vec<Step> {
        let mut all = Vec::new();
        let mut t = t0;
        while t < t0 + d {
            t += Duration::from_millis(10);
            let steps = hb.tick(t);
            if answer {
                for s in pings(&steps) {
                    assert!(hb.on_ack(t, s));
                }
            }
            all.extend(steps);
        }
        all
    }

    fn dead(steps: &[Step]) -> Vec<(&str, &Cause)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Dead { node, cause } => Some((node.as_str(), cause)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_node_watches_the_next_three_in_the_ring() {
        let hb = Heartbeats::new(HeartbeatConfig::default());
        let all = ["e", "a", "c", "b", "d"];
        assert_eq!(hb.ring_successors("c", &all), ["d", "e", "a"]);
        assert_eq!(hb.ring_successors("e", &all), ["a", "b", "c"]);
        assert_eq!(hb.ring_successors("a", &["a", "b"]), ["b"]);
        assert!(hb.ring_successors("a", &["a"]).is_empty());
        // Every node is watched by exactly three others.
        for n in all {
            let watchers = all
                .iter()
                .filter(|w| hb.ring_successors(w, &all).contains(&n))
                .count();
            assert_eq!(watchers, 3, "{n}");
        }
    }

    #[test]
    fn a_new_target_is_watched_and_pinged_at_once() {
        let t0 = Instant::now();
        let mut hb = Heartbeats::new(HeartbeatConfig::default());
        assert!(hb.set_targets(t0, &[target("b", 2)]).is_empty());
        let steps = hb.tick(t0);
        assert!(matches!(&steps[0], Step::Watch { node, id: 1, .. } if node == "b"));
        assert!(
            matches!(&steps[1], Step::Ping { node, seq, .. } if node == "b" && is_heartbeat_seq(*seq))
        );
    }

    /// Runs two detectors that watch each other, "a" (at addr 1) and "b" (at addr 2), for
    /// `d` in steps of 10 ms, "b"'s timers `b_late` late: each ping reaches the other side
    /// and is acked at once. Returns how many heartbeats each sent.
    fn run_pair(d: Duration, b_late: Duration) -> (usize, usize, Vec<Step>) {
        let t0 = Instant::now();
        let mut a = watching_b(t0);
        let mut b = Heartbeats::new(HeartbeatConfig::default());
        b.set_targets(t0, &[target("a", 1)]);
        let (mut sent_a, mut sent_b, mut all) = (0, 0, Vec::new());
        let mut t = t0;
        while t < t0 + d {
            let steps = a.tick(t);
            for seq in pings(&steps) {
                sent_a += 1;
                b.on_ping_from(t, addr(1));
                assert!(a.on_ack(t, seq));
            }
            all.extend(steps);
            let tb = t + b_late;
            let steps = b.tick(tb);
            for seq in pings(&steps) {
                sent_b += 1;
                a.on_ping_from(tb, addr(2));
                assert!(b.on_ack(tb, seq));
            }
            all.extend(steps);
            t += Duration::from_millis(10);
        }
        (sent_a, sent_b, all)
    }

    #[test]
    fn of_two_peers_that_watch_each_other_only_one_pings() {
        for late in [0, 1, 5, 9] {
            let (a, b, steps) = run_pair(Duration::from_secs(10), Duration::from_millis(late));
            // One heartbeat per interval in all, not one per interval from each side.
            assert!((49..=52).contains(&(a + b)), "late {late} ms: a {a}, b {b}");
            assert!(
                a.min(b) <= 1,
                "late {late} ms: the role changes hands: a {a}, b {b}"
            );
            assert!(dead(&steps).is_empty());
            assert!(!steps.iter().any(|s| matches!(s, Step::Confirm { .. })));
        }
    }

    #[test]
    fn a_ping_from_the_peer_counts_as_an_ack_and_holds_ours_back() {
        let t0 = Instant::now();
        let mut hb = watching_b(t0);
        assert_eq!(pings(&hb.tick(t0)).len(), 1);
        // "b" pings us every 200 ms for 5 s and never acks: we are not worried, and silent.
        let mut all = Vec::new();
        let mut t = t0;
        while t < t0 + Duration::from_secs(5) {
            t += Duration::from_millis(10);
            if (t - t0).as_millis() % 200 == 0 {
                hb.on_ping_from(t, addr(2));
            }
            // A ping from anyone else says nothing of "b".
            hb.on_ping_from(t, addr(3));
            all.extend(hb.tick(t));
        }
        assert!(pings(&all).is_empty(), "{all:?}");
        assert!(dead(&all).is_empty() && !all.iter().any(|s| matches!(s, Step::Confirm { .. })));
    }

    #[test]
    fn a_peer_that_stops_pinging_is_pinged_again_and_found_as_fast() {
        let t0 = Instant::now();
        let mut hb = watching_b(t0);
        hb.tick(t0);
        let t1 = t0 + Duration::from_millis(100);
        hb.on_ping_from(t1, addr(2));
        // Then nothing from "b": our heartbeats resume 1.5 intervals after its last ping,
        // and the verdict comes miss window + confirm after it, as after a last ack.
        let (mut first_ping, mut verdict, mut deaths) = (None, None, 0);
        let mut t = t1;
        while t < t1 + Duration::from_secs(3) {
            t += Duration::from_millis(10);
            let steps = hb.tick(t);
            if first_ping.is_none() && !pings(&steps).is_empty() {
                first_ping = Some(t - t1);
            }
            if !dead(&steps).is_empty() {
                verdict = verdict.or(Some(t - t1));
                deaths += 1;
            }
        }
        let cfg = HeartbeatConfig::default();
        assert_eq!(first_ping, Some(heard_hold(cfg.interval)));
        assert_eq!(verdict, Some(cfg.miss_window + cfg.confirm));
        assert_eq!(deaths, 1);
    }

    #[test]
    fn a_peer_that_acks_is_never_declared_dead() {
        let t0 = Instant::now();
        let mut hb = watching_b(t0);
        let steps = run(&mut hb, t0, Duration::from_secs(10), true);
        assert!(dead(&steps).is_empty());
        assert!(!steps.iter().any(|s| matches!(s, Step::Confirm { .. })));
        // 10 s at 200 ms: one heartbeat per interval, no more.
        assert_eq!(pings(&steps).len(), 50);
    }

    #[test]
    fn a_silent_peer_is_confirmed_then_dead_after_miss_window_plus_confirm() {
        let t0 = Instant::now();
        let mut hb = watching_b(t0);
        let steps = run(&mut hb, t0, Duration::from_millis(1290), false);
        assert!(dead(&steps).is_empty());
        let confirm = steps.iter().position(|s| matches!(s, Step::Confirm { .. }));
        assert!(confirm.is_some(), "confirm step after 800 ms");
        let steps = run(
            &mut hb,
            t0 + Duration::from_millis(1290),
            Duration::from_millis(20),
            false,
        );
        assert_eq!(
            dead(&steps),
            [("b", &Cause::Silent(Duration::from_millis(1300)))]
        );
        // Forgotten: no more heartbeats to a dead peer.
        assert!(hb.tick(t0 + Duration::from_secs(3)).is_empty());
    }

    #[test]
    fn an_ack_during_the_confirmation_saves_the_peer() {
        let t0 = Instant::now();
        let mut hb = watching_b(t0);
        let steps = run(&mut hb, t0, Duration::from_millis(900), false);
        let seq = steps
            .iter()
            .find_map(|s| match s {
                Step::Confirm { seq, .. } => Some(*seq),
                _ => None,
            })
            .expect("confirming");
        // The relayed (indirect) ack arrives.
        assert!(hb.on_ack(t0 + Duration::from_millis(950), seq));
        let steps = run(
            &mut hb,
            t0 + Duration::from_millis(950),
            Duration::from_millis(500),
            true,
        );
        assert!(dead(&steps).is_empty());
    }

    #[test]
    fn a_late_ack_for_an_old_heartbeat_still_counts() {
        let t0 = Instant::now();
        let mut hb = watching_b(t0);
        let first = pings(&hb.tick(t0))[0];
        run(&mut hb, t0, Duration::from_millis(1000), false);
        assert!(hb.on_ack(t0 + Duration::from_millis(1000), first));
        let steps = run(
            &mut hb,
            t0 + Duration::from_millis(1000),
            Duration::from_millis(400),
            true,
        );
        assert!(dead(&steps).is_empty());
    }

    #[test]
    fn a_watcher_that_did_not_run_forgets_its_misses() {
        let t0 = Instant::now();
        let mut hb = watching_b(t0);
        hb.tick(t0);
        // Starved for 2 s: the acks may be sitting unread in the socket.
        let steps = hb.tick(t0 + Duration::from_secs(2));
        assert!(dead(&steps).is_empty());
        assert!(!steps.iter().any(|s| matches!(s, Step::Confirm { .. })));
    }

    #[test]
    fn a_closed_watch_then_a_refused_dial_is_death_at_once() {
        let t0 = Instant::now();
        let (mut hb, seq) = closed_watch(t0);
        assert_eq!(
            hb.on_refused(seq),
            [Step::Dead {
                node: "b".into(),
                cause: Cause::PortRefused
            }]
        );
        assert!(hb.watched().next().is_none());
    }

    #[test]
    fn a_closed_watch_to_a_live_port_is_reopened() {
        let t0 = Instant::now();
        let (mut hb, seq) = closed_watch(t0);
        // A stale close of an older connection changes nothing.
        assert!(hb.on_watch_closed(t0, "b", 1).is_empty());
        assert!(hb.on_ack(t0 + Duration::from_millis(1), seq));
        let steps = hb.tick(t0 + Duration::from_millis(10));
        assert!(
            !steps.iter().any(|s| matches!(s, Step::Watch { .. })),
            "not in a loop"
        );
        let steps = hb.tick(t0 + REWATCH + Duration::from_millis(10));
        assert!(steps.iter().any(|s| matches!(s, Step::Watch { id: 2, .. })));
    }

    #[test]
    fn a_dial_that_a_dying_process_resets_is_repeated_until_refused() {
        let t0 = Instant::now();
        let (mut hb, seq) = closed_watch(t0);
        // Its listener still accepted, then the exit reset the connection.
        let t1 = t0 + Duration::from_millis(2);
        hb.on_unanswered(t1, seq);
        assert_eq!(hb.next_deadline(), Some(t1 + PORT_RETRY));
        let steps = hb.tick(t1 + PORT_RETRY);
        let Some(Step::CheckPort { seq, .. }) = steps
            .iter()
            .find(|s| matches!(s, Step::CheckPort { .. }))
            .cloned()
        else {
            panic!("{steps:?}")
        };
        assert_eq!(
            hb.on_refused(seq),
            [Step::Dead {
                node: "b".into(),
                cause: Cause::PortRefused
            }]
        );
    }

    #[test]
    fn a_dial_that_times_out_decides_nothing_and_retries_the_watch_later() {
        let t0 = Instant::now();
        let (mut hb, seq) = closed_watch(t0);
        hb.on_unanswered(t0 + PORT_CHECK, seq);
        assert!(
            hb.on_refused(seq).is_empty(),
            "a late refusal of a finished dial"
        );
        let t = t0 + PORT_CHECK + REWATCH;
        assert!(hb.tick(t).iter().any(|s| matches!(s, Step::Watch { .. })));
    }

    #[test]
    fn a_target_dropped_from_the_ring_is_unwatched() {
        let t0 = Instant::now();
        let mut hb = Heartbeats::new(HeartbeatConfig::default());
        hb.set_targets(t0, &[target("b", 2), target("c", 3)]);
        hb.tick(t0);
        let steps = hb.set_targets(t0, &[target("c", 3)]);
        assert_eq!(steps, [Step::Unwatch { node: "b".into() }]);
        assert_eq!(hb.watched().collect::<Vec<_>>(), ["c"]);
    }
}
