//! The OCI runtime config derived from `manifests/v0.9/metallb.yaml` (tests/oci_support): what
//! the controller and speaker containers get from the manifest's own settings. Pure: no root,
//! no runtime; `image_controller.rs` runs the result with crun.

mod oci_support;

use std::collections::HashMap;
use std::path::Path;

use oci_support::{DeriveError, ImageConfig, Inputs, PodFacts, PodNetwork, SA_DIR};
use serde_json::{Value, json};

fn manifest() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/v0.9/metallb.yaml"),
    )
    .expect("read manifest")
}

/// The image config `scripts/image` writes for `daemon`.
fn image(daemon: &str) -> ImageConfig {
    ImageConfig {
        entrypoint: vec!["/ferrolb".into(), daemon.into()],
        working_dir: "/".into(),
        ..Default::default()
    }
}

const PASSWD: &str =
    "root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n";

fn facts() -> PodFacts {
    PodFacts {
        pod_name: "metallb-pod-0".into(),
        namespace: "metallb-system".into(),
        node_name: "node1".into(),
        host_ip: "192.0.2.11".into(),
        pod_ip: "192.0.2.11".into(),
        secrets: HashMap::from([(("memberlist".into(), "secretkey".into()), "c2VjcmV0".into())]),
        service_env: vec![
            ("KUBERNETES_SERVICE_HOST".into(), "198.51.100.1".into()),
            ("KUBERNETES_SERVICE_PORT".into(), "6443".into()),
        ],
    }
}

fn derive(kind: &str, name: &str, facts: &PodFacts) -> Result<Value, DeriveError> {
    let (pod, c) = oci_support::workload(&manifest(), kind, name);
    let img = image(name);
    oci_support::runtime_config(&Inputs {
        pod: &pod,
        container: &c,
        image: &img,
        passwd: Some(PASSWD),
        facts,
        rootfs: Path::new("/bundle/rootfs"),
        service_account_dir: Path::new("/stage/sa"),
        network: PodNetwork::Caller,
        with_limits: true,
    })
}

/// Inputs without an image /etc/passwd and without limits, for the rules of one derivation step.
fn bare_inputs<'a>(
    pod: &'a Value,
    container: &'a Value,
    image: &'a ImageConfig,
    facts: &'a PodFacts,
) -> Inputs<'a> {
    Inputs {
        pod,
        container,
        image,
        passwd: None,
        facts,
        rootfs: Path::new("/r"),
        service_account_dir: Path::new("/s"),
        network: PodNetwork::Caller,
        with_limits: false,
    }
}

/// The types of the namespaces the runtime config creates, in order.
fn namespace_types(cfg: &Value) -> Vec<&str> {
    cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect()
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string"))
        .collect()
}

#[test]
fn controller_runs_ferrolb_controller_with_the_manifest_args_as_nobody_read_only_and_without_capabilities()
 {
    let cfg = derive("Deployment", "controller", &facts()).expect("derives");
    let p = &cfg["process"];
    assert_eq!(
        strs(&p["args"]),
        ["/ferrolb", "controller", "--port=7472", "--config=config"]
    );
    assert_eq!(p["user"], json!({"uid": 65534, "gid": 65534}));
    assert_eq!(p["noNewPrivileges"], true);
    assert_eq!(
        cfg["root"],
        json!({"path": "/bundle/rootfs", "readonly": true})
    );
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        assert_eq!(
            p["capabilities"][set],
            json!([]),
            "`drop: [all]` empties {set}"
        );
    }
    // 100Mi and 100m of the manifest's limits.
    assert_eq!(cfg["linux"]["resources"]["memory"]["limit"], 104_857_600);
    assert_eq!(
        cfg["linux"]["resources"]["cpu"],
        json!({"quota": 10_000, "period": 100_000})
    );
    let sa = cfg["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == SA_DIR)
        .expect("SA mount");
    assert_eq!(sa["source"], "/stage/sa");
    assert!(strs(&sa["options"]).contains(&"ro"));
}

