//! Finding the payload in a manifest: a YAML stream of Kubernetes objects (one ConfigMap, a
//! multi-document file, or a `kind: List` as `kubectl get -o yaml` prints it).

use serde::Deserialize;
use serde_norway::Value;

use super::error::MigrateError;

/// The namespace used when the ConfigMap has none (and for `--only-data`).
pub const DEFAULT_NAMESPACE: &str = "metallb-system";

/// The payload found in a ConfigMap and the ConfigMap's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `data.config`
    pub payload: String,
    /// `metadata.namespace`, or `metallb-system`
    pub namespace: String,
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    get(v, key)?.as_str()
}

fn collect_objects(v: Value, out: &mut Vec<Value>) {
    if get_str(&v, "kind").is_some_and(|k| k.ends_with("List"))
        && let Some(Value::Sequence(items)) = get(&v, "items").cloned()
    {
        for item in items {
            collect_objects(item, out);
        }
        return;
    }
    if !v.is_null() {
        out.push(v);
    }
}

/// Picks the ConfigMap named `name` from a manifest stream and returns its `data.config`.
pub fn configmap_payload(manifest: &str, name: &str) -> Result<Found, MigrateError> {
    let mut objects = Vec::new();
    for doc in serde_norway::Deserializer::from_str(manifest) {
        let v = Value::deserialize(doc)
            .map_err(|e| MigrateError::Input(format!("the input is not valid YAML: {e}")))?;
        collect_objects(v, &mut objects);
    }
    let configmaps: Vec<&Value> = objects
        .iter()
        .filter(|o| get_str(o, "kind") == Some("ConfigMap"))
        .collect();
    if configmaps.is_empty() {
        return Err(MigrateError::Input(
            "not a configmap: the input holds no object of kind ConfigMap (pass --only-data if it is the bare config payload)".into(),
        ));
    }
    let named: Vec<&&Value> = configmaps
        .iter()
        .filter(|o| get(o, "metadata").and_then(|m| get_str(m, "name")) == Some(name))
        .collect();
    let cm = match named.as_slice() {
        [one] => **one,
        [] => {
            let found: Vec<&str> = configmaps
                .iter()
                .filter_map(|o| get(o, "metadata").and_then(|m| get_str(m, "name")))
                .collect();
            return Err(MigrateError::Input(format!(
                "no ConfigMap named {name:?} in the input (found: {}); pass --config NAME to pick another",
                found.join(", ")
            )));
        }
        several => {
            let namespaces: Vec<&str> = several
                .iter()
                .map(|o| {
                    get(o, "metadata")
                        .and_then(|m| get_str(m, "namespace"))
                        .unwrap_or(DEFAULT_NAMESPACE)
                })
                .collect();
            return Err(MigrateError::Input(format!(
                "{} ConfigMaps named {name:?} in the input (namespaces: {}); give one at a time",
                several.len(),
                namespaces.join(", ")
            )));
        }
    };
    let payload = get(cm, "data").and_then(|d| get(d, "config"));
    let payload = match payload {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(_) => {
            return Err(MigrateError::Input(
                "bad ConfigMap: data.config is not a string".into(),
            ));
        }
    };
    if payload.is_empty() {
        return Err(MigrateError::Input(format!(
            "bad ConfigMap: no data (ConfigMap {name:?} has no data.config)"
        )));
    }
    let namespace = get(cm, "metadata")
        .and_then(|m| get_str(m, "namespace"))
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE)
        .to_owned();
    Ok(Found { payload, namespace })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: lb\n  name: config\ndata:\n  config: |\n    peers: []\n";

    #[test]
    fn picks_the_named_configmap_from_a_multi_document_stream() {
        let stream = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: lb\n---\n{CM}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  config: x\n"
        );
        let f = configmap_payload(&stream, "config").unwrap();
        assert_eq!(
            f,
            Found {
                payload: "peers: []\n".into(),
                namespace: "lb".into()
            }
        );
        let f = configmap_payload(&stream, "other").unwrap();
        assert_eq!(f.namespace, DEFAULT_NAMESPACE);
    }

    #[test]
    fn reads_kubectl_list_output() {
        let indented: String = CM.lines().map(|l| format!("  {l}\n")).collect();
        let list = format!("apiVersion: v1\nkind: List\nitems:\n-{}", &indented[1..]);
        assert_eq!(
            configmap_payload(&list, "config").unwrap().payload,
            "peers: []\n"
        );
    }

    #[test]
    fn missing_or_empty_data_and_wrong_kinds_are_errors() {
        let e = configmap_payload(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\n",
            "config",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("bad ConfigMap: no data"), "{e}");
        let e = configmap_payload("kind: Secret\n", "config").unwrap_err();
        assert!(e.to_string().starts_with("not a configmap"), "{e}");
        let e = configmap_payload(CM, "metallb").unwrap_err();
        assert!(
            e.to_string().contains("no ConfigMap named \"metallb\""),
            "{e}"
        );
        let e = configmap_payload(&format!("{CM}---\n{CM}"), "config").unwrap_err();
        assert!(e.to_string().contains("2 ConfigMaps"), "{e}");
        let e = configmap_payload("a: [", "config").unwrap_err();
        assert!(
            e.to_string().starts_with("the input is not valid YAML"),
            "{e}"
        );
    }
}
