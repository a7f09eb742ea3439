//! `scripts/in-cluster`: a process sees what a container of v0.9's manifest
//! sees — service-account files in a private mount, the API server in its
//! env, the speaker's METALLB_* env — and keeps the caller's PID.

mod support;

use std::collections::HashMap;
use std::time::Duration;
use support::{InCluster, InClusterOpts, METALLB_NS, Topology, cluster};

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Runs a shell script in-cluster and returns (pid seen by the process,
/// its KEY=VALUE output lines, the guard's pid).
fn run_probe(sa: &str, opts: &InClusterOpts) -> (HashMap<String, String>, u32) {
    let c = cluster();
    let script = format!(
        "echo PID=$$; echo NAMESPACE=$(cat {SA_DIR}/namespace); \
         p=$(cut -d. -f2 {SA_DIR}/token | tr '_-' '/+'); \
         while [ $(( ${{#p}} % 4 )) -ne 0 ]; do p=\"$p=\"; done; \
         echo SUB=$(printf %s \"$p\" | base64 -d | tr ',' '\\n' | sed -n 's/^\"sub\":\"\\(.*\\)\"}}*$/\\1/p'); \
         echo CA_SAME=$(cmp -s {SA_DIR}/ca.crt {ca} && echo yes || echo no); \
         echo MAC=$(cat /sys/class/net/eth0/address 2>/dev/null || echo none); \
         env | grep -E '^(KUBERNETES_|METALLB_)'; echo DONE=1",
        ca = c.env("FERROLB_CA"),
    );
    let mut p = InCluster::spawn(&c, sa, opts, &["/bin/sh", "-c", &script]);
    let pid = p.pid();
    support::wait_for(Duration::from_secs(30), || p.try_wait()).expect("probe exits");
    let kv = p
        .log()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<HashMap<_, _>>();
    assert_eq!(
        kv.get("DONE").map(String::as_str),
        Some("1"),
        "probe log:\n{}",
        p.log()
    );
    (kv, pid)
}

#[test]
fn controller_process_gets_its_token_and_the_api_server_and_keeps_its_pid() {
    let (kv, pid) = run_probe("controller", &InClusterOpts::default());
    assert_eq!(kv["PID"], pid.to_string(), "in-cluster must exec, not fork");
    assert_eq!(kv["NAMESPACE"], METALLB_NS);
    assert_eq!(kv["SUB"], "system:serviceaccount:metallb-system:controller");
    assert_eq!(kv["CA_SAME"], "yes");
    assert_eq!(kv["KUBERNETES_SERVICE_HOST"], "198.51.100.1");
    assert_eq!(kv["KUBERNETES_SERVICE_PORT"], "6443");
    // The controller's container has no env in the manifest.
    assert!(!kv.keys().any(|k| k.starts_with("METALLB_")), "{kv:?}");
    // The token lives only in the process's mount namespace.
    let host_view: Vec<_> = std::fs::read_dir(SA_DIR)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        host_view.is_empty(),
        "service-account files leaked to the host: {host_view:?}"
    );
}

#[test]
fn speaker_in_a_node_namespace_gets_the_daemonset_env() {
    let c = cluster();
    let _t = Topology::up(1, 0);
    let opts = InClusterOpts {
        netns: Some("node1".into()),
        ..Default::default()
    };
    let (kv, pid) = run_probe("speaker", &opts);
    assert_eq!(kv["PID"], pid.to_string());
    assert_eq!(kv["SUB"], "system:serviceaccount:metallb-system:speaker");
    assert_eq!(
        kv["MAC"], "02:00:00:00:00:01",
        "not inside node1's namespace"
    );
    assert_eq!(kv["METALLB_NODE_NAME"], "node1");
    assert_eq!(kv["METALLB_HOST"], "192.0.2.11");
    assert_eq!(kv["METALLB_ML_BIND_ADDR"], "192.0.2.11");
    assert_eq!(kv["METALLB_ML_LABELS"], "app=metallb,component=speaker");
    assert_eq!(kv["METALLB_ML_NAMESPACE"], METALLB_NS);
    let secret = c.kubectl_ok(&[
        "-n",
        METALLB_NS,
        "get",
        "secret",
        "memberlist",
        "-o",
        "jsonpath={.data.secretkey}",
    ]);
    let decoded = support::run_ok(
        std::process::Command::new("sh").args(["-c", &format!("printf %s '{secret}' | base64 -d")]),
    );
    assert_eq!(kv["METALLB_ML_SECRET_KEY"], decoded);

    let opts = InClusterOpts {
        no_memberlist: true,
        ..opts
    };
    let (kv, _) = run_probe("speaker", &opts);
    assert_eq!(kv["METALLB_NODE_NAME"], "node1");
    assert!(!kv.keys().any(|k| k.starts_with("METALLB_ML_")), "{kv:?}");
}

#[test]
fn node_helper_creates_the_objects_speakers_discover() {
    let c = cluster();
    let _n = c.node("node7", "192.0.2.17");
    let node = c.get_json(&["node", "node7"]);
    assert_eq!(node["status"]["addresses"][0]["address"], "192.0.2.17");
    assert_eq!(
        node["metadata"]["labels"]["kubernetes.io/hostname"],
        "node7"
    );
    // What v0.9's speaker lists for memberlist, as the speaker itself.
    let token = c.token("speaker");
    let out = c.kubectl_as(
        &token,
        &["-n", METALLB_NS, "get", "pods", "-l", "app=metallb,component=speaker", "-o",
          "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP} {.status.hostIP}{\"\\n\"}{end}"],
        None,
    );
    let text = support::stdout_of(&out);
    assert!(
        text.lines()
            .any(|l| l == "speaker-node7 node7 192.0.2.17 192.0.2.17"),
        "{text}"
    );
    drop(_n);
    let out = c.kubectl(&["get", "node", "node7"]);
    assert!(!out.status.success(), "node7 not deleted by its guard");
}