#[test]
fn controller_env_is_only_hostname_and_the_api_server_service_env() {
    // The manifest gives the controller's container no env at all.
    let cfg = derive("Deployment", "controller", &facts()).expect("derives");
    assert_eq!(
        strs(&cfg["process"]["env"]),
        [
            "HOSTNAME=metallb-pod-0",
            "KUBERNETES_SERVICE_HOST=198.51.100.1",
            "KUBERNETES_SERVICE_PORT=6443"
        ]
    );
    let ns = namespace_types(&cfg);
    assert_eq!(
        ns,
        ["pid", "ipc", "mount", "uts"],
        "PodNetwork::Caller shares the caller's network"
    );
}

#[test]
fn speaker_runs_as_root_in_the_host_network_with_exactly_net_admin_net_raw_sys_admin() {
    let cfg = derive("DaemonSet", "speaker", &facts()).expect("derives");
    let p = &cfg["process"];
    assert_eq!(
        strs(&p["args"]),
        ["/ferrolb", "speaker", "--port=7472", "--config=config"]
    );
    assert_eq!(p["user"], json!({"uid": 0, "gid": 0}));
    assert_eq!(p["noNewPrivileges"], true);
    assert_eq!(cfg["root"]["readonly"], true);
    for set in ["bounding", "effective", "permitted"] {
        assert_eq!(
            strs(&p["capabilities"][set]),
            ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_ADMIN"],
            "{set}"
        );
    }
    assert_eq!(p["capabilities"]["ambient"], json!([]));
    let ns = namespace_types(&cfg);
    assert_eq!(
        ns,
        ["pid", "ipc", "mount"],
        "hostNetwork: no network or UTS namespace"
    );
    assert!(cfg.get("hostname").is_none());
}

#[test]
fn speaker_env_fills_the_downward_api_and_the_memberlist_secret() {
    let cfg = derive("DaemonSet", "speaker", &facts()).expect("derives");
    let env = strs(&cfg["process"]["env"]);
    assert_eq!(
        env[3..],
        [
            "METALLB_NODE_NAME=node1",
            "METALLB_HOST=192.0.2.11",
            "METALLB_ML_BIND_ADDR=192.0.2.11",
            "METALLB_ML_LABELS=app=metallb,component=speaker",
            "METALLB_ML_NAMESPACE=metallb-system",
            "METALLB_ML_SECRET_KEY=c2VjcmV0",
        ]
    );
}

#[test]
fn speaker_without_the_memberlist_secret_is_not_started() {
    let mut f = facts();
    f.secrets.clear();
    assert_eq!(
        derive("DaemonSet", "speaker", &f),
        Err(DeriveError::MissingSecret {
            name: "METALLB_ML_SECRET_KEY".into(),
            secret: "memberlist".into(),
            key: "secretkey".into()
        })
    );
}

#[test]
fn run_as_non_root_refuses_a_root_user() {
    let pod = json!({"securityContext": {"runAsNonRoot": true}});
    let c = json!({"name": "x"});
    let img = image("controller");
    let f = facts();
    let i = bare_inputs(&pod, &c, &img, &f);
    assert_eq!(
        oci_support::runtime_config(&i),
        Err(DeriveError::RunsAsRoot)
    );
}

#[test]
fn command_replaces_the_entrypoint_and_args_replace_the_cmd() {
    let img = ImageConfig {
        entrypoint: vec!["/e".into()],
        cmd: vec!["c1".into()],
        ..Default::default()
    };
    let pod = json!({});
    let f = facts();
    let cases = [
        (json!({}), vec!["/e", "c1"]),
        (json!({"args": ["a"]}), vec!["/e", "a"]),
        (json!({"command": ["/x"]}), vec!["/x"]),
        (json!({"command": ["/x"], "args": ["a"]}), vec!["/x", "a"]),
    ];
    for (c, want) in cases {
        let i = bare_inputs(&pod, &c, &img, &f);
        assert_eq!(oci_support::argv(&i), want, "{c}");
    }
}

#[test]
fn kubernetes_quantities_convert_to_cgroup_units() {
    assert_eq!(oci_support::memory_bytes("100Mi"), Ok(104_857_600));
    assert_eq!(oci_support::memory_bytes("1G"), Ok(1_000_000_000));
    assert_eq!(oci_support::memory_bytes("512"), Ok(512));
    assert_eq!(oci_support::cpu_millis("100m"), Ok(100));
    assert_eq!(oci_support::cpu_millis("2"), Ok(2000));
    assert_eq!(
        oci_support::cpu_millis("x"),
        Err(DeriveError::BadQuantity("x".into()))
    );
}
