//! client-go's `workqueue` with `DefaultControllerRateLimiter`, as v0.9 uses it (spec §1.1):
//! a FIFO that holds each key at most once, hands a key to one worker at a time (a key added
//! while it is being processed is queued again when the worker is done), and delays
//! rate-limited re-adds by the *maximum* of a per-key exponential backoff (5 ms doubling, capped
//! at 1000 s, reset by `forget`) and a global token bucket (10 per second, burst 100).
//!
//! Sans-IO: every method that needs the time takes `now`; the shell sleeps until
//! [`WorkQueue::next_wakeup`] and calls [`WorkQueue::promote`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::SyncState;

/// Per-key exponential backoff: `base * 2^failures`, capped.
#[derive(Debug, Clone)]
pub struct ItemBackoff {
    base: Duration,
    max: Duration,
}

/// A token bucket: `qps` tokens per second, at most `burst` banked; a request takes one token
/// and waits for it if none is left (golang.org/x/time/rate's `Reserve`).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(qps: f64, burst: u32) -> TokenBucket {
        TokenBucket { qps, burst: burst as f64, tokens: burst as f64, last: None }
    }

    /// Reserves one token at `now`; how long the caller must wait for it.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        }
        self.last = Some(now.max(self.last.unwrap_or(now)));
        self.tokens -= 1.0;
        if self.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-self.tokens / self.qps) }
    }
}

/// v0.9's rate limiter: the maximum of the per-key backoff and the shared bucket.
#[derive(Debug, Clone)]
pub struct RateLimiter<K> {
    backoff: ItemBackoff,
    failures: HashMap<K, u32>,
    bucket: TokenBucket,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    /// client-go's `DefaultControllerRateLimiter`: 5 ms .. 1000 s per key, 10 qps burst 100.
    pub fn client_go_default() -> Self {
        RateLimiter {
            backoff: ItemBackoff { base: Duration::from_millis(5), max: Duration::from_secs(1000) },
            failures: HashMap::new(),
            bucket: TokenBucket::new(10.0, 100),
        }
    }

    /// The delay for re-adding `key` now (and one more failure recorded for it).
    pub fn when(&mut self, key: &K, now: Instant) -> Duration {
        let n = self.failures.entry(key.clone()).or_insert(0);
        let exp = self.backoff.base.as_secs_f64() * 2f64.powi((*n).min(62) as i32);
        *n += 1;
        let item = Duration::from_secs_f64(exp.min(self.backoff.max.as_secs_f64()));
        item.max(self.bucket.reserve(now))
    }

    /// Forgets `key`'s failures (a Success).
    pub fn forget(&mut self, key: &K) {
        self.failures.remove(key);
    }

    /// How many times `key` has been rate-limited since it was last forgotten.
    pub fn failures(&self, key: &K) -> u32 {
        self.failures.get(key).copied().unwrap_or(0)
    }
}

/// client-go's rate-limited work queue.
#[derive(Debug)]
pub struct WorkQueue<K> {
    queue: VecDeque<K>,
    /// Keys waiting in `queue` or to be re-queued after processing.
    dirty: HashSet<K>,
    processing: HashSet<K>,
    /// Delayed adds: ready time -> keys (ordered), and each key's earliest ready time.
    waiting: BTreeMap<(Instant, u64), K>,
    ready_at: HashMap<K, Instant>,
    seq: u64,
    /// The rate limiter for [`WorkQueue::add_rate_limited`].
    pub limiter: RateLimiter<K>,
}

impl<K: Eq + Hash + Clone> Default for WorkQueue<K> {
    fn default() -> Self {
        WorkQueue::new(RateLimiter::client_go_default())
    }
}

impl<K: Eq + Hash + Clone> WorkQueue<K> {
    /// An empty queue with this rate limiter.
    pub fn new(limiter: RateLimiter<K>) -> Self {
        WorkQueue {
            queue: VecDeque::new(),
            dirty: HashSet::new(),
            processing: HashSet::new(),
            waiting: BTreeMap::new(),
            ready_at: HashMap::new(),
            seq: 0,
            limiter,
        }
    }

    /// Adds `key` unless it is already waiting; a key being processed is re-queued by `done`.
    pub fn add(&mut self, key: K) {
        if !self.dirty.insert(key.clone()) {
            return;
        }
        if !self.processing.contains(&key) {
            self.queue.push_back(key);
        }
    }

    /// The daemons' start order: `first`, then every key queued while the caches filled (in
    /// their order), then `last` (the synced marker). Delayed adds are dropped: before the
    /// first sync nothing has been processed, so nothing was re-queued with a delay.
    pub fn start_order(&mut self, first: impl IntoIterator<Item = K>, last: K) {
        let mut initial = WorkQueue::new(self.limiter.clone());
        for k in first {
            initial.add(k);
        }
        while let Some(k) = self.get() {
            self.done(&k);
            initial.add(k);
        }
        initial.add(last);
        *self = initial;
    }

    /// v0.9's handling of a processed key's [`SyncState`], before `done`: forgotten on
    /// success, re-added through the rate limiter on error. Returns whether every Service must
    /// be re-queued (`ReprocessAll`, the key itself forgotten), which the caller does.
    pub fn settle(&mut self, key: &K, state: SyncState, now: Instant) -> bool {
        match state {
            SyncState::Success => self.forget(key),
            SyncState::Error => self.add_rate_limited(key.clone(), now),
            SyncState::ReprocessAll => self.forget(key),
        }
        state == SyncState::ReprocessAll
    }

