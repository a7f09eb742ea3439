//! The speaker's per-key logic around the pure [`decide`] (v0.9 `speaker/main.go`'s
//! controller, spec §4.2): it owns the config in force, the announcement record and the
//! protocol handlers, performs each decision through the handlers, keeps the
//! `metallb_speaker_announced` series, and returns the log lines and the `nodeAssigned`
//! Event for the shell to write. No Kubernetes client here, so it is tested with a fake
//! handler.

use std::collections::BTreeMap;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::config::{Config, Protocol as Proto};
use crate::election::{EndpointsView, Members};
use crate::k8s::SyncState;
use crate::k8s::configmap::{ApplyConfig, LogLine};
use crate::logging::Field;

use super::decision::{
    Announcement, Announcements, Decision, ServiceInput, ServiceView, WithdrawReason, decide, invalid_ip_error, pool_for,
};
use super::metrics::AnnouncedLabel;
use super::protocol::Protocol;

/// What one pass over a service key asks the shell to do.
#[derive(Debug, Default)]
pub struct ServiceOutcome {
    /// The queue action.
    pub state: Option<SyncState>,
    /// Log lines (the shell adds `service=<key>`).
    pub logs: Vec<LogLine>,
    /// The message of a Normal `nodeAssigned` Event to record on the Service.
    pub node_assigned: Option<String>,
}

/// The speaker's state (v0.9's `controller` in `speaker/main.go`).
pub struct SpeakerCore {
    node: String,
    config: Option<Config>,
    announcements: Announcements,
    handlers: BTreeMap<Proto, Box<dyn Protocol + Send>>,
    announced_gauge: Family<AnnouncedLabel, Gauge>,
}

