//! The `ferrolb-controller` image (scripts/image) under the controller container's own settings
//! from `manifests/v0.9/metallb.yaml`: the rootfs unpacked from the OCI layout by umoci, a
//! runtime config derived from the manifest (tests/oci_support: args, env, runAsUser 65534,
//! readOnlyRootFilesystem, `drop: [all]`, no new privileges, the limits) and run by
//! runc against the harness API server with a real `controller` service-account token. The
//! controller in the container allocates a layer2 IP and writes it into the Service's status.
//!
//! The runtime is runc, not crun: crun 1.8.1 (Debian 12) refuses to start any container on a
//! machine whose cgroups are in hybrid mode with a controller on the v2 hierarchy ("cgroups in
//! hybrid mode not supported, drop all controllers from cgroupv2"), which is how this machine
//! is set up; runc 1.1.5 handles it, so the manifest's limits (100Mi, 100m) are applied too.
//!
//! The container shares the test's network namespace (the controller only talks to the API server
//! at 198.51.100.1:6443 and serves metrics on :7472); `serial()` keeps other controller tests
//! off that port meanwhile.

mod oci_support;
mod runc_support;
mod support;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use oci_support::{ImageConfig, Inputs, PodFacts, PodNetwork};
use runc_support::{Container, RUNTIME, proc_status, tree};
use serde_json::json;
use support::{
    Applied, Cluster, METALLB_NS, cluster, require_root, require_tool, run_ok, script, serial,
    wait_for,
};

const POOL_FIRST: &str = "192.0.2.140";
const POOL: &str = "192.0.2.140-192.0.2.143";

fn configmap(c: &Arc<Cluster>) -> Applied {
    let payload =
        format!("address-pools:\n- name: image\n  protocol: layer2\n  addresses:\n  - {POOL}\n");
    c.apply(
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "config", "namespace": METALLB_NS},
                "data": {"config": payload}})
        .to_string(),
    )
}

fn lb_service(c: &Arc<Cluster>, name: &str) -> Applied {
    c.apply(
        &json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"type": "LoadBalancer", "selector": {"app": name},
                         "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        .to_string(),
    )
}

fn ingress_ip(c: &Cluster, name: &str) -> Option<String> {
    c.get_json(&["-n", "default", "svc", name])["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .map(str::to_string)
}

fn http_get(path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", 7472)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let code = resp.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        code,
        resp.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    ))
}

