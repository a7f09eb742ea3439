//! The ARP responder's I/O shell: an AF_PACKET socket bound to one interface for EtherType
//! 0x0806, as v0.9's (spec §4.5). The decisions are [`super::arp::answer`] and
//! [`super::arp::gratuitous`]; this file only moves frames.
//!
//! libc directly: socket2 does not model `sockaddr_ll`, and pnet's datalink layer would
//! bring a second packet stack for three system calls.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::arp::{self, ArpAnswer, ArpFrame};
use super::{DropReason, MacAddr};

const ETH_P_ARP: u16 = 0x0806;

/// A raw ARP socket on one interface.
#[derive(Debug)]
pub struct ArpSocket {
    fd: OwnedFd,
    interface: String,
    index: i32,
    mac: MacAddr,
}

/// What happened to one received frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// A request was answered (or the send failed: `sent` is the error text).
    Answered {
        /// The request and the reply.
        answer: ArpAnswer,
        /// `Err(text)` when sending the reply failed (log `op=arpReply`).
        sent: Result<(), String>,
    },
    /// The frame was dropped.
    Dropped(DropReason),
    /// Nothing arrived before the read timeout.
    Idle,
}

/// The interface's MAC via SIOCGIFHWADDR on `fd` (sysfs would show the namespace sysfs was
/// mounted in, not the socket's).
pub(crate) fn interface_mac(fd: &OwnedFd, name: &std::ffi::CStr) -> io::Result<MacAddr> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.to_bytes();
    if bytes.len() >= ifr.ifr_name.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "interface name too long"));
    }
    for (dst, src) in ifr.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `ifr` is a valid ifreq with a NUL-terminated name.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFHWADDR filled the hwaddr member of the union.
    let data = unsafe { ifr.ifr_ifru.ifru_hwaddr.sa_data };
    let mut octets = [0u8; 6];
    for (o, d) in octets.iter_mut().zip(data) {
        *o = d as u8;
    }
    Ok(MacAddr(octets))
}

fn link_address(index: i32, destination: Option<MacAddr>) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ARP.to_be();
    sll.sll_ifindex = index;
    if let Some(mac) = destination {
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&mac.0);
    }
    sll
}

impl ArpSocket {
    /// Opens the socket on interface `name` (in the caller's network namespace); reads
    /// return [`Served::Idle`] after `read_timeout` without traffic.
    pub fn open(name: &str, read_timeout: Duration) -> io::Result<ArpSocket> {
        let cname = std::ffi::CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: a valid NUL-terminated string.
        let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if index == 0 {
            return Err(io::Error::last_os_error());
        }
        let index = i32::try_from(index).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        // SAFETY: plain system call; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, i32::from(ETH_P_ARP.to_be())) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mac = interface_mac(&fd, &cname)?;
        let sll = link_address(index, None);
        // SAFETY: `sll` is a valid sockaddr_ll and its size is passed.
        let rc = unsafe { libc::bind(fd.as_raw_fd(), (&sll as *const libc::sockaddr_ll).cast(), size_of::<libc::sockaddr_ll>() as u32) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let tv = libc::timeval {
            tv_sec: read_timeout.as_secs() as libc::time_t,
            tv_usec: libc::suseconds_t::from(read_timeout.subsec_micros() as i32),
        };
        // SAFETY: `tv` is a valid timeval and its size is passed.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ArpSocket { fd, interface: name.to_owned(), index, mac })
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The interface index.
    pub fn index(&self) -> u32 {
        self.index.unsigned_abs()
    }

    /// The interface MAC (the `responseMAC` of the logs).
    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    /// Stops the socket from seeing the frames this host sends (`PACKET_IGNORE_OUTGOING`,
    /// Linux ≥ 4.20): a responder has no use for its own replies, and reading them back
    /// doubles its work under a flood. Capture sockets in tests keep seeing everything.
    pub fn ignore_outgoing(&self) -> io::Result<()> {
        let one: libc::c_int = 1;
        // SAFETY: `one` is a valid c_int and its size is passed.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_IGNORE_OUTGOING,
                (&one as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Receives one frame into `buf`; `Ok(None)` on timeout.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.recv_flags(buf, 0)
    }

    fn recv_flags(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<Option<usize>> {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(err),
            };
        }
        Ok(Some(n as usize))
    }

    /// Sends a complete Ethernet frame to `destination`.
    pub fn send(&self, frame: &[u8], destination: MacAddr) -> io::Result<()> {
        super::send_to(self.fd.as_raw_fd(), frame, &link_address(self.index, Some(destination)))
    }

    /// Receives one frame (waiting up to the read timeout) and answers it if v0.9 would.
    pub fn serve_one(&self, announced: impl Fn(IpAddr) -> bool) -> io::Result<Served> {
        self.serve(announced, 0)
    }

    /// [`Self::serve_one`] without waiting: [`Served::Idle`] when no frame is queued.
    pub fn try_serve_one(&self, announced: impl Fn(IpAddr) -> bool) -> io::Result<Served> {
        self.serve(announced, libc::MSG_DONTWAIT)
    }

    fn serve(&self, announced: impl Fn(IpAddr) -> bool, flags: libc::c_int) -> io::Result<Served> {
        // v0.9 reads into 128 bytes; an ARP frame is at most 60 plus a few tags.
        let mut buf = [0u8; 128];
        let Some(n) = self.recv_flags(&mut buf, flags)? else { return Ok(Served::Idle) };
        Ok(match arp::answer(&buf[..n], self.mac, announced) {
            Err(reason) => Served::Dropped(reason),
            Ok(answer) => {
                let sent = self.send(&answer.reply.to_bytes(), answer.reply.destination).map_err(|e| e.to_string());
                Served::Answered { answer, sent }
            }
        })
    }

    /// Sends one gratuitous round for `ip` (request then reply); returns how many packets
    /// went out (v0.9 counts `gratuitous_sent` per packet and stops at the first error).
    pub fn gratuitous(&self, ip: Ipv4Addr) -> (usize, io::Result<()>) {
        let mut sent = 0;
        for frame in arp::gratuitous(self.mac, ip) {
            if let Err(e) = self.send(&frame.to_bytes(), frame.destination) {
                return (sent, Err(e));
            }
            sent += 1;
        }
        (sent, Ok(()))
    }

    /// Sends an arbitrary frame (tests use it to inject malformed traffic).
    pub fn send_raw(&self, frame: &[u8]) -> io::Result<()> {
        self.send(frame, MacAddr::BROADCAST)
    }

    /// Decodes a received frame (for captures in tests).
    pub fn recv_frame(&self) -> io::Result<Option<Result<ArpFrame, super::Malformed>>> {
        let mut buf = [0u8; 128];
        Ok(self.recv(&mut buf)?.map(|n| ArpFrame::parse(&buf[..n])))
    }
}
