//! Helpers shared by the `migrate_*` integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A directory under `compat/upstream` (MetalLB's own files, see its README).
pub fn upstream(sub: &str) -> PathBuf {
    let p = repo().join("compat/upstream").join(sub);
    assert!(p.is_dir(), "missing {}", p.display());
    p
}

/// The upstream converter testdata: (name, input, golden) for one form
/// (`configmap-yaml` or `configmap-data`).
pub fn upstream_goldens(form: &str) -> Vec<(String, PathBuf, PathBuf)> {
    let dir = upstream("configmaptocrs-testdata").join(form);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            let golden = p.with_extension("golden");
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                p,
                golden,
            )
        })
        .collect();
    out.sort();
    assert_eq!(
        out.len(),
        6,
        "expected the six upstream golden cases in {}",
        dir.display()
    );
    out
}

/// Upstream's main-branch goldens carry IPAddressPool status counters that v0.14.9's CRD and
/// converter do not have; ferrolb writes `status: {}` (see compat/migrate/README.md).
pub fn v0_14_9_status(golden: &str) -> String {
    golden.replace(
        "status:\n  assignedIPv4: 0\n  assignedIPv6: 0\n  availableIPv4: 0\n  availableIPv6: 0\n",
        "status: {}\n",
    )
}

/// Runs the `ferrolb` binary with `args`, feeding `stdin`.
pub fn ferrolb(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ferrolb binary runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// The documents of a YAML stream, empty ones dropped.
pub fn documents(text: &str) -> Vec<serde_norway::Value> {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(text)
        .map(|d| serde_norway::Value::deserialize(d).expect("output is valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// Every mapping's keys in `text` appear in sorted order (the key order upstream writes).
/// Checks the block-style layout line by line: keys at the same indentation under the same
/// parent must ascend.
pub fn assert_keys_sorted(text: &str) {
    let mut stack: Vec<(usize, String)> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if line == "---" {
            stack.clear();
            continue;
        }
        let content = line.trim_start_matches([' ', '-']);
        let indent = line.len() - content.len();
        let Some((key, _)) = content.split_once(':') else {
            continue;
        };
        if key.starts_with('"') || key.contains(' ') {
            continue;
        }
        if line.trim_start().starts_with("- ") {
            // A new sequence item starts a new mapping.
            stack.retain(|(i, _)| *i < indent);
        }
        stack.retain(|(i, _)| *i <= indent);
        if let Some((i, prev)) = stack.last()
            && *i == indent
        {
            assert!(
                prev.as_str() < key,
                "keys out of order: {prev:?} before {key:?} in\n{text}"
            );
            stack.pop();
        }
        stack.push((indent, key.to_owned()));
    }
}

/// A scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "ferrolb-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
