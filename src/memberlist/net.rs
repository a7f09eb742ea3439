//! The network shell around [`Memberlist`]: one UDP socket and one TCP listener on the bind
//! address (port 7946 by default, as `DefaultLANConfig`), a timer, and tokio tasks for stream
//! exchanges — the part of memberlist v0.1.7's `net.go`/`net_transport.go` that touches sockets.
//!
//! **Shape.** [`MemberlistHandle::start`] binds the sockets and spawns one *actor* task that
//! owns the sans-IO core. Everything that reaches the core goes through that task: datagrams,
//! accepted streams (read by a per-connection task, then handed over), replies of our own
//! push/pulls and TCP pings (performed by short-lived tasks), timer expiries and the handle's
//! commands. The core's plaintext output is sealed here when a key is set (random nonce from
//! the OS per packet, as Go's `crypto/rand`). Membership events leave on an unbounded channel:
//! Go's `ChannelEventDelegate` blocks memberlist when the speaker is slow to read; we never
//! block the protocol on the consumer (the events are a handful per membership change).
//!
//! **What is dropped and counted, never a panic:** undecryptable datagrams (wrong key,
//! plaintext to a keyed node, truncated), malformed ones (bad msgpack, CRC, LZW, unknown type),
//! streams that fail to read (Go then writes an `errResp` back, and so do we). [`Stats`] has
//! the counters.
//!
//! **Join** follows Go's `Join`: addresses one after another, each `host[:port]` resolved (an
//! IP is used as is), one push/pull (join = true) per resolved address over TCP with the 10 s
//! TCP timeout; the count of successes and, only when there are none, every error in
//! go-multierror's list format — what MetalLB logs as `"nb joigned"` and `"error ?"` (spec
//! §4.3). Dial errors are worded as Go's `net` package words them.
//!
//! **Leave** ([`MemberlistHandle::leave`]) is v0.1.7's `Leave(timeout)` with one addition that
//! does not change the wire: the dead-about-ourselves message is also sent at once to every
//! live member ([`Memberlist::announce_leave`]) instead of only riding the next gossip round to
//! three random members. Go peers handle it as they handle the gossiped copy (From = Node →
//! left, `NotifyLeave`), so a graceful handover costs one packet flight; the call still waits,
//! as Go does, until the gossip queue has retransmitted the message its full count or the
//! timeout passes (MetalLB: 1 s).
//!
//! **Logs.** With [`MemberlistHandle::start_with_log`], memberlist's own lines go to a channel
//! with v0.1.7's texts (`[INFO] memberlist: Suspect x has failed, no acks received`,
//! `[ERR] memberlist: failed to receive: … from=ip:port`, …) for the speaker to re-emit as
//! MetalLB does. Go's `log.Lshortfile` prefix (`net.go:219: `, a line number in Go's source)
//! is not reproduced, and a datagram that fails to decode for a reason Go has no line for is
//! reported as `Failed to decode message: <our error>`.
//!
//! **Advertise address.** MetalLB sets only `BindAddr` (the pod IP); memberlist then advertises
//! it. With an unspecified bind address Go would pick a private interface address; here the
//! caller must give `advertise` in that case ([`StartError::NoAdvertiseAddress`]).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use super::security::{self, MAX_STREAM_BYTES};
use super::state::{Action, Config, Event, Member, MemberState, Memberlist};
use super::stream;
use super::wire::{ErrResp, Message, StreamMessage};

/// The first incarnation of a node started by the shell: the wall clock's seconds (see
/// [`Config::first_incarnation`]); 1, as Go, if the clock is before 1970.
fn wall_clock_incarnation() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX).max(1)
}

/// `DefaultLANConfig`'s bind and advertise port.
pub const DEFAULT_PORT: u16 = 7946;
/// `DefaultLANConfig.TCPTimeout`.
pub const TCP_TIMEOUT: Duration = Duration::from_secs(10);
/// `udpPacketBufSize`.
const UDP_PACKET_BUF: usize = 65536;
/// `udpRecvBufSize`: the socket receive buffer Go asks for.
const UDP_RECV_BUF: libc::c_int = 2 * 1024 * 1024;
/// `maxPushPullRequests`.
const MAX_PUSH_PULL_REQUESTS: usize = 128;
/// Watch connections we hold for peers at once (each peer is watched by three others; the
/// rest is room for churn). One more is closed at once.
const MAX_HELD_WATCHES: usize = 64;
/// Opening a watch connection: a peer that does not accept within this is left to the
/// heartbeats.
const WATCH_DIAL: Duration = Duration::from_secs(1);

/// What the speaker configures (spec §4.3); everything else is `DefaultLANConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlConfig {
    /// The node name (MetalLB: `spec.nodeName`).
    pub name: String,
    /// `ml-bindaddr`.
    pub bind_addr: IpAddr,
    /// 7946 (v0.9.3 has no flag for it). 0 picks a free port, as Go does.
    pub bind_port: u16,
    /// Address and port other members reach us at; `None`: the bind address and port.
    pub advertise: Option<SocketAddr>,
    /// `ml-secret-key` as raw bytes; `None` or empty: no encryption.
    pub secret: Option<Vec<u8>>,
    /// Watch connections and heartbeats with other ferrolb speakers, advertised in the node
    /// meta (`memberlist::heartbeat`; docs/differences.md). On by default; off, the node
    /// behaves exactly as v0.1.7 (nil meta, SWIM only).
    pub fast_failure_detection: bool,
}

