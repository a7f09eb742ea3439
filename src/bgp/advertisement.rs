//! The desired-state table of one session (spec §4.6 "Desired-state sync"): the set of
//! advertisements keyed by prefix, what the peer has been sent, and the changes that bring
//! the peer to the desired set. Level-triggered: the same desired set always yields the same
//! changes from the same sent state, and a reconnect starts from "the peer has nothing".

use std::collections::BTreeMap;

use ipnet::IpNet;

/// v0.9 rejects more communities than fit its 1-byte attribute length.
pub const MAX_COMMUNITIES: usize = 63;

/// What a route carries besides its prefix. Communities are kept sorted ascending, as v0.9
/// sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteAttributes {
    pub local_pref: u32,
    pub communities: Vec<u32>,
}

impl RouteAttributes {
    pub fn new(local_pref: u32, mut communities: Vec<u32>) -> Self {
        communities.sort_unstable();
        RouteAttributes {
            local_pref,
            communities,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    pub prefix: IpNet,
    pub attributes: RouteAttributes,
}

/// v0.9's `Set` validation texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvertisementError {
    #[error("max supported communities is 63, got {0}")]
    TooManyCommunities(usize),
}

/// Prefixes grouped by identical attributes, ready to be packed into UPDATEs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub announce: BTreeMap<RouteAttributes, Vec<IpNet>>,
    pub withdraw: Vec<IpNet>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.announce.is_empty() && self.withdraw.is_empty()
    }
}

#[derive(Debug, Clone, Default)]
pub struct AdvertisementTable {
    desired: BTreeMap<IpNet, RouteAttributes>,
    /// What the connected peer holds from us; `None` while there is no session.
    sent: Option<BTreeMap<IpNet, RouteAttributes>>,
}

impl AdvertisementTable {
    /// Replaces the desired set. On an error nothing changes (v0.9 validates before storing).
    /// Duplicate prefixes collapse; the last one wins (v0.9: "arbitrarily", in practice the
    /// last of the list it is given).
    pub fn set(
        &mut self,
        ads: impl IntoIterator<Item = Advertisement>,
    ) -> Result<(), AdvertisementError> {
        let mut desired = BTreeMap::new();
        for ad in ads {
            if ad.attributes.communities.len() > MAX_COMMUNITIES {
                return Err(AdvertisementError::TooManyCommunities(
                    ad.attributes.communities.len(),
                ));
            }
            let mut attributes = ad.attributes;
            attributes.communities.sort_unstable();
            desired.insert(ad.prefix.trunc(), attributes);
        }
        self.desired = desired;
        Ok(())
    }

    pub fn desired(&self) -> &BTreeMap<IpNet, RouteAttributes> {
        &self.desired
    }

    /// `pending_prefixes_total`.
    pub fn pending(&self) -> usize {
        self.desired.len()
    }

    /// `announced_prefixes_total` while connected.
    pub fn announced(&self) -> Option<usize> {
        self.sent.as_ref().map(BTreeMap::len)
    }

    /// A new session: the peer holds nothing yet.
    pub fn connected(&mut self) {
        self.sent = Some(BTreeMap::new());
    }

    /// The session is gone; the peer drops our routes with it.
    pub fn disconnected(&mut self) {
        self.sent = None;
    }

