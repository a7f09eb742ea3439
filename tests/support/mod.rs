//! Test support for integration tests that run against the real harness:
//! the control plane of `scripts/cluster`, the namespaces of `scripts/netns`
//! and processes started through `scripts/in-cluster`.
//!
//! Every guard tears down exactly what it created, in `Drop`, so also when
//! the test panics. Nothing here skips: a missing tool or a non-root user is
//! a loud panic.
//!
//! Use from a test file with `mod support;` (each file under tests/ is its own
//! crate, so not every helper is used by every test).
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The namespace of MetalLB v0.9's objects.
pub const METALLB_NS: &str = "metallb-system";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn script(name: &str) -> PathBuf {
    repo_root().join("scripts").join(name)
}

/// Panics unless running as root (namespaces, bridges and mounts need it).
pub fn require_root() {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    let uid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        uid, "0",
        "harness tests need root (uid 0), running as uid {uid}"
    );
}

/// Panics unless `tool` is on PATH.
pub fn require_tool(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "missing tool `{tool}`: run scripts/ci-deps");
}

/// Runs a command, returning its output; panics only if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command and panics with its stderr unless it succeeds; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_stdin(cmd: &mut Command, input: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin piped")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for child")
}

pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls `f` every 100 ms until it returns `Some`, or `limit` passes (then
/// `None`). A bound on waiting for the world, not a timing assertion.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A lock for tests that use shared cluster-wide state (the `config`
/// ConfigMap, the address pool, the network namespaces): process-wide, and
/// machine-wide through `flock` on /run/ferrolb-tests.lock, because there is
/// one cluster per machine and two test processes (say, two worktrees) must
/// not allocate each other's Services. Survives a panicking holder; the flock
/// goes with the process.
pub struct Serial {
    _file: File,
    _guard: MutexGuard<'static, ()>,
}

pub fn serial() -> Serial {
    use std::os::fd::AsRawFd;
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let file = File::options()
        .create(true)
        .append(true)
        .open("/run/ferrolb-tests.lock")
        .expect("open /run/ferrolb-tests.lock");
    // SAFETY: flock on a descriptor this function owns.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(
        rc,
        0,
        "flock /run/ferrolb-tests.lock: {}",
        std::io::Error::last_os_error()
    );
    Serial {
        _file: file,
        _guard: guard,
    }
}

// ---------------------------------------------------------------- cluster

/// The control plane of `scripts/cluster`. Shared by all tests of a process
/// (see [`cluster`]); brought down when the last user drops it, and only if
/// this process brought it up.
pub struct Cluster {
    env: HashMap<String, String>,
    started_here: bool,
    /// A shared flock on [`users_lock_path`] while this process uses the cluster.
    users: File,
}

/// Every test process that uses the cluster holds a shared flock on this file (next to the
/// state directory, which `down` removes): a process that started the cluster brings it down
/// at its end only if it can take the lock exclusively, so test runs in two worktrees at once
/// no longer pull the cluster from under each other; `harness_lifecycle` waits for it
/// exclusively before its `down`.
pub fn users_lock_path() -> String {
    format!(
        "{}.users.lock",
        std::env::var("FERROLB_STATE").unwrap_or_else(|_| "/run/ferrolb".into())
    )
}

/// Opens [`users_lock_path`] and flocks it with `op` (`LOCK_SH`, `LOCK_EX`, `| LOCK_NB`);
/// `None` if a non-blocking lock is held by someone else.
pub fn lock_users(file: Option<File>, op: i32) -> Option<File> {
    use std::os::fd::AsRawFd;
    let path = users_lock_path();
    let file = file.unwrap_or_else(|| {
        File::options()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"))
    });
    // SAFETY: flock on a descriptor this function owns.
    let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
    if rc == 0 {
        return Some(file);
    }
    let err = std::io::Error::last_os_error();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::WouldBlock,
        "flock {path}: {err}"
    );
    None
}