impl MlConfig {
    pub fn new(name: &str, bind_addr: IpAddr) -> Self {
        MlConfig {
            name: name.to_string(),
            bind_addr,
            bind_port: DEFAULT_PORT,
            advertise: None,
            secret: None,
            fast_failure_detection: true,
        }
    }
}

/// Why the shell could not start. Texts as `NewNetTransport` words them.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("Failed to start TCP listener on {addr:?} port {port}: {source}")]
    Tcp {
        addr: String,
        port: u16,
        source: io::Error,
    },
    #[error("Failed to start UDP listener on {addr:?} port {port}: {source}")]
    Udp {
        addr: String,
        port: u16,
        source: io::Error,
    },
    #[error("no advertise address: the bind address {0} is unspecified and none was given")]
    NoAdvertiseAddress(IpAddr),
}

/// `Leave` failed (Go's text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaveError {
    #[error("timeout waiting for leave broadcast")]
    Timeout,
    #[error("memberlist has been shut down")]
    Shutdown,
}

/// `NodeJoin`, `NodeLeave`, `NodeUpdate`: the names MetalLB logs as `"node event"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeEventKind {
    Join,
    Leave,
    Update,
}

impl NodeEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeEventKind::Join => "NodeJoin",
            NodeEventKind::Leave => "NodeLeave",
            NodeEventKind::Update => "NodeUpdate",
        }
    }
}

/// One member as the shell reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub name: String,
    /// `None` when the advertised address is neither 4 nor 16 bytes.
    pub addr: Option<IpAddr>,
    pub port: u16,
    pub state: MemberState,
    pub incarnation: u32,
}

impl From<&Member> for MemberInfo {
    fn from(m: &Member) -> Self {
        MemberInfo {
            name: m.name.clone(),
            addr: m.ip(),
            port: m.port,
            state: m.state,
            incarnation: m.incarnation,
        }
    }
}

/// A membership change (memberlist's `NodeEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    pub kind: NodeEventKind,
    pub node: MemberInfo,
}

impl From<Event> for NodeEvent {
    fn from(e: Event) -> Self {
        let (kind, m) = match e {
            Event::Join(m) => (NodeEventKind::Join, m),
            Event::Leave(m) => (NodeEventKind::Leave, m),
            Event::Update(m) => (NodeEventKind::Update, m),
        };
        NodeEvent {
            kind,
            node: MemberInfo::from(&m),
        }
    }
}

/// The result of [`MemberlistHandle::join`], as Go's `Join` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinOutcome {
    /// How many addresses answered the join push/pull (`"nb joigned"`).
    pub joined: usize,
    /// One text per failed address (`Failed to join <ip>: …`, `Failed to resolve <s>: …`).
    pub failures: Vec<String>,
}

impl JoinOutcome {
    /// Go's returned error: nil once one address succeeded, otherwise go-multierror's list
    /// (`"1 error occurred:\n\t* …\n\n"`); nil as well when there was nothing to join.
    pub fn error(&self) -> Option<String> {
        if self.joined > 0 || self.failures.is_empty() {
            return None;
        }
        if self.failures.len() == 1 {
            return Some(format!("1 error occurred:\n\t* {}\n\n", self.failures[0]));
        }
        let points: Vec<String> = self.failures.iter().map(|f| format!("* {f}")).collect();
        Some(format!(
            "{} errors occurred:\n\t{}\n\n",
            self.failures.len(),
            points.join("\n\t")
        ))
    }
}

/// Counters of what arrived and what was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub packets_received: u64,
    /// Datagrams that did not decode (msgpack, compound, LZW, CRC, unknown type, empty).
    pub packets_malformed: u64,
    /// Datagrams that did not decrypt with our key (or were plaintext while we have one).
    pub packets_undecryptable: u64,
    pub streams_accepted: u64,
    /// Inbound streams that failed to read (wrong key, malformed, timeout, too many).
    pub streams_refused: u64,
}

#[derive(Debug, Default)]
struct Counters {
    packets_received: AtomicU64,
    packets_malformed: AtomicU64,
    packets_undecryptable: AtomicU64,
    streams_accepted: AtomicU64,
    streams_refused: AtomicU64,
}

