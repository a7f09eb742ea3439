//! The allocation tables: who holds which IP, and who is on each IP.
//!
//! Laid out for a million allocations: one 48-byte slot per service (name, IP, interned key
//! and port-list ids, pool, link to the next service on the same IP), a name table and an IP
//! table that store a `u32` slot id and a 32-bit hash (the keys live in the slots, so the
//! tables cannot be `HashMap`s; hence `hashbrown`'s `HashTable`). Keeping the hash in the
//! entry lets the tables grow without touching the slots.

use std::hash::{BuildHasher, Hash};

use hashbrown::{DefaultHashBuilder, HashTable};

use super::address::Addr;

/// "No id": the end of a list, or an IP without a current sharing key.
pub(crate) const NONE: u32 = u32::MAX;

fn slot_ip(slots: &[Option<Slot>], id: u32) -> Addr {
    slots[id as usize].as_ref().expect("ids in the tables point at live slots").ip
}

/// One service's allocation (v0.9's `alloc`).
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) name: Box<str>,
    pub(crate) ip: Addr,
    /// Interned sharing keys; the slot holds one reference.
    pub(crate) key: u32,
    /// Interned port list; the slot holds one reference.
    pub(crate) ports: u32,
    /// Index of the owning pool in the active layout.
    pub(crate) pool: u32,
    /// Next service on the same IP, most recently assigned first.
    next_on_ip: u32,
}

impl Slot {
    pub(crate) fn new(name: Box<str>, ip: Addr, key: u32, ports: u32, pool: u32) -> Slot {
        Slot { name, ip, key, ports, pool, next_on_ip: NONE }
    }
}

/// One IP in use (v0.9's `servicesOnIP` and `sharingKeyForIP` for that IP).
#[derive(Debug, Clone, Copy)]
struct IpUsers {
    /// The most recently assigned service on the IP.
    head: u32,
    /// The IP's current sharing key (interned, one reference), or `NONE` once forgotten.
    key: u32,
    hash: u32,
}

/// A name table entry.
#[derive(Debug, Clone, Copy)]
struct Named {
    id: u32,
    hash: u32,
}

/// The table hash of a stored 32-bit hash (both halves, so hashbrown's bucket bits and
/// control bits both vary).
fn widen(h: u32) -> u64 {
    (u64::from(h) << 32) | u64::from(h)
}

/// Every allocation, by service name and by IP.
#[derive(Default)]
pub(crate) struct Services {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    by_name: HashTable<Named>,
    by_ip: HashTable<IpUsers>,
    hasher: DefaultHashBuilder,
}

impl Services {
    fn hash32<T: Hash + ?Sized>(&self, v: &T) -> u32 {
        let h = self.hasher.hash_one(v);
        (h ^ (h >> 32)) as u32
    }

    fn slot_ref(&self, id: u32) -> &Slot {
        self.slots[id as usize].as_ref().expect("ids in the tables point at live slots")
    }

    /// The slot of service `name`.
    pub(crate) fn find(&self, name: &str) -> Option<u32> {
        let h = self.hash32(name);
        self.by_name.find(widen(h), |n| n.hash == h && *self.slot_ref(n.id).name == *name).map(|n| n.id)
    }

    pub(crate) fn get(&self, id: u32) -> &Slot {
        self.slot_ref(id)
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> &mut Slot {
        self.slots[id as usize].as_mut().expect("ids in the tables point at live slots")
    }

    fn ip_users(&self, ip: Addr) -> Option<&IpUsers> {
        let h = self.hash32(&ip);
        self.by_ip.find(widen(h), |u| u.hash == h && self.slot_ref(u.head).ip == ip)
    }

    /// The current sharing key of `ip` (`None`: unused, or its key was forgotten).
    pub(crate) fn ip_key(&self, ip: Addr) -> Option<u32> {
        self.ip_users(ip).map(|u| u.key).filter(|&k| k != NONE)
    }

    /// Replace the current sharing key of `ip`, which must be in use; returns the old one.
    pub(crate) fn set_ip_key(&mut self, ip: Addr, key: Option<u32>) -> Option<u32> {
        let h = self.hash32(&ip);
        let slots = &self.slots;
        let users = self
            .by_ip
            .find_mut(widen(h), |u| u.hash == h && slot_ip(slots, u.head) == ip)
            .expect("set_ip_key is only called for an IP in use");
        let old = std::mem::replace(&mut users.key, key.unwrap_or(NONE));
        (old != NONE).then_some(old)
    }

    /// The services on `ip`, most recently assigned first.
    pub(crate) fn on_ip(&self, ip: Addr) -> impl Iterator<Item = &Slot> + '_ {
        let mut next = self.ip_users(ip).map_or(NONE, |u| u.head);
        std::iter::from_fn(move || {
            if next == NONE {
                return None;
            }
            let slot = self.slot_ref(next);
            next = slot.next_on_ip;
            Some(slot)
        })
    }

