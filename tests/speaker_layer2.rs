//! `ferrolb speaker` in layer2 mode on real wires (issue 8 acceptance): three node namespaces
//! and one client on a bridge, the real API server, one speaker per node running in-cluster
//! as the `speaker` service account with memberlist off. Every wire observation comes from
//! tcpdump in the client namespace. Needs root, `ip`, `arping`, `ndisc6`, `tcpdump`, `curl`.
//!
//! * the node that v0.9's SHA-256 order picks answers ARP and NDP (NA with S=1 O=0 and its
//!   MAC as target link-layer address); the other nodes stay silent;
//! * moving the endpoints moves the owner: the new owner's gratuitous burst is captured
//!   (5 rounds of ARP request + reply, broadcast; unsolicited NAs S=0 O=1 to ff02::1), the
//!   old owner stops answering; the spacing is printed, not asserted;
//! * two Services sharing one IPv6 IP: answered, and the solicited-node group joined, while
//!   either is announced; both gone only when both are withdrawn;
//! * a config without the announced IP's pool is rejected (stale gauge 1) and the owner keeps
//!   answering; so it does after a flood of 5,000 malformed ARP frames (counted by reason);
//! * SIGTERM: exit 0 after v0.9's `op=shutdown` lines; Events `nodeAssigned` from `metallb-speaker`; v0.9's metric series.

mod speaker_support;
mod support;

use std::collections::BTreeSet;

use speaker_support::{FrameKind, SHARED6, V4, V6, mac_of, plan, run_scenario};
use support::{cluster, require_tool, serial};

#[test]
fn layer2_owner_answers_moves_with_a_burst_shares_ips_and_survives_a_bad_config() {
    let _serial = serial();
    for tool in ["arping", "ndisc6", "tcpdump", "curl"] {
        require_tool(tool);
    }
    let c = cluster();
    let p = plan();
    let obs = run_scenario(&c, &[env!("CARGO_BIN_EXE_ferrolb"), "speaker"]);
    println!("observed: {obs:#?}");

    let (first, moved) = (mac_of(&p.first_owner), mac_of(&p.moved_owner));
    assert_eq!(obs.arp_owner, BTreeSet::from([format!("{first} (eth src {first})")]), "only {} answers ARP", p.first_owner);
    assert_eq!(obs.na_owner, BTreeSet::from([(first.clone(), "solicited".to_string(), first.clone())]), "NA from the owner, S=1 O=0");
    assert!(
        obs.events.contains(&("nodeAssigned".into(), "metallb-speaker".into(), format!("announcing from node \"{}\"", p.first_owner))),
        "{:?}",
        obs.events
    );

    // The burst of the new owner: 5 rounds, both op codes, broadcast, sender = target = IP.
    let want_grat: BTreeSet<(String, String, FrameKind)> = BTreeSet::from([
        (moved.clone(), "ff:ff:ff:ff:ff:ff".into(), FrameKind::ArpRequest { target: V4.into(), sender: V4.into() }),
        (moved.clone(), "ff:ff:ff:ff:ff:ff".into(), FrameKind::ArpReply { ip: V4.into(), mac: moved.clone() }),
    ]);
    assert_eq!(obs.grat_arp, want_grat);
    assert_eq!(obs.grat_rounds, 5, "gratuitous rounds");
    println!("gratuitous spacing (s): {:?}", obs.grat_spacing);
    assert_eq!(obs.grat_na_count, 5, "unsolicited NAs");
    assert_eq!(
        obs.grat_na,
        BTreeSet::from([(moved.clone(), "33:33:00:00:00:01".into(), "override".into(), moved.clone(), "ff02::1".into())])
    );
    assert_eq!(obs.arp_after_move, BTreeSet::from([format!("{moved} (eth src {moved})")]), "only the new owner answers");
    assert_eq!(obs.na_after_move, BTreeSet::from([(moved.clone(), "solicited".to_string(), moved.clone())]));

    // Shared IP: answered and joined with two, with one; neither with none.
    let n3 = mac_of(speaker_support::NODES[2]);
    let answered = BTreeSet::from([(n3.clone(), "solicited".to_string(), n3.clone())]);
    assert_eq!(obs.shared, vec![(answered.clone(), true), (answered, true), (BTreeSet::new(), false)], "shared {SHARED6}");

    // Bad config: stale, old config in force, still answering.
    assert_eq!(obs.stale_after_bad, Some(1.0));
    assert_eq!(obs.arp_after_bad, BTreeSet::from([format!("{moved} (eth src {moved})")]));
    assert_eq!(obs.arp_after_garbage, BTreeSet::from([format!("{moved} (eth src {moved})")]), "answers after malformed frames");
    assert_eq!(obs.shutdown, vec![(true, true, true); 3], "SIGTERM: exit 0 with v0.9's shutdown lines");
    let m = &obs.owner_metrics;
    for want in [
        format!("metallb_speaker_announced{{service=\"speaker-l2/l2-b\",protocol=\"layer2\",node=\"{}\",ip=\"{V4}\"}} 1", p.moved_owner),
        format!("metallb_speaker_announced{{service=\"speaker-l2/l2-b6\",protocol=\"layer2\",node=\"{}\",ip=\"{V6}\"}} 1", p.moved_owner),
        "metallb_k8s_client_config_loaded_bool 1".to_string(),
        format!("metallb_layer2_gratuitous_sent{{ip=\"{V4}\"}} 10"),
        format!("metallb_layer2_gratuitous_sent{{ip=\"{V6}\"}} 5"),
    ] {
        assert!(m.contains(&want), "{want} missing from\n{m}");
    }
    for series in ["metallb_layer2_requests_received{ip=\"192.0.2.100\"}", "metallb_layer2_responses_sent{ip=\"192.0.2.100\"}"] {
        let v = speaker_support::metric_value(m, series).unwrap_or(0.0);
        assert!(v >= 1.0, "{series} = {v}\n{m}");
    }
    let malformed: f64 = m
        .lines()
        .filter(|l| l.starts_with("metallb_layer2_malformed_dropped_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(malformed >= 1000.0, "malformed frames counted: {malformed}\n{m}");
}