impl Counters {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct Shared {
    key: Option<[u8; 16]>,
    advertise: SocketAddr,
    members: Mutex<Vec<MemberInfo>>,
    counters: Counters,
    log: Option<mpsc::UnboundedSender<String>>,
    push_pulls_in_flight: AtomicUsize,
    /// Our node name: a watch request for another name is refused.
    name: String,
    watches_held: AtomicUsize,
    /// Set when the actor stops: the watch connections we hold for peers close with it.
    closed: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    fn log(&self, line: String) {
        if let Some(l) = &self.log {
            let _ = l.send(line);
        }
    }
}

enum Command {
    JoinPayload {
        to: SocketAddr,
        reply: oneshot::Sender<Vec<u8>>,
    },
    JoinReply {
        msg: StreamMessage,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Inbound {
        msg: StreamMessage,
        reply: oneshot::Sender<Option<Vec<u8>>>,
    },
    PushPullDone(Result<StreamMessage, String>),
    TcpPingDone {
        seq: u32,
        reply: Option<StreamMessage>,
        refused: bool,
    },
    WatchClosed {
        node: String,
        id: u64,
    },
    Leave {
        reply: oneshot::Sender<()>,
    },
    Nodes {
        reply: oneshot::Sender<Vec<MemberInfo>>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// Shuts the actor down when the last handle clone is dropped.
#[derive(Debug)]
struct Owner {
    cmd: mpsc::UnboundedSender<Command>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let (done, _) = oneshot::channel();
        let _ = self.cmd.send(Command::Shutdown { done });
    }
}

/// A running memberlist node. Clones share it; dropping the last clone shuts it down.
#[derive(Debug, Clone)]
pub struct MemberlistHandle {
    shared: Arc<Shared>,
    owner: Arc<Owner>,
}

impl MemberlistHandle {
    /// `memberlist.Create`: binds UDP and TCP, starts the timers. The first event is this
    /// node's own `NodeJoin`, as Go reports it.
    pub async fn start(
        cfg: MlConfig,
    ) -> Result<(MemberlistHandle, mpsc::UnboundedReceiver<NodeEvent>), StartError> {
        Self::start_with_log(cfg, None).await
    }

    /// [`Self::start`], with memberlist's log lines (Go's texts, `[DEBUG] memberlist: …`,
    /// no timestamp) sent to `log`; MetalLB re-emits them as `{"component":"MemberList",..}`.
    pub async fn start_with_log(
        cfg: MlConfig,
        log: Option<mpsc::UnboundedSender<String>>,
    ) -> Result<(MemberlistHandle, mpsc::UnboundedReceiver<NodeEvent>), StartError> {
        let (udp, tcp, bound) = bind(cfg.bind_addr, cfg.bind_port).await?;
        let advertise = match cfg.advertise {
            Some(a) => a,
            None if cfg.bind_addr.is_unspecified() => {
                return Err(StartError::NoAdvertiseAddress(cfg.bind_addr));
            }
            None => bound,
        };
        let key = cfg.secret.as_deref().and_then(security::metallb_key_bytes);
        let mut core_cfg = if cfg.fast_failure_detection {
            Config::ferrolb(&cfg.name, advertise.ip(), key.is_some())
        } else {
            Config::metallb(&cfg.name, advertise.ip(), key.is_some())
        };
        core_cfg.port = advertise.port();
        core_cfg.first_incarnation = wall_clock_incarnation();
        let seed = u64::from_le_bytes(random_bytes::<8>().unwrap_or_default());
        let core = Memberlist::new(core_cfg, Instant::now(), seed);
        let shared = Arc::new(Shared {
            key,
            advertise,
            members: Mutex::new(Vec::new()),
            counters: Counters::default(),
            log,
            push_pulls_in_flight: AtomicUsize::new(0),
            name: cfg.name.clone(),
            watches_held: AtomicUsize::new(0),
            closed: tokio::sync::watch::channel(false).0,
        });
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let actor = Actor {
            core,
            udp,
            tcp,
            shared: shared.clone(),
            cmd_tx: cmd_tx.clone(),
            events: ev_tx,
            leave_waiters: Vec::new(),
            watches: HashMap::new(),
        };
        actor.publish();
        tokio::spawn(actor.run(cmd_rx));
        Ok((
            MemberlistHandle {
                shared,
                owner: Arc::new(Owner { cmd: cmd_tx }),
            },
            ev_rx,
        ))
    }

    /// `Members()`: every node not dead or left (suspect ones included), ourselves too.
    /// Read from a snapshot the actor refreshes after every change and timer round.
    pub fn members(&self) -> Vec<MemberInfo> {
        self.shared
            .members
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Every node the core knows, dead and left ones included.
    pub async fn nodes(&self) -> Vec<MemberInfo> {
        let (reply, rx) = oneshot::channel();
        if self.owner.cmd.send(Command::Nodes { reply }).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// The address and port other members reach us at.
    pub fn advertise_addr(&self) -> SocketAddr {
        self.shared.advertise
    }

    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            packets_received: c.packets_received.load(Ordering::Relaxed),
            packets_malformed: c.packets_malformed.load(Ordering::Relaxed),
            packets_undecryptable: c.packets_undecryptable.load(Ordering::Relaxed),
            streams_accepted: c.streams_accepted.load(Ordering::Relaxed),
            streams_refused: c.streams_refused.load(Ordering::Relaxed),
        }
    }

    /// `Join(existing)`: see the module docs. Addresses without a port get the bind port.
    pub async fn join(&self, addrs: &[String]) -> JoinOutcome {
        let mut out = JoinOutcome::default();
        for s in addrs {
            let resolved = match resolve(s, self.shared.advertise.port()).await {
                Ok(r) => r,
                Err(e) => {
                    let f = format!("Failed to resolve {s}: {e}");
                    self.shared.log(format!("[WARN] memberlist: {f}"));
                    out.failures.push(f);
                    continue;
                }
            };
            for to in resolved {
                match self.push_pull_join(to).await {
                    Ok(()) => out.joined += 1,
                    Err(e) => {
                        let f = format!("Failed to join {}: {e}", to.ip());
                        self.shared.log(format!("[DEBUG] memberlist: {f}"));
                        out.failures.push(f);
                    }
                }
            }
        }
        out
    }

    async fn push_pull_join(&self, to: SocketAddr) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        self.owner
            .cmd
            .send(Command::JoinPayload { to, reply })
            .map_err(|_| "memberlist has been shut down".to_string())?;
        let payload = rx
            .await
            .map_err(|_| "memberlist has been shut down".to_string())?;
        let msg = exchange(
            to,
            &payload,
            self.shared.key,
            TCP_TIMEOUT,
            Some(&self.shared),
        )
        .await
        .map_err(|e| e.text)?;
        let (reply, rx) = oneshot::channel();
        self.owner
            .cmd
            .send(Command::JoinReply { msg, reply })
            .map_err(|_| "memberlist has been shut down".to_string())?;
        rx.await
            .map_err(|_| "memberlist has been shut down".to_string())?
    }

    /// `Leave(timeout)`: announce that we leave and wait until the broadcast went out.
    pub async fn leave(&self, timeout: Duration) -> Result<(), LeaveError> {
        let (reply, rx) = oneshot::channel();
        self.owner
            .cmd
            .send(Command::Leave { reply })
            .map_err(|_| LeaveError::Shutdown)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(LeaveError::Shutdown),
            Err(_) => Err(LeaveError::Timeout),
        }
    }

