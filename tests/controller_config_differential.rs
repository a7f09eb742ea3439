//! Every `compat/config` case applied as the `metallb-system/config` ConfigMap, once to the
//! MetalLB reference controller and once to ferrolb's, both in-cluster as `controller`: the
//! logged verdict (`configLoaded`, or `configStale` with its error text) must be the same, and
//! must be the corpus's verdict.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::{Cluster, InCluster, InClusterOpts, METALLB_NS, cluster, reference, serial};

fn cases() -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat/config/cases");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let expected = std::fs::read_to_string(p.with_extension("expected")).unwrap();
            // The log carries only the verdict: OK, or the error text.
            let verdict = match expected.strip_prefix("ERR ") {
                Some(e) => e.trim_end_matches('\n').to_string(),
                None => "OK".to_string(),
            };
            (p.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap(), verdict)
        })
        .collect()
}

fn apply_config(c: &Cluster, payload: &str) {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "config", "namespace": METALLB_NS},
                    "data": {"config": payload}});
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &cm.to_string());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Applies every case in turn and collects the controller's logged verdicts.
fn verdicts(c: &Arc<Cluster>, cmd: &[&str], cases: &[(String, String, String)]) -> Vec<String> {
    // A marker config both accept, so each case is a change the controller sees.
    let marker = "address-pools: []\n";
    apply_config(c, marker);
    let mut ctl = InCluster::spawn(c, "controller", &InClusterOpts::default(), cmd);
    let is_verdict = |v: &serde_json::Value| v["event"] == "configLoaded" || v["event"] == "configStale";
    ctl.wait_json(Duration::from_secs(60), "first config", is_verdict);
    let mut seen = 1;
    let mut out = Vec::new();
    for (name, payload, _) in cases {
        for text in [payload.as_str(), marker] {
            apply_config(c, text);
            seen += 1;
            let want = seen;
            let mut last = serde_json::Value::Null;
            support::wait_for(Duration::from_secs(30), || {
                let v: Vec<_> = ctl.json_log().into_iter().filter(|v| is_verdict(v)).collect();
                (v.len() >= want).then(|| last = v[want - 1].clone())
            })
            .unwrap_or_else(|| panic!("{name}: no verdict logged; log:\n{}", ctl.log()));
            if text == payload {
                out.push(if last["event"] == "configLoaded" {
                    "OK".to_string()
                } else {
                    last["error"].as_str().unwrap_or("<null>").to_string()
                });
            }
        }
    }
    out
}

#[test]
fn reference_and_ferrolb_log_the_same_verdict_for_every_compat_config_case() {
    let _serial = serial();
    let c = cluster();
    // A Service holding an IP would make every config without its pool a rejection.
    let with_ip = || {
        let list = c.get_json(&["svc", "-A"]);
        list["items"].as_array().unwrap().iter().filter(|s| s["status"]["loadBalancer"]["ingress"].is_array()).count()
    };
    assert!(support::wait_for(Duration::from_secs(60), || (with_ip() == 0).then_some(())).is_some(), "Services with an ingress IP are left in the cluster");
    let all = cases();
    // Identical payloads in a row would not be a change; none of the cases is the marker.
    let reference_bin = reference("controller");
    let reference = verdicts(&c, &[&reference_bin, "--port=7472", "--config=config"], &all);
    let ferrolb = verdicts(&c, &[env!("CARGO_BIN_EXE_ferrolb"), "controller", "--port=7472", "--config=config"], &all);
    let _ = c.kubectl(&["-n", METALLB_NS, "delete", "configmap", "config", "--ignore-not-found"]);
    let mut diffs = Vec::new();
    for (i, (name, _, expected)) in all.iter().enumerate() {
        if reference[i] != *expected || ferrolb[i] != reference[i] {
            diffs.push(format!("{name}\n  corpus:    {expected:?}\n  reference: {:?}\n  ferrolb:   {:?}", reference[i], ferrolb[i]));
        }
    }
    assert!(diffs.is_empty(), "{} of {} cases differ:\n{}", diffs.len(), all.len(), diffs.join("\n"));
    assert_eq!(support::forbidden_for(&c, "controller"), Vec::<String>::new(), "403s for the controller");
}
