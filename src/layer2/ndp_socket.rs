//! The NDP responder's I/O shell: a raw ICMPv6 socket bound to the interface's link-local
//! address, hop limit 255, as v0.9's (spec §4.5). The kernel checksums ICMPv6 on raw
//! sockets itself. Decisions are [`super::ndp::answer`] and [`super::ndp::gratuitous`].

use std::ffi::CString;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::arp_socket::interface_mac;
use super::ndp::{self, ALL_NODES, NdpAnswer};
use super::{DropReason, MacAddr};

/// A raw ICMPv6 socket on one interface.
#[derive(Debug)]
pub struct NdpSocket {
    fd: OwnedFd,
    interface: String,
    index: u32,
    link_local: Ipv6Addr,
    mac: MacAddr,
}

/// What happened to one received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// A solicitation was answered (`sent` is the send error text, if any).
    Answered {
        /// The solicitation and the advertisement.
        answer: NdpAnswer,
        /// `Err(text)` when sending failed (v0.9 logs `op=arpReply`).
        sent: Result<(), String>,
    },
    /// The message was dropped.
    Dropped(DropReason),
    /// Nothing arrived before the read timeout.
    Idle,
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a valid T and its size is passed.
    check(unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), size_of::<T>() as u32) })
}

fn sockaddr(ip: Ipv6Addr, scope: u32) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as u16;
    sa.sin6_addr.s6_addr = ip.octets();
    sa.sin6_scope_id = scope;
    sa
}

/// The first IPv6 link-local address of interface `name`, from getifaddrs (which sees the
/// calling thread's network namespace).
fn link_local_of(name: &str) -> io::Result<Ipv6Addr> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    check(unsafe { libc::getifaddrs(&mut head) })?;
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let ifname = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        // SAFETY: ifa_addr is null or points at a sockaddr of the family it states.
        if ifname.to_bytes() == name.as_bytes() && !ifa.ifa_addr.is_null() && unsafe { (*ifa.ifa_addr).sa_family } as i32 == libc::AF_INET6
        {
            // SAFETY: the family is AF_INET6, so this is a sockaddr_in6.
            let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sa.sin6_addr.s6_addr);
            if ip.is_unicast_link_local() {
                found = Some(ip);
                break;
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no IPv6 link-local address on {name}")))
}

impl NdpSocket {
    /// Opens the socket on interface `name` (in the caller's network namespace).
    pub fn open(name: &str, read_timeout: Duration) -> io::Result<NdpSocket> {
        let cname = CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: a valid NUL-terminated string.
        let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if index == 0 {
            return Err(io::Error::last_os_error());
        }
        let link_local = link_local_of(name)?;
        // SAFETY: plain system call; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMPV6) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mac = interface_mac(&fd, &cname)?;
        let sa = sockaddr(link_local, index);
        // SAFETY: `sa` is a valid sockaddr_in6 and its size is passed.
        check(unsafe { libc::bind(fd.as_raw_fd(), (&sa as *const libc::sockaddr_in6).cast(), size_of::<libc::sockaddr_in6>() as u32) })?;
        let hops: libc::c_int = 255;
        setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &hops)?;
        setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &hops)?;
        setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &(index as libc::c_int))?;
        let tv = libc::timeval {
            tv_sec: read_timeout.as_secs() as libc::time_t,
            tv_usec: libc::suseconds_t::from(read_timeout.subsec_micros() as i32),
        };
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
        Ok(NdpSocket { fd, interface: name.to_owned(), index, link_local, mac })
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The interface MAC.
    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    /// The interface index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The link-local address the socket is bound to.
    pub fn link_local(&self) -> Ipv6Addr {
        self.link_local
    }

    fn membership(&self, group: Ipv6Addr, option: libc::c_int) -> io::Result<()> {
        let mreq = libc::ipv6_mreq { ipv6mr_multiaddr: libc::in6_addr { s6_addr: group.octets() }, ipv6mr_interface: self.index };
        setsockopt(&self.fd, libc::IPPROTO_IPV6, option, &mreq)
    }

    /// Joins a multicast group on the interface.
    pub fn join(&self, group: Ipv6Addr) -> io::Result<()> {
        self.membership(group, libc::IPV6_ADD_MEMBERSHIP)
    }

    /// Leaves a multicast group on the interface.
    pub fn leave(&self, group: Ipv6Addr) -> io::Result<()> {
        self.membership(group, libc::IPV6_DROP_MEMBERSHIP)
    }

    /// Receives one ICMPv6 message and its source; `Ok(None)` on timeout.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Ipv6Addr)>> {
        self.recv_flags(buf, 0)
    }

    fn recv_flags(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<Option<(usize, Ipv6Addr)>> {
        // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
        let mut from: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::sockaddr_in6>() as u32;
        // SAFETY: `buf` is valid for writes of its length; `from`/`len` describe a valid buffer.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags,
                (&mut from as *mut libc::sockaddr_in6).cast(),
                &mut len,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(err),
            };
        }
        Ok(Some((n as usize, Ipv6Addr::from(from.sin6_addr.s6_addr))))
    }

    /// Sends an ICMPv6 message to `destination` on this interface.
    pub fn send(&self, message: &[u8], destination: Ipv6Addr) -> io::Result<()> {
        super::send_to(self.fd.as_raw_fd(), message, &sockaddr(destination, self.index))
    }

    /// Receives one message and answers it if v0.9 would.
    pub fn serve_one(&self, announced: impl Fn(IpAddr) -> bool) -> io::Result<Served> {
        self.serve(announced, 0)
    }

    /// [`Self::serve_one`] without waiting: [`Served::Idle`] when no message is queued.
    pub fn try_serve_one(&self, announced: impl Fn(IpAddr) -> bool) -> io::Result<Served> {
        self.serve(announced, libc::MSG_DONTWAIT)
    }

    fn serve(&self, announced: impl Fn(IpAddr) -> bool, flags: libc::c_int) -> io::Result<Served> {
        let mut buf = [0u8; 1500];
        let Some((n, source)) = self.recv_flags(&mut buf, flags)? else { return Ok(Served::Idle) };
        Ok(match ndp::answer(&buf[..n], source, self.link_local, self.mac, announced) {
            Err(reason) => Served::Dropped(reason),
            Ok(answer) => {
                let sent = self.send(&answer.reply.to_bytes(), answer.destination).map_err(|e| e.to_string());
                Served::Answered { answer, sent }
            }
        })
    }

    /// Sends the unsolicited advertisement of one gratuitous round to ff02::1.
    pub fn gratuitous(&self, ip: Ipv6Addr) -> io::Result<()> {
        self.send(&ndp::gratuitous(self.mac, ip).to_bytes(), ALL_NODES)
    }
}
