//! Issue 9, the mixed speaker cluster: a DaemonSet rolling update from MetalLB's speaker
//! (v0.9.6 reference, Go memberlist v0.1.7) to ferrolb's, with memberlist on as the manifest
//! configures it (`METALLB_ML_*` from `scripts/in-cluster`, the `memberlist` secret).
//!
//! Three node namespaces, 20 layer2 Services whose ready endpoints are spread over the nodes
//! (every fourth Service on all three nodes, the others on two of them), the status IPs set as
//! the controller would. One [`Prober`] in the client namespace asks for every IP every 200 ms
//! and records every ARP frame for the whole run.
//!
//! * The three reference speakers converge: every IP is answered by the owner v0.9's election
//!   picks among the endpoint nodes (only by it, over a whole second of probes).
//! * Node by node, as the DaemonSet controller does it: the old speaker gets SIGTERM (it leaves
//!   memberlist); the IPs move to the owners the election picks among the remaining members;
//!   ferrolb's speaker starts on the same node and joins; the IPs move back to the full
//!   cluster's owners. Each of these steps is checked after convergence.
//! * A ferrolb owner leaves (SIGTERM) and is started again: the IPs move to the next owners and
//!   back.
//! * Then that owner crashes (SIGKILL, the endpoints stay ready): memberlist declares it dead,
//!   the next owner in the election order answers, and its gratuitous burst is captured.
//! * Over the whole run (from the first convergence on), no round of requests for any IP was
//!   answered by two MACs (the window is one probe round, see `rolling_support`), with one
//!   allowance: a reference speaker answers until its process exits, also while its `Leave`
//!   waits up to 1 s for the broadcast that already made its peers take over (v0.9's own
//!   behaviour, seen Go-to-Go too). Rounds where the node being stopped is one of the two MACs,
//!   between its SIGTERM and its exit, are printed, not failed. And a second one: a reference
//!   speaker reacts to a membership change (here: ferrolb joining) through a rate-limited resync
//!   that can reach its last Services seconds later, answering for them until then (v0.9's own
//!   behaviour, see `rolling_support::ReferenceLog`); a round is allowed only when that
//!   speaker's log proves it (event before its reply, `serviceWithdrawn`/`notOwner` after).
//!   ferrolb has neither allowance. The handover gaps are printed.

mod rolling_support;
mod speaker_support;
mod support;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use rolling_support::{
    Impl, Prober, ReferenceLog, ReferenceShutdown, assert_one_mac_per_round, elected_owners,
    election_order, endpoint_nodes, print_handovers, spawn_speaker, Stage, stop, v4_of,
};
use speaker_support::{
    CLIENT, CONFIGMAP, NODES, NS, endpoints, mac_of, service,
};
use support::{Applied, InCluster, cluster, serial};

const N: usize = 20;
const POOL: &str =
    "address-pools:\n- name: rolling\n  protocol: layer2\n  addresses:\n  - 192.0.2.128/27\n";

fn name(i: usize) -> String {
    format!("rl-{i:02}")
}

fn ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 128 + i as u8)
}

/// The owner of every IP when `alive` are the memberlist members: its MAC.
fn expected(alive: &[&str]) -> BTreeMap<Ipv4Addr, String> {
    elected_owners(
        alive,
        (0..N).map(|i| (ip(i), format!("{NS}/{}", name(i)), endpoint_nodes(i))),
    )
}

fn converge(prober: &Prober, alive: &[&str], what: &str, speakers: &[&InCluster]) -> f64 {
    rolling_support::converge(prober, &expected(alive), alive, what, speakers)
}

