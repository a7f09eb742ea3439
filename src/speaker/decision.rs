//! The speaker's per-service decision (v0.9 `SetBalancer`, spec §4.2) and its config
//! acceptance (`SetConfig`, vectors G), as pure functions.
//!
//! The shell owns the reflector stores, the protocol handlers and the metrics; it calls
//! [`decide`] for a service key, performs the [`Decision`], and records the result in its
//! [`Announcements`] with [`Announcements::announced`] / [`Announcements::withdrawn`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::config::{Config, Protocol};
use crate::election::EndpointsView;

/// The part of a core/v1 Service that the speaker reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceView {
    /// `spec.type`
    pub service_type: String,
    /// `status.loadBalancer.ingress[].ip`, unparsed (hostname-only entries give `""`).
    pub ingress_ips: Vec<String>,
    /// `spec.externalTrafficPolicy` is `Local` (BGP announces only with a local endpoint).
    pub traffic_policy_local: bool,
}

/// Why a service is (or would be) withdrawn; `Display` is v0.9's `reason` log value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WithdrawReason {
    /// `serviceDeleted`: the Service or its Endpoints object is absent.
    ServiceDeleted,
    /// `notLoadBalancer`
    NotLoadBalancer,
    /// `noIPAllocated`: the ingress list does not have exactly one entry.
    NoIpAllocated,
    /// `invalidIP`
    InvalidIp,
    /// `ipNotAllowed`: the IP is in no pool of the config.
    IpNotAllowed,
    /// `internalError` (unreachable with a validated config; kept for the log vocabulary).
    InternalError,
    /// `protocolChanged`
    ProtocolChanged,
    /// `loadBalancerIPChanged`
    LoadBalancerIpChanged,
    /// `notOwner` (layer2)
    NotOwner,
    /// `noLocalEndpoints` (bgp)
    NoLocalEndpoints,
    /// `noEndpoints` (bgp)
    NoEndpoints,
}

impl WithdrawReason {
    /// v0.9's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawReason::ServiceDeleted => "serviceDeleted",
            WithdrawReason::NotLoadBalancer => "notLoadBalancer",
            WithdrawReason::NoIpAllocated => "noIPAllocated",
            WithdrawReason::InvalidIp => "invalidIP",
            WithdrawReason::IpNotAllowed => "ipNotAllowed",
            WithdrawReason::InternalError => "internalError",
            WithdrawReason::ProtocolChanged => "protocolChanged",
            WithdrawReason::LoadBalancerIpChanged => "loadBalancerIPChanged",
            WithdrawReason::NotOwner => "notOwner",
            WithdrawReason::NoLocalEndpoints => "noLocalEndpoints",
            WithdrawReason::NoEndpoints => "noEndpoints",
        }
    }
}

impl fmt::Display for WithdrawReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What this speaker currently announces for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement {
    /// The protocol announcing it.
    pub protocol: Protocol,
    /// The announced IP.
    pub ip: IpAddr,
}

/// The outcome of one pass of the per-service logic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No config loaded yet: log `event=noConfig`, change nothing, succeed.
    NoConfig,
    /// The service must not be announced. If it is, delete it from `withdraw.protocol` and
    /// log `serviceWithdrawn` with `reason`; otherwise nothing happens.
    Withdraw {
        /// The reason v0.9 logs: the first withdraw step that applied.
        reason: WithdrawReason,
        /// The announcement to remove, if there is one.
        withdraw: Option<Announcement>,
    },
    /// Announce `ip` with `protocol` (idempotent in the handlers), after withdrawing
    /// `replacing` if the service was announced with another protocol or IP.
    Announce {
        /// The IP, canonical (an IPv4-mapped IPv6 ingress is an IPv4 address, as in Go).
        ip: IpAddr,
        /// The pool whose CIDRs contain `ip`.
        pool: String,
        /// The pool's protocol.
        protocol: Protocol,
        /// The previous announcement to remove first, and why.
        replacing: Option<(WithdrawReason, Announcement)>,
    },
}

/// The inputs v0.9 looks at for one service key.
#[derive(Debug, Clone, Copy)]
pub struct ServiceInput<'a> {
    /// The Service, if present in the store.
    pub service: Option<&'a ServiceView>,
    /// The Endpoints object of the same ns/name, if present.
    pub endpoints: Option<&'a EndpointsView>,
}

/// The pool whose CIDRs contain `ip` (containment only; the speaker ignores avoid-buggy-ips).
pub fn pool_for(config: &Config, ip: IpAddr) -> Option<&crate::config::Pool> {
    config.pools.iter().find(|p| p.cidrs.iter().any(|c| c.contains(&ip)))
}

