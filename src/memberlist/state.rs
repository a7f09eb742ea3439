//! The sans-IO SWIM core of memberlist v0.1.7 (state.go, suspicion.go, awareness.go,
//! queue.go), configured as MetalLB v0.9 configures it (spec §4.3).
//!
//! Input: decoded packets and stream messages with the time they arrived, and `tick(now)`.
//! Output: [`Action`]s (UDP payloads and push/pull exchanges, in plaintext — the shell seals
//! them when a key is set) and [`Event`]s (join/leave/update), drained by the caller.
//! Randomness (probe order, gossip targets) comes from a seeded generator so tests replay.
//!
//! Differences from the Go library, none visible on the wire: a malformed packet is dropped
//! whole; protocol-version negotiation (`verifyProtocol`) is not checked because every peer
//! speaks `[1,5,2,0,0,0]`; a probe that reached its node over the TCP fallback ends at the
//! probe deadline rather than as soon as the TCP ack arrives (same outcome); a probe whose
//! TCP fallback is refused (the node's memberlist process is gone) declares the node dead at
//! once, with the `dead` message Go's suspicion timer would send later
//! ([`Memberlist::handle_tcp_ping_refused`], docs/differences.md).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::heartbeat::{self, Cause, HeartbeatConfig, Heartbeats, Step, Target};
use super::meta::{self, Feature};
use super::security::ENCRYPT_OVERHEAD_V1;
use super::wire::{
    Accusation, Ack, Alive, IndirectPing, Message, Nack, Ping, PushNodeState, PushPull,
    StreamMessage, WireError, add_crc, compress_payload, encode_watch, make_compound,
    unpack_packet,
};

/// pmin, pmax, pcur, dmin, dmax, dcur: protocol 1..=5 speaking 2, no delegate (MetalLB).
pub const VSN: [u8; 6] = [1, 5, 2, 0, 0, 0];
const COMPOUND_HEADER_OVERHEAD: usize = 2;
const COMPOUND_OVERHEAD: usize = 2;
const PUSH_PULL_SCALE_THRESHOLD: usize = 32;

/// `DefaultLANConfig` plus MetalLB's name and bind address (spec §4.3).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub name: String,
    /// Bind and advertise address.
    pub addr: IpAddr,
    /// Bind and advertise port (7946).
    pub port: u16,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    pub suspicion_mult: u32,
    pub suspicion_max_timeout_mult: u32,
    pub indirect_checks: usize,
    pub retransmit_mult: usize,
    pub gossip_interval: Duration,
    pub gossip_nodes: usize,
    pub gossip_to_the_dead_time: Duration,
    pub push_pull_interval: Duration,
    pub awareness_max_multiplier: i64,
    pub udp_buffer_size: usize,
    pub enable_compression: bool,
    /// Whether a key is set (the shell seals); budgets leave room for the overhead.
    pub encryption_enabled: bool,
    /// The incarnation the local node starts alive with. Go starts at 1 (`Config::metallb`
    /// too). The network shell starts at the wall clock's seconds instead, so a node that
    /// restarts under the same name outranks what its peers remember of its previous life
    /// (alive, suspect, dead or left at a small incarnation): the peers take it back as alive
    /// on the join's push/pull itself, instead of only after it has refuted the stale `dead`
    /// it learns there and gossiped the refutation. Any incarnation is valid on the wire.
    pub first_incarnation: u32,
    /// The node meta we advertise (`alive`, push/pull); v0.9 speakers send none.
    pub meta: Option<Vec<u8>>,
    /// Watch connections and heartbeats to other ferrolb speakers ([`heartbeat`]); `None`:
    /// v0.1.7's failure detection only.
    pub heartbeat: Option<HeartbeatConfig>,
}

impl Config {
    pub fn metallb(name: &str, addr: IpAddr, encryption_enabled: bool) -> Self {
        Config {
            name: name.to_string(),
            addr,
            port: 7946,
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            indirect_checks: 3,
            retransmit_mult: 4,
            gossip_interval: Duration::from_millis(200),
            gossip_nodes: 3,
            gossip_to_the_dead_time: Duration::from_secs(30),
            push_pull_interval: Duration::from_secs(30),
            awareness_max_multiplier: 8,
            udp_buffer_size: 1400,
            enable_compression: true,
            encryption_enabled,
            first_incarnation: 1,
            meta: None,
            heartbeat: None,
        }
    }

    /// [`Self::metallb`] plus ferrolb's fast failure detection, advertised in the node meta.
    pub fn ferrolb(name: &str, addr: IpAddr, encryption_enabled: bool) -> Self {
        Config {
            meta: Some(meta::NodeMeta::ours(&[Feature::Watch]).encode()),
            heartbeat: Some(HeartbeatConfig::default()),
            ..Config::metallb(name, addr, encryption_enabled)
        }
    }

    fn addr_bytes(&self) -> Vec<u8> {
        match self.addr {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    Alive,
    Suspect,
    Dead,
    Left,
}

impl MemberState {
    fn wire(self) -> i64 {
        match self {
            MemberState::Alive => 0,
            MemberState::Suspect => 1,
            MemberState::Dead => 2,
            MemberState::Left => 3,
        }
    }

    pub fn dead_or_left(self) -> bool {
        matches!(self, MemberState::Dead | MemberState::Left)
    }
}

/// What we know about one node (`nodeState`).
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub name: String,
    /// Raw address bytes as advertised (4 for IPv4, 16 for IPv6).
    pub addr: Vec<u8>,
    pub port: u16,
    pub meta: Option<Vec<u8>>,
    pub vsn: [u8; 6],
    pub incarnation: u32,
    pub state: MemberState,
    pub state_change: Instant,
}

impl Member {
    pub fn ip(&self) -> Option<IpAddr> {
        match self.addr.len() {
            4 => Some(IpAddr::from(<[u8; 4]>::try_from(&self.addr[..]).ok()?)),
            16 => Some(IpAddr::from(<[u8; 16]>::try_from(&self.addr[..]).ok()?)),
            _ => None,
        }
    }

    pub fn socket_addr(&self) -> Option<SocketAddr> {
        Some(SocketAddr::new(self.ip()?, self.port))
    }

    fn pmax(&self) -> u8 {
        self.vsn[1]
    }
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send one UDP datagram (plaintext: seal it first when a key is set).
    SendPacket { to: SocketAddr, payload: Vec<u8> },
    /// Open a TCP connection, send `payload` (a stream message, plaintext), read the peer's
    /// reply and pass it to [`Memberlist::handle_push_pull_reply`].
    PushPull {
        to: SocketAddr,
        join: bool,
        payload: Vec<u8>,
    },
    /// The TCP fallback of a failing probe (nodes speaking protocol >= 3): connect, send
    /// `payload` (a stream message, plaintext), read one stream message back before
    /// `deadline` and pass it (or `None` on any failure) to [`Memberlist::handle_tcp_ping_reply`];
    /// a refused connection goes to [`Memberlist::handle_tcp_ping_refused`] instead.
    TcpPing {
        to: SocketAddr,
        seq: u32,
        payload: Vec<u8>,
        deadline: Instant,
    },
    /// Open a TCP connection to `to`, write `payload` (the watch request, plaintext) and hold
    /// the connection until it ends; then call [`Memberlist::handle_watch_closed`] with
    /// `node` and `id`. A new `Watch` for the same node replaces the old connection.
    Watch {
        node: String,
        to: SocketAddr,
        id: u64,
        payload: Vec<u8>,
    },
    /// Close the watch connection to `node`, without reporting it.
    Unwatch { node: String },
}

/// Membership changes, as memberlist's `EventDelegate` reports them.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Join(Member),
    Leave(Member),
    Update(Member),
}

#[derive(Debug, Clone)]
struct Broadcast {
    node: String,
    msg: Vec<u8>,
    transmits: usize,
    id: u64,
    is_leave: bool,
}

#[derive(Debug, Clone)]
struct Probe {
    node: String,
    incarnation: u32,
    seq: u32,
    timeout_at: Instant,
    deadline: Instant,
    indirect_sent: bool,
    expected_nacks: usize,
    nacks: usize,
    tcp_contacted: bool,
}

#[derive(Debug, Clone)]
struct Relay {
    to: SocketAddr,
    seq: u32,
    nack: bool,
    expires: Instant,
}

#[derive(Debug, Clone)]
struct Suspicion {
    k: u32,
    n: u32,
    min: Duration,
    max: Duration,
    start: Instant,
    fire_at: Instant,
    confirmations: HashSet<String>,
    change_time: Instant,
}

/// `suspicionTimeout`: mult × max(1, log10(n)) × interval, with Go's millisecond rounding.
pub fn suspicion_timeout(mult: u32, n: usize, interval: Duration) -> Duration {
    let scale = (n.max(1) as f64).log10().max(1.0);
    let nanos = u128::from(mult) * ((scale * 1000.0) as u128) * interval.as_nanos() / 1000;
    Duration::from_nanos(nanos as u64)
}

/// `retransmitLimit`: mult × ceil(log10(n + 1)).
pub fn retransmit_limit(mult: usize, n: usize) -> usize {
    mult * ((n as f64 + 1.0).log10().ceil() as usize)
}

/// `remainingSuspicionTime`; negative results mean "already due" (`None`).
pub fn remaining_suspicion_time(
    n: u32,
    k: u32,
    elapsed: Duration,
    min: Duration,
    max: Duration,
) -> Option<Duration> {
    let frac = (f64::from(n) + 1.0).ln() / (f64::from(k) + 1.0).ln();
    let raw = max.as_secs_f64() - frac * (max.as_secs_f64() - min.as_secs_f64());
    let timeout = Duration::from_millis((1000.0 * raw).floor().max(0.0) as u64).max(min);
    timeout.checked_sub(elapsed).filter(|d| !d.is_zero())
}

fn push_pull_scale(interval: Duration, n: usize) -> Duration {
    if n <= PUSH_PULL_SCALE_THRESHOLD {
        return interval;
    }
    let mult = ((n as f64).log2() - (PUSH_PULL_SCALE_THRESHOLD as f64).log2()).ceil() + 1.0;
    interval * mult as u32
}

