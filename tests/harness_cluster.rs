//! `scripts/cluster`: a real, pinned kube-apiserver with v0.9's objects
//! applied unchanged, an admin kubeconfig, an audit log, idempotent `up`.

mod support;

use std::process::Command;
use support::{METALLB_NS, cluster, run_ok, script};

#[test]
fn api_server_is_the_pinned_version_on_the_bridge_address() {
    let c = cluster();
    let v: serde_json::Value =
        serde_json::from_str(&c.kubectl_ok(&["get", "--raw", "/version"])).expect("version JSON");
    assert_eq!(v["gitVersion"], "v1.35.4");
    assert_eq!(c.env("FERROLB_APISERVER"), "https://198.51.100.1:6443");
    // The apiserver advertises itself on the bridge address.
    let ep = c.get_json(&["-n", "default", "endpoints", "kubernetes"]);
    assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "198.51.100.1");
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], 6443);
}

#[test]
fn up_is_idempotent_and_status_reports_up() {
    let c = cluster();
    run_ok(Command::new(script("cluster")).arg("up"));
    run_ok(Command::new(script("cluster")).arg("up"));
    let st = run_ok(Command::new(script("cluster")).arg("status"));
    assert_eq!(st.trim(), "up");
    assert_eq!(
        c.get_json(&["namespace", METALLB_NS])["metadata"]["labels"]["app"],
        "metallb"
    );
}

#[test]
fn v093_namespace_and_rbac_objects_are_applied_unchanged() {
    let c = cluster();
    let objects = run_ok(Command::new(script("cluster")).arg("objects"));
    let mut kinds: Vec<&str> = objects
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterRoleBinding",
            "Namespace",
            "Role",
            "Role",
            "RoleBinding",
            "RoleBinding",
            "ServiceAccount",
            "ServiceAccount"
        ],
        "PodSecurityPolicy is not served by 1.35; Deployment/DaemonSet are not applied"
    );
    // Every extracted document is byte-for-byte a document of metallb.yaml.
    let upstream = std::fs::read_to_string(
        support::repo_root().join("compat/upstream/metallb-v0.9.3/manifests/metallb.yaml"),
    )
    .expect("read upstream metallb.yaml");
    let docs: Vec<&str> = upstream.split("---\n").map(str::trim).collect();
    for doc in objects.split("---\n").skip(1) {
        assert!(
            docs.contains(&doc.trim()),
            "not an upstream document:\n{doc}"
        );
    }
    // And the server holds exactly them: `kubectl diff` finds nothing.
    let out = c.kubectl_stdin(&["diff", "-f", "-"], &objects);
    assert!(
        out.status.success(),
        "server objects differ from the manifest:\n{}{}",
        support::stdout_of(&out),
        support::stderr_of(&out)
    );
    let secret = c.get_json(&["-n", METALLB_NS, "secret", "memberlist"]);
    assert!(
        secret["data"]["secretkey"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

#[test]
fn audit_log_records_requests_with_user_verb_and_code() {
    let c = cluster();
    c.kubectl_ok(&["-n", METALLB_NS, "get", "configmaps"]);
    let events = c.audit_events();
    assert!(
        events
            .iter()
            .any(|e| e["user"]["username"] == "ferrolb-admin"
                && e["verb"] == "list"
                && e["objectRef"]["resource"] == "configmaps"
                && e["objectRef"]["namespace"] == METALLB_NS
                && e["responseStatus"]["code"] == 200
                && e["stage"] == "ResponseComplete")
    );
    assert!(events.iter().all(|e| e["stage"] != "RequestReceived"));
}