/// The log line v0.9 writes before withdrawing with `invalidIP` (`error` value).
pub fn invalid_ip_error(raw: &str) -> String {
    format!("invalid LoadBalancer IP {}", crate::config::quote(raw))
}

/// One pass of v0.9's per-service logic (spec §4.2, steps 1-9). `current` is what this
/// speaker announces for the service; `handler` is the protocol handler's ShouldAnnounce for
/// the pool's protocol (`None` = announce, `Some(reason)` = withdraw).
pub fn decide(
    input: ServiceInput<'_>,
    config: Option<&Config>,
    current: Option<Announcement>,
    handler: impl FnOnce(Protocol) -> Option<WithdrawReason>,
) -> Decision {
    let withdraw = |reason| Decision::Withdraw { reason, withdraw: current };
    let (Some(service), Some(_)) = (input.service, input.endpoints) else {
        return withdraw(WithdrawReason::ServiceDeleted);
    };
    if service.service_type != "LoadBalancer" {
        return withdraw(WithdrawReason::NotLoadBalancer);
    }
    let Some(config) = config else {
        return Decision::NoConfig;
    };
    let [ingress] = service.ingress_ips.as_slice() else {
        return withdraw(WithdrawReason::NoIpAllocated);
    };
    let Some(ip) = parse_go_ip(ingress) else {
        return withdraw(WithdrawReason::InvalidIp);
    };
    let Some(pool) = pool_for(config, ip) else {
        return withdraw(WithdrawReason::IpNotAllowed);
    };
    // Steps 7 and 8: a withdraw forgets the service, so at most one of them applies.
    let replacing = current.and_then(|cur| {
        if cur.protocol != pool.protocol {
            Some((WithdrawReason::ProtocolChanged, cur))
        } else if cur.ip != ip {
            Some((WithdrawReason::LoadBalancerIpChanged, cur))
        } else {
            None
        }
    });
    if let Some(reason) = handler(pool.protocol) {
        return match replacing {
            // v0.9 logs the earlier withdraw; the handler's withdraw is then a no-op.
            Some((first, cur)) => Decision::Withdraw { reason: first, withdraw: Some(cur) },
            None => withdraw(reason),
        };
    }
    Decision::Announce { ip, pool: pool.name.clone(), protocol: pool.protocol, replacing }
}

/// Go's `net.ParseIP` for the forms Kubernetes stores; IPv4-mapped IPv6 is IPv4, as in Go.
fn parse_go_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// A speaker config rejected because an announced IP would be in no pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service has no configuration under new config")]
pub struct ConfigRejected {
    /// The announced service whose IP is in no pool of the new config (log key `service`).
    pub service: String,
    /// Its IP (log key `ip`).
    pub ip: IpAddr,
}

/// The services this speaker announces (v0.9's `announced` and `svcIP` maps).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Announcements {
    by_service: BTreeMap<String, Announcement>,
}

impl Announcements {
    /// What is announced for `service_key`.
    pub fn get(&self, service_key: &str) -> Option<Announcement> {
        self.by_service.get(service_key).copied()
    }

