//! The controller differential: every scenario of `compat/controller/` (its README describes
//! the format) is replayed against the MetalLB v0.9 reference controller and against ferrolb's,
//! each in-cluster as `controller`, each from a clean apiserver state. What the two leave
//! behind must be the same: every Service's `status.loadBalancer`, the set of
//! `(Service, type, reason, message)` Events of `metallb-controller`, and the config gauges.
//!
//! "Clean state" is a new namespace per replay (named after the scenario and this process), no LoadBalancer Service anywhere in the
//! cluster, and no ConfigMap. That is everything the controller can observe. Restarting etcd and
//! the apiserver for each of the 70 replays would add minutes of CI time and test nothing more.
//! After every step the test waits for the controller to go quiet: its log has not grown for
//! `QUIET`. The waits are how the test paces itself; it asserts nothing about time.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Cluster, InCluster, InClusterOpts, METALLB_NS, cluster, reference, serial, wait_for};

/// Quiet after a step; the last step waits longer, so writes delayed by a client-side rate
/// limiter (the reference's 5 requests/s) land before the outcome is read.
const QUIET: Duration = Duration::from_millis(800);
const FINAL_QUIET: Duration = Duration::from_millis(2500);
const PORT: u16 = 7472;

fn scenarios() -> Vec<(String, Vec<Value>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat/controller");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    // FERROLB_SCENARIOS=07,17 replays only those (for a local re-run); CI replays all.
    let only: Option<Vec<String>> = std::env::var("FERROLB_SCENARIOS").ok().map(|v| v.split(',').map(str::to_string).collect());
    paths
        .into_iter()
        .filter(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy();
            only.as_ref().is_none_or(|o| o.iter().any(|x| stem.starts_with(x.as_str())))
        })
        .map(|p| {
            let doc: Value = serde_norway::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let steps = doc["steps"].as_array().unwrap_or_else(|| panic!("{}: no steps", p.display())).clone();
            (p.file_stem().unwrap().to_string_lossy().into_owned(), steps)
        })
        .collect()
}

/// What a replay leaves behind.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: BTreeMap<String, Value>,
    events: BTreeSet<(String, String, String, String)>,
    gauges: BTreeMap<String, String>,
}

fn service_manifest(ns: &str, s: &Value) -> Value {
    let name = s["name"].as_str().expect("a Service has a name");
    let mut spec = json!({"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}], "selector": {"app": name}});
    if s["ipv6"] == true {
        spec["ipFamilies"] = json!(["IPv6"]);
        spec["ipFamilyPolicy"] = json!("SingleStack");
    }
    if let Some(extra) = s["spec"].as_object() {
        for (k, v) in extra {
            spec[k] = v.clone();
        }
    }
    let mut meta = json!({"name": name, "namespace": ns});
    if s["annotations"].is_object() {
        meta["annotations"] = s["annotations"].clone();
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec})
}

fn kubectl_ok(c: &Cluster, args: &[&str], input: Option<&str>) {
    let out = match input {
        Some(i) => c.kubectl_stdin(args, i),
        None => c.kubectl(args),
    };
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn apply_config(c: &Cluster, payload: &str) {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config", "namespace": METALLB_NS},
                    "data": {"config": payload}});
    kubectl_ok(c, &["apply", "-f", "-"], Some(&cm.to_string()));
}