/// Returns the running cluster, starting it (`scripts/cluster up`) if no
/// other test of this process holds it. If the cluster was already up before
/// (started by hand or by another process), it is left up on drop.
pub fn cluster() -> Arc<Cluster> {
    static SHARED: OnceLock<Mutex<Weak<Cluster>>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| Mutex::new(Weak::new()));
    let mut slot = shared.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = slot.upgrade() {
        return c;
    }
    require_root();
    for tool in ["ip", "unshare", "openssl", "setsid", "flock"] {
        require_tool(tool);
    }
    let users = lock_users(None, libc::LOCK_SH).expect("a blocking flock");
    let was_up = run(Command::new(script("cluster")).arg("status"))
        .status
        .success();
    if !was_up {
        run_ok(Command::new(script("cluster")).arg("up"));
    }
    let env_text = run_ok(Command::new(script("cluster")).arg("env"));
    let env = env_text
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let c = Arc::new(Cluster {
        env,
        started_here: !was_up,
        users,
    });
    *slot = Arc::downgrade(&c);
    c
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Another process still using the cluster keeps it up (it did not start it, so it
        // leaves it running at its own end; `scripts/cluster down` stops it).
        let sole_user = self
            .users
            .try_clone()
            .ok()
            .and_then(|f| lock_users(Some(f), libc::LOCK_EX | libc::LOCK_NB))
            .is_some();
        if self.started_here && sole_user {
            let out = Command::new(script("cluster")).arg("down").output();
            if let Ok(out) = out
                && !out.status.success()
            {
                eprintln!("scripts/cluster down failed: {}", stderr_of(&out));
            }
        }
    }
}

impl Cluster {
    /// A value printed by `scripts/cluster env` (e.g. `FERROLB_AUDIT_LOG`).
    pub fn env(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("scripts/cluster env has no {key}"))
    }

    pub fn kubeconfig(&self) -> &str {
        self.env("KUBECONFIG")
    }

    fn kubectl_cmd(&self, kubeconfig: &str) -> Command {
        let mut cmd = Command::new(self.env("FERROLB_KUBECTL"));
        cmd.arg("--kubeconfig").arg(kubeconfig);
        cmd
    }

    /// kubectl as cluster admin.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        run(self.kubectl_cmd(self.kubeconfig()).args(args))
    }

    /// kubectl as cluster admin; panics unless it succeeds; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        run_ok(self.kubectl_cmd(self.kubeconfig()).args(args))
    }

    /// kubectl as cluster admin with `input` on stdin.
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> Output {
        run_stdin(self.kubectl_cmd(self.kubeconfig()).args(args), input)
    }

    /// kubectl as whoever `token` authenticates (no admin certificate sent).
    pub fn kubectl_as(&self, token: &str, args: &[&str], input: Option<&str>) -> Output {
        let mut cmd = self.kubectl_cmd(self.env("FERROLB_ANON_KUBECONFIG"));
        cmd.arg("--token").arg(token).args(args);
        match input {
            Some(i) => run_stdin(&mut cmd, i),
            None => run(&mut cmd),
        }
    }

    /// A raw HTTP request to the API server as whoever `token` authenticates
    /// (curl, so the verb is exactly the one given — kubectl's `patch` would
    /// GET first). Returns (HTTP status, body).
    pub fn request_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&str>,
    ) -> (u16, String) {
        require_tool("curl");
        let url = format!("{}{}", self.env("FERROLB_APISERVER"), path);
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}"])
            .arg("--cacert")
            .arg(self.env("FERROLB_CA"))
            .args(["-X", method])
            .arg("-H")
            .arg(format!("Authorization: Bearer {token}"))
            .arg("-H")
            .arg(format!("Content-Type: {content_type}"));
        if let Some(b) = body {
            cmd.args(["--data-binary", b]);
        }
        cmd.arg(&url);
        let text = run_ok(&mut cmd);
        let (body, code) = text.rsplit_once('\n').expect("curl status line");
        (code.trim().parse().expect("HTTP status"), body.to_string())
    }

    /// `kubectl get ARGS -o json` as admin, parsed.
    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        let text = self.kubectl_ok(&a);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("kubectl {a:?}: bad JSON: {e}"))
    }

    /// A real token of service account `sa` in metallb-system (TokenRequest).
    pub fn token(&self, sa: &str) -> String {
        self.kubectl_ok(&["-n", METALLB_NS, "create", "token", sa, "--duration=1h"])
            .trim()
            .to_string()
    }

    /// Applies YAML/JSON objects as admin; the guard deletes them on drop.
    pub fn apply(self: &Arc<Self>, manifest: &str) -> Applied {
        let out = self.kubectl_stdin(&["apply", "-f", "-"], manifest);
        assert!(
            out.status.success(),
            "kubectl apply failed: {}\n{manifest}",
            stderr_of(&out)
        );
        Applied {
            cluster: Arc::clone(self),
            manifest: manifest.to_string(),
        }
    }

    /// Creates the Node object `name` and the speaker Pod on it that v0.9's
    /// memberlist discovery lists (`scripts/cluster node`); deleted on drop.
    pub fn node(self: &Arc<Self>, name: &str, addr: &str) -> NodeObject {
        run_ok(Command::new(script("cluster")).args(["node", name, addr]));
        NodeObject {
            cluster: Arc::clone(self),
            name: name.to_string(),
        }
    }

    /// Every audit event (one JSON object per line of FERROLB_AUDIT_LOG).
    pub fn audit_events(&self) -> Vec<Value> {
        let text = fs::read_to_string(self.env("FERROLB_AUDIT_LOG")).expect("read audit log");
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// The requests of service account `metallb-system:<sa>` that the apiserver refused with 403,
/// from the audit log of this cluster's lifetime (`verb requestURI`).
pub fn forbidden_for(c: &Cluster, sa: &str) -> Vec<String> {
    let user = format!("system:serviceaccount:{METALLB_NS}:{sa}");
    c.audit_events()
        .into_iter()
        .filter(|e| e["user"]["username"] == user.as_str() && e["responseStatus"]["code"] == 403)
        .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
        .collect()
}

/// `NAME=value` for each entry of a container's `env`, resolved as the kubelet does for a pod in
/// `namespace` on `node` under `hostNetwork` (`status.hostIP` = `status.podIP` = the node's
/// address; `node` empty for a Deployment's pod with no downward API in its env), the secret
/// refs read from the apiserver.
pub fn resolve_env(c: &Cluster, env: &[Value], namespace: &str, node: &str) -> Vec<String> {
    env.iter()
        .map(|e| {
            let name = e["name"].as_str().expect("env name");
            let value = if let Some(v) = e["value"].as_str() {
                v.to_string()
            } else if let Some(path) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                match path {
                    "spec.nodeName" => node.to_string(),
                    "status.hostIP" | "status.podIP" => Topology::addr(node, "v4"),
                    "metadata.namespace" => namespace.to_string(),
                    // The pod's name: the speaker Pod objects `scripts/cluster node` registers,
                    // or, for a Deployment's pod (no node), the one the test registered.
                    "metadata.name" if node.is_empty() => CONTROLLER_POD.to_string(),
                    "metadata.name" => format!("speaker-{node}"),
                    other => panic!("env {name} reads {other}, which the harness does not provide"),
                }
            } else if let Some(r) = e["valueFrom"]["secretKeyRef"].as_object() {
                let (secret, key) = (
                    r["name"].as_str().expect("secret name"),
                    r["key"].as_str().expect("secret key"),
                );
                let data = c.get_json(&["-n", namespace, "secret", secret]);
                let b64 = data["data"][key]
                    .as_str()
                    .unwrap_or_else(|| panic!("secret {secret} has no {key}"));
                let out = Command::new("sh")
                    .args(["-c", "printf %s \"$1\" | base64 -d", "sh", b64])
                    .output()
                    .expect("run base64");
                assert!(out.status.success(), "base64 -d failed");
                String::from_utf8(out.stdout).expect("a text secret")
            } else {
                panic!("env {name}: unsupported source {e}")
            };
            format!("{name}={value}")
        })
        .collect()
}