    /// Adds `key` after `delay` (an earlier pending delayed add of the same key wins).
    pub fn add_after(&mut self, key: K, delay: Duration, now: Instant) {
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let at = now + delay;
        if let Some(prev) = self.ready_at.get(&key) {
            if *prev <= at {
                return;
            }
            let prev = *prev;
            self.waiting.retain(|(t, _), k| !(*t == prev && *k == key));
        }
        self.seq += 1;
        self.waiting.insert((at, self.seq), key.clone());
        self.ready_at.insert(key, at);
    }

    /// Adds `key` after the rate limiter's delay.
    pub fn add_rate_limited(&mut self, key: K, now: Instant) {
        let delay = self.limiter.when(&key, now);
        self.add_after(key, delay, now);
    }

    /// Forgets `key`'s backoff.
    pub fn forget(&mut self, key: &K) {
        self.limiter.forget(key);
    }

    /// Moves delayed keys whose time has come into the queue.
    pub fn promote(&mut self, now: Instant) {
        while let Some(entry) = self.waiting.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.ready_at.remove(&key);
            self.add(key);
        }
    }

    /// When the next delayed key becomes ready, if any.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.waiting.keys().next().map(|(t, _)| *t)
    }

    /// The next key to process, if one is ready (the caller must call `done` with it).
    pub fn get(&mut self) -> Option<K> {
        let key = self.queue.pop_front()?;
        self.dirty.remove(&key);
        self.processing.insert(key.clone());
        Some(key)
    }

    /// Marks `key` processed; it is queued again if it was added meanwhile.
    pub fn done(&mut self, key: &K) {
        self.processing.remove(key);
        if self.dirty.contains(key) {
            self.queue.push_back(key.clone());
        }
    }

    /// Keys ready to be processed now.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no key is ready now.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_order_puts_the_first_keys_ahead_of_the_queued_ones_and_the_marker_last() {
        let mut q: WorkQueue<&str> = WorkQueue::default();
        q.add("svc-b");
        q.add("svc-a");
        q.add("configmap");
        q.start_order(["configmap", "node"], "synced");
        let order: Vec<_> = std::iter::from_fn(|| q.get()).collect();
        assert_eq!(order, ["configmap", "node", "svc-b", "svc-a", "synced"]);
    }

    #[test]
    fn keys_are_deduplicated_and_fifo() {
        let mut q: WorkQueue<&str> = WorkQueue::default();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 2);
        assert_eq!(q.get(), Some("a"));
        assert_eq!(q.get(), Some("b"));
        assert_eq!(q.get(), None);
    }

    #[test]
    fn a_key_added_while_processing_is_requeued_after_done() {
        let mut q: WorkQueue<&str> = WorkQueue::default();
        q.add("a");
        let k = q.get().unwrap();
        q.add("a");
        assert_eq!(q.get(), None, "one worker per key");
        q.done(&k);
        assert_eq!(q.get(), Some("a"));
    }

    #[test]
    fn per_key_backoff_doubles_from_5ms_and_forget_resets_it() {
        let mut l: RateLimiter<&str> = RateLimiter::client_go_default();
        let now = Instant::now();
        let delays: Vec<u128> = (0..4).map(|_| l.when(&"a", now).as_millis()).collect();
        assert_eq!(delays, vec![5, 10, 20, 40]);
        l.forget(&"a");
        assert_eq!(l.when(&"a", now).as_millis(), 5);
        for _ in 0..40 {
            l.when(&"b", now);
        }
        assert_eq!(l.when(&"b", now), Duration::from_secs(1000), "capped");
    }

    #[test]
    fn the_bucket_allows_a_burst_of_100_then_10_per_second() {
        let mut b = TokenBucket::new(10.0, 100);
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(b.reserve(now), Duration::ZERO);
        }
        assert_eq!(b.reserve(now), Duration::from_millis(100));
        assert_eq!(b.reserve(now), Duration::from_millis(200));
        // 150 ms later 1.5 tokens came back; the debt of 2 (plus this one) leaves 0.15 s to wait.
        let wait = b.reserve(now + Duration::from_millis(150)).as_secs_f64();
        assert!((wait - 0.15).abs() < 1e-6, "{wait}");
    }

    #[test]
    fn delayed_adds_become_ready_in_time_order() {
        let mut q: WorkQueue<&str> = WorkQueue::default();
        let t0 = Instant::now();
        q.add_after("late", Duration::from_secs(2), t0);
        q.add_after("soon", Duration::from_secs(1), t0);
        q.add_after("late", Duration::from_millis(1500), t0);
        assert_eq!(q.next_wakeup(), Some(t0 + Duration::from_secs(1)));
        q.promote(t0 + Duration::from_millis(1200));
        assert_eq!(q.get(), Some("soon"));
        assert_eq!(q.get(), None);
        q.promote(t0 + Duration::from_millis(1500));
        assert_eq!(q.get(), Some("late"));
        q.promote(t0 + Duration::from_secs(3));
        assert_eq!(q.get(), None, "the superseded later add is gone");
    }
}
