//! A core/v1 Event recorder (kube-runtime's recorder writes `events.k8s.io/v1`, which v0.9's
//! RBAC forbids). Like client-go's recorder, a repeat of the same (object, type, reason,
//! message) raises the first Event's `count` by PATCH instead of creating a new one.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

/// (namespace, uid or name, type, reason, message): what makes two Events the same.
type EventKey = (String, String, String, String, String);

/// Records Events for one component (`metallb-controller`, `metallb-speaker`).
pub struct Recorder {
    client: Client,
    component: &'static str,
    /// The Events created so far, for aggregation.
    seen: HashMap<EventKey, (String, i32)>,
}

fn now_rfc3339_seconds() -> String {
    let s = crate::logging::rfc3339_nano(SystemTime::now());
    match s.split_once('.') {
        Some((whole, _)) => format!("{whole}Z"),
        None => s,
    }
}

impl Recorder {
    /// A recorder writing as `component`.
    pub fn new(client: Client, component: &'static str) -> Recorder {
        Recorder { client, component, seen: HashMap::new() }
    }

    /// Records an Event against `obj` (its kind and apiVersion from `K`).
    pub async fn record<K>(&mut self, obj: &K, warning: bool, reason: &str, message: &str) -> Result<(), kube::Error>
    where
        K: Resource<DynamicType = ()>,
    {
        let ns = obj.namespace().unwrap_or_else(|| "default".into());
        let type_ = if warning { "Warning" } else { "Normal" };
        let id = obj.uid().unwrap_or_else(|| obj.name_any());
        let key = (ns.clone(), id, type_.to_string(), reason.to_string(), message.to_string());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let now = now_rfc3339_seconds();
        if let Some((name, count)) = self.seen.get_mut(&key) {
            *count += 1;
            let patch = json!({"count": *count, "lastTimestamp": now, "message": message});
            if api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.is_ok() {
                return Ok(());
            }
            // The Event expired or was deleted: create a fresh one.
            self.seen.remove(&key);
        }
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let name = format!("{}.{:x}", obj.name_any(), nanos);
        let involved = ObjectReference {
            api_version: Some(K::api_version(&()).into_owned()),
            kind: Some(K::kind(&()).into_owned()),
            name: Some(obj.name_any()),
            namespace: Some(ns.clone()),
            uid: obj.uid(),
            resource_version: obj.resource_version(),
            ..ObjectReference::default()
        };
        let event: Event = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": self.component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }))
        .map_err(kube::Error::SerdeError)?;
        api.create(&PostParams::default(), &event).await?;
        self.seen.insert(key, (name, 1));
        Ok(())
    }
}
