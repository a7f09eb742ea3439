//! ferrolb's BGP shell against real routers (issue 10): BIRD 2 and FRR (Debian packages) and
//! GoBGP (scripts/ci-deps), each in its own client namespace, ferrolb on node1. Assertions
//! read the router's own RIB through its CLI. Needs root; the routers come from
//! `scripts/ci-deps`, and a missing one fails the test.
//!
//!     cargo test --test bgp_routers

mod bgp_support;
mod support;

use std::time::Duration;

use std::collections::BTreeSet;

use bgp_support::{Balancer, Kind, NODE, NODE_V4, NODE_V6, Route, Router, RouterConf, Speaker};
use ferrolb::election::{EndpointAddress, EndpointSubset, EndpointsView};
use ferrolb::speaker::decision::ServiceView;
use support::{Topology, require_root, wait_for};

/// Namespaces: node1 for ferrolb, client1..3 for BIRD, FRR and GoBGP.
fn topology() -> Topology {
    require_root();
    Topology::up(1, 3)
}

fn ns_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Bird => "client1",
        Kind::Frr => "client2",
        Kind::Gobgp => "client3",
    }
}

const WAIT: Duration = Duration::from_secs(30);

fn config(router: &Router, my_asn: u32, peer_asn: u32, password: Option<&str>) -> String {
    let pw = password.map(|p| format!("  password: {p}\n")).unwrap_or_default();
    format!(
        "peers:
- peer-address: {addr}
  peer-asn: {peer_asn}
  my-asn: {my_asn}
  hold-time: 9s
{pw}address-pools:
- name: public
  protocol: bgp
  addresses:
  - 198.51.100.0/24
  bgp-advertisements:
  - aggregation-length: 32
    localpref: 300
    communities: [\"64501:9\", \"64500:7\"]
  - aggregation-length: 24
    localpref: 200
- name: v6
  protocol: bgp
  addresses:
  - 2001:db8:100::/120
",
        addr = router.addr
    )
}

fn wait_established(router: &Router, speaker: &Speaker) {
    let peer = if router.addr.contains(':') { format!("[{}]:179", router.addr) } else { format!("{}:179", router.addr) };
    let up = wait_for(WAIT, || {
        (router.established() && speaker.metric(&format!("metallb_bgp_session_up{{peer=\"{peer}\"}}")) == Some(1.0)).then_some(())
    });
    assert!(up.is_some(), "{:?}: session not established; router log:\n{}", router.kind, router.log());
}

fn wait_route(router: &Router, v6: bool, prefix: &str) -> Route {
    wait_for(WAIT, || router.rib(v6).remove(prefix))
        .unwrap_or_else(|| panic!("{:?}: {prefix} never in the RIB: {:?}", router.kind, router.rib(v6)))
}

fn wait_gone(router: &Router, v6: bool, prefix: &str) {
    let gone = wait_for(WAIT, || (!router.rib(v6).contains_key(prefix)).then_some(()));
    assert!(gone.is_some(), "{:?}: {prefix} still in the RIB: {:?}", router.kind, router.rib(v6));
}

/// eBGP: the Service's /32 carries NEXT_HOP = our address, AS_PATH = our AS and the sorted
/// communities; the aggregation-length 24 advertisement yields the /24; deleting the Service
/// withdraws both; removing the peer sends Cease (Peer De-configured).
fn ebgp(kind: Kind) {
    let _t = topology();
    let router = Router::start(kind, ns_of(kind), RouterConf::v4(64501, 64500));
    let speaker = Speaker::start(NODE);
    speaker.config(&config(&router, 64500, 64501, None));
    speaker.service("default/web", "198.51.100.5");
    wait_established(&router, &speaker);

    let host = wait_route(&router, false, "198.51.100.5/32");
    assert_eq!(host.next_hop, NODE_V4, "{kind:?}");
    assert_eq!(host.as_path, vec![64500], "{kind:?}");
    assert_eq!(host.communities, vec!["64500:7", "64501:9"], "{kind:?}");
    let agg = wait_route(&router, false, "198.51.100.0/24");
    assert_eq!(agg.next_hop, NODE_V4, "{kind:?}");
    assert_eq!(agg.as_path, vec![64500], "{kind:?}");
    assert!(agg.communities.is_empty(), "{kind:?}: {agg:?}");
    if kind == Kind::Gobgp {
        // GoBGP shows attributes as received: eBGP UPDATEs carry no LOCAL_PREF.
        assert_eq!(host.local_pref, None);
    }

    speaker.delete("default/web");
    wait_gone(&router, false, "198.51.100.5/32");
    wait_gone(&router, false, "198.51.100.0/24");
    assert!(router.established(), "{kind:?}: withdrawing must not reset the session");
    let peer = format!("metallb_bgp_announced_prefixes_total{{peer=\"{}:179\"}}", router.addr);
    assert_eq!(speaker.metric(&peer), Some(0.0));

    // Peer removed from the config: Cease / Peer De-configured, then the series are gone.
    speaker.config("address-pools:\n- name: public\n  protocol: bgp\n  addresses:\n  - 198.51.100.0/24\n");
    let down = wait_for(WAIT, || (!router.established()).then_some(()));
    assert!(down.is_some(), "{kind:?}: session still up after the peer was removed");
    let why = wait_for(WAIT, || {
        let n = router.last_notification();
        cease_deconfigured(kind, &n).then_some(n)
    });
    assert!(why.is_some(), "{kind:?}: no Cease/Peer De-configured seen: {}", router.last_notification());
    let gone = wait_for(WAIT, || speaker.metric(&format!("metallb_bgp_session_up{{peer=\"{}:179\"}}", router.addr)).is_none().then_some(()));
    assert!(gone.is_some(), "session_up series must be deleted when the session closes");
    speaker.shutdown();
}

fn cease_deconfigured(kind: Kind, text: &str) -> bool {
    match kind {
        Kind::Bird => text.contains("Peer de-configured"),
        Kind::Frr => text.contains("Cease/Peer De-configured") || text.contains("Cease/Peer Unconfigured"),
        // GoBGP logs the received NOTIFICATION with its code and subcode (6/3).
        Kind::Gobgp => text.lines().any(|l| l.contains("\"Code\":6") && l.contains("\"Subcode\":3")),
    }
}

/// iBGP: an empty AS_PATH and the advertisement's LOCAL_PREF.
fn ibgp(kind: Kind) {
    let _t = topology();
    let router = Router::start(kind, ns_of(kind), RouterConf::v4(64500, 64500));
    let speaker = Speaker::start(NODE);
    speaker.config(&config(&router, 64500, 64500, None));
    speaker.service("default/web", "198.51.100.6");
    wait_established(&router, &speaker);
    let host = wait_route(&router, false, "198.51.100.6/32");
    assert_eq!(host.next_hop, NODE_V4, "{kind:?}");
    assert!(host.as_path.is_empty(), "{kind:?}: {host:?}");
    assert_eq!(host.local_pref, Some(300), "{kind:?}");
    assert_eq!(host.communities, vec!["64500:7", "64501:9"], "{kind:?}");
    let agg = wait_route(&router, false, "198.51.100.0/24");
    assert_eq!(agg.local_pref, Some(200), "{kind:?}");
    speaker.shutdown();
}

/// TCP MD5: a wrong password never gets a session (the router drops the unsigned SYNs); the
/// right one does, and the route arrives.
fn md5(kind: Kind) {
    let _t = topology();
    let router = Router::start(kind, ns_of(kind), RouterConf { asn: 64501, peer_asn: 64500, password: Some("s3cr3t-key".into()), ipv6: false });
    let speaker = Speaker::start(NODE);
    speaker.config(&config(&router, 64500, 64501, Some("wrong-key")));
    speaker.service("default/web", "198.51.100.7");
    // Long enough for the first dial to run into its 10 s deadline.
    let up = wait_for(Duration::from_secs(12), || router.established().then_some(()));
    assert!(up.is_none(), "{kind:?}: session came up with the wrong MD5 password");
    assert!(router.rib(false).is_empty(), "{kind:?}: routes arrived without the right MD5 password");
    let series = format!("metallb_bgp_session_up{{peer=\"{}:179\"}}", router.addr);
    assert_eq!(speaker.metric(&series), Some(0.0));

    // A changed password is a changed peer: the session is recreated with the new key.
    speaker.config(&config(&router, 64500, 64501, Some("s3cr3t-key")));
    wait_established(&router, &speaker);
    let host = wait_route(&router, false, "198.51.100.7/32");
    assert_eq!(host.next_hop, NODE_V4);
    speaker.shutdown();
}

/// The router restarts: ferrolb reconnects and advertises everything again.
fn restart(kind: Kind) {
    let _t = topology();
    let mut router = Router::start(kind, ns_of(kind), RouterConf::v4(64501, 64500));
    let speaker = Speaker::start(NODE);
    speaker.config(&config(&router, 64500, 64501, None));
    speaker.service("default/web", "198.51.100.8");
    wait_established(&router, &speaker);
    wait_route(&router, false, "198.51.100.8/32");

    router.stop();
    let series = format!("metallb_bgp_session_up{{peer=\"{}:179\"}}", router.addr);
    let down = wait_for(WAIT, || (speaker.metric(&series) == Some(0.0)).then_some(()));
    assert!(down.is_some(), "{kind:?}: ferrolb did not notice the router going away");
    std::thread::sleep(Duration::from_secs(1));
    router.restart();
    wait_established(&router, &speaker);
    let host = wait_route(&router, false, "198.51.100.8/32");
    assert_eq!(host.next_hop, NODE_V4);
    wait_route(&router, false, "198.51.100.0/24");
    speaker.shutdown();
}

/// An IPv6 Service over an IPv6 session: MP_REACH with our IPv6 address as next hop, in the
/// router's IPv6 RIB; and withdrawn again with MP_UNREACH.
fn ipv6(kind: Kind) {
    let _t = topology();
    let router = Router::start(kind, ns_of(kind), RouterConf { asn: 64501, peer_asn: 64500, password: None, ipv6: true });
    let speaker = Speaker::start(NODE);
    speaker.config(&config(&router, 64500, 64501, None));
    speaker.service("default/v6", "2001:db8:100::5");
    speaker.service("default/v4", "198.51.100.9");
    wait_established(&router, &speaker);
    let r = wait_route(&router, true, "2001:db8:100::5/128");
    assert_eq!(r.next_hop, NODE_V6, "{kind:?}");
    assert_eq!(r.as_path, vec![64500], "{kind:?}");
    // v0.9's validation allows IPv6 pools only the default advertisement: no communities.
    assert!(r.communities.is_empty(), "{kind:?}: {r:?}");
    // IPv4 keeps flowing on the IPv6 session, with the interface's IPv4 address as next hop.
    let v4 = wait_route(&router, false, "198.51.100.9/32");
    assert_eq!(v4.next_hop, NODE_V4, "{kind:?}");
    speaker.delete("default/v6");
    wait_gone(&router, true, "2001:db8:100::5/128");
    assert!(router.rib(false).contains_key("198.51.100.9/32"), "{kind:?}: IPv4 route lost with the IPv6 withdraw");
    speaker.shutdown();
}

#[test]
fn bird_ebgp_route_has_next_hop_as_path_communities_and_is_withdrawn() {
    ebgp(Kind::Bird);
}
#[test]
fn frr_ebgp_route_has_next_hop_as_path_communities_and_is_withdrawn() {
    ebgp(Kind::Frr);
}
#[test]
fn gobgp_ebgp_route_has_next_hop_as_path_communities_and_is_withdrawn() {
    ebgp(Kind::Gobgp);
}
#[test]
fn bird_ibgp_route_has_empty_as_path_and_localpref() {
    ibgp(Kind::Bird);
}
#[test]
fn frr_ibgp_route_has_empty_as_path_and_localpref() {
    ibgp(Kind::Frr);
}
#[test]
fn gobgp_ibgp_route_has_empty_as_path_and_localpref() {
    ibgp(Kind::Gobgp);
}
#[test]
fn bird_md5_wrong_password_stays_down_right_password_comes_up() {
    md5(Kind::Bird);
}
#[test]
fn frr_md5_wrong_password_stays_down_right_password_comes_up() {
    md5(Kind::Frr);
}
#[test]
fn gobgp_md5_wrong_password_stays_down_right_password_comes_up() {
    md5(Kind::Gobgp);
}
#[test]
fn bird_restart_is_survived_and_routes_are_readvertised() {
    restart(Kind::Bird);
}
#[test]
fn frr_restart_is_survived_and_routes_are_readvertised() {
    restart(Kind::Frr);
}
#[test]
fn gobgp_restart_is_survived_and_routes_are_readvertised() {
    restart(Kind::Gobgp);
}
#[test]
fn bird_ipv6_service_is_in_the_ipv6_rib() {
    ipv6(Kind::Bird);
}
#[test]
fn frr_ipv6_service_is_in_the_ipv6_rib() {
    ipv6(Kind::Frr);
}

/// iBGP end: the speaker's shutdown sends Cease / Administrative Shutdown.
fn shutdown_cease(kind: Kind) {
    let _t = topology();
    let router = Router::start(kind, ns_of(kind), RouterConf::v4(64501, 64500));
    let speaker = Speaker::start(NODE);
    speaker.config(&config(&router, 64500, 64501, None));
    wait_established(&router, &speaker);
    speaker.shutdown();
    let seen = wait_for(WAIT, || {
        let n = router.last_notification();
        match kind {
            Kind::Bird => n.contains("Administrative shutdown"),
            Kind::Frr => n.contains("Cease/Administrative Shutdown"),
            Kind::Gobgp => n.lines().any(|l| l.contains("\"Code\":6") && l.contains("\"Subcode\":2")),
        }
        .then_some(())
    });
    assert!(seen.is_some(), "{kind:?}: no Cease/Administrative Shutdown seen: {}", router.last_notification());
}

#[test]
fn bird_speaker_shutdown_sends_cease_administrative_shutdown() {
    shutdown_cease(Kind::Bird);
}
#[test]
fn frr_speaker_shutdown_sends_cease_administrative_shutdown() {
    shutdown_cease(Kind::Frr);
}
#[test]
fn gobgp_speaker_shutdown_sends_cease_administrative_shutdown() {
    shutdown_cease(Kind::Gobgp);
}

/// The hold timer is enforced (a fix over v0.9): BIRD is frozen with SIGSTOP, so its TCP
/// session stays open but nothing arrives; ferrolb drops the session after the negotiated
/// 9 s, and comes back once BIRD runs again.
#[test]
fn bird_frozen_peer_is_dropped_by_the_hold_timer() {
    let _t = topology();
    let router = Router::start(Kind::Bird, ns_of(Kind::Bird), RouterConf::v4(64501, 64500));
    let speaker = Speaker::start(NODE);
    speaker.config(&config(&router, 64500, 64501, None));
    speaker.service("default/web", "198.51.100.10");
    wait_established(&router, &speaker);
    router.pause(true);
    let series = format!("metallb_bgp_session_up{{peer=\"{}:179\"}}", router.addr);
    let dropped = wait_for(WAIT, || (speaker.metric(&series) == Some(0.0)).then_some(()));
    router.pause(false);
    assert!(dropped.is_some(), "a silent peer was not dropped after the hold time");
    wait_established(&router, &speaker);
    wait_route(&router, false, "198.51.100.10/32");
    speaker.shutdown();
}

// ---------------------------------------------------------------- D.4 and D.5 sequences

fn prefixes(router: &Router) -> BTreeSet<String> {
    router.rib(false).into_keys().collect()
}

fn wait_prefixes(router: &Router, want: &[&str], step: &str) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    let ok = wait_for(WAIT, || (prefixes(router) == want).then_some(()));
    assert!(ok.is_some(), "{step}: {:?} RIB {:?}, want {want:?}", router.kind, prefixes(router));
}

