//! The speaker's Prometheus series (spec §5) with v0.9's names and labels.
//!
//! v0.9's layer2 counters are named without `_total` (`metallb_layer2_requests_received`).
//! OpenMetrics requires a counter's samples to end in `_total`, so prometheus-client would
//! rename them; ferrolb keeps v0.9's sample names by exposing them as `unknown`-typed
//! monotonic values ([`PlainCounter`]) — queries and `rate()` keep working unchanged
//! (docs/differences.md, "Speaker metrics").

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use crate::metrics::K8sClientMetrics;

/// `metallb_speaker_announced` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AnnouncedLabel {
    /// The service key `ns/name`.
    pub service: String,
    /// `layer2` or `bgp`.
    pub protocol: String,
    /// This node.
    pub node: String,
    /// The announced IP.
    pub ip: String,
}

/// The `ip` label of the layer2 counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IpLabel {
    /// The service IP.
    pub ip: String,
}

/// The `reason` label of the malformed-packet counter ([`crate::layer2::Malformed::as_str`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Why the packet did not decode.
    pub reason: String,
}

/// A monotonic value exposed under its exact name (no `_total` suffix), type `unknown`.
#[derive(Clone, Debug, Default)]
pub struct PlainCounter(Arc<AtomicU64>);

impl PlainCounter {
    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds 1.
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl TypedMetric for PlainCounter {
    const TYPE: MetricType = MetricType::Unknown;
}

impl EncodeMetric for PlainCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&(self.get() as i64))
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Every series the speaker exports.
#[derive(Clone, Default)]
pub struct SpeakerMetrics {
    /// The shared `metallb_k8s_client_*` series.
    pub client: K8sClientMetrics,
    /// `metallb_speaker_announced{service,protocol,node,ip}`: 1 while announced; deleted on
    /// withdraw.
    pub announced: Family<AnnouncedLabel, Gauge>,
    /// `metallb_layer2_requests_received{ip}`
    pub requests_received: Family<IpLabel, PlainCounter>,
    /// `metallb_layer2_responses_sent{ip}`
    pub responses_sent: Family<IpLabel, PlainCounter>,
    /// `metallb_layer2_gratuitous_sent{ip}`
    pub gratuitous_sent: Family<IpLabel, PlainCounter>,
    /// `metallb_layer2_malformed_dropped_total{reason}` (ferrolb only).
    pub malformed_dropped: Family<ReasonLabel, prometheus_client::metrics::counter::Counter>,
    /// The `metallb_bgp_*` series of the BGP handler's sessions.
    pub bgp: crate::bgp::metrics::BgpMetrics,
}

impl SpeakerMetrics {
    /// The series, registered.
    pub fn registry(&self) -> Registry {
        let mut r = Registry::default();
        self.client.register(&mut r);
        let s = r.sub_registry_with_prefix("metallb_speaker");
        s.register("announced", "Services being announced from this node. This is desired state, it does not guarantee that the routing protocols have converged", self.announced.clone());
        let l = r.sub_registry_with_prefix("metallb_layer2");
        l.register("requests_received", "Number of layer2 requests received for owned IPs", self.requests_received.clone());
        l.register("responses_sent", "Number of layer2 responses sent for owned IPs", self.responses_sent.clone());
        l.register(
            "gratuitous_sent",
            "Number of gratuitous layer2 packets sent for owned IPs as a result of failovers",
            self.gratuitous_sent.clone(),
        );
        l.register(
            "malformed_dropped",
            "Number of ARP/NDP packets dropped because they did not decode (ferrolb)",
            self.malformed_dropped.clone(),
        );
        self.bgp.register(&mut r);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::render;

    #[test]
    fn layer2_counters_keep_v09_names_without_total_suffix() {
        let m = SpeakerMetrics::default();
        m.requests_received.get_or_create(&IpLabel { ip: "192.0.2.100".into() }).inc();
        m.responses_sent.get_or_create(&IpLabel { ip: "192.0.2.100".into() }).inc_by(2);
        m.gratuitous_sent.get_or_create(&IpLabel { ip: "2001:db8::100".into() }).inc_by(5);
        m.announced
            .get_or_create(&AnnouncedLabel {
                service: "default/a".into(),
                protocol: "layer2".into(),
                node: "node1".into(),
                ip: "192.0.2.100".into(),
            })
            .set(1);
        let text = render(&m.registry());
        for want in [
            "metallb_layer2_requests_received{ip=\"192.0.2.100\"} 1\n",
            "metallb_layer2_responses_sent{ip=\"192.0.2.100\"} 2\n",
            "metallb_layer2_gratuitous_sent{ip=\"2001:db8::100\"} 5\n",
            "metallb_speaker_announced{service=\"default/a\",protocol=\"layer2\",node=\"node1\",ip=\"192.0.2.100\"} 1\n",
            "metallb_k8s_client_config_stale_bool 0\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
        assert!(!text.contains("requests_received_total"), "{text}");
    }
}
