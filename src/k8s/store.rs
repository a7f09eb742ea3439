//! A reflector store fed by kube-runtime watcher events: the objects by key (`ns/name`, or
//! `name` for cluster-scoped kinds, as client-go's `MetaNamespaceKeyFunc`), with a relist
//! (watch restart after 410 Gone) replacing the store and reporting every key that changed or
//! vanished, so a missed event is harmless (level-triggered).

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

/// Objects of one kind, by key.
pub struct Store<K> {
    items: HashMap<String, K>,
    buffer: Option<HashMap<String, K>>,
    listed: bool,
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Store { items: HashMap::new(), buffer: None, listed: false }
    }
}

impl<K: kube::Resource + Clone> Store<K> {
    /// Applies one watcher event; returns the keys whose object changed (or appeared or
    /// vanished).
    pub fn apply(&mut self, event: watcher::Event<K>) -> Vec<String> {
        match event {
            watcher::Event::Init => {
                self.buffer = Some(HashMap::new());
                vec![]
            }
            watcher::Event::InitApply(obj) => {
                if let Some(b) = self.buffer.as_mut() {
                    b.insert(object_key(&obj), obj);
                }
                vec![]
            }
            watcher::Event::InitDone => {
                let fresh = self.buffer.take().unwrap_or_default();
                let mut changed: Vec<String> = self
                    .items
                    .iter()
                    .filter(|(k, old)| fresh.get(*k).map(|o| o.resource_version()) != Some(old.resource_version()))
                    .map(|(k, _)| k.clone())
                    .collect();
                changed.extend(fresh.keys().filter(|k| !self.items.contains_key(*k)).cloned());
                changed.sort();
                self.items = fresh;
                self.listed = true;
                changed
            }
            watcher::Event::Apply(obj) => {
                let k = object_key(&obj);
                self.items.insert(k.clone(), obj);
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

    /// The object under `key`.
    pub fn get(&self, key: &str) -> Option<&K> {
        self.items.get(key)
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
        let mut s = Store::default();
        s.apply(watcher::Event::Init);
        s.apply(watcher::Event::InitApply(cm("a", "same", "1")));
        s.apply(watcher::Event::InitApply(cm("a", "changed", "1")));
        s.apply(watcher::Event::InitApply(cm("a", "gone", "1")));
        assert_eq!(s.apply(watcher::Event::InitDone), ["a/changed", "a/gone", "a/same"]);
        assert!(s.listed());
        s.apply(watcher::Event::Init);
        s.apply(watcher::Event::InitApply(cm("a", "same", "1")));
        s.apply(watcher::Event::InitApply(cm("a", "changed", "2")));
        s.apply(watcher::Event::InitApply(cm("b", "new", "1")));
        assert_eq!(s.apply(watcher::Event::InitDone), ["a/changed", "a/gone", "b/new"]);
        assert_eq!(s.keys(), ["a/changed", "a/same", "b/new"]);
    }

    #[test]
    fn cluster_scoped_objects_are_keyed_by_name() {
        let node = Node { metadata: ObjectMeta { name: Some("node1".into()), ..Default::default() }, ..Default::default() };
        let mut s = Store::default();
        assert_eq!(s.apply(watcher::Event::Apply(node.clone())), ["node1"]);
        assert!(s.get("node1").is_some());
        assert_eq!(s.apply(watcher::Event::Delete(node)), ["node1"]);
        assert!(s.is_empty());
    }
}
