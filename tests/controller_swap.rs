//! The swap: 200 Services allocated by MetalLB's reference controller; it is stopped and
//! ferrolb's controller started in its place (as a rolling update of the Deployment would):
//! every IP is adopted, no status changes, and ferrolb writes nothing (resourceVersions and the
//! audit log prove it).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use support::{InCluster, InClusterOpts, METALLB_NS, cluster, reference, serial, wait_for};

const N: usize = 200;

fn ingress_by_service(c: &support::Cluster) -> BTreeMap<String, (String, String)> {
    let list = c.get_json(&["-n", "swap", "svc"]);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| {
            let ip = s["status"]["loadBalancer"]["ingress"][0]["ip"].as_str()?;
            Some((
                s["metadata"]["name"].as_str()?.to_string(),
                (ip.to_string(), s["metadata"]["resourceVersion"].as_str()?.to_string()),
            ))
        })
        .collect()
}

#[test]
fn ferrolb_adopts_200_reference_allocations_without_a_single_write() {
    let _serial = serial();
    let c = cluster();
    let _ = c.kubectl(&["create", "namespace", "swap"]);
    let _cfg = c.apply(
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config", "namespace": METALLB_NS},
                "data": {"config": "address-pools:\n- name: swap\n  protocol: layer2\n  addresses: ['2001:db8:2::/120']\n"}})
        .to_string(),
    );
    let items: Vec<_> = (0..N)
        .map(|i| {
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("s{i:03}"), "namespace": "swap"},
                   "spec": {"type": "LoadBalancer", "ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
                            "selector": {"app": format!("s{i:03}")}, "ports": [{"port": 80, "protocol": "TCP"}]}})
        })
        .collect();
    let _svcs = c.apply(&json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string());

    let before = {
        let bin = reference("controller");
        let _ref = InCluster::spawn(&c, "controller", &InClusterOpts::default(), &[&bin, "--port=7472", "--config=config"]);
        wait_for(Duration::from_secs(240), || {
            let m = ingress_by_service(&c);
            (m.len() == N).then_some(m)
        })
        .expect("the reference allocates all 200")
        // the reference is stopped here
    };
    let audit_mark = c.audit_events().len();

    let mut ctl = InCluster::spawn(
        &c,
        "controller",
        &InClusterOpts::default(),
        &[env!("CARGO_BIN_EXE_ferrolb"), "controller", "--port=7472", "--config=config"],
    );
    ctl.wait_json(Duration::from_secs(60), "stateSynced", |v| v["event"] == "stateSynced");
    // Every Service has been looked at after the config load (noChange), none written.
    wait_for(Duration::from_secs(60), || {
        let n = ctl.json_log().iter().filter(|v| v["event"] == "noChange" && v["service"].as_str().is_some_and(|s| s.starts_with("swap/"))).count();
        (n >= N).then_some(())
    })
    .unwrap_or_else(|| panic!("not every Service converged; log:\n{}", ctl.log()));

    assert_eq!(ingress_by_service(&c), before, "0 status changes, same resourceVersions");
    let writes: Vec<String> = c.audit_events()[audit_mark..]
        .iter()
        .filter(|e| e["user"]["username"] == "system:serviceaccount:metallb-system:controller")
        .filter(|e| matches!(e["verb"].as_str(), Some("create" | "update" | "patch" | "delete")))
        .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
        .collect();
    assert_eq!(writes, Vec::<String>::new(), "ferrolb wrote something");
    assert!(ctl.json_log().iter().all(|v| v["event"] != "ipAllocated"), "no new allocation");
    assert_eq!(support::forbidden_for(&c, "controller"), Vec::<String>::new(), "403s for the controller");
}