    /// `Shutdown`: stop the timers and close the sockets (without leaving). Returns once the
    /// sockets are closed, so the address can be bound again.
    pub async fn shutdown(&self) {
        let (done, rx) = oneshot::channel();
        if self.owner.cmd.send(Command::Shutdown { done }).is_ok() {
            let _ = rx.await;
        }
    }
}

struct Actor {
    core: Memberlist,
    udp: UdpSocket,
    tcp: TcpListener,
    shared: Arc<Shared>,
    cmd_tx: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedSender<NodeEvent>,
    leave_waiters: Vec<oneshot::Sender<()>>,
    /// The watch connections we keep to peers, by node name.
    watches: HashMap<String, tokio::task::JoinHandle<()>>,
}

impl Drop for Actor {
    fn drop(&mut self) {
        self.shared.closed.send_replace(true);
        for (_, w) in self.watches.drain() {
            w.abort();
        }
    }
}

impl Actor {
    async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Command>) {
        let mut buf = vec![0u8; UDP_PACKET_BUF];
        loop {
            // A deadline already past (a timer the core has just handled) must not spin.
            let now = Instant::now();
            let wake = self
                .core
                .next_deadline()
                .max(now + Duration::from_millis(1));
            tokio::select! {
                r = self.udp.recv_from(&mut buf) => {
                    if let Ok((n, from)) = r {
                        self.datagram(&buf[..n], from).await;
                    }
                }
                r = self.tcp.accept() => {
                    match r {
                        Ok((conn, peer)) => {
                            Counters::bump(&self.shared.counters.streams_accepted);
                            self.shared.log(format!("[DEBUG] memberlist: Stream connection from={peer}"));
                            tokio::spawn(inbound(conn, self.shared.clone(), self.cmd_tx.clone()));
                        }
                        Err(e) => {
                            self.shared.log(format!("[ERR] memberlist: Error accepting TCP connection: {e}"));
                            // Out of descriptors and the like: do not spin on the error.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                c = cmds.recv() => {
                    match c {
                        Some(Command::Shutdown { done }) => {
                            drop(self);
                            let _ = done.send(());
                            return;
                        }
                        Some(c) => self.command(c).await,
                        None => return,
                    }
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    let actions = self.core.tick(Instant::now());
                    self.perform(actions).await;
                    self.publish();
                }
            }
            self.after_step();
        }
    }

    async fn datagram(&mut self, data: &[u8], from: SocketAddr) {
        let c = &self.shared.counters;
        Counters::bump(&c.packets_received);
        if data.is_empty() {
            Counters::bump(&c.packets_malformed);
            self.shared.log(format!(
                "[ERR] memberlist: UDP packet too short (0 bytes) from={from}"
            ));
            return;
        }
        let plain = match &self.shared.key {
            Some(k) => match security::open(std::slice::from_ref(k), data, &[]) {
                Ok(p) => p,
                Err(e) => {
                    Counters::bump(&c.packets_undecryptable);
                    self.shared.log(format!(
                        "[ERR] memberlist: Decrypt packet failed: {e} from={from}"
                    ));
                    return;
                }
            },
            None => data.to_vec(),
        };
        match self.core.handle_packet(Instant::now(), from, &plain) {
            Ok(actions) => self.perform(actions).await,
            Err(e) => {
                Counters::bump(&self.shared.counters.packets_malformed);
                self.shared.log(decode_error_line(&e, from));
            }
        }
    }

    async fn command(&mut self, c: Command) {
        let now = Instant::now();
        match c {
            Command::JoinPayload { to, reply } => {
                let payload = self.core.join(&[to]).into_iter().find_map(|a| match a {
                    Action::PushPull { payload, .. } => Some(payload),
                    _ => None,
                });
                if let Some(p) = payload {
                    let _ = reply.send(p);
                }
            }
            Command::JoinReply { msg, reply } => {
                let _ = reply.send(self.core.handle_push_pull_reply(now, msg));
            }
            Command::Inbound { msg, reply } => {
                let _ = reply.send(self.core.handle_stream(now, msg));
            }
            Command::PushPullDone(Ok(msg)) => {
                // Go logs "Push/Pull with <node> failed"; the next round retries.
                let _ = self.core.handle_push_pull_reply(now, msg);
            }
            Command::PushPullDone(Err(_)) => {}
            Command::TcpPingDone { seq, refused: true, .. } => {
                let actions = self.core.handle_tcp_ping_refused(now, seq);
                self.perform(actions).await;
            }
            Command::TcpPingDone { seq, reply, .. } => self.core.handle_tcp_ping_reply(now, seq, reply),
            Command::WatchClosed { node, id } => {
                // The handle of an ended watch goes; a newer watch of the node stays.
                if self.watches.get(&node).is_some_and(|t| t.is_finished()) {
                    self.watches.remove(&node);
                }
                let actions = self.core.handle_watch_closed(now, &node, id);
                self.perform(actions).await;
            }
            Command::Leave { reply } => {
                let actions = self.core.announce_leave(now);
                self.perform(actions).await;
                self.leave_waiters.push(reply);
            }
            Command::Nodes { reply } => {
                let _ = reply.send(self.core.nodes().iter().map(MemberInfo::from).collect());
            }
            Command::Shutdown { .. } => unreachable!("handled by the loop"),
        }
    }

    async fn perform(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::SendPacket { to, payload } => {
                    let bytes = match &self.shared.key {
                        // No randomness, no nonce: never seal with a guessable one.
                        Some(k) => match random_bytes::<{ security::NONCE_SIZE }>() {
                            Some(n) => security::seal(k, &n, &payload, &[]),
                            None => continue,
                        },
                        None => payload,
                    };
                    // Go logs a failed send and carries on; probes notice a dead peer.
                    let _ = self.udp.send_to(&bytes, to).await;
                }
                Action::PushPull { to, payload, .. } => {
                    let shared = self.shared.clone();
                    let tx = self.cmd_tx.clone();
                    let name = self
                        .core
                        .nodes()
                        .iter()
                        .find(|n| n.socket_addr() == Some(to))
                        .map_or_else(|| to.to_string(), |n| n.name.clone());
                    tokio::spawn(async move {
                        let r =
                            exchange(to, &payload, shared.key, TCP_TIMEOUT, Some(&shared))
                                .await
                                .map_err(|e| e.text);
                        if let Err(e) = &r {
                            shared.log(format!(
                                "[ERR] memberlist: Push/Pull with {name} failed: {e}"
                            ));
                        }
                        let _ = tx.send(Command::PushPullDone(r));
                    });
                }
                Action::TcpPing {
                    to,
                    seq,
                    payload,
                    deadline,
                } => {
                    let key = self.shared.key;
                    let tx = self.cmd_tx.clone();
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::spawn(async move {
                        let (reply, refused) = match exchange(to, &payload, key, left, None).await {
                            Ok(r) => (Some(r), false),
                            Err(e) => (None, e.refused),
                        };
                        let _ = tx.send(Command::TcpPingDone { seq, reply, refused });
                    });
                }
                Action::Watch { node, to, id, payload } => {
                    let task = tokio::spawn(watch(
                        to,
                        payload,
                        self.shared.key,
                        self.cmd_tx.clone(),
                        node.clone(),
                        id,
                    ));
                    if let Some(old) = self.watches.insert(node, task) {
                        old.abort();
                    }
                }
                Action::Unwatch { node } => {
                    if let Some(w) = self.watches.remove(&node) {
                        w.abort();
                    }
                }
            }
        }
    }

