//! The BGP protocol handler (v0.9 `bgpController`, spec §4.6): the speaker's [`Protocol`]
//! calls mapped onto the network shell [`BgpController`], which owns the sessions.
//!
//! * `set_config` → [`BgpController::set_peers`]: sessions of peers equal in every field stay,
//!   changed or removed peers are closed with Cease (Peer De-configured), new ones start.
//! * `set_node` → [`BgpController::set_node_labels`]: node selectors re-evaluated (D.5).
//! * `should_announce` → [`announce::should_announce`] with the Service's
//!   `externalTrafficPolicy` (D.4: `noLocalEndpoints` / `noEndpoints`).
//! * `set_balancer` → the pool's advertisements for the IP ([`announce::advertisements_for`])
//!   replace the service's; `delete_balancer` drops them.
//! * `shutdown` → Cease (Administrative Shutdown) to every peer, awaited (v0.9 sends none).
//!
//! Non-blocking: every call only updates shared state and spawns or signals the session
//! tasks on the speaker's tokio runtime; the sessions run while the work loop waits or
//! yields between keys. So the handler must be created and used inside that runtime.
//! The log events (`peerAdded`, `peerRemoved`, `nodeLabelsChanged`, `updatedAdvertisements`,
//! `sessionUp`, `sessionDown`, ...) and the `metallb_bgp_*` series come from the shell.

use std::collections::BTreeMap;
use std::net::IpAddr;

use futures::future::LocalBoxFuture;

use crate::bgp::BgpController;
use crate::bgp::announce;
use crate::bgp::metrics::BgpMetrics;
use crate::config::{Config, Pool};
use crate::election::EndpointsView;

use super::decision::{ServiceView, WithdrawReason};
use super::protocol::Protocol;

/// The BGP handler of one speaker.
pub struct BgpHandler {
    node: String,
    /// `None` once shut down.
    controller: Option<BgpController>,
}

impl BgpHandler {
    /// A handler for node `node` counting into `metrics`. Must be called inside a tokio
    /// runtime (the sessions are tasks of it).
    pub fn new(node: &str, metrics: BgpMetrics) -> Self {
        BgpHandler { node: node.to_owned(), controller: Some(BgpController::new(node, metrics)) }
    }

    fn controller(&mut self) -> Result<&mut BgpController, String> {
        self.controller.as_mut().ok_or_else(|| "BGP handler is shut down".to_string())
    }
}

impl Protocol for BgpHandler {
    fn set_config(&mut self, config: &Config) -> Result<(), String> {
        self.controller()?.set_peers(&config.peers);
        Ok(())
    }

    fn should_announce(&self, _service_key: &str, service: &ServiceView, endpoints: &EndpointsView) -> Option<WithdrawReason> {
        announce::should_announce(&self.node, service.traffic_policy_local, endpoints)
    }

    fn set_balancer(&mut self, service_key: &str, ip: IpAddr, pool: &Pool) -> Result<(), String> {
        let ads = announce::advertisements_for(ip, pool);
        self.controller()?.set_service(service_key, ads).map_err(|e| e.to_string())
    }

    fn delete_balancer(&mut self, service_key: &str, _reason: WithdrawReason) -> Result<(), String> {
        self.controller()?.delete_service(service_key);
        Ok(())
    }

    fn set_node(&mut self, labels: &BTreeMap<String, String>) -> Result<(), String> {
        self.controller()?.set_node_labels(labels.clone());
        Ok(())
    }

    fn shutdown(&mut self) -> LocalBoxFuture<'static, ()> {
        let controller = self.controller.take();
        Box::pin(async move {
            if let Some(c) = controller {
                c.shutdown().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::metrics::PeerLabel;
    use crate::config::parse;
    use crate::election::{EndpointAddress, EndpointSubset};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
    }

    fn lb(local: bool) -> ServiceView {
        ServiceView { service_type: "LoadBalancer".into(), ingress_ips: vec!["198.51.100.5".into()], traffic_policy_local: local }
    }

    fn eps_on(node: &str) -> EndpointsView {
        EndpointsView { subsets: vec![EndpointSubset { ready: vec![EndpointAddress::on_node("203.0.113.9", node)], not_ready: vec![] }] }
    }

    #[test]
    fn external_traffic_policy_local_needs_an_endpoint_on_this_node() {
        rt().block_on(async {
            let h = BgpHandler::new("node1", BgpMetrics::default());
            assert_eq!(h.should_announce("ns/a", &lb(false), &eps_on("node2")), None);
            assert_eq!(h.should_announce("ns/a", &lb(true), &eps_on("node2")), Some(WithdrawReason::NoLocalEndpoints));
            assert_eq!(h.should_announce("ns/a", &lb(true), &eps_on("node1")), None);
            assert_eq!(h.should_announce("ns/a", &lb(false), &EndpointsView::default()), Some(WithdrawReason::NoEndpoints));
        });
    }

    /// The config's peers become sessions (their `session_up` series appear at once), a node
    /// selector that stops matching closes its session, and shutdown closes the rest.
    #[test]
    fn config_and_node_labels_drive_the_sessions_and_shutdown_closes_them() {
        rt().block_on(async {
            let metrics = BgpMetrics::default();
            let mut h = BgpHandler::new("node1", metrics.clone());
            let cfg = parse(
                "peers:\n- peer-address: 127.0.0.1\n  peer-port: 1\n  peer-asn: 64501\n  my-asn: 64500\n  node-selectors:\n  - match-labels:\n      rack: a\naddress-pools:\n- name: b\n  protocol: bgp\n  addresses: [198.51.100.0/24]\n",
            )
            .expect("valid config");
            h.set_config(&cfg).expect("accepted");
            let label = PeerLabel { peer: "127.0.0.1:1".into() };
            let exists = |m: &BgpMetrics| {
                let mut r = prometheus_client::registry::Registry::default();
                m.register(&mut r);
                crate::metrics::render(&r).contains("127.0.0.1:1")
            };
            tokio::task::yield_now().await;
            assert!(!exists(&metrics), "no session before the node's labels match");
            h.set_node(&[("rack".to_string(), "a".to_string())].into()).expect("labels");
            let up = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                while !exists(&metrics) {
                    tokio::task::yield_now().await;
                }
            })
            .await;
            assert!(up.is_ok(), "the session started once the selector matched");
            assert_eq!(metrics.session_up.get_or_create(&label).get(), 0, "nobody listens on port 1");
            h.set_balancer("ns/a", "198.51.100.5".parse().expect("literal"), &cfg.pools[0]).expect("announced");
            h.delete_balancer("ns/a", WithdrawReason::NoEndpoints).expect("withdrawn");
            h.shutdown().await;
            assert!(!exists(&metrics), "series removed when the session closed");
            assert_eq!(
                h.set_balancer("ns/a", "198.51.100.5".parse().expect("literal"), &cfg.pools[0]),
                Err("BGP handler is shut down".to_string())
            );
        });
    }
}
