//! One BGP session as a state machine (spec §4.6 "Session"): data in, actions out, time
//! passed in. The shell dials when told (`Output::Dial`), feeds what it reads, performs the
//! sends and calls `handle(now, Input::Tick)` at `poll_timeout()`.
//!
//! v0.9's behaviour is kept (OPEN then immediately KEEPALIVE, no OpenConfirm wait, hold time
//! min(own, peer), keepalive every hold/3, the 10 s deadline over dial and OPEN exchange,
//! backoff 0, 1, 2 … 120 s, received messages otherwise ignored) with these fixes
//! (docs/differences.md): the hold timer is enforced, a NOTIFICATION is sent on close and on
//! hold-timer expiry, IPv6 prefixes go over MP-BGP to peers that negotiated IPv6 unicast, and
//! prefixes with identical attributes share an UPDATE.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::advertisement::{Advertisement, AdvertisementError, AdvertisementTable, Changes};
use super::backoff::Backoff;
use super::header::{self, Header, HeaderError, kind};
use super::notification::{NotificationRepr, cease, code};
use super::open::{OpenError, OpenRepr, read_open};
use super::router_id::{router_id, to4};
use super::update::{UpdateBuilder, UpdateRepr};

/// v0.9's deadline over the TCP dial and the OPEN exchange.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// `host:port` (brackets for IPv6): the metric label and the name in error texts.
    pub addr: String,
    pub local_asn: u32,
    pub peer_asn: u32,
    /// The configured hold time (whole seconds after config parsing).
    pub hold_time: Duration,
    pub router_id: Option<IpAddr>,
    pub node_name: String,
    /// Several prefixes with identical attributes per UPDATE (true) or one each as v0.9.
    pub pack_updates: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    /// Timers may be due.
    Tick,
    /// The dial the session asked for succeeded. `interface_ipv4`: the first IPv4 address
    /// of the interface holding `local` when `local` is IPv6 (router-id fallback, E.6, and
    /// the IPv4 next hop on an IPv6 session).
    Connected {
        local: IpAddr,
        interface_ipv4: Option<Ipv4Addr>,
    },
    /// The dial failed; the shell's error text.
    DialFailed(String),
    /// Bytes read from the connection.
    Bytes(&'a [u8]),
    /// Reading or writing failed or the peer closed; the shell's error text.
    ConnectionLost(String),
    /// End the session for good.
    Close(CloseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The speaker shuts down: Cease / Administrative Shutdown.
    Shutdown,
    /// The peer left the configuration or no longer selects this node: Cease / Peer
    /// De-configured.
    PeerRemoved,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to the peer.
    Dial,
    /// Write these bytes (one message).
    Send(Vec<u8>),
    /// Close the connection, after the sends before it.
    Disconnect,
    /// OPEN exchange done: `session_up` 1, log `event=sessionUp`.
    Established {
        hold_time: Duration,
        keepalive: Option<Duration>,
        four_octet_as: bool,
        ipv6: bool,
    },
    /// A connection attempt failed: log `op=connect ... msg="failed to connect to peer"`.
    ConnectFailed(SessionError),
    /// An established session ended: `session_up` 0, log `event=sessionDown`.
    SessionDown(SessionError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("dial \"{addr}\": {reason}")]
    Dial { addr: String, reason: String },
    #[error("read OPEN from \"{addr}\": {source}")]
    ReadOpen { addr: String, source: OpenError },
    #[error("read OPEN from \"{addr}\": {reason}")]
    ReadOpenIo { addr: String, reason: String },
    #[error("unexpected peer ASN {got}, want {want}")]
    UnexpectedPeerAsn { got: u32, want: u32 },
    #[error("peer does not support 4-byte ASNs")]
    NoFourOctetAs,
    /// Logged as `event=peerNotification`.
    #[error("{0}")]
    PeerNotification(NotificationRepr),
    #[error("synchronization error, incorrect header marker")]
    BadMarker,
    #[error("bad message length {0}")]
    BadLength(u16),
    #[error("hold timer expired: nothing received from the peer for {0}s")]
    HoldTimerExpired(u64),
    #[error("{0}")]
    ConnectionLost(String),
    #[error("session closed")]
    Closed,
}

/// The figures behind the `metallb_bgp_*` metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub session_up: bool,
    /// `updates_total`: UPDATE messages sent (a combined withdraw counts once).
    pub updates_sent: u64,
    /// `announced_prefixes_total`: prefixes the peer holds after the last sync.
    pub announced_prefixes: usize,
    /// `pending_prefixes_total`: size of the desired set.
    pub pending_prefixes: usize,
    /// Sessions dropped because the peer went silent.
    pub hold_timer_expirations: u64,
}

