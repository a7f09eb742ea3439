//! The BGP network shell (v0.9 `bgpController` + `bgp.Session`, spec §4.6): one tokio task per
//! running peer drives a sans-IO [`Session`] over a TCP socket, and [`BgpController`] decides
//! which sessions run ([`PeerSet`]) and what they all advertise.
//!
//! The controller keeps the advertisements per service key in a map it shares with the
//! sessions and bumps a `watch` generation on every change; a session that wakes up reads the
//! whole current set once (intermediate sets may be skipped, which is harmless because the
//! sync is level-triggered), and a new session starts from it. So announcing N Services one
//! by one costs the controller O(N log N), not the O(N²) of re-concatenating every time.
//! Advertisements are validated before they are stored, so a bad one is rejected with its
//! error instead of freezing all later pushes as in v0.9.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::advertisement::{Advertisement, AdvertisementError, MAX_COMMUNITIES};
use super::metrics::BgpMetrics;
use super::peers::{PeerAction, PeerId, PeerSet};
use super::session::{CloseReason, Input, Output, Session, SessionConfig, SessionError};
use super::sockets::{DialError, dial, interface_ipv4_for};
use crate::config::Peer;
use crate::log_json;

/// The advertisements per service key, shared by the controller and its sessions.
type ServiceAds = Arc<Mutex<BTreeMap<String, Vec<Advertisement>>>>;

/// Every advertisement of every service: what each session must advertise.
fn all_ads(services: &ServiceAds) -> Vec<Advertisement> {
    let map = services.lock().unwrap_or_else(|e| e.into_inner());
    map.values().flatten().cloned().collect()
}

struct SessionHandle {
    close: mpsc::UnboundedSender<CloseReason>,
    task: JoinHandle<()>,
}

/// The BGP side of the speaker on one node. Must be used inside a tokio runtime.
pub struct BgpController {
    node: String,
    peers: PeerSet,
    sessions: HashMap<PeerId, SessionHandle>,
    /// Sessions told to close whose tasks may still be sending their Cease.
    closing: Vec<JoinHandle<()>>,
    services: ServiceAds,
    /// Bumped on every change of `services`.
    generation: watch::Sender<u64>,
    metrics: BgpMetrics,
    pack_updates: bool,
}

impl BgpController {
    pub fn new(node_name: &str, metrics: BgpMetrics) -> Self {
        BgpController {
            node: node_name.to_string(),
            peers: PeerSet::default(),
            sessions: HashMap::new(),
            closing: Vec::new(),
            services: Arc::default(),
            generation: watch::Sender::new(0),
            metrics,
            pack_updates: true,
        }
    }

    /// One UPDATE per prefix, as v0.9, instead of packing (for comparisons with v0.9).
    pub fn with_packing(mut self, pack: bool) -> Self {
        self.pack_updates = pack;
        self
    }

    pub fn metrics(&self) -> &BgpMetrics {
        &self.metrics
    }

    /// The peers with a running session, in config order.
    pub fn running_peers(&self) -> Vec<Peer> {
        self.peers.running().map(|(_, p)| p.clone()).collect()
    }

    /// v0.9 `SetConfig` for BGP: sessions of unchanged peers stay, removed or changed peers
    /// are closed with Cease (Peer De-configured), new ones start.
    pub fn set_peers(&mut self, peers: &[Peer]) {
        let actions = self.peers.set_config(peers);
        self.perform(actions);
    }

    /// v0.9 `SetNode`: re-evaluates the node selectors when the labels changed.
    pub fn set_node_labels(&mut self, labels: BTreeMap<String, String>) {
        if let Some(actions) = self.peers.set_node_labels(labels) {
            log_json!("event" => "nodeLabelsChanged", "msg" => "Node labels changed, resyncing BGP peers");
            self.perform(actions);
        }
    }

