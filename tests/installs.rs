//! Every way v0.9 was installed besides the raw `metallb.yaml`, swapped by its image alone: the
//! Bitnami chart (0.1.29, 1.0.2, 2.4.0), the old `stable/metallb` chart (0.12.1), Kubespray's
//! addon (v2.14.0, v2.16.0) and MicroK8s' addon (v1.20), rendered under `compat/installs/` (see their
//! PROVENANCE.md and `scripts/render-installs`).
//!
//! Each test takes the rendered install as it is and changes the two `image:` fields to
//! ferrolb's, nothing else (asserted). No kubelet runs on this harness, so the objects a kubelet
//! or Helm would act on are played as follows:
//! * every object is applied as the install's own command would (a Helm chart's namespaced
//!   objects into the release namespace `metallb`), except the Deployment and the DaemonSet,
//!   whose containers are run with `scripts/in-cluster` as that install's service accounts, with
//!   the container's args and env (downward API and secret refs resolved as the kubelet does),
//!   and the PodSecurityPolicies, which this Kubernetes 1.35 no longer serves;
//! * the DaemonSet's pods exist as Pod objects with the template's labels (what memberlist's
//!   discovery lists), one per node, on node32 and node33;
//! * the containers' probes are made as the kubelet makes them (an HTTP GET on the named port),
//!   before the install's ConfigMap exists and after; an install without probes gets the GET on
//!   its `--port` anyway.
//!
//! Asserted: a Service gets its IP from the install's ConfigMap, exactly the elected speaker
//! answers ARP for it, memberlist is on or off as the install configures it (its env), and the
//! apiserver refused nothing to the install's service accounts (0 × 403 in the audit log).
//! Objects that the install shares with the harness's own v0.9 install (Kubespray and MicroK8s
//! write `metallb-system`'s RBAC, `config` and `memberlist`) are put back as they were.

mod speaker_support;
mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use speaker_support::{mac_of, owner, who_answers_arp_from};
use support::{Cluster, InCluster, InClusterOpts, Topology, cluster, resolve_env, serial, wait_for};

const NODES: [&str; 2] = ["node32", "node33"];
const CLIENT: &str = "client32";
/// The namespace `helm install --namespace metallb --create-namespace` puts a chart into.
const RELEASE_NS: &str = "metallb";
const SVC_NS: &str = "installs";
const SVC: &str = "web";
/// The pool every rendered install was given (scripts/render-installs).
const POOL_PREFIX: &str = "192.0.2.24";
const IMAGES: [(&str, &str); 2] = [("Deployment", "ferrolb/controller:0.1.0"), ("DaemonSet", "ferrolb/speaker:0.1.0")];

#[test]
fn bitnami_0_1_29_swapped_by_image() {
    swap_and_run("bitnami-0.1.29", true);
}

#[test]
fn bitnami_1_0_2_swapped_by_image() {
    swap_and_run("bitnami-1.0.2", true);
}

#[test]
fn bitnami_2_4_0_swapped_by_image() {
    swap_and_run("bitnami-2.4.0", true);
}

#[test]
fn stable_0_12_1_swapped_by_image_runs_without_memberlist() {
    swap_and_run("stable-0.12.1", false);
}

#[test]
fn kubespray_2_14_0_swapped_by_image() {
    swap_and_run("kubespray-2.14.0", true);
}

#[test]
fn kubespray_2_16_0_swapped_by_image() {
    swap_and_run("kubespray-2.16.0", true);
}

#[test]
fn microk8s_1_20_swapped_by_image() {
    swap_and_run("microk8s-1.20", true);
}

// ---------------------------------------------------------------- the install

/// The objects of `compat/installs/<id>/install.yaml`, namespaced as its install command puts
/// them, with the two images swapped.
struct Install {
    objects: Vec<Value>,
}

/// A container of the Deployment or the DaemonSet, and what of its pod template matters here.
struct Workload {
    namespace: String,
    service_account: String,
    args: Vec<String>,
    env: Vec<Value>,
    /// (path, port) of each HTTP probe, the named port resolved.
    probes: Vec<(String, u16)>,
    pod_labels: Value,
}

