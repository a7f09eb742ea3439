//! The layer2 data plane shell: one ARP and/or NDP socket per interface, each served by a
//! thread that asks the shared [`Announcer`] whether to answer, plus the gratuitous rounds
//! and the multicast joins the announcer asks for.
//!
//! The interface scan (which interfaces, [`super::interfaces::plan_scan`]) and the clock
//! stay with the caller: it calls [`Responders::add_arp`] / [`Responders::add_ndp`] /
//! `remove_*`, and [`Responders::send_due_gratuitous`] whenever
//! [`Responders::next_gratuitous`] is due.
//!
//! The owner of the metrics and logs (the speaker) sees every served packet and gratuitous
//! round through an [`Observer`] ([`Responders::with_observer`]): v0.9 counts and logs per IP
//! and interface, which the totals in [`Counters`] cannot say.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::announcer::{Announcer, GroupChange};
use super::arp_socket::{self, ArpSocket};
use super::ndp_socket::{self, NdpSocket};

/// How often a serving thread wakes up to notice it was stopped.
const POLL: Duration = Duration::from_millis(200);

/// Counters of the data plane (the `metallb_layer2_*` metrics are per IP; the shell that
/// owns the registry reads [`Served`](super::arp_socket::Served) values for labels, these are
/// totals for tests and logs).
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests answered (reply sent).
    pub responses_sent: AtomicU64,
    /// Malformed frames or messages dropped.
    pub malformed: AtomicU64,
    /// Gratuitous packets sent.
    pub gratuitous_sent: AtomicU64,
}

/// One thing the data plane did, as the [`Observer`] sees it.
#[derive(Debug)]
pub enum Observation<'a> {
    /// An ARP socket on `interface` handled a frame (never [`arp_socket::Served::Idle`]).
    Arp {
        /// The interface name.
        interface: &'a str,
        /// What happened.
        served: &'a arp_socket::Served,
    },
    /// An NDP socket on `interface` handled a message (never [`ndp_socket::Served::Idle`]).
    Ndp {
        /// The interface name.
        interface: &'a str,
        /// What happened.
        served: &'a ndp_socket::Served,
    },
    /// A gratuitous round for `ip` sent `packets` packets as v0.9 counts them (ARP: per
    /// packet sent; NDP: per interface tried); `error` if the round was aborted.
    Gratuitous {
        /// The announced IP.
        ip: IpAddr,
        /// Packets counted.
        packets: usize,
        /// The send error that aborted the round.
        error: Option<&'a io::Error>,
    },
}