#[derive(Debug)]
enum State {
    Idle {
        dial_at: Instant,
    },
    Connecting {
        deadline: Instant,
    },
    OpenSent {
        deadline: Instant,
        buf: Vec<u8>,
        local: IpAddr,
        interface_ipv4: Option<Ipv4Addr>,
    },
    Established(Box<Established>),
    Closed,
}

#[derive(Debug)]
struct Established {
    buf: Vec<u8>,
    hold: Duration,
    keepalive: Option<Duration>,
    next_keepalive: Option<Instant>,
    hold_deadline: Option<Instant>,
    builder: UpdateBuilder,
    ipv6: bool,
}

#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    backoff: Backoff,
    table: AdvertisementTable,
    stats: SessionStats,
}

impl SessionConfig {
    /// The session v0.9 starts for a configured peer on node `node_name`.
    pub fn for_peer(peer: &crate::config::Peer, node_name: &str) -> Self {
        SessionConfig {
            addr: SocketAddr::new(peer.addr, peer.port).to_string(),
            local_asn: peer.my_asn,
            peer_asn: peer.asn,
            hold_time: peer.hold_time,
            router_id: peer.router_id,
            node_name: node_name.to_string(),
            pack_updates: true,
        }
    }

    /// The OPEN's Hold Time field: v0.9's `uint16(holdTime.Seconds())`, which wraps modulo
    /// 2^16 on amd64 for the (unvalidated) values above 65535 s.
    pub fn open_hold_time(&self) -> u16 {
        self.hold_time.as_secs() as u16
    }
}

