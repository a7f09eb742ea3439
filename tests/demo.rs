//! `scripts/demo`, the README's first command, run as CI runs it: non-interactively, as root.
//! Its output must show the Service's EXTERNAL-IP (from the pool, in `kubectl get svc`), the
//! owner node, an arping reply from the client carrying the owner's MAC and an HTTP answer
//! through the owner; while it is up, this test checks the same things itself from the client
//! namespace; then `scripts/demo down` must leave nothing behind: no process it started, no
//! namespace, no link, no state directory, no control plane process.
//!
//! The demo runs its own control plane on its own bridge (FERROLB_ISOLATED=9 at
//! 203.0.113.1:16451, bridge flbdemo0, namespaces flbdemo-*), so it needs no `serial()`: it
//! never touches the test suite's cluster, bridge flb0 or nodeI/clientI namespaces.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{require_root, require_tool, run, script, stderr_of, stdout_of};

const STATE: &str = "/run/ferrolb-demo";
const NAMESPACES: [&str; 4] = [
    "flbdemo-node1",
    "flbdemo-node2",
    "flbdemo-client",
    "flbdemo-ctl",
];
const LINKS: [&str; 5] = ["flbdemo0", "fd-node1", "fd-node2", "fd-client", "fd-ctl"];

/// Runs `scripts/demo down` on drop if the test did not get to run it (a failed assertion).
struct DownOnDrop(bool);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        if !self.0 {
            let out = run(Command::new(script("demo")).arg("down"));
            eprintln!(
                "scripts/demo down (cleanup): {}\n{}",
                stdout_of(&out),
                stderr_of(&out)
            );
        }
    }
}

/// The value after `KEY: ` on a line of the demo's output.
fn tagged<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no `{key}:` line in the demo's output:\n{out}"))
        .trim()
}

fn mac_of(node: &str) -> &'static str {
    match node {
        "node1" => "02:00:00:00:de:01",
        "node2" => "02:00:00:00:de:02",
        other => panic!("unknown node {other}"),
    }
}

fn netns_names() -> BTreeSet<String> {
    let out = run(Command::new("ip").args(["netns", "list"]));
    stdout_of(&out)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn link_exists(name: &str) -> bool {
    run(Command::new("ip").args(["link", "show", name]))
        .status
        .success()
}

/// (name, pid) of every pidfile the demo wrote.
fn demo_pids() -> Vec<(String, u32)> {
    let dir = Path::new(STATE).join("pids");
    let mut out = Vec::new();
    for e in fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        let pid = fs::read_to_string(&p)
            .expect("read pidfile")
            .trim()
            .parse()
            .expect("a pid");
        out.push((
            p.file_stem().expect("name").to_string_lossy().into_owned(),
            pid,
        ));
    }
    out.sort();
    out
}

/// The executable's file name of a running PID (None once it is gone).
fn exe_name(pid: u32) -> Option<String> {
    let exe: PathBuf = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    Some(
        exe.file_name()?
            .to_string_lossy()
            .trim_end_matches(" (deleted)")
            .to_string(),
    )
}

