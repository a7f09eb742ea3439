//! The in-cluster Kubernetes client, as v0.9 builds it (spec §1.1): only the pod's service
//! account (`KUBERNETES_SERVICE_HOST/PORT` and the token files); no kubeconfig flag.

use kube::Client;

/// Where the pod's service-account files are.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The pod's own namespace, or v0.9's error text.
pub fn own_namespace() -> Result<String, String> {
    std::fs::read_to_string(format!("{SERVICE_ACCOUNT_DIR}/namespace"))
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("getting namespace from pod service account data: {e}"))
}

/// A client from the in-cluster config, or v0.9's error text (`building client config: ...`).
pub fn in_cluster() -> Result<Client, String> {
    let config = kube::Config::incluster().map_err(|e| format!("building client config: {e}"))?;
    Client::try_from(config).map_err(|e| format!("building client config: {e}"))
}
