//! Ethernet hardware addresses.

use std::fmt;

/// A 48-bit Ethernet MAC address. `Display` is Go's `net.HardwareAddr` form
/// (`01:02:03:04:05:06`, lower case), which v0.9 logs as `senderMAC` / `responseMAC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_displays_like_go_hardware_addr() {
        assert_eq!(MacAddr([1, 2, 3, 0xa4, 0xb5, 0xff]).to_string(), "01:02:03:a4:b5:ff");
    }
}
