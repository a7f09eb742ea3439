//! Builds the Go interop peer (tests/peers/memberlist-go, hashicorp/memberlist v0.1.7) once per
//! test binary. A missing Go toolchain fails the test loudly.

#![allow(dead_code)]

pub mod node;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

pub fn go_peer() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/memberlist-go");
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("memberlist-go");
        let go = ["/usr/local/go/bin/go", "go"]
            .into_iter()
            .find(|g| {
                Command::new(g)
                    .arg("version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .expect(
                "the Go toolchain (/usr/local/go/bin/go) is required to build the memberlist peer",
            );
        let status = Command::new(go)
            .args(["build", "-mod=mod", "-o"])
            .arg(&out)
            .arg(".")
            .current_dir(&src)
            .status()
            .expect("run go build");
        assert!(
            status.success(),
            "go build of tests/peers/memberlist-go failed"
        );
        out
    })
    .clone()
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The error and warning lines of hashicorp/memberlist's log (`[ERR]`, `[WARN]`: decode
/// failures, bad checksums, conflicts...).
pub fn complaints(log: &[String]) -> Vec<String> {
    log.iter()
        .filter(|l| l.contains("[ERR]") || l.contains("[WARN]"))
        .cloned()
        .collect()
}