fn session_series(speaker: &Speaker, router: &Router) -> Option<f64> {
    speaker.metric(&format!("metallb_bgp_session_up{{peer=\"{}:179\"}}", router.addr))
}

fn lb(ip: &str) -> ServiceView {
    ServiceView { service_type: "LoadBalancer".into(), ingress_ips: if ip.is_empty() { vec![] } else { vec![ip.into()] }, ..Default::default() }
}

fn subset(ready: &[(&str, &str)], not_ready: &[(&str, &str)]) -> EndpointSubset {
    EndpointSubset {
        ready: ready.iter().map(|(ip, n)| EndpointAddress::on_node(ip, n)).collect(),
        not_ready: not_ready.iter().map(|(ip, n)| EndpointAddress::on_node(ip, n)).collect(),
    }
}

fn bal(key: &str, service: Option<ServiceView>, subsets: Option<Vec<EndpointSubset>>, local: bool) -> Balancer {
    Balancer { key: key.into(), service, endpoints: subsets.map(|subsets| EndpointsView { subsets }), traffic_policy_local: local }
}

fn d4_config(peers: &[&Router], ads: &str) -> String {
    let mut s = String::from("peers:\n");
    for r in peers {
        s.push_str(&format!("- peer-address: {}\n  peer-asn: 64501\n  my-asn: 64500\n  hold-time: 9s\n", r.addr));
    }
    s.push_str("address-pools:\n- name: default\n  protocol: bgp\n  addresses:\n  - 198.51.100.0/24\n  bgp-advertisements:\n");
    s.push_str(ads);
    s
}