fn line(fields: &[(&'static str, Field)]) -> LogLine {
    fields.to_vec()
}

impl SpeakerCore {
    /// A speaker for `node` with the given handlers (v0.9 always has layer2 and bgp, and
    /// so does the binary; tests may register fewer).
    pub fn new(node: &str, handlers: BTreeMap<Proto, Box<dyn Protocol + Send>>, announced_gauge: Family<AnnouncedLabel, Gauge>) -> Self {
        SpeakerCore { node: node.to_owned(), config: None, announcements: Announcements::default(), handlers, announced_gauge }
    }

    /// The config in force.
    pub fn config(&self) -> Option<&Config> {
        self.config.as_ref()
    }

    /// What is announced, by service key.
    pub fn announcements(&self) -> &Announcements {
        &self.announcements
    }

    /// The handler for `protocol`, if registered.
    pub fn handler_mut(&mut self, protocol: Proto) -> Option<&mut (dyn Protocol + Send + 'static)> {
        self.handlers.get_mut(&protocol).map(|h| h.as_mut())
    }

    /// Passes the memberlist view to every handler (`None`: memberlist disabled).
    pub fn set_members(&mut self, members: Option<Members>) {
        for h in self.handlers.values_mut() {
            h.set_members(members.clone());
        }
    }

    /// The speaker stops: every handler's goodbye, in turn.
    pub async fn shutdown(&mut self) {
        for h in self.handlers.values_mut() {
            h.shutdown().await;
        }
    }

    /// v0.9 `SetNode`: the own Node's labels go to every handler.
    pub fn set_node(&mut self, labels: &BTreeMap<String, String>) -> (SyncState, Vec<LogLine>) {
        for (proto, h) in &mut self.handlers {
            if let Err(e) = h.set_node(labels) {
                let l = line(&[
                    ("op", "setNode".into()),
                    ("error", e.into()),
                    ("protocol", proto.as_str().into()),
                    ("msg", "failed to propagate node info to protocol handler".into()),
                ]);
                return (SyncState::Error, vec![l]);
            }
        }
        (SyncState::Success, vec![])
    }

    /// withdraw(reason) of spec §4.2: nothing unless announced.
    fn withdraw(&mut self, key: &str, reason: WithdrawReason, ctx: &[(&'static str, Field)], out: &mut ServiceOutcome) -> SyncState {
        let Some(current) = self.announcements.get(key) else { return SyncState::Success };
        if let Some(h) = self.handlers.get_mut(&current.protocol)
            && let Err(e) = h.delete_balancer(key, reason)
        {
            let mut l = ctx.to_vec();
            l.extend([("op", "deleteBalancer".into()), ("error", e.into()), ("msg", "failed to clear balancer state".into())]);
            out.logs.push(l);
            return SyncState::Error;
        }
        self.announced_gauge.remove(&self.label(key, current));
        self.announcements.withdrawn(key);
        // v0.9 reads the IP after forgetting it: the `ip` field is always empty.
        let mut l = ctx.to_vec();
        l.retain(|(k, _)| *k != "ip");
        l.extend([
            ("event", "serviceWithdrawn".into()),
            ("ip", "".into()),
            ("reason", reason.as_str().into()),
            ("msg", "withdrawing service announcement".into()),
        ]);
        out.logs.push(l);
        SyncState::Success
    }

    fn label(&self, key: &str, a: Announcement) -> AnnouncedLabel {
        AnnouncedLabel { service: key.to_owned(), protocol: a.protocol.as_str().to_owned(), node: self.node.clone(), ip: a.ip.to_string() }
    }

    /// v0.9 `SetBalancer` for `key` with the Service and Endpoints of the stores.
    pub fn set_balancer(&mut self, key: &str, service: Option<&ServiceView>, endpoints: Option<&EndpointsView>) -> ServiceOutcome {
        let mut out = ServiceOutcome::default();
        let both = service.is_some() && endpoints.is_some();
        if both {
            out.logs.push(line(&[("event", "startUpdate".into()), ("msg", "start of service update".into())]));
        }
        let state = self.set_balancer_inner(key, service, endpoints, &mut out);
        if both {
            out.logs.push(line(&[("event", "endUpdate".into()), ("msg", "end of service update".into())]));
        }
        out.state = Some(state);
        out
    }

    fn set_balancer_inner(
        &mut self,
        key: &str,
        service: Option<&ServiceView>,
        endpoints: Option<&EndpointsView>,
        out: &mut ServiceOutcome,
    ) -> SyncState {
        let current = self.announcements.get(key);
        let mut unknown_protocol = None;
        let decision = {
            let handlers = &self.handlers;
            // Borrowed, not copied per key: absent ones read as empty.
            let (no_eps, no_svc) = (EndpointsView::default(), ServiceView::default());
            let (eps, svc) = (endpoints.unwrap_or(&no_eps), service.unwrap_or(&no_svc));
            decide(ServiceInput { service, endpoints }, self.config.as_ref(), current, |proto| match handlers.get(&proto) {
                Some(h) => h.should_announce(key, svc, eps),
                None => {
                    unknown_protocol = Some(proto);
                    Some(WithdrawReason::InternalError)
                }
            })
        };
        // The log context v0.9's logger carries at the step that decided.
        let ingress = service.and_then(|s| s.ingress_ips.first()).cloned().unwrap_or_default();
        let ip = ingress.parse::<std::net::IpAddr>().ok().map(|i| i.to_canonical());
        let pool = match (ip, self.config.as_ref()) {
            (Some(ip), Some(cfg)) => pool_for(cfg, ip).map(|p| (p.name.clone(), p.protocol)),
            _ => None,
        };
        let mut ctx: Vec<(&'static str, Field)> = vec![];
        match decision {
            Decision::NoConfig => {
                out.logs.push(line(&[("event", "noConfig".into()), ("msg", "not processing, still waiting for config".into())]));
                SyncState::Success
            }
            Decision::Withdraw { reason, .. } => {
                match reason {
                    WithdrawReason::InvalidIp => out.logs.push(line(&[
                        ("op", "setBalancer".into()),
                        ("error", invalid_ip_error(&ingress).into()),
                        ("msg", "invalid IP allocated by controller".into()),
                    ])),
                    WithdrawReason::IpNotAllowed => {
                        ctx.push(("ip", ip.map(|i| i.to_string()).unwrap_or_default().into()));
                        out.logs.push(
                            [
                                ctx.clone(),
                                line(&[
                                    ("op", "setBalancer".into()),
                                    ("error", "assigned IP not allowed by config".into()),
                                    ("msg", "IP allocated by controller not allowed by config".into()),
                                ]),
                            ]
                            .concat(),
                        );
                    }
                    WithdrawReason::ProtocolChanged
                    | WithdrawReason::LoadBalancerIpChanged
                    | WithdrawReason::NotOwner
                    | WithdrawReason::NoEndpoints
                    | WithdrawReason::NoLocalEndpoints
                    | WithdrawReason::InternalError => {
                        if let Some((pool, proto)) = &pool {
                            ctx.push(("pool", pool.as_str().into()));
                            if !matches!(reason, WithdrawReason::ProtocolChanged | WithdrawReason::LoadBalancerIpChanged) {
                                ctx.push(("protocol", proto.as_str().into()));
                            }
                        }
                        if let Some(proto) = unknown_protocol
                            && reason == WithdrawReason::InternalError
                        {
                            // No handler registered for this protocol (the binary registers both).
                            out.logs.push(
                                [
                                    ctx.clone(),
                                    line(&[
                                        ("bug", "true".into()),
                                        ("protocol", proto.as_str().into()),
                                        ("msg", "internal error: unknown balancer protocol!".into()),
                                    ]),
                                ]
                                .concat(),
                            );
                        }
                    }
                    _ => {}
                }
                self.withdraw(key, reason, &ctx, out)
            }
            Decision::Announce { ip, pool, protocol, replacing } => {
                ctx.push(("ip", ip.to_string().into()));
                ctx.push(("pool", pool.as_str().into()));
                if let Some((reason, _)) = replacing
                    && self.withdraw(key, reason, &ctx, out) == SyncState::Error
                {
                    return SyncState::Error;
                }
                ctx.push(("protocol", protocol.as_str().into()));
                let Some(cfg_pool) = self.config.as_ref().and_then(|c| c.pools.iter().find(|p| p.name == pool)).cloned() else {
                    return SyncState::Success;
                };
                let Some(handler) = self.handlers.get_mut(&protocol) else { return SyncState::Success };
                if let Err(e) = handler.set_balancer(key, ip, &cfg_pool) {
                    out.logs.push(
                        [ctx, line(&[("op", "setBalancer".into()), ("error", e.into()), ("msg", "failed to announce service".into())])]
                            .concat(),
                    );
                    return SyncState::Error;
                }
                let announcement = Announcement { protocol, ip };
                self.announcements.announced(key, announcement);
                self.announced_gauge.get_or_create(&self.label(key, announcement)).set(1);
                out.logs.push([ctx, line(&[("event", "serviceAnnounced".into()), ("msg", "service has IP, announcing".into())])].concat());
                out.node_assigned = Some(format!("announcing from node {}", crate::config::quote(&self.node)));
                SyncState::Success
            }
        }
    }
}

impl ApplyConfig for SpeakerCore {
    /// v0.9's speaker `SetConfig` (spec §4.2, vectors G).
    fn apply(&mut self, cfg: Option<Config>, logs: &mut Vec<LogLine>) -> Result<SyncState, String> {
        logs.push(line(&[("event", "startUpdate".into()), ("msg", "start of config update".into())]));
        let result = self.apply_inner(cfg, logs);
        logs.push(line(&[("event", "endUpdate".into()), ("msg", "end of config update".into())]));
        result
    }
}

impl SpeakerCore {
    fn apply_inner(&mut self, cfg: Option<Config>, logs: &mut Vec<LogLine>) -> Result<SyncState, String> {
        let Some(cfg) = cfg else {
            let text = "no MetalLB configuration in cluster";
            logs.push(line(&[
                ("op", "setConfig".into()),
                ("error", text.into()),
                ("msg", "configuration is missing, MetalLB will not function".into()),
            ]));
            return Err(text.into());
        };
        if let Err(rejected) = self.announcements.accept_config(&cfg) {
            logs.push(line(&[
                ("op", "setConfig".into()),
                ("service", rejected.service.as_str().into()),
                ("ip", rejected.ip.to_string().into()),
                ("error", rejected.to_string().into()),
                ("msg", "new configuration rejected".into()),
            ]));
            return Err(format!("{rejected}: service {} has IP {}", rejected.service, rejected.ip));
        }
        for (proto, h) in &mut self.handlers {
            if let Err(e) = h.set_config(&cfg) {
                logs.push(line(&[
                    ("op", "setConfig".into()),
                    ("protocol", proto.as_str().into()),
                    ("error", e.as_str().into()),
                    ("msg", "applying new configuration to protocol handler failed".into()),
                ]));
                return Err(e);
            }
        }
        self.config = Some(cfg);
        Ok(SyncState::ReprocessAll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pool;
    use crate::election::{EndpointAddress, EndpointSubset, is_owner};
    use crate::k8s::configmap::on_configmap;
    use std::net::IpAddr;
    use std::sync::{Arc, Mutex};

    /// A layer2-like handler that records calls.
    struct Fake {
        node: String,
        calls: Arc<Mutex<Vec<String>>>,
        fail_set: bool,
    }

    impl Protocol for Fake {
        fn set_config(&mut self, _: &Config) -> Result<(), String> {
            Ok(())
        }
        fn should_announce(&self, key: &str, _: &ServiceView, eps: &EndpointsView) -> Option<WithdrawReason> {
            (!is_owner(&self.node, key, eps, None)).then_some(WithdrawReason::NotOwner)
        }
        fn set_balancer(&mut self, key: &str, ip: IpAddr, _: &Pool) -> Result<(), String> {
            self.calls.lock().unwrap().push(format!("set {key} {ip}"));
            if self.fail_set { Err("boom".into()) } else { Ok(()) }
        }
        fn delete_balancer(&mut self, key: &str, reason: WithdrawReason) -> Result<(), String> {
            self.calls.lock().unwrap().push(format!("delete {key} {reason}"));
            Ok(())
        }
        fn set_node(&mut self, _: &BTreeMap<String, String>) -> Result<(), String> {
            Ok(())
        }
    }

    fn core(node: &str, fail_set: bool) -> (SpeakerCore, Arc<Mutex<Vec<String>>>, Family<AnnouncedLabel, Gauge>) {
        let calls = Arc::new(Mutex::new(vec![]));
        let mut handlers: BTreeMap<Proto, Box<dyn Protocol + Send>> = BTreeMap::new();
        handlers.insert(Proto::Layer2, Box::new(Fake { node: node.into(), calls: calls.clone(), fail_set }));
        let gauge = Family::default();
        (SpeakerCore::new(node, handlers, gauge.clone()), calls, gauge)
    }

    const L2: &str = "address-pools:\n- name: l2\n  protocol: layer2\n  addresses: [192.0.2.0/24]\n- name: b\n  protocol: bgp\n  addresses: [198.51.100.0/24]\npeers:\n- peer-address: 203.0.113.1\n  peer-asn: 64500\n  my-asn: 64501\n";

    fn load(c: &mut SpeakerCore, text: &str) -> crate::k8s::configmap::ConfigOutcome {
        on_configmap(Some(text), c)
    }

    fn lb(ip: &str) -> ServiceView {
        ServiceView { service_type: "LoadBalancer".into(), ingress_ips: vec![ip.into()], ..Default::default() }
    }

    fn eps(nodes: &[&str]) -> EndpointsView {
        EndpointsView {
            subsets: vec![EndpointSubset {
                ready: nodes.iter().map(|n| EndpointAddress::on_node("10.0.0.1", n)).collect(),
                not_ready: vec![],
            }],
        }
    }

    fn field<'a>(l: &'a LogLine, k: &str) -> Option<&'a Field> {
        l.iter().find(|(key, _)| *key == k).map(|(_, v)| v)
    }

    /// The owner of `key` among `nodes`.
    fn owner_of(key: &str, nodes: &[&str]) -> String {
        crate::election::owner(key, &eps(nodes), None).unwrap()
    }

    #[test]
    fn owner_announces_records_gauge_and_asks_for_node_assigned_event() {
        let me = owner_of("default/a", &["node1", "node2", "node3"]);
        let (mut c, calls, gauge) = core(&me, false);
        assert_eq!(load(&mut c, L2).state, SyncState::ReprocessAll);
        let out = c.set_balancer("default/a", Some(&lb("192.0.2.100")), Some(&eps(&["node1", "node2", "node3"])));
        assert_eq!(out.state, Some(SyncState::Success));
        assert_eq!(out.node_assigned, Some(format!("announcing from node \"{me}\"")));
        assert_eq!(calls.lock().unwrap().as_slice(), ["set default/a 192.0.2.100".to_string()]);
        let ann = out.logs.iter().find(|l| field(l, "event") == Some(&Field::from("serviceAnnounced"))).unwrap();
        assert_eq!(field(ann, "pool"), Some(&Field::from("l2")));
        assert_eq!(field(ann, "protocol"), Some(&Field::from("layer2")));
        let text = crate::metrics::render(&{
            let mut r = prometheus_client::registry::Registry::default();
            r.register("metallb_speaker_announced", "x", gauge.clone());
            r
        });
        assert!(text.contains(&format!("service=\"default/a\",protocol=\"layer2\",node=\"{me}\",ip=\"192.0.2.100\"}} 1")), "{text}");
    }

    #[test]
    fn losing_ownership_withdraws_with_not_owner_and_an_empty_ip_field() {
        let me = owner_of("default/a", &["node1", "node2", "node3"]);
        let (mut c, calls, _) = core(&me, false);
        load(&mut c, L2);
        c.set_balancer("default/a", Some(&lb("192.0.2.100")), Some(&eps(&["node1", "node2", "node3"])));
        let others: Vec<&str> = ["node1", "node2", "node3"].into_iter().filter(|n| *n != me).collect();
        let out = c.set_balancer("default/a", Some(&lb("192.0.2.100")), Some(&eps(&others)));
        let w = out.logs.iter().find(|l| field(l, "event") == Some(&Field::from("serviceWithdrawn"))).unwrap();
        assert_eq!(field(w, "reason"), Some(&Field::from("notOwner")));
        assert_eq!(field(w, "ip"), Some(&Field::from("")));
        assert_eq!(calls.lock().unwrap().last().unwrap(), "delete default/a notOwner");
        assert_eq!(c.announcements().get("default/a"), None);
        assert_eq!(out.node_assigned, None);
    }

    #[test]
    fn endpoints_absent_is_a_deletion_without_start_update() {
        let (mut c, _, _) = core("node1", false);
        load(&mut c, L2);
        c.set_balancer("default/a", Some(&lb("192.0.2.100")), Some(&eps(&["node1"])));
        let out = c.set_balancer("default/a", Some(&lb("192.0.2.100")), None);
        assert!(out.logs.iter().all(|l| field(l, "event") != Some(&Field::from("startUpdate"))));
        let w = out.logs.iter().find(|l| field(l, "event") == Some(&Field::from("serviceWithdrawn"))).unwrap();
        assert_eq!(field(w, "reason"), Some(&Field::from("serviceDeleted")));
    }

    #[test]
    fn bgp_pool_without_handler_is_internal_error_never_announced() {
        let (mut c, calls, _) = core("node1", false);
        load(&mut c, L2);
        let out = c.set_balancer("default/b", Some(&lb("198.51.100.5")), Some(&eps(&["node1"])));
        assert_eq!(out.state, Some(SyncState::Success));
        assert!(out.logs.iter().any(|l| field(l, "msg") == Some(&Field::from("internal error: unknown balancer protocol!"))));
        assert!(calls.lock().unwrap().is_empty());
        assert_eq!(c.announcements().get("default/b"), None);
    }

    #[test]
    fn a_failing_handler_is_an_error_and_nothing_is_recorded() {
        let (mut c, _, _) = core("node1", true);
        load(&mut c, L2);
        let out = c.set_balancer("default/a", Some(&lb("192.0.2.100")), Some(&eps(&["node1"])));
        assert_eq!(out.state, Some(SyncState::Error));
        assert!(out.logs.iter().any(|l| field(l, "msg") == Some(&Field::from("failed to announce service"))));
        assert_eq!(c.announcements().get("default/a"), None);
    }

    #[test]
    fn config_dropping_an_announced_ip_is_rejected_and_the_old_one_stays_g() {
        let (mut c, _, _) = core("node1", false);
        load(&mut c, L2);
        c.set_balancer("default/a", Some(&lb("192.0.2.100")), Some(&eps(&["node1"])));
        let out = load(&mut c, "address-pools:\n- name: l2\n  protocol: layer2\n  addresses: [203.0.113.0/24]\n");
        assert_eq!((out.state, out.stale, out.loaded), (SyncState::Success, Some(true), false));
        let rej = out.logs.iter().find(|l| field(l, "msg") == Some(&Field::from("new configuration rejected"))).unwrap();
        assert_eq!(field(rej, "error"), Some(&Field::from("service has no configuration under new config")));
        assert_eq!(field(rej, "service"), Some(&Field::from("default/a")));
        assert_eq!(c.config().unwrap().pools[0].cidrs[0].to_string(), "192.0.2.0/24");
        // Still announced, and the next pass keeps it.
        let out = c.set_balancer("default/a", Some(&lb("192.0.2.100")), Some(&eps(&["node1"])));
        assert!(out.node_assigned.is_some());
    }

    #[test]
    fn missing_configmap_is_an_error_and_no_config_means_no_announcement() {
        let (mut c, calls, _) = core("node1", false);
        let out = c.set_balancer("default/a", Some(&lb("192.0.2.100")), Some(&eps(&["node1"])));
        assert!(out.logs.iter().any(|l| field(l, "event") == Some(&Field::from("noConfig"))));
        assert!(calls.lock().unwrap().is_empty());
        let out = on_configmap(None, &mut c);
        assert_eq!(out.state, SyncState::Error);
    }

    #[test]
    fn ip_change_withdraws_first_then_announces_the_new_ip() {
        let (mut c, calls, _) = core("node1", false);
        load(&mut c, L2);
        c.set_balancer("default/a", Some(&lb("192.0.2.100")), Some(&eps(&["node1"])));
        let out = c.set_balancer("default/a", Some(&lb("192.0.2.101")), Some(&eps(&["node1"])));
        assert_eq!(
            calls.lock().unwrap().as_slice(),
            ["set default/a 192.0.2.100", "delete default/a loadBalancerIPChanged", "set default/a 192.0.2.101"]
        );
        assert_eq!(c.announcements().get("default/a").unwrap().ip.to_string(), "192.0.2.101");
        assert!(out.node_assigned.is_some());
    }
}
