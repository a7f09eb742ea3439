//! The speaker's Kubernetes shell (spec §1.3, §4.1, §4.7): watches, one work queue, and the
//! protocol handlers' periodic work.
//!
//! * Watches: Services and Endpoints in all namespaces, the ConfigMap in the own namespace
//!   (field selector `metadata.name=<--config>`), and the own Node (field selector
//!   `metadata.name=<node>`). The stores are [`Store`]s; a relist enqueues every key that
//!   changed or vanished.
//! * One queue, one worker, client-go semantics ([`WorkQueue`]): a Service or Endpoints change
//!   enqueues the service key, the ConfigMap its key, the own Node its key. Processing starts
//!   once the four initial lists are in (v0.9 waits for the informers' cache sync); the first
//!   keys are the ConfigMap, the Node, then every Service (v0.9's order is the informers'
//!   arbitrary one; config first spares a `noConfig` pass). An accepted config re-adds every
//!   Service to the queue at once (v0.9's `ForceSync` puts them through the rate limiter, a
//!   burst of 100 then 10/s: minutes for thousands of Services; see `docs/differences.md`).
//! * Per key: [`SpeakerCore`] (the pure [`super::decision::decide`] performed through the
//!   [`super::protocol::Protocol`] handlers); the shell writes the logs, the `nodeAssigned`
//!   Event (core/v1, component `metallb-speaker`, on every successful announce, aggregated by
//!   the recorder, written by a task of its own so the work loop never waits on it) and
//!   nothing else: the speaker never writes Services.
//! * Memberlist (spec §4.3, [`crate::memberlist::metallb`]): started when `ml-bindaddr`,
//!   `ml-labels` and `ml-namespace` are set; otherwise the layer2 election runs over the ready
//!   endpoint nodes alone (`members = None`), as v0.9 without `ml-*` settings. Every
//!   membership event sets the members on the handlers and re-adds every Service at once (as
//!   after a config; v0.9's `ForceSync` rate-limits them, so its failover of the last of 1,000
//!   Services takes about 90 s). On shutdown the responders go silent first, then the
//!   node leaves (1 s at most), so the other speakers take over at once instead of waiting for
//!   the failure detector, and never while this node still answers (v0.9 answers until its
//!   process exits, after the leave).
//! * BGP: [`super::bgp::BgpHandler`], its sessions tasks of this runtime (the work loop
//!   yields between keys and waits in `select!`, so they run); its `metallb_bgp_*` series are
//!   on the speaker's /metrics.
//! * SIGTERM, SIGINT, SIGQUIT: log `op=shutdown msg="starting shutdown"`, stop, send Cease
//!   (Administrative Shutdown) to every BGP peer (v0.9 sends none: the peers see the TCP
//!   connection drop), log `op=shutdown msg=done`, exit 0. Nothing is sent for layer 2 (v0.9
//!   neither).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::FutureExt;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Node, Service};
use kube::api::{Api, ObjectMeta};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::core::SpeakerCore;
use crate::election::{MemberState, Members};
use crate::memberlist::metallb::SpeakerMemberlist;
use super::decision::ServiceView;
use super::bgp::BgpHandler;
use super::layer2::Layer2Handler;
use super::metrics::SpeakerMetrics;
use super::protocol::Protocol;
use crate::cli::daemon::SpeakerSettings;
use crate::config::Protocol as Proto;
use crate::election::{EndpointAddress, EndpointSubset, EndpointsView};
use crate::k8s::configmap::{ConfigEvent, ConfigEventFilter, LogLine, on_configmap};
use crate::k8s::events::Recorder;
use crate::k8s::queue::WorkQueue;
use crate::k8s::store::Store;
use crate::k8s::watch::forward;
use crate::k8s::{SyncState, client};
use crate::logging::{self, Field};
use crate::metrics;

/// A work-queue key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Service(String),
    ConfigMap,
    Node,
    Synced,
}

