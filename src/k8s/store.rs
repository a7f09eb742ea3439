//! A reflector store fed by kube-runtime watcher events: by key (`ns/name`, or `name` for
//! cluster-scoped kinds, as client-go's `MetaNamespaceKeyFunc`), with a relist (watch restart
//! after 410 Gone) replacing the store and reporting every key that changed or vanished, so a
//! missed event is harmless (level-triggered).
//!
//! It keeps a *projection* of each object (what the daemon reads of it) and its
//! resourceVersion, not the object: a speaker watching 10,000 Services and Endpoints would
//! otherwise hold every managedFields entry in memory.

use std::collections::HashMap;

use kube::ResourceExt;
use kube::runtime::watcher;

/// client-go's object key.
pub fn object_key<K: kube::Resource>(obj: &K) -> String {
    match obj.namespace() {
        Some(ns) => format!("{ns}/{}", obj.name_any()),
        None => obj.name_any(),
    }
}

/// Projections `V` of the objects of one kind, by key, with their resourceVersion.
pub struct Store<V> {
    items: HashMap<String, (Option<String>, V)>,
    buffer: Option<HashMap<String, (Option<String>, V)>>,
    listed: bool,
}

impl<V> Default for Store<V> {
    fn default() -> Self {
        Store { items: HashMap::new(), buffer: None, listed: false }
    }
}

impl<V> Store<V> {
    /// Applies one watcher event, keeping `project(object)`; returns the keys whose object
    /// changed (or appeared or vanished).
    pub fn apply<K: kube::Resource>(&mut self, event: watcher::Event<K>, project: impl Fn(&K) -> V) -> Vec<String> {
        let entry = |obj: &K| (obj.resource_version(), project(obj));
        match event {
            watcher::Event::Init => {
                self.buffer = Some(HashMap::new());
                vec![]
            }
            watcher::Event::InitApply(obj) => {
                if let Some(b) = self.buffer.as_mut() {
                    b.insert(object_key(&obj), entry(&obj));
                }
                vec![]
            }
            watcher::Event::InitDone => {
                let fresh = self.buffer.take().unwrap_or_default();
                let mut changed: Vec<String> =
                    self.items.iter().filter(|(k, old)| fresh.get(*k).map(|o| &o.0) != Some(&old.0)).map(|(k, _)| k.clone()).collect();
                changed.extend(fresh.keys().filter(|k| !self.items.contains_key(*k)).cloned());
                changed.sort();
                self.items = fresh;
                self.listed = true;
                changed
            }
            watcher::Event::Apply(obj) => {
                let k = object_key(&obj);
                self.items.insert(k.clone(), entry(&obj));
                vec![k]
            }
            watcher::Event::Delete(obj) => {
                let k = object_key(&obj);
                self.items.remove(&k);
                vec![k]
            }
        }
    }

    /// Whether the initial list is in.
    pub fn listed(&self) -> bool {
        self.listed
    }

    /// The projection of the object under `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.items.get(key).map(|(_, v)| v)
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.items.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// How many objects are stored.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Node};
    use kube::api::ObjectMeta;

    fn cm(ns: &str, name: &str, rv: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn relist_reports_changed_new_and_vanished_keys_only() {
        let mut s: Store<String> = Store::default();
        let name = |c: &ConfigMap| c.metadata.name.clone().unwrap_or_default();
        s.apply(watcher::Event::Init, name);
        s.apply(watcher::Event::InitApply(cm("a", "same", "1")), name);
        s.apply(watcher::Event::InitApply(cm("a", "changed", "1")), name);
        s.apply(watcher::Event::InitApply(cm("a", "gone", "1")), name);
        assert_eq!(s.apply(watcher::Event::<ConfigMap>::InitDone, name), ["a/changed", "a/gone", "a/same"]);
        assert!(s.listed());
        s.apply(watcher::Event::Init, name);
        s.apply(watcher::Event::InitApply(cm("a", "same", "1")), name);
        s.apply(watcher::Event::InitApply(cm("a", "changed", "2")), name);
        s.apply(watcher::Event::InitApply(cm("b", "new", "1")), name);
        assert_eq!(s.apply(watcher::Event::<ConfigMap>::InitDone, name), ["a/changed", "a/gone", "b/new"]);
        assert_eq!(s.keys(), ["a/changed", "a/same", "b/new"]);
        assert_eq!(s.get("b/new").map(String::as_str), Some("new"));
    }

    #[test]
    fn cluster_scoped_objects_are_keyed_by_name() {
        let node = Node { metadata: ObjectMeta { name: Some("node1".into()), ..Default::default() }, ..Default::default() };
        let mut s: Store<()> = Store::default();
        assert_eq!(s.apply(watcher::Event::Apply(node.clone()), |_| ()), ["node1"]);
        assert!(s.get("node1").is_some());
        assert_eq!(s.apply(watcher::Event::Delete(node), |_| ()), ["node1"]);
        assert!(s.is_empty());
    }
}
