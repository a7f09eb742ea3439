//! Issue 16, the way out end to end: a running ferrolb install, with a v0.9 ConfigMap of
//! layer2 and BGP pools, moved to today's MetalLB (`scripts/reference modern`, its own
//! `metallb-native.yaml`, webhooks on) by the steps of docs/migrating-to-metallb-crds.md.
//!
//! Start: `ferrolb controller` and three `ferrolb speaker`s (memberlist on) on node21..23,
//! BIRD (iBGP, client22) and FRR (eBGP, client23) peering with node21, and 50 Services: 42
//! layer2 (40 from an auto-assigned pool, one from an `auto-assign: false` pool by its
//! `address-pool` annotation, one by `loadBalancerIP`), 8 BGP (an `avoid-buggy-ips` pool with
//! localpref and communities; 6 by annotation, two sharing one `loadBalancerIP` with
//! `allow-shared-ip`). A [`Prober`] in client21 asks for every layer2 IP every 200 ms
//! throughout.
//!
//! Then, as the doc says: `ferrolb migrate` the live ConfigMap; apply the manifest's CRDs and
//! the CRs; apply the whole manifest; the Deployment's rolling update (today's controller
//! starts, serves its webhook, then ferrolb's stops); every CR is sent again through MetalLB's
//! own webhook (a server-side dry run), and an overlapping pool is refused by it; the
//! DaemonSet's rolling update node by node; ferrolb's ConfigMap removed.
//!
//! The harness plays the kubelet and kube-controller-manager here (no real nodes yet): it runs
//! each container's command with the manifest's args and env (`scripts/in-cluster`, with the
//! pod's secret volumes), registers the controller's Pod, and writes the Endpoints and the
//! EndpointSlices (v0.9 reads the first, today's MetalLB the second).
//!
//! Asserted: no Service IP changes; BIRD and FRR hold the same routes before and after (prefix,
//! next hop, AS path, localpref, communities); afterwards every layer2 IP is answered by
//! exactly one MAC (10 s without a second one); the memberlist Secret is untouched. Printed:
//! how many layer2 owners moved (MetalLB >= 0.11 elects per IP, v0.9 per Service) and the
//! longest time any IP went unanswered.
//!
//!     cargo test --test way_out_e2e

mod bgp_support;
mod rolling_support;
mod speaker_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bgp_support::{Kind, Route, Router, RouterConf, wait_rib_prefixes};
use rolling_support::{Impl, Nodes, Prober, endpoint_nodes, logs, spawn_speaker, stop, v4_of};
use serde_json::{Value, json};
use speaker_support::{CLIENT, NODES};
use support::{
    CONTROLLER_POD, Cluster, InCluster, InClusterOpts, METALLB_NS, Topology, cluster, config_map,
    manifest_container, modern, resolve_env, run_ok, serial, wait_for,
};

const SVC_NS: &str = "way-out";
/// The node the BGP peers' node selectors pick, and its label.
const BGP_NODE: &str = "node21";
const BGP_LABEL: &str = "ferrolb-test/way-out";
/// BIRD (iBGP, AS 64500) and FRR (eBGP, AS 64501); we are AS 64500.
const BIRD_NS: &str = "client22";
const FRR_NS: &str = "client23";
const SHARED_IP: &str = "203.0.113.40";
const MANUAL_IP: &str = "192.0.2.230";
/// The auto-assign-off pool's v0.9 name, which is no valid object name: `ferrolb migrate`
/// converts it to `l2-manual`, and the Service that asks for it by annotation must be moved
/// to the new name without losing its IP (the commands of `migrate --services`).
const MANUAL_POOL_LEGACY: &str = "L2_Manual";
const MANUAL_POOL: &str = "l2-manual";
/// Where today's MetalLB reads its secret volumes (its manifest's volumeMounts).
const CERT_DIR: &str = "/tmp/k8s-webhook-server/serving-certs";
const ML_KEY_DIR: &str = "/etc/ml_secret_key";
/// The address the harness gives the controller's Pod: the API server reaches the webhook
/// there (host namespace, the bridge's address).
const CONTROLLER_POD_IP: &str = "198.51.100.1";