    /// v0.9 `SetBalancer`: the service's advertisements replace its previous ones and the full
    /// set is pushed to every session.
    pub fn set_service(&mut self, key: &str, ads: Vec<Advertisement>) -> Result<(), AdvertisementError> {
        validate(&ads)?;
        log_json!(
            "event" => "updatedAdvertisements",
            "numAds" => ads.len(),
            "service" => key,
            "msg" => "making advertisements using BGP",
        );
        self.services().insert(key.to_string(), ads);
        self.push();
        Ok(())
    }

    /// Many services at once, one push (a bulk load; same result as `set_service` per key).
    pub fn set_services(
        &mut self,
        services: impl IntoIterator<Item = (String, Vec<Advertisement>)>,
    ) -> Result<(), AdvertisementError> {
        let services: Vec<_> = services.into_iter().collect();
        for (_, ads) in &services {
            validate(ads)?;
        }
        self.services().extend(services);
        self.push();
        Ok(())
    }

    /// v0.9 `DeleteBalancer`: the service's advertisements go and the rest is re-pushed.
    pub fn delete_service(&mut self, key: &str) {
        self.services().remove(key);
        self.push();
    }

    /// Removes many services with one push.
    pub fn delete_services<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>) {
        let mut map = self.services();
        for k in keys {
            map.remove(k);
        }
        drop(map);
        self.push();
    }

    /// Closes every session with Cease (Administrative Shutdown) and waits for them to end.
    pub async fn shutdown(mut self) {
        for (_, h) in self.sessions.drain() {
            let _ = h.close.send(CloseReason::Shutdown);
            self.closing.push(h.task);
        }
        for t in self.closing.drain(..) {
            let _ = t.await;
        }
    }

    fn services(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<Advertisement>>> {
        self.services.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&mut self) {
        self.generation.send_modify(|g| *g += 1);
    }

    fn perform(&mut self, actions: Vec<PeerAction>) {
        self.closing.retain(|t| !t.is_finished());
        for a in actions {
            match a {
                PeerAction::Remove { id, peer, reason, .. } => {
                    log_json!(
                        "event" => "peerRemoved",
                        "peer" => peer.addr.to_string(),
                        "reason" => reason.as_str(),
                        "msg" => "peer deconfigured, closing BGP session",
                    );
                    if let Some(h) = self.sessions.remove(&id) {
                        let _ = h.close.send(CloseReason::PeerRemoved);
                        self.closing.push(h.task);
                    }
                }
                PeerAction::Start { id, peer } => {
                    log_json!(
                        "event" => "peerAdded",
                        "peer" => peer.addr.to_string(),
                        "msg" => "peer configured, starting BGP session",
                    );
                    let mut config = SessionConfig::for_peer(&peer, &self.node);
                    config.pack_updates = self.pack_updates;
                    let (close, close_rx) = mpsc::unbounded_channel();
                    let task = tokio::spawn(run_session(
                        config,
                        SocketAddr::new(peer.addr, peer.port),
                        peer.password.clone(),
                        Arc::clone(&self.services),
                        self.generation.subscribe(),
                        close_rx,
                        self.metrics.clone(),
                    ));
                    self.sessions.insert(id, SessionHandle { close, task });
                }
            }
        }
    }
}

/// The checks `Session::set_advertisements` would fail on, made before anything is stored.
fn validate(ads: &[Advertisement]) -> Result<(), AdvertisementError> {
    match ads.iter().find(|a| a.attributes.communities.len() > MAX_COMMUNITIES) {
        Some(a) => Err(AdvertisementError::TooManyCommunities(a.attributes.communities.len())),
        None => Ok(()),
    }
}

type Dialing = Pin<Box<dyn Future<Output = Result<TcpStream, DialError>> + Send>>;

/// How long a session lets a burst of changes run before it syncs anyway.
const COALESCE_MAX: Duration = Duration::from_millis(20);

