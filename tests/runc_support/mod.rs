//! Running an image's rootfs with runc (not crun: crun 1.8.1, Debian 12's, refuses to start any
//! container on a machine whose cgroups are in hybrid mode with a controller on the v2 hierarchy,
//! "cgroups in hybrid mode not supported, drop all controllers from cgroupv2", which is how
//! this machine is set up; runc 1.1.5 handles it, so the manifest's limits are applied too),
//! and looking at the process it started through /proc. Used by tests/image_*.rs.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The OCI runtime.
pub const RUNTIME: &str = "runc";

fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
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

    pub fn json_log(&self) -> Vec<Value> {
        self.log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(Value::is_object)
            .collect()
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
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
            if poll(Duration::from_secs(10), || self.try_wait()).is_none() {
                let _ = Command::new(RUNTIME)
                    .args(["kill", &self.id, "KILL"])
                    .output();
                let _ = poll(Duration::from_secs(5), || self.try_wait());
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
