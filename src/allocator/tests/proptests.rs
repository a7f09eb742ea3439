//! The allocator against the model of v0.9 (`model.rs`): random sequences of assign,
//! allocate-from-pool, allocate, unassign and set-pools over random small pools of both
//! families (ranges, avoid-buggy-ips, auto-assign off), ports, sharing and backend keys.
//! Every step must give the same result and the same error text, and leave the same
//! observable state (IPs, pools, gauges, per-pool counts); the index must match the tables.

use std::net::IpAddr;

use ipnet::IpNet;
use proptest::prelude::*;

use super::model::{MPool, MPort, Model};
use crate::allocator::{Allocator, Port};
use crate::config::{Pool, Protocol, summarize};

/// Disjoint address blocks; a config hands some of them to its pools. Each is one config
/// entry: a CIDR, or a range expanded into CIDRs. They cover network and broadcast
/// addresses, .0/.255 at /24 edges and ranges that cross them.
fn blocks() -> Vec<Vec<IpNet>> {
    let range = |a: &str, b: &str| summarize(a.parse().unwrap(), b.parse().unwrap());
    vec![
        vec!["10.0.0.0/30".parse().unwrap()],
        vec!["10.0.0.4/31".parse().unwrap()],
        vec!["10.0.0.252/30".parse().unwrap()],
        vec!["10.0.1.0/32".parse().unwrap()],
        range("10.0.1.254", "10.0.2.1"),
        vec!["10.0.3.255/32".parse().unwrap()],
        vec!["2001:db8::/126".parse().unwrap()],
        vec!["2001:db8::10/127".parse().unwrap()],
        range("2001:db8::2:fffe", "2001:db8::3:1"),
        vec!["2001:db8::ff/128".parse().unwrap()],
    ]
}

const NAMES: [&str; 4] = ["a", "b", "c", "d"];
const SVCS: [&str; 6] = ["ns/a", "ns/a10", "ns/a2", "ns/b", "x/y", "ns/c"];
const PORTS: [(&str, u16); 4] = [("TCP", 80), ("TCP", 443), ("UDP", 53), ("UDP", 80)];
const SHARING: [&str; 3] = ["", "k1", "k2"];
const BACKEND: [&str; 2] = ["", "app=a"];

#[derive(Debug, Clone)]
struct PoolSpec {
    name: &'static str,
    cidrs: Vec<IpNet>,
    avoid: bool,
    auto: bool,
}

fn config() -> impl Strategy<Value = Vec<PoolSpec>> {
    let nblocks = blocks().len();
    (
        Just(NAMES.to_vec()).prop_shuffle(),
        proptest::collection::vec(0usize..5, nblocks),
        Just((0..nblocks).collect::<Vec<_>>()).prop_shuffle(),
        proptest::collection::vec((any::<bool>(), proptest::bool::weighted(0.8)), 3),
        1usize..=3,
    )
        .prop_map(|(names, owner, order, flags, npools)| {
            let blocks = blocks();
            (0..npools)
                .map(|p| PoolSpec {
                    name: names[p],
                    cidrs: order.iter().filter(|&&b| owner[b] == p).flat_map(|&b| blocks[b].clone()).collect(),
                    avoid: flags[p].0,
                    auto: flags[p].1,
                })
                .collect()
        })
}

#[derive(Debug, Clone)]
struct Req {
    ports: Vec<usize>,
    sharing: usize,
    backend: usize,
}

#[derive(Debug, Clone)]
enum Op {
    Assign { svc: usize, ip: usize, req: Req },
    FromPool { svc: usize, v6: bool, pool: usize, req: Req },
    Allocate { svc: usize, v6: bool, req: Req },
    Unassign { svc: usize },
    SetPools(usize),
}

fn req() -> impl Strategy<Value = Req> {
    (proptest::sample::subsequence((0..PORTS.len()).collect::<Vec<_>>(), 0..=3).prop_shuffle(), 0..SHARING.len(), 0..BACKEND.len())
        .prop_map(|(ports, sharing, backend)| Req { ports, sharing, backend })
}