impl Session {
    /// A new session dials at once (v0.9's first attempt has no delay).
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        Session {
            config,
            state: State::Idle { dial_at: now },
            backoff: Backoff::default(),
            table: AdvertisementTable::default(),
            stats: SessionStats::default(),
        }
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// When the shell must next call `handle(now, Input::Tick)`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Idle { dial_at } => Some(*dial_at),
            State::Connecting { deadline } | State::OpenSent { deadline, .. } => Some(*deadline),
            State::Established(e) => match (e.next_keepalive, e.hold_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            State::Closed => None,
        }
    }

    /// Replaces the desired advertisements (v0.9 `Set`); while established, sends the
    /// UPDATEs that bring the peer to the new set.
    pub fn set_advertisements(
        &mut self,
        ads: impl IntoIterator<Item = Advertisement>,
    ) -> Result<Vec<Output>, AdvertisementError> {
        self.table.set(ads)?;
        self.stats.pending_prefixes = self.table.pending();
        let mut out = Vec::new();
        if let State::Established(e) = &self.state {
            let (builder, ipv6) = (e.builder.clone(), e.ipv6);
            self.sync(&builder, ipv6, &mut out);
        }
        Ok(out)
    }

    pub fn handle(&mut self, now: Instant, input: Input<'_>) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Tick => self.tick(now, &mut out),
            Input::Connected {
                local,
                interface_ipv4,
            } => {
                if let State::Connecting { deadline } = self.state {
                    let rid = router_id(
                        self.config.router_id,
                        local,
                        interface_ipv4,
                        &self.config.node_name,
                    );
                    out.push(Output::Send(
                        OpenRepr::metallb(self.config.local_asn, self.config.open_hold_time(), rid)
                            .to_bytes(),
                    ));
                    self.state = State::OpenSent {
                        deadline,
                        buf: Vec::new(),
                        local,
                        interface_ipv4,
                    };
                }
            }
            // A dial failure; ConnectionLost during the dial is treated the same.
            Input::DialFailed(reason) | Input::ConnectionLost(reason)
                if matches!(self.state, State::Connecting { .. }) =>
            {
                let addr = self.config.addr.clone();
                self.connect_failed(now, SessionError::Dial { addr, reason }, false, &mut out);
            }
            Input::DialFailed(_) => {}
            Input::Bytes(bytes) => self.bytes(now, bytes, &mut out),
            Input::ConnectionLost(reason) => match self.state {
                State::OpenSent { .. } => {
                    let addr = self.config.addr.clone();
                    self.connect_failed(
                        now,
                        SessionError::ReadOpenIo { addr, reason },
                        true,
                        &mut out,
                    );
                }
                State::Established(_) => {
                    self.session_down(now, SessionError::ConnectionLost(reason), &mut out)
                }
                _ => {}
            },
            Input::Close(reason) => self.close(reason, &mut out),
        }
        out
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        match &mut self.state {
            State::Idle { dial_at } if now >= *dial_at => {
                self.state = State::Connecting {
                    deadline: now + CONNECT_TIMEOUT,
                };
                out.push(Output::Dial);
            }
            State::Connecting { deadline } if now >= *deadline => {
                let addr = self.config.addr.clone();
                self.connect_failed(
                    now,
                    SessionError::Dial {
                        addr,
                        reason: "timeout".into(),
                    },
                    true,
                    out,
                );
            }
            State::OpenSent { deadline, .. } if now >= *deadline => {
                let addr = self.config.addr.clone();
                let reason = "i/o timeout".to_string();
                self.connect_failed(now, SessionError::ReadOpenIo { addr, reason }, true, out);
            }
            State::Established(e) => {
                if e.hold_deadline.is_some_and(|d| now >= d) {
                    let secs = e.hold.as_secs();
                    out.push(Output::Send(
                        NotificationRepr {
                            code: code::HOLD_TIMER_EXPIRED,
                            subcode: 0,
                            data: vec![],
                        }
                        .to_bytes(),
                    ));
                    self.stats.hold_timer_expirations += 1;
                    self.session_down(now, SessionError::HoldTimerExpired(secs), out);
                    return;
                }
                if let (Some(at), Some(every)) = (e.next_keepalive, e.keepalive)
                    && now >= at
                {
                    out.push(Output::Send(header::keepalive()));
                    e.next_keepalive = Some(now + every);
                }
            }
            _ => {}
        }
    }

    fn bytes(&mut self, now: Instant, bytes: &[u8], out: &mut Vec<Output>) {
        match &mut self.state {
            State::OpenSent { buf, .. } => {
                buf.extend_from_slice(bytes);
                self.try_open(now, out);
            }
            State::Established(e) => {
                e.buf.extend_from_slice(bytes);
                self.read_established(now, out);
            }
            _ => {}
        }
    }

    fn try_open(&mut self, now: Instant, out: &mut Vec<Output>) {
        let State::OpenSent {
            buf,
            local,
            interface_ipv4,
            ..
        } = &mut self.state
        else {
            return;
        };
        let (local, interface_ipv4) = (*local, *interface_ipv4);
        let addr = self.config.addr.clone();
        let (open, used) = match read_open(buf) {
            Ok(None) => return,
            Ok(Some(x)) => x,
            Err(source) => {
                return self.connect_failed(
                    now,
                    SessionError::ReadOpen { addr, source },
                    true,
                    out,
                );
            }
        };
        let rest = buf.split_off(used);
        let peer_asn = open.asn();
        if peer_asn != self.config.peer_asn {
            let err = SessionError::UnexpectedPeerAsn {
                got: peer_asn,
                want: self.config.peer_asn,
            };
            return self.connect_failed(now, err, true, out);
        }
        let four_octet_as = open.four_octet_as();
        // v0.9's off-by-one: 65536 itself passes.
        if self.config.local_asn > 65536 && !four_octet_as {
            return self.connect_failed(now, SessionError::NoFourOctetAs, true, out);
        }
        self.backoff.reset();
        out.push(Output::Send(header::keepalive()));
        // v0.9 compares the configured Duration, not the 16-bit OPEN field.
        let hold = self
            .config
            .hold_time
            .min(Duration::from_secs(u64::from(open.hold_time)));
        let keepalive = (!hold.is_zero()).then(|| hold / 3);
        let ipv6 = open.multiprotocol(2, 1);
        let builder = UpdateBuilder {
            local_asn: self.config.local_asn,
            ibgp: self.config.local_asn == self.config.peer_asn,
            four_octet_as,
            next_hop_v4: to4(local).or(interface_ipv4),
            next_hop_v6: Some(match local {
                IpAddr::V6(a) => a,
                IpAddr::V4(a) => a.to_ipv6_mapped(),
            }),
            pack: self.config.pack_updates,
        };
        out.push(Output::Established {
            hold_time: hold,
            keepalive,
            four_octet_as,
            ipv6,
        });
        self.stats.session_up = true;
        self.table.connected();
        self.sync(&builder, ipv6, out);
        self.state = State::Established(Box::new(Established {
            buf: Vec::new(),
            hold,
            keepalive,
            next_keepalive: keepalive.map(|k| now + k),
            hold_deadline: (!hold.is_zero()).then(|| now + hold),
            builder,
            ipv6,
        }));
        if !rest.is_empty() {
            self.bytes(now, &rest, out);
        }
    }

    /// v0.9's reader: whole messages are skipped, a NOTIFICATION or a bad header ends the
    /// session. Each complete message restarts the hold timer.
    fn read_established(&mut self, now: Instant, out: &mut Vec<Output>) {
        let State::Established(e) = &mut self.state else {
            return;
        };
        let mut used = 0;
        let err = loop {
            let hdr = match Header::new_checked(&e.buf[used..]) {
                Ok(h) => h,
                Err(HeaderError::Truncated { .. }) => break None,
                Err(HeaderError::BadMarker) => break Some(SessionError::BadMarker),
            };
            let len = usize::from(hdr.message_len());
            if len < header::HEADER_LEN {
                break Some(SessionError::BadLength(hdr.message_len()));
            }
            if hdr.message_type() == kind::NOTIFICATION {
                match hdr.rest() {
                    [code, subcode, ..] => {
                        let data = hdr
                            .rest()
                            .get(2..len.saturating_sub(header::HEADER_LEN))
                            .unwrap_or(&[])
                            .to_vec();
                        break Some(SessionError::PeerNotification(NotificationRepr {
                            code: *code,
                            subcode: *subcode,
                            data,
                        }));
                    }
                    _ => break None,
                }
            }
            if e.buf.len() - used < len {
                break None;
            }
            used += len;
            if !e.hold.is_zero() {
                e.hold_deadline = Some(now + e.hold);
            }
        };
        e.buf.drain(..used);
        if let Some(err) = err {
            self.session_down(now, err, out);
        }
    }

    fn sync(&mut self, builder: &UpdateBuilder, ipv6: bool, out: &mut Vec<Output>) {
        let v4_ok = builder.next_hop_v4.is_some();
        let Some(changes) = self.table.sync(|p| match p {
            IpNet::V4(_) => v4_ok,
            IpNet::V6(_) => ipv6,
        }) else {
            return;
        };
        let before = out.len();
        encode_changes(builder, &changes, out);
        self.stats.updates_sent += (out.len() - before) as u64;
        self.stats.announced_prefixes = self.table.announced().unwrap_or(0);
    }

    /// `close`: whether the shell holds a connection (or a dial in progress) to drop.
    fn connect_failed(
        &mut self,
        now: Instant,
        err: SessionError,
        close: bool,
        out: &mut Vec<Output>,
    ) {
        if close {
            out.push(Output::Disconnect);
        }
        out.push(Output::ConnectFailed(err));
        self.state = State::Idle {
            dial_at: now + self.backoff.next_delay(),
        };
    }

    /// After an established session ends, v0.9 redials at once; the backoff only grows
    /// with failed connection attempts.
    fn session_down(&mut self, now: Instant, err: SessionError, out: &mut Vec<Output>) {
        out.push(Output::Disconnect);
        out.push(Output::SessionDown(err));
        self.stats.session_up = false;
        self.table.disconnected();
        self.state = State::Idle { dial_at: now };
    }

    fn close(&mut self, reason: CloseReason, out: &mut Vec<Output>) {
        let subcode = match reason {
            CloseReason::Shutdown => cease::ADMINISTRATIVE_SHUTDOWN,
            CloseReason::PeerRemoved => cease::PEER_DECONFIGURED,
        };
        match &self.state {
            State::OpenSent { .. } => {
                out.push(Output::Send(NotificationRepr::cease(subcode).to_bytes()));
                out.push(Output::Disconnect);
            }
            State::Established(_) => {
                out.push(Output::Send(NotificationRepr::cease(subcode).to_bytes()));
                out.push(Output::Disconnect);
                out.push(Output::SessionDown(SessionError::Closed));
                self.stats.session_up = false;
            }
            State::Connecting { .. } => out.push(Output::Disconnect),
            State::Idle { .. } | State::Closed => {}
        }
        self.table.disconnected();
        self.state = State::Closed;
    }
}