/// Waits out a burst of service changes before the session takes the whole set: the
/// speaker's work loop yields between keys, so without this every key of a burst (the initial
/// sync, a deleted namespace, a config change) would cost every session one copy and diff of
/// all advertisements — quadratic (v0.9's sessions do the same). The session yields while the
/// generation keeps moving, for at most [`COALESCE_MAX`] since the first change, then syncs
/// once; a lone change costs one yield. The advertisements sent are those of the last state.
async fn coalesce(generation: &mut watch::Receiver<u64>) {
    let start = Instant::now();
    loop {
        generation.borrow_and_update();
        tokio::task::yield_now().await;
        if !generation.has_changed().unwrap_or(false) || start.elapsed() >= COALESCE_MAX {
            return;
        }
    }
}

/// One peer: performs what the session asks (dial, send, disconnect, log, metrics) and feeds
/// it what happens (bytes, connection loss, timers, new advertisements, close).
async fn run_session(
    config: SessionConfig,
    target: SocketAddr,
    password: String,
    services: ServiceAds,
    mut generation: watch::Receiver<u64>,
    mut close: mpsc::UnboundedReceiver<CloseReason>,
    metrics: BgpMetrics,
) {
    let addr = config.addr.clone();
    let (local_asn, peer_asn) = (i64::from(config.local_asn), i64::from(config.peer_asn));
    // A peer that stops reading must not wedge the task (no timers, no Close) in a write:
    // a write that cannot finish within the hold time counts as a lost connection.
    let write_limit = if config.hold_time.is_zero() { Duration::from_secs(90) } else { config.hold_time };
    let mut session = Session::new(config, Instant::now());
    metrics.created(&addr);
    let mut conn: Option<TcpStream> = None;
    let mut dialing: Option<Dialing> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let mut updates_seen = 0u64;

    generation.borrow_and_update();
    // Validated by the controller before it was stored.
    let mut pending = session.set_advertisements(all_ads(&services)).unwrap_or_default();
    pending.extend(session.handle(Instant::now(), Input::Tick));
    loop {
        let mut queue = std::collections::VecDeque::from(std::mem::take(&mut pending));
        while let Some(out) = queue.pop_front() {
            match out {
                Output::Dial => {
                    let pw = password.clone();
                    dialing = Some(Box::pin(async move { dial(target, &pw).await }));
                }
                Output::Send(bytes) => {
                    if let Some(c) = conn.as_mut() {
                        let err = match tokio::time::timeout(write_limit, c.write_all(&bytes)).await {
                            Ok(Ok(())) => None,
                            Ok(Err(e)) => Some(e.to_string()),
                            Err(_) => Some("write timeout".to_string()),
                        };
                        if let Some(e) = err {
                            conn = None;
                            queue.extend(session.handle(Instant::now(), Input::ConnectionLost(e)));
                        }
                    }
                }
                Output::Disconnect => {
                    dialing = None;
                    if let Some(mut c) = conn.take() {
                        // FIN after what was written (a Cease), rather than a bare close.
                        let _ = c.shutdown().await;
                    }
                }
                Output::Established { .. } => {
                    log_json!("event" => "sessionUp", "peer" => &addr, "localASN" => local_asn, "peerASN" => peer_asn, "msg" => "BGP session established");
                }
                Output::ConnectFailed(err) => {
                    log_json!("op" => "connect", "error" => err.to_string(), "peer" => &addr, "localASN" => local_asn, "peerASN" => peer_asn, "msg" => "failed to connect to peer");
                }
                Output::SessionDown(err) => {
                    if let SessionError::PeerNotification(_) = &err {
                        log_json!("event" => "peerNotification", "error" => err.to_string(), "peer" => &addr, "localASN" => local_asn, "peerASN" => peer_asn, "msg" => "peer sent notification, closing session");
                    }
                    log_json!("event" => "sessionDown", "error" => err.to_string(), "peer" => &addr, "localASN" => local_asn, "peerASN" => peer_asn, "msg" => "BGP session down");
                }
            }
        }
        let stats = session.stats();
        metrics.observe(&addr, stats, stats.updates_sent - updates_seen);
        updates_seen = stats.updates_sent;
        if session.is_closed() {
            break;
        }

        let deadline = session.poll_timeout();
        tokio::select! {
            _ = sleep_until(deadline) => {
                pending = session.handle(Instant::now(), Input::Tick);
            }
            r = poll_dial(&mut dialing) => {
                dialing = None;
                pending = match r {
                    Ok(stream) => connected(&mut session, stream, &mut conn),
                    Err(e) => session.handle(Instant::now(), Input::DialFailed(e.to_string())),
                };
            }
            r = read(&mut conn, &mut buf) => {
                pending = match r {
                    Ok(n) if n > 0 => session.handle(Instant::now(), Input::Bytes(&buf[..n])),
                    Ok(_) => {
                        conn = None;
                        session.handle(Instant::now(), Input::ConnectionLost("EOF".into()))
                    }
                    Err(e) => {
                        conn = None;
                        session.handle(Instant::now(), Input::ConnectionLost(e.to_string()))
                    }
                };
            }
            r = generation.changed() => {
                pending = match r {
                    Ok(()) => {
                        coalesce(&mut generation).await;
                        session.set_advertisements(all_ads(&services)).unwrap_or_default()
                    }
                    // The controller is gone without a shutdown: end as a shutdown would.
                    Err(_) => session.handle(Instant::now(), Input::Close(CloseReason::Shutdown)),
                };
            }
            r = close.recv() => {
                let reason = r.unwrap_or(CloseReason::Shutdown);
                pending = session.handle(Instant::now(), Input::Close(reason));
            }
        }
    }
    metrics.closed(&addr);
}

