//! The report of one run: throughput, latency percentiles, outcomes by code. As the text
//! lines scripts read (`OK: N`, `summary …`, a Markdown row) or as JSON.

use super::tally::{Tally, is_ok};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// How the load was offered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Load {
    /// `callers` callers, each sending its next call when its last one answered.
    Closed { callers: usize },
    /// `rate` calls/s on a fixed schedule, at most `max_outstanding` unanswered at once.
    Open { rate: f64, max_outstanding: usize },
}

/// Latency percentiles in µs from one HDR histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub max: u64,
}

impl Percentiles {
    /// The percentiles of `h` (all zero when it is empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        let q = |q: f64| if h.is_empty() { 0 } else { h.value_at_quantile(q) };
        Self {
            count: h.len(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p99_9: q(0.999),
            max: if h.is_empty() { 0 } else { h.max() },
        }
    }
}

/// One run's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub load: Load,
    pub deadline_ms: Option<u64>,
    /// Share of calls that repeated a question (cache hits once asked).
    pub repeat_share: f64,
    /// From the start until the last call answered (or was given up).
    pub elapsed_secs: f64,
    /// Every call: answered, dropped by the outstanding bound, or unfinished.
    pub calls: u64,
    pub ok: u64,
    pub failed: u64,
    /// OK calls per second of `elapsed_secs`.
    pub ok_per_sec: f64,
    pub cache_hits: u64,
    /// From the start to the first failed call.
    pub first_error_ms: Option<f64>,
    /// Every answered call, OK or not.
    pub latency_us: Percentiles,
    /// OK calls only.
    pub ok_latency_us: Percentiles,
    /// Every call by outcome code, OK ones included ("OK", "Route OK", the codes below).
    pub codes: BTreeMap<String, u64>,
    /// The failures by code: gRPC codes ("ResourceExhausted"; "Route …" for Route calls),
    /// "Dropped" (never sent) and "Unfinished" (no answer by the end of the drain).
    pub errors: BTreeMap<String, u64>,
}

impl Report {
    /// The report of `tally`, counted over `elapsed`.
    pub fn new(
        load: Load,
        tally: &Tally,
        elapsed: Duration,
        deadline_ms: Option<u64>,
        repeat_share: f64,
    ) -> Self {
        let secs = elapsed.as_secs_f64();
        let ok = tally.ok_calls();
        Self {
            load,
            deadline_ms,
            repeat_share,
            elapsed_secs: secs,
            calls: tally.calls(),
            ok,
            failed: tally.failed(),
            ok_per_sec: if secs > 0.0 { ok as f64 / secs } else { 0.0 },
            cache_hits: tally.cache_hits,
            first_error_ms: tally.first_error.map(|d| d.as_secs_f64() * 1e3),
            latency_us: Percentiles::of(&tally.all),
            ok_latency_us: Percentiles::of(&tally.ok),
            codes: tally.codes.clone(),
            errors: tally
                .codes
                .iter()
                .filter(|(c, _)| !is_ok(c))
                .map(|(c, n)| (c.clone(), *n))
                .collect(),
        }
    }

