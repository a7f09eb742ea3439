//! The layer2 protocol handler (v0.9 `layer2Controller` + `layer2.Announce`, spec §4.4,
//! §4.5): the owner election over ready endpoint nodes and the [`Responders`] data plane,
//! with v0.9's per-IP counters and log lines.
//!
//! The election input is the Endpoints object plus an optional member set: `None` while
//! memberlist is disabled (v0.9 without `ml-*` settings), the usable speakers once the
//! memberlist shell feeds [`Protocol::set_members`].
//!
//! The shell calls [`Layer2Handler::scan`] at start and every [`SCAN_INTERVAL`], and
//! [`Layer2Handler::send_due_gratuitous`] at [`Layer2Handler::next_gratuitous`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, Pool};
use crate::election::{EndpointsView, Members, is_owner};
use crate::layer2::interfaces::ScanAction;
use crate::layer2::responders::{Observation, Observer, Responders};
use crate::layer2::{DropReason, arp_socket, ndp_socket, scan};

use super::decision::{ServiceView, WithdrawReason};
use super::metrics::{IpLabel, ReasonLabel, SpeakerMetrics};
use super::protocol::Protocol;

/// v0.9 re-reads the interfaces every 10 s.
pub const SCAN_INTERVAL: Duration = Duration::from_secs(10);

/// The layer2 handler of one speaker.
pub struct Layer2Handler {
    node: String,
    members: Option<Members>,
    responders: Responders,
    next_scan: Option<Instant>,
}

/// Counts and logs what the serving threads and gratuitous rounds did, as v0.9 does.
fn observer(metrics: SpeakerMetrics) -> Observer {
    Arc::new(move |o: &Observation<'_>| match o {
        Observation::Arp { interface, served: arp_socket::Served::Answered { answer, sent } } => {
            let req = &answer.request;
            let ip = IpLabel { ip: req.target_ip.to_string() };
            metrics.requests_received.get_or_create(&ip).inc();
            let response_mac = answer.reply.source.to_string();
            crate::log_json!("interface" => *interface, "ip" => req.target_ip.to_string(), "senderIP" => req.sender_ip.to_string(),
                "senderMAC" => req.sender_mac.to_string(), "responseMAC" => response_mac.clone(),
                "msg" => "got ARP request for service IP, sending response");
            match sent {
                Ok(()) => metrics.responses_sent.get_or_create(&ip).inc(),
                Err(e) => crate::log_json!("op" => "arpReply", "interface" => *interface, "ip" => req.target_ip.to_string(),
                    "senderIP" => req.sender_ip.to_string(), "senderMAC" => req.sender_mac.to_string(), "responseMAC" => response_mac,
                    "error" => e.as_str(), "msg" => "failed to send ARP reply"),
            }
        }
        Observation::Ndp { interface, served: ndp_socket::Served::Answered { answer, sent } } => {
            let target = answer.request.target;
            let ip = IpLabel { ip: target.to_string() };
            metrics.requests_received.get_or_create(&ip).inc();
            let lladdr = answer.request.source_lla.map(|m| m.to_string()).unwrap_or_default();
            let response_mac = answer.reply.target_lla.to_string();
            crate::log_json!("interface" => *interface, "ip" => target.to_string(), "senderIP" => answer.destination.to_string(),
                "senderLLAddr" => lladdr.clone(), "responseMAC" => response_mac.clone(),
                "msg" => "got NDP request for service IP, sending response");
            match sent {
                Ok(()) => metrics.responses_sent.get_or_create(&ip).inc(),
                // v0.9's NDP responder logs its send failures as op=arpReply.
                Err(e) => crate::log_json!("op" => "arpReply", "interface" => *interface, "ip" => target.to_string(),
                    "senderIP" => answer.destination.to_string(), "senderLLAddr" => lladdr, "responseMAC" => response_mac,
                    "error" => e.as_str(), "msg" => "failed to send ARP reply"),
            }
        }
        Observation::Arp { served: arp_socket::Served::Dropped(DropReason::Malformed(m)), .. }
        | Observation::Ndp { served: ndp_socket::Served::Dropped(DropReason::Malformed(m)), .. } => {
            metrics.malformed_dropped.get_or_create(&ReasonLabel { reason: m.as_str().to_owned() }).inc();
        }
        Observation::Gratuitous { ip, packets, error } => {
            if *packets > 0 {
                metrics.gratuitous_sent.get_or_create(&IpLabel { ip: ip.to_string() }).inc_by(*packets as u64);
            }
            if let Some(e) = error {
                crate::log_json!("op" => "gratuitousAnnounce", "error" => e.to_string(), "ip" => ip.to_string(),
                    "msg" => "failed to make gratuitous IP announcement");
            }
        }
        Observation::Arp { .. } | Observation::Ndp { .. } => {}
    })
}

impl Layer2Handler {
    /// A handler for node `node`, counting into `metrics`; no interfaces until [`Self::scan`].
    pub fn new(node: &str, metrics: SpeakerMetrics) -> Self {
        Layer2Handler { node: node.to_owned(), members: None, responders: Responders::with_observer(observer(metrics)), next_scan: None }
    }

