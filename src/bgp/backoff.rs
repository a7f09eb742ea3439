//! Reconnect backoff (spec §4.6 "Run loop", vector E.5): 0 s, 1 s, 2 s, 4 s, … doubling up
//! to 120 s; reset after a successful OPEN exchange.

use std::time::Duration;

const MAX: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// The delay before the next attempt, advancing the sequence.
    pub fn next_delay(&mut self) -> Duration {
        let ret = self.next;
        self.next = if ret.is_zero() {
            Duration::from_secs(1)
        } else {
            (ret * 2).min(MAX)
        };
        ret
    }

    pub fn reset(&mut self) {
        self.next = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e5_retry_delays_double_to_two_minutes_and_reset() {
        let mut b = Backoff::default();
        let got: Vec<u64> = (0..11).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(got, [0, 1, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::ZERO);
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }
}
