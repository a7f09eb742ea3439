//! The Services a pool rename would strand, and the commands that keep their IPs.

use serde_json::json;

use super::{Finding, check};
use crate::migrate::{Options, migrate};

fn pools() -> Vec<crate::migrate::objects::IpAddressPool> {
    let data = "address-pools:\n\
        - name: Manual_Pool\n  protocol: layer2\n  auto-assign: false\n  addresses: [192.0.2.224/28]\n\
        - name: front\n  protocol: layer2\n  addresses: [192.0.2.128/26]\n";
    let opts = Options {
        only_data: true,
        ..Options::default()
    };
    migrate(data, &opts).unwrap().resources.pools
}

fn svc(ns: &str, name: &str, pool: Option<&str>) -> serde_json::Value {
    let mut s = json!({"apiVersion": "v1", "kind": "Service",
                       "metadata": {"namespace": ns, "name": name},
                       "spec": {"type": "LoadBalancer"}});
    if let Some(p) = pool {
        s["metadata"]["annotations"] = json!({"metallb.universe.tf/address-pool": p});
    }
    s
}

fn list(items: Vec<serde_json::Value>) -> String {
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

#[test]
fn a_service_naming_a_renamed_pool_gets_the_two_commands() {
    let text = list(vec![
        svc("web", "shop", Some("Manual_Pool")),
        svc("web", "plain", None),
        svc("web", "front-door", Some("front")),
        svc("ops", "ghost", Some("gone")),
    ]);
    let found = check(&text, &pools()).unwrap();
    assert_eq!(
        found,
        [
            Finding::Renamed {
                namespace: "web".into(),
                name: "shop".into(),
                from: "Manual_Pool".into(),
                to: "manual-pool".into()
            },
            Finding::NoSuchPool {
                namespace: "ops".into(),
                name: "ghost".into(),
                pool: "gone".into()
            },
        ]
    );
    let (before, after) = found[0].commands().unwrap();
    assert_eq!(
        before,
        "kubectl annotate service --namespace=web shop metallb.universe.tf/address-pool-"
    );
    assert_eq!(
        after,
        "kubectl annotate service --namespace=web shop metallb.universe.tf/address-pool=manual-pool --overwrite"
    );
    assert_eq!(found[1].commands(), None);
}

#[test]
fn yaml_and_a_single_service_are_read_too() {
    let yaml = "kind: Service\nmetadata:\n  namespace: web\n  name: shop\n  annotations:\n    metallb.universe.tf/address-pool: Manual_Pool\n";
    assert_eq!(check(yaml, &pools()).unwrap().len(), 1);
}

#[test]
fn other_kinds_in_a_list_are_left_alone() {
    let mut deploy = svc("web", "shop", Some("Manual_Pool"));
    deploy["kind"] = json!("Deployment");
    assert_eq!(check(&list(vec![deploy]), &pools()).unwrap(), []);
}

#[test]
fn a_name_that_could_not_be_a_service_is_refused_not_printed() {
    // The file is the user's; a name is printed into a shell command, so it must be one the
    // API server would have accepted.
    let e = check(
        &list(vec![svc("web", "x; rm -rf /", Some("Manual_Pool"))]),
        &pools(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        "item #1 of the Services: metadata.name \"x; rm -rf /\" is not a valid object name"
    );
}

#[test]
fn input_that_is_not_services_is_refused() {
    assert!(
        check("kind: ConfigMap\n", &pools())
            .unwrap_err()
            .contains("got kind ConfigMap")
    );
    assert!(
        check("[1, 2", &pools())
            .unwrap_err()
            .starts_with("the Services are neither JSON nor YAML")
    );
}