fn client(args: &[&str]) -> String {
    let out = run(Command::new("ip")
        .args(["netns", "exec", "flbdemo-client"])
        .args(args));
    assert!(
        out.status.success(),
        "{args:?} in flbdemo-client failed:\n{}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    stdout_of(&out)
}

#[test]
fn demo_shows_the_external_ip_its_owner_an_arp_reply_and_http_then_down_removes_everything() {
    require_root();
    for tool in ["ip", "arping", "curl", "nft", "busybox", "cargo"] {
        require_tool(tool);
    }
    let before = netns_names();
    for ns in NAMESPACES {
        assert!(
            !before.contains(ns),
            "namespace {ns} exists before the demo runs (a demo left up? scripts/demo down)"
        );
    }
    let mut guard = DownOnDrop(false);

    let out = run(Command::new(script("demo")).env_remove("KUBECONFIG"));
    let text = stdout_of(&out);
    println!("{text}");
    assert!(
        out.status.success(),
        "scripts/demo failed ({}):\n{text}\nstderr:\n{}",
        out.status,
        stderr_of(&out)
    );

    // The headings a newcomer reads.
    for h in [
        "== kubectl get svc hello",
        "== arping ",
        "== curl http://",
        "== Done: everything is still running",
    ] {
        assert!(text.contains(h), "no heading {h:?}");
    }

    // EXTERNAL-IP: from the pool, and in `kubectl get svc`'s table.
    let ip = tagged(&text, "EXTERNAL-IP").to_string();
    let last: u8 = ip
        .strip_prefix("192.0.2.")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("EXTERNAL-IP {ip}"));
    assert!(
        (100..=109).contains(&last),
        "{ip} is not from the pool 192.0.2.100-192.0.2.109"
    );
    assert!(
        text.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 4 && f[0] == "hello" && f[1] == "LoadBalancer" && f[3] == ip
        }),
        "no `hello LoadBalancer <cluster-ip> {ip}` row from kubectl get svc:\n{text}"
    );

    // The owner node, its MAC in the arping reply, its answer over HTTP.
    let owner = tagged(&text, "OWNER-NODE").to_string();
    let mac = mac_of(&owner);
    let reply = format!("reply from {ip} [{}]", mac.to_uppercase());
    assert!(
        text.lines()
            .any(|l| l.to_lowercase().contains(&reply.to_lowercase())),
        "no {reply:?} in:\n{text}"
    );
    assert_eq!(tagged(&text, "ARP-REPLY-MAC"), format!("{mac} ({owner})"));
    let body = format!(
        "Hello from {owner} (192.0.2.1{}), behind ferrolb's LoadBalancer IP",
        &owner[4..]
    );
    assert!(
        text.lines().any(|l| l == body),
        "no HTTP body {body:?} in:\n{text}"
    );
    assert_eq!(tagged(&text, "HTTP-ANSWERED-BY"), owner);

    // It is left running: the client reaches the IP through the owner by itself.
    let arping = client(&["arping", "-c", "2", "-w", "5", "-I", "eth0", &ip]);
    let macs: BTreeSet<String> = arping
        .lines()
        .filter(|l| l.contains("reply from"))
        .filter_map(|l| Some(l.split('[').nth(1)?.split(']').next()?.to_lowercase()))
        .collect();
    assert_eq!(macs, BTreeSet::from([mac.to_string()]), "{arping}");
    assert_eq!(
        client(&["curl", "-sS", "--max-time", "10", &format!("http://{ip}/")]).trim_end(),
        body
    );
    let pids = demo_pids();
    let names: Vec<&str> = pids.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "controller",
            "httpd-node1",
            "httpd-node2",
            "speaker-node1",
            "speaker-node2"
        ]
    );
    for (name, pid) in &pids {
        let want = if name.starts_with("httpd") {
            "busybox"
        } else {
            "ferrolb"
        };
        assert_eq!(
            exe_name(*pid).as_deref(),
            Some(want),
            "{name} (pid {pid}) is not running"
        );
    }
    let etcd_pid: u32 = fs::read_to_string(format!("{STATE}/cluster/etcd.pid"))
        .expect("etcd.pid")
        .trim()
        .parse()
        .expect("pid");
    let api_pid: u32 = fs::read_to_string(format!("{STATE}/cluster/apiserver.pid"))
        .expect("apiserver.pid")
        .trim()
        .parse()
        .expect("pid");

    // Down: everything it made is gone, and nothing else.
    let down = run(Command::new(script("demo")).arg("down"));
    guard.0 = true;
    assert!(
        down.status.success(),
        "scripts/demo down failed:\n{}{}",
        stdout_of(&down),
        stderr_of(&down)
    );
    for (name, pid) in &pids {
        assert_eq!(
            exe_name(*pid),
            None,
            "{name} (pid {pid}) still runs after down"
        );
    }
    assert_eq!(exe_name(etcd_pid), None, "etcd still runs");
    assert_eq!(exe_name(api_pid), None, "kube-apiserver still runs");
    let after = netns_names();
    for ns in NAMESPACES {
        assert!(!after.contains(ns), "namespace {ns} left after down");
    }
    for l in LINKS {
        assert!(!link_exists(l), "link {l} left after down");
    }
    assert!(!Path::new(STATE).exists(), "{STATE} left after down");
}
