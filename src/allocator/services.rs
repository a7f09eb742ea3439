//! The allocation tables: who holds which IP, and who is on each IP.
//!
//! Laid out for a million allocations: one 48-byte slot per service (name, IP, interned key
//! and port-list ids, pool, link to the next service on the same IP), a name table and an IP
//! table that store only `u32` slot ids (the keys live in the slots), hence `hashbrown`'s
//! `HashTable`.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::address::Addr;

/// "No id": the end of a list, or an IP without a current sharing key.
pub(crate) const NONE: u32 = u32::MAX;

fn slot_ip(slots: &[Option<Slot>], id: u32) -> Addr {
    slots[id as usize].as_ref().expect("ids in the tables point at live slots").ip
}

fn slot_name(slots: &[Option<Slot>], id: u32) -> &str {
    &slots[id as usize].as_ref().expect("ids in the tables point at live slots").name
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
}

/// Every allocation, by service name and by IP.
#[derive(Default)]
pub(crate) struct Services {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    by_name: HashTable<u32>,
    by_ip: HashTable<IpUsers>,
    hasher: RandomState,
}

impl Services {
    fn slot_ref(&self, id: u32) -> &Slot {
        self.slots[id as usize].as_ref().expect("ids in the tables point at live slots")
    }

    /// The slot of service `name`.
    pub(crate) fn find(&self, name: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(name);
        self.by_name.find(hash, |&id| *self.slot_ref(id).name == *name).copied()
    }

    pub(crate) fn get(&self, id: u32) -> &Slot {
        self.slot_ref(id)
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> &mut Slot {
        self.slots[id as usize].as_mut().expect("ids in the tables point at live slots")
    }

    fn ip_users(&self, ip: Addr) -> Option<&IpUsers> {
        let hash = self.hasher.hash_one(ip);
        self.by_ip.find(hash, |u| self.slot_ref(u.head).ip == ip)
    }

    /// The current sharing key of `ip` (`None`: unused, or its key was forgotten).
    pub(crate) fn ip_key(&self, ip: Addr) -> Option<u32> {
        self.ip_users(ip).map(|u| u.key).filter(|&k| k != NONE)
    }

    /// Replace the current sharing key of `ip`, which must be in use; returns the old one.
    pub(crate) fn set_ip_key(&mut self, ip: Addr, key: Option<u32>) -> Option<u32> {
        let hash = self.hasher.hash_one(ip);
        let slots = &self.slots;
        let users = self
            .by_ip
            .find_mut(hash, |u| slot_ip(slots, u.head) == ip)
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
        let name_hash = self.hasher.hash_one(&*slot.name);
        let ip_hash = self.hasher.hash_one(slot.ip);
        let ip = slot.ip;
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(None);
                u32::try_from(self.slots.len() - 1).ok().filter(|&id| id != NONE).expect("fewer than 2^32-1 allocations")
            }
        };
        self.slots[id as usize] = Some(slot);
        let (slots, hasher) = (&self.slots, &self.hasher);
        let prev_head = match self.by_ip.find_mut(ip_hash, |u| u.head != id && slot_ip(slots, u.head) == ip) {
            Some(users) => std::mem::replace(&mut users.head, id),
            None => {
                self.by_ip.insert_unique(ip_hash, IpUsers { head: id, key: NONE }, |u| hasher.hash_one(slot_ip(slots, u.head)));
                NONE
            }
        };
        self.by_name.insert_unique(name_hash, id, |&i| hasher.hash_one(slot_name(slots, i)));
        self.get_mut(id).next_on_ip = prev_head;
        id
    }

    /// Remove an allocation. If it was the last service on its IP, the IP's entry goes too and
    /// its key (which the caller must already have cleared) with it.
    pub(crate) fn remove(&mut self, id: u32) -> Slot {
        let (name_hash, ip, ip_hash) = {
            let s = self.slot_ref(id);
            (self.hasher.hash_one(&*s.name), s.ip, self.hasher.hash_one(s.ip))
        };
        if let Ok(e) = self.by_name.find_entry(name_hash, |&i| i == id) {
            e.remove();
        }
        let next = self.slot_ref(id).next_on_ip;
        let slots = &self.slots;
        let Ok(mut users) = self.by_ip.find_entry(ip_hash, |u| slot_ip(slots, u.head) == ip) else {
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
            + self.by_name.capacity() * (size_of::<u32>() + 1)
            + self.by_ip.capacity() * (size_of::<IpUsers>() + 1)
            + names
    }
}