fn connected(session: &mut Session, stream: TcpStream, conn: &mut Option<TcpStream>) -> Vec<Output> {
    let local = match stream.local_addr() {
        Ok(a) => a.ip(),
        Err(e) => return session.handle(Instant::now(), Input::DialFailed(e.to_string())),
    };
    let local = match local {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(local, IpAddr::V4),
        v4 => v4,
    };
    let interface_ipv4 = match local {
        IpAddr::V6(a) => interface_ipv4_for(a),
        IpAddr::V4(_) => None,
    };
    *conn = Some(stream);
    session.handle(Instant::now(), Input::Connected { local, interface_ipv4 })
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

async fn poll_dial(dialing: &mut Option<Dialing>) -> Result<TcpStream, DialError> {
    match dialing.as_mut() {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

async fn read(conn: &mut Option<TcpStream>, buf: &mut [u8]) -> std::io::Result<usize> {
    match conn.as_mut() {
        Some(c) => c.read(buf).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::message::Message;
    use crate::bgp::notification::{NotificationRepr, cease};
    use crate::bgp::open::OpenRepr;
    use crate::bgp::update::Codec;
    use crate::bgp::{RouteAttributes, header};
    use crate::config::LabelSelector;
    use tokio::net::TcpListener;

    /// Reads whole BGP messages from a fake peer's socket.
    struct Wire {
        stream: TcpStream,
        buf: Vec<u8>,
    }

    impl Wire {
        async fn next(&mut self) -> Option<Message> {
            let codec = Codec { four_octet_as: true };
            loop {
                match Message::decode(&self.buf, codec) {
                    Ok((m, used)) => {
                        self.buf.drain(..used);
                        return Some(m);
                    }
                    Err(crate::bgp::DecodeError::Header(header::HeaderError::Truncated { .. })) => {}
                    Err(e) => panic!("ferrolb sent a malformed message: {e}"),
                }
                let mut chunk = [0u8; 4096];
                let n = tokio::time::timeout(Duration::from_secs(15), self.stream.read(&mut chunk))
                    .await
                    .expect("ferrolb went silent")
                    .ok()?;
                if n == 0 {
                    return None;
                }
                self.buf.extend_from_slice(&chunk[..n]);
            }
        }
    }

    fn peer(port: u16) -> Peer {
        Peer {
            my_asn: 64500,
            asn: 64501,
            addr: "127.0.0.1".parse().expect("literal"),
            port,
            hold_time: Duration::from_secs(90),
            router_id: None,
            node_selectors: vec![LabelSelector::everything()],
            password: String::new(),
        }
    }

    fn ad(prefix: &str) -> Advertisement {
        Advertisement { prefix: prefix.parse().expect("literal"), attributes: RouteAttributes::new(0, vec![]) }
    }

    /// Over loopback: OPEN and KEEPALIVE, the advertisements as UPDATEs with our local address
    /// as next hop, a withdraw when a service goes, and Cease (Peer De-configured) when the
    /// peer leaves the config; the peer's series are then gone.
    #[tokio::test]
    async fn session_announces_withdraws_and_ceases_over_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let metrics = BgpMetrics::default();
        let mut ctl = BgpController::new("node1", metrics.clone());
        ctl.set_service("default/a", vec![ad("127.10.0.1/32")]).expect("valid");
        ctl.set_peers(&[peer(port)]);
        let label = super::super::metrics::PeerLabel { peer: format!("127.0.0.1:{port}") };
        assert_eq!(metrics.session_up.get_or_create(&label).get(), 0);

        let (stream, _) = listener.accept().await.expect("ferrolb dials");
        let mut wire = Wire { stream, buf: Vec::new() };
        let Some(Message::Open(open)) = wire.next().await else { panic!("first message is not OPEN") };
        assert_eq!((open.asn(), open.hold_time), (64500, 90));
        let reply = OpenRepr::metallb(64501, 90, "127.0.0.2".parse().expect("literal"));
        wire.stream.write_all(&reply.to_bytes()).await.expect("send OPEN");
        wire.stream.write_all(&header::keepalive()).await.expect("send KEEPALIVE");
        assert_eq!(wire.next().await, Some(Message::Keepalive));
        let Some(Message::Update(u)) = wire.next().await else { panic!("no UPDATE after the KEEPALIVE") };
        assert_eq!(u.nlri, vec!["127.10.0.1/32".parse().expect("literal")]);
        assert!(format!("{:?}", u.attributes).contains("127.0.0.1"), "NEXT_HOP is the local address: {u:?}");

        ctl.delete_service("default/a");
        let Some(Message::Update(w)) = wire.next().await else { panic!("no withdraw") };
        assert_eq!(w.withdrawn, vec!["127.10.0.1/32".parse().expect("literal")]);

        ctl.set_peers(&[]);
        assert_eq!(
            wire.next().await,
            Some(Message::Notification(NotificationRepr::cease(cease::PEER_DECONFIGURED)))
        );
        assert_eq!(wire.next().await, None, "connection closed after the Cease");
        ctl.shutdown().await;
        let text = {
            let mut r = prometheus_client::registry::Registry::default();
            metrics.register(&mut r);
            crate::metrics::render(&r)
        };
        assert!(!text.contains(&format!("127.0.0.1:{port}")), "series left after close: {text}");
    }

    #[test]
    fn too_many_communities_are_rejected_before_anything_is_stored() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let mut ctl = BgpController::new("node1", BgpMetrics::default());
            let mut bad = ad("192.0.2.1/32");
            bad.attributes.communities = (0..64).collect();
            assert_eq!(
                ctl.set_service("default/bad", vec![bad]).map_err(|e| e.to_string()),
                Err("max supported communities is 63, got 64".to_string())
            );
            ctl.set_service("default/good", vec![ad("192.0.2.2/32")]).expect("others still work");
            assert_eq!(all_ads(&ctl.services).len(), 1);
        });
    }
}
