//! Running an image's rootfs with runc (not crun: crun 1.8.1, Debian 12's, refuses to start any
//! container on a machine whose cgroups are in hybrid mode with a controller on the v2 hierarchy,
//! "cgroups in hybrid mode not supported, drop all controllers from cgroupv2", which is how
//! this machine is set up; runc 1.1.5 handles it, so the manifest's limits are applied too),
//! and looking at the process it started through /proc. Used by tests/image_*.rs, which also
//! declare `mod oci_support` and `mod support`: [`Bundle`] lays out an image's bundle with both.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::oci_support::{self, ImageConfig, Inputs, PodFacts, PodNetwork};
use crate::support::{self, Cluster, METALLB_NS, run_ok, script, wait_for};

/// The OCI runtime.
pub const RUNTIME: &str = "runc";

/// A container started with `runc run`; on drop: SIGTERM to it, up to 10 s, then SIGKILL,
/// `runc delete -f`, and SIGKILL to the runc process this guard started if it is still there.
/// The bundle directory is removed unless the thread is panicking (then the log is printed).
pub struct Container {
    pub id: String,
    child: Child,
    bundle: PathBuf,
    log: PathBuf,
}

impl Container {
    pub fn run(bundle: &Path, id: &str) -> Container {
        let log = bundle.join("container.log");
        let file = fs::File::create(&log).expect("create log");
        let child = Command::new(RUNTIME)
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup log"))
            .stderr(file)
            .spawn()
            .expect("start runc run");
        Container {
            id: id.to_string(),
            child,
            bundle: bundle.to_path_buf(),
            log,
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// PID (in the test's PID namespace) of the container's process, from `runc state`.
    pub fn pid(&self) -> Option<u32> {
        let out = Command::new(RUNTIME)
            .args(["state", &self.id])
            .output()
            .ok()?;
        let state: Value = serde_json::from_slice(&out.stdout).ok()?;
        (state["status"] == "running")
            .then(|| state["pid"].as_u64())
            .flatten()
            .map(|p| p as u32)
    }

    /// The lines of the container's log that are JSON objects.
    pub fn json_log(&self) -> Vec<Value> {
        support::json_objects(&self.log())
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM through the runtime, as a pod deletion would do it: asserts that the container
    /// exits, and exits 0, within 20 s.
    pub fn terminate_cleanly(&mut self) {
        self.kill("TERM");
        let status = wait_for(Duration::from_secs(20), || self.try_wait())
            .expect("the container exits on SIGTERM");
        assert!(status.success(), "exit {status}; log:\n{}", self.log());
    }

    /// `runc kill ID SIGNAL`.
    pub fn kill(&self, signal: &str) {
        let out = Command::new(RUNTIME)
            .args(["kill", &self.id, signal])
            .output()
            .expect("run runc kill");
        assert!(
            out.status.success(),
            "runc kill {signal}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            let _ = Command::new(RUNTIME)
                .args(["kill", &self.id, "TERM"])
                .output();
            if wait_for(Duration::from_secs(10), || self.try_wait()).is_none() {
                let _ = Command::new(RUNTIME)
                    .args(["kill", &self.id, "KILL"])
                    .output();
                let _ = wait_for(Duration::from_secs(5), || self.try_wait());
            }
        }
        let _ = Command::new(RUNTIME)
            .args(["delete", "-f", &self.id])
            .output();
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "container log kept in {}:\n{}",
                self.log.display(),
                self.log()
            );
        } else {
            let _ = fs::remove_dir_all(&self.bundle);
        }
    }
}

/// A runc bundle for the `ferrolb-DAEMON` image of `scripts/image`, laid out as a kubelet would
/// for the pod: the rootfs unpacked from the OCI layout by umoci, and the `DAEMON` service
/// account's files next to it. [`Container`] removes the directory on drop.
pub struct Bundle {
    /// The container id, `ferrolb-test-DAEMON-PID`.
    pub id: String,
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    /// The service account's `token`, `ca.crt` and `namespace`.
    pub sa: PathBuf,
    /// The directory of the OCI layouts `scripts/image build` printed.
    pub layouts: PathBuf,
    /// `layouts/ferrolb-DAEMON`.
    pub layout: PathBuf,
    /// The image's tag: the crate's version.
    pub tag: &'static str,
}

impl Bundle {
    /// Builds the images (or finds them up to date) with `scripts/image`, unpacks
    /// `ferrolb-DAEMON` under a fresh bundle directory, asserts that the rootfs is one binary
    /// and no shell, and writes the `DAEMON` service account's token, the cluster's CA and the
    /// namespace as the kubelet projects them (directories 0755, files 0644).
    pub fn unpack(c: &Cluster, daemon: &str) -> Bundle {
        let layouts = PathBuf::from(run_ok(Command::new(script("image")).arg("build")).trim());
        let layout = layouts.join(format!("ferrolb-{daemon}"));
        let tag = env!("CARGO_PKG_VERSION");
        let id = format!("ferrolb-test-{daemon}-{}", std::process::id());
        let dir = std::env::temp_dir().join("ferrolb-tests").join(&id);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create bundle dir");
        let rootfs = dir.join("rootfs");
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
        let sa = dir.join("serviceaccount");
        fs::create_dir_all(&sa).expect("create sa dir");
        fs::write(sa.join("token"), c.token(daemon)).expect("write token");
        fs::copy(c.env("FERROLB_CA"), sa.join("ca.crt")).expect("copy ca.crt");
        fs::write(sa.join("namespace"), METALLB_NS).expect("write namespace");
        run_ok(Command::new("chmod").args(["0755"]).arg(&dir).arg(&sa));
        run_ok(
            Command::new("chmod")
                .arg("0644")
                .arg(sa.join("token"))
                .arg(sa.join("ca.crt"))
                .arg(sa.join("namespace")),
        );
        Bundle {
            id,
            dir,
            rootfs,
            sa,
            layouts,
            layout,
            tag,
        }
    }

