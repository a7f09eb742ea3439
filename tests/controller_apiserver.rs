//! `ferrolb controller` on the real API server, in-cluster as the v0.9 `controller` service
//! account: it allocates, writes the status by PUT, records core/v1 Events, logs v0.9's lines,
//! keeps the old config when a broken one is applied (and says why on the ConfigMap), and is
//! never refused (403) by the v0.9 RBAC.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{Cluster, InCluster, InClusterOpts, METALLB_NS, cluster, config_map, ingress_ip, lb_service, serial, wait_for};

const GOOD: &str = "address-pools:\n- name: default\n  protocol: layer2\n  addresses:\n  - 192.0.2.100-192.0.2.110\n";
const BROKEN: &str = "address-pools:\n- name: default\n  protcol: layer2\n  addresses:\n  - 192.0.2.200-192.0.2.210\n";

fn ferrolb_controller(c: &Arc<Cluster>) -> InCluster {
    InCluster::spawn(
        c,
        "controller",
        &InClusterOpts::default(),
        &[env!("CARGO_BIN_EXE_ferrolb"), "controller", "--port=7472", "--config=config"],
    )
}

/// (type, reason, message) of the Events about `kind/name` in `ns`.
/// The Events of the object `ns/name` as it is now (its current UID: an earlier test's
/// object of the same name keeps its own Events).
fn events(c: &Cluster, ns: &str, name: &str) -> Vec<(String, String, String)> {
    let kind = if name == "config" { "cm" } else { "svc" };
    let uid = c.get_json(&["-n", ns, kind, name])["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    let list = c.get_json(&["-n", ns, "events", "--field-selector", &format!("involvedObject.name={name},involvedObject.uid={uid}")]);
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|e| {
                    let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                    (s("type"), s("reason"), s("message"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// GET http://127.0.0.1:7472<path>: (status code, body).
fn http_get(path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", 7472)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let code = resp.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
}

fn forbidden_for_controller(c: &Cluster) -> Vec<String> {
    c.audit_events()
        .into_iter()
        .filter(|e| e["user"]["username"] == "system:serviceaccount:metallb-system:controller" && e["responseStatus"]["code"] == 403)
        .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
        .collect()
}

#[test]
fn allocates_writes_the_status_records_events_and_logs_like_v0_9() {
    let _serial = serial();
    let c = cluster();
    let _cfg = config_map(&c, "config", GOOD);
    let _svc = lb_service(&c, "flb-alloc");
    let mut ctl = ferrolb_controller(&c);

    let ev = ctl.wait_json(Duration::from_secs(60), "ipAllocated", |v| v["event"] == "ipAllocated" && v["service"] == "default/flb-alloc");
    assert_eq!(ev["ip"], "192.0.2.100");
    assert_eq!(ev["msg"], "IP address assigned by controller");
    assert!(ev["ts"].as_str().is_some_and(|t| t.ends_with('Z')) && ev["caller"].is_string());
    let ip = wait_for(Duration::from_secs(30), || ingress_ip(&c, "flb-alloc"));
    assert_eq!(ip.as_deref(), Some("192.0.2.100"), "log:\n{}", ctl.log());
    ctl.wait_json(Duration::from_secs(10), "stateSynced", |v| v["event"] == "stateSynced");

    let evs = wait_for(Duration::from_secs(20), || {
        let e = events(&c, "default", "flb-alloc");
        (!e.is_empty()).then_some(e)
    })
    .expect("an Event for the Service");
    assert!(evs.contains(&("Normal".into(), "IPAllocated".into(), "Assigned IP \"192.0.2.100\"".into())), "{evs:?}");
    // Metrics on --port, v0.9's names; every other path is 404.
    let (code, body) = wait_for(Duration::from_secs(10), || http_get("/metrics")).expect("metrics served");
    assert_eq!(code, 200);
    for want in [
        "metallb_k8s_client_config_loaded_bool 1",
        "metallb_k8s_client_config_stale_bool 0",
        "metallb_allocator_addresses_total{pool=\"default\"} 11",
        "metallb_allocator_addresses_in_use_total{pool=\"default\"} 1",
    ] {
        assert!(body.contains(want), "{want} missing:\n{body}");
    }
    assert!(body.contains("metallb_k8s_client_updates_total "), "{body}");
    assert_eq!(http_get("/").map(|r| r.0), Some(404));
    assert_eq!(forbidden_for_controller(&c), Vec::<String>::new());

    // The startup load records nothing on the ConfigMap; an accepted reload does.
    assert_eq!(events(&c, METALLB_NS, "config"), vec![], "no Event for the first, clean load");
    let _reload = config_map(&c, "config", &format!("{GOOD}- name: more\n  protocol: layer2\n  addresses: ['198.51.100.200/29']\n"));
    let cm_events = wait_for(Duration::from_secs(20), || {
        let e = events(&c, METALLB_NS, "config");
        (!e.is_empty()).then_some(e)
    })
    .expect("an Event for the reloaded ConfigMap");
    assert_eq!(cm_events, vec![("Normal".into(), "ConfigLoaded".into(), "config (re)loaded".into())]);

    // SIGTERM: a clean exit (status 0).
    let pid = ctl.pid().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = wait_for(Duration::from_secs(10), || ctl.try_wait()).expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_broken_configmap_keeps_the_old_config_and_says_why_on_the_configmap() {
    let _serial = serial();
    let c = cluster();
    let _cfg = config_map(&c, "config", GOOD);
    let _first = lb_service(&c, "flb-keep-a");
    let mut ctl = ferrolb_controller(&c);
    let first = wait_for(Duration::from_secs(60), || ingress_ip(&c, "flb-keep-a")).expect("first allocation");

    let _broken = config_map(&c, "config", BROKEN);
    let stale = ctl.wait_json(Duration::from_secs(30), "configStale", |v| v["event"] == "configStale");
    let text = "could not parse config: yaml: unmarshal errors:\n  line 3: field protcol not found in type config.addressPool";
    assert_eq!(stale["error"], text);

    // The old config stays in force: the first Service keeps its IP, a new one is allocated
    // from the old pool.
    let _second = lb_service(&c, "flb-keep-b");
    let second = wait_for(Duration::from_secs(30), || ingress_ip(&c, "flb-keep-b")).expect("allocated from the old pool");
    assert!(second.starts_with("192.0.2.1") && second != first, "{second}");
    assert_eq!(ingress_ip(&c, "flb-keep-a"), Some(first));

    // kubectl describe configmap shows why.
    let evs = wait_for(Duration::from_secs(20), || {
        let e = events(&c, METALLB_NS, "config");
        e.iter().any(|(_, r, _)| r == "ConfigStale").then_some(e)
    })
    .expect("a ConfigStale Event");
    assert!(evs.contains(&("Warning".into(), "ConfigStale".into(), text.into())), "{evs:?}");
    let described = String::from_utf8_lossy(&c.kubectl(&["-n", METALLB_NS, "describe", "configmap", "config"]).stdout).into_owned();
    assert!(described.contains("ConfigStale") && described.contains("field protcol not found"), "{described}");
    let (_, body) = http_get("/metrics").expect("metrics served");
    assert!(body.contains("metallb_k8s_client_config_stale_bool 1"), "{body}");
    assert_eq!(forbidden_for_controller(&c), Vec::<String>::new());
}
