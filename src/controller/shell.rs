//! The controller's Kubernetes shell: watches, the work queue, and the writes that make the
//! world match [`super::reconcile`]'s decisions (spec §1.1, §1.2, §3.1).
//!
//! * Watches: Services in all namespaces, and the ConfigMap in the own namespace with the field
//!   selector `metadata.name=<--config>`. Stores are plain maps fed by the watch events; a
//!   watch restart (410 Gone) replaces a store and enqueues every key that changed or vanished.
//! * One queue, one worker (client-go semantics, [`crate::k8s::queue`]). The queue starts once
//!   both initial lists are in: the ConfigMap key first, then every Service, then the synced
//!   marker — so the initial pass adopts before anything is allocated.
//! * Adoption (ferrolb, spec §3.5): every accepted config starts an adoption pass: the Services
//!   that show an ingress IP are queued first, then a release marker, then the others; until the
//!   marker is processed nothing new is allocated. v0.9 re-adds with rate limiting and can hand
//!   a new Service an IP another Service still shows (metallb#2443); ferrolb never does.
//! * Writes, within v0.9's RBAC: status by PUT on `services/status` (a conflict is an Error:
//!   the key is retried on the newer object), Events as core/v1 with component
//!   `metallb-controller`, a client-side token bucket (`--kube-api-qps`, `--kube-api-burst`)
//!   on status writes.
//! * SIGTERM/SIGINT: exit at once (v0.9 has no signal handling either).
//!
//! * Metrics on `[::]:--port` (`/metrics` only), v0.9's names ([`crate::metrics`]).
//!
//! * Throughput: decisions are made one key at a time, in queue order (as v0.9), but up to
//!   [`STATUS_WRITES_IN_FLIGHT`] status PUTs overlap, and Events are written by their own task
//!   (as client-go's broadcaster does), so a resync of thousands of Services is bound by the
//!   apiserver, not by round trips. Stored Services drop their managedFields (memory).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::FutureExt;
use k8s_openapi::api::core::v1::{ConfigMap, LoadBalancerIngress, LoadBalancerStatus, Service, ServiceSpec, ServiceStatus};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio::sync::mpsc;

use super::reconcile::{Controller, Ingress, LogLine, ServiceView};
use crate::allocator::Port;
use crate::cli::daemon::ControllerArgs;
use crate::k8s::configmap::{ConfigEvent, ConfigEventFilter, on_configmap};
use crate::k8s::events::{EventSender, Recorder};
use crate::k8s::queue::{TokenBucket, WorkQueue};
use crate::k8s::watch::forward;
use crate::k8s::{SyncState, client};
use crate::logging::{self, Field};
use crate::metrics::{self, ControllerMetrics, PoolLabel};

/// A work-queue key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Service(String),
    ConfigMap,
    Synced,
    AdoptionDone,
}

