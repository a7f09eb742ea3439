//! The speaker's Events on its ConfigMap, against the real API server: a speaker that starts
//! (a swap from v0.9, a restart, a rolling update) writes nothing there; a reload writes
//! `ConfigLoaded`, as the controller does (`k8s::configmap::ConfigEventFilter`).

mod speaker_support;
mod support;

use std::time::Duration;

use speaker_support::{GOOD, NODES, Namespaces};
use support::{Cluster, InCluster, InClusterOpts, METALLB_NS, Topology, cluster, serial, wait_for};

/// A ConfigMap of this test's own, so no other suite's Events are on it.
const CONFIGMAP: &str = "speaker-events";

fn config(c: &std::sync::Arc<Cluster>, payload: &str) -> support::Applied {
    c.apply(
        &serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CONFIGMAP, "namespace": METALLB_NS}, "data": {"config": payload}})
        .to_string(),
    )
}

/// (reason, message) of the speakers' Events on the ConfigMap (its current uid).
fn speaker_events(c: &Cluster) -> Vec<(String, String)> {
    let uid = c.get_json(&["-n", METALLB_NS, "configmap", CONFIGMAP])["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let list = c.get_json(&[
        "-n",
        METALLB_NS,
        "events",
        "--field-selector",
        &format!("involvedObject.uid={uid}"),
    ]);
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| e["source"]["component"] == "metallb-speaker")
                .map(|e| (s(&e["reason"]), s(&e["message"])))
                .collect()
        })
        .unwrap_or_default()
}

fn start(c: &std::sync::Arc<Cluster>) -> InCluster {
    let opts = InClusterOpts {
        netns: Some(NODES[0].to_string()),
        no_memberlist: true,
        ..Default::default()
    };
    let config = format!("--config={CONFIGMAP}");
    let mut s = InCluster::spawn(
        c,
        "speaker",
        &opts,
        &[
            env!("CARGO_BIN_EXE_ferrolb"),
            "speaker",
            "--port=7472",
            &config,
        ],
    );
    s.wait_json(Duration::from_secs(30), "configLoaded", |v| {
        v["event"] == "configLoaded"
    });
    s
}

#[test]
fn a_started_or_restarted_speaker_writes_no_event_and_a_reload_writes_config_loaded() {
    let _serial = serial();
    let c = cluster();
    let _topo = Namespaces::up();
    let _node = c.node(NODES[0], &Topology::addr(NODES[0], "v4"));
    let _cfg = config(&c, GOOD);
    let first = start(&c);
    // The Event task writes within milliseconds; give a wrong Event time to show up.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        speaker_events(&c),
        vec![],
        "the first, clean load writes no Event"
    );
    drop(first);
    let mut again = start(&c);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(speaker_events(&c), vec![], "nor does a restart");
    let _reload = config(
        &c,
        &format!("{GOOD}- name: more\n  protocol: layer2\n  addresses: ['192.0.2.120/30']\n"),
    );
    let evs = wait_for(Duration::from_secs(20), || {
        let e = speaker_events(&c);
        (!e.is_empty()).then_some(e)
    });
    assert_eq!(
        evs,
        Some(vec![("ConfigLoaded".into(), "config (re)loaded".into())]),
        "a reload is recorded; speaker log:\n{}",
        again.log()
    );
    assert!(again.try_wait().is_none(), "the speaker still runs");
}