#[test]
fn a_rolling_update_from_reference_to_ferrolb_speakers_keeps_exactly_one_elected_owner_per_ip() {
    let _serial = serial();
    let c = cluster();
    let _stage = Stage::up(&c, POOL);
    let mut objects: Vec<Applied> = Vec::new();
    for i in 0..N {
        objects.push(service(&c, &name(i), &ip(i).to_string()));
        objects.push(endpoints(&c, &name(i), &endpoint_nodes(i)));
    }
    let prober = Prober::start(CLIENT, v4_of(CLIENT), (0..N).map(ip).collect());

    let args = vec!["--port=7472".to_string(), format!("--config={CONFIGMAP}")];
    let mut speakers: Vec<InCluster> = NODES
        .iter()
        .map(|n| spawn_speaker(&c, n, Impl::Reference, &[], &args, true))
        .collect();
    let all: Vec<&str> = NODES.to_vec();
    let t_start = converge(
        &prober,
        &all,
        "three reference speakers",
        &speakers.iter().collect::<Vec<_>>(),
    );
    println!("reference cluster converged at {t_start:.3} s");

    let mut shutdowns: Vec<ReferenceShutdown> = Vec::new();
    let mut references: Vec<ReferenceLog> = Vec::new();
    for k in 0..NODES.len() {
        let node = NODES[k];
        let others: Vec<&str> = NODES.iter().copied().filter(|n| *n != node).collect();
        let t = prober.now();
        let old = &mut speakers[k];
        let graceful = stop(old, "TERM");
        shutdowns.push(ReferenceShutdown {
            mac: mac_of(node),
            signalled: t,
            exited: prober.now(),
        });
        references.push(ReferenceLog {
            mac: mac_of(node),
            lines: old.json_log(),
        });
        assert!(
            graceful,
            "the speaker on {node} exits 0 on SIGTERM; log:\n{}",
            old.log()
        );
        let moved = converge(
            &prober,
            &others,
            &format!("{node}'s old speaker stopped"),
            &speakers.iter().collect::<Vec<_>>(),
        );
        println!("step {k}: {node} stopped at {t:.3} s, converged at {moved:.3} s");

        let t = prober.now();
        speakers[k] = spawn_speaker(&c, node, Impl::Ferrolb, &[], &args, true);
        let join = speakers[k].wait_json(Duration::from_secs(60), "Memberlist join", |v| {
            v["msg"] == "Memberlist join"
        });
        assert!(
            join["nb joigned"].as_i64().is_some_and(|n| n >= 1),
            "ferrolb on {node} joined nobody: {join}"
        );
        let back = converge(
            &prober,
            &all,
            &format!("ferrolb on {node} started"),
            &speakers.iter().collect::<Vec<_>>(),
        );
        println!("step {k}: ferrolb on {node} started at {t:.3} s, converged at {back:.3} s");
    }

    // A ferrolb owner leaves (SIGTERM) and comes back: no allowance here, it is silent before
    // its leave goes out. Service 3 has endpoints on all three nodes.
    let order = election_order(&format!("{NS}/{}", name(3)), &all);
    let leaver = NODES
        .iter()
        .position(|n| *n == order[0])
        .expect("a node of ours");
    let t_leave = prober.now();
    assert!(
        stop(&mut speakers[leaver], "TERM"),
        "ferrolb exits 0 on SIGTERM; log:\n{}",
        speakers[leaver].log()
    );
    assert!(
        speakers[leaver]
            .json_log()
            .iter()
            .any(|v| v["msg"] == "left memberlist cluster"),
        "log:\n{}",
        speakers[leaver].log()
    );
    let survivors: Vec<&str> = NODES.iter().copied().filter(|n| *n != order[0]).collect();
    let t = converge(
        &prober,
        &survivors,
        &format!("ferrolb owner {} left", order[0]),
        &speakers.iter().collect::<Vec<_>>(),
    );
    println!(
        "leave: ferrolb on {} stopped at {t_leave:.3} s, converged at {t:.3} s",
        order[0]
    );
    speakers[leaver] = spawn_speaker(&c, &order[0], Impl::Ferrolb, &[], &args, true);
    let t = converge(
        &prober,
        &all,
        &format!("ferrolb on {} restarted", order[0]),
        &speakers.iter().collect::<Vec<_>>(),
    );
    println!("leave: ferrolb on {} back, converged at {t:.3} s", order[0]);

    // The owner crashes (its endpoints stay ready): the same node, killed this time.
    let victim = NODES
        .iter()
        .position(|n| *n == order[0])
        .expect("a node of ours");
    let owned: Vec<Ipv4Addr> = expected(&all)
        .into_iter()
        .filter(|(_, mac)| *mac == mac_of(&order[0]))
        .map(|(ip, _)| ip)
        .collect();
    let t_kill = prober.now();
    assert!(
        !stop(&mut speakers[victim], "KILL"),
        "SIGKILL is not a clean exit"
    );
    let survivors: Vec<&str> = NODES.iter().copied().filter(|n| *n != order[0]).collect();
    let t_over = converge(
        &prober,
        &survivors,
        &format!("owner {} crashed", order[0]),
        &speakers.iter().collect::<Vec<_>>(),
    );
    println!(
        "crash: {} killed at {t_kill:.3} s, converged at {t_over:.3} s",
        order[0]
    );
    let after = expected(&survivors);
    // The gratuitous burst of each new owner is captured (v0.9.4+ bursts on every announce).
    let burst_seen = support::wait_for(Duration::from_secs(10), || {
        let log = prober.log();
        owned
            .iter()
            .all(|ip| {
                log.gratuitous(*ip, t_kill)
                    .iter()
                    .any(|(_, mac)| *mac == after[ip])
            })
            .then_some(())
    });
    let log = prober.stop();
    assert!(
        burst_seen.is_some(),
        "no gratuitous burst from the new owners of {owned:?}: {:?}",
        owned
            .iter()
            .map(|ip| log.gratuitous(*ip, t_kill))
            .collect::<Vec<_>>()
    );
    for ip in &owned {
        let senders: std::collections::BTreeSet<String> = log
            .gratuitous(*ip, t_kill)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert_eq!(
            senders,
            [after[ip].clone()].into(),
            "only the new owner of {ip} bursts after the crash"
        );
    }
    let survivor = &speakers[(victim + 1) % NODES.len()];
    assert!(
        survivor
            .json_log()
            .iter()
            .any(|v| v["msg"] == "Node event" && v["node name"] == order[0].as_str()),
        "the crash was a memberlist event on the survivors; log:\n{}",
        survivor.log()
    );

    print_handovers(&log, (0..N).map(ip), t_start);
    let ips: Vec<(Ipv4Addr, String)> = (0..N).map(|i| (ip(i), format!("{NS}/{}", name(i)))).collect();
    assert_one_mac_per_round(&log, &ips, t_start, &shutdowns, &references);
    drop(objects);
}