enum Msg {
    Service(Box<watcher::Event<Service>>),
    ConfigMap(Box<watcher::Event<ConfigMap>>),
    WatchError(&'static str, String),
    /// A status write finished: the key's final state (Error if the write failed).
    StatusDone(Key, SyncState, Instant),
}

/// Status writes in flight at once. The work loop decides in order, one key at a time, as v0.9
/// does; only the PUTs overlap, so a large resync is bound by the apiserver's throughput rather
/// than by one round trip per Service. A key is not handed out again until its write is done.
/// Four requests are 2% of the apiserver's default `--max-mutating-requests-inflight` (200).
const STATUS_WRITES_IN_FLIGHT: usize = 4;

/// Emits reconcile log lines with their context key, if any.
fn emit(ctx: Option<(&'static str, &str)>, lines: &[LogLine]) {
    for l in lines {
        let mut fields: Vec<(&str, Field)> = l.clone();
        if let Some((k, v)) = ctx {
            fields.push((k, Field::from(v)));
        }
        logging::emit(&format!("{}:{}", file!().rsplit('/').next().unwrap_or("shell.rs"), line!()), &fields);
    }
}

fn service_key(s: &Service) -> String {
    format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any())
}

/// What the reconcile reads of a Service.
pub fn view(s: &Service) -> ServiceView {
    let spec = s.spec.clone().unwrap_or_default();
    let ingress = s
        .status
        .as_ref()
        .and_then(|st| st.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|i| Ingress {
            ip: i.ip.unwrap_or_default(),
            hostname: i.hostname.unwrap_or_default(),
            ports: i.ports.unwrap_or_default().into_iter().map(|p| format!("{}/{}", p.port, p.protocol)).collect(),
        })
        .collect();
    ServiceView {
        type_: spec.type_.unwrap_or_default(),
        cluster_ip: spec.cluster_ip.unwrap_or_default(),
        load_balancer_ip: spec.load_balancer_ip.unwrap_or_default(),
        external_traffic_policy: spec.external_traffic_policy.unwrap_or_default(),
        selector: spec.selector.unwrap_or_default(),
        ports: spec
            .ports
            .unwrap_or_default()
            .into_iter()
            .map(|p| Port::new(p.protocol.unwrap_or_else(|| "TCP".into()), p.port.clamp(0, 65535) as u16))
            .collect(),
        // Only MetalLB's own annotations are read (address-pool, allow-shared-ip).
        annotations: s.annotations().iter().filter(|(k, _)| k.starts_with("metallb.universe.tf/")).map(|(k, v)| (k.clone(), v.clone())).collect(),
        ingress,
    }
}

struct Shell {
    ctl: Controller,
    queue: WorkQueue<Key>,
    services: HashMap<String, Stored>,
    service_buffer: Option<HashMap<String, Stored>>,
    services_listed: bool,
    configmap: Option<ConfigMap>,
    configmap_buffer: Option<Option<ConfigMap>>,
    configmap_listed: bool,
    started: bool,
    client: Client,
    recorder: EventSender,
    config_events: ConfigEventFilter,
    writes: TokenBucket,
    metrics: ControllerMetrics,
    /// Services that could not allocate because the controller was not synced or was in an
    /// adoption pass; re-added at once (not rate limited) when allocation opens.
    held: Vec<String>,
    /// Where spawned status writes report back.
    tx: mpsc::UnboundedSender<Msg>,
    /// Status writes in flight.
    inflight: usize,
}

impl Shell {
    /// Brings the pool gauges in line with the allocator (v0.9.3 semantics live there).
    fn sync_pool_gauges(&mut self) {
        for pool in self.ctl.removed_pools.drain(..) {
            let label = PoolLabel { pool };
            self.metrics.addresses_total.remove(&label);
            self.metrics.addresses_in_use.remove(&label);
        }
        for (pool, g) in self.ctl.allocator.pool_gauges() {
            let label = PoolLabel { pool: pool.clone() };
            self.metrics.addresses_total.get_or_create(&label).set(g.addresses_total);
            self.metrics.addresses_in_use.get_or_create(&label).set(g.addresses_in_use_total as i64);
        }
    }