/// splitmix64: enough for shuffles and random picks, seeded by the shell.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn within(&mut self, d: Duration) -> Duration {
        Duration::from_nanos(self.next() % (d.as_nanos().max(1) as u64))
    }
}

/// One memberlist instance.
#[derive(Debug)]
pub struct Memberlist {
    cfg: Config,
    nodes: Vec<Member>,
    probe_index: usize,
    seq_no: u32,
    incarnation: u32,
    awareness: i64,
    queue: Vec<Broadcast>,
    next_broadcast_id: u64,
    probe: Option<Probe>,
    relays: HashMap<u32, Relay>,
    suspicions: HashMap<String, Suspicion>,
    next_probe: Instant,
    next_gossip: Instant,
    next_push_pull: Instant,
    left: bool,
    leave_broadcast_done: bool,
    rng: Rng,
    events: Vec<Event>,
    logs: Vec<String>,
    heartbeats: Option<Heartbeats>,
    /// A member joined, left or changed its meta since the watch targets were chosen.
    ring_stale: bool,
}

impl Memberlist {
    /// `Create`: the local node becomes alive with incarnation [`Config::first_incarnation`]
    /// (Go: 1), which reports a Join of itself, as Go does.
    pub fn new(cfg: Config, now: Instant, seed: u64) -> Self {
        let mut rng = Rng(seed);
        let first_incarnation = cfg.first_incarnation.max(1);
        let next_probe = now + rng.within(cfg.probe_interval);
        let next_gossip = now + rng.within(cfg.gossip_interval);
        let next_push_pull = now + rng.within(cfg.push_pull_interval);
        let mut m = Memberlist {
            cfg,
            nodes: Vec::new(),
            probe_index: 0,
            seq_no: 0,
            incarnation: first_incarnation - 1,
            awareness: 0,
            queue: Vec::new(),
            next_broadcast_id: 0,
            probe: None,
            relays: HashMap::new(),
            suspicions: HashMap::new(),
            next_probe,
            next_gossip,
            next_push_pull,
            left: false,
            leave_broadcast_done: false,
            rng,
            events: Vec::new(),
            logs: Vec::new(),
            heartbeats: None,
            ring_stale: true,
        };
        m.heartbeats = m.cfg.heartbeat.clone().map(Heartbeats::new);
        let a = Alive {
            incarnation: m.next_incarnation(),
            node: m.cfg.name.clone(),
            addr: m.cfg.addr_bytes(),
            port: m.cfg.port,
            meta: m.cfg.meta.clone(),
            vsn: VSN.to_vec(),
        };
        m.alive_node(now, a, true);
        m
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Every node we know, in probe order (dead and left ones included).
    pub fn nodes(&self) -> &[Member] {
        &self.nodes
    }

    /// `Members()`: nodes that are not dead or left; suspect ones count as alive.
    pub fn members(&self) -> Vec<&Member> {
        self.nodes
            .iter()
            .filter(|n| !n.state.dead_or_left())
            .collect()
    }

    pub fn health_score(&self) -> i64 {
        self.awareness
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// memberlist's log lines since the last call, with v0.1.7's texts (`[INFO] memberlist:
    /// Suspect … has failed, no acks received`…), without the timestamp Go's logger adds.
    pub fn take_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.logs)
    }

    fn log(&mut self, line: String) {
        self.logs.push(line);
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq_no = self.seq_no.wrapping_add(1);
        self.seq_no
    }

    fn next_incarnation(&mut self) -> u32 {
        self.incarnation = self.incarnation.wrapping_add(1);
        self.incarnation
    }

    fn apply_awareness(&mut self, delta: i64) {
        self.awareness = (self.awareness + delta).clamp(0, self.cfg.awareness_max_multiplier - 1);
    }

    /// `Join`: one push/pull (join = true) per address; the shell counts the successes.
    pub fn join(&mut self, addrs: &[SocketAddr]) -> Vec<Action> {
        let payload = self.local_state(true);
        addrs
            .iter()
            .map(|a| Action::PushPull {
                to: *a,
                join: true,
                payload: payload.clone(),
            })
            .collect()
    }

    /// `Leave`: broadcast our own death (From = ourselves, i.e. "left"). Keep ticking until
    /// [`Self::leave_finished`] or the timeout (MetalLB: 1 s).
    pub fn leave(&mut self, now: Instant) {
        if self.left {
            return;
        }
        self.left = true;
        if let Some(i) = self.find(&self.cfg.name) {
            let d = Accusation {
                incarnation: self.nodes[i].incarnation,
                node: self.cfg.name.clone(),
                from: self.cfg.name.clone(),
            };
            self.dead_node(now, d);
        }
    }

    /// [`Self::leave`], then the dead-about-ourselves message sent at once, as one packet, to
    /// every member not known dead or left, instead of waiting for the next gossip round to
    /// pick up to 3 of them. On the wire this is an ordinary `dead` packet (Go handles it like
    /// a gossiped one: From = Node means "left"); the gossip queue still retransmits it as Go
    /// does, so a lost packet costs nothing. This is what makes a graceful handover take one
    /// packet's flight instead of up to a gossip interval per hop.
    pub fn announce_leave(&mut self, now: Instant) -> Vec<Action> {
        let was_left = self.left;
        self.leave(now);
        let mut out = Vec::new();
        if was_left {
            return out;
        }
        let Some(me) = self.find(&self.cfg.name).map(|i| self.nodes[i].clone()) else {
            return out;
        };
        let dead = Message::Dead(Accusation {
            incarnation: me.incarnation,
            node: me.name.clone(),
            from: me.name.clone(),
        })
        .encode();
        self.send_to_live_members(&dead, &mut out);
        out
    }

    /// One datagram of `msg` to every member but us not known dead or left.
    fn send_to_live_members(&mut self, msg: &[u8], out: &mut Vec<Action>) {
        let targets: Vec<(SocketAddr, u8)> = self
            .nodes
            .iter()
            .filter(|n| n.name != self.cfg.name && !n.state.dead_or_left())
            .filter_map(|n| Some((n.socket_addr()?, n.pmax())))
            .collect();
        for (addr, pmax) in targets {
            self.raw_send(addr, Some(pmax), msg.to_vec(), out);
        }
    }

    /// The leave broadcast went out its full retransmit count (or nobody else is alive).
    pub fn leave_finished(&self) -> bool {
        self.leave_broadcast_done
            || !self
                .nodes
                .iter()
                .any(|n| n.name != self.cfg.name && !n.state.dead_or_left())
    }

    /// The earliest instant at which `tick` has something to do.
    pub fn next_deadline(&self) -> Instant {
        let mut t = self.next_gossip.min(self.next_push_pull);
        match &self.probe {
            None => t = t.min(self.next_probe),
            Some(p) => {
                t = t.min(if p.indirect_sent {
                    p.deadline
                } else {
                    p.timeout_at
                })
            }
        }
        for r in self.relays.values() {
            t = t.min(r.expires);
        }
        for s in self.suspicions.values() {
            t = t.min(s.fire_at);
        }
        if let Some(h) = self.heartbeats.as_ref().and_then(Heartbeats::next_deadline) {
            t = t.min(h);
        }
        t
    }

