//! The layer2 announcement set (v0.9 `layer2.Announce`, spec §4.5), without sockets or clock.
//!
//! * service key → IP, and a refcount per IP: an IP is answered while at least one service
//!   using it is announced (D.7). Setting an already-present service is a no-op, even with
//!   another IP (the speaker withdraws first on an IP change). Nothing is sent on release.
//! * Solicited-node multicast groups, refcounted per NDP interface (two IPs can share a
//!   group): the returned [`GroupChange`]s say which the shell must join or leave.
//! * The v0.9.3 gratuitous burst, as a timer: started when an IP's refcount goes 0→1, for
//!   the service that added it; rounds at start + 0, 1.1, 2.2, 3.3, 4.4 s (rounds run while
//!   less than 5 s have elapsed); a round does nothing once that service is withdrawn.
//!
//! Divergences from v0.9 (documented): an NDP interface added later joins the groups of the
//! IPs already announced (v0.9 never did, so such an interface stayed silent for them until
//! they were re-announced), and a group refcount never goes below zero (v0.9's could, which
//! then skipped the next join).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use super::ndp::solicited_node_multicast;

/// Time between gratuitous rounds (MetalLB issue 172 chose 1.1 s).
pub const GRATUITOUS_INTERVAL: Duration = Duration::from_millis(1100);
/// Rounds are sent while less than this has elapsed since the burst started.
pub const GRATUITOUS_WINDOW: Duration = Duration::from_secs(5);

