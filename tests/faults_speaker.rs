//! Speakers under faults, on real wires (issue 21, item 1): a speaker SIGKILLed in a loop (a
//! crash loop of 10 restarts), and a node's link cut for 30 s and restored (a memberlist
//! partition, then the heal).
//!
//! Three ferrolb speakers with memberlist on, 20 layer2 Services (endpoints spread as in the
//! rolling-update test), and the ARP prober of `rolling_support` asking for every IP every 200 ms
//! from the client namespace. After each fault clears, every IP is answered by exactly the owner
//! v0.9's election picks among the live members; the time that took is measured and printed.
//! While the crash loop runs, no round is answered by two MACs. While the link is cut, both halves
//! announce (the cut node cannot be heard, and v0.9 does the same); after the heal, the time
//! until one owner per IP is left is printed, and from then on no round has two.

mod rolling_support;
mod speaker_support;
mod support;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use rolling_support::{Impl, Prober, Stage, assert_one_mac_per_round, elected_owners, endpoint_nodes, spawn_speaker, v4_of};
use speaker_support::{CLIENT, CONFIGMAP, NODES, NS, endpoints, service};
use support::{Applied, CutLink, InCluster, cluster, run_ok, serial};

const N: usize = 20;
const POOL: &str = "address-pools:\n- name: faults\n  protocol: layer2\n  addresses:\n  - 192.0.2.160/27\n";

fn name(i: usize) -> String {
    format!("fs-{i:02}")
}

fn ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 160 + i as u8)
}

fn expected(alive: &[&str]) -> BTreeMap<Ipv4Addr, String> {
    elected_owners(alive, (0..N).map(|i| (ip(i), format!("{NS}/{}", name(i)), endpoint_nodes(i))))
}

fn ips_with_keys() -> Vec<(Ipv4Addr, String)> {
    (0..N).map(|i| (ip(i), format!("{NS}/{}", name(i)))).collect()
}

/// The stage, the Services and their endpoints, the prober and three ferrolb speakers, converged.
/// Fields drop in order: the prober and the speakers first, the namespaces (in the stage) last.
struct World {
    prober: Prober,
    speakers: Vec<InCluster>,
    _objects: Vec<Applied>,
    _stage: Stage,
    c: std::sync::Arc<support::Cluster>,
}

fn args() -> Vec<String> {
    vec!["--port=7472".to_string(), format!("--config={CONFIGMAP}")]
}

impl World {
    fn up() -> (World, f64) {
        let c = cluster();
        let stage = Stage::up(&c, POOL);
        let mut objects = Vec::new();
        for i in 0..N {
            objects.push(service(&c, &name(i), &ip(i).to_string()));
            objects.push(endpoints(&c, &name(i), &endpoint_nodes(i)));
        }
        let prober = Prober::start(CLIENT, v4_of(CLIENT), (0..N).map(ip).collect());
        let speakers = NODES.iter().map(|n| spawn_speaker(&c, n, Impl::Ferrolb, &[], &args(), true)).collect();
        let w = World { prober, speakers, _objects: objects, _stage: stage, c };
        let t = w.converge(&NODES, "three ferrolb speakers");
        (w, t)
    }

    fn converge(&self, alive: &[&str], what: &str) -> f64 {
        rolling_support::converge(&self.prober, &expected(alive), alive, what, &self.speakers.iter().collect::<Vec<_>>())
    }
}

#[test]
fn a_speaker_crash_looping_ten_times_never_leaves_two_owners_and_each_restart_converges() {
    support::require_root();
    let _serial = serial();
    let (mut w, t_start) = World::up();
    let node = NODES[1];
    let others: Vec<&str> = NODES.iter().copied().filter(|n| *n != node).collect();
    let (mut takeover, mut back) = (vec![], vec![]);
    for k in 0..10 {
        let t_kill = w.prober.now();
        run_ok(Command::new("kill").args(["-KILL", &w.speakers[1].pid().to_string()]));
        support::wait_for(Duration::from_secs(10), || w.speakers[1].try_wait()).expect("the speaker dies of SIGKILL");
        takeover.push(w.converge(&others, &format!("restart {k}: {node} killed")) - t_kill);
        let t_start_again = w.prober.now();
        w.speakers[1] = spawn_speaker(&w.c, node, Impl::Ferrolb, &[], &args(), true);
        back.push(w.converge(&NODES, &format!("restart {k}: {node} back")) - t_start_again);
    }
    let log = w.prober.log();
    assert_one_mac_per_round(&log, &ips_with_keys(), t_start, &[], &[]);
    let fmt = |v: &[f64]| v.iter().map(|s| format!("{:.2}", s)).collect::<Vec<_>>().join(" ");
    println!("crash loop of {node}, 10 SIGKILLs: the others owned its IPs after [{}] s; after each restart one owner per IP again after [{}] s (the prober asks every 0.2 s and waits for a clean second)", fmt(&takeover), fmt(&back));
}

#[test]
fn a_node_cut_off_for_30_s_heals_to_one_owner_per_ip() {
    support::require_root();
    let _serial = serial();
    let (w, _) = World::up();
    let node = NODES[2];
    let others: Vec<&str> = NODES.iter().copied().filter(|n| *n != node).collect();
    let t_cut = w.prober.now();
    let cut = CutLink::cut(node);
    let took_over = w.converge(&others, &format!("{node} cut off")) - t_cut;
    std::thread::sleep(Duration::from_secs(30).saturating_sub(Duration::from_secs_f64(w.prober.now() - t_cut)));
    let t_heal = w.prober.now();
    drop(cut);
    let healed = w.converge(&NODES, &format!("{node} back on the wire"));
    // From one owner per IP on, it stays so (a second round of 5 s, then the whole log).
    std::thread::sleep(Duration::from_secs(5));
    let log = w.prober.log();
    let doubled: Vec<(Ipv4Addr, usize)> = (0..N).map(|i| (ip(i), log.conflicts(ip(i), t_heal).len())).filter(|(_, n)| *n > 0).collect();
    let last_doubled = (0..N).flat_map(|i| log.conflicts(ip(i), t_heal)).map(|c| c.round_start).fold(t_heal, f64::max);
    assert_one_mac_per_round(&log, &ips_with_keys(), healed, &[], &[]);
    println!(
        "{node} cut off for 30 s: the other half owned its IPs after {took_over:.2} s; after the heal, {} IPs were answered by both halves, the last such round {:.2} s after the heal; one owner per IP {:.2} s after the heal, and no second owner since",
        doubled.len(),
        last_doubled - t_heal,
        healed - t_heal
    );
}
