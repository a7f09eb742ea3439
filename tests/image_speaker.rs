//! The `ferrolb-speaker` image (scripts/image) under the speaker container's own settings from
//! `manifests/v0.9/metallb.yaml`: the rootfs unpacked from the OCI layout by umoci, a runtime
//! config derived from the DaemonSet (tests/oci_support: its args, its env with the downward
//! API's values substituted — node name, host IP, pod IP, namespace — and the `memberlist`
//! secret's key, capabilities NET_ADMIN, NET_RAW, SYS_ADMIN with ALL dropped, no privilege
//! escalation, read-only root, the limits) and run by runc (tests/runc_support) with a real
//! `speaker` service-account token. `hostNetwork: true` is honoured as a kubelet on that node
//! would: the container gets no network namespace of its own but the node's, here the
//! namespace `node31` on the harness bridge. The speaker answers ARP for a layer2 Service's IP
//! from the client namespace `client31` with node31's MAC, records its `nodeAssigned` Event,
//! reports the announcement in its metrics and exits 0 on SIGTERM.
//!
//! The Service lives in namespace speaker-l2 under the speaker tests' isolation policy (no
//! controller another test runs may rewrite its status); the ConfigMap is `config`, the name
//! the manifest's args give, so `serial()` keeps the other tests that use it away meanwhile.

mod oci_support;
mod runc_support;
mod speaker_support;
mod support;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;

use oci_support::{ImageConfig, PodFacts};
use runc_support::{
    Bundle, RUNTIME, kubernetes_service_env, manifest_workload, mount_options, proc_status,
};
use serde_json::{Value, json};
use support::{
    METALLB_NS, Topology, cluster, config_map, require_root, require_tool, run, run_ok, script,
    serial, wait_for,
};

const NODE: &str = "node31";
const CLIENT: &str = "client31";
const SERVICE: &str = "l2-image";
const IP: &str = "192.0.2.144";
const POOL: &str = "192.0.2.144/30";

/// NODE and CLIENT on bridge flb0 (`scripts/netns add`); deletes exactly the ones it made.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = Command::new(script("netns"))
                .arg("del")
                .args(&self.0)
                .output();
        }
    }
}

/// The MACs that answer one ARP request for IP from the client (iputils-arping's
/// `Unicast reply from IP [MAC]` lines), lower case.
fn arp_answers() -> BTreeSet<String> {
    let out = run(Command::new("ip").args([
        "netns", "exec", CLIENT, "arping", "-c", "1", "-w", "2", "-I", "eth0", IP,
    ]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("reply from {IP} [")))
        .filter_map(|l| Some(l.split('[').nth(1)?.split(']').next()?.to_lowercase()))
        .collect()
}