fn op(nconfigs: usize) -> impl Strategy<Value = Op> {
    let svc = 0..SVCS.len();
    prop_oneof![
        3 => (svc.clone(), any::<proptest::sample::Index>(), req()).prop_map(|(svc, ip, req)| Op::Assign { svc, ip: ip.index(usize::MAX), req }),
        3 => (svc.clone(), any::<bool>(), 0..NAMES.len() + 1, req()).prop_map(|(svc, v6, pool, req)| Op::FromPool { svc, v6, pool, req }),
        4 => (svc.clone(), any::<bool>(), req()).prop_map(|(svc, v6, req)| Op::Allocate { svc, v6, req }),
        2 => svc.prop_map(|svc| Op::Unassign { svc }),
        1 => (0..nconfigs).prop_map(Op::SetPools),
    ]
}

fn scenario() -> impl Strategy<Value = (Vec<Vec<PoolSpec>>, Vec<Op>)> {
    proptest::collection::vec(config(), 1..4).prop_flat_map(|configs| {
        let n = configs.len();
        (Just(configs), proptest::collection::vec(op(n), 1..60))
    })
}

/// Every address of every block, plus addresses no config owns and an IPv4-mapped one.
fn ip_universe() -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = blocks().iter().flatten().flat_map(|n| n.hosts_all()).collect();
    ips.extend(["10.9.9.9", "2001:db8:ffff::1", "::ffff:10.0.0.1", "::ffff:10.0.1.0"].map(|s| s.parse::<IpAddr>().unwrap()));
    ips
}

trait HostsAll {
    fn hosts_all(&self) -> Vec<IpAddr>;
}

impl HostsAll for IpNet {
    fn hosts_all(&self) -> Vec<IpAddr> {
        match self {
            IpNet::V4(n) => (u32::from(n.network())..=u32::from(n.broadcast())).map(|x| IpAddr::V4(x.into())).collect(),
            IpNet::V6(n) => (u128::from(n.network())..=u128::from(n.broadcast())).map(|x| IpAddr::V6(x.into())).collect(),
        }
    }
}

fn to_pools(spec: &[PoolSpec]) -> (Vec<Pool>, Vec<MPool>) {
    let pools = spec
        .iter()
        .map(|p| Pool {
            name: p.name.into(),
            protocol: Protocol::Layer2,
            cidrs: p.cidrs.clone(),
            avoid_buggy_ips: p.avoid,
            auto_assign: p.auto,
            bgp_advertisements: vec![],
        })
        .collect();
    let model =
        spec.iter().map(|p| MPool { name: p.name.into(), cidrs: p.cidrs.clone(), avoid_buggy_ips: p.avoid, auto_assign: p.auto }).collect();
    (pools, model)
}