    /// The share of calls that failed (0 when there were none).
    pub fn error_share(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.failed as f64 / self.calls as f64
        }
    }

    fn first_error(&self) -> String {
        self.first_error_ms
            .map_or("none".to_string(), |ms| format!("{ms:.1} ms"))
    }

    /// The human report; its `CODE: N` and `summary` lines are what scripts grep.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let calls_per_sec = if self.elapsed_secs > 0.0 {
            self.calls as f64 / self.elapsed_secs
        } else {
            0.0
        };
        match self.load {
            Load::Closed { callers } => writeln!(
                s,
                "{} calls in {:.1} s with {callers} callers: {calls_per_sec:.0} calls/s, {:.0} OK/s",
                self.calls, self.elapsed_secs, self.ok_per_sec
            ),
            Load::Open {
                rate,
                max_outstanding,
            } => writeln!(
                s,
                "{} calls in {:.1} s offered at {rate} calls/s (open loop, at most {max_outstanding} \
                 outstanding): {:.0} OK/s",
                self.calls, self.elapsed_secs, self.ok_per_sec
            ),
        }
        .expect("writing to a String");
        let l = &self.latency_us;
        let o = &self.ok_latency_us;
        let _ = writeln!(
            s,
            "latency µs: p50 {} p90 {} p99 {} p99.9 {} max {}",
            l.p50, l.p90, l.p99, l.p99_9, l.max
        );
        let _ = writeln!(
            s,
            "OK latency µs: p50 {} p90 {} p99 {} p99.9 {} max {}",
            o.p50, o.p90, o.p99, o.p99_9, o.max
        );
        let _ = writeln!(s, "cache hits: {}", self.cache_hits);
        let _ = writeln!(s, "first error after: {}", self.first_error());
        for (code, n) in &self.codes {
            let _ = writeln!(s, "{code}: {n}");
        }
        let _ = writeln!(
            s,
            "summary calls={} failed={} p99_us={}",
            self.calls, self.failed, l.p99
        );
        s
    }

    /// One Markdown table row: callers (or rate), deadline, calls, OK, p50, p99, first
    /// error, errors.
    pub fn markdown_row(&self) -> String {
        let who = match self.load {
            Load::Closed { callers } => callers.to_string(),
            Load::Open { rate, .. } => format!("{rate}/s"),
        };
        let errors: Vec<String> = self.errors.iter().map(|(c, n)| format!("{c} {n}")).collect();
        format!(
            "| {who} | {} | {} | {} | {:.1} ms | {:.1} ms | {} | {} |",
            self.deadline_ms.map_or("none".to_string(), |d| format!("{d} ms")),
            self.calls,
            self.ok,
            self.latency_us.p50 as f64 / 1e3,
            self.latency_us.p99 as f64 / 1e3,
            self.first_error(),
            if errors.is_empty() {
                "none".to_string()
            } else {
                errors.join(", ")
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::tally::{DROPPED, Outcome};
    use serde_json::Value;

    fn sample() -> (Tally, Report) {
        let mut t = Tally::new();
        let ms = Duration::from_millis;
        for i in 1..=100 {
            let code = if i % 10 == 0 { "ResourceExhausted" } else { "OK" };
            let o = Outcome {
                code: code.into(),
                cache_hit: i % 2 == 0,
            };
            t.record(ms(i), &o, ms(i));
        }
        t.unanswered(DROPPED, ms(5));
        let load = Load::Open {
            rate: 50.0,
            max_outstanding: 8,
        };
        let r = Report::new(load, &t, Duration::from_secs(2), Some(50), 0.5);
        (t, r)
    }

    #[test]
    fn the_json_report_has_every_field() {
        let (_, r) = sample();
        let v: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["mode"], "open");
        assert_eq!(v["rate"], 50.0);
        assert_eq!(v["max_outstanding"], 8);
        assert_eq!(v["deadline_ms"], 50);
        assert_eq!(v["repeat_share"], 0.5);
        assert_eq!(v["calls"], 101);
        assert_eq!(v["ok"], 90);
        assert_eq!(v["failed"], 11);
        assert_eq!(v["ok_per_sec"], 45.0);
        assert_eq!(v["cache_hits"], 50);
        assert_eq!(v["first_error_ms"], 5.0);
        assert_eq!(v["errors"]["ResourceExhausted"], 10);
        assert_eq!(v["errors"]["Dropped"], 1);
        assert!(v["errors"].get("OK").is_none());
        assert_eq!(v["codes"]["OK"], 90);
        assert_eq!(v["codes"]["Dropped"], 1);
        for h in ["latency_us", "ok_latency_us"] {
            for key in ["count", "p50", "p90", "p99", "p99_9", "max"] {
                assert!(v[h][key].is_u64(), "{h}.{key}: {}", v[h]);
            }
        }
        assert_eq!(v["latency_us"]["count"], 100);
        assert_eq!(v["ok_latency_us"]["count"], 90);
        let l = &r.latency_us;
        assert!(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p99_9 && l.p99_9 <= l.max);

        let closed = Report::new(
            Load::Closed { callers: 4 },
            &Tally::new(),
            Duration::ZERO,
            None,
            1.0,
        );
        let v = serde_json::to_value(&closed).unwrap();
        assert_eq!(
            (v["mode"].as_str(), v["callers"].as_u64()),
            (Some("closed"), Some(4))
        );
        assert!(v["deadline_ms"].is_null() && v["first_error_ms"].is_null());
        assert_eq!(v["latency_us"]["count"], 0);
    }

    #[test]
    fn the_text_keeps_the_lines_scripts_read() {
        let (_, r) = sample();
        let text = r.text();
        assert!(text.lines().any(|l| l == "OK: 90"), "{text}");
        assert!(text.lines().any(|l| l == "Dropped: 1"), "{text}");
        let summary = text.lines().find(|l| l.starts_with("summary ")).unwrap();
        assert!(
            summary.starts_with("summary calls=101 failed=11 p99_us="),
            "{summary}"
        );
        let row = r.markdown_row();
        assert!(row.starts_with("| 50/s | 50 ms | 101 | 90 |"), "{row}");
        assert!(
            row.ends_with("| 5.0 ms | Dropped 1, ResourceExhausted 10 |"),
            "{row}"
        );
        assert_eq!(r.error_share(), 11.0 / 101.0);
    }
}
