//! Which BGP sessions this speaker runs (v0.9 `bgpController.SetConfig` / `syncPeers`, spec
//! §4.6 "Peer sessions", vectors D.5), as a pure model: the shell feeds it the configured
//! peers and the node's labels and performs the [`PeerAction`]s it returns.
//!
//! Peers are matched by deep equality of the whole parsed peer (ASNs, address, port, hold
//! time, router-id, password, node selectors): any change stops the old session and starts a
//! new one. A peer runs when any of its node selectors matches the node's labels; until the
//! Node object is seen the labels are empty, so only match-everything selectors match.

use std::collections::BTreeMap;

use crate::config::Peer;

/// Identifies one session for the shell's lifetime (a changed peer gets a new id).
pub type PeerId = u64;

/// Why a session is stopped; `as_str` is v0.9's `reason` log value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveReason {
    /// The peer left the config (or changed, which v0.9 treats the same way).
    RemovedFromConfig,
    /// The peer's node selectors no longer match this node.
    FilteredByNodeSelector,
}

impl RemoveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RemoveReason::RemovedFromConfig => "removedFromConfig",
            RemoveReason::FilteredByNodeSelector => "filteredByNodeSelector",
        }
    }
}

/// What the shell must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAction {
    /// Log `event=peerRemoved`; `running`: a session exists and must be closed.
    Remove {
        id: PeerId,
        peer: Peer,
        reason: RemoveReason,
        running: bool,
    },
    /// Start a session (log `event=peerAdded`), then push it the full advertisement set.
    Start { id: PeerId, peer: Peer },
}

#[derive(Debug, Clone)]
struct Entry {
    id: PeerId,
    peer: Peer,
    running: bool,
}

/// The configured peers in config order and whether each has a session.
#[derive(Debug, Clone, Default)]
pub struct PeerSet {
    entries: Vec<Entry>,
    labels: BTreeMap<String, String>,
    next_id: PeerId,
}

/// Whether `peer` runs on a node with `labels`: any of its selectors matches.
pub fn should_run(peer: &Peer, labels: &BTreeMap<String, String>) -> bool {
    peer.node_selectors.iter().any(|s| s.matches(labels))
}

impl PeerSet {
    /// The peers that have a session, with their ids.
    pub fn running(&self) -> impl Iterator<Item = (PeerId, &Peer)> {
        self.entries
            .iter()
            .filter(|e| e.running)
            .map(|e| (e.id, &e.peer))
    }

    /// v0.9 `SetConfig`: keep the sessions of unchanged peers, drop the others (logged even
    /// when they had no session), then `syncPeers`.
    pub fn set_config(&mut self, peers: &[Peer]) -> Vec<PeerAction> {
        let mut old: Vec<Option<Entry>> = std::mem::take(&mut self.entries)
            .into_iter()
            .map(Some)
            .collect();
        let mut entries = Vec::with_capacity(peers.len());
        for p in peers {
            let kept = old
                .iter_mut()
                .find(|e| e.as_ref().is_some_and(|e| e.peer == *p))
                .and_then(Option::take);
            entries.push(kept.unwrap_or_else(|| {
                self.next_id += 1;
                Entry {
                    id: self.next_id,
                    peer: p.clone(),
                    running: false,
                }
            }));
        }
        let mut actions: Vec<PeerAction> = old
            .into_iter()
            .flatten()
            .map(|e| PeerAction::Remove {
                id: e.id,
                peer: e.peer,
                reason: RemoveReason::RemovedFromConfig,
                running: e.running,
            })
            .collect();
        self.entries = entries;
        actions.extend(self.sync());
        actions
    }

    /// v0.9 `SetNode`: `None` when the labels are unchanged (nothing logged), else the
    /// `syncPeers` actions (log `event=nodeLabelsChanged` first).
    pub fn set_node_labels(&mut self, labels: BTreeMap<String, String>) -> Option<Vec<PeerAction>> {
        if labels == self.labels {
            return None;
        }
        self.labels = labels;
        Some(self.sync())
    }