    fn on_message(&mut self, msg: Msg) {
        match msg {
            Msg::Service(ev) => match *ev {
                watcher::Event::Init => self.service_buffer = Some(HashMap::new()),
                watcher::Event::InitApply(s) => {
                    if let Some(b) = self.service_buffer.as_mut() {
                        b.insert(service_key(&s), Stored::of(s));
                    }
                }
                watcher::Event::InitDone => {
                    let fresh = self.service_buffer.take().unwrap_or_default();
                    for (k, old) in &self.services {
                        if fresh.get(k).map(|s| &s.meta.resource_version) != Some(&old.meta.resource_version) {
                            self.queue.add(Key::Service(k.clone()));
                        }
                    }
                    for k in fresh.keys() {
                        if !self.services.contains_key(k) {
                            self.queue.add(Key::Service(k.clone()));
                        }
                    }
                    self.services = fresh;
                    self.services_listed = true;
                }
                watcher::Event::Apply(s) => {
                    let k = service_key(&s);
                    self.services.insert(k.clone(), Stored::of(s));
                    self.queue.add(Key::Service(k));
                }
                watcher::Event::Delete(s) => {
                    let k = service_key(&s);
                    self.services.remove(&k);
                    self.queue.add(Key::Service(k));
                }
            },
            Msg::ConfigMap(ev) => {
                match *ev {
                    watcher::Event::Init => self.configmap_buffer = Some(None),
                    watcher::Event::InitApply(cm) => self.configmap_buffer = Some(Some(cm)),
                    watcher::Event::InitDone => {
                        let fresh = self.configmap_buffer.take().flatten();
                        // A ConfigMap that never existed produces no event (v0.9).
                        if fresh.is_some() || self.configmap.is_some() {
                            self.queue.add(Key::ConfigMap);
                        }
                        self.configmap = fresh;
                        self.configmap_listed = true;
                    }
                    watcher::Event::Apply(cm) => {
                        self.configmap = Some(cm);
                        self.queue.add(Key::ConfigMap);
                    }
                    watcher::Event::Delete(_) => {
                        self.configmap = None;
                        self.queue.add(Key::ConfigMap);
                    }
                }
            }
            Msg::WatchError(what, e) => {
                crate::log_json!("op" => "watch", "error" => e, "msg" => format!("{what} watch failed, retrying"));
            }
            Msg::StatusDone(key, state, started) => {
                self.inflight -= 1;
                self.finish(key, state, started);
            }
        }
        if !self.started && self.services_listed && self.configmap_listed {
            // Initial order: the ConfigMap, every Service, then the synced marker.
            self.queue.start_order(self.configmap.is_some().then_some(Key::ConfigMap), Key::Synced);
            self.started = true;
        }
    }

    /// Re-enqueues every Service: those showing an ingress IP first (adoption), then the
    /// release marker, then the rest.
    fn reprocess_all(&mut self, adoption: bool) {
        let mut with_ip: Vec<&String> = vec![];
        let mut others: Vec<&String> = vec![];
        for (k, s) in &self.services {
            let has = !s.view.ingress.is_empty();
            if has { with_ip.push(k) } else { others.push(k) }
        }
        with_ip.sort();
        others.sort();
        let (with_ip, others): (Vec<String>, Vec<String>) =
            (with_ip.into_iter().cloned().collect(), others.into_iter().cloned().collect());
        for k in with_ip {
            self.queue.add(Key::Service(k));
        }
        if adoption {
            self.ctl.adopting = true;
            self.queue.add(Key::AdoptionDone);
        }
        for k in others {
            self.queue.add(Key::Service(k));
        }
    }