    fn after_step(&mut self) {
        for line in self.core.take_logs() {
            self.shared.log(line);
        }
        let events = self.core.take_events();
        if !events.is_empty() {
            self.publish();
            for e in events {
                let _ = self.events.send(NodeEvent::from(e));
            }
        }
        if !self.leave_waiters.is_empty() && self.core.leave_finished() {
            for w in self.leave_waiters.drain(..) {
                let _ = w.send(());
            }
        }
    }

    fn publish(&self) {
        let members: Vec<MemberInfo> = self
            .core
            .members()
            .into_iter()
            .map(MemberInfo::from)
            .collect();
        if let Ok(mut m) = self.shared.members.lock() {
            *m = members;
        }
    }
}

/// Binds TCP first, then UDP on the same port (with port 0, the one TCP got), as Go does.
async fn bind(addr: IpAddr, port: u16) -> Result<(UdpSocket, TcpListener, SocketAddr), StartError> {
    let tcp = TcpListener::bind((addr, port))
        .await
        .map_err(|source| StartError::Tcp {
            addr: addr.to_string(),
            port,
            source,
        })?;
    let bound = tcp.local_addr().map_err(|source| StartError::Tcp {
        addr: addr.to_string(),
        port,
        source,
    })?;
    let udp = UdpSocket::bind(bound)
        .await
        .map_err(|source| StartError::Udp {
            addr: addr.to_string(),
            port: bound.port(),
            source,
        })?;
    set_recv_buffer(&udp);
    Ok((udp, tcp, bound))
}

