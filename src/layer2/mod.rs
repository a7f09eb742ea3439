//! Layer 2 mode: answering ARP and NDP for announced service IPs (spec §4.5).
//!
//! Pure cores, no sockets and no clock:
//! * [`arp`] and [`ndp`]: packet codecs (checked views + `Repr`s) and the per-request
//!   decision "answer with this frame, or drop for this reason" ([`DropReason`]);
//! * [`announcer`]: the announcement set (service → IP, per-IP refcounts), the
//!   solicited-node multicast group refcounts and the gratuitous burst timer;
//! * [`interfaces`]: v0.9's interface rules (which responders to create and delete).
//!
//! Shells: [`arp_socket`] (AF_PACKET per interface), [`ndp_socket`] (raw ICMPv6 with the
//! solicited-node joins) and [`responders`] (a serving thread per socket around the shared
//! announcer, gratuitous rounds) and [`scan`] (one interface scan pass; the caller repeats it
//! every 10 s).

pub mod announcer;
pub mod arp;
pub mod arp_socket;
mod drop;
pub mod interfaces;
mod mac;
pub mod ndp;
pub mod ndp_socket;
pub mod responders;
pub mod scan;

pub use drop::{DropReason, Malformed};
pub use mac::MacAddr;

/// `sendto(2)` of `bytes` to the socket address `addr` (a `sockaddr_ll` or `sockaddr_in6`),
/// for the ARP and NDP sockets alike.
fn send_to<A>(fd: std::os::fd::RawFd, bytes: &[u8], addr: &A) -> std::io::Result<()> {
    // SAFETY: `bytes` is valid for reads of its length; `addr` points to a live, initialised
    // socket address of `size_of::<A>()` bytes, which the caller picked for this socket.
    let n = unsafe {
        libc::sendto(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
            (addr as *const A).cast(),
            size_of::<A>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
