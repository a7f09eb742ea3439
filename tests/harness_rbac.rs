//! The API server of `scripts/cluster` enforces MetalLB v0.9's RBAC exactly
//! as the manifest writes it. Every check is a real request made with a real
//! service-account token (TokenRequest), cross-checked with `auth can-i`
//! and, for the forbidden ones, with the 403 in the audit log.

mod support;

use serde_json::{Value, json};
use std::sync::Arc;
use support::{Cluster, METALLB_NS, cluster, stderr_of, stdout_of};

const CONTROLLER: &str = "system:serviceaccount:metallb-system:controller";
const SPEAKER: &str = "system:serviceaccount:metallb-system:speaker";

fn assert_forbidden(out: &std::process::Output, what: &str, needle: &str) {
    let err = stderr_of(out);
    assert!(
        !out.status.success(),
        "{what} was allowed, expected Forbidden"
    );
    assert!(
        err.contains("Forbidden") || err.contains("forbidden"),
        "{what} failed for another reason than RBAC: {err}"
    );
    assert!(
        err.contains(needle),
        "{what}: expected `{needle}` in: {err}"
    );
}

fn assert_allowed(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} was refused: {}",
        stderr_of(out)
    );
}

fn can_i(c: &Cluster, token: &str, args: &[&str]) -> String {
    let mut a = vec!["auth", "can-i"];
    a.extend_from_slice(args);
    // `can-i` exits 1 for "no"; the answer is on stdout either way.
    stdout_of(&c.kubectl_as(token, &a, None)).trim().to_string()
}

/// The audit log has a 403 for `user` doing `verb` on `resource[/sub]`.
fn audited_403(
    c: &Cluster,
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    sub: &str,
) -> bool {
    c.audit_events().iter().any(|e| {
        e["user"]["username"] == user
            && e["verb"] == verb
            && e["objectRef"]["resource"] == resource
            && e["objectRef"]["apiGroup"].as_str().unwrap_or("") == group
            && e["objectRef"]["subresource"].as_str().unwrap_or("") == sub
            && e["responseStatus"]["code"] == 403
    })
}

fn lb_service(c: &Arc<Cluster>, name: &str) -> support::Applied {
    c.apply(
        &json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}],
                     "selector": {"app": name}}
        })
        .to_string(),
    )
}