fn config() -> String {
    let selector = format!("  node-selectors:\n  - match-labels:\n      {BGP_LABEL}: bgp\n");
    format!(
        "peers:
- peer-address: {bird}
  peer-asn: 64500
  my-asn: 64500
{selector}- peer-address: {frr}
  peer-asn: 64501
  my-asn: 64500
{selector}address-pools:
- name: l2
  protocol: layer2
  addresses:
  - 192.0.2.128/26
- name: L2_Manual
  protocol: layer2
  auto-assign: false
  addresses:
  - 192.0.2.224/28
- name: bgp
  protocol: bgp
  avoid-buggy-ips: true
  auto-assign: false
  addresses:
  - 203.0.113.0/26
  bgp-advertisements:
  - aggregation-length: 32
    localpref: 300
    communities: [\"64500:7\", \"64501:9\"]
",
        bird = v4_of(BIRD_NS),
        frr = v4_of(FRR_NS),
    )
}

/// The two blocks of `kubectl annotate` commands `ferrolb migrate --services` prints on
/// stderr: before the migration, and once MetalLB's controller has taken over.
fn reannotation(stderr: &str) -> (Vec<String>, Vec<String>) {
    let (mut before, mut after, mut block) = (Vec::new(), Vec::new(), 0);
    for line in stderr.lines() {
        if line.contains("Services name a renamed pool. Before applying") {
            block = 1;
        } else if line.contains("once MetalLB's controller has taken over") {
            block = 2;
        } else if line.starts_with("kubectl ") {
            match block {
                1 => before.push(line.to_owned()),
                2 => after.push(line.to_owned()),
                _ => panic!("a command outside the blocks: {line}"),
            }
        }
    }
    (before, after)
}

/// Runs printed `kubectl ...` lines against the test cluster (names need no quoting: the
/// printer checks them).
fn run_commands(c: &Cluster, lines: &[String]) {
    for l in lines {
        let args: Vec<&str> = l.split(' ').skip(1).collect();
        c.kubectl_ok(&args);
    }
}

/// One Service of the 50: its name, the nodes of its endpoints, annotations and spec extras.
struct Svc {
    name: String,
    layer2: bool,
    nodes: Vec<&'static str>,
    annotations: Value,
    extra: Value,
    port: u16,
}

fn services() -> Vec<Svc> {
    let mut v: Vec<Svc> = (0..40)
        .map(|i| Svc {
            name: format!("l2-{i:02}"),
            layer2: true,
            nodes: endpoint_nodes(i),
            annotations: json!({}),
            extra: json!({}),
            port: 80,
        })
        .collect();
    let pool = |p: &str| json!({"metallb.universe.tf/address-pool": p});
    v.push(Svc {
        name: "manual-pool".into(),
        layer2: true,
        nodes: endpoint_nodes(1),
        annotations: pool(MANUAL_POOL_LEGACY),
        extra: json!({}),
        port: 80,
    });
    v.push(Svc {
        name: "manual-ip".into(),
        layer2: true,
        nodes: endpoint_nodes(2),
        annotations: json!({}),
        extra: json!({"loadBalancerIP": MANUAL_IP}),
        port: 80,
    });
    for i in 0..6 {
        v.push(Svc {
            name: format!("bgp-{i}"),
            layer2: false,
            nodes: vec![BGP_NODE, "node22"],
            annotations: pool("bgp"),
            extra: json!({}),
            port: 80,
        });
    }
    for (name, port) in [("shared-http", 80), ("shared-https", 443)] {
        v.push(Svc {
            name: name.into(),
            layer2: false,
            nodes: vec![BGP_NODE],
            annotations: json!({"metallb.universe.tf/allow-shared-ip": "web"}),
            extra: json!({"loadBalancerIP": SHARED_IP}),
            port,
        });
    }
    v
}

/// The Service, its Endpoints (v0.9 and ferrolb read them) and its EndpointSlice (today's
/// MetalLB reads those), as kube-controller-manager would derive the last two from the pods.
fn objects(s: &Svc) -> [Value; 3] {
    let pod_ip = |n: &str| {
        format!(
            "198.51.100.{}",
            200 + n.trim_start_matches("node").parse::<u32>().unwrap_or(0) - 20
        )
    };
    let mut spec = json!({"type": "LoadBalancer", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                          "ports": [{"name": "p", "port": s.port, "protocol": "TCP"}]});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), s.extra.as_object()) {
        spec.extend(extra.clone());
    }
    [
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": s.name, "namespace": SVC_NS, "annotations": s.annotations}, "spec": spec}),
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": s.name, "namespace": SVC_NS},
               "subsets": [{"addresses": s.nodes.iter().map(|n| json!({"ip": pod_ip(n), "nodeName": n})).collect::<Vec<_>>(),
                            "ports": [{"name": "p", "port": s.port, "protocol": "TCP"}]}]}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": format!("{}-harness", s.name), "namespace": SVC_NS,
                            "labels": {"kubernetes.io/service-name": s.name}},
               "addressType": "IPv4",
               "endpoints": s.nodes.iter().map(|n| json!({"addresses": [pod_ip(n)], "nodeName": n,
                                                          "conditions": {"ready": true, "serving": true, "terminating": false}})).collect::<Vec<_>>(),
               "ports": [{"name": "p", "port": s.port, "protocol": "TCP"}]}),
    ]
}

