//! A fresh clone in a directory of its own passes the test suite: nothing under `src/`,
//! `tests/`, `scripts/` or `examples/` reads outside the checkout (the upstream data the tests
//! need is in `compat/upstream/`).

use std::path::{Path, PathBuf};

/// Paths that point outside the checkout: the steering folder beside it, or absolute paths of
/// the machines the project was first written on. Spelled in pieces so this file does not
/// match itself.
fn outside_patterns() -> Vec<String> {
    vec![
        ["..", "/shared"].concat(),
        ["shared", "/upstream"].concat(),
        ["/work", "/"].concat(),
    ]
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_source_test_or_script_reads_outside_the_checkout() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for d in [
        "src",
        "tests",
        "scripts",
        "examples",
        "fuzz/fuzz_targets",
        ".ci",
    ] {
        files(&root.join(d), &mut all);
    }
    assert!(all.len() > 50, "walked only {} files", all.len());
    let patterns = outside_patterns();
    let mut hits = Vec::new();
    for f in &all {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue; // binary files
        };
        for (n, line) in text.lines().enumerate() {
            if patterns.iter().any(|p| line.contains(p.as_str())) {
                hits.push(format!("{}:{}: {line}", f.display(), n + 1));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "reads outside the checkout:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_upstream_data_the_tests_need_is_in_the_repository() {
    let up = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compat/upstream");
    for f in [
        "README.md",
        "metallb-v0.9.3/manifests/metallb.yaml",
        "metallb-v0.9.3/manifests/namespace.yaml",
        "metallb-v0.14.9/crds",
        "configmaptocrs-testdata/configmap-data",
        "configmaptocrs-testdata/configmap-yaml",
    ] {
        assert!(up.join(f).exists(), "missing compat/upstream/{f}");
    }
}
