//! Outcomes of calls as they come in: latency histograms (HdrHistogram, µs), counts by
//! outcome code, cache hits and the time of the first failure.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Code of a scheduled call that was never sent: the bound on outstanding calls was full.
pub const DROPPED: &str = "Dropped";
/// Code of a call still unanswered when the run's drain time ran out.
pub const UNFINISHED: &str = "Unfinished";

/// How one call ended: its code ("OK", a gRPC code such as "ResourceExhausted"; Route
/// calls carry a "Route " prefix) and whether the server answered from its cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: String,
    pub cache_hit: bool,
}

/// Whether an outcome code is a success (Ask's "OK" or Route's "Route OK").
pub fn is_ok(code: &str) -> bool {
    code == "OK" || code == "Route OK"
}

/// Records `us`, growing the histogram as needed (only a value past its largest possible
/// range is clamped).
fn record(h: &mut Histogram<u64>, us: u64) {
    if h.record(us).is_err() {
        h.saturating_record(us);
    }
}

/// Everything counted so far in one run (or one worker's share of it).
#[derive(Debug, Clone)]
pub struct Tally {
    /// Latency of every answered call, OK or not.
    pub all: Histogram<u64>,
    /// Latency of the OK calls only.
    pub ok: Histogram<u64>,
    /// Calls by outcome code, unsent and unfinished ones included.
    pub codes: BTreeMap<String, u64>,
    pub cache_hits: u64,
    /// From the start of the run to the first failure.
    pub first_error: Option<Duration>,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Self {
        // Three significant digits, growing as needed: no latency is out of range.
        let h = || Histogram::<u64>::new(3).expect("3 significant digits is a valid precision");
        Self {
            all: h(),
            ok: h(),
            codes: BTreeMap::new(),
            cache_hits: 0,
            first_error: None,
        }
    }

    /// An answered call: `latency` long, done `at` after the start.
    pub fn record(&mut self, latency: Duration, outcome: &Outcome, at: Duration) {
        let us = latency.as_micros().min(u128::from(u64::MAX)) as u64;
        record(&mut self.all, us);
        if is_ok(&outcome.code) {
            record(&mut self.ok, us);
        } else {
            self.failed_at(at);
        }
        self.cache_hits += u64::from(outcome.cache_hit);
        *self.codes.entry(outcome.code.clone()).or_default() += 1;
    }

    /// A call without an answer (`DROPPED`, `UNFINISHED`): counted and failed, no latency.
    pub fn unanswered(&mut self, code: &str, at: Duration) {
        self.failed_at(at);
        *self.codes.entry(code.to_string()).or_default() += 1;
    }

    fn failed_at(&mut self, at: Duration) {
        self.first_error = Some(self.first_error.map_or(at, |f| f.min(at)));
    }

    /// Adds another tally (a worker's) to this one.
    pub fn merge(&mut self, other: &Tally) {
        self.all
            .add(&other.all)
            .expect("histograms that grow accept any value");
        self.ok
            .add(&other.ok)
            .expect("histograms that grow accept any value");
        for (code, n) in &other.codes {
            *self.codes.entry(code.clone()).or_default() += n;
        }
        self.cache_hits += other.cache_hits;
        if let Some(at) = other.first_error {
            self.failed_at(at);
        }
    }

    /// Every call counted, answered or not.
    pub fn calls(&self) -> u64 {
        self.codes.values().sum()
    }

    /// Calls that succeeded.
    pub fn ok_calls(&self) -> u64 {
        self.codes.iter().filter(|(c, _)| is_ok(c)).map(|(_, n)| n).sum()
    }

    /// Calls that did not succeed, unsent and unfinished ones included.
    pub fn failed(&self) -> u64 {
        self.calls() - self.ok_calls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: &str, hit: bool) -> Outcome {
        Outcome {
            code: code.into(),
            cache_hit: hit,
        }
    }

    #[test]
    fn counts_by_code_and_keeps_failures_out_of_the_ok_histogram() {
        let ms = Duration::from_millis;
        let mut a = Tally::new();
        a.record(ms(2), &outcome("OK", true), ms(10));
        a.record(ms(3), &outcome("Route OK", false), ms(20));
        let mut b = Tally::new();
        b.record(ms(1), &outcome("ResourceExhausted", false), ms(30));
        b.unanswered(DROPPED, ms(25));
        a.merge(&b);
        assert_eq!((a.calls(), a.ok_calls(), a.failed(), a.cache_hits), (4, 2, 2, 1));
        assert_eq!((a.all.len(), a.ok.len()), (3, 2));
        assert_eq!(a.all.max(), a.all.highest_equivalent(3000), "no clamping");
        assert_eq!(a.first_error, Some(ms(25)));
        assert_eq!(a.codes.get(DROPPED), Some(&1));
    }
}