    /// A plaintext UDP payload that arrived from `from`.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        payload: &[u8],
    ) -> Result<Vec<Action>, WireError> {
        let msgs = unpack_packet(payload)?;
        let mut out = Vec::new();
        for m in msgs {
            self.handle_message(now, from, m, &mut out);
        }
        Ok(out)
    }

    fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: Message,
        out: &mut Vec<Action>,
    ) {
        match msg {
            Message::Ping(p) => {
                if !p.node.is_empty() && p.node != self.cfg.name {
                    self.log(format!(
                        "[WARN] memberlist: Got ping for unexpected node '{}' from={from}",
                        p.node
                    ));
                    return;
                }
                if let Some(h) = self.heartbeats.as_mut() {
                    h.on_ping_from(now, from);
                }
                let ack = Message::Ack(Ack {
                    seq_no: p.seq_no,
                    payload: None,
                })
                .encode();
                self.send_msg(from, ack, out);
            }
            Message::IndirectPing(ind) => {
                let port = if ind.port == 0 {
                    self.cfg.port
                } else {
                    ind.port
                };
                let Some(target) = ip_from_bytes(&ind.target) else {
                    return;
                };
                let seq = self.next_seq();
                self.relays.insert(
                    seq,
                    Relay {
                        to: from,
                        seq: ind.seq_no,
                        nack: ind.nack,
                        expires: now + self.cfg.probe_timeout,
                    },
                );
                let ping = Message::Ping(Ping {
                    seq_no: seq,
                    node: ind.node,
                })
                .encode();
                self.send_msg(SocketAddr::new(target, port), ping, out);
            }
            Message::Ack(a) => {
                if let Some(r) = self.relays.remove(&a.seq_no) {
                    let ack = Message::Ack(Ack {
                        seq_no: r.seq,
                        payload: None,
                    })
                    .encode();
                    self.send_msg(r.to, ack, out);
                } else if self.probe.as_ref().is_some_and(|p| p.seq == a.seq_no) {
                    self.probe = None;
                    self.apply_awareness(-1);
                } else if let Some(h) = self.heartbeats.as_mut() {
                    h.on_ack(now, a.seq_no);
                }
            }
            Message::Nack(n) => {
                if let Some(p) = self.probe.as_mut().filter(|p| p.seq == n.seq_no) {
                    p.nacks += 1;
                }
            }
            Message::Alive(mut a) => {
                if a.port == 0 {
                    a.port = self.cfg.port;
                }
                self.alive_node(now, a, false);
            }
            Message::Suspect(s) => self.suspect_node(now, s),
            Message::Dead(d) => self.dead_node(now, d),
            Message::User(_) | Message::Err(_) => {}
        }
    }

    /// A stream (TCP) message from a peer that connected to us; returns the plaintext reply
    /// to write back (a push/pull with our state, or an ack).
    pub fn handle_stream(&mut self, now: Instant, msg: StreamMessage) -> Option<Vec<u8>> {
        match msg {
            StreamMessage::PushPull(pp) => {
                let reply = self.local_state(pp.join);
                self.merge_state(now, pp.nodes);
                // Broadcasts from the merge go out with gossip; the queue already holds them.
                Some(reply)
            }
            StreamMessage::Ping(p) => {
                if !p.node.is_empty() && p.node != self.cfg.name {
                    return None;
                }
                Some(
                    self.stream_payload(
                        Message::Ack(Ack {
                            seq_no: p.seq_no,
                            payload: None,
                        })
                        .encode(),
                    ),
                )
            }
            // The shell holds a watch itself; it never reaches the core.
            StreamMessage::Ack(_)
            | StreamMessage::Err(_)
            | StreamMessage::User(_)
            | StreamMessage::Watch(_) => None,
        }
    }

    /// The outcome of an [`Action::TcpPing`]: the message read back, or `None`. An ack with
    /// the probe's sequence number counts as contact, as in Go's `sendPingAndWaitForAck`.
    pub fn handle_tcp_ping_reply(&mut self, now: Instant, seq: u32, reply: Option<StreamMessage>) {
        if heartbeat::is_heartbeat_seq(seq) {
            if let Some(h) = self.heartbeats.as_mut() {
                match reply {
                    Some(StreamMessage::Ack(a)) if a.seq_no == seq => {
                        h.on_ack(now, seq);
                    }
                    _ => h.on_unanswered(now, seq),
                }
            }
            return;
        }
        if let (Some(p), Some(StreamMessage::Ack(a))) = (self.probe.as_mut(), reply)
            && p.seq == seq
            && a.seq_no == seq
        {
            p.tcp_contacted = true;
        }
    }

    /// The TCP fallback of probe `seq` was refused (connection refused: the target's host
    /// answered, but nothing listens on its memberlist port, so its memberlist process is
    /// gone — a crash, SIGKILL or OOM kill). Go v0.1.7 would still wait for the end of the
    /// probe interval, then for the suspicion timeout (4 s with 3 members) before it declares
    /// the node dead; ferrolb declares it dead at once and gossips the same `dead` message
    /// Go's suspicion timer would have sent, which Go peers accept as theirs. A node that is
    /// in fact alive hears the accusation and refutes it with a higher incarnation, as it
    /// would a wrong suspicion; a probe that already reached the node over TCP, or a refusal
    /// that arrives after its probe ended, changes nothing. (Refusals need a live host: a cut
    /// link or a powered-off host still takes the SWIM path.)
    /// Heartbeat dials ([`heartbeat`]) that are refused end the same way.
    pub fn handle_tcp_ping_refused(&mut self, now: Instant, seq: u32) -> Vec<Action> {
        let mut out = Vec::new();
        if heartbeat::is_heartbeat_seq(seq) {
            let steps = self
                .heartbeats
                .as_mut()
                .map(|h| h.on_refused(seq))
                .unwrap_or_default();
            self.perform_steps(now, steps, &mut out);
            return out;
        }
        let Some(p) = self.probe.clone() else {
            return out;
        };
        if p.seq != seq || p.tcp_contacted {
            return out;
        }
        self.probe = None;
        let line = format!(
            "[INFO] memberlist: Marking {} as failed, its TCP port refused the probe",
            p.node
        );
        self.declare_dead(now, &p.node, p.incarnation, line, &mut out);
        out
    }

    /// The watch connection `id` to `node` ended ([`Action::Watch`]).
    pub fn handle_watch_closed(&mut self, now: Instant, node: &str, id: u64) -> Vec<Action> {
        let mut out = Vec::new();
        let steps = self
            .heartbeats
            .as_mut()
            .map(|h| h.on_watch_closed(now, node, id))
            .unwrap_or_default();
        self.perform_steps(now, steps, &mut out);
        out
    }

    /// We found `node` dead ourselves: mark it, gossip the `dead` message Go's suspicion timer
    /// would send (From = us), and send that message at once to every other live member as
    /// well, so the next owner hears of it in one packet flight rather than after gossip
    /// rounds (Go peers handle a direct copy as a gossiped one).
    fn declare_dead(
        &mut self,
        now: Instant,
        node: &str,
        incarnation: u32,
        line: String,
        out: &mut Vec<Action>,
    ) {
        let Some(idx) = self.find(node) else { return };
        if self.nodes[idx].state.dead_or_left() || node == self.cfg.name {
            return;
        }
        self.log(line);
        let d = Accusation {
            incarnation: incarnation.max(self.nodes[idx].incarnation),
            node: node.to_string(),
            from: self.cfg.name.clone(),
        };
        let msg = Message::Dead(d.clone()).encode();
        self.dead_node(now, d);
        // `node` is dead now: it is not among the live members.
        self.send_to_live_members(&msg, out);
    }

    /// Re-chooses the watched peers when membership changed, then runs the detector's timers.
    fn tick_heartbeats(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(h) = self.heartbeats.as_mut() else {
            return;
        };
        let mut steps = Vec::new();
        if self.ring_stale {
            self.ring_stale = false;
            let capable: Vec<&str> = self
                .nodes
                .iter()
                .filter(|n| {
                    !n.state.dead_or_left()
                        && (n.name == self.cfg.name
                            || meta::supports(n.meta.as_deref(), Feature::Watch))
                })
                .map(|n| n.name.as_str())
                .collect();
            let targets: Vec<Target> = h
                .ring_successors(&self.cfg.name, &capable)
                .into_iter()
                .filter_map(|name| {
                    let n = self.nodes.iter().find(|n| n.name == name)?;
                    Some(Target {
                        name: name.to_string(),
                        addr: n.socket_addr()?,
                    })
                })
                .collect();
            steps.extend(h.set_targets(now, &targets));
        }
        steps.extend(h.tick(now));
        self.perform_steps(now, steps, out);
    }

    fn perform_steps(&mut self, now: Instant, steps: Vec<Step>, out: &mut Vec<Action>) {
        for step in steps {
            match step {
                Step::Ping { node, to, seq } => {
                    // Not through send_msg: heartbeats must not use up the gossip queue's
                    // transmits on ferrolb peers, or Go peers would hear less of it. Not
                    // through raw_send either: LZW never shortens a 30-byte ping.
                    let payload = Message::Ping(Ping { seq_no: seq, node }).encode();
                    out.push(Action::SendPacket { to, payload });
                }
                Step::Confirm {
                    node,
                    to,
                    seq,
                    deadline,
                } => self.confirm_silent(node, to, seq, deadline, out),
                Step::Watch { node, to, id } => out.push(Action::Watch {
                    payload: encode_watch(&node),
                    node,
                    to,
                    id,
                }),
                Step::Unwatch { node } => out.push(Action::Unwatch { node }),
                Step::CheckPort {
                    node,
                    to,
                    seq,
                    deadline,
                } => {
                    let ping = Message::Ping(Ping { seq_no: seq, node }).encode();
                    out.push(Action::TcpPing {
                        to,
                        seq,
                        payload: self.stream_payload(ping),
                        deadline,
                    });
                }
                Step::Dead { node, cause } => {
                    let Some(inc) = self.find(&node).map(|i| self.nodes[i].incarnation) else {
                        continue;
                    };
                    let line = match cause {
                        Cause::PortRefused => format!(
                            "[INFO] memberlist: Marking {node} as failed, its watch connection closed and its TCP port refused"
                        ),
                        Cause::Silent(d) => format!(
                            "[INFO] memberlist: Marking {node} as failed, no heartbeat ack for {} ms, nor an indirect or TCP ack",
                            d.as_millis()
                        ),
                    };
                    self.declare_dead(now, &node, inc, line, out);
                }
            }
        }
    }

    /// SWIM's confirmation of a silent peer: indirect pings through up to `indirect_checks`
    /// other live members, and a ping over TCP, all answered with `seq`.
    fn confirm_silent(
        &mut self,
        node: String,
        to: SocketAddr,
        seq: u32,
        deadline: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(target) = self.find(&node).map(|i| self.nodes[i].clone()) else {
            return;
        };
        self.log(format!(
            "[DEBUG] memberlist: Failed heartbeats: {node}, confirming through other members"
        ));
        let me = self.cfg.name.clone();
        let relays = self.k_random(self.cfg.indirect_checks, |n| {
            n.name == me || n.name == node || n.state != MemberState::Alive
        });
        for i in relays {
            let relay = self.nodes[i].clone();
            let ind = Message::IndirectPing(IndirectPing {
                seq_no: seq,
                target: target.addr.clone(),
                port: target.port,
                node: node.clone(),
                nack: false,
            })
            .encode();
            if let Some(a) = relay.socket_addr() {
                self.raw_send(a, Some(relay.pmax()), ind, out);
            }
        }
        let ping = Message::Ping(Ping { seq_no: seq, node }).encode();
        out.push(Action::TcpPing {
            to,
            seq,
            payload: self.stream_payload(ping),
            deadline,
        });
    }

    /// The peer's answer to one of our [`Action::PushPull`]s.
    pub fn handle_push_pull_reply(
        &mut self,
        now: Instant,
        msg: StreamMessage,
    ) -> Result<(), String> {
        match msg {
            StreamMessage::PushPull(pp) => {
                self.merge_state(now, pp.nodes);
                Ok(())
            }
            StreamMessage::Err(e) => Err(format!("remote error: {}", e.error)),
            _ => Err("received invalid msgType, expected pushPullMsg (6)".into()),
        }
    }

    fn stream_payload(&self, raw: Vec<u8>) -> Vec<u8> {
        if self.cfg.enable_compression {
            compress_payload(&raw)
        } else {
            raw
        }
    }

    fn local_state(&self, join: bool) -> Vec<u8> {
        let nodes = self
            .nodes
            .iter()
            .map(|n| PushNodeState {
                name: n.name.clone(),
                addr: n.addr.clone(),
                port: n.port,
                meta: n.meta.clone(),
                incarnation: n.incarnation,
                state: n.state.wire(),
                vsn: n.vsn.to_vec(),
            })
            .collect();
        self.stream_payload(
            PushPull {
                join,
                nodes,
                user_state: None,
            }
            .encode(),
        )
    }

    fn merge_state(&mut self, now: Instant, remote: Vec<PushNodeState>) {
        for r in remote {
            let port = if r.port == 0 { self.cfg.port } else { r.port };
            match r.state {
                0 => {
                    let a = Alive {
                        incarnation: r.incarnation,
                        node: r.name,
                        addr: r.addr,
                        port,
                        meta: r.meta,
                        vsn: r.vsn,
                    };
                    self.alive_node(now, a, false);
                }
                3 => {
                    let d = Accusation {
                        incarnation: r.incarnation,
                        from: r.name.clone(),
                        node: r.name,
                    };
                    self.dead_node(now, d);
                }
                1 | 2 => {
                    let s = Accusation {
                        incarnation: r.incarnation,
                        node: r.name,
                        from: self.cfg.name.clone(),
                    };
                    self.suspect_node(now, s);
                }
                _ => {}
            }
        }
    }

    /// Runs whatever timers are due.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        self.expire_relays(now, &mut out);
        self.fire_suspicions(now);
        self.advance_probe(now, &mut out);
        if self.probe.is_none() && now >= self.next_probe {
            while self.next_probe <= now {
                self.next_probe += self.cfg.probe_interval;
            }
            self.start_probe(now, &mut out);
        }
        if now >= self.next_gossip {
            while self.next_gossip <= now {
                self.next_gossip += self.cfg.gossip_interval;
            }
            self.gossip(now, &mut out);
        }
        if now >= self.next_push_pull {
            let interval = push_pull_scale(self.cfg.push_pull_interval, self.nodes.len());
            while self.next_push_pull <= now {
                self.next_push_pull += interval;
            }
            let me = self.cfg.name.clone();
            let pick = self.k_random(1, |n| n.name == me || n.state != MemberState::Alive);
            if let Some(to) = pick.first().and_then(|&i| self.nodes[i].socket_addr()) {
                out.push(Action::PushPull {
                    to,
                    join: false,
                    payload: self.local_state(false),
                });
            }
        }
        self.tick_heartbeats(now, &mut out);
        out
    }

    fn expire_relays(&mut self, now: Instant, out: &mut Vec<Action>) {
        let due: Vec<u32> = self
            .relays
            .iter()
            .filter(|(_, r)| r.expires <= now)
            .map(|(s, _)| *s)
            .collect();
        for s in due {
            if let Some(r) = self.relays.remove(&s).filter(|r| r.nack) {
                let nack = Message::Nack(Nack { seq_no: r.seq }).encode();
                self.send_msg(r.to, nack, out);
            }
        }
    }

    fn fire_suspicions(&mut self, now: Instant) {
        let due: Vec<String> = self
            .suspicions
            .iter()
            .filter(|(_, s)| s.fire_at <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for name in due {
            let Some(s) = self.suspicions.remove(&name) else {
                continue;
            };
            let Some(i) = self.find(&name) else { continue };
            let n = &self.nodes[i];
            if n.state == MemberState::Suspect && n.state_change == s.change_time {
                self.log(format!(
                    "[INFO] memberlist: Marking {name} as failed, suspect timeout reached ({} peer confirmations)",
                    s.n
                ));
                let n = &self.nodes[i];
                let d = Accusation {
                    incarnation: n.incarnation,
                    node: name,
                    from: self.cfg.name.clone(),
                };
                self.dead_node(now, d);
            }
        }
    }

    /// `probe()`: round-robin over the shuffled node list, skipping ourselves and the dead.
    fn start_probe(&mut self, now: Instant, out: &mut Vec<Action>) {
        let mut checked = 0;
        loop {
            if checked >= self.nodes.len() {
                return;
            }
            if self.probe_index >= self.nodes.len() {
                self.reset_nodes(now);
                self.probe_index = 0;
                checked += 1;
                continue;
            }
            let n = &self.nodes[self.probe_index];
            self.probe_index += 1;
            if n.name == self.cfg.name || n.state.dead_or_left() {
                checked += 1;
                continue;
            }
            let node = n.clone();
            self.probe_node(now, node, out);
            return;
        }
    }

    fn probe_node(&mut self, now: Instant, node: Member, out: &mut Vec<Action>) {
        let Some(addr) = node.socket_addr() else {
            return;
        };
        let scaled = self.cfg.probe_interval * (self.awareness as u32 + 1);
        let seq = self.next_seq();
        let ping = Message::Ping(Ping {
            seq_no: seq,
            node: node.name.clone(),
        })
        .encode();
        if node.state == MemberState::Alive {
            self.send_msg(addr, ping, out);
        } else {
            let s = Message::Suspect(Accusation {
                incarnation: node.incarnation,
                node: node.name.clone(),
                from: self.cfg.name.clone(),
            })
            .encode();
            self.raw_send(addr, Some(node.pmax()), make_compound(&[ping, s]), out);
        }
        self.probe = Some(Probe {
            node: node.name,
            incarnation: node.incarnation,
            seq,
            timeout_at: now + self.cfg.probe_timeout,
            deadline: now + scaled,
            indirect_sent: false,
            expected_nacks: 0,
            nacks: 0,
            tcp_contacted: false,
        });
    }

    fn advance_probe(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(p) = self.probe.clone() else { return };
        if !p.indirect_sent && now >= p.timeout_at {
            let Some(target) = self.find(&p.node).map(|i| self.nodes[i].clone()) else {
                self.probe = None;
                return;
            };
            self.log(format!(
                "[DEBUG] memberlist: Failed ping: {} (timeout reached)",
                p.node
            ));
            let me = self.cfg.name.clone();
            let peers = self.k_random(self.cfg.indirect_checks, |n| {
                n.name == me || n.name == p.node || n.state != MemberState::Alive
            });
            let mut expected = 0;
            for i in peers {
                let peer = self.nodes[i].clone();
                let nack = peer.pmax() >= 4;
                expected += usize::from(nack);
                let ind = Message::IndirectPing(IndirectPing {
                    seq_no: p.seq,
                    target: target.addr.clone(),
                    port: target.port,
                    node: target.name.clone(),
                    nack,
                })
                .encode();
                if let Some(a) = peer.socket_addr() {
                    self.send_msg(a, ind, out);
                }
            }
            if let Some(pr) = self.probe.as_mut() {
                pr.indirect_sent = true;
                pr.expected_nacks = expected;
            }
            if target.pmax() >= 3
                && let Some(to) = target.socket_addr()
            {
                let ping = Message::Ping(Ping {
                    seq_no: p.seq,
                    node: target.name.clone(),
                })
                .encode();
                out.push(Action::TcpPing {
                    to,
                    seq: p.seq,
                    payload: self.stream_payload(ping),
                    deadline: p.deadline,
                });
            }
        } else if p.indirect_sent && now >= p.deadline {
            self.probe = None;
            if p.tcp_contacted {
                self.log(format!(
                    "[WARN] memberlist: Was able to connect to {} but other probes failed, network may be misconfigured",
                    p.node
                ));
                self.apply_awareness(-1);
                return;
            }
            let delta = if p.expected_nacks > 0 {
                p.expected_nacks.saturating_sub(p.nacks) as i64
            } else {
                1
            };
            self.apply_awareness(delta);
            self.log(format!(
                "[INFO] memberlist: Suspect {} has failed, no acks received",
                p.node
            ));
            let s = Accusation {
                incarnation: p.incarnation,
                node: p.node,
                from: self.cfg.name.clone(),
            };
            self.suspect_node(now, s);
        }
    }

    /// `resetNodes`: forget nodes dead for longer than gossip-to-the-dead, then shuffle.
    fn reset_nodes(&mut self, now: Instant) {
        let ttl = self.cfg.gossip_to_the_dead_time;
        self.nodes.retain(|n| {
            !(n.state == MemberState::Dead && now.duration_since(n.state_change) > ttl)
        });
        for i in (1..self.nodes.len()).rev() {
            let j = self.rng.below(i + 1);
            self.nodes.swap(i, j);
        }
    }

    fn gossip(&mut self, now: Instant, out: &mut Vec<Action>) {
        let me = self.cfg.name.clone();
        let ttl = self.cfg.gossip_to_the_dead_time;
        let targets = self.k_random(self.cfg.gossip_nodes, |n| {
            n.name == me
                || match n.state {
                    MemberState::Alive | MemberState::Suspect => false,
                    MemberState::Dead => now.duration_since(n.state_change) > ttl,
                    MemberState::Left => true,
                }
        });
        let mut avail = self.cfg.udp_buffer_size - COMPOUND_HEADER_OVERHEAD;
        if self.cfg.encryption_enabled {
            avail -= ENCRYPT_OVERHEAD_V1;
        }
        for i in targets {
            let node = self.nodes[i].clone();
            let mut msgs = self.get_broadcasts(COMPOUND_OVERHEAD, avail);
            if msgs.is_empty() {
                return;
            }
            let Some(addr) = node.socket_addr() else {
                continue;
            };
            let payload = if msgs.len() == 1 {
                msgs.remove(0)
            } else {
                make_compound(&msgs)
            };
            self.raw_send(addr, Some(node.pmax()), payload, out);
        }
    }

    /// `kRandomNodes`: up to k distinct random nodes the filter does not exclude.
    fn k_random(&mut self, k: usize, exclude: impl Fn(&Member) -> bool) -> Vec<usize> {
        let n = self.nodes.len();
        let mut picked = Vec::with_capacity(k);
        for _ in 0..3 * n {
            if picked.len() >= k {
                break;
            }
            let i = self.rng.below(n);
            if exclude(&self.nodes[i]) || picked.contains(&i) {
                continue;
            }
            picked.push(i);
        }
        picked
    }

    /// `sendMsg`: piggyback queued broadcasts into a compound when there are any.
    fn send_msg(&mut self, to: SocketAddr, msg: Vec<u8>, out: &mut Vec<Action>) {
        let mut avail = self
            .cfg
            .udp_buffer_size
            .saturating_sub(msg.len() + COMPOUND_HEADER_OVERHEAD);
        if self.cfg.encryption_enabled {
            avail = avail.saturating_sub(ENCRYPT_OVERHEAD_V1);
        }
        let extra = self.get_broadcasts(COMPOUND_OVERHEAD, avail);
        let payload = if extra.is_empty() {
            msg
        } else {
            let mut all = vec![msg];
            all.extend(extra);
            make_compound(&all)
        };
        // Go looks the node up by IP string, which never matches MetalLB's node names: no CRC.
        self.raw_send(to, None, payload, out);
    }

    /// `rawSendMsgPacket`: compress when it helps, CRC when the node speaks protocol ≥ 5.
    fn raw_send(
        &mut self,
        to: SocketAddr,
        pmax: Option<u8>,
        mut msg: Vec<u8>,
        out: &mut Vec<Action>,
    ) {
        if self.cfg.enable_compression {
            let c = compress_payload(&msg);
            if c.len() < msg.len() {
                msg = c;
            }
        }
        if pmax.is_some_and(|p| p >= 5) {
            msg = add_crc(&msg);
        }
        out.push(Action::SendPacket { to, payload: msg });
    }

    /// `QueueBroadcast`: a newer message about a node replaces the queued one.
    fn queue_broadcast(&mut self, node: &str, msg: Vec<u8>, is_leave: bool) {
        let mut leave_replaced = false;
        self.queue.retain(|b| {
            let same = b.node == node;
            leave_replaced |= same && b.is_leave;
            !same
        });
        if leave_replaced {
            self.leave_broadcast_done = true;
        }
        self.next_broadcast_id += 1;
        self.queue.push(Broadcast {
            node: node.to_string(),
            msg,
            transmits: 0,
            id: self.next_broadcast_id,
            is_leave,
        });
    }

    /// `GetBroadcasts`: fewest transmits first, then largest, then newest; each taken one is
    /// retired once it reaches the retransmit limit.
    fn get_broadcasts(&mut self, overhead: usize, limit: usize) -> Vec<Vec<u8>> {
        if self.queue.is_empty() {
            return Vec::new();
        }
        let transmit_limit = retransmit_limit(self.cfg.retransmit_mult, self.nodes.len());
        let mut order: Vec<usize> = (0..self.queue.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (&self.queue[a], &self.queue[b]);
            x.transmits
                .cmp(&y.transmits)
                .then(y.msg.len().cmp(&x.msg.len()))
                .then(y.id.cmp(&x.id))
        });
        let mut used = 0;
        let mut taken = Vec::new();
        for i in order {
            let len = self.queue[i].msg.len();
            if used + overhead + len > limit {
                if limit.saturating_sub(used + overhead) == 0 {
                    break;
                }
                continue;
            }
            used += overhead + len;
            taken.push(i);
        }
        let mut out = Vec::with_capacity(taken.len());
        let mut retire = Vec::new();
        for &i in &taken {
            let b = &mut self.queue[i];
            out.push(b.msg.clone());
            if b.transmits + 1 >= transmit_limit {
                retire.push(i);
            } else {
                b.transmits += 1;
            }
        }
        retire.sort_unstable();
        for i in retire.into_iter().rev() {
            if self.queue.remove(i).is_leave {
                self.leave_broadcast_done = true;
            }
        }
        out
    }

    fn refute(&mut self, idx: usize, accused: u32) {
        let mut inc = self.next_incarnation();
        if accused >= inc {
            self.incarnation = accused.wrapping_add(1);
            inc = self.incarnation;
        }
        self.nodes[idx].incarnation = inc;
        self.apply_awareness(1);
        let me = &self.nodes[idx];
        let a = Message::Alive(Alive {
            incarnation: inc,
            node: me.name.clone(),
            addr: me.addr.clone(),
            port: me.port,
            meta: me.meta.clone(),
            vsn: me.vsn.to_vec(),
        })
        .encode();
        let name = me.name.clone();
        self.queue_broadcast(&name, a, false);
    }

    fn alive_node(&mut self, now: Instant, a: Alive, bootstrap: bool) {
        if self.left && a.node == self.cfg.name {
            return;
        }
        if a.vsn.len() >= 3 && (a.vsn[0] == 0 || a.vsn[1] == 0 || a.vsn[0] > a.vsn[1]) {
            self.log(format!(
                "[WARN] memberlist: Ignoring an alive message for '{}' ({}:{}) because protocol version(s) are wrong: {} <= {} <= {} should be >0",
                a.node,
                go_ip(&a.addr),
                a.port,
                a.vsn[0],
                a.vsn[2],
                a.vsn[1]
            ));
            return;
        }
        let mut updates_node = false;
        let idx = match self.find(&a.node) {
            None => {
                // Tolerant msgpack makes an `alive` with zero-valued fields of many junk
                // datagrams. Go would add a node for it; with an incarnation > 0 and no
                // versions it becomes an alive member named by the junk with versions 0,
                // which then goes out in every push/pull, where Go's verifyProtocol refuses
                // the whole state ("protocol version (0) is incompatible") until it dies.
                // v0.1.7 always sends a name, an incarnation >= 1 and six version bytes, so
                // anything else about an unknown node can only be garbage.
                if a.node.is_empty() || a.incarnation == 0 || a.vsn.len() < 6 {
                    return;
                }
                let mut vsn = [0u8; 6];
                if a.vsn.len() >= 6 {
                    vsn.copy_from_slice(&a.vsn[..6]);
                }
                let m = Member {
                    name: a.node.clone(),
                    addr: a.addr.clone(),
                    port: a.port,
                    meta: a.meta.clone(),
                    vsn,
                    incarnation: 0,
                    state: MemberState::Dead,
                    state_change: now,
                };
                let n = self.nodes.len();
                let offset = self.rng.below(n);
                self.nodes.push(m);
                self.nodes.swap(offset, n);
                offset
            }
            Some(i) => {
                let s = &self.nodes[i];
                if s.addr != a.addr || s.port != a.port {
                    // DeadNodeReclaimTime is 0 in DefaultLANConfig: only a left node's
                    // address may change; otherwise it is a conflict and ignored.
                    if s.state == MemberState::Left {
                        let line = format!(
                            "[INFO] memberlist: Updating address for left or failed node {} from {}:{} to {}:{}",
                            s.name,
                            go_ip(&s.addr),
                            s.port,
                            go_ip(&a.addr),
                            a.port
                        );
                        self.log(line);
                        updates_node = true;
                    } else {
                        let line = format!(
                            "[ERR] memberlist: Conflicting address for {}. Mine: {}:{} Theirs: {}:{} Old state: {}",
                            s.name,
                            go_ip(&s.addr),
                            s.port,
                            go_ip(&a.addr),
                            a.port,
                            s.state.wire()
                        );
                        self.log(line);
                        return;
                    }
                }
                i
            }
        };
        let is_local = a.node == self.cfg.name;
        let cur = self.nodes[idx].incarnation;
        if a.incarnation <= cur && !is_local && !updates_node {
            return;
        }
        if a.incarnation < cur && is_local {
            return;
        }
        self.suspicions.remove(&a.node);
        let old_state = self.nodes[idx].state;
        let old_meta = self.nodes[idx].meta.clone();
        if !bootstrap && is_local {
            let s = &self.nodes[idx];
            if a.incarnation == s.incarnation && a.meta == s.meta && a.vsn == s.vsn {
                return;
            }
            let line = format!(
                "[WARN] memberlist: Refuting an alive message for '{}' ({}:{}) meta:({} VS {}), vsn:({} VS {})",
                a.node,
                go_ip(&a.addr),
                a.port,
                go_bytes(a.meta.as_deref().unwrap_or_default()),
                go_bytes(s.meta.as_deref().unwrap_or_default()),
                go_bytes(&a.vsn),
                go_bytes(&s.vsn)
            );
            self.refute(idx, a.incarnation);
            self.log(line);
        } else {
            let msg = Message::Alive(a.clone()).encode();
            self.queue_broadcast(&a.node, msg, false);
            let s = &mut self.nodes[idx];
            if a.vsn.len() >= 6 {
                s.vsn.copy_from_slice(&a.vsn[..6]);
            }
            s.incarnation = a.incarnation;
            s.meta = a.meta;
            s.addr = a.addr;
            s.port = a.port;
            if s.state != MemberState::Alive {
                s.state = MemberState::Alive;
                s.state_change = now;
            }
        }
        let s = self.nodes[idx].clone();
        if old_state.dead_or_left() {
            self.events.push(Event::Join(s));
            self.ring_stale = true;
        } else if old_meta != s.meta {
            self.events.push(Event::Update(s));
            self.ring_stale = true;
        }
    }

    fn suspect_node(&mut self, now: Instant, s: Accusation) {
        let Some(idx) = self.find(&s.node) else {
            return;
        };
        if s.incarnation < self.nodes[idx].incarnation {
            return;
        }
        if let Some(t) = self.suspicions.get_mut(&s.node) {
            if t.n < t.k && !t.confirmations.contains(&s.from) {
                t.confirmations.insert(s.from.clone());
                t.n += 1;
                let elapsed = now.duration_since(t.start);
                t.fire_at = match remaining_suspicion_time(t.n, t.k, elapsed, t.min, t.max) {
                    Some(rem) => now + rem,
                    None => now,
                };
                let msg = Message::Suspect(s.clone()).encode();
                self.queue_broadcast(&s.node, msg, false);
            }
            return;
        }
        if self.nodes[idx].state != MemberState::Alive {
            return;
        }
        if s.node == self.cfg.name {
            self.refute(idx, s.incarnation);
            self.log(format!(
                "[WARN] memberlist: Refuting a suspect message (from: {})",
                s.from
            ));
            return;
        }
        let msg = Message::Suspect(s.clone()).encode();
        self.queue_broadcast(&s.node, msg, false);
        let node = &mut self.nodes[idx];
        node.incarnation = s.incarnation;
        node.state = MemberState::Suspect;
        node.state_change = now;
        let n = self.nodes.len();
        let mut k = self.cfg.suspicion_mult.saturating_sub(2);
        if (n as i64) - 2 < i64::from(k) {
            k = 0;
        }
        let min = suspicion_timeout(self.cfg.suspicion_mult, n, self.cfg.probe_interval);
        let max = min * self.cfg.suspicion_max_timeout_mult;
        let mut confirmations = HashSet::new();
        confirmations.insert(s.from);
        self.suspicions.insert(
            s.node,
            Suspicion {
                k,
                n: 0,
                min,
                max,
                start: now,
                fire_at: now + if k < 1 { min } else { max },
                confirmations,
                change_time: now,
            },
        );
    }

    fn dead_node(&mut self, now: Instant, d: Accusation) {
        let Some(idx) = self.find(&d.node) else {
            return;
        };
        if d.incarnation < self.nodes[idx].incarnation {
            return;
        }
        self.suspicions.remove(&d.node);
        if self.nodes[idx].state.dead_or_left() {
            return;
        }
        let msg = Message::Dead(d.clone()).encode();
        if d.node == self.cfg.name {
            if !self.left {
                self.refute(idx, d.incarnation);
                self.log(format!(
                    "[WARN] memberlist: Refuting a dead message (from: {})",
                    d.from
                ));
                return;
            }
            self.queue_broadcast(&d.node, msg, true);
        } else {
            self.queue_broadcast(&d.node, msg, false);
        }
        let node = &mut self.nodes[idx];
        node.incarnation = d.incarnation;
        node.state = if d.node == d.from {
            MemberState::Left
        } else {
            MemberState::Dead
        };
        node.state_change = now;
        let node = node.clone();
        self.events.push(Event::Leave(node));
        self.ring_stale = true;
    }
}