/// Vector D.4 (`TestBGPSpeaker`) as a sequence against two real peers, BIRD and GoBGP:
/// the decision of spec §4.2 with BGP's endpoint rules, then the shell, then each router's
/// RIB. Node pandora is node1 here; 10.20.30.0/24 is 198.51.100.0/24; 1.2.3.4 is BIRD and
/// 1.2.3.5 is GoBGP.
#[test]
fn d4_bgp_speaker_sequence_against_bird_and_gobgp() {
    let _t = topology();
    let conf = RouterConf::v4(64501, 64500);
    let a = Router::start(Kind::Bird, ns_of(Kind::Bird), conf.clone());
    let b = Router::start(Kind::Gobgp, ns_of(Kind::Gobgp), conf);
    let sp = Speaker::start(NODE);
    let ip1 = "198.51.100.1";
    let ready_iris = || Some(vec![subset(&[("2.3.4.5", "iris")], &[])]);
    let agg32 = "  - aggregation-length: 32\n";

    // 1: no config: no sessions.
    sp.balancer(bal("test1", Some(lb(ip1)), ready_iris(), false));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(session_series(&sp, &a), None, "1: no session without config");
    // 2: config with peer A.
    sp.config(&d4_config(&[&a], agg32));
    wait_established(&a, &sp);
    wait_prefixes(&a, &[], "2");
    // 3: ClusterIP.
    sp.balancer(bal("test1", Some(ServiceView { service_type: "ClusterIP".into(), ingress_ips: vec![ip1.into()], ..Default::default() }), ready_iris(), false));
    wait_prefixes(&a, &[], "3");
    // 4: LB, Cluster, ready at iris.
    sp.balancer(bal("test1", Some(lb(ip1)), ready_iris(), false));
    wait_prefixes(&a, &["198.51.100.1/32"], "4");
    // 5: Local, endpoint only on iris.
    sp.balancer(bal("test1", Some(lb(ip1)), ready_iris(), true));
    wait_prefixes(&a, &[], "5 noLocalEndpoints");
    // 6: Local, a ready endpoint here.
    sp.balancer(bal("test1", Some(lb(ip1)), Some(vec![subset(&[("2.3.4.5", "iris"), ("2.3.4.6", NODE)], &[])]), true));
    wait_prefixes(&a, &["198.51.100.1/32"], "6");
    // 7: Local, the local IP is not ready in a second subset.
    let split = vec![subset(&[("2.3.4.5", "iris"), ("2.3.4.6", NODE)], &[]), subset(&[("2.3.4.5", "iris")], &[("2.3.4.6", NODE)])];
    sp.balancer(bal("test1", Some(lb(ip1)), Some(split), true));
    wait_prefixes(&a, &[], "7");
    // 8: Cluster, empty Endpoints.
    sp.balancer(bal("test1", Some(lb(ip1)), Some(vec![]), false));
    wait_prefixes(&a, &[], "8 noEndpoints");
    // 9: Cluster, only not ready.
    sp.balancer(bal("test1", Some(lb(ip1)), Some(vec![subset(&[], &[("2.3.4.5", "iris")])]), false));
    wait_prefixes(&a, &[], "9");
    // 10: Cluster, one ready somewhere.
    let mixed = || Some(vec![subset(&[("2.3.4.5", "iris")], &[("2.3.4.6", NODE)])]);
    sp.balancer(bal("test1", Some(lb(ip1)), mixed(), false));
    wait_prefixes(&a, &["198.51.100.1/32"], "10");
    // 11: two advertisements, communities and a /24.
    sp.config(&d4_config(
        &[&a],
        "  - aggregation-length: 32\n    localpref: 100\n    communities: [\"0:2345\", \"0:1234\"]\n  - aggregation-length: 24\n    localpref: 1000\n",
    ));
    sp.balancer(bal("test1", Some(lb(ip1)), mixed(), false));
    wait_prefixes(&a, &["198.51.100.1/32", "198.51.100.0/24"], "11");
    assert_eq!(a.rib(false)["198.51.100.1/32"].communities, vec!["0:1234", "0:2345"]);
    // 12: two peers.
    sp.config(&d4_config(&[&a, &b], agg32));
    sp.balancer(bal("test1", Some(lb(ip1)), mixed(), false));
    wait_established(&b, &sp);
    wait_prefixes(&a, &["198.51.100.1/32"], "12");
    wait_prefixes(&b, &["198.51.100.1/32"], "12");
    // 13: test2 without ingress.
    sp.balancer(bal("test2", Some(lb("")), ready_iris(), false));
    // 14: test2 gets .5.
    sp.balancer(bal("test2", Some(lb("198.51.100.5")), ready_iris(), false));
    for r in [&a, &b] {
        wait_prefixes(r, &["198.51.100.1/32", "198.51.100.5/32"], "14");
    }
    // 15: test2 shares .1.
    sp.balancer(bal("test2", Some(lb(ip1)), ready_iris(), false));
    for r in [&a, &b] {
        wait_prefixes(r, &["198.51.100.1/32"], "15");
    }
    // 16: test1 deleted; test2 still holds .1.
    sp.balancer(bal("test1", None, None, false));
    std::thread::sleep(Duration::from_millis(300));
    for r in [&a, &b] {
        wait_prefixes(r, &["198.51.100.1/32"], "16");
    }
    // 17: only peer B is left; A's session closes and its routes go.
    sp.config(&d4_config(&[&b], agg32));
    sp.balancer(bal("test2", Some(lb(ip1)), ready_iris(), false));
    let closed = wait_for(WAIT, || (session_series(&sp, &a).is_none() && !a.established()).then_some(()));
    assert!(closed.is_some(), "17: the session to the removed peer is still there");
    wait_prefixes(&a, &[], "17");
    wait_prefixes(&b, &["198.51.100.1/32"], "17");
    // 18: test2 deleted.
    sp.balancer(bal("test2", None, None, false));
    wait_prefixes(&b, &[], "18");
    assert!(b.established(), "18: an empty set keeps the session");
    sp.shutdown();
}