    /// v0.9 `syncPeers`.
    fn sync(&mut self) -> Vec<PeerAction> {
        let mut actions = Vec::new();
        for e in &mut self.entries {
            let run = should_run(&e.peer, &self.labels);
            if e.running && !run {
                e.running = false;
                actions.push(PeerAction::Remove {
                    id: e.id,
                    peer: e.peer.clone(),
                    reason: RemoveReason::FilteredByNodeSelector,
                    running: true,
                });
            } else if !e.running && run {
                e.running = true;
                actions.push(PeerAction::Start {
                    id: e.id,
                    peer: e.peer.clone(),
                });
            }
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LabelSelector, Operator, Requirement};
    use std::time::Duration;

    fn peer(addr: &str, selectors: Vec<LabelSelector>) -> Peer {
        Peer {
            my_asn: 64500,
            asn: 64501,
            addr: addr.parse().unwrap(),
            port: 0,
            hold_time: Duration::from_secs(90),
            router_id: None,
            node_selectors: selectors,
            password: String::new(),
        }
    }

    fn req(key: &str, op: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator: op,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn sel(reqs: Vec<Requirement>) -> LabelSelector {
        LabelSelector { requirements: reqs }
    }

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn running(set: &PeerSet) -> Vec<String> {
        set.running().map(|(_, p)| format!("{}:{}", p.addr, p.port)).collect()
    }

    /// Vector D.5, step by step.
    #[test]
    fn node_selectors_sequence_d5() {
        let mut set = PeerSet::default();
        // 1: nothing.
        assert!(running(&set).is_empty());
        // 2: one peer for every node.
        let everything = peer("1.2.3.4", vec![LabelSelector::everything()]);
        set.set_config(std::slice::from_ref(&everything));
        assert_eq!(running(&set), ["1.2.3.4:0"]);
        // 3: + a peer for foo=bar; the labels are still unknown.
        let foo_bar = peer("2.3.4.5", vec![sel(vec![req("foo", Operator::Equals, &["bar"])])]);
        set.set_config(&[everything.clone(), foo_bar.clone()]);
        assert_eq!(running(&set), ["1.2.3.4:0"]);
        // 4, 5: labels change.
        set.set_node_labels(labels(&[("foo", "bar")]));
        assert_eq!(running(&set), ["1.2.3.4:0", "2.3.4.5:0"]);
        set.set_node_labels(labels(&[("foo", "baz")]));
        assert_eq!(running(&set), ["1.2.3.4:0"]);
        // 6, 7: foo in (bar, baz).
        let foo_in = peer("2.3.4.5", vec![sel(vec![req("foo", Operator::In, &["bar", "baz"])])]);
        set.set_config(&[everything.clone(), foo_in]);
        assert_eq!(running(&set), ["1.2.3.4:0", "2.3.4.5:0"]);
        set.set_node_labels(labels(&[("foo", "bar")]));
        assert_eq!(running(&set), ["1.2.3.4:0", "2.3.4.5:0"]);
        // 8, 9: two selectors are ORed.
        let either = peer(
            "2.3.4.5",
            vec![
                sel(vec![req("host", Operator::Equals, &["frontend"])]),
                sel(vec![req("foo", Operator::In, &["bar", "baz"])]),
            ],
        );
        set.set_config(&[everything, either]);
        assert_eq!(running(&set), ["1.2.3.4:0", "2.3.4.5:0"]);
        set.set_node_labels(labels(&[("host", "frontend")]));
        assert_eq!(running(&set), ["1.2.3.4:0", "2.3.4.5:0"]);
    }

    #[test]
    fn unchanged_peer_keeps_its_session_and_a_changed_one_is_restarted() {
        let mut set = PeerSet::default();
        let a = peer("192.0.2.1", vec![LabelSelector::everything()]);
        let b = peer("192.0.2.2", vec![LabelSelector::everything()]);
        let actions = set.set_config(&[a.clone(), b.clone()]);
        let ids: Vec<PeerId> = set.running().map(|(id, _)| id).collect();
        assert_eq!(actions.len(), 2);
        let mut b2 = b.clone();
        b2.password = "secret".into();
        let actions = set.set_config(&[a.clone(), b2.clone()]);
        assert_eq!(
            actions,
            vec![
                PeerAction::Remove {
                    id: ids[1],
                    peer: b,
                    reason: RemoveReason::RemovedFromConfig,
                    running: true
                },
                PeerAction::Start {
                    id: ids[1] + 1,
                    peer: b2
                },
            ]
        );
        assert_eq!(set.running().next().map(|(id, _)| id), Some(ids[0]));
    }

    #[test]
    fn peer_removed_from_config_is_logged_even_without_a_session() {
        let mut set = PeerSet::default();
        let p = peer("192.0.2.1", vec![sel(vec![req("x", Operator::Exists, &[])])]);
        set.set_config(std::slice::from_ref(&p));
        let actions = set.set_config(&[]);
        assert!(matches!(
            actions.as_slice(),
            [PeerAction::Remove { reason: RemoveReason::RemovedFromConfig, running: false, .. }]
        ));
    }

    #[test]
    fn identical_labels_trigger_no_resync() {
        let mut set = PeerSet::default();
        assert!(set.set_node_labels(BTreeMap::new()).is_none());
        assert!(set.set_node_labels(labels(&[("a", "b")])).is_some());
        assert!(set.set_node_labels(labels(&[("a", "b")])).is_none());
    }

    #[test]
    fn selector_no_longer_matching_stops_the_session_with_filtered_reason() {
        let mut set = PeerSet::default();
        set.set_node_labels(labels(&[("rack", "1")]));
        let p = peer("192.0.2.1", vec![sel(vec![req("rack", Operator::Equals, &["1"])])]);
        set.set_config(std::slice::from_ref(&p));
        let actions = set.set_node_labels(labels(&[("rack", "2")])).unwrap();
        assert!(matches!(
            actions.as_slice(),
            [PeerAction::Remove { reason: RemoveReason::FilteredByNodeSelector, running: true, .. }]
        ));
        assert_eq!(running(&set), Vec::<String>::new());
    }
}
