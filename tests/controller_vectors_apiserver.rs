//! Vectors C.1–C.3 on the real API server: each case is a real Service, the controller runs
//! in-cluster as `controller`, and the test reads back the status (and its resourceVersion, for
//! "no write"), the Events and the log line. Every case runs against ferrolb and against the
//! MetalLB reference, and both must give the vector's answer.
//!
//! The spec's addresses are mapped to documentation ranges: 1.2.3.0/31 → 192.0.2.0/31,
//! 3.4.5.6 → 198.51.100.6, 1000::/127 → 2001:db8:1000::/127, 2000::1 → 2001:db8:2000::1,
//! stray IPs 2.3.4.5 / 10.10.10.10 → 203.0.113.5 / 203.0.113.10. ClusterIPs come from the
//! apiserver. We pick the family through `ipFamilies`.
//!
//! Some C.1 cases cannot be set up on a real API server, so this test leaves them out:
//! - "No ClusterIP": the API server gives every LoadBalancer Service a ClusterIP.
//! - "request invalid IP": the API server rejects a `spec.loadBalancerIP` that is not an IP.
//!
//! Both are covered by the pure table test in `src/controller/reconcile/tests.rs`.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Cluster, InCluster, InClusterOpts, METALLB_NS, cluster, reference, serial, wait_for};

const NS: &str = "cvectors";

const C1_CONFIG: &str = "address-pools:
- name: pool1
  protocol: bgp
  addresses: [192.0.2.0/31]
- name: pool2
  protocol: layer2
  auto-assign: false
  addresses: [198.51.100.6/32]
- name: pool3
  protocol: bgp
  addresses: ['2001:db8:1000::/127']
- name: pool4
  protocol: layer2
  auto-assign: false
  addresses: ['2001:db8:2000::1/128']
";

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// No Update/UpdateStatus: the status and resourceVersion are as before.
    NoWrite,
    /// UpdateStatus with this single ingress IP.
    Status(&'static str),
    /// UpdateStatus with an empty loadBalancer status.
    Cleared,
}

struct Case {
    name: &'static str,
    spec: Value,
    annotations: Value,
    preset: Option<Value>,
    /// A spec patch applied after the preset status (before the controller starts).
    then_spec: Option<Value>,
    expect: Expect,
    /// The AllocationFailed message after `Failed to allocate IP for "ns/name": `.
    warn: Option<&'static str>,
    /// The `event` (or `op`) of a log line the controller writes for the Service.
    log: &'static str,
}

fn ctl_cmd(reference_bin: &str) -> Vec<String> {
    let mut v = if reference_bin.is_empty() {
        vec![env!("CARGO_BIN_EXE_ferrolb").to_string(), "controller".into()]
    } else {
        vec![reference_bin.to_string()]
    };
    v.extend(["--port=7472".to_string(), "--config=config".to_string()]);
    v
}

