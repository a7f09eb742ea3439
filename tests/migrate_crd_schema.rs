//! Every object `ferrolb migrate` generates validates against the openAPIV3Schema of the real
//! MetalLB v0.14.9 CRDs (`compat/upstream/metallb-v0.14.9/crds/`).
//!
//! The CRD schemas are OpenAPI v3 structural schemas. They become JSON Schema by dropping the
//! `x-kubernetes-*` extensions, and by adding what the API server does on top: fields a schema
//! does not declare are pruned, and `kubectl apply` (strict field validation, the default since
//! Kubernetes 1.27) refuses them, so every object schema gets `additionalProperties: false`
//! unless it declares `additionalProperties` or `x-kubernetes-preserve-unknown-fields`.
//! `metadata` is checked by the API server itself, not by the CRD schema, so it is left open.

mod migrate_support;

use std::collections::BTreeMap;

use migrate_support::*;
use serde_json::{Map, Value};

fn to_json_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if k.starts_with("x-kubernetes-") || k == "description" {
                    continue;
                }
                let v = match k.as_str() {
                    "properties" => Value::Object(
                        v.as_object()
                            .unwrap()
                            .iter()
                            .map(|(name, s)| (name.clone(), to_json_schema(s)))
                            .collect(),
                    ),
                    _ => to_json_schema(v),
                };
                out.insert(k.clone(), v);
            }
            let is_object = m.get("type").and_then(Value::as_str) == Some("object");
            let preserves =
                m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if is_object && !preserves && !m.contains_key("additionalProperties") {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

/// (apiVersion, kind) → compiled validator, for every served version of every CRD.
fn validators() -> BTreeMap<(String, String), jsonschema::Validator> {
    let dir = upstream("metallb-v0.14.9/crds");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let crd: Value = serde_norway::from_str(&text).unwrap();
        let group = crd["spec"]["group"].as_str().unwrap();
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap();
        for version in crd["spec"]["versions"].as_array().unwrap() {
            let mut schema = to_json_schema(&version["schema"]["openAPIV3Schema"]);
            schema["properties"]["metadata"] = serde_json::json!({"type": "object"});
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft4)
                .should_validate_formats(false)
                .build(&schema)
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            out.insert(
                (
                    format!("{group}/{}", version["name"].as_str().unwrap()),
                    kind.to_owned(),
                ),
                validator,
            );
        }
    }
    out
}

fn errors_of(
    docs_text: &str,
    validators: &BTreeMap<(String, String), jsonschema::Validator>,
) -> Vec<String> {
    let mut errors = Vec::new();
    for doc in documents(docs_text) {
        let json: Value = serde_json::to_value(&doc).unwrap();
        let key = (
            json["apiVersion"].as_str().unwrap().to_owned(),
            json["kind"].as_str().unwrap().to_owned(),
        );
        if key.0 == "v1" {
            continue; // core Secrets are not CRDs; see secrets_have_the_shape_metallb_reads
        }
        let Some(v) = validators.get(&key) else {
            errors.push(format!("no CRD serves {key:?}"));
            continue;
        };
        for e in v.iter_errors(&json) {
            errors.push(format!(
                "{} {}: {e} at {}",
                key.1,
                json["metadata"]["name"],
                e.instance_path()
            ));
        }
    }
    errors
}

fn outputs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for form in ["configmap-yaml", "configmap-data"] {
        for (name, input, _) in upstream_goldens(form) {
            let mut args = vec!["migrate", "--lenient"];
            if form == "configmap-data" {
                args.push("--only-data");
            }
            let p = input.to_string_lossy().into_owned();
            args.push(&p);
            let o = ferrolb(&args, b"");
            assert!(o.status.success(), "{name}");
            out.push((name, String::from_utf8(o.stdout).unwrap()));
        }
    }
    // Every config of the v0.9 corpus that converts.
    for entry in std::fs::read_dir(repo().join("compat/config/cases")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let o = ferrolb(&["migrate", "--only-data", path.to_str().unwrap()], b"");
            if o.status.success() {
                out.push((
                    path.display().to_string(),
                    String::from_utf8(o.stdout).unwrap(),
                ));
            }
        }
    }
    for case in std::fs::read_dir(repo().join("compat/migrate/cases")).unwrap() {
        let case = case.unwrap().path();
        if let Ok(text) = std::fs::read_to_string(case.join("expected.yaml")) {
            out.push((
                case.file_name().unwrap().to_string_lossy().into_owned(),
                text,
            ));
        }
    }
    out
}

#[test]
fn every_generated_object_validates_against_the_v0_14_9_crds() {
    let validators = validators();
    assert!(
        validators.len() >= 7,
        "CRD versions loaded: {:?}",
        validators.keys()
    );
    let mut objects = 0;
    for (name, text) in outputs() {
        objects += documents(&text).len();
        let errors = errors_of(&text, &validators);
        assert!(errors.is_empty(), "{name}:\n{}", errors.join("\n"));
    }
    assert!(objects > 120, "only {objects} objects checked");
}

#[test]
fn the_schema_check_catches_what_the_api_server_refuses() {
    let validators = validators();
    // Upstream main's IPAddressPool status counters are unknown to v0.14.9's CRD.
    let golden = std::fs::read_to_string(
        upstream("configmaptocrs-testdata/configmap-yaml").join("config-yaml-address-pools.golden"),
    )
    .unwrap();
    let errors = errors_of(&golden, &validators);
    assert!(
        errors.iter().any(|e| e.contains("IPAddressPool")),
        "{errors:?}"
    );
    // A wrong type and an unknown spec field.
    let bad = "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: p\nspec:\n  myASN: x\n  peerAddress: 192.0.2.1\n  frob: 1\n";
    assert_eq!(
        errors_of(bad, &validators).len(),
        2,
        "{:?}",
        errors_of(bad, &validators)
    );
    // A missing required field.
    let bad =
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p\nspec: {}\n";
    assert_eq!(errors_of(bad, &validators).len(), 1);
}

#[test]
fn secrets_have_the_shape_metallb_reads() {
    // MetalLB >= v0.13 reads `password` from a kubernetes.io/basic-auth Secret named by
    // spec.passwordSecret in its own namespace (v0.14.9 CRD, passwordSecret description).
    let text =
        std::fs::read_to_string(repo().join("compat/migrate/cases/password-secret/expected.yaml"))
            .unwrap();
    let docs = documents(&text);
    let secret = &docs[0];
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["type"], "kubernetes.io/basic-auth");
    assert_eq!(secret["stringData"]["password"], "s3cret: #not a comment");
    let peer = &docs[1];
    assert_eq!(
        peer["spec"]["passwordSecret"]["name"],
        secret["metadata"]["name"]
    );
    assert_eq!(
        peer["spec"]["passwordSecret"]["namespace"],
        secret["metadata"]["namespace"]
    );
    assert_eq!(peer["spec"].get("password"), None);
}
