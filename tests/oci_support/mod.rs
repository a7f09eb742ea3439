//! What a kubelet + CRI runtime would hand to an OCI runtime for one container of the v0.9
//! manifest, as a pure function: pod spec + container (from `manifests/v0.9/metallb.yaml`) + the
//! image's config (from the OCI layout `scripts/image` writes) + the facts a node knows (node
//! name, IPs, secrets) -> an OCI runtime `config.json`.
//!
//! Kubernetes semantics reproduced (those the v0.9 manifest uses):
//! - `command` replaces the image ENTRYPOINT, `args` replace its CMD (neither set: both kept);
//! - env: the image's, then the service-discovery env of the API server (`KUBERNETES_SERVICE_*`),
//!   then the container's `env` in order: `value`, `valueFrom.fieldRef` (the downward API:
//!   spec.nodeName, status.hostIP, status.podIP, metadata.namespace, metadata.name) and
//!   `valueFrom.secretKeyRef`;
//! - securityContext, the container's over the pod's: `runAsUser` (the group from the image's
//!   /etc/passwd, as containerd does when `runAsGroup` is unset), `runAsNonRoot` (refused if the
//!   user is 0), `readOnlyRootFilesystem`, `allowPrivilegeEscalation: false` -> no_new_privileges,
//!   `capabilities` (start from containerd's default set, `drop: [ALL]`/`[all]` empties it, then
//!   `add`); a non-root user gets them in the bounding set only, as containerd does;
//! - `hostNetwork: true`: no network namespace; otherwise the pod's (a path given by the caller,
//!   or `None` for "share the caller's", which the tests use for the controller: it only talks to
//!   the API server);
//! - `resources.limits` (cpu, memory) -> cgroup limits, when asked for (`with_limits`);
//! - the service-account token directory mounted read-only at
//!   /var/run/secrets/kubernetes.io/serviceaccount.
//!
//! Not reproduced: /etc/hosts, /etc/resolv.conf and /etc/hostname (ferrolb resolves no names),
//! the termination-log file, seccomp and AppArmor profiles (the v0.9 manifest sets none).
#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde_json::{Value, json};

pub const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// containerd's default capability set (what a container gets before `drop`/`add`).
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every document of a multi-document YAML stream, as JSON values.
pub fn yaml_documents(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(text)
        .map(|d| serde_norway::Value::deserialize(d).unwrap_or_else(|e| panic!("bad YAML: {e}")))
        .filter(|v| !v.is_null())
        .map(|v| serde_json::to_value(v).expect("YAML with string keys converts to JSON"))
        .collect()
}

/// (pod spec, its only container) of workload `kind/name` in a manifest.
pub fn workload(manifest: &str, kind: &str, name: &str) -> (Value, Value) {
    let doc = yaml_documents(manifest)
        .into_iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in the manifest"));
    let pod = doc["spec"]["template"]["spec"].clone();
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "{kind}/{name}: one container");
    let c = containers[0].clone();
    (pod, c)
}

/// The parts of an OCI image config that a runtime config is built from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl ImageConfig {
    /// Parses the `config` of an OCI image config blob.
    pub fn from_blob(blob: &Value) -> ImageConfig {
        let c = &blob["config"];
        ImageConfig {
            entrypoint: strings(&c["Entrypoint"]),
            cmd: strings(&c["Cmd"]),
            env: strings(&c["Env"]),
            working_dir: c["WorkingDir"].as_str().unwrap_or_default().to_string(),
            user: c["User"].as_str().unwrap_or_default().to_string(),
        }
    }
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: bad JSON: {e}", p.display()))
}

fn blob(layout: &Path, digest: &str) -> std::path::PathBuf {
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
    layout.join("blobs/sha256").join(hex)
}

/// The image config blob of tag `tag` in the OCI layout `layout`.
pub fn image_config_blob(layout: &Path, tag: &str) -> Value {
    let index = read_json(&layout.join("index.json"));
    let desc = index["manifests"]
        .as_array()
        .expect("index.json manifests")
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {}", layout.display()));
    let manifest = read_json(&blob(layout, desc["digest"].as_str().expect("digest")));
    read_json(&blob(
        layout,
        manifest["config"]["digest"]
            .as_str()
            .expect("config digest"),
    ))
}

/// What the node knows about the pod: the downward API's values and the secrets it may read.
#[derive(Debug, Clone, Default)]
pub struct PodFacts {
    pub pod_name: String,
    pub namespace: String,
    pub node_name: String,
    pub host_ip: String,
    pub pod_ip: String,
    /// (secret name, key) -> value.
    pub secrets: HashMap<(String, String), String>,
    /// The API server's service env (`KUBERNETES_SERVICE_HOST`, ...), in order.
    pub service_env: Vec<(String, String)>,
}