fn run(configs: &[Vec<PoolSpec>], ops: &[Op]) -> Result<(), TestCaseError> {
    let ips = ip_universe();
    let mut ours = Allocator::new();
    let mut model = Model::new();
    let (p, m) = to_pools(&configs[0]);
    prop_assert_eq!(ours.set_pools(&p).map(|u| u.removed).map_err(|e| e.to_string()), model.set_pools(m));
    for (step, op) in ops.iter().enumerate() {
        let ports = |r: &Req| -> (Vec<Port>, Vec<MPort>) {
            let ours = r.ports.iter().map(|&i| Port::new(PORTS[i].0, PORTS[i].1)).collect();
            let model = r.ports.iter().map(|&i| (PORTS[i].0.to_string(), PORTS[i].1)).collect();
            (ours, model)
        };
        let (got, want): (Result<String, String>, Result<String, String>) = match op {
            Op::Assign { svc, ip, req } => {
                let (po, pm) = ports(req);
                let ip = ips[ip % ips.len()];
                let (s, b) = (SHARING[req.sharing], BACKEND[req.backend]);
                (
                    ours.assign(SVCS[*svc], ip, &po, s, b).map(|()| String::new()).map_err(|e| e.to_string()),
                    model.assign(SVCS[*svc], ip, &pm, s, b).map(|()| String::new()),
                )
            }
            Op::FromPool { svc, v6, pool, req } => {
                let (po, pm) = ports(req);
                let name = NAMES.get(*pool).copied().unwrap_or("no-such-pool");
                let (s, b) = (SHARING[req.sharing], BACKEND[req.backend]);
                (
                    ours.allocate_from_pool(SVCS[*svc], *v6, name, &po, s, b).map(|ip| ip.to_string()).map_err(|e| e.to_string()),
                    model.allocate_from_pool(SVCS[*svc], *v6, name, &pm, s, b).map(|ip| ip.to_string()),
                )
            }
            Op::Allocate { svc, v6, req } => {
                let (po, pm) = ports(req);
                let (s, b) = (SHARING[req.sharing], BACKEND[req.backend]);
                (
                    ours.allocate(SVCS[*svc], *v6, &po, s, b).map(|ip| ip.to_string()).map_err(|e| e.to_string()),
                    model.allocate(SVCS[*svc], *v6, &pm, s, b).map(|ip| ip.to_string()),
                )
            }
            Op::Unassign { svc } => (Ok(ours.unassign(SVCS[*svc]).to_string()), Ok(model.unassign(SVCS[*svc]).to_string())),
            Op::SetPools(i) => {
                let (p, m) = to_pools(&configs[*i]);
                (ours.set_pools(&p).map(|u| u.removed.join(",")).map_err(|e| e.to_string()), model.set_pools(m).map(|r| r.join(",")))
            }
        };
        prop_assert_eq!(&got, &want, "step {} {:?}", step, op);
        for svc in SVCS {
            prop_assert_eq!(ours.ip_of(svc), model.ip_of(svc), "ip_of({}) after step {} {:?}", svc, step, op);
            prop_assert_eq!(ours.pool_of(svc).map(str::to_string), model.pool_of(svc), "pool_of({}) after step {}", svc, step);
        }
        let gauges: Vec<(String, (i64, i64))> =
            ours.pool_gauges().iter().map(|(n, g)| (n.clone(), (g.addresses_total, g.addresses_in_use_total as i64))).collect();
        let want_gauges: Vec<(String, (i64, i64))> = model.gauges.iter().map(|(n, g)| (n.clone(), *g)).collect();
        prop_assert_eq!(gauges, want_gauges, "gauges after step {} {:?}", step, op);
        for name in NAMES {
            if let Some(n) = ours.services_in_pool(name) {
                prop_assert_eq!(n as i64, model.services_in_pool(name), "services in {} after step {}", name, step);
            }
        }
        ours.check_index();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The allocator gives v0.9's answers, step by step.
    #[test]
    fn allocator_matches_the_v09_model((configs, ops) in scenario()) {
        run(&configs, &ops)?;
    }
}

/// A long deterministic run on one config with heavy sharing, so that the rare paths
/// (forgotten keys, sharing onto earlier addresses, port clashes) are surely exercised.
#[test]
fn long_sharing_heavy_run_matches_the_model() {
    let blocks = blocks();
    let config = vec![
        PoolSpec { name: "a", cidrs: [&blocks[0][..], &blocks[4][..], &blocks[6][..]].concat(), avoid: true, auto: true },
        PoolSpec { name: "b", cidrs: [&blocks[2][..], &blocks[8][..]].concat(), avoid: false, auto: true },
    ];
    let mut ops = Vec::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    for _ in 0..4000 {
        let req = Req {
            ports: (0..next(3)).map(|_| next(PORTS.len())).collect::<std::collections::BTreeSet<_>>().into_iter().collect(),
            sharing: 1 + next(2),
            backend: next(2),
        };
        let svc = next(SVCS.len());
        ops.push(match next(6) {
            0 => Op::Unassign { svc },
            1 => Op::Assign { svc, ip: next(64), req },
            2 => Op::FromPool { svc, v6: next(2) == 0, pool: next(2), req },
            _ => Op::Allocate { svc, v6: next(2) == 0, req },
        });
    }
    run(&[config], &ops).unwrap();
}
