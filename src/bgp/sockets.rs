//! The socket side of a BGP session: the dial with an optional TCP MD5 key (spec §4.6
//! "Connect sequence" 1) and the interface lookup behind the router-id and IPv4 next-hop
//! fallbacks (E.6).
//!
//! `libc` has `TCP_MD5SIG` but not `struct tcp_md5sig`, and neither socket2 nor nix sets the
//! option, so the struct is declared here with the kernel's layout (linux/tcp.h).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use tokio::net::{TcpSocket, TcpStream};

/// The kernel's maximum MD5 key length (`TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` from linux/tcp.h.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_MAX_KEY_LEN],
}

/// Errors setting up the session socket.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("TCP MD5 password is {0} bytes, the kernel allows at most 80")]
    KeyTooLong(usize),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The `tcp_md5sig` that keys connections to `peer` with `key`.
fn md5sig(peer: IpAddr, key: &[u8]) -> Result<TcpMd5Sig, DialError> {
    if key.len() > MD5_MAX_KEY_LEN {
        return Err(DialError::KeyTooLong(key.len()));
    }
    // SAFETY: sockaddr_storage and the integer fields are plain data; all-zero is valid.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    match peer {
        IpAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write(&mut sig.addr as *mut _ as *mut libc::sockaddr_in, sin) };
        }
        IpAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: a.octets() },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write(&mut sig.addr as *mut _ as *mut libc::sockaddr_in6, sin6) };
        }
    }
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    Ok(sig)
}

/// Sets `TCP_MD5SIG` for `peer` on a socket that is not connected yet.
pub fn set_md5(socket: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> Result<(), DialError> {
    let sig = md5sig(peer, key)?;
    // SAFETY: the pointer and length describe `sig`, which outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            &sig as *const TcpMd5Sig as *const libc::c_void,
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error().into());
    }
    Ok(())
}

/// v0.9's dial: a fresh socket (the kernel picks the source address and port), the MD5 key
/// when a password is set, then connect. The caller bounds it with the session's deadline.
pub async fn dial(peer: SocketAddr, password: &str) -> Result<TcpStream, DialError> {
    let socket = match peer {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if !password.is_empty() {
        set_md5(&socket, peer.ip(), password.as_bytes())?;
    }
    socket.set_nodelay(true)?;
    Ok(socket.connect(peer).await?)
}

/// The first IPv4 address of the interface that holds `local` (E.6's third router-id
/// choice, and the IPv4 NEXT_HOP on a session over IPv6).
pub fn interface_ipv4_for(local: Ipv6Addr) -> Option<Ipv4Addr> {
    let addrs = interface_addrs().ok()?;
    let name = addrs
        .iter()
        .find(|(_, a)| *a == IpAddr::V6(local))
        .map(|(n, _)| n.clone())?;
    addrs.into_iter().find_map(|(n, a)| match a {
        IpAddr::V4(v4) if n == name => Some(v4),
        _ => None,
    })
}

/// Every (interface name, address) pair, in the kernel's order.
fn interface_addrs() -> io::Result<Vec<(String, IpAddr)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr points to a sockaddr whose family tells its real type.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        let ip = match family {
            libc::AF_INET => {
                // SAFETY: family AF_INET means a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                IpAddr::V4(Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()))
            }
            libc::AF_INET6 => {
                // SAFETY: family AF_INET6 means a sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
            }
            _ => continue,
        };
        out.push((name, ip));
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5sig_has_the_kernel_layout() {
        // linux/tcp.h: 128-byte sockaddr_storage, flags, prefixlen, keylen, ifindex, key[80].
        assert_eq!(std::mem::size_of::<TcpMd5Sig>(), 128 + 1 + 1 + 2 + 4 + 80);
        let sig = md5sig("192.0.2.1".parse().unwrap(), b"secret").unwrap();
        assert_eq!(sig.keylen, 6);
        assert_eq!(&sig.key[..6], b"secret");
        assert_eq!(i32::from(sig.addr.ss_family), libc::AF_INET);
    }

    #[test]
    fn md5_key_longer_than_80_bytes_is_rejected() {
        let key = [b'x'; 81];
        assert!(matches!(
            md5sig("2001:db8::1".parse().unwrap(), &key),
            Err(DialError::KeyTooLong(81))
        ));
    }

    #[tokio::test]
    async fn md5_option_is_accepted_by_the_kernel_on_a_fresh_socket() {
        let s = TcpSocket::new_v4().unwrap();
        set_md5(&s, "192.0.2.1".parse().unwrap(), b"secret").unwrap();
        let s6 = TcpSocket::new_v6().unwrap();
        set_md5(&s6, "2001:db8::1".parse().unwrap(), b"secret").unwrap();
    }

    #[test]
    fn loopback_v6_interface_has_loopback_v4() {
        assert_eq!(interface_ipv4_for(Ipv6Addr::LOCALHOST), Some(Ipv4Addr::LOCALHOST));
    }
}