/// NUL-separated /proc/PID/environ as `K=V` strings.
fn environ(pid: u32) -> Vec<String> {
    let raw = fs::read(format!("/proc/{pid}/environ")).expect("read environ");
    raw.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

#[test]
fn speaker_image_under_the_manifests_security_settings_answers_arp_in_the_nodes_network() {
    require_root();
    for tool in [RUNTIME, "umoci", "file", "strip", "arping", "curl", "ip"] {
        require_tool(tool);
    }
    let _serial = serial();
    let c = cluster();
    let created = run_ok(Command::new(script("netns")).args(["add", NODE, CLIENT]));
    let _ns = Namespaces(created.lines().map(str::to_string).collect());
    let node_ip = Topology::addr(NODE, "v4");
    let node_mac = Topology::addr(NODE, "mac");
    let _node = c.node(NODE, &node_ip);

    // The image, built (or found up to date) by scripts/image, and the service account.
    let bundle = Bundle::unpack(&c, "speaker");
    let (pod, container) = manifest_workload("DaemonSet", "speaker");
    assert_eq!(
        pod["hostNetwork"], true,
        "the manifest's speaker runs in the host network"
    );
    let image = ImageConfig::from_blob(&bundle.image_config_blob("speaker"));
    assert_eq!(image.entrypoint, ["/ferrolb", "speaker"]);
    let secret_key = c.kubectl_ok(&[
        "-n",
        METALLB_NS,
        "get",
        "secret",
        "memberlist",
        "-o",
        "go-template={{.data.secretkey | base64decode}}",
    ]);
    assert!(!secret_key.is_empty(), "the memberlist secret has a key");
    let facts = PodFacts {
        pod_name: format!("speaker-{NODE}"),
        namespace: METALLB_NS.into(),
        node_name: NODE.into(),
        host_ip: node_ip.clone(),
        pod_ip: node_ip.clone(),
        secrets: [(
            ("memberlist".to_string(), "secretkey".to_string()),
            secret_key.clone(),
        )]
        .into(),
        service_env: kubernetes_service_env(&c),
    };
    let mut config = bundle.runtime_config(&pod, &container, &image, &facts);
    // hostNetwork: no network namespace of the container's own; the host's network is the
    // node's, i.e. the namespace NODE.
    let namespaces = config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces");
    assert!(
        !namespaces
            .iter()
            .any(|n| n["type"] == "network" || n["type"] == "uts"),
        "{namespaces:?}"
    );
    namespaces.push(json!({"type": "network", "path": format!("/var/run/netns/{NODE}")}));
    bundle.write_config(&config);

    // A layer2 Service with IP, whose only endpoint is on NODE.
    speaker_support::ensure_namespace(&c);
    let _isolation = speaker_support::isolate(&c);
    let payload =
        format!("address-pools:\n- name: image\n  protocol: layer2\n  addresses:\n  - {POOL}\n");
    let _cfg = config_map(&c, "config", &payload);
    let _svc = speaker_support::service(&c, SERVICE, IP);
    let _eps = speaker_support::endpoints(&c, SERVICE, &[NODE]);
    assert!(
        arp_answers().is_empty(),
        "{IP} is answered before the speaker runs"
    );

    let mut ctr = bundle.run();
    let answered = wait_for(Duration::from_secs(90), || {
        if ctr.try_wait().is_some() {
            return Some(BTreeSet::new());
        }
        Some(arp_answers()).filter(|s| !s.is_empty())
    })
    .unwrap_or_default();
    assert_eq!(
        answered,
        BTreeSet::from([node_mac.clone()]),
        "ARP for {IP} from {CLIENT} answered by {NODE}'s MAC only; container log:\n{}",
        ctr.log()
    );
    assert_eq!(
        arp_answers(),
        BTreeSet::from([node_mac.clone()]),
        "and again"
    );

    // The process runs under the manifest's settings, in the node's network namespace.
    let pid = ctr
        .pid()
        .unwrap_or_else(|| panic!("container not running; log:\n{}", ctr.log()));
    assert_eq!(proc_status(pid, "Uid"), "0 0 0 0");
    // CAP_NET_ADMIN (12), CAP_NET_RAW (13), CAP_SYS_ADMIN (21), nothing else.
    let want = format!("{:016x}", (1u64 << 12) | (1 << 13) | (1 << 21));
    for caps in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(proc_status(pid, caps), want, "{caps}");
    }
    for caps in ["CapInh", "CapAmb"] {
        assert_eq!(proc_status(pid, caps), "0000000000000000", "{caps}");
    }
    assert_eq!(proc_status(pid, "NoNewPrivs"), "1");
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    assert_eq!(
        cmdline,
        b"/ferrolb\0speaker\0--port=7472\0--config=config\0"
    );
    let env = environ(pid);
    for kv in [
        format!("METALLB_NODE_NAME={NODE}"),
        format!("METALLB_HOST={node_ip}"),
        format!("METALLB_ML_BIND_ADDR={node_ip}"),
        "METALLB_ML_LABELS=app=metallb,component=speaker".to_string(),
        format!("METALLB_ML_NAMESPACE={METALLB_NS}"),
        format!("METALLB_ML_SECRET_KEY={secret_key}"),
        format!("KUBERNETES_SERVICE_HOST={}", c.env("FERROLB_APISERVER_HOST")),
    ] {
        assert!(
            env.contains(&kv),
            "{kv:?} not in the container's environment {env:?}"
        );
    }
    let net_of = |p: &str| {
        fs::metadata(p)
            .unwrap_or_else(|e| panic!("stat {p}: {e}"))
            .ino()
    };
    assert_eq!(
        net_of(&format!("/proc/{pid}/ns/net")),
        net_of(&format!("/var/run/netns/{NODE}")),
        "the speaker runs in {NODE}'s network namespace"
    );
    assert!(
        mount_options(pid, "/").iter().any(|o| o == "ro"),
        "root is not read-only"
    );
    assert!(
        mount_options(pid, oci_support::SA_DIR)
            .iter()
            .any(|o| o == "ro"),
        "service account not read-only"
    );

    // What it tells the cluster and its scraper.
    let event = (
        "nodeAssigned".to_string(),
        "metallb-speaker".to_string(),
        format!("announcing from node \"{NODE}\""),
    );
    let events = wait_for(Duration::from_secs(30), || {
        Some(speaker_support::service_events(&c, SERVICE)).filter(|e| e.contains(&event))
    });
    assert!(
        events.is_some(),
        "no {event:?} Event; seen {:?}",
        speaker_support::service_events(&c, SERVICE)
    );
    let series = format!(
        "metallb_speaker_announced{{service=\"{}/{SERVICE}\",protocol=\"layer2\",node=\"{NODE}\",ip=\"{IP}\"}} 1",
        speaker_support::NS
    );
    let metrics = wait_for(Duration::from_secs(10), || {
        Some(speaker_support::metrics(NODE)).filter(|m| m.lines().any(|l| l == series))
    });
    assert!(
        metrics.is_some(),
        "no {series} in:\n{}",
        speaker_support::metrics(NODE)
    );
    assert!(
        ctr.json_log()
            .iter()
            .any(|v: &Value| v["caller"].as_str().is_some()),
        "the container logs v0.9's JSON lines:\n{}",
        ctr.log()
    );

    // SIGTERM through the runtime: a clean exit, as a pod deletion would do it.
    ctr.terminate_cleanly();
}
