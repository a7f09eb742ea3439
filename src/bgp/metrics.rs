//! The `metallb_bgp_*` series (spec §5), labelled with the session address `ip:port`.
//! The speaker registers them next to its own series with [`BgpMetrics::register`].

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `peer` label: `host:port`, brackets for IPv6.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabel {
    pub peer: String,
}

#[derive(Clone, Default)]
pub struct BgpMetrics {
    /// `metallb_bgp_session_up{peer}`
    pub session_up: Family<PeerLabel, Gauge>,
    /// `metallb_bgp_updates_total{peer}`
    pub updates: Family<PeerLabel, Counter>,
    /// `metallb_bgp_announced_prefixes_total{peer}`
    pub announced_prefixes: Family<PeerLabel, Gauge>,
    /// `metallb_bgp_pending_prefixes_total{peer}`
    pub pending_prefixes: Family<PeerLabel, Gauge>,
}

impl BgpMetrics {
    pub fn register(&self, r: &mut Registry) {
        let sub = r.sub_registry_with_prefix("metallb_bgp");
        sub.register("session_up", "BGP session state (1 is up, 0 is down)", self.session_up.clone());
        sub.register("updates", "Number of BGP UPDATE messages sent", self.updates.clone());
        sub.register(
            "announced_prefixes_total",
            "Number of prefixes currently being advertised on the BGP session",
            self.announced_prefixes.clone(),
        );
        sub.register(
            "pending_prefixes_total",
            "Number of prefixes that should be advertised on the BGP session",
            self.pending_prefixes.clone(),
        );
    }

    /// A new session: `session_up` 0 appears at once (v0.9 creates it with the session).
    pub(crate) fn created(&self, peer: &str) {
        self.session_up.get_or_create(&label(peer)).set(0);
    }

    pub(crate) fn observe(&self, peer: &str, stats: &super::SessionStats, new_updates: u64) {
        let l = label(peer);
        self.session_up.get_or_create(&l).set(i64::from(stats.session_up));
        if new_updates > 0 {
            self.updates.get_or_create(&l).inc_by(new_updates);
        }
        self.announced_prefixes
            .get_or_create(&l)
            .set(if stats.session_up { stats.announced_prefixes as i64 } else { 0 });
        self.pending_prefixes.get_or_create(&l).set(stats.pending_prefixes as i64);
    }

    /// The session is closed: its series go (v0.9 deletes them on Close).
    pub(crate) fn closed(&self, peer: &str) {
        let l = label(peer);
        self.session_up.remove(&l);
        self.updates.remove(&l);
        self.announced_prefixes.remove(&l);
        self.pending_prefixes.remove(&l);
    }
}

fn label(peer: &str) -> PeerLabel {
    PeerLabel { peer: peer.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_carry_the_peer_address_label_and_vanish_on_close() {
        let m = BgpMetrics::default();
        let mut r = Registry::default();
        m.register(&mut r);
        m.created("192.0.2.1:179");
        let stats = super::super::SessionStats {
            session_up: true,
            updates_sent: 3,
            announced_prefixes: 2,
            pending_prefixes: 2,
            hold_timer_expirations: 0,
        };
        m.observe("192.0.2.1:179", &stats, 3);
        let text = crate::metrics::render(&r);
        assert!(text.contains(r#"metallb_bgp_session_up{peer="192.0.2.1:179"} 1"#), "{text}");
        assert!(text.contains(r#"metallb_bgp_updates_total{peer="192.0.2.1:179"} 3"#), "{text}");
        assert!(text.contains(r#"metallb_bgp_announced_prefixes_total{peer="192.0.2.1:179"} 2"#), "{text}");
        assert!(text.contains(r#"metallb_bgp_pending_prefixes_total{peer="192.0.2.1:179"} 2"#), "{text}");
        m.closed("192.0.2.1:179");
        let text = crate::metrics::render(&r);
        assert!(!text.contains("192.0.2.1:179"), "{text}");
    }
}