/// Every ingress IP of ours, by Service name.
fn ingress(c: &Cluster) -> BTreeMap<String, String> {
    let list = c.get_json(&["-n", SVC_NS, "svc"]);
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|s| {
                    let ip = s["status"]["loadBalancer"]["ingress"][0]["ip"].as_str()?;
                    Some((s["metadata"]["name"].as_str()?.to_string(), ip.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The documents of a multi-document YAML file whose `kind` is (or, with `keep` false, is not)
/// one of `kinds`, as one YAML stream.
fn documents(path: &Path, kinds: &[&str], keep: bool) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split("\n---\n")
        .filter(|d| {
            let kind = d
                .lines()
                .find_map(|l| l.strip_prefix("kind: "))
                .unwrap_or("");
            !d.trim().is_empty() && kinds.contains(&kind.trim()) == keep
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// Today's MetalLB in the cluster, removed on drop: every object of its manifest but the
/// Namespace (nothing finalizes namespaces here), the objects the harness wrote for it, then
/// v0.9's RBAC back as the other suites expect it (the manifest replaced the ClusterRoles).
struct ModernInstall {
    c: Arc<Cluster>,
    manifest: String,
}

impl ModernInstall {
    fn remove(c: &Cluster, manifest: &str) {
        let objects = documents(Path::new(manifest), &["Namespace"], false);
        let _ = c.kubectl_stdin(
            &["delete", "--ignore-not-found", "--timeout=60s", "-f", "-"],
            &objects,
        );
        let _ = c.kubectl(&[
            "-n",
            METALLB_NS,
            "delete",
            "--ignore-not-found",
            "--grace-period=0",
            "--force",
            &format!("pod/{CONTROLLER_POD}"),
            "endpoints/metallb-webhook-service",
            "endpointslice/metallb-webhook-service-harness",
        ]);
        let v09 = run_ok(Command::new(support::script("cluster")).arg("objects"));
        let out = c.kubectl_stdin(&["apply", "-f", "-"], &v09);
        assert!(
            out.status.success(),
            "restoring v0.9's RBAC: {}",
            support::stderr_of(&out)
        );
    }
}

impl Drop for ModernInstall {
    fn drop(&mut self) {
        ModernInstall::remove(&self.c, &self.manifest);
    }
}

/// Deletes our Services, Endpoints and EndpointSlices on drop.
struct ServiceObjects(Arc<Cluster>);

impl Drop for ServiceObjects {
    fn drop(&mut self) {
        let _ = self.0.kubectl(&[
            "-n",
            SVC_NS,
            "delete",
            "services,endpoints,endpointslices",
            "--all",
            "--wait=false",
        ]);
    }
}

/// What kube-controller-manager and the kubelet would write for the controller's pod: the Pod
/// (today's controller reads its own), Running at [`CONTROLLER_POD_IP`], and the webhook
/// Service's endpoints pointing at it.
fn register_controller_pod(c: &Cluster) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": CONTROLLER_POD, "namespace": METALLB_NS, "labels": {"app": "metallb", "component": "controller"}},
        "spec": {"serviceAccountName": "controller", "automountServiceAccountToken": false,
                 "containers": [{"name": "controller", "image": "quay.io/metallb/controller"}]}});
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &pod.to_string());
    assert!(
        out.status.success(),
        "controller pod: {}",
        support::stderr_of(&out)
    );
    let status = json!({"status": {"phase": "Running", "podIP": CONTROLLER_POD_IP, "podIPs": [{"ip": CONTROLLER_POD_IP}],
                                   "conditions": [{"type": "Ready", "status": "True"}]}});
    c.kubectl_ok(&[
        "-n",
        METALLB_NS,
        "patch",
        "pod",
        CONTROLLER_POD,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ]);
    let endpoints = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "metallb-webhook-service", "namespace": METALLB_NS},
         "subsets": [{"addresses": [{"ip": CONTROLLER_POD_IP}], "ports": [{"port": 9443, "protocol": "TCP"}]}]},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "metallb-webhook-service-harness", "namespace": METALLB_NS,
                      "labels": {"kubernetes.io/service-name": "metallb-webhook-service"}},
         "addressType": "IPv4", "endpoints": [{"addresses": [CONTROLLER_POD_IP], "conditions": {"ready": true}}],
         "ports": [{"port": 9443, "protocol": "TCP"}]}]});
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &endpoints.to_string());
    assert!(
        out.status.success(),
        "webhook endpoints: {}",
        support::stderr_of(&out)
    );
}