enum Msg {
    Service(Box<watcher::Event<Service>>),
    Endpoints(Box<watcher::Event<Endpoints>>),
    ConfigMap(Box<watcher::Event<ConfigMap>>),
    Node(Box<watcher::Event<Node>>),
    WatchError(&'static str, String),
}

fn emit(ctx: &[(&'static str, Field)], lines: &[LogLine]) {
    for l in lines {
        let mut fields: Vec<(&str, Field)> = ctx.to_vec();
        fields.extend(l.iter().cloned());
        logging::emit(&format!("{}:{}", file!().rsplit('/').next().unwrap_or("shell.rs"), line!()), &fields);
    }
}

/// What the speaker reads of a Service.
pub fn service_view(s: &Service) -> ServiceView {
    ServiceView {
        service_type: s.spec.as_ref().and_then(|sp| sp.type_.clone()).unwrap_or_default(),
        ingress_ips: s
            .status
            .as_ref()
            .and_then(|st| st.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|ing| ing.iter().map(|i| i.ip.clone().unwrap_or_default()).collect())
            .unwrap_or_default(),
        traffic_policy_local: s.spec.as_ref().and_then(|sp| sp.external_traffic_policy.as_deref()) == Some("Local"),
    }
}

/// What the election reads of an Endpoints object.
pub fn endpoints_view(e: &Endpoints) -> EndpointsView {
    let addresses = |list: &Option<Vec<k8s_openapi::api::core::v1::EndpointAddress>>| -> Vec<EndpointAddress> {
        list.iter().flatten().map(|a| EndpointAddress { ip: a.ip.clone(), node_name: a.node_name.clone() }).collect()
    };
    EndpointsView {
        subsets: e
            .subsets
            .iter()
            .flatten()
            .map(|s| EndpointSubset { ready: addresses(&s.addresses), not_ready: addresses(&s.not_ready_addresses) })
            .collect(),
    }
}

/// What the speaker keeps of a Service: its view and what an Event's involvedObject needs.
#[derive(Debug, Clone)]
struct ServiceEntry {
    view: ServiceView,
    meta: ObjectMeta,
}

impl ServiceEntry {
    fn of(s: &Service) -> Self {
        let m = &s.metadata;
        ServiceEntry {
            view: service_view(s),
            meta: ObjectMeta {
                name: m.name.clone(),
                namespace: m.namespace.clone(),
                uid: m.uid.clone(),
                resource_version: m.resource_version.clone(),
                ..ObjectMeta::default()
            },
        }
    }

    /// A Service carrying only the metadata the Event recorder reads.
    fn as_reference(&self) -> Service {
        Service { metadata: self.meta.clone(), ..Service::default() }
    }
}

struct Shell {
    core: SpeakerCore,
    queue: WorkQueue<Key>,
    services: Store<ServiceEntry>,
    endpoints: Store<EndpointsView>,
    configmap: Store<ConfigMap>,
    nodes: Store<BTreeMap<String, String>>,
    configmap_key: String,
    /// The first clean load of a (re)started speaker records no `ConfigLoaded`, as the
    /// controller's does not: a rolling update from v0.9 writes no Event.
    config_events: ConfigEventFilter,
    node_name: String,
    started: bool,
    events: mpsc::UnboundedSender<EventRequest>,
    metrics: SpeakerMetrics,
}

/// An Event to record, by the recorder task (the work loop never waits on the API server for
/// an Event; client-go's recorder is asynchronous too).
enum EventRequest {
    Service { service: Box<Service>, message: String },
    ConfigMap { configmap: Box<ConfigMap>, warning: bool, reason: &'static str, message: String },
}

async fn record_events(mut recorder: Recorder, mut rx: mpsc::UnboundedReceiver<EventRequest>) {
    while let Some(req) = rx.recv().await {
        let result = match &req {
            EventRequest::Service { service, message } => recorder.record(service.as_ref(), false, "nodeAssigned", message).await,
            EventRequest::ConfigMap { configmap, warning, reason, message } => {
                recorder.record(configmap.as_ref(), *warning, reason, message).await
            }
        };
        if let Err(e) = result {
            crate::log_json!("op" => "recordEvent", "error" => e.to_string(), "msg" => "failed to record event");
        }
    }
}

impl Shell {
    fn on_message(&mut self, msg: Msg) {
        match msg {
            Msg::Service(ev) => {
                for k in self.services.apply(*ev, ServiceEntry::of) {
                    self.queue.add(Key::Service(k));
                }
            }
            Msg::Endpoints(ev) => {
                for k in self.endpoints.apply(*ev, endpoints_view) {
                    self.queue.add(Key::Service(k));
                }
            }
            Msg::ConfigMap(ev) => {
                // A ConfigMap that never existed produces no key (v0.9's informer has no event).
                if !self.configmap.apply(*ev, ConfigMap::clone).is_empty() {
                    self.queue.add(Key::ConfigMap);
                }
            }
            Msg::Node(ev) => {
                if !self.nodes.apply(*ev, |n: &Node| n.labels().clone().into_iter().collect()).is_empty() {
                    self.queue.add(Key::Node);
                }
            }
            Msg::WatchError(what, e) => {
                crate::log_json!("op" => "watch", "error" => e, "msg" => format!("{what} watch failed, retrying"));
            }
        }
        if !self.started && self.services.listed() && self.endpoints.listed() && self.configmap.listed() && self.nodes.listed() {
            let first = [(!self.configmap.is_empty()).then_some(Key::ConfigMap), (!self.nodes.is_empty()).then_some(Key::Node)];
            self.queue.start_order(first.into_iter().flatten(), Key::Synced);
            self.started = true;
        }
    }

    fn process(&mut self, key: Key) {
        let now = Instant::now();
        self.metrics.client.updates.inc();
        let state = match &key {
            Key::Synced => SyncState::Success,
            Key::Node => match self.nodes.get(&self.node_name) {
                None => {
                    crate::log_json!("node" => self.node_name.as_str(), "op" => "getNode", "error" => "node doesn't exist in k8s, but I'm running on it!");
                    SyncState::Error
                }
                Some(labels) => {
                    let labels = labels.clone();
                    let (state, logs) = self.core.set_node(&labels);
                    emit(&[], &logs);
                    state
                }
            },
            Key::ConfigMap => {
                let cm = self.configmap.get(&self.configmap_key).cloned();
                let data = cm.as_ref().map(|cm| cm.data.as_ref().and_then(|d| d.get("config")).cloned().unwrap_or_default());
                let out = on_configmap(data.as_deref(), &mut self.core);
                if let Some(stale) = out.stale {
                    self.metrics.client.config_stale.set(i64::from(stale));
                }
                if out.loaded {
                    self.metrics.client.config_loaded.set(1);
                }
                emit(&[("configmap", Field::from(self.configmap_key.as_str()))], &out.logs);
                if let (Some(cm), Some(ev)) = (cm, self.config_events.filter(out.event.clone())) {
                    let (warning, reason, message) = match ev {
                        ConfigEvent::Stale(t) => (true, "ConfigStale", t),
                        ConfigEvent::Loaded => (false, "ConfigLoaded", "config (re)loaded".to_string()),
                    };
                    let _ = self.events.send(EventRequest::ConfigMap { configmap: Box::new(cm), warning, reason, message });
                }
                out.state
            }
            Key::Service(k) => {
                let svc = self.services.get(k).cloned();
                let view = svc.as_ref().map(|s| &s.view);
                let eps = self.endpoints.get(k);
                let out = self.core.set_balancer(k, view, eps);
                emit(&[("service", Field::from(k.as_str()))], &out.logs);
                if let (Some(svc), Some(message)) = (&svc, out.node_assigned) {
                    let _ = self.events.send(EventRequest::Service { service: Box::new(svc.as_reference()), message });
                }
                out.state.unwrap_or(SyncState::Success)
            }
        };
        if state == SyncState::Error {
            self.metrics.client.update_errors.inc();
        }
        if self.queue.settle(&key, state, now) {
            self.force_sync();
        }
        self.queue.done(&key);
    }

    /// v0.9's `ForceSync`: every Service looked at again. Added at once (the queue holds each
    /// key once), not through the rate limiter as v0.9 does: its token bucket is for retries of
    /// failed keys, and a reload or a membership change must reach every Service now.
    fn force_sync(&mut self) {
        for k in self.services.keys() {
            self.queue.add(Key::Service(k));
        }
    }

    /// The memberlist view changed: the handlers get the new members, every Service is
    /// looked at again.
    fn members_changed(&mut self, ml: &SpeakerMemberlist) {
        let members = Members::new(&self.node_name, ml.member_names().into_iter().map(|n| (n, MemberState::Alive)));
        self.core.set_members(Some(members));
        self.force_sync();
    }

    /// The handlers' periodic work; when they want to run next.
    fn poll_handlers(&mut self) -> Option<Instant> {
        let now = Instant::now();
        [Proto::Layer2, Proto::Bgp].into_iter().filter_map(|p| self.core.handler_mut(p).and_then(|h| h.poll(now))).min()
    }
}

/// Runs the speaker until a signal; returns the exit code.
pub fn run(settings: &SpeakerSettings) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            crate::log_json!("op" => "startup", "error" => e.to_string(), "msg" => "failed to start the runtime");
            return 1;
        }
    };
    rt.block_on(run_async(settings))
}

async fn run_async(settings: &SpeakerSettings) -> i32 {
    let client: Client = match client::in_cluster() {
        Ok(c) => c,
        Err(e) => {
            crate::log_json!("op" => "startup", "error" => e, "msg" => "failed to create k8s client");
            return 1;
        }
    };
    let namespace = match client::own_namespace() {
        Ok(ns) => ns,
        Err(e) => {
            crate::log_json!("op" => "startup", "error" => e, "msg" => "failed to create k8s client");
            return 1;
        }
    };
    let (sync_tx, mut sync_rx) = mpsc::unbounded_channel::<()>();
    let ml = match SpeakerMemberlist::start(settings, &client, sync_tx).await {
        Ok(ml) => ml,
        Err(e) => {
            crate::log_json!("op" => "startup", "error" => e.to_string(), "msg" => "failed to create memberlist");
            return 1;
        }
    };
    let metrics = SpeakerMetrics::default();
    let mut handlers: BTreeMap<Proto, Box<dyn Protocol + Send>> = BTreeMap::new();
    handlers.insert(Proto::Layer2, Box::new(Layer2Handler::new(&settings.node_name, metrics.clone())));
    handlers.insert(Proto::Bgp, Box::new(BgpHandler::new(&settings.node_name, metrics.bgp.clone())));

    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(forward(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
        tx.clone(),
        |e| Msg::Service(Box::new(e)),
        Msg::WatchError,
        "service",
    ));
    tokio::spawn(forward(
        Api::<Endpoints>::all(client.clone()),
        watcher::Config::default(),
        tx.clone(),
        |e| Msg::Endpoints(Box::new(e)),
        Msg::WatchError,
        "endpoints",
    ));
    let cm_cfg = watcher::Config::default().fields(&format!("metadata.name={}", settings.config));
    tokio::spawn(forward(
        Api::<ConfigMap>::namespaced(client.clone(), &namespace),
        cm_cfg,
        tx.clone(),
        |e| Msg::ConfigMap(Box::new(e)),
        Msg::WatchError,
        "configmap",
    ));
    let node_cfg = watcher::Config::default().fields(&format!("metadata.name={}", settings.node_name));
    tokio::spawn(forward(Api::<Node>::all(client.clone()), node_cfg, tx, |e| Msg::Node(Box::new(e)), Msg::WatchError, "node"));

    let (events_tx, events_rx) = mpsc::unbounded_channel();
    tokio::spawn(record_events(Recorder::new(client, "metallb-speaker"), events_rx));
    let mut shell = Shell {
        core: SpeakerCore::new(&settings.node_name, handlers, metrics.announced.clone()),
        queue: WorkQueue::default(),
        services: Store::default(),
        endpoints: Store::default(),
        configmap: Store::default(),
        nodes: Store::default(),
        configmap_key: format!("{namespace}/{}", settings.config),
        config_events: ConfigEventFilter::default(),
        node_name: settings.node_name.clone(),
        started: false,
        events: events_tx,
        metrics,
    };
    if let Some(ml) = &ml {
        shell.members_changed(ml);
    }
    match u16::try_from(settings.port) {
        Ok(port) => {
            let ip = if settings.host.is_empty() {
                Ok(std::net::IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED))
            } else {
                settings.host.parse::<std::net::IpAddr>()
            };
            match ip {
                Ok(ip) => {
                    tokio::spawn(metrics::serve(std::net::SocketAddr::new(ip, port), std::sync::Arc::new(shell.metrics.registry())));
                }
                Err(e) => {
                    crate::log_json!("op" => "startup", "error" => format!("invalid host {:?}: {e}", settings.host), "msg" => "not serving metrics")
                }
            }
        }
        Err(_) => crate::log_json!("op" => "startup", "error" => format!("invalid port {}", settings.port), "msg" => "not serving metrics"),
    }
    let (mut term, mut int, mut quit) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::quit()))
    {
        (Ok(t), Ok(i), Ok(q)) => (t, i, q),
        _ => {
            crate::log_json!("op" => "startup", "error" => "cannot install signal handlers", "msg" => "failed to start");
            return 1;
        }
    };
    loop {
        // Signals are looked for before every key, so a busy queue never delays the exit.
        if term.recv().now_or_never().is_some() || int.recv().now_or_never().is_some() || quit.recv().now_or_never().is_some() {
            break;
        }
        if let Some(ml) = &ml {
            let mut changed = false;
            while let Ok(()) = sync_rx.try_recv() {
                changed = true;
            }
            if changed {
                shell.members_changed(ml);
            }
        }
        let handler_wake = shell.poll_handlers();
        while let Ok(msg) = rx.try_recv() {
            shell.on_message(msg);
        }
        shell.queue.promote(Instant::now());
        if shell.started
            && let Some(key) = shell.queue.get()
        {
            shell.process(key);
            // Let the watch and Event tasks run between keys.
            tokio::task::yield_now().await;
            continue;
        }
        let wake = [shell.queue.next_wakeup(), handler_wake].into_iter().flatten().min();
        let wait = wake.map(|t| t.saturating_duration_since(Instant::now())).unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(m) => shell.on_message(m),
                None => return 1,
            },
            _ = tokio::time::sleep(wait) => {}
            Some(()) = sync_rx.recv(), if ml.is_some() => {
                if let Some(ml) = &ml {
                    shell.members_changed(ml);
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = quit.recv() => break,
        }
    }
    crate::log_json!("op" => "shutdown", "msg" => "starting shutdown");
    // BGP peers get a Cease (bounded: a session's write is limited by its hold time; with no
    // BGP peers this returns at once). v0.9 sends nothing for layer 2 on shutdown.
    shell.core.shutdown().await;
    // The responders stop (the handlers are dropped with the shell) before the leave goes out:
    // the peers take over as soon as they hear it, and v0.9 answering until the process exits
    // would leave two nodes answering the same IP for the leave's duration. Nothing is sent.
    drop(shell);
    if let Some(ml) = &ml {
        ml.leave().await;
    }
    crate::log_json!("op" => "shutdown", "msg" => "done");
    0
}
