//! Shared by the layer2 wire tests: two network namespaces created by the test, joined by a
//! veth pair (192.0.2.0/24 and 2001:db8::/64 only), deleted by a guard even on panic.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::process::Command;
use std::thread::JoinHandle;

pub fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("running {args:?}: {e}"))
}

pub fn sh_ok(args: &[&str]) {
    let out = sh(args);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Two namespaces `flbtest-l2a-<tag>` (client, 192.0.2.1 on `l2a<tag>`) and `flbtest-l2b-<tag>`
/// (speaker, 192.0.2.2 on `l2b<tag>`), deleted on drop.
pub struct Wire {
    pub client: String,
    pub speaker: String,
    pub client_if: String,
    pub speaker_if: String,
}

impl Wire {
    pub fn new(tag: &str) -> Wire {
        // SAFETY: geteuid has no preconditions.
        assert_eq!(unsafe { libc::geteuid() }, 0, "this test creates network namespaces and needs root");
        for tool in ["ip", "arping"] {
            assert!(sh(&["which", tool]).status.success(), "this test needs `{tool}` installed");
        }
        let wire = Wire {
            client: format!("flbtest-l2a-{tag}"),
            speaker: format!("flbtest-l2b-{tag}"),
            client_if: format!("l2a{tag}"),
            speaker_if: format!("l2b{tag}"),
        };
        // Leftovers of an earlier crashed run of this same test carry our names only.
        for ns in [&wire.client, &wire.speaker] {
            let _ = sh(&["ip", "netns", "del", ns]);
        }
        sh_ok(&["ip", "netns", "add", &wire.client]);
        sh_ok(&["ip", "netns", "add", &wire.speaker]);
        sh_ok(&[
            "ip",
            "link",
            "add",
            &wire.client_if,
            "netns",
            &wire.client,
            "type",
            "veth",
            "peer",
            "name",
            &wire.speaker_if,
            "netns",
            &wire.speaker,
        ]);
        let ends = [
            (&wire.client, &wire.client_if, "192.0.2.1/24", "2001:db8::1/64"),
            (&wire.speaker, &wire.speaker_if, "192.0.2.2/24", "2001:db8::2/64"),
        ];
        for (ns, ifname, v4, v6) in ends {
            // No DAD: the link-local address must be usable as soon as the link is up.
            // (The kernel skips DAD only when both `all` and the interface say so.)
            for scope in ["all", ifname.as_str()] {
                sh_ok(&["ip", "netns", "exec", ns, "sysctl", "-qw", &format!("net.ipv6.conf.{scope}.accept_dad=0")]);
            }
            sh_ok(&["ip", "-n", ns, "addr", "add", v4, "dev", ifname]);
            sh_ok(&["ip", "-n", ns, "addr", "add", v6, "dev", ifname, "nodad"]);
            sh_ok(&["ip", "-n", ns, "link", "set", ifname, "up"]);
            sh_ok(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        // The kernel adds the link-local addresses once both ends have carrier.
        for (ns, ifname, ..) in ends {
            let has_link_local = || {
                let out = sh(&["ip", "-n", ns, "-6", "addr", "show", "dev", ifname, "scope", "link"]);
                let text = String::from_utf8_lossy(&out.stdout);
                text.contains("fe80::") && !text.contains("tentative")
            };
            let mut tries = 0;
            while !has_link_local() {
                tries += 1;
                assert!(tries < 100, "{ifname} in {ns} got no IPv6 link-local address");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        wire
    }

    pub fn arping(&self, ip: Ipv4Addr, count: u32) -> String {
        let out = sh(&[
            "ip",
            "netns",
            "exec",
            &self.client,
            "arping",
            "-c",
            &count.to_string(),
            "-w",
            "10",
            "-I",
            &self.client_if,
            &ip.to_string(),
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        for ns in [&self.client, &self.speaker] {
            let _ = sh(&["ip", "netns", "del", ns]);
        }
    }
}

/// Runs `f` on a new thread inside network namespace `ns`.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
        // SAFETY: a valid namespace descriptor; setns only changes this thread's namespace.
        let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}
