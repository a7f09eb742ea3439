//! `scripts/cluster down` stops exactly what `up` started (by pidfile, not
//! by name) and removes its state; `up` brings it back. The test leaves the
//! cluster as it found it.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{require_root, run, run_ok, script, wait_for};

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn down_stops_only_what_up_started_and_removes_its_state() {
    require_root();
    // Wait until no other test process uses the cluster, and keep them out until it is back.
    let _users = support::lock_users(None, libc::LOCK_EX).expect("a blocking flock");
    let was_up = run(Command::new(script("cluster")).arg("status"))
        .status
        .success();
    run_ok(Command::new(script("cluster")).arg("up"));
    let env = run_ok(Command::new(script("cluster")).arg("env"));
    let state = env
        .lines()
        .find_map(|l| l.strip_prefix("export FERROLB_CLUSTER_STATE="))
        .expect("FERROLB_CLUSTER_STATE")
        .to_string();
    let pid_of = |f: &str| -> u32 {
        std::fs::read_to_string(format!("{state}/{f}"))
            .expect("pidfile")
            .trim()
            .parse()
            .expect("pid")
    };
    let (etcd_pid, api_pid) = (pid_of("etcd.pid"), pid_of("apiserver.pid"));
    let etcd_bin = std::fs::read_link(format!("/proc/{etcd_pid}/exe")).expect("etcd exe");

    // A decoy: the same etcd binary, started by us, not by `up`.
    let dir = std::env::temp_dir().join(format!("ferrolb-decoy-{}", std::process::id()));
    let mut decoy = Command::new(&etcd_bin)
        .arg("--data-dir")
        .arg(&dir)
        .args([
            "--listen-client-urls=http://127.0.0.1:32479",
            "--advertise-client-urls=http://127.0.0.1:32479",
            "--listen-peer-urls=http://127.0.0.1:32480",
            "--initial-advertise-peer-urls=http://127.0.0.1:32480",
            "--initial-cluster=default=http://127.0.0.1:32480",
            "--log-level=error",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start decoy etcd");

    run_ok(Command::new(script("cluster")).arg("down"));
    let gone = wait_for(Duration::from_secs(15), || {
        (!alive(etcd_pid) && !alive(api_pid)).then_some(())
    });
    let decoy_alive = decoy.try_wait().expect("try_wait").is_none();
    let _ = decoy.kill();
    let _ = decoy.wait();
    let _ = std::fs::remove_dir_all(&dir);

    assert!(
        gone.is_some(),
        "etcd or kube-apiserver still running after down"
    );
    assert!(decoy_alive, "down killed an etcd it did not start");
    assert!(!Path::new(&state).exists(), "state {state} left behind");
    assert!(
        !run(Command::new(script("cluster")).arg("status"))
            .status
            .success()
    );
    // Idempotent: a second down is harmless.
    run_ok(Command::new(script("cluster")).arg("down"));

    if was_up {
        run_ok(Command::new(script("cluster")).arg("up"));
    }
}