/// Go's `%v` of a `net.IP`: the address, `<nil>` when empty, `?` + hex otherwise.
fn go_ip(b: &[u8]) -> String {
    match ip_from_bytes(b) {
        Some(ip) => ip.to_string(),
        None if b.is_empty() => "<nil>".into(),
        None => format!(
            "?{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

/// Go's `%v` of a `[]byte`: `[1 5 2 0 0 0]`.
fn go_bytes(b: &[u8]) -> String {
    let v: Vec<String> = b.iter().map(u8::to_string).collect();
    format!("[{}]", v.join(" "))
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memberlist::wire::decode_stream;

    /// An in-memory network of cores; `down` nodes neither send nor receive.
    struct Sim {
        now: Instant,
        nodes: Vec<Memberlist>,
        down: HashSet<usize>,
        /// Down, and their host refuses connections to the memberlist port (a killed process).
        crashed: HashSet<usize>,
        udp_blocked: HashSet<usize>,
        events: Vec<Vec<Event>>,
        /// Open watch connections: (watcher, watched, node name, id).
        watches: Vec<(usize, usize, String, u64)>,
        /// Nodes whose datagrams (either way) are lost one time in ten.
        lossy: HashSet<usize>,
        loss_rng: Rng,
    }

    fn addr(i: usize) -> SocketAddr {
        SocketAddr::new(IpAddr::from([127, 0, 0, i as u8 + 1]), 7946)
    }

    impl Sim {
        fn new(n: usize) -> Self {
            Self::with(n, |_| false)
        }

        /// `n` nodes; those for which `ferrolb` holds run with fast failure detection.
        fn with(n: usize, ferrolb: impl Fn(usize) -> bool) -> Self {
            let now = Instant::now();
            let nodes = (0..n)
                .map(|i| {
                    let name = format!("node{i}");
                    let cfg = if ferrolb(i) {
                        Config::ferrolb(&name, addr(i).ip(), false)
                    } else {
                        Config::metallb(&name, addr(i).ip(), false)
                    };
                    Memberlist::new(cfg, now, i as u64 + 1)
                })
                .collect();
            Sim {
                now,
                nodes,
                down: HashSet::new(),
                crashed: HashSet::new(),
                udp_blocked: HashSet::new(),
                events: vec![Vec::new(); n],
                watches: Vec::new(),
                lossy: HashSet::new(),
                loss_rng: Rng(99),
            }
        }

        /// [`Self::with`], joined through node0 and run for 2 s: every node sees every other
        /// and the watches are in place.
        fn settled(n: usize, ferrolb: impl Fn(usize) -> bool) -> Self {
            let mut sim = Self::with(n, ferrolb);
            sim.join_all();
            sim.run(Duration::from_secs(2));
            sim
        }

        fn index(&self, a: SocketAddr) -> Option<usize> {
            (0..self.nodes.len()).find(|&i| addr(i) == a)
        }

        fn perform(&mut self, from: usize, actions: Vec<Action>) {
            let mut queue: Vec<(usize, Action)> = actions.into_iter().map(|a| (from, a)).collect();
            while let Some((src, action)) = queue.pop() {
                if self.down.contains(&src) {
                    continue;
                }
                match action {
                    Action::SendPacket { to, payload } => {
                        let Some(dst) = self.index(to).filter(|d| !self.down.contains(d)) else {
                            continue;
                        };
                        if self.udp_blocked.contains(&dst) || self.udp_blocked.contains(&src) {
                            continue;
                        }
                        if (self.lossy.contains(&dst) || self.lossy.contains(&src))
                            && self.loss_rng.below(10) == 0
                        {
                            continue;
                        }
                        let out = self.nodes[dst]
                            .handle_packet(self.now, addr(src), &payload)
                            .expect("valid packet");
                        queue.extend(out.into_iter().map(|a| (dst, a)));
                    }
                    Action::PushPull { to, payload, .. } => {
                        let Some(dst) = self.index(to).filter(|d| !self.down.contains(d)) else {
                            continue;
                        };
                        let msg = decode_stream(&payload)
                            .unwrap()
                            .expect("complete stream message");
                        let reply = self.nodes[dst]
                            .handle_stream(self.now, msg)
                            .expect("push/pull reply");
                        let reply = decode_stream(&reply).unwrap().expect("complete reply");
                        self.nodes[src]
                            .handle_push_pull_reply(self.now, reply)
                            .unwrap();
                    }
                    Action::TcpPing {
                        to, seq, payload, ..
                    } => {
                        if self.index(to).is_some_and(|d| self.crashed.contains(&d)) {
                            let out = self.nodes[src].handle_tcp_ping_refused(self.now, seq);
                            queue.extend(out.into_iter().map(|a| (src, a)));
                            continue;
                        }
                        let reply =
                            self.index(to)
                                .filter(|d| !self.down.contains(d))
                                .and_then(|dst| {
                                    let msg =
                                        decode_stream(&payload).unwrap().expect("complete ping");
                                    self.nodes[dst].handle_stream(self.now, msg)
                                });
                        let reply =
                            reply.map(|r| decode_stream(&r).unwrap().expect("complete ack"));
                        self.nodes[src].handle_tcp_ping_reply(self.now, seq, reply);
                    }
                    Action::Watch { node, to, id, .. } => {
                        let dst = self.index(to).filter(|d| !self.down.contains(d));
                        self.watches.retain(|w| !(w.0 == src && w.2 == node));
                        match dst {
                            Some(dst) => self.watches.push((src, dst, node, id)),
                            None => {
                                let out = self.nodes[src].handle_watch_closed(self.now, &node, id);
                                queue.extend(out.into_iter().map(|a| (src, a)));
                            }
                        }
                    }
                    Action::Unwatch { node } => {
                        self.watches.retain(|w| !(w.0 == src && w.2 == node));
                    }
                }
            }
            self.collect();
        }

        /// Node `i`'s process dies: its port refuses, and its kernel closes the watch
        /// connections others hold to it.
        fn crash(&mut self, i: usize) {
            self.down.insert(i);
            self.crashed.insert(i);
            let closed: Vec<_> = self.watches.iter().filter(|w| w.1 == i).cloned().collect();
            self.watches.retain(|w| w.1 != i && w.0 != i);
            for (src, _, node, id) in closed {
                let out = self.nodes[src].handle_watch_closed(self.now, &node, id);
                self.perform(src, out);
            }
        }

        fn collect(&mut self) {
            for (i, n) in self.nodes.iter_mut().enumerate() {
                self.events[i].extend(n.take_events());
            }
        }

        fn run(&mut self, d: Duration) {
            let end = self.now + d;
            while self.now < end {
                self.now += Duration::from_millis(10);
                for i in 0..self.nodes.len() {
                    if self.down.contains(&i) {
                        continue;
                    }
                    let out = self.nodes[i].tick(self.now);
                    self.perform(i, out);
                }
            }
        }

        fn view(&self, i: usize) -> Vec<(String, MemberState)> {
            let mut v: Vec<_> = self.nodes[i]
                .nodes()
                .iter()
                .map(|n| (n.name.clone(), n.state))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        }

        /// Node `i` holds `name` as dead and reported its leave.
        fn assert_dead_with_leave_event(&self, i: usize, name: &str) {
            assert!(
                self.view(i).contains(&(name.into(), MemberState::Dead)),
                "view of node{i}: {:?}",
                self.view(i)
            );
            assert!(
                self.events[i]
                    .iter()
                    .any(|e| matches!(e, Event::Leave(n) if n.name == name)),
                "node{i} reported no leave of {name}"
            );
        }

        fn join_all(&mut self) {
            for i in 1..self.nodes.len() {
                let out = self.nodes[i].join(&[addr(0)]);
                self.perform(i, out);
            }
        }
    }

    #[test]
    fn new_member_reports_itself_joined_with_incarnation_one() {
        let mut m = Memberlist::new(
            Config::metallb("a", IpAddr::from([127, 0, 0, 1]), false),
            Instant::now(),
            1,
        );
        let ev = m.take_events();
        assert!(
            matches!(&ev[..], [Event::Join(n)] if n.name == "a" && n.incarnation == 1 && n.vsn == VSN)
        );
        assert_eq!(m.members().len(), 1);
    }

    #[test]
    fn three_nodes_joined_through_one_see_each_other_alive() {
        let mut sim = Sim::new(3);
        sim.join_all();
        sim.run(Duration::from_secs(3));
        for i in 0..3 {
            let names: Vec<_> = sim
                .view(i)
                .into_iter()
                .filter(|(_, s)| *s == MemberState::Alive)
                .map(|(n, _)| n)
                .collect();
            assert_eq!(names, ["node0", "node1", "node2"], "view of node{i}");
        }
        let joins = sim.events[2]
            .iter()
            .filter(|e| matches!(e, Event::Join(_)))
            .count();
        assert_eq!(joins, 3, "node2 sees itself and two others join");
    }

    #[test]
    fn a_silent_node_becomes_suspect_then_dead_and_others_report_leave() {
        let mut sim = Sim::new(3);
        sim.join_all();
        sim.run(Duration::from_secs(2));
        sim.down.insert(2);
        sim.run(Duration::from_secs(3));
        assert!(
            sim.view(0)
                .contains(&("node2".into(), MemberState::Suspect))
                || sim.view(0).contains(&("node2".into(), MemberState::Dead))
        );
        // suspicion timeout for 3 nodes: 4 × 1 s, at most ×6 with confirmations pending.
        sim.run(Duration::from_secs(30));
        for i in 0..2 {
            sim.assert_dead_with_leave_event(i, "node2");
            assert_eq!(sim.nodes[i].members().len(), 2);
        }
    }

    /// The memberlist log lines of `nodes` since the last call.
    fn logs_of(sim: &mut Sim, nodes: std::ops::Range<usize>) -> Vec<String> {
        nodes.flat_map(|i| sim.nodes[i].take_logs()).collect()
    }

    #[test]
    fn ferrolb_nodes_advertise_the_watch_feature_in_their_meta() {
        let mut sim = Sim::with(2, |i| i == 1);
        sim.join_all();
        sim.run(Duration::from_secs(1));
        let metas: Vec<_> = sim.nodes[0]
            .nodes()
            .iter()
            .map(|n| (n.name.clone(), n.meta.clone()))
            .collect();
        assert!(metas.contains(&("node0".into(), None)), "{metas:?}");
        assert!(
            metas.contains(&("node1".into(), Some(b"ferrolb/1 watch".to_vec()))),
            "{metas:?}"
        );
    }

    #[test]
    fn ferrolb_nodes_find_a_crashed_peer_through_its_closed_watch_at_once() {
        let mut sim = Sim::settled(3, |_| true);
        assert_eq!(
            sim.watches.iter().filter(|w| w.1 == 2).count(),
            2,
            "{:?}",
            sim.watches
        );
        sim.crash(2);
        // No time passes: the closed watch, the refused dial and the dead message are all
        // one chain of events.
        for i in 0..2 {
            sim.assert_dead_with_leave_event(i, "node2");
        }
        let logs = logs_of(&mut sim, 0..2);
        assert!(
            logs.iter().any(|l| l.contains(
                "Marking node2 as failed, its watch connection closed and its TCP port refused"
            )),
            "{logs:#?}"
        );
        assert!(!logs.iter().any(|l| l.contains("Suspect node2")));
    }

    #[test]
    fn ferrolb_nodes_find_a_silent_peer_by_heartbeats_before_any_suspicion_would() {
        let mut sim = Sim::settled(3, |_| true);
        sim.down.insert(2);
        // 800 ms of missed heartbeats since the last ack, 500 ms of confirmation.
        sim.run(Duration::from_millis(1410));
        for i in 0..2 {
            sim.assert_dead_with_leave_event(i, "node2");
        }
        let logs = logs_of(&mut sim, 0..2);
        assert!(
            logs.iter()
                .any(|l| l.contains("Marking node2 as failed, no heartbeat ack for")),
            "{logs:#?}"
        );
    }

    #[test]
    fn a_peer_behind_a_lossy_link_is_never_declared_dead_by_heartbeats() {
        let mut sim = Sim::settled(3, |_| true);
        sim.lossy.insert(2);
        sim.run(Duration::from_secs(60));
        for i in 0..3 {
            assert!(
                !sim.events[i].iter().any(|e| matches!(e, Event::Leave(_))),
                "node{i}: {:?}",
                sim.events[i]
            );
        }
    }

    #[test]
    fn a_go_peer_gets_no_heartbeats_and_hears_of_a_death_in_one_packet() {
        // node0 speaks v0.1.7 only (a Go speaker); node1 and node2 are ferrolb.
        let mut sim = Sim::settled(3, |i| i != 0);
        for i in 1..3 {
            let watched: Vec<&str> = sim.nodes[i]
                .heartbeats
                .as_ref()
                .unwrap()
                .watched()
                .collect();
            assert!(!watched.contains(&"node0"), "node{i} watches {watched:?}");
        }
        assert!(sim.watches.iter().all(|w| w.1 != 0));
        sim.crash(2);
        // The Go side's own probe would take a second and a suspicion of 4 more.
        sim.assert_dead_with_leave_event(0, "node2");
    }

    #[test]
    fn a_crashed_node_whose_port_refuses_the_tcp_probe_is_dead_without_a_suspicion() {
        let mut sim = Sim::new(3);
        sim.join_all();
        sim.run(Duration::from_secs(2));
        sim.down.insert(2);
        sim.crashed.insert(2);
        // Every survivor probes node2 within two probe intervals; the TCP fallback goes out
        // after the 500 ms probe timeout and is refused: dead then, not 4 s of suspicion later.
        sim.run(Duration::from_millis(2600));
        for i in 0..2 {
            sim.assert_dead_with_leave_event(i, "node2");
        }
        assert!(
            sim.nodes[..2]
                .iter_mut()
                .flat_map(|n| n.take_logs())
                .any(|l| l.contains("Marking node2 as failed, its TCP port refused the probe"))
        );
    }

    #[test]
    fn a_refusal_for_another_probe_or_after_contact_changes_nothing() {
        let mut sim = Sim::new(2);
        sim.join_all();
        sim.run(Duration::from_secs(2));
        let now = sim.now;
        let n = &mut sim.nodes[0];
        // No probe in flight under this sequence number.
        let stale = n.seq_no.wrapping_add(1000);
        n.handle_tcp_ping_refused(now, stale);
        assert!(n.nodes().iter().all(|m| m.state == MemberState::Alive));
        // A probe that reached its node over TCP already is not undone by a late refusal.
        let target = n
            .nodes()
            .iter()
            .find(|m| m.name == "node1")
            .unwrap()
            .clone();
        let mut out = Vec::new();
        n.probe_node(now, target, &mut out);
        let seq = n.probe.as_ref().unwrap().seq;
        n.handle_tcp_ping_reply(
            now,
            seq,
            Some(StreamMessage::Ack(Ack {
                seq_no: seq,
                payload: None,
            })),
        );
        n.handle_tcp_ping_refused(now, seq);
        assert!(n.nodes().iter().all(|m| m.state == MemberState::Alive));
    }

    #[test]
    fn a_dead_node_that_comes_back_rejoins() {
        let mut sim = Sim::new(2);
        sim.join_all();
        sim.run(Duration::from_secs(2));
        sim.down.insert(1);
        sim.run(Duration::from_secs(30));
        assert!(sim.view(0).contains(&("node1".into(), MemberState::Dead)));
        sim.down.clear();
        // A restarted node is a fresh core that joins again.
        sim.nodes[1] = Memberlist::new(Config::metallb("node1", addr(1).ip(), false), sim.now, 99);
        let out = sim.nodes[1].join(&[addr(0)]);
        sim.perform(1, out);
        sim.run(Duration::from_secs(5));
        assert!(
            sim.view(0).contains(&("node1".into(), MemberState::Alive)),
            "{:?}",
            sim.view(0)
        );
    }

    #[test]
    fn a_node_restarted_with_a_later_first_incarnation_is_alive_again_on_its_join_alone() {
        let mut sim = Sim::new(2);
        sim.join_all();
        sim.run(Duration::from_secs(2));
        let out = sim.nodes[1].announce_leave(sim.now);
        sim.perform(1, out);
        sim.run(Duration::from_secs(1));
        assert!(sim.view(0).contains(&("node1".into(), MemberState::Left)));
        // Restarted as Go does (incarnation 1, what node0 remembers): the join alone does not
        // bring it back; only its refutation, gossiped later, will.
        sim.nodes[1] = Memberlist::new(Config::metallb("node1", addr(1).ip(), false), sim.now, 98);
        let out = sim.nodes[1].join(&[addr(0)]);
        sim.perform(1, out);
        assert!(
            sim.view(0).contains(&("node1".into(), MemberState::Left)),
            "{:?}",
            sim.view(0)
        );
        // The restarted node's push/pull carries an incarnation above its old life's: node0
        // takes it back from the exchange itself, before any gossip round.
        let mut cfg = Config::metallb("node1", addr(1).ip(), false);
        cfg.first_incarnation = 1_000;
        sim.nodes[1] = Memberlist::new(cfg, sim.now, 99);
        let out = sim.nodes[1].join(&[addr(0)]);
        sim.perform(1, out);
        assert!(
            sim.view(0).contains(&("node1".into(), MemberState::Alive)),
            "{:?}",
            sim.view(0)
        );
        let me = &sim.nodes[1].nodes()[sim.nodes[1].find("node1").unwrap()];
        assert_eq!(
            (me.incarnation, me.state),
            (1_000, MemberState::Alive),
            "nothing to refute"
        );
    }

    #[test]
    fn suspicion_of_ourselves_is_refuted_with_a_higher_incarnation() {
        let mut sim = Sim::new(2);
        sim.join_all();
        sim.run(Duration::from_secs(1));
        let before = sim.nodes[1].nodes()[sim.nodes[1].find("node1").unwrap()].incarnation;
        let s = Message::Suspect(Accusation {
            incarnation: before + 5,
            node: "node1".into(),
            from: "node0".into(),
        })
        .encode();
        let out = sim.nodes[1].handle_packet(sim.now, addr(0), &s).unwrap();
        sim.perform(1, out);
        let me = &sim.nodes[1].nodes()[sim.nodes[1].find("node1").unwrap()];
        assert_eq!(me.incarnation, before + 6);
        assert_eq!(me.state, MemberState::Alive);
        sim.run(Duration::from_secs(2));
        let seen = &sim.nodes[0].nodes()[sim.nodes[0].find("node1").unwrap()];
        assert_eq!(
            (seen.incarnation, seen.state),
            (before + 6, MemberState::Alive)
        );
    }

    #[test]
    fn leave_is_gossiped_and_seen_as_left() {
        let mut sim = Sim::new(3);
        sim.join_all();
        sim.run(Duration::from_secs(2));
        sim.nodes[2].leave(sim.now);
        assert!(!sim.nodes[2].leave_finished());
        let mut waited = Duration::ZERO;
        while !sim.nodes[2].leave_finished() && waited < Duration::from_secs(1) {
            sim.run(Duration::from_millis(100));
            waited += Duration::from_millis(100);
        }
        assert!(
            sim.nodes[2].leave_finished(),
            "leave broadcast done within 1 s"
        );
        for i in 0..2 {
            assert!(
                sim.view(i).contains(&("node2".into(), MemberState::Left)),
                "{:?}",
                sim.view(i)
            );
        }
    }

    #[test]
    fn announced_leave_reaches_every_member_without_any_gossip_round() {
        let mut sim = Sim::new(4);
        sim.join_all();
        sim.run(Duration::from_secs(2));
        let out = sim.nodes[3].announce_leave(sim.now);
        let mut to: Vec<SocketAddr> = out
            .iter()
            .map(|a| match a {
                Action::SendPacket { to, .. } => *to,
                other => panic!("unexpected action {other:?}"),
            })
            .collect();
        to.sort();
        assert_eq!(to, [addr(0), addr(1), addr(2)]);
        // Delivered with no tick in between: everyone already holds node3 as left.
        sim.perform(3, out);
        for i in 0..3 {
            assert!(
                sim.view(i).contains(&("node3".into(), MemberState::Left)),
                "{:?}",
                sim.view(i)
            );
        }
        assert!(
            sim.nodes[3].announce_leave(sim.now).is_empty(),
            "a second leave sends nothing"
        );
    }

    #[test]
    fn a_garbled_alive_adds_no_member_that_would_poison_push_pull() {
        let mut m = Memberlist::new(
            Config::metallb("a", IpAddr::from([127, 0, 0, 1]), false),
            Instant::now(),
            1,
        );
        // `[4, 0x80]`: an alive with an empty map, all fields at their zero values.
        assert_eq!(
            m.handle_packet(Instant::now(), addr(1), &[4, 0x80]),
            Ok(vec![])
        );
        let junk = Message::Alive(Alive {
            incarnation: 3,
            node: "x".into(),
            addr: vec![127, 0, 0, 2],
            port: 7946,
            meta: None,
            vsn: vec![],
        })
        .encode();
        m.handle_packet(Instant::now(), addr(1), &junk).unwrap();
        let names: Vec<&str> = m.nodes().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a"]);
    }

    #[test]
    fn a_failed_node_is_logged_with_go_texts() {
        let mut sim = Sim::new(3);
        sim.join_all();
        sim.run(Duration::from_secs(2));
        sim.nodes[0].take_logs();
        sim.down.insert(2);
        sim.run(Duration::from_secs(15));
        let logs = sim.nodes[0].take_logs();
        for want in [
            "[INFO] memberlist: Marking node2 as failed, suspect timeout reached (0 peer confirmations)",
        ] {
            assert!(logs.iter().any(|l| l == want), "{want} not in {logs:#?}");
        }
        // Node 0 either probed node2 itself or heard node1's suspicion first.
        if logs.iter().any(|l| l.contains("Failed ping: node2")) {
            assert!(
                logs.iter()
                    .any(|l| l == "[DEBUG] memberlist: Failed ping: node2 (timeout reached)")
            );
        }
        assert!(sim.nodes[0].take_logs().is_empty(), "taken once");
    }

    #[test]
    fn refuting_an_accusation_is_logged_with_go_texts() {
        let mut sim = Sim::new(2);
        sim.join_all();
        sim.run(Duration::from_secs(1));
        let inc = sim.nodes[1].nodes()[sim.nodes[1].find("node1").unwrap()].incarnation;
        let sus = Message::Suspect(Accusation {
            incarnation: inc,
            node: "node1".into(),
            from: "node0".into(),
        })
        .encode();
        sim.nodes[1].handle_packet(sim.now, addr(0), &sus).unwrap();
        let dead = Message::Dead(Accusation {
            incarnation: inc + 5,
            node: "node1".into(),
            from: "node0".into(),
        })
        .encode();
        sim.nodes[1].handle_packet(sim.now, addr(0), &dead).unwrap();
        assert_eq!(
            sim.nodes[1].take_logs(),
            [
                "[WARN] memberlist: Refuting a suspect message (from: node0)",
                "[WARN] memberlist: Refuting a dead message (from: node0)",
            ]
        );
    }

    #[test]
    fn ping_for_another_node_name_is_ignored() {
        let mut m = Memberlist::new(
            Config::metallb("a", IpAddr::from([127, 0, 0, 1]), false),
            Instant::now(),
            1,
        );
        let p = Message::Ping(Ping {
            seq_no: 1,
            node: "b".into(),
        })
        .encode();
        assert!(
            m.handle_packet(Instant::now(), addr(1), &p)
                .unwrap()
                .is_empty()
        );
        let p = Message::Ping(Ping {
            seq_no: 1,
            node: "a".into(),
        })
        .encode();
        assert_eq!(
            m.handle_packet(Instant::now(), addr(1), &p).unwrap().len(),
            1
        );
    }

    #[test]
    fn indirect_ping_is_relayed_and_nacked_when_the_target_is_silent() {
        let now = Instant::now();
        let mut m = Memberlist::new(
            Config::metallb("a", IpAddr::from([127, 0, 0, 1]), false),
            now,
            1,
        );
        m.take_events();
        let ind = Message::IndirectPing(IndirectPing {
            seq_no: 42,
            target: vec![127, 0, 0, 3],
            port: 7946,
            node: "c".into(),
            nack: true,
        })
        .encode();
        let out = m.handle_packet(now, addr(1), &ind).unwrap();
        let Action::SendPacket { to, payload } = &out[0] else {
            panic!("expected a ping")
        };
        assert_eq!(*to, addr(2));
        let msgs = unpack_packet(payload).unwrap();
        let Some(Message::Ping(p)) = msgs.first() else {
            panic!("expected a ping first")
        };
        assert_eq!(p.node, "c");
        let out = m.tick(now + Duration::from_millis(501));
        let nack = out.iter().find_map(|a| match a {
            Action::SendPacket { to, payload } if *to == addr(1) => unpack_packet(payload).ok(),
            _ => None,
        });
        assert!(nack.unwrap().contains(&Message::Nack(Nack { seq_no: 42 })));
    }

    #[test]
    fn timers_follow_v0_1_7_formulas() {
        assert_eq!(
            suspicion_timeout(4, 3, Duration::from_secs(1)),
            Duration::from_secs(4)
        );
        assert_eq!(
            suspicion_timeout(4, 100, Duration::from_secs(1)),
            Duration::from_secs(8)
        );
        assert_eq!(retransmit_limit(4, 3), 4);
        assert_eq!(retransmit_limit(4, 10), 8);
        let (min, max) = (Duration::from_secs(4), Duration::from_secs(24));
        assert_eq!(
            remaining_suspicion_time(0, 2, Duration::ZERO, min, max),
            Some(max)
        );
        assert_eq!(
            remaining_suspicion_time(2, 2, Duration::ZERO, min, max),
            Some(min)
        );
        assert_eq!(
            remaining_suspicion_time(2, 2, Duration::from_secs(5), min, max),
            None
        );
        assert_eq!(
            push_pull_scale(Duration::from_secs(30), 64),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn broadcasts_retire_after_the_retransmit_limit() {
        let mut m = Memberlist::new(
            Config::metallb("a", IpAddr::from([127, 0, 0, 1]), false),
            Instant::now(),
            1,
        );
        // One node: limit = 4 × ceil(log10 2) = 4; the self-alive broadcast is queued.
        for _ in 0..4 {
            assert_eq!(m.get_broadcasts(2, 1400).len(), 1);
        }
        assert!(m.get_broadcasts(2, 1400).is_empty());
    }

    #[test]
    fn older_incarnations_never_override_newer_state() {
        let now = Instant::now();
        let mut m = Memberlist::new(
            Config::metallb("a", IpAddr::from([127, 0, 0, 1]), false),
            now,
            1,
        );
        let alive = |inc| {
            Message::Alive(Alive {
                incarnation: inc,
                node: "b".into(),
                addr: vec![127, 0, 0, 2],
                port: 7946,
                meta: None,
                vsn: VSN.to_vec(),
            })
            .encode()
        };
        m.handle_packet(now, addr(1), &alive(5)).unwrap();
        let dead = Message::Dead(Accusation {
            incarnation: 4,
            node: "b".into(),
            from: "c".into(),
        })
        .encode();
        m.handle_packet(now, addr(1), &dead).unwrap();
        assert_eq!(m.members().len(), 2);
        let dead = Message::Dead(Accusation {
            incarnation: 5,
            node: "b".into(),
            from: "c".into(),
        })
        .encode();
        m.handle_packet(now, addr(1), &dead).unwrap();
        assert_eq!(m.members().len(), 1);
        m.handle_packet(now, addr(1), &alive(5)).unwrap();
        assert_eq!(m.members().len(), 1, "same incarnation does not resurrect");
        m.handle_packet(now, addr(1), &alive(6)).unwrap();
        assert_eq!(m.members().len(), 2);
    }

    #[test]
    fn a_node_reachable_only_over_tcp_is_not_suspected() {
        let mut sim = Sim::new(2);
        sim.join_all();
        sim.run(Duration::from_secs(2));
        sim.udp_blocked.insert(1);
        sim.run(Duration::from_secs(10));
        assert_eq!(
            sim.view(0),
            [
                ("node0".into(), MemberState::Alive),
                ("node1".into(), MemberState::Alive)
            ]
        );
        // Without the TCP path the same node is suspected.
        sim.down.insert(1);
        sim.run(Duration::from_secs(3));
        assert_ne!(sim.view(0)[1].1, MemberState::Alive);
    }
}
