//! `manifests/v0.9/` is MetalLB v0.9.3's own manifest with the two `image:` lines changed, and
//! nothing else (DESIGN.md, promise 1): compared with `compat/upstream/metallb-v0.9.3/manifests/`
//! line by line AND as parsed YAML documents. The Kubernetes >= 1.25 variant is that file without
//! its two PodSecurityPolicy objects (the API was removed in 1.25), and nothing else.

use std::path::PathBuf;

use serde::Deserialize;
use serde_norway::Value;

fn ours(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("manifests/v0.9")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn upstream(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("compat/upstream/metallb-v0.9.3/manifests")
        .join(name);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| {
            panic!(
                "upstream manifest {name} must exist at {}: {e}",
                p.display()
            )
        })
}

/// Every YAML document of a multi-document stream.
fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("bad YAML document: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn kind_name(doc: &Value) -> (String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (s(&doc["kind"]), s(&doc["metadata"]["name"]))
}

/// The `image` of the only container of a workload's pod template.
fn image_of<'a>(docs: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    let doc = docs
        .iter_mut()
        .find(|d| kind_name(d) == (kind.to_string(), name.to_string()))
        .unwrap_or_else(|| panic!("no {kind}/{name}"));
    let containers = doc["spec"]["template"]["spec"]["containers"]
        .as_sequence_mut()
        .expect("containers");
    assert_eq!(containers.len(), 1, "{kind}/{name} has one container");
    &mut containers[0]["image"]
}

const CONTROLLER_IMAGE: &str = concat!("ferrolb/controller:", env!("CARGO_PKG_VERSION"));
const SPEAKER_IMAGE: &str = concat!("ferrolb/speaker:", env!("CARGO_PKG_VERSION"));

#[test]
fn namespace_and_kustomization_are_upstream_byte_for_byte() {
    for name in ["namespace.yaml", "kustomization.yaml"] {
        assert_eq!(
            ours(name),
            upstream(name),
            "manifests/v0.9/{name} differs from v0.9.3's"
        );
    }
}

#[test]
fn metallb_yaml_differs_from_v0_9_3_in_exactly_the_two_image_lines() {
    let (up, ou) = (upstream("metallb.yaml"), ours("metallb.yaml"));
    let (up_lines, our_lines): (Vec<&str>, Vec<&str>) =
        (up.split('\n').collect(), ou.split('\n').collect());
    assert_eq!(
        our_lines.len(),
        up_lines.len(),
        "lines were added or removed"
    );
    let changed: Vec<(&str, &str)> = up_lines
        .iter()
        .zip(&our_lines)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (*a, *b))
        .collect();
    assert_eq!(
        changed,
        vec![
            (
                "        image: metallb/speaker:v0.9.3",
                &*format!("        image: {SPEAKER_IMAGE}")
            ),
            (
                "        image: metallb/controller:v0.9.3",
                &*format!("        image: {CONTROLLER_IMAGE}")
            ),
        ],
        "only the two image lines may differ"
    );
}

#[test]
fn metallb_yaml_parses_to_the_v0_9_3_objects_with_only_the_images_replaced() {
    let mut up = documents(&upstream("metallb.yaml"));
    let mut ou = documents(&ours("metallb.yaml"));
    assert_eq!(up.len(), 14, "v0.9.3's metallb.yaml has 14 objects");
    assert_eq!(
        image_of(&mut up, "DaemonSet", "speaker").as_str(),
        Some("metallb/speaker:v0.9.3")
    );
    assert_eq!(
        image_of(&mut up, "Deployment", "controller").as_str(),
        Some("metallb/controller:v0.9.3")
    );
    assert_eq!(
        image_of(&mut ou, "DaemonSet", "speaker").as_str(),
        Some(SPEAKER_IMAGE)
    );
    assert_eq!(
        image_of(&mut ou, "Deployment", "controller").as_str(),
        Some(CONTROLLER_IMAGE)
    );
    *image_of(&mut up, "DaemonSet", "speaker") = Value::from(SPEAKER_IMAGE);
    *image_of(&mut up, "Deployment", "controller") = Value::from(CONTROLLER_IMAGE);
    assert_eq!(ou.len(), up.len());
    for (o, u) in ou.iter().zip(&up) {
        assert_eq!(o, u, "object {:?} differs beyond its image", kind_name(u));
    }
}

#[test]
fn k8s_1_25_variant_is_metallb_yaml_without_the_two_pod_security_policies() {
    let full = ours("metallb.yaml");
    let variant = ours("metallb-k8s-1.25.yaml");

    // Parsed: the same objects in the same order, less exactly the two PSPs.
    let full_docs = documents(&full);
    let removed: Vec<_> = full_docs
        .iter()
        .filter(|d| d["kind"] == "PodSecurityPolicy")
        .map(kind_name)
        .collect();
    assert_eq!(
        removed,
        vec![
            ("PodSecurityPolicy".to_string(), "controller".to_string()),
            ("PodSecurityPolicy".to_string(), "speaker".to_string())
        ]
    );
    let kept: Vec<Value> = full_docs
        .into_iter()
        .filter(|d| d["kind"] != "PodSecurityPolicy")
        .collect();
    assert_eq!(documents(&variant), kept);

    // Text: the variant is metallb.yaml with the PSP documents (and their `---`) cut out.
    let cut: Vec<&str> = full
        .split("---\n")
        .filter(|doc| !doc.contains("\nkind: PodSecurityPolicy\n"))
        .collect();
    assert_eq!(
        variant,
        cut.join("---\n"),
        "the variant must be a pure cut of metallb.yaml"
    );
}

#[test]
fn manifest_text_is_what_kubernetes_would_apply_for_both_workloads() {
    // The daemons are started by the manifest's args alone: no `command:` overrides the
    // image's ENTRYPOINT (scripts/image sets it to `/ferrolb controller` / `/ferrolb speaker`).
    let docs = documents(&ours("metallb.yaml"));
    for (kind, name) in [("Deployment", "controller"), ("DaemonSet", "speaker")] {
        let d = docs
            .iter()
            .find(|d| kind_name(d) == (kind.to_string(), name.to_string()))
            .expect("workload");
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert!(
            c.get("command").is_none(),
            "{kind}/{name} must not set command"
        );
        let args: Vec<&str> = c["args"]
            .as_sequence()
            .expect("args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(args, ["--port=7472", "--config=config"]);
    }
}