const CLUSTER_SCOPED: [&str; 5] = ["Namespace", "ClusterRole", "ClusterRoleBinding", "PodSecurityPolicy", "PriorityClass"];

impl Install {
    fn load(id: &str) -> Install {
        use serde::Deserialize;
        let path = support::repo_root().join(format!("compat/installs/{id}/install.yaml"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut objects: Vec<Value> = serde_norway::Deserializer::from_str(&text)
            .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .filter(|d| !d.is_null())
            .collect();
        for o in &mut objects {
            let kind = o["kind"].as_str().unwrap_or_default().to_string();
            if !CLUSTER_SCOPED.contains(&kind.as_str()) && o["metadata"]["namespace"].is_null() {
                o["metadata"]["namespace"] = json!(RELEASE_NS);
            }
        }
        let original = objects.clone();
        for (kind, image) in IMAGES {
            let o = objects.iter_mut().find(|o| o["kind"] == kind).unwrap_or_else(|| panic!("{id}: no {kind}"));
            let c = &mut o["spec"]["template"]["spec"]["containers"][0];
            let was = c["image"].as_str().unwrap_or_default().to_string();
            assert!(was.contains("metallb") && (was.contains(":v0.9.") || was.contains(":0.9.")), "{id}: the {kind} runs {was}, not a MetalLB v0.9 image");
            c["image"] = json!(image);
        }
        // The swap touches nothing but the two image fields.
        let changed: Vec<String> = original
            .iter()
            .zip(&objects)
            .flat_map(|(a, b)| differences("", a, b))
            .collect();
        assert_eq!(changed, vec!["/spec/template/spec/containers/0/image".to_string(); 2], "{id}: the swap changed more than the images");
        Install { objects }
    }

    fn workload(&self, kind: &str) -> Workload {
        let o = self.objects.iter().find(|o| o["kind"] == kind).expect("workload");
        let pod = &o["spec"]["template"];
        let c = &pod["spec"]["containers"][0];
        assert!(c["command"].is_null(), "the {kind} sets a command: an image swap could not keep it");
        let strings = |v: &Value| -> Vec<String> { v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default() };
        let port_named = |name: &Value| -> u16 {
            if let Some(n) = name.as_u64() {
                return n as u16;
            }
            c["ports"].as_array().and_then(|ps| ps.iter().find(|p| p["name"] == *name)).and_then(|p| p["containerPort"].as_u64()).unwrap_or_else(|| panic!("the {kind}'s probe names port {name}, which it does not have")) as u16
        };
        let probes = ["livenessProbe", "readinessProbe", "startupProbe"]
            .iter()
            .filter_map(|p| c[*p]["httpGet"].as_object().map(|g| (g["path"].as_str().unwrap_or("/").to_string(), port_named(&g["port"]))))
            .collect();
        Workload {
            namespace: o["metadata"]["namespace"].as_str().expect("namespace").to_string(),
            service_account: pod["spec"]["serviceAccountName"].as_str().unwrap_or("default").to_string(),
            args: strings(&c["args"]),
            env: c["env"].as_array().cloned().unwrap_or_default(),
            probes,
            pod_labels: pod["metadata"]["labels"].clone(),
        }
    }

    /// What the install applies, without what this harness plays itself (see the module doc).
    fn applied_objects(&self, config_map: &str) -> (Vec<Value>, Vec<Value>) {
        let (cms, rest): (Vec<Value>, Vec<Value>) = self
            .objects
            .iter()
            .filter(|o| !["Deployment", "DaemonSet", "PodSecurityPolicy", "Namespace"].contains(&o["kind"].as_str().unwrap_or_default()))
            .cloned()
            .partition(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == config_map);
        (rest, cms)
    }
}

/// JSON pointers where `a` and `b` differ.
fn differences(at: &str, a: &Value, b: &Value) -> Vec<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().flat_map(|k| differences(&format!("{at}/{k}"), &x.get(k).cloned().unwrap_or(Value::Null), &y.get(k).cloned().unwrap_or(Value::Null))).collect()
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x.iter().zip(y).enumerate().flat_map(|(i, (p, q))| differences(&format!("{at}/{i}"), p, q)).collect(),
        _ if a == b => vec![],
        _ => vec![at.to_string()],
    }
}