/// Vector D.5 (`TestNodeSelectors`) against real peers: BIRD selects every node, GoBGP only
/// through node selectors; sessions exist exactly when a selector matches node1's labels.
#[test]
fn d5_node_selectors_sequence_against_bird_and_gobgp() {
    let _t = topology();
    let conf = RouterConf::v4(64501, 64500);
    let a = Router::start(Kind::Bird, ns_of(Kind::Bird), conf.clone());
    let b = Router::start(Kind::Gobgp, ns_of(Kind::Gobgp), conf);
    let sp = Speaker::start(NODE);
    let cfg = |b_selectors: Option<&str>| {
        let mut s = format!("peers:\n- peer-address: {}\n  peer-asn: 64501\n  my-asn: 64500\n", a.addr);
        if let Some(sel) = b_selectors {
            s.push_str(&format!("- peer-address: {}\n  peer-asn: 64501\n  my-asn: 64500\n  node-selectors:\n{sel}", b.addr));
        }
        s.push_str("address-pools:\n- name: default\n  protocol: bgp\n  addresses:\n  - 198.51.100.0/24\n");
        s
    };
    let expect = |step: &str, b_runs: bool| {
        let ok = wait_for(WAIT, || {
            let b_ok = if b_runs { b.established() && session_series(&sp, &b) == Some(1.0) } else { session_series(&sp, &b).is_none() && !b.established() };
            (a.established() && b_ok).then_some(())
        });
        assert!(ok.is_some(), "{step}: want GoBGP session {b_runs}; series {:?}, GoBGP established {}", session_series(&sp, &b), b.established());
    };
    // 1: nothing.
    assert_eq!(session_series(&sp, &a), None);
    // 2: peer A for every node.
    sp.config(&cfg(None));
    expect("2", false);
    // 3: + B for foo=bar; labels still unknown.
    let foo_bar = "  - match-labels:\n      foo: bar\n";
    sp.config(&cfg(Some(foo_bar)));
    std::thread::sleep(Duration::from_millis(500));
    expect("3", false);
    // 4, 5: labels.
    sp.labels(&[("foo", "bar")]);
    expect("4", true);
    sp.labels(&[("foo", "baz")]);
    expect("5", false);
    // 6, 7: foo in (bar, baz).
    let foo_in = "  - match-expressions:\n    - key: foo\n      operator: In\n      values: [bar, baz]\n";
    sp.config(&cfg(Some(foo_in)));
    expect("6", true);
    sp.labels(&[("foo", "bar")]);
    expect("7", true);
    // 8, 9: two selectors, ORed.
    let either = "  - match-labels:\n      host: frontend\n  - match-expressions:\n    - key: foo\n      operator: In\n      values: [bar, baz]\n";
    sp.config(&cfg(Some(either)));
    expect("8", true);
    sp.labels(&[("host", "frontend")]);
    expect("9", true);
    sp.shutdown();
}
