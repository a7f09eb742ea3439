//! Drives ferrolb's BGP shell (`BgpController`) from JSON commands on stdin, one per line,
//! so the router tests and `scripts/bench/bgp` can run real sessions without Kubernetes.
//! The log lines (v0.9's JSON) and command results go to stdout.
//!
//!     {"config": "<the ConfigMap's config payload>"}    set_peers(config.peers)
//!     {"labels": {"k": "v"}}                             set_node_labels
//!     {"service": "ns/name", "ip": "198.51.100.5"}       set_service (pool by containment)
//!     {"delete": "ns/name"}                              delete_service
//!     {"bulk": "prefix", "ips": ["..", ..]}              set_service "prefix-N" per IP, one by one
//!                                                        as the speaker reconciles Services;
//!                                                        with "batch": true one set_services
//!     {"delete_bulk": "prefix", "count": N}              delete_services "prefix-0".."prefix-(N-1)"
//!     {"metrics": true}                                  prints {"metrics": "<exposition>"}
//!     {"shutdown": true} or end of input                 Cease to every peer, exit
//!
//!     ip netns exec node1 bgp_driver --node node1 [--no-pack] < scenario.jsonl

use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::IpAddr;

use ferrolb::bgp::BgpController;
use ferrolb::bgp::announce::advertisements_for;
use ferrolb::bgp::metrics::BgpMetrics;
use ferrolb::config::Config;
use ferrolb::speaker::decision::pool_for;
use prometheus_client::registry::Registry;
use serde_json::Value;

fn reply(v: Value) {
    println!("{v}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let node = args
        .iter()
        .position(|a| a == "--node")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "node1".to_string());
    let pack = !args.iter().any(|a| a == "--no-pack");

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bgp_driver: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(async move {
        let metrics = BgpMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut ctl = BgpController::new(&node, metrics).with_packing(pack);
        let mut config: Option<Config> = None;
        while let Some(line) = rx.recv().await {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let cmd: Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    reply(serde_json::json!({"error": format!("bad command: {e}")}));
                    continue;
                }
            };
            if let Some(text) = cmd.get("config").and_then(Value::as_str) {
                match ferrolb::config::parse(text) {
                    Ok(c) => {
                        ctl.set_peers(&c.peers);
                        config = Some(c);
                        reply(serde_json::json!({"ok": "config"}));
                    }
                    Err(e) => reply(serde_json::json!({"error": e.to_string()})),
                }
            } else if let Some(labels) = cmd.get("labels").and_then(Value::as_object) {
                let labels: BTreeMap<String, String> = labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                ctl.set_node_labels(labels);
                reply(serde_json::json!({"ok": "labels"}));
            } else if let Some(key) = cmd.get("service").and_then(Value::as_str) {
                let ip = cmd.get("ip").and_then(Value::as_str).and_then(|s| s.parse::<IpAddr>().ok());
                let pool = ip.zip(config.as_ref()).and_then(|(ip, c)| pool_for(c, ip).map(|p| (ip, p)));
                match pool {
                    Some((ip, pool)) => match ctl.set_service(key, advertisements_for(ip, pool)) {
                        Ok(()) => reply(serde_json::json!({"ok": "service"})),
                        Err(e) => reply(serde_json::json!({"error": e.to_string()})),
                    },
                    None => reply(serde_json::json!({"error": "no config, bad ip or ip in no pool"})),
                }
            } else if let Some(key) = cmd.get("delete").and_then(Value::as_str) {
                ctl.delete_service(key);
                reply(serde_json::json!({"ok": "delete"}));
            } else if let Some(prefix) = cmd.get("bulk").and_then(Value::as_str) {
                let Some(c) = config.as_ref() else {
                    reply(serde_json::json!({"error": "no config"}));
                    continue;
                };
                let ips = cmd.get("ips").and_then(Value::as_array).cloned().unwrap_or_default();
                let mut services = Vec::new();
                for (i, v) in ips.iter().enumerate() {
                    let ip = v.as_str().and_then(|s| s.parse::<IpAddr>().ok());
                    if let Some((ip, pool)) = ip.and_then(|ip| pool_for(c, ip).map(|p| (ip, p))) {
                        services.push((format!("{prefix}-{i}"), advertisements_for(ip, pool)));
                    }
                }
                let n = services.len();
                let result = if cmd.get("batch").and_then(Value::as_bool) == Some(true) {
                    ctl.set_services(services)
                } else {
                    services.into_iter().try_for_each(|(k, ads)| ctl.set_service(&k, ads))
                };
                match result {
                    Ok(()) => reply(serde_json::json!({"ok": "bulk", "services": n})),
                    Err(e) => reply(serde_json::json!({"error": e.to_string()})),
                }
            } else if let Some(prefix) = cmd.get("delete_bulk").and_then(Value::as_str) {
                let n = cmd.get("count").and_then(Value::as_u64).unwrap_or(0);
                let keys: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
                ctl.delete_services(keys.iter().map(String::as_str));
                reply(serde_json::json!({"ok": "delete_bulk"}));
            } else if cmd.get("metrics").is_some() {
                reply(serde_json::json!({"metrics": ferrolb::metrics::render(&registry)}));
            } else if cmd.get("shutdown").is_some() {
                break;
            } else {
                reply(serde_json::json!({"error": "unknown command"}));
            }
        }
        ctl.shutdown().await;
        reply(serde_json::json!({"ok": "shutdown"}));
    });
}
