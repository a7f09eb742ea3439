//! How the speaker uses memberlist (spec §4.3): enablement, configuration, discovery of the
//! other speakers, the join, the membership filter for the layer 2 election, the event log
//! lines, and the leave on shutdown. The speaker's shell calls [`SpeakerMemberlist::start`]
//! once and then reads [`SpeakerMemberlist::member_names`] for every election.
//!
//! Texts are v0.9.3's (spec §4.3 and §6): `"Not starting fast dead node detection
//! (MemberList), …"`, the join line with its `"nb joigned"` and `"error ?"` keys,
//! `"Node event"` followed by `"Call Force Sync"`, and memberlist's own lines wrapped as
//! `{"component":"MemberList","msg":…}`.
//!
//! Fix over v0.9.3 (documented in docs/differences.md), taken from what v0.9.6 does:
//! v0.9.3 joins once at startup and never again, so two speakers that started while the
//! other's pod had no IP yet stay in separate clusters for good. ferrolb lists the speaker pods
//! again every minute and joins those whose IP is not a member yet. It is the same request the
//! startup join makes (`list pods`, which v0.9's RBAC allows), and it is silent when there is
//! nothing to join.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::Client;
use tokio::sync::mpsc;

use super::net::{DEFAULT_PORT, MemberlistHandle, MlConfig, NodeEvent};
use crate::cli::daemon::SpeakerSettings;

/// How often the speaker pods are listed again to join the ones that are not members.
pub const REJOIN_INTERVAL: Duration = Duration::from_secs(60);

/// The time the speaker gives memberlist to announce its leave on SIGTERM (v0.9: 1 s).
pub const LEAVE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why memberlist could not be started. The speaker exits 1 on these, as v0.9 does.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invalid ml-bindaddr {0:?}")]
    BindAddr(String),
    #[error("invalid ml-bindport {0:?}")]
    BindPort(String),
    #[error(transparent)]
    Start(#[from] super::net::StartError),
    #[error("{0}")]
    PodList(String),
}

/// The speaker's memberlist: the running node and what the speaker needs of it.
pub struct SpeakerMemberlist {
    handle: MemberlistHandle,
}

/// The bind address and port of the settings (`ml-bindport` empty: 7946).
pub fn bind_of(settings: &SpeakerSettings) -> Result<(IpAddr, u16), SetupError> {
    let ip: IpAddr = settings.ml_bindaddr.parse().map_err(|_| SetupError::BindAddr(settings.ml_bindaddr.clone()))?;
    let port = if settings.ml_bindport.is_empty() {
        DEFAULT_PORT
    } else {
        settings.ml_bindport.parse().map_err(|_| SetupError::BindPort(settings.ml_bindport.clone()))?
    };
    Ok((ip, port))
}

/// The addresses to join: every pod IP except empty ones, on `port`, sorted and deduplicated.
/// Our own address may be among them (memberlist ignores a join with itself).
pub fn join_addrs(pod_ips: &[String], port: u16) -> Vec<String> {
    let set: BTreeSet<String> = pod_ips
        .iter()
        .filter(|ip| !ip.is_empty())
        .map(|ip| match ip.parse::<IpAddr>() {
            Ok(a) => SocketAddr::new(a, port).to_string(),
            Err(_) => format!("{ip}:{port}"),
        })
        .collect();
    set.into_iter().collect()
}

/// The join addresses of pods whose IP is not yet a member's address.
pub fn missing_addrs(pod_ips: &[String], members: &[IpAddr], port: u16) -> Vec<String> {
    let known: Vec<String> = pod_ips
        .iter()
        .filter(|ip| ip.parse::<IpAddr>().is_ok_and(|a| !members.contains(&a)))
        .cloned()
        .collect();
    join_addrs(&known, port)
}

async fn pod_ips(client: &Client, namespace: &str, labels: &str) -> Result<Vec<String>, String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pods = api.list(&ListParams::default().labels(labels)).await.map_err(|e| e.to_string())?;
    Ok(pods.items.iter().map(|p| p.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default()).collect())
}