    /// The config blob of the image `ferrolb-DAEMON` in the same layouts.
    pub fn image_config_blob(&self, daemon: &str) -> Value {
        oci_support::image_config_blob(&self.layouts.join(format!("ferrolb-{daemon}")), self.tag)
    }

    /// The runtime config of `container` in `pod` with this bundle's rootfs, the image's
    /// /etc/passwd and the service account: the caller's network, the manifest's limits.
    pub fn runtime_config(
        &self,
        pod: &Value,
        container: &Value,
        image: &ImageConfig,
        facts: &PodFacts,
    ) -> Value {
        let passwd =
            fs::read_to_string(self.rootfs.join("etc/passwd")).expect("image /etc/passwd");
        oci_support::runtime_config(&Inputs {
            pod,
            container,
            image,
            passwd: Some(&passwd),
            facts,
            rootfs: &self.rootfs,
            service_account_dir: &self.sa,
            network: PodNetwork::Caller,
            with_limits: true,
        })
        .expect("derive the runtime config")
    }

    /// Writes `config` as the bundle's config.json.
    pub fn write_config(&self, config: &Value) {
        fs::write(
            self.dir.join("config.json"),
            serde_json::to_string_pretty(config).expect("JSON"),
        )
        .expect("write config.json");
    }

    /// `runc run` on the bundle.
    pub fn run(&self) -> Container {
        Container::run(&self.dir, &self.id)
    }
}

/// The `kind` object `name` of manifests/v0.9/metallb.yaml: (pod spec, its first container).
pub fn manifest_workload(kind: &str, name: &str) -> (Value, Value) {
    let manifest = fs::read_to_string(support::repo_root().join("manifests/v0.9/metallb.yaml"))
        .expect("read manifest");
    oci_support::workload(&manifest, kind, name)
}

/// The env the kubelet gives every container for the `kubernetes` Service: the harness API
/// server's address.
pub fn kubernetes_service_env(c: &Cluster) -> Vec<(String, String)> {
    let (host, port) = (
        c.env("FERROLB_APISERVER_HOST").to_string(),
        c.env("FERROLB_APISERVER_PORT").to_string(),
    );
    vec![
        ("KUBERNETES_SERVICE_HOST".into(), host.clone()),
        ("KUBERNETES_SERVICE_PORT".into(), port.clone()),
        ("KUBERNETES_SERVICE_PORT_HTTPS".into(), port.clone()),
        ("KUBERNETES_PORT".into(), format!("tcp://{host}:{port}")),
    ]
}

/// The `Key:\tvalue` line of /proc/PID/status, its fields joined by one space.
pub fn proc_status(pid: u32, key: &str) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The mount options of the mount at `target` in /proc/PID/mountinfo.
pub fn mount_options(pid: u32, target: &str) -> Vec<String> {
    let mountinfo = fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    let line = mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(target))
        .unwrap_or_else(|| panic!("no mount at {target}:\n{mountinfo}"));
    line.split(' ')
        .nth(5)
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect()
}

/// Every path in `root`, relative, sorted.
pub fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).expect("read dir").filter_map(Result::ok) {
            let p = e.path();
            out.push(
                p.strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned(),
            );
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}
