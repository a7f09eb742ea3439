//! The Services a pool rename would strand. A v0.9 pool name that is not a valid Kubernetes
//! name is converted (spec §9.2: `My_Pool` → `my-pool`), but a Service that asks for the pool
//! by its annotation `metallb.universe.tf/address-pool: My_Pool` still names the old one, and
//! MetalLB ≥ v0.13 finds no such pool: it clears the Service's IP and allocates none. Given
//! the cluster's Services (`kubectl get services -A -o json`), this finds them and says, per
//! Service, the `kubectl annotate` commands that move it to the new name without losing its
//! IP ([`Finding::commands`]). Pure: text in, findings out; the CLI prints them.
//!
//! Chosen over rewriting Service manifests: the Services live in the cluster (and in many
//! users' own repositories), not in the ConfigMap this tool converts, and one command per
//! Service is something an operator can read before running.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::names;
use super::objects::IpAddressPool;

/// The annotation v0.9 reads, which MetalLB ≥ v0.13 still honours.
pub const POOL_ANNOTATION: &str = "metallb.universe.tf/address-pool";

/// What one Service's annotation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The annotation names a pool by its legacy name, which was converted.
    Renamed {
        /// The Service's namespace.
        namespace: String,
        /// The Service's name.
        name: String,
        /// The legacy pool name the annotation holds.
        from: String,
        /// The IPAddressPool's name.
        to: String,
    },
    /// The annotation names no pool of this config (v0.9 gives such a Service no IP either).
    NoSuchPool {
        /// The Service's namespace.
        namespace: String,
        /// The Service's name.
        name: String,
        /// The annotation's value.
        pool: String,
    },
}

impl Finding {
    /// The two commands that move a `Renamed` Service across without losing its IP; `None`
    /// for the others (nothing to run). Both v0.9 (spec §3.2 step 5) and MetalLB ≥ v0.13
    /// (`controller/service.go`) clear a Service's IP when its annotation names a pool other
    /// than the one holding the IP, and each knows only its own spelling of the name, so no
    /// single value is safe while the controllers change hands. Without the annotation
    /// neither checks the pool and both keep the IP:
    /// 1. before the migration, while the v0.9 controller runs: remove the annotation;
    /// 2. once MetalLB's controller has taken over: set it to the new name.
    ///
    /// Object and pool names are checked to be `[a-z0-9.-]` before they get here, so the
    /// commands need no quoting.
    pub fn commands(&self) -> Option<(String, String)> {
        match self {
            Finding::Renamed {
                namespace,
                name,
                to,
                ..
            } => Some((
                format!(
                    "kubectl annotate service --namespace={namespace} {name} {POOL_ANNOTATION}-"
                ),
                format!(
                    "kubectl annotate service --namespace={namespace} {name} {POOL_ANNOTATION}={to} --overwrite"
                ),
            )),
            Finding::NoSuchPool { .. } => None,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Renamed {
                namespace,
                name,
                from,
                to,
            } => write!(
                f,
                "Service {namespace}/{name} asks for pool {from:?} ({POOL_ANNOTATION}), which becomes IPAddressPool {to:?}; MetalLB >= v0.13 would clear its IP"
            ),
            Finding::NoSuchPool {
                namespace,
                name,
                pool,
            } => write!(
                f,
                "Service {namespace}/{name} asks for pool {pool:?} ({POOL_ANNOTATION}), which this config does not define"
            ),
        }
    }
}

/// Reads `text` (a Service, or a `List` of them, as JSON or YAML) and returns one finding per
/// Service whose pool annotation needs attention, in input order. An error names the item
/// that is not a Service with a valid name; nothing is returned then.
pub fn check(text: &str, pools: &[IpAddressPool]) -> Result<Vec<Finding>, String> {
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => serde_norway::from_str(text)
            .map_err(|e| format!("the Services are neither JSON nor YAML: {e}"))?,
    };
    let items: Vec<&Value> = match doc.get("kind").and_then(Value::as_str) {
        Some("List" | "ServiceList") => doc
            .get("items")
            .and_then(Value::as_array)
            .ok_or("a List without items")?
            .iter()
            .collect(),
        Some("Service") => vec![&doc],
        other => {
            return Err(format!(
                "expected a Service or a List of Services (kubectl get services -A -o json), got kind {}",
                other.unwrap_or("(none)")
            ));
        }
    };
    let by_legacy: BTreeMap<&str, &IpAddressPool> =
        pools.iter().map(|p| (p.legacy_name.as_str(), p)).collect();
    let mut found = Vec::new();
    for (i, svc) in items.iter().enumerate() {
        if svc
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k != "Service")
        {
            continue; // a List may hold other kinds (kubectl get all): not ours to judge
        }
        let meta = &svc["metadata"];
        let Some(pool) = meta["annotations"][POOL_ANNOTATION].as_str() else {
            continue;
        };
        let field = |key: &str| -> Result<String, String> {
            let v = meta[key].as_str().unwrap_or("");
            if names::is_valid_object_name(v) {
                Ok(v.to_owned())
            } else {
                Err(format!(
                    "item #{} of the Services: metadata.{key} {v:?} is not a valid object name",
                    i + 1
                ))
            }
        };
        let (namespace, name) = (field("namespace")?, field("name")?);
        match by_legacy.get(pool) {
            Some(p) if p.name != pool => found.push(Finding::Renamed {
                namespace,
                name,
                from: pool.to_owned(),
                to: p.name.clone(),
            }),
            Some(_) => {}
            None => found.push(Finding::NoSuchPool {
                namespace,
                name,
                pool: pool.to_owned(),
            }),
        }
    }
    Ok(found)
}

#[cfg(test)]
#[path = "services_tests.rs"]
mod tests;