fn kubectl_ok(c: &Cluster, args: &[&str], input: Option<&str>) -> String {
    let out = match input {
        Some(i) => c.kubectl_stdin(args, i),
        None => c.kubectl(args),
    };
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn apply_config(c: &Cluster, payload: Option<&str>) {
    match payload {
        Some(p) => {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config", "namespace": METALLB_NS}, "data": {"config": p}});
            kubectl_ok(c, &["apply", "-f", "-"], Some(&cm.to_string()));
        }
        None => {
            kubectl_ok(c, &["-n", METALLB_NS, "delete", "configmap", "config", "--ignore-not-found"], None);
        }
    }
}

fn create_service(c: &Cluster, name: &str, spec: &Value, annotations: &Value, preset: Option<&Value>) {
    let mut s = json!({"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}], "selector": {"app": name}});
    for (k, v) in spec.as_object().unwrap() {
        s[k] = v.clone();
    }
    let mut meta = json!({"name": name, "namespace": NS});
    if annotations.is_object() {
        meta["annotations"] = annotations.clone();
    }
    kubectl_ok(c, &["create", "-f", "-"], Some(&json!({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": s}).to_string()));
    if let Some(ingress) = preset {
        let patch = json!({"status": {"loadBalancer": {"ingress": ingress}}});
        kubectl_ok(c, &["-n", NS, "patch", "svc", name, "--subresource=status", "--type=merge", "-p", &patch.to_string()], None);
    }
}

fn get(c: &Cluster, name: &str) -> Value {
    c.get_json(&["-n", NS, "svc", name])
}

/// Waits until the controller is synced and its log has been quiet for a second.
fn settle(ctl: &mut InCluster) {
    ctl.wait_json(Duration::from_secs(60), "stateSynced", |v| v["event"] == "stateSynced");
    let mut len = ctl.log().len();
    let mut since = Instant::now();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) && since.elapsed() < Duration::from_millis(1000) {
        std::thread::sleep(Duration::from_millis(100));
        let now = ctl.log().len();
        if now != len {
            (len, since) = (now, Instant::now());
        }
    }
}

fn warnings(c: &Cluster, name: &str, uid: &str) -> Vec<(String, String)> {
    let evs = c.get_json(&["-n", NS, "events", "--field-selector", &format!("involvedObject.name={name},involvedObject.uid={uid}")]);
    evs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "Warning")
        .map(|e| (e["reason"].as_str().unwrap_or_default().to_string(), e["message"].as_str().unwrap_or_default().to_string()))
        .collect()
}

fn c1_cases() -> Vec<Case> {
    let v4 = json!({"ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"});
    let v6 = json!({"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack"});
    let with = |base: &Value, extra: Value| {
        let mut b = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let pool = |p: &str| json!({"metallb.universe.tf/address-pool": p});
    let ip = |s: &str| Some(json!([{"ip": s}]));
    let case = |name, spec, annotations, preset, expect, warn, log| Case { name, spec, annotations, preset, then_spec: None, expect, warn, log };
    vec![
        case("simple-non-loadbalancer", with(&v4, json!({"type": "ClusterIP"})), Value::Null, None, Expect::NoWrite, None, "clearAssignment"),
        case("simple-loadbalancer", v4.clone(), Value::Null, None, Expect::Status("192.0.2.0"), None, "ipAllocated"),
        case("request-specific-ip", with(&v4, json!({"loadBalancerIP": "192.0.2.1"})), Value::Null, None, Expect::Status("192.0.2.1"), None, "ipAllocated"),
        case(
            "request-infeasible-ip",
            with(&v4, json!({"loadBalancerIP": "192.0.2.4"})),
            Value::Null,
            ip("192.0.2.1"),
            Expect::Cleared,
            Some("\"192.0.2.4\" is not allowed in config"),
            "allocateIP",
        ),
        case("ip-from-specific-pool", v4.clone(), pool("pool1"), None, Expect::Status("192.0.2.0"), None, "ipAllocated"),
        case("switch-to-other-pool", v4.clone(), pool("pool2"), ip("192.0.2.0"), Expect::Status("198.51.100.6"), None, "ipAllocated"),
        case("unknown-pool", v4.clone(), pool("does-not-exist"), None, Expect::NoWrite, Some("unknown pool \"does-not-exist\""), "allocateIP"),
        case("invalid-ip-assigned", v4.clone(), Value::Null, ip("203.0.113.5"), Expect::Status("192.0.2.0"), None, "ipAllocated"),
        case(
            "invalid-ingress-state",
            v4.clone(),
            Value::Null,
            Some(json!([{"hostname": "foo.bar.local"}, {"ip": "203.0.113.10"}])),
            Expect::Status("192.0.2.0"),
            None,
            "ipAllocated",
        ),
        // The apiserver refuses a status IP on a NodePort Service: it is written while the
        // Service is a LoadBalancer, then the type changes.
        Case {
            then_spec: Some(json!({"type": "NodePort"})),
            ..case("former-loadbalancer-now-nodeport", v4.clone(), Value::Null, ip("192.0.2.0"), Expect::Cleared, None, "clearAssignment")
        },
        case("request-layer2-service", with(&v4, json!({"loadBalancerIP": "198.51.100.6"})), Value::Null, None, Expect::Status("198.51.100.6"), None, "ipAllocated"),
        case(
            "layer2-local-traffic-policy",
            with(&v4, json!({"loadBalancerIP": "198.51.100.6", "externalTrafficPolicy": "Local"})),
            Value::Null,
            None,
            Expect::Status("198.51.100.6"),
            None,
            "ipAllocated",
        ),
        case(
            "request-ip-wrong-family-ipv4",
            with(&v6, json!({"loadBalancerIP": "192.0.2.1"})),
            Value::Null,
            None,
            Expect::NoWrite,
            Some("requested spec.loadBalancerIP \"192.0.2.1\" does not match the ipFamily of the service"),
            "allocateIP",
        ),
        case(
            "request-ip-wrong-family-ipv6",
            with(&v4, json!({"loadBalancerIP": "2001:db8:1000::"})),
            Value::Null,
            None,
            Expect::NoWrite,
            Some("requested spec.loadBalancerIP \"2001:db8:1000::\" does not match the ipFamily of the service"),
            "allocateIP",
        ),
        case("wrong-family-ipv6-assigned", v4.clone(), Value::Null, ip("2001:db8:1000::"), Expect::Status("192.0.2.0"), None, "ipAllocated"),
        case("wrong-family-ipv4-assigned", v6.clone(), Value::Null, ip("192.0.2.0"), Expect::Status("2001:db8:1000::"), None, "ipAllocated"),
    ]
}

/// Runs every C.1 case with the controller `cmd`; returns the mismatches.
fn run_c1(c: &Arc<Cluster>, cmd: &[String], who: &str) -> Vec<String> {
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    apply_config(c, Some(C1_CONFIG));
    let mut bad = Vec::new();
    for case in c1_cases() {
        let name = format!("{}-{}", if who == "reference" { "r" } else { "f" }, case.name);
        create_service(c, &name, &case.spec, &case.annotations, case.preset.as_ref());
        if let Some(spec) = &case.then_spec {
            kubectl_ok(c, &["-n", NS, "patch", "svc", &name, "--type=merge", "-p", &json!({"spec": spec}).to_string()], None);
        }
        let before = get(c, &name);
        let mut ctl = InCluster::spawn(c, "controller", &InClusterOpts::default(), &cmd);
        settle(&mut ctl);
        let after = get(c, &name);
        let key = format!("{NS}/{name}");
        let lines: Vec<Value> = ctl.json_log().into_iter().filter(|v| v["service"] == key.as_str()).collect();
        drop(ctl);

        let mut problems = Vec::new();
        let lb = &after["status"]["loadBalancer"];
        match case.expect {
            Expect::NoWrite => {
                if after["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"] {
                    problems.push(format!("expected no write, status now {lb}"));
                }
            }
            Expect::Status(ip) => {
                let ingress = lb["ingress"].as_array().cloned().unwrap_or_default();
                if ingress.len() != 1 || ingress[0]["ip"] != ip || ingress[0].get("hostname").is_some() {
                    problems.push(format!("expected status {ip}, got {lb}"));
                }
            }
            Expect::Cleared => {
                if lb.get("ingress").is_some_and(|i| !i.as_array().is_some_and(Vec::is_empty)) {
                    problems.push(format!("expected status cleared, got {lb}"));
                }
            }
        }
        let warns = warnings(c, &name, after["metadata"]["uid"].as_str().unwrap());
        match case.warn {
            None if !warns.is_empty() => problems.push(format!("expected no warning, got {warns:?}")),
            Some(w) => {
                let want = ("AllocationFailed".to_string(), format!("Failed to allocate IP for \"{key}\": {w}"));
                if !warns.contains(&want) {
                    problems.push(format!("expected warning {want:?}, got {warns:?}"));
                }
            }
            None => {}
        }
        if !lines.iter().any(|v| v["event"] == case.log || v["op"] == case.log) {
            problems.push(format!("no log line with event/op {:?}: {lines:?}", case.log));
        }
        if !problems.is_empty() {
            bad.push(format!("{who} {}: {}", case.name, problems.join("; ")));
        }
        kubectl_ok(c, &["-n", NS, "delete", "svc", &name, "--wait=true"], None);
    }
    bad
}

#[test]
fn c1_every_case_on_the_real_apiserver_with_ferrolb_and_the_reference() {
    let _serial = serial();
    let c = cluster();
    let _ = c.kubectl(&["create", "namespace", NS]);
    let reference_bin = reference("controller");
    let mut bad = run_c1(&c, &ctl_cmd(""), "ferrolb");
    bad.extend(run_c1(&c, &ctl_cmd(&reference_bin), "reference"));
    apply_config(&c, None);
    assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
    assert_eq!(support::forbidden_for(&c, "controller"), Vec::<String>::new(), "403s for the controller");
}

/// C.2 as a sequence on one running controller: no config → nothing; an empty config →
/// nothing; a pool → the IP; an empty config again → rejected (the allocation would be
/// orphaned), the IP stays; the ConfigMap deleted → stale, the IP stays.
fn run_c2(c: &Arc<Cluster>, cmd: &[String], who: &str) {
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let name = format!("{}-c2", &who[..1]);
    let key = format!("{NS}/{name}");
    apply_config(c, None);
    create_service(c, &name, &json!({"ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"}), &Value::Null, None);
    let rv0 = get(c, &name)["metadata"]["resourceVersion"].clone();
    let mut ctl = InCluster::spawn(c, "controller", &InClusterOpts::default(), &cmd);
    ctl.wait_json(Duration::from_secs(60), "noConfig", |v| v["event"] == "noConfig" && v["service"] == key.as_str());
    assert_eq!(get(c, &name)["metadata"]["resourceVersion"], rv0, "{who}: no write without config");

    apply_config(c, Some(""));
    ctl.wait_json(Duration::from_secs(30), "configLoaded (empty)", |v| v["event"] == "configLoaded");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(get(c, &name)["metadata"]["resourceVersion"], rv0, "{who}: no write with an empty config");

    apply_config(c, Some("address-pools:\n- name: default\n  protocol: layer2\n  addresses: [192.0.2.0/24]\n"));
    let ip = wait_for(Duration::from_secs(30), || get(c, &name)["status"]["loadBalancer"]["ingress"][0]["ip"].as_str().map(str::to_string));
    assert_eq!(ip.as_deref(), Some("192.0.2.0"), "{who}: log:\n{}", ctl.log());

    let stale_before = ctl.json_log().iter().filter(|v| v["event"] == "configStale").count();
    apply_config(c, Some(""));
    ctl.wait_json(Duration::from_secs(30), "configStale", |v| v["event"] == "configStale");
    apply_config(c, None);
    wait_for(Duration::from_secs(30), || {
        (ctl.json_log().iter().filter(|v| v["event"] == "configStale").count() > stale_before + 1
            || ctl.json_log().iter().any(|v| v["op"] == "setConfig" && v["error"] == "no MetalLB configuration in cluster"))
        .then_some(())
    })
    .unwrap_or_else(|| panic!("{who}: the deleted ConfigMap is not reported; log:\n{}", ctl.log()));
    assert_eq!(get(c, &name)["status"]["loadBalancer"]["ingress"][0]["ip"], "192.0.2.0", "{who}: the IP stays");
    drop(ctl);
    kubectl_ok(c, &["-n", NS, "delete", "svc", &name, "--wait=true"], None);
}

/// C.3: a one-address pool; the second Service fails without a write, and gets the address
/// once the first is deleted.
fn run_c3(c: &Arc<Cluster>, cmd: &[String], who: &str) {
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let (a, b) = (format!("{}-c3-test", &who[..1]), format!("{}-c3-test2", &who[..1]));
    apply_config(c, Some("address-pools:\n- name: default\n  protocol: layer2\n  addresses: [192.0.2.0/32]\n"));
    let v4 = json!({"ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"});
    create_service(c, &a, &v4, &Value::Null, None);
    let mut ctl = InCluster::spawn(c, "controller", &InClusterOpts::default(), &cmd);
    let ip = wait_for(Duration::from_secs(60), || get(c, &a)["status"]["loadBalancer"]["ingress"][0]["ip"].as_str().map(str::to_string));
    assert_eq!(ip.as_deref(), Some("192.0.2.0"), "{who}");
    create_service(c, &b, &v4, &Value::Null, None);
    let key_b = format!("{NS}/{b}");
    ctl.wait_json(Duration::from_secs(30), "allocation failure", |v| v["op"] == "allocateIP" && v["service"] == key_b.as_str());
    assert!(get(c, &b)["status"]["loadBalancer"]["ingress"].is_null(), "{who}: no write for test2");
    kubectl_ok(c, &["-n", NS, "delete", "svc", &a, "--wait=true"], None);
    let ip = wait_for(Duration::from_secs(30), || get(c, &b)["status"]["loadBalancer"]["ingress"][0]["ip"].as_str().map(str::to_string));
    assert_eq!(ip.as_deref(), Some("192.0.2.0"), "{who}: the deleted Service's IP is recycled; log:\n{}", ctl.log());
    drop(ctl);
    kubectl_ok(c, &["-n", NS, "delete", "svc", &b, "--wait=true"], None);
}

#[test]
fn c2_and_c3_sequences_with_ferrolb_and_the_reference() {
    let _serial = serial();
    let c = cluster();
    let _ = c.kubectl(&["create", "namespace", NS]);
    let reference_bin = reference("controller");
    for (cmd, who) in [(ctl_cmd(""), "ferrolb"), (ctl_cmd(&reference_bin), "reference")] {
        run_c2(&c, &cmd, who);
        run_c3(&c, &cmd, who);
    }
    apply_config(&c, None);
    assert_eq!(support::forbidden_for(&c, "controller"), Vec::<String>::new(), "403s for the controller");
}