/// Waits until, over the last second, every IP is answered by exactly one MAC; returns when,
/// and who.
fn single_owners(
    prober: &Prober,
    ips: &[Ipv4Addr],
    limit: Duration,
    what: &str,
    ps: &[&InCluster],
) -> (f64, BTreeMap<Ipv4Addr, String>) {
    let mut last = String::new();
    wait_for(limit, || {
        let now = prober.now();
        let log = prober.log();
        let seen: BTreeMap<Ipv4Addr, BTreeSet<String>> = ips
            .iter()
            .map(|ip| (*ip, log.answering(*ip, now - 1.0, now)))
            .collect();
        let bad: Vec<String> = seen
            .iter()
            .filter(|(_, m)| m.len() != 1)
            .map(|(ip, m)| format!("{ip}: {m:?}"))
            .collect();
        if bad.is_empty() {
            return Some((
                now,
                seen.into_iter()
                    .map(|(ip, m)| (ip, m.into_iter().next().unwrap_or_default()))
                    .collect(),
            ));
        }
        last = bad.join(", ");
        None
    })
    .unwrap_or_else(|| {
        panic!(
            "{what}: not every IP answered by one MAC: {last}\nlogs:\n{}",
            logs(ps)
        )
    })
}

fn wait_rib(
    router: &Router,
    want: &[&str],
    what: &str,
    ps: &[&InCluster],
) -> BTreeMap<String, Route> {
    wait_rib_prefixes(router, want, Duration::from_secs(90)).unwrap_or_else(|| {
        panic!(
            "{what}: {:?} has {:?}, want {want:?}\nlogs:\n{}",
            router.kind,
            router.rib(false).keys().collect::<Vec<_>>(),
            logs(ps)
        )
    })
}