/// A multicast membership change for the NDP socket of an interface (by index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupChange {
    /// Join `group` on `interface` (log `op=watchMulticastGroup` on failure).
    Join {
        /// Interface index.
        interface: u32,
        /// Solicited-node multicast group.
        group: Ipv6Addr,
    },
    /// Leave `group` on `interface` (log `op=unwatchMulticastGroup` on failure).
    Leave {
        /// Interface index.
        interface: u32,
        /// Solicited-node multicast group.
        group: Ipv6Addr,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Burst {
    service: String,
    start: Instant,
    next_round: u32,
}

impl Burst {
    fn due(&self) -> Option<Instant> {
        let offset = GRATUITOUS_INTERVAL * self.next_round;
        (offset < GRATUITOUS_WINDOW).then(|| self.start + offset)
    }
}

/// The announcement set of one speaker.
#[derive(Debug, Clone, Default)]
pub struct Announcer {
    ips: BTreeMap<String, IpAddr>,
    refcount: BTreeMap<IpAddr, usize>,
    groups: BTreeMap<u32, BTreeMap<Ipv6Addr, usize>>,
    bursts: Vec<Burst>,
}

impl Announcer {
    /// An empty set with no NDP interfaces.
    pub fn new() -> Self {
        Self::default()
    }

    /// Announces `ip` for `service` at `now` (v0.9 `SetBalancer`).
    pub fn set_balancer(&mut self, service: &str, ip: IpAddr, now: Instant) -> Vec<GroupChange> {
        // Go keeps IPv4 in 16 bytes and compares by value: ::ffff:a.b.c.d is a.b.c.d.
        let ip = ip.to_canonical();
        if self.ips.contains_key(service) {
            return Vec::new();
        }
        self.ips.insert(service.to_owned(), ip);
        let count = self.refcount.entry(ip).or_insert(0);
        *count += 1;
        if *count > 1 {
            return Vec::new();
        }
        self.bursts.push(Burst { service: service.to_owned(), start: now, next_round: 0 });
        let IpAddr::V6(v6) = ip else { return Vec::new() };
        let group = solicited_node_multicast(v6);
        let interfaces: Vec<u32> = self.groups.keys().copied().collect();
        interfaces.into_iter().filter_map(|interface| self.watch(interface, group)).collect()
    }

    /// Stops announcing `service` (v0.9 `DeleteBalancer`); a no-op if it is not announced.
    pub fn delete_balancer(&mut self, service: &str) -> Vec<GroupChange> {
        let Some(ip) = self.ips.remove(service) else { return Vec::new() };
        let remaining = match self.refcount.get_mut(&ip) {
            Some(count) => {
                *count = count.saturating_sub(1);
                *count
            }
            None => 0,
        };
        if remaining > 0 {
            return Vec::new();
        }
        self.refcount.remove(&ip);
        let IpAddr::V6(v6) = ip else { return Vec::new() };
        let group = solicited_node_multicast(v6);
        let interfaces: Vec<u32> = self.groups.keys().copied().collect();
        interfaces.into_iter().filter_map(|interface| self.unwatch(interface, group)).collect()
    }

    /// Whether `service` is announced (v0.9 `AnnounceName`).
    pub fn is_announced(&self, service: &str) -> bool {
        self.ips.contains_key(service)
    }

    /// Whether requests for `ip` are answered: some announced service uses it.
    pub fn should_answer(&self, ip: IpAddr) -> bool {
        self.refcount.contains_key(&ip.to_canonical())
    }

    /// How many announced services use `ip`.
    pub fn refcount(&self, ip: IpAddr) -> usize {
        self.refcount.get(&ip).copied().unwrap_or(0)
    }

    /// An NDP responder was created on `interface`: join the groups of the announced IPv6 IPs.
    pub fn add_ndp_interface(&mut self, interface: u32) -> Vec<GroupChange> {
        if self.groups.contains_key(&interface) {
            return Vec::new();
        }
        // One count per announced IP, as if each had been added after the interface.
        let mut groups = BTreeMap::new();
        let changes = self
            .refcount
            .keys()
            .filter_map(|ip| match ip {
                IpAddr::V6(v6) => bump(&mut groups, interface, solicited_node_multicast(*v6)),
                IpAddr::V4(_) => None,
            })
            .collect();
        self.groups.insert(interface, groups);
        changes
    }

    /// The NDP responder of `interface` was closed (closing the socket leaves its groups).
    pub fn remove_ndp_interface(&mut self, interface: u32) {
        self.groups.remove(&interface);
    }

    /// The multicast groups currently joined on `interface`.
    pub fn joined_groups(&self, interface: u32) -> Vec<Ipv6Addr> {
        self.groups.get(&interface).map(|g| g.keys().copied().collect()).unwrap_or_default()
    }

    /// The IPs whose gratuitous round is due at `now`, one entry per round (the shell sends
    /// ARP request+reply per ARP interface for IPv4, one unsolicited NA per NDP interface for
    /// IPv6). Finished bursts are forgotten.
    pub fn due_gratuitous(&mut self, now: Instant) -> Vec<IpAddr> {
        let mut due = Vec::new();
        for burst in &mut self.bursts {
            while burst.due().is_some_and(|at| at <= now) {
                burst.next_round += 1;
                if let Some(ip) = self.ips.get(&burst.service) {
                    due.push(*ip);
                }
            }
        }
        self.bursts.retain(|b| b.due().is_some());
        due
    }

    /// When the next gratuitous round is due, if any burst is running.
    pub fn next_gratuitous(&self) -> Option<Instant> {
        self.bursts.iter().filter_map(Burst::due).min()
    }

    fn watch(&mut self, interface: u32, group: Ipv6Addr) -> Option<GroupChange> {
        bump(self.groups.get_mut(&interface)?, interface, group)
    }

    fn unwatch(&mut self, interface: u32, group: Ipv6Addr) -> Option<GroupChange> {
        let groups = self.groups.get_mut(&interface)?;
        let count = groups.get_mut(&group)?;
        *count -= 1;
        if *count > 0 {
            return None;
        }
        groups.remove(&group);
        Some(GroupChange::Leave { interface, group })
    }
}

fn bump(groups: &mut BTreeMap<Ipv6Addr, usize>, interface: u32, group: Ipv6Addr) -> Option<GroupChange> {
    let count = groups.entry(group).or_insert(0);
    *count += 1;
    (*count == 1).then_some(GroupChange::Join { interface, group })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn two_services_on_one_ip_count_twice_d7() {
        let mut a = Announcer::new();
        let now = Instant::now();
        a.set_balancer("foo", ip("192.168.1.20"), now);
        a.set_balancer("bar", ip("192.168.1.20"), now);
        assert!(a.is_announced("foo") && a.is_announced("bar"), "D.7");
        assert_eq!(a.refcount(ip("192.168.1.20")), 2, "D.7");
        a.delete_balancer("foo");
        assert!(a.should_answer(ip("192.168.1.20")), "still answered while bar uses it");
        a.delete_balancer("bar");
        assert!(!a.should_answer(ip("192.168.1.20")));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_same_ip_as_ipv4() {
        let mut a = Announcer::new();
        a.set_balancer("foo", ip("::ffff:192.0.2.1"), Instant::now());
        assert!(a.should_answer(ip("192.0.2.1")));
        assert_eq!(a.refcount(ip("192.0.2.1")), 1);
    }

    #[test]
    fn setting_a_present_service_again_is_a_no_op_even_with_another_ip() {
        let mut a = Announcer::new();
        let now = Instant::now();
        a.set_balancer("foo", ip("192.0.2.1"), now);
        a.set_balancer("foo", ip("192.0.2.2"), now);
        assert!(a.should_answer(ip("192.0.2.1")));
        assert!(!a.should_answer(ip("192.0.2.2")));
        assert_eq!(a.refcount(ip("192.0.2.1")), 1);
    }

    #[test]
    fn groups_are_joined_on_first_use_and_left_at_refcount_zero() {
        let mut a = Announcer::new();
        let now = Instant::now();
        assert_eq!(a.add_ndp_interface(3), vec![]);
        let group: Ipv6Addr = "ff02::1:ff00:10".parse().unwrap();
        assert_eq!(a.set_balancer("s1", ip("2001:db8::10"), now), vec![GroupChange::Join { interface: 3, group }]);
        assert_eq!(a.set_balancer("s2", ip("2001:db8::10"), now), vec![]);
        // Another IP with the same low 24 bits shares the group.
        assert_eq!(a.set_balancer("s3", ip("2001:db8:1::10"), now), vec![]);
        assert_eq!(a.delete_balancer("s1"), vec![]);
        assert_eq!(a.delete_balancer("s2"), vec![], "the group still serves 2001:db8:1::10");
        assert_eq!(a.delete_balancer("s3"), vec![GroupChange::Leave { interface: 3, group }]);
        assert_eq!(a.delete_balancer("s3"), vec![], "deleting twice is a no-op");
        assert_eq!(a.set_balancer("v4", ip("192.0.2.1"), now), vec![], "IPv4 joins nothing");
    }

    #[test]
    fn ndp_interface_added_later_joins_groups_of_announced_ips() {
        let mut a = Announcer::new();
        let now = Instant::now();
        a.set_balancer("s1", ip("2001:db8::10"), now);
        let group: Ipv6Addr = "ff02::1:ff00:10".parse().unwrap();
        assert_eq!(a.add_ndp_interface(7), vec![GroupChange::Join { interface: 7, group }]);
        assert_eq!(a.joined_groups(7), vec![group]);
        assert_eq!(a.delete_balancer("s1"), vec![GroupChange::Leave { interface: 7, group }]);
        a.remove_ndp_interface(7);
        assert!(a.joined_groups(7).is_empty());
    }

    #[test]
    fn gratuitous_burst_is_five_rounds_one_point_one_seconds_apart() {
        let mut a = Announcer::new();
        let t0 = Instant::now();
        let v4 = ip("192.0.2.9");
        a.set_balancer("svc", v4, t0);
        let mut rounds = Vec::new();
        let mut now = t0;
        while let Some(at) = a.next_gratuitous() {
            now = at;
            for due in a.due_gratuitous(now) {
                rounds.push((now - t0, due));
            }
        }
        let want: Vec<(Duration, IpAddr)> = (0..5).map(|k| (GRATUITOUS_INTERVAL * k, v4)).collect();
        assert_eq!(rounds, want);
        assert!(a.due_gratuitous(now + Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn gratuitous_burst_stops_when_its_service_is_withdrawn() {
        let mut a = Announcer::new();
        let t0 = Instant::now();
        a.set_balancer("svc", ip("192.0.2.9"), t0);
        assert_eq!(a.due_gratuitous(t0), vec![ip("192.0.2.9")]);
        a.delete_balancer("svc");
        assert!(a.due_gratuitous(t0 + Duration::from_secs(10)).is_empty());
        assert_eq!(a.next_gratuitous(), None);
    }

    #[test]
    fn only_the_first_user_of_an_ip_starts_a_burst() {
        let mut a = Announcer::new();
        let t0 = Instant::now();
        a.set_balancer("a", ip("192.0.2.9"), t0);
        a.set_balancer("b", ip("192.0.2.9"), t0 + Duration::from_millis(500));
        let all = a.due_gratuitous(t0 + Duration::from_secs(10));
        assert_eq!(all.len(), 5, "one burst of five rounds, caught up at once");
    }

    #[test]
    fn late_poll_catches_up_missed_rounds() {
        let mut a = Announcer::new();
        let t0 = Instant::now();
        a.set_balancer("a", ip("192.0.2.9"), t0);
        assert_eq!(a.due_gratuitous(t0 + Duration::from_millis(2300)).len(), 3);
        assert_eq!(a.next_gratuitous(), Some(t0 + GRATUITOUS_INTERVAL * 3));
    }

    proptest! {
        /// Model: a map service -> IP where the first set wins, and the groups of its IPv6 values.
        #[test]
        fn answered_ips_are_exactly_those_of_announced_services(ops in proptest::collection::vec((any::<bool>(), 0..4u8, 0..3u8), 0..40)) {
            let mut a = Announcer::new();
            a.add_ndp_interface(1);
            let mut model: BTreeMap<String, IpAddr> = BTreeMap::new();
            let now = Instant::now();
            let ips = [ip("2001:db8::1"), ip("2001:db8:1::1"), ip("192.0.2.1")];
            for (set, svc, which) in ops {
                let name = format!("s{svc}");
                if set {
                    a.set_balancer(&name, ips[usize::from(which)], now);
                    model.entry(name).or_insert(ips[usize::from(which)]);
                } else {
                    a.delete_balancer(&name);
                    model.remove(&name);
                }
                for candidate in ips {
                    prop_assert_eq!(a.should_answer(candidate), model.values().any(|v| *v == candidate));
                    prop_assert_eq!(a.refcount(candidate), model.values().filter(|v| **v == candidate).count());
                }
                let want_groups: BTreeSet<Ipv6Addr> = model.values().filter_map(|v| match v {
                    IpAddr::V6(v6) => Some(solicited_node_multicast(*v6)), IpAddr::V4(_) => None }).collect();
                prop_assert_eq!(a.joined_groups(1).into_iter().collect::<BTreeSet<_>>(), want_groups);
            }
        }
    }
}
