//! The index that replaces v0.9's address-by-address walk.
//!
//! v0.9 tries `Assign` at each address of a pool in walk order. For a service that is not yet
//! allocated, `Assign` at an owned address succeeds exactly when:
//! * the address has no current sharing key (unused, or its key was forgotten because no
//!   ports remain on it), or
//! * its current key equals the service's keys with a non-empty sharing key, and no other
//!   service there uses one of the requested ports.
//!
//! So per segment we keep the ordinals of the *keyed* addresses as maximal runs (the first
//! unkeyed ordinal is the end of the run starting at 0, or 0) and, for keys with a non-empty
//! sharing key, the ordinals of the addresses that currently carry each key. A walk is then:
//! the first unkeyed ordinal, unless a compatible shared address comes before it. Both are
//! O(log n); memory is proportional to the number of keyed addresses (runs, in fact: a
//! sequentially filled /8 is one run).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

/// A set of ordinals stored as maximal runs `start -> end` (inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RunSet {
    runs: BTreeMap<u128, u128>,
}

impl RunSet {
    /// The run containing `o`, if any.
    fn run_of(&self, o: u128) -> Option<(u128, u128)> {
        let (&s, &e) = self.runs.range(..=o).next_back()?;
        (o <= e).then_some((s, e))
    }

    pub(crate) fn contains(&self, o: u128) -> bool {
        self.run_of(o).is_some()
    }

    pub(crate) fn insert(&mut self, o: u128) {
        if self.contains(o) {
            return;
        }
        let before = o.checked_sub(1).and_then(|p| self.run_of(p));
        let after = o.checked_add(1).and_then(|n| self.runs.get(&n).map(|&e| (n, e)));
        match (before, after) {
            (Some((s, _)), Some((n, e))) => {
                self.runs.remove(&n);
                self.runs.insert(s, e);
            }
            (Some((s, _)), None) => {
                self.runs.insert(s, o);
            }
            (None, Some((n, e))) => {
                self.runs.remove(&n);
                self.runs.insert(o, e);
            }
            (None, None) => {
                self.runs.insert(o, o);
            }
        }
    }

    pub(crate) fn remove(&mut self, o: u128) {
        let Some((s, e)) = self.run_of(o) else { return };
        if s < o {
            self.runs.insert(s, o - 1);
        } else {
            self.runs.remove(&s);
        }
        if o < e {
            self.runs.insert(o + 1, e);
        }
    }

    /// The smallest ordinal not in the set (`None` only if the set is all of `u128`).
    pub(crate) fn first_absent(&self) -> Option<u128> {
        match self.runs.first_key_value() {
            Some((&0, &e)) => e.checked_add(1),
            _ => Some(0),
        }
    }

    pub(crate) fn runs(&self) -> usize {
        self.runs.len()
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = u128> + '_ {
        self.runs.iter().flat_map(|(&s, &e)| s..=e)
    }
}

/// Keyed addresses of every segment of the active config, by ordinal.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyedIndex {
    keyed: Vec<RunSet>,
    /// `(key id, segment, ordinal)` of addresses whose current key has a non-empty sharing key.
    shared: BTreeSet<(u32, usize, u128)>,
}

impl KeyedIndex {
    pub(crate) fn new(segments: usize) -> KeyedIndex {
        KeyedIndex { keyed: vec![RunSet::default(); segments], shared: BTreeSet::new() }
    }

    /// Record that the address at (`seg`, `ord`) changed its current key from `old` to `new`
    /// (`None`: no key). `shareable` tells whether a key has a non-empty sharing key.
    pub(crate) fn rekey(&mut self, seg: usize, ord: u128, old: Option<(u32, bool)>, new: Option<(u32, bool)>) {
        if old.map(|k| k.0) == new.map(|k| k.0) {
            return;
        }
        match (old, new) {
            (None, Some(_)) => self.keyed[seg].insert(ord),
            (Some(_), None) => self.keyed[seg].remove(ord),
            _ => {}
        }
        if let Some((k, true)) = old {
            self.shared.remove(&(k, seg, ord));
        }
        if let Some((k, true)) = new {
            self.shared.insert((k, seg, ord));
        }
    }

    /// The first ordinal of `seg` without a key, if within `max_ord`.
    pub(crate) fn first_unkeyed(&self, seg: usize, max_ord: Option<u128>) -> Option<u128> {
        let o = self.keyed[seg].first_absent()?;
        (o <= max_ord?).then_some(o)
    }

    /// Ordinals of `seg`, ascending and below `limit` (all when `None`), whose key is `key`.
    pub(crate) fn shared_before(&self, key: u32, seg: usize, limit: Option<u128>) -> impl Iterator<Item = u128> + '_ {
        let hi = match limit {
            Some(l) => Bound::Excluded((key, seg, l)),
            None => Bound::Included((key, seg, u128::MAX)),
        };
        self.shared.range((Bound::Included((key, seg, 0)), hi)).map(|&(_, _, o)| o)
    }

    /// Number of runs and shared entries: what the index costs.
    pub(crate) fn size(&self) -> (usize, usize) {
        (self.keyed.iter().map(RunSet::runs).sum(), self.shared.len())
    }

    #[cfg(test)]
    pub(crate) fn keyed(&self, seg: usize) -> &RunSet {
        &self.keyed[seg]
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &BTreeSet<(u32, usize, u128)> {
        &self.shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn runs_merge_and_split() {
        let mut r = RunSet::default();
        for o in [0, 1, 3, 2] {
            r.insert(o);
        }
        assert_eq!((r.runs(), r.first_absent()), (1, Some(4)));
        r.remove(1);
        assert_eq!((r.runs(), r.first_absent()), (2, Some(1)));
        r.remove(0);
        assert_eq!((r.runs(), r.first_absent()), (1, Some(0)));
        assert_eq!(r.iter().collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn a_full_u128_run_has_no_absent_ordinal() {
        let mut r = RunSet::default();
        r.insert(u128::MAX);
        r.insert(0);
        assert_eq!(r.first_absent(), Some(1));
        r.runs.clear();
        r.runs.insert(0, u128::MAX);
        assert_eq!(r.first_absent(), None);
        r.remove(u128::MAX);
        assert_eq!(r.first_absent(), Some(u128::MAX));
    }

    proptest! {
        /// The run set is a set: same membership and first gap as a `BTreeSet`.
        #[test]
        fn runset_matches_a_plain_set(ops in proptest::collection::vec((any::<bool>(), 0u128..40), 0..200)) {
            let mut r = RunSet::default();
            let mut s = BTreeSet::new();
            for (ins, o) in ops {
                if ins { r.insert(o); s.insert(o); } else { r.remove(o); s.remove(&o); }
                prop_assert_eq!(r.iter().collect::<BTreeSet<_>>(), s.clone());
                prop_assert_eq!(r.first_absent(), (0..).find(|o| !s.contains(o)));
                let runs = r.runs.iter().collect::<Vec<_>>();
                for w in runs.windows(2) {
                    prop_assert!(w[0].1 + 1 < *w[1].0, "runs are maximal: {:?}", runs);
                }
            }
        }
    }
}