    /// Record a new allocation: the service must not have one. An IP that was unused starts
    /// without a current key.
    pub(crate) fn insert(&mut self, slot: Slot) -> u32 {
        let name_hash = self.hash32(&*slot.name);
        let ip_hash = self.hash32(&slot.ip);
        let ip = slot.ip;
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(None);
                u32::try_from(self.slots.len() - 1).ok().filter(|&id| id != NONE).expect("fewer than 2^32-1 allocations")
            }
        };
        self.slots[id as usize] = Some(slot);
        let slots = &self.slots;
        let prev_head = match self.by_ip.find_mut(widen(ip_hash), |u| u.hash == ip_hash && u.head != id && slot_ip(slots, u.head) == ip) {
            Some(users) => std::mem::replace(&mut users.head, id),
            None => {
                self.by_ip.insert_unique(widen(ip_hash), IpUsers { head: id, key: NONE, hash: ip_hash }, |u| widen(u.hash));
                NONE
            }
        };
        self.by_name.insert_unique(widen(name_hash), Named { id, hash: name_hash }, |n| widen(n.hash));
        self.get_mut(id).next_on_ip = prev_head;
        id
    }

    /// Remove an allocation. If it was the last service on its IP, the IP's entry goes too and
    /// its key (which the caller must already have cleared) with it.
    pub(crate) fn remove(&mut self, id: u32) -> Slot {
        let (name_hash, ip, ip_hash) = {
            let s = self.slot_ref(id);
            (self.hash32(&*s.name), s.ip, self.hash32(&s.ip))
        };
        if let Ok(e) = self.by_name.find_entry(widen(name_hash), |n| n.id == id) {
            e.remove();
        }
        let next = self.slot_ref(id).next_on_ip;
        let slots = &self.slots;
        let Ok(mut users) = self.by_ip.find_entry(widen(ip_hash), |u| u.hash == ip_hash && slot_ip(slots, u.head) == ip) else {
            unreachable!("an allocated IP has an entry in the IP table")
        };
        if users.get().head == id {
            if next == NONE {
                debug_assert_eq!(users.get().key, NONE, "the key of an IP is cleared before its last user leaves");
                users.remove();
            } else {
                users.get_mut().head = next;
            }
        } else {
            let mut cur = users.get().head;
            loop {
                let after = self.slot_ref(cur).next_on_ip;
                if after == id {
                    self.get_mut(cur).next_on_ip = next;
                    break;
                }
                assert_ne!(after, NONE, "a service is linked into the list of its IP");
                cur = after;
            }
        }
        self.free.push(id);
        self.slots[id as usize].take().expect("ids in the tables point at live slots")
    }

    /// Every allocation with its id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Slot)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| s.as_ref().map(|s| (i as u32, s)))
    }

    /// Every IP with a current key, with that key.
    pub(crate) fn keyed_ips(&self) -> impl Iterator<Item = (Addr, u32)> + '_ {
        self.by_ip.iter().filter(|u| u.key != NONE).map(|u| (self.slot_ref(u.head).ip, u.key))
    }

    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }

    pub(crate) fn ips_in_use(&self) -> usize {
        self.by_ip.len()
    }

    /// Approximate heap bytes: slots, tables and names.
    pub(crate) fn bytes(&self) -> usize {
        let names: usize = self.iter().map(|(_, s)| s.name.len()).sum();
        self.slots.capacity() * size_of::<Option<Slot>>()
            + self.free.capacity() * size_of::<u32>()
            + self.by_name.capacity() * (size_of::<Named>() + 1)
            + self.by_ip.capacity() * (size_of::<IpUsers>() + 1)
            + names
    }
}
