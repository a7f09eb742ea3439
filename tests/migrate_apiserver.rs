//! `ferrolb migrate` output is accepted by a real API server with MetalLB v0.14.9's CRDs
//! installed: every golden case (upstream's, both forms, and ours) is server-side dry-run
//! applied with strict field validation. Needs root and the harness (scripts/cluster).

mod migrate_support;
mod support;

use std::path::Path;

use migrate_support::{ferrolb, upstream, upstream_goldens};
use support::{cluster, require_root, stderr_of};

/// Installs the v0.14.9 CRDs and waits until they are established; removed on drop.
struct Crds {
    cluster: std::sync::Arc<support::Cluster>,
    files: Vec<String>,
}

impl Crds {
    fn install(cluster: std::sync::Arc<support::Cluster>) -> Crds {
        let dir = upstream("metallb-v0.14.9/crds");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string())
            .filter(|p| p.ends_with(".yaml"))
            .collect();
        files.sort();
        assert_eq!(files.len(), 7, "the seven v0.14.9 CRDs");
        for f in &files {
            let out = cluster.kubectl(&["apply", "--server-side", "-f", f]);
            assert!(out.status.success(), "installing {f}: {}", stderr_of(&out));
        }
        let out = cluster.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", "", "--all"]);
        assert!(out.status.success(), "CRDs established: {}", stderr_of(&out));
        Crds { cluster, files }
    }
}

impl Drop for Crds {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = self.cluster.kubectl(&["delete", "--ignore-not-found", "--wait=false", "-f", f]);
        }
    }
}

/// Dry-run applies `yaml`. Objects in a namespace other than metallb-system are placed there
/// (a namespace cannot be created and removed again without kube-controller-manager).
fn dry_run_apply(cluster: &support::Cluster, name: &str, yaml: &str) {
    let yaml = &yaml
        .lines()
        .map(|l| if l.starts_with("  namespace: ") { "  namespace: metallb-system" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    let out = cluster.kubectl_stdin(&["apply", "--dry-run=server", "--validate=strict", "-f", "-"], yaml);
    assert!(out.status.success(), "{name}: the API server refuses the output: {}\n{yaml}", stderr_of(&out));
}

#[test]
fn every_golden_output_is_accepted_by_the_api_server_with_the_v0_14_9_crds() {
    require_root();
    let c = cluster();
    let _crds = Crds::install(c.clone());
    let mut applied = 0;
    for (form, flags) in [("configmap-yaml", vec!["migrate", "--lenient"]), ("configmap-data", vec!["migrate", "--lenient", "--only-data"])] {
        for (name, input, _) in upstream_goldens(form) {
            let o = ferrolb(&flags, &std::fs::read(&input).unwrap());
            assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
            dry_run_apply(&c, &name, &String::from_utf8_lossy(&o.stdout));
            applied += 1;
        }
    }
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat/migrate/cases");
    let mut dirs: Vec<_> = std::fs::read_dir(&cases).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    for dir in dirs {
        let expected = dir.join("expected.yaml");
        if !expected.exists() {
            continue; // an error case: nothing is written
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        dry_run_apply(&c, &name, &std::fs::read_to_string(expected).unwrap());
        applied += 1;
    }
    assert!(applied >= 19, "only {applied} outputs applied (12 upstream + our 7 successful cases)");
}