/// Where the container's network namespace comes from, when the pod is not `hostNetwork`.
#[derive(Debug, Clone, PartialEq)]
pub enum PodNetwork {
    /// Join this network namespace (a path such as /var/run/netns/NAME).
    Path(String),
    /// Share the caller's network namespace.
    Caller,
}

#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub pod: &'a Value,
    pub container: &'a Value,
    pub image: &'a ImageConfig,
    /// The image's /etc/passwd (for the primary group of `runAsUser`), if it has one.
    pub passwd: Option<&'a str>,
    pub facts: &'a PodFacts,
    pub rootfs: &'a Path,
    /// Host directory holding `token`, `ca.crt`, `namespace`.
    pub service_account_dir: &'a Path,
    pub network: PodNetwork,
    /// Translate `resources.limits` into cgroup limits.
    pub with_limits: bool,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum DeriveError {
    #[error("container has runAsNonRoot and image will run as root")]
    RunsAsRoot,
    #[error("env {name}: unsupported valueFrom {what}")]
    UnsupportedEnv { name: String, what: String },
    #[error("env {name}: secret {secret}/{key} not found")]
    MissingSecret {
        name: String,
        secret: String,
        key: String,
    },
    #[error("bad quantity {0}")]
    BadQuantity(String),
}

/// `securityContext` field `key`: the container's, else the pod's.
fn security<'a>(i: &'a Inputs<'_>, key: &str) -> Option<&'a Value> {
    let c = &i.container["securityContext"][key];
    if !c.is_null() {
        return Some(c);
    }
    let p = &i.pod["securityContext"][key];
    (!p.is_null()).then_some(p)
}

fn field_ref(facts: &PodFacts, path: &str) -> Option<String> {
    Some(match path {
        "spec.nodeName" => facts.node_name.clone(),
        "status.hostIP" => facts.host_ip.clone(),
        "status.podIP" => facts.pod_ip.clone(),
        "metadata.namespace" => facts.namespace.clone(),
        "metadata.name" => facts.pod_name.clone(),
        _ => return None,
    })
}

/// The container's environment, in the order a kubelet builds it.
pub fn environment(i: &Inputs<'_>) -> Result<Vec<String>, DeriveError> {
    let mut env: Vec<(String, String)> = i
        .image
        .env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect();
    let set = |env: &mut Vec<(String, String)>, k: String, v: String| match env
        .iter_mut()
        .find(|(ek, _)| *ek == k)
    {
        Some(slot) => slot.1 = v,
        None => env.push((k, v)),
    };
    set(&mut env, "HOSTNAME".into(), i.facts.pod_name.clone());
    for (k, v) in &i.facts.service_env {
        set(&mut env, k.clone(), v.clone());
    }
    for e in i.container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or_default().to_string();
        let value = if let Some(v) = e["value"].as_str() {
            v.to_string()
        } else if let Some(path) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            field_ref(i.facts, path).ok_or_else(|| DeriveError::UnsupportedEnv {
                name: name.clone(),
                what: path.to_string(),
            })?
        } else if let Some(secret) = e["valueFrom"]["secretKeyRef"]["name"].as_str() {
            let key = e["valueFrom"]["secretKeyRef"]["key"]
                .as_str()
                .unwrap_or_default();
            i.facts
                .secrets
                .get(&(secret.to_string(), key.to_string()))
                .cloned()
                .ok_or_else(|| DeriveError::MissingSecret {
                    name: name.clone(),
                    secret: secret.to_string(),
                    key: key.to_string(),
                })?
        } else if e["valueFrom"].is_null() {
            String::new()
        } else {
            return Err(DeriveError::UnsupportedEnv {
                name,
                what: e["valueFrom"].to_string(),
            });
        };
        set(&mut env, name, value);
    }
    Ok(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

/// argv: `command` replaces ENTRYPOINT, `args` replace CMD.
pub fn argv(i: &Inputs<'_>) -> Vec<String> {
    let command = i.container.get("command").map(strings);
    let args = i.container.get("args").map(strings);
    match command {
        Some(cmd) => cmd.into_iter().chain(args.unwrap_or_default()).collect(),
        None => i
            .image
            .entrypoint
            .iter()
            .cloned()
            .chain(args.unwrap_or_else(|| i.image.cmd.clone()))
            .collect(),
    }
}

/// The capability set after `drop` and `add`, names as the runtime spec spells them (`CAP_X`).
pub fn capabilities(i: &Inputs<'_>) -> Vec<String> {
    let caps = &i.container["securityContext"]["capabilities"];
    let norm = |s: &str| {
        let up = s.to_ascii_uppercase();
        if up == "ALL" || up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        }
    };
    let drop: BTreeSet<String> = strings(&caps["drop"]).iter().map(|s| norm(s)).collect();
    let mut set: Vec<String> = if drop.contains("ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drop.contains(c))
            .collect()
    };
    for a in strings(&caps["add"]) {
        let a = norm(&a);
        if !set.contains(&a) {
            set.push(a);
        }
    }
    set
}