    async fn process(&mut self, key: Key) {
        let now = Instant::now();
        self.metrics.client.updates.inc();
        let state = match &key {
            Key::Synced => {
                let l = self.ctl.mark_synced();
                emit(None, &[l]);
                self.release_held();
                SyncState::Success
            }
            Key::AdoptionDone => {
                self.ctl.adopting = false;
                self.release_held();
                SyncState::Success
            }
            Key::ConfigMap => {
                let data = self.configmap.as_ref().map(|cm| cm.data.as_ref().and_then(|d| d.get("config")).cloned().unwrap_or_default());
                let out = on_configmap(data.as_deref(), &mut self.ctl);
                if let Some(stale) = out.stale {
                    self.metrics.client.config_stale.set(i64::from(stale));
                }
                if out.loaded {
                    self.metrics.client.config_loaded.set(1);
                }
                let ns = self.configmap.as_ref().and_then(|c| c.namespace()).unwrap_or_default();
                let name = self.configmap.as_ref().map(|c| c.name_any()).unwrap_or_default();
                emit(Some(("configmap", &format!("{ns}/{name}"))), &out.logs);
                if let (Some(cm), Some(ev)) = (self.configmap.clone(), self.config_events.filter(out.event.clone())) {
                    let (warning, reason, msg) = match ev {
                        ConfigEvent::Stale(t) => (true, "ConfigStale", t),
                        ConfigEvent::Loaded => (false, "ConfigLoaded", "config (re)loaded".to_string()),
                    };
                    self.recorder.record(&cm, warning, reason, &msg);
                }
                if out.loaded {
                    self.queue.forget(&key);
                    self.reprocess_all(true);
                    SyncState::Success
                } else {
                    out.state
                }
            }
            Key::Service(k) => {
                let svc = self.services.get(k).cloned();
                let view = svc.as_ref().map(|s| s.view.clone());
                let out = self.ctl.set_balancer(k, view.as_ref());
                emit(Some(("service", k)), &out.logs);
                let state = out.state;
                if state == SyncState::Error && (!self.ctl.synced || self.ctl.adopting) {
                    // Waiting for allocation to open: no backoff, it is re-added then.
                    self.held.push(k.clone());
                    self.queue.forget(&key);
                    self.queue.done(&key);
                    return;
                }
                if let Some(svc) = &svc {
                    let reference = svc.reference();
                    for ev in &out.events {
                        self.recorder.record(&reference, ev.warning, ev.reason, &ev.message);
                    }
                    if let Some(ingress) = out.status {
                        let wait = self.writes.reserve(Instant::now());
                        let (client, svc, tx, k) = (self.client.clone(), svc.clone(), self.tx.clone(), k.clone());
                        self.inflight += 1;
                        tokio::spawn(async move {
                            if !wait.is_zero() {
                                tokio::time::sleep(wait).await;
                            }
                            let state = match put_status(client, &svc, ingress).await {
                                Ok(()) => state,
                                Err(e) => {
                                    crate::log_json!("op" => "updateServiceStatus", "error" => e.to_string(), "service" => k, "msg" => "failed to update service status");
                                    SyncState::Error
                                }
                            };
                            let _ = tx.send(Msg::StatusDone(key, state, now));
                        });
                        self.sync_pool_gauges();
                        return;
                    }
                }
                state
            }
        };
        self.sync_pool_gauges();
        self.finish(key, state, now);
    }

    /// The end of a key's processing: the queue action for its final state.
    fn finish(&mut self, key: Key, state: SyncState, now: Instant) {
        if state == SyncState::Error {
            self.metrics.client.update_errors.inc();
        }
        if self.queue.settle(&key, state, now) {
            self.reprocess_all(false);
        }
        self.queue.done(&key);
    }

    fn release_held(&mut self) {
        if self.ctl.synced && !self.ctl.adopting {
            for k in std::mem::take(&mut self.held) {
                self.queue.add(Key::Service(k));
            }
        }
    }

}

async fn put_status(client: Client, svc: &Stored, ingress: Vec<Ingress>) -> Result<(), kube::Error> {
    let api: Api<Service> = Api::namespaced(client, svc.meta.namespace.as_deref().unwrap_or_default());
    let lb = if ingress.is_empty() {
        LoadBalancerStatus::default()
    } else {
        LoadBalancerStatus {
            ingress: Some(ingress.into_iter().map(|i| LoadBalancerIngress { ip: Some(i.ip), ..Default::default() }).collect()),
        }
    };
    let mut status = svc.status.clone();
    status.load_balancer = Some(lb);
    // The apiserver keeps the stored spec on a status write; `type` is sent so that the
    // defaults of the status (ingress ipMode) are those of the Service's real type.
    let spec = ServiceSpec { type_: Some(svc.view.type_.clone()), ..ServiceSpec::default() };
    let obj = Service { metadata: svc.meta.clone(), spec: Some(spec), status: Some(status) };
    api.replace_status(svc.meta.name.as_deref().unwrap_or_default(), &PostParams::default(), &obj).await.map(|_| ())
}

/// What the controller keeps of a Service: its metadata (without managedFields; a status PUT
/// must carry labels and annotations, the apiserver applies them), its status (a PUT replaces
/// all of it), and the reconcile's view of the spec. Not the spec itself: the apiserver keeps
/// the stored spec on a status write. At 10,000 Services this is a large part of the memory.
#[derive(Debug, Clone)]
struct Stored {
    meta: ObjectMeta,
    status: ServiceStatus,
    view: ServiceView,
}

impl Stored {
    fn of(mut s: Service) -> Stored {
        let view = view(&s);
        s.metadata.managed_fields = None;
        Stored { meta: s.metadata, status: s.status.unwrap_or_default(), view }
    }