/// The value of a `--name=value` arg.
fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().find_map(|a| a.strip_prefix(&format!("--{name}=")).map(str::to_string))
}

// ---------------------------------------------------------------- objects on the cluster

/// Applied objects; on drop, those that did not exist are deleted and those that did are put
/// back as they were.
struct Objects {
    c: Arc<Cluster>,
    created: Vec<Value>,
    prior: Vec<Value>,
}

impl Objects {
    fn apply(c: &Arc<Cluster>, objects: &[Value]) -> Objects {
        let mut me = Objects::stash(c, objects);
        let out = c.kubectl_stdin(&["apply", "-f", "-"], &list(objects));
        assert!(out.status.success(), "kubectl apply: {}", support::stderr_of(&out));
        me.created = objects.iter().filter(|o| !me.prior.iter().any(|p| same_object(p, o))).cloned().collect();
        me
    }

    /// Takes the objects away until the guard drops (an install's ConfigMap must not exist
    /// before the install applies it).
    fn absent(c: &Arc<Cluster>, objects: &[Value]) -> Objects {
        let me = Objects::stash(c, objects);
        if !me.prior.is_empty() {
            let out = c.kubectl_stdin(&["delete", "--wait=true", "-f", "-"], &list(&me.prior));
            assert!(out.status.success(), "kubectl delete: {}", support::stderr_of(&out));
        }
        me
    }

    fn stash(c: &Arc<Cluster>, objects: &[Value]) -> Objects {
        let prior = objects
            .iter()
            .filter_map(|o| {
                let out = c.kubectl_stdin(&["get", "-f", "-", "-o", "json"], &o.to_string());
                out.status.success().then(|| {
                    let got: Value = serde_json::from_slice(&out.stdout).expect("kubectl get JSON");
                    // `get -f` answers with a List of the one object.
                    let mut p = if got["kind"] == "List" { got["items"][0].clone() } else { got };
                    let m = p["metadata"].as_object_mut().expect("metadata");
                    for k in ["resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"] {
                        m.remove(k);
                    }
                    p
                })
            })
            .collect();
        Objects { c: Arc::clone(c), created: vec![], prior }
    }
}

impl Objects {
    /// Deletes what was created, puts back what was there, and checks that what is there now
    /// is what was there before (all but the server's metadata): the harness's own v0.9 install
    /// is unchanged after an install that shares its names. Returns what differs.
    fn put_back(mut self) -> Vec<String> {
        self.undo();
        let prior = std::mem::take(&mut self.prior);
        prior
            .iter()
            .filter_map(|p| {
                let now = Objects::stash(&self.c, std::slice::from_ref(p)).prior.pop();
                let content = |o: &Value| -> Value {
                    let mut o = o.clone();
                    o.as_object_mut().map(|m| m.remove("metadata"));
                    o
                };
                let same = now.as_ref().is_some_and(|n| content(n) == content(p) && n["metadata"]["labels"] == p["metadata"]["labels"]);
                (!same).then(|| format!("{} {}: {} now, {} before", p["kind"], p["metadata"]["name"], now.map_or("absent".to_string(), |n| content(&n).to_string()), content(p)))
            })
            .collect()
    }

    fn undo(&mut self) {
        let created = std::mem::take(&mut self.created);
        if !created.is_empty() {
            // Forced: no kubelet confirms a Pod's deletion here.
            let _ = self.c.kubectl_stdin(&["delete", "--ignore-not-found", "--grace-period=0", "--force", "--wait=true", "-f", "-"], &list(&created));
        }
        for p in &self.prior {
            let out = self.c.kubectl_stdin(&["replace", "-f", "-"], &p.to_string());
            if !out.status.success() {
                let out = self.c.kubectl_stdin(&["create", "-f", "-"], &p.to_string());
                if !out.status.success() {
                    eprintln!("could not restore {}: {}", p["metadata"]["name"], support::stderr_of(&out));
                }
            }
        }
    }
}