/// The name a test gives the Pod object of a controller it runs (MetalLB >= 0.13 reads its own
/// Pod, `METALLB_POD_NAME`); `metadata.name` of [`resolve_env`] for a pod without a node.
pub const CONTROLLER_POD: &str = "controller-harness";

/// A container of a manifest: its args and its env (name, value or the valueFrom source).
#[derive(Debug)]
pub struct Container {
    pub args: Vec<String>,
    pub env: Vec<Value>,
}

/// The first container of the `kind` object named `name` in the manifest at `path`.
pub fn manifest_container(path: &Path, kind: &str, name: &str) -> Container {
    use serde::Deserialize;
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {}", path.display()));
    let c = &doc["spec"]["template"]["spec"]["containers"][0];
    let args = c["args"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let env = c["env"].as_array().cloned().unwrap_or_default();
    Container { args, env }
}

/// The ConfigMap `name` in metallb-system whose `config` key is `payload` (v0.9's config file).
pub fn config_map(c: &Arc<Cluster>, name: &str, payload: &str) -> Applied {
    c.apply(
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": METALLB_NS},
                "data": {"config": payload}})
        .to_string(),
    )
}

/// A LoadBalancer Service `default/name` selecting `app: name`, port 80, no status.
pub fn lb_service(c: &Arc<Cluster>, name: &str) -> Applied {
    c.apply(
        &json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"type": "LoadBalancer", "selector": {"app": name},
                         "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        .to_string(),
    )
}

