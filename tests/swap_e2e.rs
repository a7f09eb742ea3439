//! Issue 11, the swap end to end: what a user does to a running MetalLB v0.9 install, as the
//! Deployment's and the DaemonSet's rolling updates do it.
//!
//! The reference controller and three reference speakers (the v0.9.6 build) run with the args
//! and the env of the containers of `manifests/v0.9/metallb.yaml` itself: the Deployment's and
//! the DaemonSet's containers are read from the file, and the downward-API values are filled in
//! as the kubelet would (`spec.nodeName` = the node, `status.hostIP` = `status.podIP` = the
//! node's address under `hostNetwork`, `metadata.namespace` = metallb-system, the
//! `memberlist/secretkey` secret's value). Memberlist is on. 50 layer2 Services (endpoints spread
//! over the nodes) get their IPs from the reference controller.
//!
//! Then the controller is replaced by `ferrolb controller`, then each speaker in turn by
//! `ferrolb speaker` (SIGTERM to the old one, the new one on the same node). A [`Prober`] in the
//! client namespace asks for every IP every 200 ms for the whole rolling update:
//! * no Service's `status.loadBalancer.ingress` changes (same IPs, same resourceVersions);
//! * no round of requests is answered by two MACs (see `rolling_support` for the window), except
//!   rounds where one of them is a reference speaker between its SIGTERM and its exit (v0.9
//!   answers until it exits, also while its `Leave` waits; printed, see `speaker_rolling_update`),
//!   and rounds where a reference speaker's log proves its rate-limited resync had not reached
//!   that Service yet after a membership change (`rolling_support::ReferenceLog`; printed);
//! * no IP goes unanswered for more than 2 s;
//! * at every step, after convergence, each IP is answered by the owner v0.9's election picks;
//! * the `config` ConfigMap and the `memberlist` Secret keep their resourceVersion.

mod rolling_support;
mod speaker_support;
mod support;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use rolling_support::{
    Impl, Nodes, Prober, ReferenceLog, ReferenceShutdown, assert_one_mac_per_round, elected_owners,
    endpoint_nodes, print_handovers, spawn_speaker, stop, v4_of,
};
use serde_json::{Value, json};
use speaker_support::{CLIENT, NODES, mac_of};
use support::{
    Cluster, InCluster, InClusterOpts, METALLB_NS, cluster, config_map, reference, resolve_env,
    serial, wait_for,
};

const N: usize = 50;
const SVC_NS: &str = "swap-e2e";
const POOL: &str =
    "address-pools:\n- name: swap-e2e\n  protocol: layer2\n  addresses:\n  - 192.0.2.192/26\n";
/// The pause after each step of the rolling update, before the next pod is replaced (a
/// DaemonSet replaces pods one by one, each once the previous one runs). It is what a speaker's
/// work-queue rate limiter needs to be full again: v0.9 re-enqueues every Service through
/// client-go's limiter on each memberlist event (10 per second, bursts of 100), and this
/// suite's 50 Services cost 50 tokens per event. With the bucket empty — events faster than it
/// refills — the re-election of the Services is spread over N/10 s on every speaker, and a
/// joining node (ferrolb's or MetalLB's: both announce their whole initial sync at once)
/// answers while the old owners are still waiting for their turn to withdraw. That is v0.9's
/// behaviour; the test models a cluster whose speakers are idle between two pod replacements.
const SETTLE: Duration = Duration::from_secs(10);
/// No IP may go unanswered longer than this (issue 11).
const MAX_SILENCE: f64 = 2.0;

/// The first container of the `kind` object named `name` in manifests/v0.9/metallb.yaml.
fn manifest_container(kind: &str, name: &str) -> support::Container {
    support::manifest_container(
        &support::repo_root().join("manifests/v0.9/metallb.yaml"),
        kind,
        name,
    )
}

fn name(i: usize) -> String {
    format!("e2e-{i:02}")
}