    /// Every announced service, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Announcement)> {
        self.by_service.iter().map(|(k, a)| (k.as_str(), *a))
    }

    /// The handler accepted the announcement. Like v0.9, an existing record is kept (the
    /// decision withdrew it first if protocol or IP differed).
    pub fn announced(&mut self, service_key: &str, announcement: Announcement) {
        self.by_service.entry(service_key.to_owned()).or_insert(announcement);
    }

    /// The handler deleted the announcement.
    pub fn withdrawn(&mut self, service_key: &str) -> Option<Announcement> {
        self.by_service.remove(service_key)
    }

    /// v0.9's speaker `SetConfig` check: every announced IP must be inside some pool of
    /// `new`. On rejection the config is marked stale and the old one stays in force.
    pub fn accept_config(&self, new: &Config) -> Result<(), ConfigRejected> {
        match self.by_service.iter().find(|(_, a)| pool_for(new, a.ip).is_none()) {
            Some((service, a)) => Err(ConfigRejected { service: service.clone(), ip: a.ip }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pool;
    use crate::election::{EndpointAddress, EndpointSubset, is_owner};

    fn config(pools: &[(&str, Protocol, &str)]) -> Config {
        Config {
            peers: vec![],
            pools: pools
                .iter()
                .map(|(name, protocol, cidr)| Pool {
                    name: (*name).into(),
                    protocol: *protocol,
                    cidrs: vec![cidr.parse().unwrap()],
                    avoid_buggy_ips: false,
                    auto_assign: true,
                    bgp_advertisements: vec![],
                })
                .collect(),
        }
    }

    fn lb(ips: &[&str]) -> ServiceView {
        ServiceView { service_type: "LoadBalancer".into(), ingress_ips: ips.iter().map(|s| (*s).into()).collect(), ..Default::default() }
    }

    fn eps_on(nodes: &[&str]) -> EndpointsView {
        EndpointsView {
            subsets: vec![EndpointSubset {
                ready: nodes.iter().map(|n| EndpointAddress::on_node("10.1.1.1", n)).collect(),
                not_ready: vec![],
            }],
        }
    }

    fn l2(ip: &str) -> Announcement {
        Announcement { protocol: Protocol::Layer2, ip: ip.parse().unwrap() }
    }

    fn announce_all(_: Protocol) -> Option<WithdrawReason> {
        None
    }

    #[test]
    fn per_service_steps_give_v09_reasons_in_order() {
        let cfg = config(&[("default", Protocol::Layer2, "10.20.30.0/24")]);
        let eps = eps_on(&["iris1"]);
        let cur = Some(l2("10.20.30.1"));
        let mut cluster_ip = lb(&["10.20.30.1"]);
        cluster_ip.service_type = "ClusterIP".into();
        let svc = lb(&["10.20.30.1"]);
        let two = lb(&["10.20.30.1", "10.20.30.2"]);
        let bad = lb(&["10.20.30.x"]);
        let outside = lb(&["10.99.0.1"]);
        type Case<'a> = (&'a str, Option<&'a ServiceView>, Option<&'a EndpointsView>, Option<&'a Config>, WithdrawReason);
        let cases: &[Case] = &[
            ("service absent", None, Some(&eps), Some(&cfg), WithdrawReason::ServiceDeleted),
            ("endpoints absent", Some(&svc), None, Some(&cfg), WithdrawReason::ServiceDeleted),
            ("not a LoadBalancer, even without config", Some(&cluster_ip), Some(&eps), None, WithdrawReason::NotLoadBalancer),
            ("two ingress entries", Some(&two), Some(&eps), Some(&cfg), WithdrawReason::NoIpAllocated),
            ("unparsable IP", Some(&bad), Some(&eps), Some(&cfg), WithdrawReason::InvalidIp),
            ("IP in no pool", Some(&outside), Some(&eps), Some(&cfg), WithdrawReason::IpNotAllowed),
        ];
        for (name, service, endpoints, config, want) in cases {
            let got = decide(ServiceInput { service: *service, endpoints: *endpoints }, *config, cur, announce_all);
            assert_eq!(got, Decision::Withdraw { reason: *want, withdraw: cur }, "{name}");
        }
        let no_ingress = lb(&[]);
        let got = decide(ServiceInput { service: Some(&no_ingress), endpoints: Some(&eps) }, Some(&cfg), None, announce_all);
        assert_eq!(got, Decision::Withdraw { reason: WithdrawReason::NoIpAllocated, withdraw: None });
    }

    #[test]
    fn no_config_is_reported_after_the_load_balancer_check() {
        let eps = eps_on(&["iris1"]);
        let svc = lb(&["10.20.30.1"]);
        let got = decide(ServiceInput { service: Some(&svc), endpoints: Some(&eps) }, None, None, announce_all);
        assert_eq!(got, Decision::NoConfig);
    }

    #[test]
    fn owner_announces_and_non_owner_withdraws_not_owner() {
        // D.2 #3: iris2 owns `test1` when both nodes are ready.
        let cfg = config(&[("default", Protocol::Layer2, "10.20.30.0/24")]);
        let eps = eps_on(&["iris1", "iris2"]);
        let svc = lb(&["10.20.30.1"]);
        let input = ServiceInput { service: Some(&svc), endpoints: Some(&eps) };
        let layer2_for = |node: &'static str| {
            let eps = eps.clone();
            move |_: Protocol| (!is_owner(node, "test1", &eps, None)).then_some(WithdrawReason::NotOwner)
        };
        assert_eq!(
            decide(input, Some(&cfg), None, layer2_for("iris2")),
            Decision::Announce { ip: "10.20.30.1".parse().unwrap(), pool: "default".into(), protocol: Protocol::Layer2, replacing: None }
        );
        assert_eq!(
            decide(input, Some(&cfg), Some(l2("10.20.30.1")), layer2_for("iris1")),
            Decision::Withdraw { reason: WithdrawReason::NotOwner, withdraw: Some(l2("10.20.30.1")) }
        );
    }

    #[test]
    fn changed_protocol_or_ip_withdraws_first_then_announces() {
        let eps = eps_on(&["iris1"]);
        let svc = lb(&["10.20.30.1"]);
        let input = ServiceInput { service: Some(&svc), endpoints: Some(&eps) };
        let l2cfg = config(&[("default", Protocol::Layer2, "10.20.30.0/24")]);
        let bgp_cur = Announcement { protocol: Protocol::Bgp, ip: "10.20.30.1".parse().unwrap() };
        // G row 2: bgp -> layer2 in the same pool range.
        assert_eq!(
            decide(input, Some(&l2cfg), Some(bgp_cur), announce_all),
            Decision::Announce {
                ip: "10.20.30.1".parse().unwrap(),
                pool: "default".into(),
                protocol: Protocol::Layer2,
                replacing: Some((WithdrawReason::ProtocolChanged, bgp_cur)),
            }
        );
        let old = l2("10.20.30.9");
        assert_eq!(
            decide(input, Some(&l2cfg), Some(old), announce_all),
            Decision::Announce {
                ip: "10.20.30.1".parse().unwrap(),
                pool: "default".into(),
                protocol: Protocol::Layer2,
                replacing: Some((WithdrawReason::LoadBalancerIpChanged, old)),
            }
        );
        // The earlier withdraw is what v0.9 logs when the handler then declines.
        assert_eq!(
            decide(input, Some(&l2cfg), Some(old), |_| Some(WithdrawReason::NotOwner)),
            Decision::Withdraw { reason: WithdrawReason::LoadBalancerIpChanged, withdraw: Some(old) }
        );
    }

    #[test]
    fn ipv4_mapped_ingress_is_the_ipv4_address_as_in_go() {
        let cfg = config(&[("default", Protocol::Layer2, "10.20.30.0/24")]);
        let eps = eps_on(&["iris1"]);
        let svc = lb(&["::ffff:10.20.30.7"]);
        let got = decide(ServiceInput { service: Some(&svc), endpoints: Some(&eps) }, Some(&cfg), Some(l2("10.20.30.7")), announce_all);
        assert_eq!(
            got,
            Decision::Announce { ip: "10.20.30.7".parse().unwrap(), pool: "default".into(), protocol: Protocol::Layer2, replacing: None }
        );
    }

    #[test]
    fn reasons_and_error_texts_are_v09_spellings() {
        let all = [
            (WithdrawReason::ServiceDeleted, "serviceDeleted"),
            (WithdrawReason::NotLoadBalancer, "notLoadBalancer"),
            (WithdrawReason::NoIpAllocated, "noIPAllocated"),
            (WithdrawReason::InvalidIp, "invalidIP"),
            (WithdrawReason::IpNotAllowed, "ipNotAllowed"),
            (WithdrawReason::InternalError, "internalError"),
            (WithdrawReason::ProtocolChanged, "protocolChanged"),
            (WithdrawReason::LoadBalancerIpChanged, "loadBalancerIPChanged"),
            (WithdrawReason::NotOwner, "notOwner"),
            (WithdrawReason::NoLocalEndpoints, "noLocalEndpoints"),
            (WithdrawReason::NoEndpoints, "noEndpoints"),
        ];
        for (reason, text) in all {
            assert_eq!(reason.to_string(), text);
        }
        assert_eq!(invalid_ip_error("1.2.3"), r#"invalid LoadBalancer IP "1.2.3""#);
    }

    #[test]
    fn config_that_drops_an_announced_ip_is_rejected_g() {
        let mut ann = Announcements::default();
        ann.announced("ns/a", l2("10.0.0.5"));
        // G row 1.
        let err = ann.accept_config(&config(&[("p", Protocol::Layer2, "10.1.0.0/24")])).unwrap_err();
        assert_eq!(err.to_string(), "service has no configuration under new config");
        assert_eq!((err.service.as_str(), err.ip), ("ns/a", "10.0.0.5".parse().unwrap()));
        // G row 2: same range, other protocol: accepted (the next pass withdraws and re-announces).
        assert_eq!(ann.accept_config(&config(&[("p", Protocol::Bgp, "10.0.0.0/24")])), Ok(()));
        assert_eq!(Announcements::default().accept_config(&Config::default()), Ok(()));
    }

    #[test]
    fn announcement_record_is_kept_until_withdrawn() {
        let mut ann = Announcements::default();
        ann.announced("ns/a", l2("10.0.0.5"));
        ann.announced("ns/a", l2("10.0.0.6"));
        assert_eq!(ann.get("ns/a"), Some(l2("10.0.0.5")));
        assert_eq!(ann.withdrawn("ns/a"), Some(l2("10.0.0.5")));
        assert_eq!(ann.get("ns/a"), None);
    }
}