/// Called from the serving threads and from [`Responders::send_due_gratuitous`].
pub type Observer = Arc<dyn Fn(&Observation<'_>) + Send + Sync>;

struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The responders of one speaker.
pub struct Responders {
    announcer: Arc<RwLock<Announcer>>,
    counters: Arc<Counters>,
    arp: BTreeMap<String, (Arc<ArpSocket>, Worker)>,
    ndp: BTreeMap<String, (Arc<NdpSocket>, Worker)>,
    observer: Option<Observer>,
}

impl Drop for Responders {
    /// Silent at once: the announcement set is emptied (a serving thread answers nothing from
    /// then on) and every serving thread is told to stop. The threads are not joined: each
    /// notices within [`POLL`] and ends on its own, holding nothing but its socket. The speaker
    /// drops its responders before it leaves memberlist, so it is quiet before the peers take
    /// over, and the leave goes out at once instead of up to a [`POLL`] later.
    fn drop(&mut self) {
        *write(&self.announcer) = Announcer::new();
        let workers = self
            .arp
            .values_mut()
            .map(|(_, w)| w)
            .chain(self.ndp.values_mut().map(|(_, w)| w));
        for w in workers {
            w.stop.store(true, Ordering::Relaxed);
            // Detached: dropping the handle does not wait for the thread.
            drop(w.thread.take());
        }
    }
}

/// What a serving thread counts of one frame it served.
enum Tally {
    Idle,
    Answered,
    Malformed,
    Other,
}

/// A serving thread's loop, for ARP and NDP alike: drain what is queued without waiting
/// (`serve(false)`); only when the queue is empty are the log lines written and the thread put
/// to sleep on the socket (`serve(true)`, at most [`POLL`]). Every frame that is not `Idle` is
/// observed, then counted. A socket error means the interface went away: the next scan
/// deletes this responder, and the thread waits a [`POLL`] meanwhile.
fn serve_loop<S>(
    stop: &AtomicBool,
    counters: &Counters,
    serve: impl Fn(bool) -> io::Result<S>,
    tally: impl Fn(&S) -> Tally,
    observe: impl Fn(&S),
) {
    crate::logging::buffer_this_thread();
    while !stop.load(Ordering::Relaxed) {
        let mut served = serve(false);
        if matches!(served.as_ref().map(&tally), Ok(Tally::Idle)) {
            crate::logging::flush_this_thread();
            served = serve(true);
        }
        match served {
            Ok(frame) => {
                let t = tally(&frame);
                if !matches!(t, Tally::Idle) {
                    observe(&frame);
                }
                let counter = match t {
                    Tally::Answered => Some(&counters.responses_sent),
                    Tally::Malformed => Some(&counters.malformed),
                    Tally::Idle | Tally::Other => None,
                };
                if let Some(c) = counter {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
    crate::logging::flush_this_thread();
}

fn read(a: &RwLock<Announcer>) -> std::sync::RwLockReadGuard<'_, Announcer> {
    // A panicking writer cannot leave the announcer half-updated in a way that matters for
    // answering: keep serving.
    a.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(a: &RwLock<Announcer>) -> std::sync::RwLockWriteGuard<'_, Announcer> {
    a.write().unwrap_or_else(PoisonError::into_inner)
}

impl Responders {
    /// No interfaces yet, an empty announcement set.
    pub fn new() -> Self {
        Responders {
            announcer: Arc::new(RwLock::new(Announcer::new())),
            counters: Arc::new(Counters::default()),
            arp: BTreeMap::new(),
            ndp: BTreeMap::new(),
            observer: None,
        }
    }

    /// No interfaces yet, an empty announcement set; `observer` sees every served packet.
    pub fn with_observer(observer: Observer) -> Self {
        let mut r = Self::new();
        r.observer = Some(observer);
        r
    }

    /// The data plane totals.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Starts answering ARP on `interface` (in the caller's network namespace).
    pub fn add_arp(&mut self, interface: &str) -> io::Result<()> {
        let socket = Arc::new(ArpSocket::open(interface, POLL)?);
        socket.ignore_outgoing()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (s, sock, ann, counters) = (stop.clone(), socket.clone(), self.announcer.clone(), self.counters.clone());
        let (observer, name) = (self.observer.clone(), interface.to_owned());
        let thread = std::thread::spawn(move || {
            let serve = |wait: bool| {
                let answer = |ip| read(&ann).should_answer(ip);
                if wait { sock.serve_one(answer) } else { sock.try_serve_one(answer) }
            };
            let tally = |served: &arp_socket::Served| match served {
                arp_socket::Served::Idle => Tally::Idle,
                arp_socket::Served::Answered { sent: Ok(()), .. } => Tally::Answered,
                arp_socket::Served::Dropped(super::DropReason::Malformed(_)) => Tally::Malformed,
                _ => Tally::Other,
            };
            let observe = |served: &arp_socket::Served| {
                if let Some(o) = &observer {
                    o(&Observation::Arp { interface: &name, served });
                }
            };
            serve_loop(&s, &counters, serve, tally, observe);
        });
        self.arp.insert(interface.to_owned(), (socket, Worker { stop, thread: Some(thread) }));
        Ok(())
    }

    /// Starts answering NDP on `interface`, joining the groups of the announced IPv6 IPs.
    pub fn add_ndp(&mut self, interface: &str) -> io::Result<()> {
        let socket = Arc::new(NdpSocket::open(interface, POLL)?);
        for change in write(&self.announcer).add_ndp_interface(socket.index()) {
            if let GroupChange::Join { group, .. } = change {
                socket.join(group)?;
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (s, sock, ann, counters) = (stop.clone(), socket.clone(), self.announcer.clone(), self.counters.clone());
        let (observer, name) = (self.observer.clone(), interface.to_owned());
        let thread = std::thread::spawn(move || {
            let serve = |wait: bool| {
                let answer = |ip| read(&ann).should_answer(ip);
                if wait { sock.serve_one(answer) } else { sock.try_serve_one(answer) }
            };
            let tally = |served: &ndp_socket::Served| match served {
                ndp_socket::Served::Idle => Tally::Idle,
                ndp_socket::Served::Answered { sent: Ok(()), .. } => Tally::Answered,
                ndp_socket::Served::Dropped(super::DropReason::Malformed(_)) => Tally::Malformed,
                _ => Tally::Other,
            };
            let observe = |served: &ndp_socket::Served| {
                if let Some(o) = &observer {
                    o(&Observation::Ndp { interface: &name, served });
                }
            };
            serve_loop(&s, &counters, serve, tally, observe);
        });
        self.ndp.insert(interface.to_owned(), (socket, Worker { stop, thread: Some(thread) }));
        Ok(())
    }

    /// The indices of the interfaces with an ARP responder.
    pub fn arp_indices(&self) -> BTreeSet<u32> {
        self.arp.values().map(|(s, _)| s.index()).collect()
    }

    /// The indices of the interfaces with an NDP responder.
    pub fn ndp_indices(&self) -> BTreeSet<u32> {
        self.ndp.values().map(|(s, _)| s.index()).collect()
    }

    /// The interface name of the ARP (`ndp == false`) or NDP responder on `index`.
    pub fn interface_of(&self, index: u32, ndp: bool) -> Option<String> {
        if ndp {
            self.ndp.iter().find(|(_, (s, _))| s.index() == index).map(|(n, _)| n.clone())
        } else {
            self.arp.iter().find(|(_, (s, _))| s.index() == index).map(|(n, _)| n.clone())
        }
    }

    /// Stops answering ARP on `interface`.
    pub fn remove_arp(&mut self, interface: &str) {
        self.arp.remove(interface);
    }

    /// Stops answering NDP on `interface` (closing its socket leaves its groups).
    pub fn remove_ndp(&mut self, interface: &str) {
        if let Some((socket, _)) = self.ndp.remove(interface) {
            write(&self.announcer).remove_ndp_interface(socket.index());
        }
    }

    fn apply(&self, changes: Vec<GroupChange>) -> Vec<io::Error> {
        let mut errors = Vec::new();
        for change in changes {
            let (index, group, join) = match change {
                GroupChange::Join { interface, group } => (interface, group, true),
                GroupChange::Leave { interface, group } => (interface, group, false),
            };
            for (socket, _) in self.ndp.values().filter(|(s, _)| s.index() == index) {
                let result = if join { socket.join(group) } else { socket.leave(group) };
                // v0.9 logs op=watchMulticastGroup / unwatchMulticastGroup and goes on.
                if let Err(e) = result {
                    errors.push(e);
                }
            }
        }
        errors
    }

    /// Announces `ip` for `service` (v0.9 `SetBalancer`); returns the multicast errors.
    pub fn set_balancer(&self, service: &str, ip: IpAddr, now: Instant) -> Vec<io::Error> {
        let changes = write(&self.announcer).set_balancer(service, ip, now);
        self.apply(changes)
    }

    /// Withdraws `service` (v0.9 `DeleteBalancer`); returns the multicast errors.
    pub fn delete_balancer(&self, service: &str) -> Vec<io::Error> {
        let changes = write(&self.announcer).delete_balancer(service);
        self.apply(changes)
    }

    /// Whether `service` is announced.
    pub fn is_announced(&self, service: &str) -> bool {
        read(&self.announcer).is_announced(service)
    }

    /// When the next gratuitous round is due.
    pub fn next_gratuitous(&self) -> Option<Instant> {
        read(&self.announcer).next_gratuitous()
    }

    /// Sends the rounds due at `now` on every interface of the IP's family; a send error
    /// aborts that round (v0.9 logs `op=gratuitousAnnounce`).
    pub fn send_due_gratuitous(&self, now: Instant) -> Vec<io::Error> {
        let due = write(&self.announcer).due_gratuitous(now);
        let mut errors = Vec::new();
        for ip in due {
            let mut packets = 0;
            let result: io::Result<()> = match ip {
                IpAddr::V4(v4) => self.arp.values().try_for_each(|(socket, _)| {
                    let (sent, result) = socket.gratuitous(v4);
                    packets += sent;
                    result
                }),
                IpAddr::V6(v6) => self.ndp.values().try_for_each(|(socket, _)| {
                    // v0.9 counts an NDP gratuitous packet even when the send fails.
                    packets += 1;
                    socket.gratuitous(v6)
                }),
            };
            self.counters.gratuitous_sent.fetch_add(packets as u64, Ordering::Relaxed);
            if let Some(observe) = &self.observer {
                observe(&Observation::Gratuitous { ip, packets, error: result.as_ref().err() });
            }
            if let Err(e) = result {
                errors.push(e);
            }
        }
        errors
    }
}

impl Default for Responders {
    fn default() -> Self {
        Self::new()
    }
}