    /// A Service with only the metadata, to name it in an Event.
    fn reference(&self) -> Service {
        Service { metadata: self.meta.clone(), ..Service::default() }
    }
}

/// Runs the controller until a signal; returns the exit code.
pub fn run(args: &ControllerArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            crate::log_json!("op" => "startup", "error" => e.to_string(), "msg" => "failed to start the runtime");
            return 1;
        }
    };
    rt.block_on(run_async(args))
}

async fn run_async(args: &ControllerArgs) -> i32 {
    let client = match client::in_cluster() {
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
    let (tx, mut rx) = mpsc::unbounded_channel();
    let services: Api<Service> = Api::all(client.clone());
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    tokio::spawn(forward(services, watcher::Config::default(), tx.clone(), |e| Msg::Service(Box::new(e)), Msg::WatchError, "service"));
    let cm_cfg = watcher::Config::default().fields(&format!("metadata.name={}", args.config));
    tokio::spawn(forward(configmaps, cm_cfg, tx.clone(), |e| Msg::ConfigMap(Box::new(e)), Msg::WatchError, "configmap"));

    let mut shell = Shell {
        ctl: Controller::new(),
        queue: WorkQueue::default(),
        services: HashMap::new(),
        service_buffer: None,
        services_listed: false,
        configmap: None,
        configmap_buffer: None,
        configmap_listed: false,
        started: false,
        recorder: Recorder::new(client.clone(), "metallb-controller").spawn(),
        config_events: ConfigEventFilter::default(),
        client,
        writes: TokenBucket::new(args.kube_api_qps as f64, args.kube_api_burst),
        metrics: ControllerMetrics::default(),
        held: Vec::new(),
        tx,
        inflight: 0,
    };
    match u16::try_from(args.port) {
        Ok(port) => {
            let addr = std::net::SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), port);
            tokio::spawn(metrics::serve(addr, std::sync::Arc::new(shell.metrics.registry())));
        }
        Err(_) => crate::log_json!("op" => "startup", "error" => format!("invalid port {}", args.port), "msg" => "not serving metrics"),
    }
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            crate::log_json!("op" => "startup", "error" => e.to_string(), "msg" => "failed to install the signal handler");
            return 1;
        }
    };
    loop {
        // A signal is looked for before every key, so a busy queue (a retry storm, a resync of
        // thousands of Services) never delays the exit.
        if term.recv().now_or_never().is_some() {
            return 0;
        }
        // Take every pending watch event before deciding, so a burst is seen as a whole.
        while let Ok(msg) = rx.try_recv() {
            shell.on_message(msg);
        }
        shell.queue.promote(Instant::now());
        if shell.started
            && shell.inflight < STATUS_WRITES_IN_FLIGHT
            && let Some(key) = shell.queue.get()
        {
            shell.process(key).await;
            // One runtime thread: let the watches, the status writes and the metrics server run.
            tokio::task::yield_now().await;
            continue;
        }
        let wake = shell.queue.next_wakeup().map(|t| t.saturating_duration_since(Instant::now())).unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(m) => shell.on_message(m),
                None => return 1,
            },
            _ = tokio::time::sleep(wake) => {}
            _ = term.recv() => return 0,
            _ = tokio::signal::ctrl_c() => return 0,
        }
    }
}