/// (uid, gid): `runAsUser`/`runAsGroup`, else the image's USER (numeric only), else root; the
/// group from the image's /etc/passwd when not given.
pub fn user(i: &Inputs<'_>) -> Result<(u32, u32), DeriveError> {
    let uid = security(i, "runAsUser")
        .and_then(Value::as_u64)
        .map(|u| u as u32)
        .or_else(|| i.image.user.split(':').next().and_then(|u| u.parse().ok()))
        .unwrap_or(0);
    if uid == 0 && security(i, "runAsNonRoot").and_then(Value::as_bool) == Some(true) {
        return Err(DeriveError::RunsAsRoot);
    }
    let gid = security(i, "runAsGroup")
        .and_then(Value::as_u64)
        .map(|g| g as u32)
        .unwrap_or_else(|| {
            i.passwd
                .into_iter()
                .flat_map(str::lines)
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 4 && f[2].parse::<u32>().ok() == Some(uid))
                .and_then(|f| f[3].parse().ok())
                .unwrap_or(0)
        });
    Ok((uid, gid))
}

/// Bytes of a Kubernetes memory quantity (`100Mi`, `1G`, `512`).
pub fn memory_bytes(q: &str) -> Result<u64, DeriveError> {
    let units: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    let (num, mult) = units
        .iter()
        .find_map(|(u, m)| q.strip_suffix(u).map(|n| (n, *m)))
        .unwrap_or((q, 1));
    num.parse::<u64>()
        .map(|n| n * mult)
        .map_err(|_| DeriveError::BadQuantity(q.to_string()))
}

/// Millicores of a Kubernetes CPU quantity (`100m`, `2`).
pub fn cpu_millis(q: &str) -> Result<u64, DeriveError> {
    match q.strip_suffix('m') {
        Some(m) => m
            .parse()
            .map_err(|_| DeriveError::BadQuantity(q.to_string())),
        None => q
            .parse::<u64>()
            .map(|c| c * 1000)
            .map_err(|_| DeriveError::BadQuantity(q.to_string())),
    }
}

/// The OCI runtime config (config.json) for the container.
pub fn runtime_config(i: &Inputs<'_>) -> Result<Value, DeriveError> {
    let (uid, gid) = user(i)?;
    let caps = capabilities(i);
    let (bounding, effective): (Vec<String>, Vec<String>) = if uid == 0 {
        (caps.clone(), caps)
    } else {
        (caps, Vec::new())
    };
    let no_new_privs =
        security(i, "allowPrivilegeEscalation").and_then(Value::as_bool) == Some(false);
    let read_only =
        i.container["securityContext"]["readOnlyRootFilesystem"].as_bool() == Some(true);
    let host_network = i.pod["hostNetwork"].as_bool() == Some(true);

    // A hostNetwork pod shares the node's UTS namespace too (its hostname is the node's).
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "mount"}),
    ];
    if !host_network {
        namespaces.push(json!({"type": "uts"}));
        match &i.network {
            PodNetwork::Path(p) => namespaces.push(json!({"type": "network", "path": p})),
            PodNetwork::Caller => {}
        }
    }
    let mut resources = json!({});
    if i.with_limits {
        let limits = &i.container["resources"]["limits"];
        if let Some(m) = limits["memory"].as_str() {
            resources["memory"] = json!({"limit": memory_bytes(m)?});
        }
        if let Some(c) = limits["cpu"].as_str() {
            let period = 100_000u64;
            resources["cpu"] = json!({"quota": cpu_millis(c)? * period / 1000, "period": period});
        }
    }
    let cwd = if i.image.working_dir.is_empty() {
        "/".to_string()
    } else {
        i.image.working_dir.clone()
    };
    let mut config = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": uid, "gid": gid},
            "args": argv(i),
            "env": environment(i)?,
            "cwd": cwd,
            "capabilities": {
                "bounding": bounding,
                "effective": effective.clone(),
                "permitted": effective,
                "inheritable": [],
                "ambient": []
            },
            "noNewPrivileges": no_new_privs
        },
        "root": {"path": i.rootfs.to_string_lossy(), "readonly": read_only},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": SA_DIR, "type": "bind", "source": i.service_account_dir.to_string_lossy(),
             "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]}
        ],
        "linux": {
            "namespaces": namespaces,
            "resources": resources,
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                            "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
            "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if !host_network {
        config["hostname"] = Value::from(i.facts.pod_name.clone());
    }
    Ok(config)
}