/// (ingress IP, resourceVersion) of every Service of ours that has an IP.
fn ingress(c: &Cluster) -> BTreeMap<String, (String, String)> {
    let list = c.get_json(&["-n", SVC_NS, "svc"]);
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|s| {
                    let ip = s["status"]["loadBalancer"]["ingress"][0]["ip"].as_str()?;
                    Some((
                        s["metadata"]["name"].as_str()?.to_string(),
                        (
                            ip.to_string(),
                            s["metadata"]["resourceVersion"].as_str()?.to_string(),
                        ),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn resource_version(c: &Cluster, kind: &str, name: &str) -> String {
    c.get_json(&["-n", METALLB_NS, kind, name])["metadata"]["resourceVersion"]
        .as_str()
        .expect("a resourceVersion")
        .to_string()
}

/// Deletes the Services and Endpoints of [`SVC_NS`] on drop (the namespace stays: nothing
/// finalizes namespaces in the harness).
struct Objects(Arc<Cluster>);

impl Drop for Objects {
    fn drop(&mut self) {
        let _ = self.0.kubectl(&[
            "-n",
            SVC_NS,
            "delete",
            "services,endpoints",
            "--all",
            "--wait=false",
        ]);
    }
}

#[test]
fn a_rolling_swap_from_metallb_to_ferrolb_changes_no_ip_and_never_double_answers() {
    let _serial = serial();
    let c = cluster();
    let _nodes = Nodes::up(&c);
    let _ = c.kubectl(&["create", "namespace", SVC_NS]);
    let _cfg = config_map(&c, "config", POOL);
    let objects = Objects(Arc::clone(&c));
    let items: Vec<Value> = (0..N)
        .flat_map(|i| {
            let addresses: Vec<Value> = endpoint_nodes(i)
                .iter()
                .map(|n| json!({"ip": format!("203.0.113.{}", 10 + n.trim_start_matches("node").parse::<u32>().unwrap_or(0)), "nodeName": n}))
                .collect();
            [
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name(i), "namespace": SVC_NS},
                       "spec": {"type": "LoadBalancer", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}),
                json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name(i), "namespace": SVC_NS},
                       "subsets": [{"addresses": addresses, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]}),
            ]
        })
        .collect();
    let out = c.kubectl_stdin(
        &["apply", "-f", "-"],
        &json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    );
    assert!(
        out.status.success(),
        "creating the Services: {}",
        support::stderr_of(&out)
    );

    let controller = manifest_container("Deployment", "controller");
    let speaker = manifest_container("DaemonSet", "speaker");
    let with_env = |env: Vec<String>, cmd: Vec<String>| -> Vec<String> {
        if env.is_empty() {
            cmd
        } else {
            ["env".to_string()]
                .into_iter()
                .chain(env)
                .chain(cmd)
                .collect()
        }
    };
    let start_controller = |which: Impl| -> InCluster {
        let bin = match which {
            Impl::Reference => vec![reference("controller")],
            Impl::Ferrolb => vec![
                env!("CARGO_BIN_EXE_ferrolb").to_string(),
                "controller".to_string(),
            ],
        };
        let cmd = with_env(
            resolve_env(&c, &controller.env, METALLB_NS, ""),
            bin.into_iter()
                .chain(controller.args.iter().cloned())
                .collect(),
        );
        InCluster::spawn(
            &c,
            "controller",
            &InClusterOpts::default(),
            &cmd.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    // The manifest's env replaces what scripts/in-cluster would set (memberlist off there).
    let start_speaker = |node: &str, which: Impl| {
        spawn_speaker(
            &c,
            node,
            which,
            &resolve_env(&c, &speaker.env, METALLB_NS, node),
            &speaker.args,
            false,
        )
    };

    let cm_version = resource_version(&c, "configmap", "config");
    let secret_version = resource_version(&c, "secret", "memberlist");

    let mut ctl = start_controller(Impl::Reference);
    let allocated = wait_for(Duration::from_secs(120), || {
        let m = ingress(&c);
        (m.len() == N).then_some(m)
    })
    .unwrap_or_else(|| {
        panic!(
            "the reference controller allocates all {N}; log:\n{}",
            ctl.log()
        )
    });
    let ips: BTreeMap<String, Ipv4Addr> = allocated
        .iter()
        .map(|(n, (ip, _))| (n.clone(), ip.parse().expect("an IPv4 ingress")))
        .collect();
    let expected = |alive: &[&str]| -> BTreeMap<Ipv4Addr, String> {
        elected_owners(
            alive,
            (0..N).map(|i| {
                (
                    ips[&name(i)],
                    format!("{SVC_NS}/{}", name(i)),
                    endpoint_nodes(i),
                )
            }),
        )
    };

    let prober = Prober::start(CLIENT, v4_of(CLIENT), ips.values().copied().collect());
    let mut speakers: Vec<InCluster> = NODES
        .iter()
        .map(|n| start_speaker(n, Impl::Reference))
        .collect();
    let all: Vec<&str> = NODES.to_vec();
    let converge = |alive: &[&str], what: &str, ps: &[&InCluster]| -> f64 {
        rolling_support::converge(&prober, &expected(alive), alive, what, ps)
    };
    let t_start = converge(
        &all,
        "reference install",
        &speakers.iter().chain([&ctl]).collect::<Vec<_>>(),
    );
    println!("reference install converged at {t_start:.3} s");
    let before = ingress(&c);
    std::thread::sleep(SETTLE);

    // The Deployment's rolling update: the old controller goes, ferrolb's comes.
    stop(&mut ctl, "TERM");
    let mut ctl = start_controller(Impl::Ferrolb);
    wait_for(Duration::from_secs(90), || {
        let n = ctl
            .json_log()
            .iter()
            .filter(|v| {
                v["event"] == "noChange"
                    && v["service"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("swap-e2e/"))
            })
            .count();
        (n >= N).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "ferrolb's controller did not look at every Service; log:\n{}",
            ctl.log()
        )
    });
    println!("controller replaced at {:.3} s", prober.now());

    // The DaemonSet's rolling update, node by node.
    let mut shutdowns: Vec<ReferenceShutdown> = Vec::new();
    let mut references: Vec<ReferenceLog> = Vec::new();
    for k in 0..NODES.len() {
        let node = NODES[k];
        let others: Vec<&str> = NODES.iter().copied().filter(|n| *n != node).collect();
        let signalled = prober.now();
        assert!(
            stop(&mut speakers[k], "TERM"),
            "the reference speaker on {node} exits 0 on SIGTERM; log:\n{}",
            speakers[k].log()
        );
        shutdowns.push(ReferenceShutdown {
            mac: mac_of(node),
            signalled,
            exited: prober.now(),
        });
        references.push(ReferenceLog {
            mac: mac_of(node),
            lines: speakers[k].json_log(),
        });
        let t = converge(
            &others,
            &format!("{node}'s reference speaker stopped"),
            &speakers.iter().chain([&ctl]).collect::<Vec<_>>(),
        );
        println!("step {k}: {node} stopped, converged at {t:.3} s");
        std::thread::sleep(SETTLE);
        speakers[k] = start_speaker(node, Impl::Ferrolb);
        speakers[k].wait_json(Duration::from_secs(60), "Memberlist join", |v| {
            v["msg"] == "Memberlist join"
        });
        let t = converge(
            &all,
            &format!("ferrolb on {node} started"),
            &speakers.iter().chain([&ctl]).collect::<Vec<_>>(),
        );
        println!("step {k}: ferrolb on {node} converged at {t:.3} s");
        std::thread::sleep(SETTLE);
    }
    let t_end = prober.now();
    let log = prober.stop();

    for s in speakers.iter_mut() {
        assert!(
            s.try_wait().is_none(),
            "a ferrolb speaker exited; log:\n{}",
            s.log()
        );
    }
    assert!(
        ctl.try_wait().is_none(),
        "ferrolb's controller exited; log:\n{}",
        ctl.log()
    );
    print_handovers(&log, ips.values().copied(), t_start);
    let silences: Vec<(Ipv4Addr, f64)> = ips
        .values()
        .map(|ip| (*ip, log.longest_silence(*ip, t_start, t_end)))
        .collect();
    let worst = silences.iter().map(|(_, s)| *s).fold(0.0, f64::max);
    println!(
        "longest silence of any IP: {worst:.3} s; rounds: {}",
        log.rounds.len()
    );
    assert_one_mac_per_round(
        &log,
        &ips.iter()
            .map(|(name, ip)| (*ip, format!("{SVC_NS}/{name}")))
            .collect::<Vec<_>>(),
        t_start,
        &shutdowns,
        &references,
    );
    let silent: Vec<_> = silences.iter().filter(|(_, s)| *s > MAX_SILENCE).collect();
    assert!(
        silent.is_empty(),
        "IPs unanswered for more than {MAX_SILENCE} s: {silent:?}"
    );
    assert_eq!(
        ingress(&c),
        before,
        "no Service IP (nor anything else of a Service) changed"
    );
    assert_eq!(
        resource_version(&c, "configmap", "config"),
        cm_version,
        "the ConfigMap was never written"
    );
    assert_eq!(
        resource_version(&c, "secret", "memberlist"),
        secret_version,
        "the memberlist secret was never written"
    );
    drop(objects);
}