impl Drop for Objects {
    fn drop(&mut self) {
        self.undo();
    }
}

fn same_object(a: &Value, b: &Value) -> bool {
    a["kind"] == b["kind"] && a["metadata"]["name"] == b["metadata"]["name"] && a["metadata"]["namespace"] == b["metadata"]["namespace"]
}

fn list(objects: &[Value]) -> String {
    json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string()
}

fn ensure_namespace(c: &Cluster, ns: &str) {
    let out = c.kubectl(&["create", "ns", ns]);
    assert!(out.status.success() || support::stderr_of(&out).contains("AlreadyExists"), "create ns {ns}: {}", support::stderr_of(&out));
}

/// The Node object `node` (what a kubelet registers).
fn node_object(node: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux", "beta.kubernetes.io/os": "linux"}}})
}

/// The Pod the DaemonSet would run on `node` (what memberlist's discovery lists).
fn speaker_pod(w: &Workload, node: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": format!("installs-speaker-{node}"), "namespace": w.namespace, "labels": w.pod_labels},
           "spec": {"nodeName": node, "hostNetwork": true, "serviceAccountName": w.service_account,
                    "automountServiceAccountToken": false,
                    "containers": [{"name": "speaker", "image": "ferrolb/speaker:0.1.0"}]}})
}

