//! Reference-counted storage for values many allocations share (sharing keys, port lists).
//!
//! A million services with no sharing key and `TCP/80` carry two small ids instead of a
//! million copies of the same strings.

use std::hash::{BuildHasher, Hash};

use hashbrown::{DefaultHashBuilder, HashTable};

struct Entry<T> {
    value: T,
    hash: u64,
    refs: u64,
}

/// Values of type `T`, each stored once, addressed by a `u32` id while referenced.
pub(crate) struct Interner<T> {
    table: HashTable<u32>,
    entries: Vec<Option<Entry<T>>>,
    free: Vec<u32>,
    hasher: DefaultHashBuilder,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner { table: HashTable::new(), entries: Vec::new(), free: Vec::new(), hasher: DefaultHashBuilder::default() }
    }
}

impl<T> Interner<T> {
    /// The id of the value that `query` describes, adding a reference; `make` builds the value
    /// the first time. `query` must be hashed the same way for the same value every time.
    pub(crate) fn acquire<Q: Hash + ?Sized>(&mut self, query: &Q, matches: impl Fn(&T) -> bool, make: impl FnOnce() -> T) -> u32 {
        let hash = self.hasher.hash_one(query);
        if let Some(id) = self.find_hashed(hash, &matches) {
            self.retain(id);
            return id;
        }
        self.store(hash, make())
    }

    fn store(&mut self, hash: u64, value: T) -> u32 {
        let entry = Entry { value, hash, refs: 1 };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = Some(entry);
                id
            }
            None => {
                self.entries.push(Some(entry));
                u32::try_from(self.entries.len() - 1).expect("fewer than 2^32 distinct interned values")
            }
        };
        let entries = &self.entries;
        self.table.insert_unique(hash, id, |&i| entries[i as usize].as_ref().map_or(0, |e| e.hash));
        id
    }

    /// The id of `value`, adding a reference; `value` is stored if it is new. It is hashed as
    /// itself, so use either this or [`Interner::acquire`] for one interner, not both.
    pub(crate) fn acquire_value(&mut self, value: T) -> u32
    where
        T: Hash + Eq,
    {
        let hash = self.hasher.hash_one(&value);
        if let Some(id) = self.find_hashed(hash, &|v: &T| *v == value) {
            self.retain(id);
            return id;
        }
        self.store(hash, value)
    }

    /// The id of the value `query` describes, if stored; no reference is added.
    pub(crate) fn find<Q: Hash + ?Sized>(&self, query: &Q, matches: impl Fn(&T) -> bool) -> Option<u32> {
        self.find_hashed(self.hasher.hash_one(query), &matches)
    }

    fn find_hashed(&self, hash: u64, matches: &impl Fn(&T) -> bool) -> Option<u32> {
        self.table.find(hash, |&i| self.entries[i as usize].as_ref().is_some_and(|e| matches(&e.value))).copied()
    }

    /// Add a reference to `id`.
    pub(crate) fn retain(&mut self, id: u32) {
        if let Some(e) = self.entries[id as usize].as_mut() {
            e.refs += 1;
        }
    }

    /// Drop a reference to `id`; the value goes when none remain.
    pub(crate) fn release(&mut self, id: u32) {
        let Some(e) = self.entries[id as usize].as_mut() else { return };
        e.refs -= 1;
        if e.refs > 0 {
            return;
        }
        let hash = e.hash;
        if let Ok(found) = self.table.find_entry(hash, |&i| i == id) {
            found.remove();
        }
        self.entries[id as usize] = None;
        self.free.push(id);
    }

    /// The value of a referenced id.
    pub(crate) fn get(&self, id: u32) -> &T {
        &self.entries[id as usize].as_ref().expect("an id is only used while it holds a reference").value
    }

    /// Approximate heap bytes of the storage itself (not of the values' own heap data).
    pub(crate) fn bytes(&self) -> usize {
        self.table.capacity() * (size_of::<u32>() + 1) + self.entries.capacity() * size_of::<Option<Entry<T>>>()
    }

    /// Number of distinct values stored.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acquire(i: &mut Interner<String>, s: &str) -> u32 {
        i.acquire(s, |v| v == s, || s.to_string())
    }

    #[test]
    fn equal_values_share_an_id_until_released() {
        let mut i = Interner::default();
        let a = acquire(&mut i, "a");
        let a2 = acquire(&mut i, "a");
        let b = acquire(&mut i, "b");
        assert_eq!(a, a2);
        assert_ne!(a, b);
        assert_eq!(i.len(), 2);
        i.release(a);
        assert_eq!(i.find("a", |v| v == "a"), Some(a));
        i.release(a);
        assert_eq!(i.find("a", |v| v == "a"), None);
        assert_eq!(i.len(), 1);
        let c = acquire(&mut i, "c");
        assert_eq!(c, a, "freed ids are reused");
        assert_eq!(i.get(c), "c");
        assert_eq!(i.get(b), "b");
    }
}