/// Announcements grouped by attributes, then one combined IPv4 withdraw (v0.9's order),
/// then the IPv6 withdraw.
fn encode_changes(builder: &UpdateBuilder, changes: &Changes, out: &mut Vec<Output>) {
    let codec = builder.codec();
    let mut push = |u: UpdateRepr| out.push(Output::Send(u.to_bytes(codec)));
    for (attrs, prefixes) in &changes.announce {
        let (v4, v6) = split(prefixes);
        if !v4.is_empty() {
            builder
                .announce_v4(attrs, &v4)
                .into_iter()
                .flatten()
                .for_each(&mut push);
        }
        if !v6.is_empty() {
            builder
                .announce_v6(attrs, &v6)
                .into_iter()
                .flatten()
                .for_each(&mut push);
        }
    }
    let (v4, v6) = split(&changes.withdraw);
    if !v4.is_empty() {
        builder.withdraw_v4(&v4).into_iter().for_each(&mut push);
    }
    if !v6.is_empty() {
        builder.withdraw_v6(&v6).into_iter().for_each(&mut push);
    }
}

fn split(prefixes: &[IpNet]) -> (Vec<Ipv4Net>, Vec<Ipv6Net>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for p in prefixes {
        match p {
            IpNet::V4(n) => v4.push(*n),
            IpNet::V6(n) => v6.push(*n),
        }
    }
    (v4, v6)
}