/// `setUDPRecvBuf`: ask for 2 MB; a smaller buffer is only slower under bursts.
fn set_recv_buffer(udp: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let size = UDP_RECV_BUF;
    // SAFETY: a valid socket descriptor and a pointer to a live c_int of the given length.
    unsafe {
        libc::setsockopt(
            udp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// `resolveAddr`: `host[:port]` (default port when absent); an IP literal as is.
async fn resolve(s: &str, default_port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    if let Ok(ip) = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(vec![SocketAddr::new(ip, default_port)]);
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => {
            let port = p
                .parse::<u16>()
                .map_err(|_| format!("strconv.ParseUint: parsing {p:?}: invalid syntax"))?;
            (h, port)
        }
        _ => (s, default_port),
    };
    if host.is_empty() {
        return Err(format!("lookup {host}: no such host"));
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => {
            let v: Vec<SocketAddr> = addrs.collect();
            if v.is_empty() {
                Err(format!("lookup {host}: no such host"))
            } else {
                Ok(v)
            }
        }
        Err(_) => Err(format!("lookup {host}: no such host")),
    }
}

/// A failed [`exchange`]: Go's error text, and whether the connection was refused.
struct ExchangeError {
    text: String,
    refused: bool,
}

impl From<String> for ExchangeError {
    fn from(text: String) -> Self {
        ExchangeError { text, refused: false }
    }
}

impl From<&str> for ExchangeError {
    fn from(text: &str) -> Self {
        text.to_owned().into()
    }
}

/// Dial `to`, write one stream message, read one back (`sendAndReceiveState`, and the TCP
/// fallback ping), all within `limit`.
async fn exchange(
    to: SocketAddr,
    payload: &[u8],
    key: Option<[u8; 16]>,
    limit: Duration,
    push_pull_log: Option<&Shared>,
) -> Result<StreamMessage, ExchangeError> {
    let work = async {
        let mut conn = TcpStream::connect(to).await.map_err(|e| ExchangeError {
            text: format!("dial tcp {to}: {}", go_errno_text(&e)),
            refused: e.kind() == std::io::ErrorKind::ConnectionRefused,
        })?;
        if let Some(s) = push_pull_log {
            s.log(format!(
                "[DEBUG] memberlist: Initiating push/pull sync with: {to}"
            ));
        }
        let bytes = stream_out(payload, key.as_ref()).ok_or("no randomness for a nonce")?;
        conn.write_all(&bytes)
            .await
            .map_err(|e| format!("write tcp {to}: {}", go_errno_text(&e)))?;
        read_stream(&mut conn, key).await.map_err(|e| e.to_string().into())
    };
    match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => Err(format!("dial tcp {to}: i/o timeout").into()),
    }
}

/// Stream payloads from the core are already compressed: only seal them.
fn stream_out(plain: &[u8], key: Option<&[u8; 16]>) -> Option<Vec<u8>> {
    let nonce = match key {
        Some(_) => random_bytes::<{ security::NONCE_SIZE }>()?,
        None => [0; security::NONCE_SIZE],
    };
    Some(stream::write_message(plain, false, key, &nonce))
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    /// Closed before the first byte: Go stays silent.
    #[error("EOF")]
    Eof,
    #[error("unexpected EOF")]
    UnexpectedEof,
    #[error("Remote node state is larger than limit ({0})")]
    TooLarge(usize),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Stream(#[from] stream::StreamError),
}

async fn read_stream(
    conn: &mut TcpStream,
    key: Option<[u8; 16]>,
) -> Result<StreamMessage, ReadError> {
    let keys: Vec<[u8; 16]> = key.into_iter().collect();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if let Some(m) = stream::read_message(&buf, &keys)? {
            return Ok(m);
        }
        if buf.len() > MAX_STREAM_BYTES as usize + 5 {
            return Err(ReadError::TooLarge(buf.len()));
        }
        let n = conn
            .read(&mut chunk)
            .await
            .map_err(|e| ReadError::Io(go_errno_text(&e)))?;
        if n == 0 {
            return Err(if buf.is_empty() {
                ReadError::Eof
            } else {
                ReadError::UnexpectedEof
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Our side of a watch connection: dial, send the request, then wait for the peer to close
/// (its process died, or it shut down) and report it. Aborted on `Unwatch`. Nothing is ever
/// read but the end: whatever the peer might send is discarded.
async fn watch(
    to: SocketAddr,
    payload: Vec<u8>,
    key: Option<[u8; 16]>,
    cmd: mpsc::UnboundedSender<Command>,
    node: String,
    id: u64,
) {
    let opened = async {
        let mut conn = TcpStream::connect(to).await.ok()?;
        let bytes = stream_out(&payload, key.as_ref())?;
        conn.write_all(&bytes).await.ok()?;
        Some(conn)
    };
    if let Ok(Some(mut conn)) = tokio::time::timeout(WATCH_DIAL, opened).await {
        let mut sink = [0u8; 64];
        while matches!(conn.read(&mut sink).await, Ok(n) if n > 0) {}
    }
    let _ = cmd.send(Command::WatchClosed { node, id });
}

/// The watched side: hold the connection, reading nothing but its end, until the watcher
/// closes it or we stop (then the close tells the watcher). Our own death closes it too: that
/// is the point.
async fn hold_watch(mut conn: TcpStream, shared: Arc<Shared>) {
    if shared.watches_held.fetch_add(1, Ordering::SeqCst) >= MAX_HELD_WATCHES {
        shared.watches_held.fetch_sub(1, Ordering::SeqCst);
        Counters::bump(&shared.counters.streams_refused);
        return;
    }
    let mut closed = shared.closed.subscribe();
    let mut sink = [0u8; 64];
    loop {
        tokio::select! {
            r = conn.read(&mut sink) => if !matches!(r, Ok(n) if n > 0) { break },
            _ = closed.wait_for(|c| *c) => break,
        }
    }
    shared.watches_held.fetch_sub(1, Ordering::SeqCst);
}

/// `handleConn`: read one message within the TCP timeout, let the core answer it; on a read
/// error (other than an immediate EOF) write Go's `errResp` back.
async fn inbound(mut conn: TcpStream, shared: Arc<Shared>, cmd: mpsc::UnboundedSender<Command>) {
    let key = shared.key;
    let read = tokio::time::timeout(TCP_TIMEOUT, read_stream(&mut conn, key)).await;
    let msg = match read {
        Ok(Ok(m)) => m,
        Ok(Err(ReadError::Eof)) => return,
        Ok(Err(e)) => {
            refuse(&mut conn, &shared, e.to_string()).await;
            return;
        }
        Err(_) => {
            let local = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
            let peer = conn.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            refuse(
                &mut conn,
                &shared,
                format!("read tcp {local}->{peer}: i/o timeout"),
            )
            .await;
            return;
        }
    };
    if let StreamMessage::Watch(w) = &msg {
        // Only for us: a watcher that means another node (an address reused) is closed on.
        if w.node == shared.name {
            hold_watch(conn, shared).await;
        }
        return;
    }
    let is_push_pull = matches!(msg, StreamMessage::PushPull(_));
    if is_push_pull {
        let n = shared.push_pulls_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        if n >= MAX_PUSH_PULL_REQUESTS {
            shared.push_pulls_in_flight.fetch_sub(1, Ordering::SeqCst);
            Counters::bump(&shared.counters.streams_refused);
            shared.log("[ERR] memberlist: Too many pending push/pull requests".into());
            return;
        }
    }
    let (reply, rx) = oneshot::channel();
    if cmd.send(Command::Inbound { msg, reply }).is_ok()
        && let Ok(Some(answer)) = rx.await
        && let Some(bytes) = stream_out(&answer, key.as_ref())
    {
        let _ = tokio::time::timeout(TCP_TIMEOUT, conn.write_all(&bytes)).await;
    }
    if is_push_pull {
        shared.push_pulls_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn refuse(conn: &mut TcpStream, shared: &Shared, error: String) {
    Counters::bump(&shared.counters.streams_refused);
    let peer = conn
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "<unknown address>".into());
    shared.log(format!(
        "[ERR] memberlist: failed to receive: {error} from={peer}"
    ));
    let resp = Message::Err(ErrResp { error }).encode();
    // `rawSendMsgStream`: compressed (DefaultLANConfig) and sealed when a key is set.
    let body = super::wire::compress_payload(&resp);
    let nonce = match shared.key {
        Some(_) => match random_bytes::<{ security::NONCE_SIZE }>() {
            Some(n) => n,
            None => return,
        },
        None => [0; security::NONCE_SIZE],
    };
    let bytes = stream::write_message(&body, false, shared.key.as_ref(), &nonce);
    let _ = tokio::time::timeout(TCP_TIMEOUT, conn.write_all(&bytes)).await;
}

/// The line Go logs for an undecodable datagram where the cause maps onto one of its own
/// (unknown type, bad CRC, compound, compress); otherwise a line of the same shape.
fn decode_error_line(e: &super::wire::WireError, from: SocketAddr) -> String {
    use super::wire::WireError as W;
    match e {
        W::UnknownType(t) => format!("[ERR] memberlist: msg type ({t}) not supported from={from}"),
        W::BadChecksum { computed, expected } => {
            format!(
                "[WARN] memberlist: Got invalid checksum for UDP packet: {computed:x}, {expected:x}"
            )
        }
        W::CompoundEmpty | W::CompoundTruncatedLengths => {
            format!("[ERR] memberlist: Failed to decode compound request: {e} from={from}")
        }
        W::UnknownCompression(_) | W::Lzw(_) | W::DecompressedTooLarge(_) => {
            format!("[ERR] memberlist: Failed to decompress payload: {e} from={from}")
        }
        _ => format!("[ERR] memberlist: Failed to decode message: {e} from={from}"),
    }
}

/// The wording of Go's `net` errors for the errno values a dial or read meets.
fn go_errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => "connect: connection refused".into(),
        Some(libc::EHOSTUNREACH) => "connect: no route to host".into(),
        Some(libc::ENETUNREACH) => "connect: network is unreachable".into(),
        Some(libc::ECONNRESET) => "read: connection reset by peer".into(),
        Some(libc::ETIMEDOUT) => "connect: connection timed out".into(),
        Some(libc::EADDRNOTAVAIL) => "connect: cannot assign requested address".into(),
        _ => e.to_string(),
    }
}

/// `N` bytes from the OS random source (getrandom(2), else /dev/urandom).
fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut b = [0u8; N];
    let mut filled = 0;
    while filled < N {
        // SAFETY: writes at most N - filled bytes into the live array from offset `filled`.
        let r = unsafe { libc::getrandom(b[filled..].as_mut_ptr().cast(), N - filled, 0) };
        if r > 0 {
            filled += r as usize;
        } else if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            use std::io::Read;
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut b))
                .ok()?;
            return Some(b);
        }
    }
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_error_is_nil_once_one_address_answered() {
        let o = JoinOutcome {
            joined: 1,
            failures: vec!["Failed to join 192.0.2.1: dial tcp 192.0.2.1:7946: i/o timeout".into()],
        };
        assert_eq!(o.error(), None);
        assert_eq!(JoinOutcome::default().error(), None);
    }

    #[test]
    fn join_errors_use_go_multierror_list_format() {
        let one = JoinOutcome {
            joined: 0,
            failures: vec!["Failed to join 192.0.2.1: x".into()],
        };
        assert_eq!(
            one.error().as_deref(),
            Some("1 error occurred:\n\t* Failed to join 192.0.2.1: x\n\n")
        );
        let two = JoinOutcome {
            joined: 0,
            failures: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            two.error().as_deref(),
            Some("2 errors occurred:\n\t* a\n\t* b\n\n")
        );
    }

    #[tokio::test]
    async fn addresses_without_a_port_get_the_bind_port() {
        assert_eq!(
            resolve("192.0.2.7", 7946).await,
            Ok(vec!["192.0.2.7:7946".parse().unwrap()])
        );
        assert_eq!(
            resolve("192.0.2.7:8000", 7946).await,
            Ok(vec!["192.0.2.7:8000".parse().unwrap()])
        );
        assert_eq!(
            resolve("2001:db8::1", 7946).await,
            Ok(vec!["[2001:db8::1]:7946".parse().unwrap()])
        );
        assert_eq!(resolve("", 7946).await, Err("lookup : no such host".into()));
    }

    #[tokio::test]
    async fn two_nodes_on_loopback_join_and_see_each_other() {
        let a = MlConfig {
            bind_port: 0,
            ..MlConfig::new("a", "127.0.0.1".parse().unwrap())
        };
        let (ha, mut ea) = MemberlistHandle::start(a).await.expect("start a");
        let b = MlConfig {
            bind_port: 0,
            ..MlConfig::new("b", "127.0.0.1".parse().unwrap())
        };
        let (hb, _eb) = MemberlistHandle::start(b).await.expect("start b");
        let first = ea.recv().await.expect("own join");
        assert_eq!(
            (first.kind, first.node.name.as_str()),
            (NodeEventKind::Join, "a")
        );
        let out = hb.join(&[ha.advertise_addr().to_string()]).await;
        assert_eq!((out.joined, out.error()), (1, None));
        let second = ea.recv().await.expect("b joins");
        assert_eq!(
            (second.kind, second.node.name.as_str()),
            (NodeEventKind::Join, "b")
        );
        let names = |h: &MemberlistHandle| {
            let mut v: Vec<String> = h.members().into_iter().map(|m| m.name).collect();
            v.sort();
            v
        };
        assert_eq!(names(&ha), ["a", "b"]);
        assert_eq!(names(&hb), ["a", "b"]);
        hb.leave(Duration::from_secs(1)).await.expect("leave");
        let gone = ea.recv().await.expect("b leaves");
        assert_eq!(
            (gone.kind, gone.node.name.as_str(), gone.node.state),
            (NodeEventKind::Leave, "b", MemberState::Left)
        );
        hb.shutdown().await;
        ha.shutdown().await;
    }

    #[tokio::test]
    async fn junk_is_counted_and_logged_with_go_texts() {
        let (log_tx, mut log_rx) = mpsc::unbounded_channel();
        let cfg = MlConfig {
            bind_port: 0,
            ..MlConfig::new("a", "127.0.0.1".parse().unwrap())
        };
        let (h, _e) = MemberlistHandle::start_with_log(cfg, Some(log_tx))
            .await
            .expect("start");
        let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let from = s.local_addr().unwrap();
        s.send_to(&[99, 1, 2], h.advertise_addr()).await.unwrap();
        s.send_to(&[12, 0, 0, 0, 0, 0], h.advertise_addr())
            .await
            .unwrap();
        let mut tcp = TcpStream::connect(h.advertise_addr()).await.unwrap();
        tcp.write_all(&[42]).await.unwrap();
        let mut reply = Vec::new();
        let _ = tcp.read_to_end(&mut reply).await;
        let want = [
            format!("[ERR] memberlist: msg type (99) not supported from={from}"),
            "[WARN] memberlist: Got invalid checksum for UDP packet: d202ef8d, 0".to_string(),
            format!(
                "[ERR] memberlist: failed to receive: unknown message type 42 from={}",
                tcp.local_addr().unwrap()
            ),
        ];
        let mut got = Vec::new();
        while !want.iter().all(|w| got.contains(w)) {
            match tokio::time::timeout(Duration::from_secs(5), log_rx.recv()).await {
                Ok(Some(l)) => got.push(l),
                _ => panic!("wanted {want:#?}, got {got:#?}"),
            }
        }
        assert!(
            got.iter()
                .any(|l| l.starts_with("[DEBUG] memberlist: Stream connection from="))
        );
        assert!(!reply.is_empty(), "an errResp was written back");
        let st = h.stats();
        assert_eq!((st.packets_malformed, st.streams_refused), (2, 1));
        h.shutdown().await;
    }

    #[tokio::test]
    async fn joining_our_own_address_counts_as_joined_as_in_go() {
        // MetalLB's join list holds every speaker pod's IP, its own included.
        let cfg = MlConfig {
            bind_port: 0,
            ..MlConfig::new("a", "127.0.0.1".parse().unwrap())
        };
        let (h, _e) = MemberlistHandle::start(cfg).await.expect("start");
        let out = h.join(&[h.advertise_addr().to_string()]).await;
        assert_eq!((out.joined, out.error()), (1, None));
        let names: Vec<String> = h.members().into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["a"]);
        h.shutdown().await;
    }

    #[tokio::test]
    async fn join_of_a_closed_port_reports_go_dial_error() {
        let cfg = MlConfig {
            bind_port: 0,
            ..MlConfig::new("a", "127.0.0.1".parse().unwrap())
        };
        let (h, _e) = MemberlistHandle::start(cfg).await.expect("start");
        // A listener we close at once: its port refuses connections.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = l.local_addr().unwrap();
        drop(l);
        let out = h.join(&[closed.to_string()]).await;
        assert_eq!(out.joined, 0);
        assert_eq!(
            out.failures,
            [format!(
                "Failed to join 127.0.0.1: dial tcp {closed}: connect: connection refused"
            )]
        );
        h.shutdown().await;
    }
}
