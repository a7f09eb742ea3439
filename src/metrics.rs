//! Prometheus metrics with v0.9's names and labels (spec §5), and the HTTP server on
//! `--host:--port` that serves them at `/metrics` only (every other path is 404). As in v0.9,
//! a port that cannot be bound is not fatal (v0.9 ignores the error; we log it).
//!
//! The exposition is OpenMetrics text (prometheus-client); Prometheus scrapes it like v0.9's
//! text format. The Go runtime series (`go_*`, `process_*`, `promhttp_*`) have no equivalent.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `pool` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabel {
    /// The pool name.
    pub pool: String,
}

/// The `metallb_k8s_client_*` series both daemons export.
#[derive(Clone, Default)]
pub struct K8sClientMetrics {
    /// `metallb_k8s_client_updates_total`: work-queue items processed.
    pub updates: Counter,
    /// `metallb_k8s_client_update_errors_total`: items whose processing returned Error.
    pub update_errors: Counter,
    /// `metallb_k8s_client_config_loaded_bool`: 1 once a config was accepted; never reset.
    pub config_loaded: Gauge,
    /// `metallb_k8s_client_config_stale_bool`: 1 while the latest ConfigMap is not in force.
    pub config_stale: Gauge,
}

impl K8sClientMetrics {
    pub(crate) fn register(&self, r: &mut Registry) {
        let sub = r.sub_registry_with_prefix("metallb_k8s_client");
        sub.register("updates", "Number of k8s object updates that have been processed.", self.updates.clone());
        sub.register("update_errors", "Number of k8s object updates that failed for some reason.", self.update_errors.clone());
        sub.register("config_loaded_bool", "1 if the MetalLB configuration was successfully loaded at least once.", self.config_loaded.clone());
        sub.register("config_stale_bool", "1 if running on a stale configuration, because the latest config failed to load.", self.config_stale.clone());
    }
}

/// The controller's series.
#[derive(Clone, Default)]
pub struct ControllerMetrics {
    /// The shared client series.
    pub client: K8sClientMetrics,
    /// `metallb_allocator_addresses_total{pool}`
    pub addresses_total: Family<PoolLabel, Gauge>,
    /// `metallb_allocator_addresses_in_use_total{pool}`
    pub addresses_in_use: Family<PoolLabel, Gauge>,
}

impl ControllerMetrics {
    /// The series, registered.
    pub fn registry(&self) -> Registry {
        let mut r = Registry::default();
        self.client.register(&mut r);
        let a = r.sub_registry_with_prefix("metallb_allocator");
        a.register("addresses_total", "Number of usable IP addresses, per pool", self.addresses_total.clone());
        a.register("addresses_in_use_total", "Number of IP addresses in use, per pool", self.addresses_in_use.clone());
        r
    }
}

/// The text a scrape gets.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Encoding into a String cannot fail.
    let _ = encode(&mut out, registry);
    out
}

async fn handle(req: Request<Incoming>, registry: Arc<Registry>) -> Result<Response<Full<Bytes>>, Infallible> {
    let resp = if req.uri().path() == "/metrics" {
        Response::builder()
            .header("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(Full::new(Bytes::from(render(&registry))))
    } else {
        Response::builder().status(StatusCode::NOT_FOUND).body(Full::new(Bytes::from_static(b"404 page not found\n")))
    };
    Ok(resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

/// Serves `/metrics` on `addr` until the runtime stops.
pub async fn serve(addr: SocketAddr, registry: Arc<Registry>) {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            crate::log_json!("op" => "startup", "error" => e.to_string(), "msg" => format!("cannot serve metrics on {addr}"));
            return;
        }
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let registry = registry.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, registry.clone()));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v0_9_names_and_labels() {
        let m = ControllerMetrics::default();
        m.client.updates.inc();
        m.client.config_stale.set(1);
        m.addresses_total.get_or_create(&PoolLabel { pool: "default".into() }).set(256);
        let text = render(&m.registry());
        for want in [
            "metallb_k8s_client_updates_total 1",
            "metallb_k8s_client_update_errors_total 0",
            "metallb_k8s_client_config_loaded_bool 0",
            "metallb_k8s_client_config_stale_bool 1",
            "metallb_allocator_addresses_total{pool=\"default\"} 256",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
    }
}