impl SpeakerMemberlist {
    /// Starts memberlist if `ml-bindaddr`, `ml-labels` and `ml-namespace` are all set (else
    /// logs v0.9's line and returns `None`), joins the speaker pods, and starts the task that
    /// logs membership events, calls `force_sync` for each, and re-joins missing pods.
    pub async fn start(
        settings: &SpeakerSettings,
        client: &Client,
        force_sync: mpsc::UnboundedSender<()>,
    ) -> Result<Option<SpeakerMemberlist>, SetupError> {
        if !settings.memberlist_enabled() {
            crate::log_json!("op" => "startup", "msg" => "Not starting fast dead node detection (MemberList), need ml-bindaddr / ml-labels / ml-namespace config");
            return Ok(None);
        }
        let (ip, port) = bind_of(settings)?;
        let mut cfg = MlConfig::new(&settings.node_name, ip);
        cfg.bind_port = port;
        cfg.fast_failure_detection = !settings.ml_fast_detection_off;
        if !settings.ml_secret_key.is_empty() {
            cfg.secret = Some(settings.ml_secret_key.as_bytes().to_vec());
        }
        let (log_tx, mut log_rx) = mpsc::unbounded_channel::<String>();
        let (handle, mut events) = MemberlistHandle::start_with_log(cfg, Some(log_tx)).await?;
        tokio::spawn(async move {
            while let Some(line) = log_rx.recv().await {
                crate::log_json!("component" => "MemberList", "msg" => line);
            }
        });

        let ips = pod_ips(client, &settings.ml_namespace, &settings.ml_labels).await.map_err(SetupError::PodList)?;
        let outcome = handle.join(&join_addrs(&ips, port)).await;
        crate::log_json!("op" => "startup", "msg" => "Memberlist join", "nb joigned" => outcome.joined as i64, "error ?" => outcome.error());

        let (client, ns, labels, h) = (client.clone(), settings.ml_namespace.clone(), settings.ml_labels.clone(), handle.clone());
        tokio::spawn(async move {
            let mut rejoin = tokio::time::interval(REJOIN_INTERVAL);
            rejoin.tick().await;
            loop {
                tokio::select! {
                    ev = events.recv() => {
                        let Some(ev) = ev else { return };
                        log_event(&ev);
                        if force_sync.send(()).is_err() {
                            return;
                        }
                    }
                    _ = rejoin.tick() => {
                        let Ok(ips) = pod_ips(&client, &ns, &labels).await else { continue };
                        let members: Vec<IpAddr> = h.members().iter().filter_map(|m| m.addr).collect();
                        let missing = missing_addrs(&ips, &members, port);
                        if !missing.is_empty() {
                            let outcome = h.join(&missing).await;
                            crate::log_json!("op" => "memberDiscovery", "msg" => "Memberlist join", "nb joigned" => outcome.joined as i64, "error ?" => outcome.error());
                        }
                    }
                }
            }
        });
        Ok(Some(SpeakerMemberlist { handle }))
    }

    /// The names of the members that are not dead or left (suspect ones count), ourselves
    /// included: the layer 2 election's filter.
    pub fn member_names(&self) -> BTreeSet<String> {
        self.handle.members().into_iter().map(|m| m.name).collect()
    }

    /// Leaves the cluster (at most [`LEAVE_TIMEOUT`]) and shuts memberlist down.
    pub async fn leave(&self) {
        let err = self.handle.leave(LEAVE_TIMEOUT).await.err().map(|e| e.to_string());
        crate::log_json!("op" => "shutdown", "msg" => "left memberlist cluster", "error" => err);
        self.handle.shutdown().await;
    }

    /// The running node (for metrics and tests).
    pub fn handle(&self) -> &MemberlistHandle {
        &self.handle
    }
}

fn log_event(ev: &NodeEvent) {
    let addr = ev.node.addr.map(|a| a.to_string()).unwrap_or_default();
    crate::log_json!("msg" => "Node event", "node addr" => addr, "node name" => ev.node.name.clone(), "node event" => ev.kind.as_str());
    crate::log_json!("msg" => "Call Force Sync");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_addresses_skip_empty_pod_ips_and_carry_the_port() {
        let ips = vec!["192.0.2.12".to_string(), String::new(), "192.0.2.11".into(), "2001:db8::11".into(), "192.0.2.11".into()];
        assert_eq!(join_addrs(&ips, 7946), vec!["192.0.2.11:7946", "192.0.2.12:7946", "[2001:db8::11]:7946"]);
    }

    #[test]
    fn only_pods_that_are_not_members_are_joined_again() {
        let ips = vec!["192.0.2.11".to_string(), "192.0.2.12".into(), String::new()];
        let members: Vec<IpAddr> = vec!["192.0.2.11".parse().unwrap()];
        assert_eq!(missing_addrs(&ips, &members, 7946), vec!["192.0.2.12:7946"]);
        assert!(missing_addrs(&ips[..1], &members, 7946).is_empty());
    }

    #[test]
    fn the_bind_port_defaults_to_7946_and_bad_values_are_refused() {
        let mut s = SpeakerSettings { ml_bindaddr: "192.0.2.11".into(), ..SpeakerSettings::default() };
        assert_eq!(bind_of(&s).unwrap(), ("192.0.2.11".parse().unwrap(), 7946));
        s.ml_bindport = "7947".into();
        assert_eq!(bind_of(&s).unwrap().1, 7947);
        s.ml_bindport = "x".into();
        assert!(matches!(bind_of(&s), Err(SetupError::BindPort(_))));
        s.ml_bindaddr = "node1".into();
        assert!(matches!(bind_of(&s), Err(SetupError::BindAddr(_))));
    }
}