    /// One interface scan pass (v0.9's 10-second loop body), logged with v0.9's lines.
    pub fn scan(&mut self) {
        // Names of the responders a pass may delete (v0.9 logs the interface name).
        let mut names: BTreeMap<(bool, u32), String> = BTreeMap::new();
        for ndp in [false, true] {
            let indices = if ndp { self.responders.ndp_indices() } else { self.responders.arp_indices() };
            for i in indices {
                names.insert((ndp, i), self.responders.interface_of(i, ndp).unwrap_or_default());
            }
        }
        let name_of = |ndp: bool, index: u32| names.get(&(ndp, index)).cloned().unwrap_or_default();
        let steps = match scan::scan(&mut self.responders) {
            Ok(steps) => steps,
            Err(e) => {
                crate::log_json!("op" => "getInterfaces", "error" => e.to_string(), "msg" => "couldn't list interfaces");
                return;
            }
        };
        for step in steps {
            match (&step.action, &step.result) {
                (ScanAction::CreateArp { name, .. }, Ok(())) => {
                    crate::log_json!("interface" => name.as_str(), "event" => "createARPResponder", "msg" => "created ARP responder for interface")
                }
                (ScanAction::CreateArp { name, .. }, Err(e)) => {
                    crate::log_json!("interface" => name.as_str(), "op" => "createARPResponder",
                    "error" => e.to_string(), "msg" => "failed to create ARP responder")
                }
                (ScanAction::CreateNdp { name, .. }, Ok(())) => {
                    crate::log_json!("interface" => name.as_str(), "event" => "createNDPResponder", "msg" => "created NDP responder for interface")
                }
                (ScanAction::CreateNdp { name, .. }, Err(e)) => {
                    crate::log_json!("interface" => name.as_str(), "op" => "createNDPResponder",
                    "error" => e.to_string(), "msg" => "failed to create NDP responder")
                }
                (ScanAction::DeleteArp { index }, _) => {
                    crate::log_json!("interface" => name_of(false, *index), "event" => "deleteARPResponder", "msg" => "deleted ARP responder for interface")
                }
                (ScanAction::DeleteNdp { index }, _) => {
                    crate::log_json!("interface" => name_of(true, *index), "event" => "deleteNDPResponder", "msg" => "deleted NDP responder for interface")
                }
                (ScanAction::Abort { name, error }, _) => crate::log_json!("interface" => name.as_str(), "op" => "getAddresses",
                    "error" => error.as_str(), "msg" => "couldn't get addresses for interface"),
            }
        }
    }

    /// When the next gratuitous round is due.
    pub fn next_gratuitous(&self) -> Option<Instant> {
        self.responders.next_gratuitous()
    }

    /// Sends the gratuitous rounds due at `now` (errors are logged by the observer).
    pub fn send_due_gratuitous(&self, now: Instant) {
        let _ = self.responders.send_due_gratuitous(now);
    }

    /// Whether `service_key` is in the announcement set.
    pub fn is_announced(&self, service_key: &str) -> bool {
        self.responders.is_announced(service_key)
    }
}

impl Protocol for Layer2Handler {
    fn set_config(&mut self, _config: &Config) -> Result<(), String> {
        Ok(())
    }

    fn should_announce(&self, service_key: &str, _service: &ServiceView, endpoints: &EndpointsView) -> Option<WithdrawReason> {
        (!is_owner(&self.node, service_key, endpoints, self.members.as_ref())).then_some(WithdrawReason::NotOwner)
    }

    fn set_balancer(&mut self, service_key: &str, ip: IpAddr, _pool: &Pool) -> Result<(), String> {
        for e in self.responders.set_balancer(service_key, ip, Instant::now()) {
            crate::log_json!("op" => "watchMulticastGroup", "error" => e.to_string(), "ip" => ip.to_string(),
                "msg" => "failed to watch NDP multicast group for IP, NDP responder will not respond to requests for this address");
        }
        Ok(())
    }

    fn delete_balancer(&mut self, service_key: &str, _reason: WithdrawReason) -> Result<(), String> {
        for e in self.responders.delete_balancer(service_key) {
            crate::log_json!("op" => "unwatchMulticastGroup", "error" => e.to_string(), "service" => service_key,
                "msg" => "failed to unwatch NDP multicast group for IP");
        }
        Ok(())
    }

    fn set_node(&mut self, _labels: &BTreeMap<String, String>) -> Result<(), String> {
        // v0.9.3's layer2 handler ignores the node (v0.9.4+ re-joins memberlist here).
        Ok(())
    }

    fn set_members(&mut self, members: Option<Members>) {
        self.members = members;
    }

    fn poll(&mut self, now: Instant) -> Option<Instant> {
        if self.next_scan.is_none_or(|at| at <= now) {
            self.scan();
            self.next_scan = Some(now + SCAN_INTERVAL);
        }
        self.send_due_gratuitous(now);
        [self.next_scan, self.next_gratuitous()].into_iter().flatten().min()
    }
}
