//! The speaker's resync after a config reload (and after a memberlist event, which takes the
//! same path): every Service is looked at again at once, not through the rate limiter.
//!
//! v0.9's `ForceSync` re-adds every Service with `AddRateLimited`, and client-go's default
//! limiter is one token bucket per process: a burst of 100, then 10 per second. With 250
//! Services the last 150 wait up to 15 s; with 1,000 layer 2 Services the last ones move to a
//! new owner about 90 s after their node died. ferrolb re-adds them to the queue at once (see
//! `docs/differences.md`).
//!
//! The test needs no clock: the queue is first in, first out. One ferrolb speaker (node21,
//! memberlist off) with 250 layer 2 Services, each with a ready endpoint on node21; once it has looked at all of them, the config is
//! reloaded with one more pool (accepted: a reprocess-all), and as soon as the speaker logs
//! `configLoaded` a new Service is created. Its watch event comes after the reload, so with
//! every Service queued at the reload, all 250 are looked at again before it. Through the rate
//! limiter, most of the 250 would still be waiting when it arrives.

mod rolling_support;
mod speaker_support;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use rolling_support::{Impl, Stage, spawn_speaker};
use serde_json::{Value, json};
use speaker_support::{CONFIGMAP, NS, configmap};
use support::{cluster, serial, wait_for};

const N: usize = 250;
const POOL: &str = "address-pools:\n- name: resync\n  protocol: layer2\n  addresses:\n  - 192.0.2.0/24\n";
const POOL_AND_ONE_MORE: &str = "address-pools:\n- name: resync\n  protocol: layer2\n  addresses:\n  - 192.0.2.0/24\n- name: resync-more\n  protocol: layer2\n  addresses:\n  - 198.51.100.0/24\n";

fn name(i: usize) -> String {
    format!("rs-{i:03}")
}

/// A LoadBalancer Service (IPv6 single-stack ClusterIP: the harness' IPv4 service range is
/// small) labelled for this test.
fn service(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": NS, "labels": {"test": "speaker-resync"}},
           "spec": {"type": "LoadBalancer", "ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
                    "allocateLoadBalancerNodePorts": false, "ports": [{"port": 80, "protocol": "TCP"}]}})
}

/// The Endpoints of `name`: one ready address on node21.
fn endpoints(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Endpoints",
           "metadata": {"name": name, "namespace": NS, "labels": {"test": "speaker-resync"}},
           "subsets": [{"addresses": [{"ip": "203.0.113.31", "nodeName": "node21"}],
                        "ports": [{"port": 80, "protocol": "TCP"}]}]})
}

/// The Services this speaker looked at (`startUpdate` lines), in order, from log line `from` on.
fn looked_at(log: &[Value], from: usize) -> Vec<String> {
    log[from..]
        .iter()
        .filter(|v| v["event"] == "startUpdate")
        .filter_map(|v| v["service"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_config_reload_looks_at_every_service_again_before_a_later_change() {
    let _serial = serial();
    let c = cluster();
    let _stage = Stage::up(&c, POOL);
    let list = json!({"apiVersion": "v1", "kind": "List", "items": (0..N).map(|i| service(&name(i))).collect::<Vec<_>>()});
    let _services = c.apply(&list.to_string());
    // An Endpoints object each (v0.9 treats a Service without one as deleted), ready on node21.
    let eps = json!({"apiVersion": "v1", "kind": "List", "items": (0..N).map(|i| endpoints(&name(i))).collect::<Vec<_>>()});
    let _endpoints = c.apply(&eps.to_string());
    // Their IPs, as the controller would write them.
    let mut current = c.get_json(&["-n", NS, "svc", "-l", "test=speaker-resync"]);
    for s in current["items"].as_array_mut().expect("a list") {
        let i: usize = s["metadata"]["name"].as_str().unwrap()[3..].parse().unwrap();
        s["status"] = json!({"loadBalancer": {"ingress": [{"ip": format!("192.0.2.{i}")}]}});
    }
    let out = c.kubectl_stdin(&["replace", "--subresource=status", "-f", "-"], &current.to_string());
    assert!(out.status.success(), "status: {}", String::from_utf8_lossy(&out.stderr));

    let args = vec!["--port=7472".to_string(), format!("--config={CONFIGMAP}")];
    let mut speaker = spawn_speaker(&c, "node21", Impl::Ferrolb, &[], &args, false);
    let ours: BTreeSet<String> = (0..N).map(|i| format!("{NS}/{}", name(i))).collect();
    let all_seen = wait_for(Duration::from_secs(60), || {
        let seen: BTreeSet<String> = looked_at(&speaker.json_log(), 0).into_iter().collect();
        ours.is_subset(&seen).then_some(())
    });
    assert!(all_seen.is_some(), "the speaker did not look at every Service; log:\n{}", speaker.log());

    let before = speaker.json_log().len();
    let _reloaded = configmap(&c, POOL_AND_ONE_MORE);
    let loaded_at = wait_for(Duration::from_secs(30), || {
        speaker.json_log().iter().enumerate().skip(before).find(|(_, v)| v["event"] == "configLoaded").map(|(i, _)| i)
    });
    let loaded_at = loaded_at.unwrap_or_else(|| panic!("no configLoaded after the reload; log:\n{}", speaker.log()));
    let _later_endpoints = c.apply(&endpoints("rs-later").to_string());
    let _later = c.apply(&service("rs-later").to_string());
    let later = format!("{NS}/rs-later");
    speaker.wait_json(Duration::from_secs(30), "the later Service", |v| v["event"] == "startUpdate" && v["service"] == later.as_str());

    let order = looked_at(&speaker.json_log(), loaded_at);
    let at = order.iter().position(|s| *s == later).expect("the later Service was looked at");
    let before_it: BTreeSet<String> = order[..at].iter().cloned().collect();
    let missing: Vec<&String> = ours.difference(&before_it).collect();
    println!("after the reload: {at} Services looked at before the later one");
    assert!(
        missing.is_empty(),
        "{} of {N} Services were looked at again only after a change that came after the reload (first: {:?})",
        missing.len(),
        missing.first()
    );
    assert!(rolling_support::stop(&mut speaker, "TERM"), "exit 0 on SIGTERM; log:\n{}", speaker.log());
}
