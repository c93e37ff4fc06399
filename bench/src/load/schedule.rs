//! The open-loop arrival schedule: when each call is due, and its latency counted from then.
//!
//! Call `n` is due `n / rate` seconds after the start whether or not earlier calls have
//! answered. Its latency runs from that due time, not from the moment it was sent, so a
//! stall anywhere (the server, the network, this process) shows in every call it held
//! back: coordinated omission cannot hide it.

use super::LoadError;
use std::ops::Range;
use std::time::Duration;

/// Fixed-rate arrivals: `calls` calls, one every `1 / rate` seconds from the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
    calls: u64,
}

impl Schedule {
    /// `rate` calls/s for `duration` (calls due before its end), at most `max_calls` calls.
    pub fn new(rate: f64, duration: Duration, max_calls: u64) -> Result<Self, LoadError> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(LoadError::BadRate(rate));
        }
        // Saturates for absurd products; max_calls bounds it anyway.
        let calls = (rate * duration.as_secs_f64()).ceil() as u64;
        Ok(Self {
            rate,
            calls: calls.min(max_calls),
        })
    }

    /// Offered calls per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Calls in the whole schedule.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// When call `n` is due, from the start.
    pub fn due(&self, n: u64) -> Duration {
        // In whole nanoseconds, rounded: 1 000 calls/s puts call 7 at exactly 7 ms.
        Duration::from_nanos((n as f64 * 1e9 / self.rate).round() as u64)
    }

    /// How many calls are due by `elapsed` (those with `due(n) <= elapsed`).
    pub fn due_by(&self, elapsed: Duration) -> u64 {
        let mut n = ((elapsed.as_secs_f64() * self.rate).floor() as u64)
            .saturating_add(1)
            .min(self.calls);
        // The product rounds; `due` is the definition.
        while n < self.calls && self.due(n) <= elapsed {
            n += 1;
        }
        while n > 0 && self.due(n - 1) > elapsed {
            n -= 1;
        }
        n
    }
}

/// Hands out due calls in order. A launcher that wakes late gets every call it missed,
/// each keeping its own due time (so their latencies include the lateness).
#[derive(Debug, Clone)]
pub struct Pacer {
    schedule: Schedule,
    next: u64,
}

impl Pacer {
    /// A pacer at the start of `schedule`.
    pub fn new(schedule: Schedule) -> Self {
        Self { schedule, next: 0 }
    }

    /// When the next call is due; `None` once every call has been handed out.
    pub fn next_due(&self) -> Option<Duration> {
        (self.next < self.schedule.calls()).then(|| self.schedule.due(self.next))
    }

    /// The calls due by `elapsed` that were not handed out yet.
    pub fn take_due(&mut self, elapsed: Duration) -> Range<u64> {
        let end = self.schedule.due_by(elapsed).max(self.next);
        let due = self.next..end;
        self.next = end;
        due
    }
}

/// Latency of a call due at `due` that finished at `done` (both from the start): it
/// includes any time the call waited to be sent.
pub fn latency(due: Duration, done: Duration) -> Duration {
    done.saturating_sub(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn arrivals_are_evenly_spaced_from_the_start() {
        let s = Schedule::new(4.0, Duration::from_secs(1), u64::MAX).unwrap();
        assert_eq!(s.calls(), 4);
        let due: Vec<Duration> = (0..4).map(|n| s.due(n)).collect();
        assert_eq!(due, [ms(0), ms(250), ms(500), ms(750)]);

        let s = Schedule::new(1000.0, Duration::from_secs(2), u64::MAX).unwrap();
        assert_eq!(s.calls(), 2000);
        assert_eq!(s.due(1999), ms(1999));
        // A fractional count rounds up: 2.5 calls/s for 1 s is due at 0, 0.4 and 0.8 s.
        assert_eq!(
            Schedule::new(2.5, Duration::from_secs(1), u64::MAX)
                .unwrap()
                .calls(),
            3
        );
    }

    #[test]
    fn the_call_cap_and_bad_rates() {
        let s = Schedule::new(1000.0, Duration::from_secs(10), 25).unwrap();
        assert_eq!(s.calls(), 25);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Schedule::new(bad, Duration::from_secs(1), 10).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_call_is_due_at_its_own_time_not_before() {
        let s = Schedule::new(3.0, Duration::from_secs(10), u64::MAX).unwrap();
        for n in 0..30 {
            assert_eq!(s.due_by(s.due(n)), n + 1, "call {n} at its due time");
            if n > 0 {
                assert_eq!(s.due_by(s.due(n) - Duration::from_nanos(1)), n);
            }
        }
        assert_eq!(s.due_by(Duration::from_secs(100)), s.calls());
    }

    #[test]
    fn a_late_launcher_gets_every_missed_call_with_its_own_due_time() {
        let s = Schedule::new(100.0, Duration::from_secs(1), u64::MAX).unwrap();
        let mut p = Pacer::new(s);
        assert_eq!(p.next_due(), Some(ms(0)));
        assert_eq!(p.take_due(ms(0)), 0..1);
        assert_eq!(p.next_due(), Some(ms(10)));
        // The launcher stalls for 300 ms: calls 1..=30 are all due at once.
        let late = p.take_due(ms(300));
        assert_eq!(late, 1..31);
        // Each is sent at 300 ms and answered 1 ms later; its latency counts from its
        // due time, so call 1 (due at 10 ms) shows 291 ms of the stall.
        for n in late {
            assert_eq!(latency(s.due(n), ms(301)), ms(301) - s.due(n));
        }
        assert_eq!(latency(s.due(1), ms(301)), ms(291));
        assert_eq!(p.take_due(ms(300)), 31..31, "nothing handed out twice");
        assert_eq!(p.take_due(ms(5000)), 31..100);
        assert_eq!(p.next_due(), None);
    }

    /// A server that answers one call at a time, in order, 1 ms each, except one that
    /// stalls it for 500 ms. Open-loop calls keep arriving on schedule; every call queued
    /// behind the stall must show it. A closed-loop caller (next call sent when the last
    /// one answered) would have seen one slow call and nothing else.
    #[test]
    fn a_stalled_call_shows_in_the_latency_of_the_calls_behind_it() {
        let s = Schedule::new(100.0, Duration::from_secs(2), u64::MAX).unwrap();
        let service = |n: u64| if n == 10 { ms(500) } else { ms(1) };
        let mut p = Pacer::new(s);
        let (mut free_at, mut open) = (Duration::ZERO, Vec::new());
        while let Some(at) = p.next_due() {
            for n in p.take_due(at) {
                let done = free_at.max(s.due(n)) + service(n);
                free_at = done;
                open.push(latency(s.due(n), done));
            }
        }
        assert_eq!(open.len(), 200);
        assert_eq!(open[9], ms(1));
        assert_eq!(open[10], ms(500));
        // Call 11 was due 10 ms after the stall began: it waited 490 ms, then 1 ms.
        assert_eq!(open[11], ms(491));
        let hit: Vec<u64> = (0..200).filter(|&n| open[n as usize] > ms(1)).collect();
        assert!(
            hit.len() > 40,
            "the stall reaches the ~49 calls queued behind it: {hit:?}"
        );
        assert!(
            hit.windows(2).all(|w| w[1] == w[0] + 1),
            "one contiguous run from call 10"
        );

        // The same server measured closed-loop, from the moment each call was sent.
        let closed: Vec<Duration> = (0..200).map(service).collect();
        assert_eq!(closed.iter().filter(|&&l| l > ms(1)).count(), 1);
    }
}