/// The status a kubelet reports for the node and for the speaker's pod on it.
fn set_running(c: &Cluster, w: &Workload, node: &str) {
    let addr = Topology::addr(node, "v4");
    let ready = json!({"status": {"addresses": [{"type": "InternalIP", "address": addr}, {"type": "Hostname", "address": node}],
                                  "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}});
    c.kubectl_ok(&["patch", "node", node, "--subresource=status", "--type=merge", "-p", &ready.to_string()]);
    let status = json!({"status": {"phase": "Running", "hostIP": addr, "hostIPs": [{"ip": addr}], "podIP": addr, "podIPs": [{"ip": addr}],
                                   "conditions": [{"type": "Ready", "status": "True"}]}});
    c.kubectl_ok(&["-n", &w.namespace, "patch", "pod", &format!("installs-speaker-{node}"), "--subresource=status", "--type=merge", "-p", &status.to_string()]);
}

// ---------------------------------------------------------------- the daemons

fn start(c: &Arc<Cluster>, w: &Workload, daemon: &str, node: Option<&str>) -> InCluster {
    let mut cmd = vec!["env".to_string()];
    cmd.extend(resolve_env(c, &w.env, &w.namespace, node.unwrap_or_default()));
    // ferrolb's images run `/ferrolb controller` and `/ferrolb speaker` (tests/image_oci_config.rs):
    // the install's args follow.
    cmd.extend([env!("CARGO_BIN_EXE_ferrolb").to_string(), daemon.to_string()]);
    cmd.extend(w.args.iter().cloned());
    let opts = InClusterOpts {
        netns: node.map(str::to_string),
        node: node.map(str::to_string),
        namespace: Some(w.namespace.clone()),
        // The env is the install's, all of it: scripts/in-cluster adds none of v0.9's own.
        no_memberlist: true,
        ..Default::default()
    };
    InCluster::spawn(c, &w.service_account, &opts, &cmd.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The kubelet's probes of a workload's pod: HTTP status of each (path, port), from the pod's
/// network (the node's namespace for the speaker, hostNetwork; the host for the controller).
fn probe(netns: Option<&str>, host: &str, probes: &[(String, u16)]) -> Vec<String> {
    probes
        .iter()
        .map(|(path, port)| {
            let url = format!("http://{host}:{port}{path}");
            let mut cmd = match netns {
                Some(ns) => {
                    let mut c = Command::new("ip");
                    c.args(["netns", "exec", ns, "curl"]);
                    c
                }
                None => Command::new("curl"),
            };
            let out = cmd.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", &url]).output().expect("run curl");
            format!("{url} {}", String::from_utf8_lossy(&out.stdout))
        })
        .collect()
}

fn probes_pass(netns: Option<&str>, host: &str, probes: &[(String, u16)], when: &str, log: &dyn Fn() -> String) {
    let ok = |r: &Vec<String>| r.iter().all(|l| l.ends_with(" 200"));
    let got = wait_for(Duration::from_secs(20), || Some(probe(netns, host, probes)).filter(ok));
    assert!(got.is_some(), "{when}: the probes fail: {:?}; log:\n{}", probe(netns, host, probes), log());
}

// ---------------------------------------------------------------- the test

fn swap_and_run(id: &str, memberlist: bool) {
    support::require_root();
    for t in ["ip", "curl", "tcpdump", "arping", "ss", "base64"] {
        support::require_tool(t);
    }
    let _serial = serial();
    let c = cluster();
    let _topo = Topology::add(&[NODES[0], NODES[1], CLIENT]);

    let install = Install::load(id);
    let controller = install.workload("Deployment");
    let speaker = install.workload("DaemonSet");
    let config = flag(&controller.args, "config").expect("the controller's --config");
    assert_eq!(flag(&speaker.args, "config").as_deref(), Some(config.as_str()), "{id}: both read one ConfigMap");
    let has_ml_env = speaker.env.iter().any(|e| e["name"] == "METALLB_ML_BIND_ADDR");
    assert_eq!(has_ml_env, memberlist, "{id}: the install's env configures memberlist {}", if memberlist { "on" } else { "off" });

    for ns in [controller.namespace.as_str(), speaker.namespace.as_str(), SVC_NS] {
        ensure_namespace(&c, ns);
    }
    // A run killed before its guards dropped leaves its Node and Pod objects: gone first, so
    // that they are not taken for the harness's own and put back afterwards.
    for n in NODES {
        let _ = c.kubectl(&["-n", &speaker.namespace, "delete", "pod", &format!("installs-speaker-{n}"), "--ignore-not-found", "--grace-period=0", "--force"]);
        let _ = c.kubectl(&["delete", "node", n, "--ignore-not-found"]);
    }
    let audit_mark = c.audit_events().len();
    let (objects, config_maps) = install.applied_objects(&config);
    assert_eq!(config_maps.len(), 1, "{id}: one ConfigMap {config}");
    let no_config_yet = Objects::absent(&c, &config_maps);
    let rbac = Objects::apply(&c, &objects);
    let _pods = Objects::apply(&c, &NODES.iter().flat_map(|n| [node_object(n), speaker_pod(&speaker, n)]).collect::<Vec<_>>());
    for n in NODES {
        set_running(&c, &speaker, n);
    }

    let ctl = start(&c, &controller, "controller", None);
    let speakers: Vec<InCluster> = NODES.iter().map(|n| start(&c, &speaker, "speaker", Some(n))).collect();
    let port = |w: &Workload| -> Vec<(String, u16)> {
        if w.probes.is_empty() {
            vec![("/metrics".to_string(), flag(&w.args, "port").expect("--port").parse().expect("a port"))]
        } else {
            w.probes.clone()
        }
    };
    let all_logs = || -> String { std::iter::once(&ctl).chain(&speakers).map(|p| p.log()).collect::<Vec<_>>().join("\n----\n") };
    // Before any config: v0.9 serves /metrics on --port from the start.
    probes_pass(None, "127.0.0.1", &port(&controller), "before the ConfigMap (controller)", &all_logs);
    for n in NODES {
        probes_pass(Some(n), &Topology::addr(n, "v4"), &port(&speaker), &format!("before the ConfigMap (speaker on {n})"), &all_logs);
    }

    let config_applied = Objects::apply(&c, &config_maps);
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": SVC, "namespace": SVC_NS},
                     "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}});
    let eps = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": SVC, "namespace": SVC_NS},
                     "subsets": [{"addresses": NODES.iter().enumerate().map(|(i, n)| json!({"ip": format!("203.0.113.{}", 41 + i), "nodeName": n})).collect::<Vec<_>>(),
                                  "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]});
    let _svc = Objects::apply(&c, &[svc, eps]);
    let ip = wait_for(Duration::from_secs(60), || c.get_json(&["-n", SVC_NS, "svc", SVC])["status"]["loadBalancer"]["ingress"][0]["ip"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{id}: no IP for {SVC_NS}/{SVC}; logs:\n{}", all_logs()));
    assert!(ip.starts_with(POOL_PREFIX), "{id}: {ip} is not from the install's pool 192.0.2.240/28");

    let owner_mac = mac_of(&owner(&format!("{SVC_NS}/{SVC}"), &NODES));
    let want = BTreeSet::from([format!("{owner_mac} (eth src {owner_mac})")]);
    let client_mac = mac_of(CLIENT);
    let got = speaker_support::poll_until(Duration::from_secs(60), &want, || who_answers_arp_from(CLIENT, &ip, &client_mac));
    assert_eq!(got, want, "{id}: exactly the elected speaker answers ARP for {ip}; logs:\n{}", all_logs());

    // Memberlist, as the install's env has it.
    for (i, n) in NODES.iter().enumerate() {
        let other = NODES[1 - i];
        let log = speakers[i].json_log();
        let joined = |l: &Value| l["msg"] == "Node event" && l["node event"] == "NodeJoin" && l["node name"] == other;
        let listening = Topology::exec(n, &["ss", "-Hlun", "sport", "=", ":7946"]);
        let udp = String::from_utf8_lossy(&listening.stdout).trim().to_string();
        if memberlist {
            let seen = wait_for(Duration::from_secs(30), || speakers[i].json_log().iter().any(joined).then_some(()));
            assert!(seen.is_some(), "{id}: the speaker on {n} never saw {other} join memberlist; log:\n{}", speakers[i].log());
            assert!(!udp.is_empty(), "{id}: memberlist is on, yet nothing listens on udp 7946 in {n}");
        } else {
            assert!(log.iter().any(|l| l["msg"].as_str().is_some_and(|m| m.starts_with("Not starting fast dead node detection"))), "{id}: the speaker on {n} does not say memberlist is off; log:\n{}", speakers[i].log());
            assert!(!log.iter().any(joined), "{id}: memberlist is off, yet {n} saw a join");
            assert!(udp.is_empty(), "{id}: memberlist is off, yet {n} listens on udp 7946: {udp}");
        }
    }

    probes_pass(None, "127.0.0.1", &port(&controller), "with the config (controller)", &all_logs);
    for n in NODES {
        probes_pass(Some(n), &Topology::addr(n, "v4"), &port(&speaker), &format!("with the config (speaker on {n})"), &all_logs);
    }

    // Nothing the install's RBAC forbids, and both service accounts did talk to the apiserver.
    let users = [&controller, &speaker].map(|w| format!("system:serviceaccount:{}:{}", w.namespace, w.service_account));
    let events = c.audit_events();
    for user in &users {
        let mine: Vec<&Value> = events[audit_mark..].iter().filter(|e| e["user"]["username"] == user.as_str()).collect();
        assert!(!mine.is_empty(), "{id}: no request of {user} in the audit log");
        let forbidden: Vec<String> = mine.iter().filter(|e| e["responseStatus"]["code"] == 403).map(|e| format!("{} {}", e["verb"], e["requestURI"])).collect();
        assert_eq!(forbidden, Vec::<String>::new(), "{id}: requests of {user} the install's RBAC forbids");
    }
    eprintln!(
        "{id}: {SVC_NS}/{SVC} got {ip} from ConfigMap {}/{config}; ARP answered by {owner_mac} only; memberlist {}; probes {:?} and {:?} passed before and after the config; 0 × 403 for {users:?}",
        controller.namespace,
        if memberlist { "on (both saw the other join)" } else { "off (no udp/7946, the v0.9 line)" },
        port(&controller),
        port(&speaker),
    );
    drop(speakers);
    drop(ctl);
    drop(config_applied);
    let mut changed = rbac.put_back();
    changed.extend(no_config_yet.put_back());
    assert_eq!(changed, Vec::<String>::new(), "{id}: objects the install shares with the harness's v0.9 install are not as they were");
}
