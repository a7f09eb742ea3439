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
use std::time::Duration;

use oci_support::{ImageConfig, PodFacts};
use runc_support::{Bundle, RUNTIME, kubernetes_service_env, manifest_workload, proc_status};
use support::{
    METALLB_NS, cluster, config_map, ingress_ip, lb_service, require_root, require_tool, serial,
    wait_for,
};

const POOL_FIRST: &str = "192.0.2.140";
const POOL: &str = "192.0.2.140-192.0.2.143";

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

    // The image, built (or found up to date) by scripts/image, and the service account.
    let bundle = Bundle::unpack(&c, "controller");
    let (pod, container) = manifest_workload("Deployment", "controller");
    let image = ImageConfig::from_blob(&bundle.image_config_blob("controller"));
    assert_eq!(image.entrypoint, ["/ferrolb", "controller"]);
    assert!(image.cmd.is_empty() && image.user.is_empty(), "{image:?}");
    // The speaker image: the same layer, the other subcommand.
    let speaker_blob = bundle.image_config_blob("speaker");
    assert_eq!(
        ImageConfig::from_blob(&speaker_blob).entrypoint,
        ["/ferrolb", "speaker"]
    );
    assert_eq!(
        speaker_blob["rootfs"],
        bundle.image_config_blob("controller")["rootfs"],
        "both images hold the same layer"
    );
    let facts = PodFacts {
        pod_name: "controller-ferrolb-test".into(),
        namespace: METALLB_NS.into(),
        node_name: "node1".into(),
        host_ip: "198.51.100.1".into(),
        pod_ip: "198.51.100.1".into(),
        secrets: Default::default(),
        service_env: kubernetes_service_env(&c),
    };
    bundle.write_config(&bundle.runtime_config(&pod, &container, &image, &facts));

    let payload =
        format!("address-pools:\n- name: image\n  protocol: layer2\n  addresses:\n  - {POOL}\n");
    let _cfg = config_map(&c, "config", &payload);
    let _svc = lb_service(&c, "flb-image");
    let mut ctr = bundle.run();

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
    ctr.terminate_cleanly();
}