/// The first `status.loadBalancer.ingress` IP of the Service `default/name`, if any.
pub fn ingress_ip(c: &Cluster, name: &str) -> Option<String> {
    c.get_json(&["-n", "default", "svc", name])["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .map(str::to_string)
}

/// The lines of `log` that are JSON objects (a daemon's v0.9-style log lines), in order.
pub fn json_objects(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect()
}

/// Objects applied by [`Cluster::apply`]; deleted on drop.
pub struct Applied {
    cluster: Arc<Cluster>,
    manifest: String,
}

impl Drop for Applied {
    fn drop(&mut self) {
        let out = self.cluster.kubectl_stdin(
            &["delete", "--ignore-not-found", "--wait=false", "-f", "-"],
            &self.manifest,
        );
        if !out.status.success() {
            eprintln!("kubectl delete failed: {}", stderr_of(&out));
        }
    }
}

/// A Node object and its speaker Pod, see [`Cluster::node`].
pub struct NodeObject {
    cluster: Arc<Cluster>,
    name: String,
}

impl Drop for NodeObject {
    fn drop(&mut self) {
        let _ = Command::new(script("cluster"))
            .args(["node-rm", &self.name])
            .output();
    }
}

// ---------------------------------------------------------------- netns

/// Node and client network namespaces on bridge flb0 (`scripts/netns`).
/// Holds [`serial`]-like exclusivity over the namespace names for the
/// process; on drop deletes exactly the namespaces it created.
pub struct Topology {
    created: Vec<String>,
    _lock: MutexGuard<'static, ()>,
}

impl Topology {
    /// Creates node1..node`nodes` and client1..client`clients` (those missing).
    pub fn up(nodes: usize, clients: usize) -> Topology {
        static LOCK: Mutex<()> = Mutex::new(());
        let lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        require_root();
        require_tool("ip");
        let out = run_ok(Command::new(script("netns")).args([
            "up",
            &nodes.to_string(),
            &clients.to_string(),
        ]));
        Topology {
            created: out.lines().map(str::to_string).collect(),
            _lock: lock,
        }
    }

    /// Creates the named namespaces (`nodeI` / `clientI`, those missing), for tests that
    /// keep to names of their own instead of node1..N.
    pub fn add(names: &[&str]) -> Topology {
        static LOCK: Mutex<()> = Mutex::new(());
        let lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        require_root();
        require_tool("ip");
        let out = run_ok(Command::new(script("netns")).arg("add").args(names));
        Topology {
            created: out.lines().map(str::to_string).collect(),
            _lock: lock,
        }
    }

    /// The namespaces this guard created.
    pub fn created(&self) -> &[String] {
        &self.created
    }

    /// An attribute of namespace `name`: "v4", "v6", "mac", "api", "if".
    pub fn addr(name: &str, attr: &str) -> String {
        run_ok(Command::new(script("netns")).args(["addr", name, attr]))
            .trim()
            .to_string()
    }

    /// Runs a command inside namespace `ns`.
    pub fn exec(ns: &str, args: &[&str]) -> Output {
        run(Command::new("ip").args(["netns", "exec", ns]).args(args))
    }
}

/// The host side of namespace `ns`'s veth, down: nothing reaches the namespace or leaves it
/// (the apiserver included). Restored on drop.
pub struct CutLink(String);

impl CutLink {
    pub fn cut(ns: &str) -> CutLink {
        let hostif = Topology::addr(ns, "host-if");
        run_ok(Command::new("ip").args(["link", "set", &hostif, "down"]));
        CutLink(hostif)
    }
}

impl Drop for CutLink {
    fn drop(&mut self) {
        let _ = run(Command::new("ip").args(["link", "set", &self.0, "up"]));
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if self.created.is_empty() {
            return;
        }
        let out = Command::new(script("netns"))
            .arg("del")
            .args(&self.created)
            .output();
        if let Ok(out) = out
            && !out.status.success()
        {
            eprintln!("scripts/netns del failed: {}", stderr_of(&out));
        }
    }
}

/// Lists the network namespaces of the machine.
pub fn netns_list() -> Vec<String> {
    let out = run_ok(Command::new("ip").args(["netns", "list"]));
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------- processes

/// Options of `scripts/in-cluster`.
#[derive(Default, Clone)]
pub struct InClusterOpts {
    pub netns: Option<String>,
    pub node: Option<String>,
    /// The service account's namespace, when not metallb-system.
    pub namespace: Option<String>,
    /// `HOST:PORT` of a proxy in front of the API server, when not the API server itself.
    pub apiserver: Option<String>,
    pub no_memberlist: bool,
    pub register: bool,
    /// Secret volumes, `NAME:/DIR` (`--secret`: the kubelet's secret volumes of MetalLB >= 0.13).
    pub secrets: Vec<String>,
}

/// A process started through `scripts/in-cluster` (so its PID is the
/// process's own). stdout+stderr go to a log file under
/// $TMPDIR/ferrolb-tests (kept only if the test panics). On drop: SIGTERM,
/// up to 5 s to exit, then SIGKILL — to that PID only.
pub struct InCluster {
    child: Child,
    log: PathBuf,
    _cluster: Arc<Cluster>,
}

impl InCluster {
    pub fn spawn(
        cluster: &Arc<Cluster>,
        sa: &str,
        opts: &InClusterOpts,
        cmd: &[&str],
    ) -> InCluster {
        let dir = std::env::temp_dir().join("ferrolb-tests");
        fs::create_dir_all(&dir).expect("create log dir");
        let name = Path::new(cmd[0])
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let log = dir.join(format!("{}-{}-{}.log", name, sa, unique()));
        let file = File::create(&log).expect("create log");
        let mut c = Command::new(script("in-cluster"));
        c.arg(sa);
        if let Some(ns) = &opts.netns {
            c.args(["--netns", ns]);
        }
        if let Some(node) = &opts.node {
            c.args(["--node", node]);
        }
        if let Some(ns) = &opts.namespace {
            c.args(["--namespace", ns]);
        }
        if let Some(api) = &opts.apiserver {
            c.args(["--apiserver", api]);
        }
        if opts.no_memberlist {
            c.arg("--no-memberlist");
        }
        if opts.register {
            c.arg("--register");
        }
        for s in &opts.secrets {
            c.args(["--secret", s]);
        }
        c.arg("--").args(cmd);
        c.stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup log"))
            .stderr(file);
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {c:?}: {e}"));
        InCluster {
            child,
            log,
            _cluster: Arc::clone(cluster),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The lines of the log that are JSON objects.
    pub fn json_log(&self) -> Vec<Value> {
        json_objects(&self.log())
    }

    /// Waits until a JSON log line satisfies `pred`; panics with the log if
    /// the process exits first or `limit` passes.
    pub fn wait_json(
        &mut self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let found = wait_for(limit, || {
            if let Some(v) = self.json_log().into_iter().find(|v| pred(v)) {
                return Some(Ok(v));
            }
            match self.child.try_wait() {
                Ok(Some(status)) => Some(Err(format!("exited with {status}"))),
                _ => None,
            }
        });
        match found {
            Some(Ok(v)) => v,
            Some(Err(e)) => panic!("waiting for {what}: process {e}; log:\n{}", self.log()),
            None => panic!("no {what} within {limit:?}; log:\n{}", self.log()),
        }
    }

    /// Returns Some(exit status) if the process has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for InCluster {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Not yet reaped, so the PID is still ours.
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let exited = wait_for(Duration::from_secs(5), || {
                self.child.try_wait().ok().flatten()
            });
            if exited.is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        // Keep the log of a failing test for inspection.
        if !std::thread::panicking() {
            let _ = fs::remove_file(&self.log);
        }
    }
}

fn unique() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// Path of the reference (MetalLB) binary `name` ("controller" or "speaker"),
/// building it first if needed (`scripts/reference build`).
pub fn reference(name: &str) -> String {
    run_ok(Command::new(script("reference")).arg("build"));
    run_ok(Command::new(script("reference")).args(["path", name]))
        .trim()
        .to_string()
}

/// Path of today's MetalLB `name` ("controller", "speaker", or "manifest": its own
/// metallb-native.yaml), building it first if needed (`scripts/reference modern build`).
pub fn modern(name: &str) -> String {
    run_ok(Command::new(script("reference")).args(["modern", "build"]));
    let args: &[&str] = if name == "manifest" {
        &["modern", "manifest"]
    } else {
        &["modern", "path", name]
    };
    run_ok(Command::new(script("reference")).args(args))
        .trim()
        .to_string()
}