#[test]
fn controller_may_update_service_status_but_not_patch_it() {
    let c = cluster();
    let _svc = lb_service(&c, "rbac-status");
    let token = c.token("controller");

    // get + update of services/status, as v0.9's controller does it.
    let got = c.kubectl_as(
        &token,
        &["-n", "default", "get", "svc", "rbac-status", "-o", "json"],
        None,
    );
    assert_allowed(&got, "controller get services");
    let mut svc: Value = serde_json::from_slice(&got.stdout).expect("service JSON");
    svc["status"] = json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.105"}]}});
    let upd = c.kubectl_as(
        &token,
        &["replace", "--subresource=status", "-f", "-"],
        Some(&svc.to_string()),
    );
    assert_allowed(&upd, "controller update services/status");
    let back = c.get_json(&["-n", "default", "svc", "rbac-status"]);
    assert_eq!(
        back["status"]["loadBalancer"]["ingress"][0]["ip"],
        "192.0.2.105"
    );
    assert_eq!(
        can_i(&c, &token, &["update", "services/status", "-n", "default"]),
        "yes"
    );

    // patch of services/status is not in the ClusterRole: a real PATCH.
    let (code, body) = c.request_as(
        &token,
        "PATCH",
        "/api/v1/namespaces/default/services/rbac-status/status",
        "application/merge-patch+json",
        Some(r#"{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.106"}]}}}"#),
    );
    assert_eq!(code, 403, "PATCH services/status as controller: {body}");
    assert!(
        body.contains(r#"cannot patch resource \"services/status\""#),
        "unexpected 403 body: {body}"
    );
    let back = c.get_json(&["-n", "default", "svc", "rbac-status"]);
    assert_eq!(
        back["status"]["loadBalancer"]["ingress"][0]["ip"],
        "192.0.2.105"
    );
    assert_eq!(
        can_i(&c, &token, &["patch", "services/status", "-n", "default"]),
        "no"
    );
    assert!(
        audited_403(&c, CONTROLLER, "patch", "", "services", "status"),
        "no 403 for patch services/status in the audit log"
    );
}

#[test]
fn controller_may_create_core_events_but_not_events_k8s_io() {
    let c = cluster();
    let token = c.token("controller");

    let core = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "rbac-core-event", "namespace": "default"},
        "involvedObject": {"kind": "Service", "namespace": "default", "name": "rbac-events",
                           "apiVersion": "v1"},
        "reason": "IPAllocated", "message": "harness", "type": "Normal",
        "source": {"component": "metallb-controller"}
    });
    let out = c.kubectl_as(&token, &["create", "-f", "-"], Some(&core.to_string()));
    assert_allowed(&out, "controller create core/v1 events");
    let back = c.get_json(&["-n", "default", "events", "rbac-core-event"]);
    assert_eq!(back["reason"], "IPAllocated");
    c.kubectl_ok(&["-n", "default", "delete", "event", "rbac-core-event"]);

    let new = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "rbac-new-event", "namespace": "default"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "metallb.universe.tf/controller",
        "reportingInstance": "controller-1",
        "action": "Allocate", "reason": "IPAllocated", "type": "Normal", "note": "harness",
        "regarding": {"kind": "Service", "namespace": "default", "name": "rbac-events",
                      "apiVersion": "v1"}
    });
    let out = c.kubectl_as(&token, &["create", "-f", "-"], Some(&new.to_string()));
    assert_forbidden(
        &out,
        "controller create events.k8s.io events",
        r#"cannot create resource "events" in API group "events.k8s.io""#,
    );
    assert_eq!(
        can_i(
            &c,
            &token,
            &["create", "events.events.k8s.io", "-n", "default"]
        ),
        "no"
    );
    assert_eq!(
        can_i(&c, &token, &["create", "events", "-n", "default"]),
        "yes"
    );
    assert!(
        audited_403(&c, CONTROLLER, "create", "events.k8s.io", "events", ""),
        "no 403 for create events.k8s.io events in the audit log"
    );
}

#[test]
fn controller_may_not_list_pods() {
    let c = cluster();
    let token = c.token("controller");
    for ns in [METALLB_NS, "default"] {
        let out = c.kubectl_as(&token, &["-n", ns, "get", "pods"], None);
        assert_forbidden(
            &out,
            "controller list pods",
            r#"cannot list resource "pods""#,
        );
        assert_eq!(can_i(&c, &token, &["list", "pods", "-n", ns]), "no");
    }
    assert!(audited_403(&c, CONTROLLER, "list", "", "pods", ""));
}

#[test]
fn speaker_may_list_pods_in_its_namespace_but_not_watch_them() {
    let c = cluster();
    let token = c.token("speaker");

    let out = c.kubectl_as(
        &token,
        &["-n", METALLB_NS, "get", "pods", "-o", "json"],
        None,
    );
    assert_allowed(&out, "speaker list pods in metallb-system");
    let list: Value = serde_json::from_slice(&out.stdout).expect("pod list JSON");
    assert_eq!(list["kind"], "List");
    assert_eq!(
        can_i(&c, &token, &["list", "pods", "-n", METALLB_NS]),
        "yes"
    );

    // A real watch request: refused at once, not held open.
    let out = c.kubectl_as(
        &token,
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/metallb-system/pods?watch=true",
            "--request-timeout=20s",
        ],
        None,
    );
    assert_forbidden(
        &out,
        "speaker watch pods",
        r#"cannot watch resource "pods""#,
    );
    assert_eq!(
        can_i(&c, &token, &["watch", "pods", "-n", METALLB_NS]),
        "no"
    );
    assert!(
        audited_403(&c, SPEAKER, "watch", "", "pods", ""),
        "no 403 for watch pods in the audit log"
    );

    // The Role is namespaced: other namespaces stay closed.
    let out = c.kubectl_as(&token, &["-n", "default", "get", "pods"], None);
    assert_forbidden(
        &out,
        "speaker list pods in default",
        r#"cannot list resource "pods""#,
    );
}
