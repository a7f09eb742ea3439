//! A core/v1 Event recorder (kube-runtime's recorder writes `events.k8s.io/v1`, which v0.9's
//! RBAC forbids). Like client-go's recorder, a repeat of the same (object, type, reason,
//! message) raises the first Event's `count` by PATCH instead of creating a new one.
//!
//! Like client-go's broadcaster, recording is asynchronous: [`Recorder::spawn`] moves the
//! recorder into a task fed by an unbounded channel, so a daemon's work loop never waits on an
//! Event write (for the controller, the status PUT is the only write on the critical path).
//! Events are written in the order they were sent; a failed write is logged and dropped.

use std::num::NonZeroUsize;
use std::time::{SystemTime, UNIX_EPOCH};

use lru::LruCache;

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;

/// (namespace, uid or name, type, reason, message): what makes two Events the same.
type EventKey = (String, String, String, String, String);

/// How many Events a recorder remembers for aggregation: client-go's correlator keeps the
/// 4,096 most recently used (`maxLruCacheEntries`). Past that the least recently used key is
/// forgotten and its next repeat creates a new Event instead of raising a count, as in v0.9;
/// without the bound every Service a long-running daemon ever saw stayed in memory.
pub const REMEMBERED_EVENTS: usize = 4096;

/// Records Events for one component (`metallb-controller`, `metallb-speaker`).
pub struct Recorder {
    client: Client,
    component: &'static str,
    /// The Events created lately, for aggregation: (name, count) by what makes them the same.
    seen: LruCache<EventKey, (String, i32)>,
}

fn remembered() -> LruCache<EventKey, (String, i32)> {
    LruCache::new(NonZeroUsize::new(REMEMBERED_EVENTS).expect("REMEMBERED_EVENTS is not zero"))
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
        Recorder { client, component, seen: remembered() }
    }

    /// Moves the recorder into a task; Events sent to the returned [`EventSender`] are written
    /// in order. The task ends when every sender is dropped.
    pub fn spawn(mut self) -> EventSender {
        let (tx, mut rx) = mpsc::unbounded_channel::<PendingEvent>();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if let Err(e) = self.record_target(&ev.target, ev.warning, &ev.reason, &ev.message).await {
                    crate::log_json!("op" => "recordEvent", "error" => e.to_string(), "object" => format!("{}/{}", ev.target.namespace, ev.target.name), "msg" => "failed to record event");
                }
            }
        });
        EventSender { tx }
    }

    /// Records an Event against `obj` (its kind and apiVersion from `K`).
    pub async fn record<K>(&mut self, obj: &K, warning: bool, reason: &str, message: &str) -> Result<(), kube::Error>
    where
        K: Resource<DynamicType = ()>,
    {
        self.record_target(&EventTarget::of(obj), warning, reason, message).await
    }

    async fn record_target(&mut self, obj: &EventTarget, warning: bool, reason: &str, message: &str) -> Result<(), kube::Error> {
        let ns = obj.namespace.clone();
        let type_ = if warning { "Warning" } else { "Normal" };
        let id = obj.uid.clone().unwrap_or_else(|| obj.name.clone());
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
            self.seen.pop(&key);
        }
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let name = format!("{}.{:x}", obj.name, nanos);
        let involved = ObjectReference {
            api_version: Some(obj.api_version.clone()),
            kind: Some(obj.kind.clone()),
            name: Some(obj.name.clone()),
            namespace: Some(ns.clone()),
            uid: obj.uid.clone(),
            resource_version: obj.resource_version.clone(),
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
        self.seen.put(key, (name, 1));
        Ok(())
    }
}

/// The object an Event is about (the fields of its `involvedObject`).
#[derive(Debug, Clone)]
pub struct EventTarget {
    api_version: String,
    kind: String,
    name: String,
    namespace: String,
    uid: Option<String>,
    resource_version: Option<String>,
}

impl EventTarget {
    /// The reference to `obj`; a cluster-scoped object's Events go to `default`.
    pub fn of<K: Resource<DynamicType = ()>>(obj: &K) -> EventTarget {
        EventTarget {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            name: obj.name_any(),
            namespace: obj.namespace().unwrap_or_else(|| "default".into()),
            uid: obj.uid(),
            resource_version: obj.resource_version(),
        }
    }
}

struct PendingEvent {
    target: EventTarget,
    warning: bool,
    reason: String,
    message: String,
}

/// The sending side of a spawned [`Recorder`].
#[derive(Clone)]
pub struct EventSender {
    tx: mpsc::UnboundedSender<PendingEvent>,
}

impl EventSender {
    /// Queues an Event against `obj`; never waits.
    pub fn record<K: Resource<DynamicType = ()>>(&self, obj: &K, warning: bool, reason: &str, message: &str) {
        let ev = PendingEvent { target: EventTarget::of(obj), warning, reason: reason.to_string(), message: message.to_string() };
        // The task only ends when the runtime does; a lost Event then is of no consequence.
        let _ = self.tx.send(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> EventKey {
        ("ns".into(), format!("uid-{i}"), "Normal".into(), "IPAllocated".into(), "Assigned IP".into())
    }

    #[test]
    fn the_aggregation_memory_is_bounded_like_client_go_and_keeps_the_recent_keys() {
        let mut seen = remembered();
        for i in 0..3 * REMEMBERED_EVENTS {
            seen.put(key(i), (format!("svc.{i}"), 1));
            // A repeat keeps a key recent.
            let _ = seen.get_mut(&key(0));
        }
        assert_eq!(seen.len(), REMEMBERED_EVENTS);
        assert!(seen.contains(&key(0)), "a key used lately stays");
        assert!(!seen.contains(&key(1)), "the least recently used go");
        assert!(seen.contains(&key(3 * REMEMBERED_EVENTS - 1)));
    }
}
