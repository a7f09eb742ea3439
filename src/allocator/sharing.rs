//! The allow-shared-ip rules (spec §3.4) and the backend key.

/// The keys an allocation carries: the `allow-shared-ip` annotation (empty: no sharing) and
/// the backend key ([`backend_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SharingKeys {
    pub(crate) sharing: Box<str>,
    pub(crate) backend: Box<str>,
}

/// v0.9's `sharingOK(existing, new)`: both sharing keys non-empty and equal, and the same
/// backend key. v0.9 builds a reason for each failure but never shows it (the caller reports
/// "can't change sharing key"), so a bool is all we keep.
pub(crate) fn sharing_ok(existing: &SharingKeys, sharing: &str, backend: &str) -> bool {
    !existing.sharing.is_empty() && !sharing.is_empty() && *existing.sharing == *sharing && *existing.backend == *backend
}

/// The backend key of a Service (v0.9's `k8salloc.BackendKey`).
///
/// Empty unless `externalTrafficPolicy` is `Local`; then apimachinery's `labels.Set.String()`
/// of `spec.selector`: the `key=value` strings sorted as strings (not by key: `a.b=2` sorts
/// before `a=1`) and joined by `,`.
pub fn backend_key<'a>(local_traffic_policy: bool, selector: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    if !local_traffic_policy {
        return String::new();
    }
    let mut pairs: Vec<String> = selector.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    pairs.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &str, b: &str) -> SharingKeys {
        SharingKeys { sharing: s.into(), backend: b.into() }
    }

    #[test]
    fn sharing_needs_equal_non_empty_keys_and_equal_backends() {
        assert!(sharing_ok(&keys("share", "b"), "share", "b"));
        assert!(sharing_ok(&keys("share", ""), "share", ""));
        assert!(!sharing_ok(&keys("", ""), "", ""), "existing service does not allow sharing");
        assert!(!sharing_ok(&keys("share", ""), "", ""), "new service does not allow sharing");
        assert!(!sharing_ok(&keys("share", ""), "other", ""));
        assert!(!sharing_ok(&keys("share", "app=a"), "share", "app=b"));
        assert!(!sharing_ok(&keys("share", ""), "share", "app=a"), "Cluster and Local with a selector");
    }

    #[test]
    fn backend_key_is_empty_for_cluster_traffic_policy() {
        assert_eq!(backend_key(false, [("app", "web")]), "");
    }

    #[test]
    fn backend_key_sorts_the_joined_pairs_as_strings() {
        assert_eq!(backend_key(true, [("tier", "db"), ("app", "web")]), "app=web,tier=db");
        // '.' (0x2e) sorts before '=' (0x3d): apimachinery sorts "k=v" strings, not keys.
        assert_eq!(backend_key(true, [("a", "1"), ("a.b", "2")]), "a.b=2,a=1");
    }

    #[test]
    fn backend_key_of_an_empty_local_selector_is_empty() {
        assert_eq!(backend_key(true, []), "");
    }
}