    /// The changes that bring the peer from what it was sent to the desired set, restricted
    /// to prefixes the session can carry (`sendable`), and records them as sent. `None`
    /// while disconnected.
    pub fn sync(&mut self, sendable: impl Fn(&IpNet) -> bool) -> Option<Changes> {
        let sent = self.sent.as_mut()?;
        let mut changes = Changes::default();
        for (prefix, attrs) in self.desired.iter().filter(|(p, _)| sendable(p)) {
            if sent.get(prefix) != Some(attrs) {
                changes
                    .announce
                    .entry(attrs.clone())
                    .or_default()
                    .push(*prefix);
            }
        }
        changes.withdraw = sent
            .keys()
            .filter(|p| !self.desired.contains_key(p) || !sendable(p))
            .copied()
            .collect();
        *sent = self
            .desired
            .iter()
            .filter(|(p, _)| sendable(p))
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        Some(changes)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ad(p: &str, lp: u32, comms: &[u32]) -> Advertisement {
        Advertisement {
            prefix: p.parse().unwrap(),
            attributes: RouteAttributes::new(lp, comms.to_vec()),
        }
    }

    #[test]
    fn more_than_63_communities_is_rejected_with_v09_text_and_keeps_the_old_set() {
        let mut t = AdvertisementTable::default();
        t.set([ad("192.0.2.1/32", 0, &[])]).unwrap();
        let comms: Vec<u32> = (0..64).collect();
        let err = t.set([ad("192.0.2.2/32", 0, &comms)]).unwrap_err();
        assert_eq!(err.to_string(), "max supported communities is 63, got 64");
        assert_eq!(t.pending(), 1);
    }

    #[test]
    fn d4_step_15_duplicate_prefixes_collapse_into_one() {
        let mut t = AdvertisementTable::default();
        t.set([ad("10.20.30.1/32", 0, &[]), ad("10.20.30.1/32", 0, &[])])
            .unwrap();
        assert_eq!(t.pending(), 1);
    }

    #[test]
    fn unchanged_prefixes_are_not_resent_and_removed_ones_are_withdrawn_together() {
        let mut t = AdvertisementTable::default();
        t.set([
            ad("192.0.2.1/32", 0, &[]),
            ad("192.0.2.2/32", 0, &[]),
            ad("192.0.2.3/32", 0, &[]),
        ])
        .unwrap();
        t.connected();
        assert_eq!(
            t.sync(|_| true)
                .unwrap()
                .announce
                .values()
                .map(Vec::len)
                .sum::<usize>(),
            3
        );
        t.set([ad("192.0.2.1/32", 0, &[]), ad("192.0.2.4/32", 100, &[2, 1])])
            .unwrap();
        let c = t.sync(|_| true).unwrap();
        assert_eq!(c.announce.len(), 1);
        assert_eq!(
            c.announce[&RouteAttributes::new(100, vec![1, 2])],
            vec!["192.0.2.4/32".parse::<IpNet>().unwrap()]
        );
        assert_eq!(
            c.withdraw,
            vec![
                "192.0.2.2/32".parse::<IpNet>().unwrap(),
                "192.0.2.3/32".parse().unwrap()
            ]
        );
        assert!(
            t.sync(|_| true).unwrap().is_empty(),
            "a second sync has nothing to do"
        );
    }

    #[test]
    fn changed_attributes_are_reannounced_not_withdrawn() {
        let mut t = AdvertisementTable::default();
        t.set([ad("192.0.2.1/32", 0, &[])]).unwrap();
        t.connected();
        t.sync(|_| true);
        t.set([ad("192.0.2.1/32", 200, &[])]).unwrap();
        let c = t.sync(|_| true).unwrap();
        assert!(c.withdraw.is_empty());
        assert_eq!(c.announce.len(), 1);
    }

    #[test]
    fn disconnected_table_produces_nothing_and_reconnect_sends_everything() {
        let mut t = AdvertisementTable::default();
        t.set([ad("192.0.2.1/32", 0, &[]), ad("192.0.2.2/32", 0, &[])])
            .unwrap();
        assert_eq!(t.sync(|_| true), None);
        t.connected();
        t.sync(|_| true);
        t.disconnected();
        t.connected();
        assert_eq!(
            t.sync(|_| true)
                .unwrap()
                .announce
                .values()
                .map(Vec::len)
                .sum::<usize>(),
            2
        );
    }

    fn arb_ads() -> impl Strategy<Value = Vec<Advertisement>> {
        prop::collection::vec(
            (
                0u8..16,
                prop::bool::ANY,
                0u32..3,
                prop::collection::vec(0u32..4, 0..3),
            )
                .prop_map(|(host, v6, lp, comms)| {
                    let prefix: IpNet = if v6 {
                        format!("2001:db8::{host}/128").parse().unwrap()
                    } else {
                        format!("192.0.2.{host}/32").parse().unwrap()
                    };
                    Advertisement {
                        prefix,
                        attributes: RouteAttributes::new(lp, comms),
                    }
                }),
            0..12,
        )
    }

    proptest! {
        /// Applying every produced change to a model of the peer's RIB always yields the
        /// desired (sendable) set, whatever the sequence of sets and reconnects.
        #[test]
        fn diff_always_converges(steps in prop::collection::vec((arb_ads(), 0u8..8), 1..12), v6_ok in prop::bool::ANY) {
            let sendable = |p: &IpNet| v6_ok || matches!(p, IpNet::V4(_));
            let mut t = AdvertisementTable::default();
            let mut rib: Option<BTreeMap<IpNet, RouteAttributes>> = None;
            for (ads, event) in steps {
                match event {
                    0 => { t.disconnected(); rib = None; }
                    1 => { t.connected(); rib = Some(BTreeMap::new()); }
                    _ => {}
                }
                t.set(ads).unwrap();
                if let Some(c) = t.sync(sendable) {
                    let r = rib.get_or_insert_with(BTreeMap::new);
                    for (attrs, ps) in c.announce {
                        for p in ps { r.insert(p, attrs.clone()); }
                    }
                    for p in c.withdraw { r.remove(&p); }
                    let want: BTreeMap<_, _> = t.desired().iter().filter(|(p, _)| sendable(p)).map(|(p, a)| (*p, a.clone())).collect();
                    prop_assert_eq!(r, &want);
                    prop_assert_eq!(t.announced(), Some(want.len()));
                }
            }
        }
    }
}