/// Waits until the controller's log has not grown for `quiet` (at most 60 s).
fn settle(ctl: Option<&InCluster>, quiet: Duration) {
    let Some(ctl) = ctl else { return };
    let start = Instant::now();
    let mut len = ctl.log().len();
    let mut since = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
        let now = ctl.log().len();
        if now != len {
            len = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

fn http_get(path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", PORT)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn lb_services_anywhere(c: &Cluster) -> Vec<String> {
    let list = c.get_json(&["svc", "-A"]);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["spec"]["type"] == "LoadBalancer")
        .map(|s| format!("{}/{}", s["metadata"]["namespace"].as_str().unwrap(), s["metadata"]["name"].as_str().unwrap()))
        .collect()
}

fn replay(c: &Arc<Cluster>, name: &str, steps: &[Value], ns: &str, cmd: &[&str]) -> Outcome {
    // A clean state: nothing the controller could adopt or account for.
    let _ = c.kubectl(&["-n", METALLB_NS, "delete", "configmap", "config", "--ignore-not-found"]);
    let leftovers = wait_for(Duration::from_secs(600), || lb_services_anywhere(c).is_empty().then_some(()));
    assert!(leftovers.is_some(), "{name}: LoadBalancer Services left from elsewhere: {:?}", lb_services_anywhere(c));
    let _ = c.kubectl(&["create", "namespace", ns]);

    let mut ctl: Option<InCluster> = None;
    let start = |ctl: &mut Option<InCluster>| {
        assert!(ctl.is_none(), "{name}: start while running");
        // The previous process must have released the metrics port.
        wait_for(Duration::from_secs(10), || http_get("/metrics").is_none().then_some(()));
        *ctl = Some(InCluster::spawn(c, "controller", &InClusterOpts::default(), cmd));
    };
    for step in steps {
        match step {
            Value::String(s) if s == "start" => start(&mut ctl),
            Value::String(s) if s == "stop" => drop(ctl.take().expect("stop while stopped")),
            Value::String(s) if s == "restart" => {
                drop(ctl.take().expect("restart while stopped"));
                start(&mut ctl);
            }
            Value::String(s) if s == "delete-config" => {
                kubectl_ok(c, &["-n", METALLB_NS, "delete", "configmap", "config"], None);
            }
            Value::Object(m) => {
                let (verb, arg) = m.iter().next().expect("a step");
                match verb.as_str() {
                    "config" => apply_config(c, arg.as_str().expect("config text")),
                    "create" => {
                        let items: Vec<_> = arg.as_array().unwrap().iter().map(|s| service_manifest(ns, s)).collect();
                        kubectl_ok(c, &["create", "-f", "-"], Some(&json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()));
                    }
                    "update" => {
                        for s in arg.as_array().unwrap() {
                            let mut patch = json!({});
                            if s["spec"].is_object() {
                                patch["spec"] = s["spec"].clone();
                            }
                            if s["annotations"].is_object() {
                                patch["metadata"] = json!({"annotations": s["annotations"]});
                            }
                            let svc = s["name"].as_str().unwrap();
                            kubectl_ok(c, &["-n", ns, "patch", "svc", svc, "--type=merge", "-p", &patch.to_string()], None);
                        }
                    }
                    "delete" => {
                        for s in arg.as_array().unwrap() {
                            kubectl_ok(c, &["-n", ns, "delete", "svc", s.as_str().unwrap()], None);
                        }
                    }
                    "status" => {
                        let patch = json!({"status": {"loadBalancer": {"ingress": [{"ip": arg["ip"]}]}}});
                        let svc = arg["name"].as_str().unwrap();
                        kubectl_ok(c, &["-n", ns, "patch", "svc", svc, "--subresource=status", "--type=merge", "-p", &patch.to_string()], None);
                    }
                    other => panic!("{name}: unknown step {other}"),
                }
            }
            other => panic!("{name}: unknown step {other}"),
        }
        if ctl.is_some() {
            // Let the watch deliver the change before looking for quiet.
            std::thread::sleep(Duration::from_millis(300));
            settle(ctl.as_ref(), QUIET);
        }
    }
    settle(ctl.as_ref(), FINAL_QUIET);
    let ctl = ctl.unwrap_or_else(|| panic!("{name}: a scenario ends with the controller running"));

    let svcs = c.get_json(&["-n", ns, "svc"]);
    let status = svcs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["metadata"]["name"].as_str().unwrap().to_string(), s["status"]["loadBalancer"].clone()))
        .collect();
    let evs = c.get_json(&["-n", ns, "events"]);
    let events = evs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"]["component"] == "metallb-controller" && e["involvedObject"]["kind"] == "Service")
        .map(|e| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            // Messages name the Service as ns/name; the namespaces of the two replays differ.
            (s(&e["involvedObject"]["name"]), s(&e["type"]), s(&e["reason"]), s(&e["message"]).replace(ns, "<ns>"))
        })
        .collect();
    let metrics = wait_for(Duration::from_secs(10), || http_get("/metrics")).unwrap_or_else(|| panic!("{name}: no metrics"));
    let gauges = metrics
        .lines()
        .filter(|l| l.starts_with("metallb_k8s_client_config_"))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();

    drop(ctl);
    kubectl_ok(c, &["-n", ns, "delete", "svc", "--all", "--wait=true"], None);
    let _ = c.kubectl(&["-n", METALLB_NS, "delete", "configmap", "config", "--ignore-not-found"]);
    Outcome { status, events, gauges }
}

#[test]
fn every_controller_scenario_ends_the_same_with_the_reference_and_with_ferrolb() {
    let _serial = serial();
    let c = cluster();
    let all = scenarios();
    assert!(all.len() >= 30 || std::env::var("FERROLB_SCENARIOS").is_ok(), "the corpus has {} scenarios", all.len());
    let reference_bin = reference("controller");
    let port = format!("--port={PORT}");
    let mut diffs = Vec::new();
    for (name, steps) in &all {
        let short = &name[..2];
        let want = replay(&c, name, steps, &format!("cd{short}-ref-{}", std::process::id()), &[&reference_bin, &port, "--config=config"]);
        let got = replay(&c, name, steps, &format!("cd{short}-flb-{}", std::process::id()), &[env!("CARGO_BIN_EXE_ferrolb"), "controller", &port, "--config=config"]);
        eprintln!("{name}: {}", if want == got { "same" } else { "DIFFERENT" });
        if want != got {
            diffs.push(format!("{name}\n  reference: {want:?}\n  ferrolb:   {got:?}"));
        }
        assert!(want.gauges.len() == 2, "{name}: both config gauges are exposed: {:?}", want.gauges);
    }
    assert!(diffs.is_empty(), "{} of {} scenarios differ:\n{}", diffs.len(), all.len(), diffs.join("\n"));
    assert_eq!(support::forbidden_for(&c, "controller"), Vec::<String>::new(), "403s for the controller");
}