#[test]
fn ferrolb_to_metallb_crds_changes_no_ip_and_no_route() {
    let _serial = serial();
    let c = cluster();
    let manifest = modern("manifest");
    let ferrolb = env!("CARGO_BIN_EXE_ferrolb");
    // Leftovers of an interrupted run would make the CRDs' first apply a no-op.
    ModernInstall::remove(&c, &manifest);

    let _nodes = Nodes::up(&c);
    let _routers_ns = Topology::add(&[BIRD_NS, FRR_NS]);
    let mut ps_all: Vec<InCluster> = Vec::new();
    c.kubectl_ok(&[
        "label",
        "node",
        BGP_NODE,
        &format!("{BGP_LABEL}=bgp"),
        "--overwrite",
    ]);
    let bird = Router::start_for(
        Kind::Bird,
        BIRD_NS,
        RouterConf::v4(64500, 64500),
        Some(&v4_of(BGP_NODE).to_string()),
    );
    let frr = Router::start_for(
        Kind::Frr,
        FRR_NS,
        RouterConf::v4(64501, 64500),
        Some(&v4_of(BGP_NODE).to_string()),
    );
    let _ = c.kubectl(&["create", "namespace", SVC_NS]);
    let cfg = config_map(&c, "config", &config());
    let svcs = services();
    let _objects = ServiceObjects(Arc::clone(&c));
    let items: Vec<Value> = svcs.iter().flat_map(objects).collect();
    let out = c.kubectl_stdin(
        &["apply", "-f", "-"],
        &json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    );
    assert!(
        out.status.success(),
        "creating the Services: {}",
        support::stderr_of(&out)
    );
    let secret_version =
        c.get_json(&["-n", METALLB_NS, "secret", "memberlist"])["metadata"]["resourceVersion"]
            .clone();

    // ---- the start: ferrolb, as the v0.9 manifest runs it.
    let v09 = support::repo_root().join("manifests/v0.9/metallb.yaml");
    let v09_controller = manifest_container(&v09, "Deployment", "controller");
    let v09_speaker = manifest_container(&v09, "DaemonSet", "speaker");
    let ctl_cmd: Vec<String> = [ferrolb.to_string(), "controller".into()]
        .into_iter()
        .chain(v09_controller.args.iter().cloned())
        .collect();
    let mut ferrolb_ctl = InCluster::spawn(
        &c,
        "controller",
        &InClusterOpts::default(),
        &ctl_cmd.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut speakers: Vec<InCluster> = NODES
        .iter()
        .map(|n| {
            spawn_speaker(
                &c,
                n,
                Impl::Ferrolb,
                &resolve_env(&c, &v09_speaker.env, METALLB_NS, n),
                &v09_speaker.args,
                false,
            )
        })
        .collect();
    let before = wait_for(Duration::from_secs(120), || {
        let m = ingress(&c);
        (m.len() == svcs.len()).then_some(m)
    })
    .unwrap_or_else(|| {
        panic!(
            "ferrolb allocates all {}; log:\n{}",
            svcs.len(),
            ferrolb_ctl.log()
        )
    });
    let ip = |name: &str| before[name].parse::<Ipv4Addr>().expect("an IPv4 ingress");
    assert_eq!(before["manual-ip"], MANUAL_IP);
    assert_eq!(before["shared-http"], SHARED_IP);
    assert_eq!(before["shared-https"], SHARED_IP);
    assert!(
        ip("manual-pool").octets()[3] >= 224,
        "manual-pool from l2-manual: {}",
        before["manual-pool"]
    );
    for i in 0..6 {
        let a = ip(&format!("bgp-{i}"));
        assert!(
            a.octets()[2] == 113 && a.octets()[3] != 0,
            "bgp-{i} from the bgp pool, avoiding .0: {a}"
        );
    }
    let l2_ips: Vec<Ipv4Addr> = svcs
        .iter()
        .filter(|s| s.layer2)
        .map(|s| ip(&s.name))
        .collect();
    let mut prefixes: Vec<String> = svcs
        .iter()
        .filter(|s| !s.layer2)
        .map(|s| format!("{}/32", before[&s.name]))
        .collect();
    prefixes.sort();
    prefixes.dedup();
    let want: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let prober = Prober::start(CLIENT, v4_of(CLIENT), l2_ips.clone());
    let (t_start, owners_before) = {
        let ps: Vec<&InCluster> = speakers.iter().chain([&ferrolb_ctl]).collect();
        single_owners(
            &prober,
            &l2_ips,
            Duration::from_secs(90),
            "ferrolb install",
            &ps,
        )
    };
    let rib_bird = wait_rib(
        &bird,
        &want,
        "ferrolb install, BIRD",
        &speakers.iter().collect::<Vec<_>>(),
    );
    let rib_frr = wait_rib(
        &frr,
        &want,
        "ferrolb install, FRR",
        &speakers.iter().collect::<Vec<_>>(),
    );
    println!(
        "ferrolb install converged at {t_start:.3} s: {} layer2 IPs, {} BGP prefixes",
        l2_ips.len(),
        want.len()
    );
    for (p, r) in &rib_bird {
        assert_eq!(
            r.local_pref,
            Some(300),
            "BIRD (iBGP) sees localpref 300 on {p}"
        );
        assert_eq!(
            r.communities,
            vec!["64500:7".to_string(), "64501:9".to_string()],
            "communities of {p} at BIRD"
        );
        assert_eq!(
            r.next_hop,
            v4_of(BGP_NODE).to_string(),
            "next hop of {p} at BIRD"
        );
    }

    // ---- step 1: ferrolb migrate, on the live ConfigMap and the Services, with the names
    // derived from the pools and peers; then the first of the commands it printed (the
    // renamed pool's Service loses its annotation while ferrolb still runs).
    let live = c.kubectl_ok(&["-n", METALLB_NS, "get", "configmap", "config", "-o", "yaml"]);
    let services_file =
        std::env::temp_dir().join(format!("way-out-services-{}.json", std::process::id()));
    std::fs::write(
        &services_file,
        c.kubectl_ok(&["get", "services", "-A", "-o", "json"]),
    )
    .expect("write the Services");
    let out = Command::new(ferrolb)
        .args(["migrate", "--stable-names", "--services"])
        .arg(&services_file)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut p| {
            use std::io::Write;
            p.stdin.take().expect("stdin").write_all(live.as_bytes())?;
            p.wait_with_output()
        })
        .expect("run ferrolb migrate");
    let _ = std::fs::remove_file(&services_file);
    assert!(
        out.status.success(),
        "ferrolb migrate: {}",
        support::stderr_of(&out)
    );
    let crs = support::stdout_of(&out);
    let (annotate_before, annotate_after) = reannotation(&support::stderr_of(&out));
    assert_eq!(
        (annotate_before.len(), annotate_after.len()),
        (1, 1),
        "one Service names the renamed pool: {}",
        support::stderr_of(&out)
    );
    run_commands(&c, &annotate_before);

    // ---- step 2: the CRDs of the manifest, then the CRs (checked by the CRD schemas).
    let _install = ModernInstall {
        c: Arc::clone(&c),
        manifest: manifest.clone(),
    };
    let crds = documents(Path::new(&manifest), &["CustomResourceDefinition"], true);
    let out = c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &crds);
    assert!(
        out.status.success(),
        "applying the CRDs: {}",
        support::stderr_of(&out)
    );
    c.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/ipaddresspools.metallb.io",
        "crd/bgppeers.metallb.io",
        "crd/bgpadvertisements.metallb.io",
        "crd/l2advertisements.metallb.io",
    ]);
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &crs);
    assert!(
        out.status.success(),
        "applying the CRs: {}",
        support::stderr_of(&out)
    );

    // ---- step 3: the whole manifest. Its Deployment and DaemonSet replace ferrolb's: the
    // harness plays their rolling updates below.
    let out = c.kubectl(&["apply", "-f", &manifest]);
    assert!(
        out.status.success(),
        "applying {manifest}: {}",
        support::stderr_of(&out)
    );

    // The Deployment's rolling update (maxSurge 1): the new controller first, ready, then
    // ferrolb's goes.
    register_controller_pod(&c);
    let ctl = manifest_container(Path::new(&manifest), "Deployment", "controller");
    let mut cmd: Vec<String> = vec!["env".into()];
    cmd.extend(resolve_env(&c, &ctl.env, METALLB_NS, ""));
    cmd.push(modern("controller"));
    cmd.extend(ctl.args.iter().cloned());
    let opts = InClusterOpts {
        secrets: vec![format!("metallb-webhook-cert:{CERT_DIR}")],
        ..Default::default()
    };
    let mut modern_ctl = InCluster::spawn(
        &c,
        "controller",
        &opts,
        &cmd.iter().map(String::as_str).collect::<Vec<_>>(),
    );

    // ---- step 4: the wait for the webhook, then every CR through it.
    let t_webhook = std::time::Instant::now();
    let mut refusals = 0;
    let mut first_refusal = String::new();
    wait_for(Duration::from_secs(120), || {
        let out = c.kubectl_stdin(&["apply", "--dry-run=server", "-f", "-"], &crs);
        if out.status.success() {
            return Some(());
        }
        refusals += 1;
        if first_refusal.is_empty() {
            first_refusal = support::stderr_of(&out);
        }
        std::thread::sleep(Duration::from_millis(500));
        None
    })
    .unwrap_or_else(|| panic!("MetalLB's webhook never accepted the CRs; first error: {first_refusal}\ncontroller log:\n{}", modern_ctl.log()));
    println!(
        "webhook ready after {:.1} s; {refusals} dry runs refused before, the first with: {}",
        t_webhook.elapsed().as_secs_f64(),
        first_refusal
            .lines()
            .find(|l| l.contains("webhook"))
            .unwrap_or("-")
    );
    let overlap = json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                         "metadata": {"name": "overlap", "namespace": METALLB_NS}, "spec": {"addresses": ["192.0.2.140/30"]}});
    let out = c.kubectl_stdin(
        &["apply", "--dry-run=server", "-f", "-"],
        &overlap.to_string(),
    );
    let refused = support::stderr_of(&out);
    assert!(
        !out.status.success()
            && refused.contains(
                "admission webhook \"ipaddresspoolvalidationwebhook.metallb.io\" denied the request"
            ),
        "the webhook itself checks the pools (an overlapping one is refused): {refused}"
    );
    // Ready: it has looked at every Service of ours.
    wait_for(Duration::from_secs(60), || {
        let done: BTreeSet<String> = modern_ctl
            .json_log()
            .iter()
            .filter(|v| v["controller"] == "ServiceReconciler")
            .filter_map(|v| {
                v["end reconcile"]
                    .as_str()?
                    .strip_prefix("way-out/")
                    .map(str::to_string)
            })
            .collect();
        svcs.iter().all(|s| done.contains(&s.name)).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "today's controller did not reconcile every Service; log:\n{}",
            modern_ctl.log()
        )
    });
    assert!(
        stop(&mut ferrolb_ctl, "TERM"),
        "ferrolb's controller exits 0 on SIGTERM"
    );
    println!("controller replaced at {:.3} s", prober.now());
    run_commands(&c, &annotate_after);
    let manual = c.get_json(&["-n", SVC_NS, "service", "manual-pool"]);
    assert_eq!(
        manual["metadata"]["annotations"]["metallb.universe.tf/address-pool"], MANUAL_POOL,
        "the Service names the pool by its new name"
    );
    assert_eq!(
        ingress(&c),
        before,
        "today's controller keeps every IP; log:\n{}",
        modern_ctl.log()
    );

    // ---- step 5: the DaemonSet's rolling update, node by node.
    let spk = manifest_container(Path::new(&manifest), "DaemonSet", "speaker");
    let speaker_bin = modern("speaker");
    for (k, node) in NODES.iter().enumerate() {
        assert!(
            stop(&mut speakers[k], "TERM"),
            "ferrolb's speaker on {node} exits 0 on SIGTERM"
        );
        let mut cmd: Vec<String> = vec!["env".into()];
        cmd.extend(resolve_env(&c, &spk.env, METALLB_NS, node));
        cmd.push(speaker_bin.clone());
        cmd.extend(spk.args.iter().cloned());
        let opts = InClusterOpts {
            netns: Some(node.to_string()),
            no_memberlist: true,
            secrets: vec![format!("memberlist:{ML_KEY_DIR}")],
            ..Default::default()
        };
        ps_all.push(std::mem::replace(
            &mut speakers[k],
            InCluster::spawn(
                &c,
                "speaker",
                &opts,
                &cmd.iter().map(String::as_str).collect::<Vec<_>>(),
            ),
        ));
        // A DaemonSet moves on once the new pod is ready (maxUnavailable 1).
        wait_for(Duration::from_secs(60), || {
            speakers[k]
                .json_log()
                .iter()
                .any(|v| v["event"] == "config reloaded" || v["msg"] == "config reloaded")
                .then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "today's speaker on {node} loads the CRs; log:\n{}",
                speakers[k].log()
            )
        });
        std::thread::sleep(Duration::from_secs(5));
        println!("speaker on {node} replaced at {:.3} s", prober.now());
    }

    // ---- step 6: ferrolb's ConfigMap goes.
    drop(cfg);

    let ps: Vec<&InCluster> = speakers.iter().chain([&modern_ctl]).collect();
    let (t_one, owners_after) = single_owners(
        &prober,
        &l2_ips,
        Duration::from_secs(90),
        "today's MetalLB",
        &ps,
    );
    std::thread::sleep(Duration::from_secs(10));
    let t_end = prober.now();
    let log = prober.stop();
    let doubled: Vec<String> = l2_ips
        .iter()
        .filter_map(|ip| {
            let m = log.answering(*ip, t_one, t_end);
            (m.len() != 1 || m.iter().next() != owners_after.get(ip))
                .then(|| format!("{ip}: {m:?}"))
        })
        .collect();
    assert!(
        doubled.is_empty(),
        "after the move, one MAC per IP for 10 s: {doubled:?}\nlogs:\n{}",
        logs(&ps)
    );
    let after_bird = wait_rib(&bird, &want, "today's MetalLB, BIRD", &ps);
    let after_frr = wait_rib(&frr, &want, "today's MetalLB, FRR", &ps);
    assert_eq!(
        after_bird, rib_bird,
        "BIRD holds the same routes (next hop, AS path, localpref, communities)"
    );
    assert_eq!(
        after_frr, rib_frr,
        "FRR holds the same routes (next hop, AS path, localpref, communities)"
    );
    assert_eq!(ingress(&c), before, "no Service IP changed");
    assert_eq!(
        c.get_json(&["-n", METALLB_NS, "secret", "memberlist"])["metadata"]["resourceVersion"],
        secret_version,
        "the memberlist Secret was never written"
    );
    for p in speakers.iter_mut().chain([&mut modern_ctl]) {
        assert!(
            p.try_wait().is_none(),
            "today's MetalLB keeps running; log:\n{}",
            p.log()
        );
    }

    let moved = l2_ips
        .iter()
        .filter(|ip| owners_before.get(ip) != owners_after.get(ip))
        .count();
    let (worst_ip, worst) = l2_ips
        .iter()
        .map(|ip| (*ip, log.longest_silence(*ip, t_start, t_end)))
        .fold((l2_ips[0], 0.0), |a, b| if b.1 > a.1 { b } else { a });
    println!(
        "way out: {} Services, 0 IPs changed, {} routes the same at BIRD and FRR; layer2 owners moved: {moved} of {}; longest silence {worst:.3} s ({worst_ip}); one owner per IP at {t_one:.3} s",
        svcs.len(),
        want.len(),
        l2_ips.len()
    );
    drop(ps_all);
}