#[test]
fn controller_image_under_the_manifests_security_settings_allocates_an_ip() {
    require_root();
    for tool in [RUNTIME, "umoci", "file", "strip"] {
        require_tool(tool);
    }
    let _serial = serial();
    let c = cluster();

    // The image, built (or found up to date) by scripts/image.
    let layouts = PathBuf::from(run_ok(Command::new(script("image")).arg("build")).trim());
    let layout = layouts.join("ferrolb-controller");
    let tag = env!("CARGO_PKG_VERSION");
    let id = format!("ferrolb-test-controller-{}", std::process::id());
    let bundle = std::env::temp_dir().join("ferrolb-tests").join(&id);
    let _ = fs::remove_dir_all(&bundle);
    fs::create_dir_all(&bundle).expect("create bundle dir");
    let rootfs = bundle.join("rootfs");
    run_ok(
        Command::new("umoci")
            .args(["raw", "unpack", "--image"])
            .arg(format!("{}:{tag}", layout.display()))
            .arg(&rootfs),
    );
    assert_eq!(
        tree(&rootfs),
        ["etc", "etc/group", "etc/passwd", "ferrolb", "tmp"],
        "one binary, no shell"
    );

    // The service account's files, as the kubelet projects them.
    let sa = bundle.join("serviceaccount");
    fs::create_dir_all(&sa).expect("create sa dir");
    fs::write(sa.join("token"), c.token("controller")).expect("write token");
    fs::copy(c.env("FERROLB_CA"), sa.join("ca.crt")).expect("copy ca.crt");
    fs::write(sa.join("namespace"), METALLB_NS).expect("write namespace");
    run_ok(Command::new("chmod").args(["0755"]).arg(&bundle).arg(&sa));
    run_ok(
        Command::new("chmod")
            .arg("0644")
            .arg(sa.join("token"))
            .arg(sa.join("ca.crt"))
            .arg(sa.join("namespace")),
    );

    let manifest = fs::read_to_string(support::repo_root().join("manifests/v0.9/metallb.yaml"))
        .expect("read manifest");
    let (pod, container) = oci_support::workload(&manifest, "Deployment", "controller");
    let image = ImageConfig::from_blob(&oci_support::image_config_blob(&layout, tag));
    assert_eq!(image.entrypoint, ["/ferrolb", "controller"]);
    assert!(image.cmd.is_empty() && image.user.is_empty(), "{image:?}");
    // The speaker image: the same layer, the other subcommand.
    let speaker_blob = oci_support::image_config_blob(&layouts.join("ferrolb-speaker"), tag);
    assert_eq!(
        ImageConfig::from_blob(&speaker_blob).entrypoint,
        ["/ferrolb", "speaker"]
    );
    assert_eq!(
        speaker_blob["rootfs"],
        oci_support::image_config_blob(&layout, tag)["rootfs"],
        "both images hold the same layer"
    );
    let (host, port) = (
        c.env("FERROLB_APISERVER_HOST").to_string(),
        c.env("FERROLB_APISERVER_PORT").to_string(),
    );
    let facts = PodFacts {
        pod_name: "controller-ferrolb-test".into(),
        namespace: METALLB_NS.into(),
        node_name: "node1".into(),
        host_ip: "198.51.100.1".into(),
        pod_ip: "198.51.100.1".into(),
        secrets: Default::default(),
        service_env: vec![
            ("KUBERNETES_SERVICE_HOST".into(), host.clone()),
            ("KUBERNETES_SERVICE_PORT".into(), port.clone()),
            ("KUBERNETES_SERVICE_PORT_HTTPS".into(), port.clone()),
            ("KUBERNETES_PORT".into(), format!("tcp://{host}:{port}")),
        ],
    };
    let passwd = fs::read_to_string(rootfs.join("etc/passwd")).expect("image /etc/passwd");
    let config = oci_support::runtime_config(&Inputs {
        pod: &pod,
        container: &container,
        image: &image,
        passwd: Some(&passwd),
        facts: &facts,
        rootfs: &rootfs,
        service_account_dir: &sa,
        network: PodNetwork::Caller,
        with_limits: true,
    })
    .expect("derive the runtime config");
    fs::write(
        bundle.join("config.json"),
        serde_json::to_string_pretty(&config).expect("JSON"),
    )
    .expect("write config.json");

    let _cfg = configmap(&c);
    let _svc = lb_service(&c, "flb-image");
    let mut ctr = Container::run(&bundle, &id);

    let ip = wait_for(Duration::from_secs(90), || {
        if ctr.try_wait().is_some() {
            return Some(None);
        }
        ingress_ip(&c, "flb-image").map(Some)
    })
    .flatten();
    let ip = ip.unwrap_or_else(|| {
        panic!(
            "no IP written by the controller in the container; log:\n{}",
            ctr.log()
        )
    });
    let pool: Vec<String> = (140..=143).map(|i| format!("192.0.2.{i}")).collect();
    assert!(pool.contains(&ip), "{ip} is not from the pool {POOL}");
    assert!(
        ctr.json_log().iter().any(|v| v["event"] == "ipAllocated"
            && v["service"] == "default/flb-image"
            && v["ip"] == ip.as_str()),
        "the container's log has no ipAllocated line for {ip}:\n{}",
        ctr.log()
    );
    if ip != POOL_FIRST {
        eprintln!(
            "note: {ip} allocated, not {POOL_FIRST}: another LoadBalancer Service holds an address of the pool"
        );
    }

    // The process really runs under the manifest's settings.
    let pid = ctr
        .pid()
        .unwrap_or_else(|| panic!("container not running; log:\n{}", ctr.log()));
    assert_eq!(proc_status(pid, "Uid"), "65534 65534 65534 65534");
    assert_eq!(proc_status(pid, "Gid"), "65534 65534 65534 65534");
    for caps in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(proc_status(pid, caps), "0000000000000000", "{caps}");
    }
    assert_eq!(proc_status(pid, "NoNewPrivs"), "1");
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    assert_eq!(
        cmdline,
        b"/ferrolb\0controller\0--port=7472\0--config=config\0"
    );
    let mountinfo = fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    let root = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .expect("a / mount");
    assert!(
        root.split(' ')
            .nth(5)
            .is_some_and(|o| o.split(',').any(|x| x == "ro")),
        "root is not read-only: {root}"
    );
    let sa_mount = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(oci_support::SA_DIR))
        .expect("the service-account mount");
    assert!(
        sa_mount
            .split(' ')
            .nth(5)
            .is_some_and(|o| o.split(',').any(|x| x == "ro")),
        "{sa_mount}"
    );

    // The manifest's `limits.memory: 100Mi` is the container's memory cgroup limit.
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/PID/cgroup");
    let memcg = cgroups
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()))
        .unwrap_or_else(|| panic!("no memory cgroup (v1) in:\n{cgroups}"));
    let limit = fs::read_to_string(format!(
        "/sys/fs/cgroup/memory{memcg}/memory.limit_in_bytes"
    ))
    .expect("memory.limit_in_bytes");
    assert_eq!(limit.trim(), "104857600", "memory cgroup {memcg}");

    let (code, body) = wait_for(Duration::from_secs(10), || http_get("/metrics"))
        .expect("metrics served on :7472");
    assert_eq!(code, 200);
    assert!(
        body.contains("metallb_allocator_addresses_total{pool=\"image\"} 4"),
        "{body}"
    );

    // SIGTERM through the runtime: a clean exit, as a pod deletion would do it.
    run_ok(Command::new(RUNTIME).args(["kill", &id, "TERM"]));
    let status = wait_for(Duration::from_secs(20), || ctr.try_wait())
        .expect("the container exits on SIGTERM");
    assert!(status.success(), "exit {status}; log:\n{}", ctr.log());
}
