//! A BGP router killed and restarted while Services change (issue 21, item 1): the speaker
//! peers with BIRD (iBGP) and GoBGP (eBGP) and announces 10 Services; BIRD is SIGKILLed, and
//! while it is down 3 Services go, 3 come and one loses its last ready endpoint. When BIRD is back,
//! its RIB holds exactly the Services announced now (none of the deleted, all of the new), with
//! the pool's attributes; GoBGP, which never went away, followed every change; the speaker
//! logged the lost session and its `metallb_bgp_session_up` went 0 and back to 1.

mod bgp_support;
mod speaker_support;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use bgp_support::{BIRD_AND_GOBGP_PEERS, NODE, Router, bird_and_gobgp, wait_rib_prefixes};
use speaker_support::{endpoints, ensure_namespace, isolate, metric_value, metrics, move_endpoints, service};
use support::{Applied, InCluster, InClusterOpts, Topology, cluster, config_map, require_root, serial, wait_for};

const CONFIGMAP: &str = "faults-bgp";
const WAIT: Duration = Duration::from_secs(90);
const BIRD_PEER: &str = "metallb_bgp_session_up{peer=\"192.0.2.51:179\"}";

fn config() -> String {
    format!("{BIRD_AND_GOBGP_PEERS}address-pools:\n- name: bgp\n  protocol: bgp\n  addresses:\n  - 198.51.100.0/24\n  bgp-advertisements:\n  - localpref: 250\n    communities: [\"64500:21\"]\n")
}

fn ip(i: usize) -> String {
    format!("198.51.100.{}", 60 + i)
}

fn prefixes(ids: &BTreeSet<usize>) -> Vec<String> {
    ids.iter().map(|i| format!("{}/32", ip(*i))).collect()
}

fn wait_rib(router: &Router, ids: &BTreeSet<usize>, step: &str, spk: &InCluster) {
    let want = prefixes(ids);
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    let rib = wait_rib_prefixes(router, &want, WAIT).unwrap_or_else(|| panic!("{step}: {:?} RIB {:?}, want {want:?}; speaker log:\n{}", router.kind, router.rib(false).keys().collect::<Vec<_>>(), spk.log()));
    for (p, r) in &rib {
        assert_eq!(r.communities, vec!["64500:21"], "{step}: {p} carries the pool's community");
    }
}

#[test]
fn a_bgp_router_killed_while_services_change_gets_exactly_todays_routes_when_it_is_back() {
    require_root();
    let _serial = serial();
    let c = cluster();
    let _topo = Topology::up(1, 3);
    let _node = c.node(NODE, &Topology::addr(NODE, "v4"));
    ensure_namespace(&c);
    let _isolation = isolate(&c);
    let _cfg = config_map(&c, CONFIGMAP, &config());
    let mut objects: std::collections::BTreeMap<usize, (Applied, Applied)> = (0..10).map(|i| (i, (service(&c, &format!("fb-{i}"), &ip(i)), endpoints(&c, &format!("fb-{i}"), &[NODE])))).collect();
    let (mut bird, gobgp) = bird_and_gobgp();
    let opts = InClusterOpts { netns: Some(NODE.into()), no_memberlist: true, ..Default::default() };
    let flag = format!("--config={CONFIGMAP}");
    let spk = InCluster::spawn(&c, "speaker", &opts, &[env!("CARGO_BIN_EXE_ferrolb"), "speaker", "--port=7472", &flag]);
    let mut live: BTreeSet<usize> = (0..10).collect();
    wait_rib(&bird, &live, "start (BIRD)", &spk);
    wait_rib(&gobgp, &live, "start (GoBGP)", &spk);
    let mark = spk.log().len();

    // BIRD dies; meanwhile Services change, and the speaker must notice the lost session.
    let changes = std::thread::scope(|s| {
        let bird_thread = s.spawn(|| bird.kill_and_start(Duration::from_secs(10)));
        let down = wait_for(Duration::from_secs(30), || (metric_value(&metrics(NODE), BIRD_PEER) == Some(0.0)).then_some(()));
        for i in 0..3 {
            objects.remove(&i);
            live.remove(&i);
        }
        for i in 10..13 {
            objects.insert(i, (service(&c, &format!("fb-{i}"), &ip(i)), endpoints(&c, &format!("fb-{i}"), &[NODE])));
            live.insert(i);
        }
        move_endpoints(&c, "fb-5", &[]);
        live.remove(&5);
        wait_rib(&gobgp, &live, "while BIRD is down (GoBGP)", &spk);
        bird_thread.join().expect("BIRD restarted");
        down.is_some()
    });
    assert!(changes, "BIRD was killed and the session gauge never showed 0:\n{}", metrics(NODE));
    wait_rib(&bird, &live, "BIRD back", &spk);
    let up = wait_for(WAIT, || (metric_value(&metrics(NODE), BIRD_PEER) == Some(1.0)).then_some(()));
    assert!(up.is_some(), "the session to BIRD is up again:\n{}", metrics(NODE));
    let errors: Vec<serde_json::Value> = support::json_objects(&spk.log()[mark..]).into_iter().filter(|l| l.get("error").is_some() || l["op"] == "bgp").collect();
    assert!(!errors.is_empty(), "the lost session left no log line");
    println!(
        "BIRD SIGKILLed for 10 s while 3 Services went, 3 came and 1 lost its endpoint: back with exactly the {} routes announced now; GoBGP followed meanwhile; {} log lines about it, first: {}",
        live.len(),
        errors.len(),
        errors[0]
    );
    drop(spk);
}
