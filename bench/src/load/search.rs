//! "The highest rate at p99 ≤ X ms": short open-loop steps at rising rates until one
//! misses the bar, then bisection between the best rate that met it and the lowest that
//! did not. Bounded in steps; each step is bounded in time by its own run.

use super::report::Report;
use serde::Serialize;
use std::fmt::Write;
use std::future::Future;

/// What a rate must achieve: OK calls' p99 at most `p99_ms`, and at most
/// `max_error_share` of all calls failed (refused, dropped, unfinished, …).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bar {
    pub p99_ms: f64,
    pub max_error_share: f64,
}

impl Bar {
    /// Whether a step's report meets the bar (a step with no OK call never does).
    pub fn met_by(&self, r: &Report) -> bool {
        r.ok > 0 && r.ok_latency_us.p99 as f64 <= self.p99_ms * 1e3 && r.error_share() <= self.max_error_share
    }
}

/// Where the search starts and when it stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// The first rate tried, calls/s.
    pub start_rate: f64,
    /// No rate above this is tried.
    pub max_rate: f64,
    /// No rate below this is tried.
    pub min_rate: f64,
    /// Factor between rates while every step meets the bar (and, down, while none does).
    pub growth: f64,
    /// Bisection stops when the bracket is within this share of the best rate.
    pub tolerance: f64,
    pub max_steps: u32,
}

/// The state of a search: the best rate that met the bar and the lowest that did not.
#[derive(Debug, Clone)]
pub struct RateSearch {
    plan: Plan,
    met: Option<f64>,
    missed: Option<f64>,
    steps: u32,
}

impl RateSearch {
    /// A search that has tried nothing yet.
    pub fn new(plan: Plan) -> Self {
        Self {
            plan,
            met: None,
            missed: None,
            steps: 0,
        }
    }

    /// The next rate to try (whole calls/s), or `None` when the search is done.
    pub fn next_rate(&self) -> Option<f64> {
        let p = &self.plan;
        if self.steps >= p.max_steps {
            return None;
        }
        let next = match (self.met, self.missed) {
            (None, None) => p.start_rate.clamp(p.min_rate, p.max_rate),
            (Some(met), None) => (met * p.growth).min(p.max_rate),
            (None, Some(missed)) => (missed / p.growth).max(p.min_rate),
            (Some(met), Some(missed)) => {
                if missed - met <= (met * p.tolerance).max(1.0) {
                    return None;
                }
                (met + missed) / 2.0
            }
        }
        .round();
        // Nothing new to learn at a rate already bounded on that side.
        let fresh = self.met.is_none_or(|m| next > m) && self.missed.is_none_or(|m| next < m);
        fresh.then_some(next)
    }

    /// The outcome of a step at `rate`.
    pub fn record(&mut self, rate: f64, met: bool) {
        self.steps += 1;
        if met {
            self.met = Some(self.met.map_or(rate, |m| m.max(rate)));
        } else {
            self.missed = Some(self.missed.map_or(rate, |m| m.min(rate)));
        }
    }

    /// The highest rate that met the bar so far.
    pub fn best(&self) -> Option<f64> {
        self.met
    }
}

/// One step of a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub rate: f64,
    pub met: bool,
    pub report: Report,
}

/// A whole search: the bar, the answer and every step that led to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchReport {
    pub bar: Bar,
    /// The highest rate that met the bar; `None` when none did.
    pub best_rate: Option<f64>,
    pub steps: Vec<Step>,
}

impl SearchReport {
    /// One line per step and the answer.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (i, step) in self.steps.iter().enumerate() {
            let _ = writeln!(s, "{}", step_line(i, step));
        }
        let _ = writeln!(s, "{}", self.answer_line());
        s
    }

    /// The answer: the highest rate that met the bar, or that none did.
    pub fn answer_line(&self) -> String {
        let bar = format!(
            "OK p99 <= {} ms and errors <= {:.2} %",
            self.bar.p99_ms,
            self.bar.max_error_share * 100.0
        );
        match self.best_rate {
            Some(r) => format!("max rate at {bar}: {r} calls/s"),
            None => format!("no rate tried met {bar}"),
        }
    }
}

/// The line a step prints as soon as it is done.
pub fn step_line(i: usize, step: &Step) -> String {
    let r = &step.report;
    format!(
        "step {}: {} calls/s offered, {:.0} OK/s, OK p99 {:.1} ms, errors {:.2} % -> {}",
        i + 1,
        step.rate,
        r.ok_per_sec,
        r.ok_latency_us.p99 as f64 / 1e3,
        r.error_share() * 100.0,
        if step.met { "meets the bar" } else { "misses" }
    )
}

/// Runs the search: `step(i, rate)` runs one open-loop step (`Ok(None)`: stop, e.g. on
/// SIGINT) and `progress` sees each finished step.
pub async fn run<F, Fut, E>(
    plan: Plan,
    bar: Bar,
    mut step: F,
    mut progress: impl FnMut(usize, &Step),
) -> Result<SearchReport, E>
where
    F: FnMut(u32, f64) -> Fut,
    Fut: Future<Output = Result<Option<Report>, E>>,
{
    let mut search = RateSearch::new(plan);
    let mut steps = Vec::new();
    while let Some(rate) = search.next_rate() {
        let Some(report) = step(steps.len() as u32, rate).await? else {
            break;
        };
        let met = bar.met_by(&report);
        search.record(rate, met);
        steps.push(Step { rate, met, report });
        progress(steps.len() - 1, &steps[steps.len() - 1]);
    }
    Ok(SearchReport {
        bar,
        best_rate: search.best(),
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::report::Load;
    use crate::load::tally::{Outcome, Tally};
    use std::time::Duration;

    fn plan() -> Plan {
        Plan {
            start_rate: 50.0,
            max_rate: 5000.0,
            min_rate: 1.0,
            growth: 2.0,
            tolerance: 0.02,
            max_steps: 30,
        }
    }

    /// Drives a search against a server whose p99 jumps past the bar above `knee` calls/s.
    fn search_with_knee(plan: Plan, knee: f64) -> (Option<f64>, Vec<f64>) {
        let mut s = RateSearch::new(plan);
        let mut tried = Vec::new();
        while let Some(rate) = s.next_rate() {
            assert!((plan.min_rate..=plan.max_rate).contains(&rate), "{rate}");
            assert!(!tried.contains(&rate), "{rate} tried twice");
            tried.push(rate);
            s.record(rate, rate <= knee);
        }
        (s.best(), tried)
    }

    #[test]
    fn ramps_up_then_bisects_to_the_knee() {
        let (best, tried) = search_with_knee(plan(), 437.0);
        assert_eq!(&tried[..5], [50.0, 100.0, 200.0, 400.0, 800.0]);
        let best = best.unwrap();
        assert!((437.0 * 0.98..=437.0).contains(&best), "{best} after {tried:?}");
        assert!(tried.len() < 15, "{tried:?}");
    }

    #[test]
    fn goes_down_when_the_first_step_misses_and_stops_at_the_bounds() {
        let (best, tried) = search_with_knee(plan(), 7.0);
        assert_eq!(&tried[..4], [50.0, 25.0, 13.0, 7.0]);
        assert_eq!(best, Some(7.0));
        // Nothing meets the bar: down to the least rate, then stop.
        let (best, tried) = search_with_knee(plan(), 0.5);
        assert_eq!(best, None);
        assert_eq!(tried.last(), Some(&1.0));
        // Everything meets it: up to the highest rate, then stop.
        let (best, tried) = search_with_knee(plan(), 1e9);
        assert_eq!(best, Some(5000.0));
        assert_eq!(tried.last(), Some(&5000.0));
    }

    #[test]
    fn the_step_bound_holds() {
        let p = Plan {
            max_steps: 4,
            ..plan()
        };
        let (best, tried) = search_with_knee(p, 437.0);
        assert_eq!(tried, [50.0, 100.0, 200.0, 400.0]);
        assert_eq!(best, Some(400.0));
    }

    /// A synthetic server for the whole driver: OK p99 grows past the bar above 600
    /// calls/s and 5 % of calls are refused above 900.
    fn synthetic(rate: f64) -> Report {
        let mut t = Tally::new();
        let latency = if rate <= 600.0 {
            Duration::from_millis(8)
        } else {
            Duration::from_millis(80)
        };
        for i in 0..1000u64 {
            let code = if rate > 900.0 && i % 20 == 0 {
                "ResourceExhausted"
            } else {
                "OK"
            };
            let o = Outcome {
                code: code.into(),
                cache_hit: false,
            };
            t.record(latency, &o, Duration::ZERO);
        }
        let load = Load::Open {
            rate,
            max_outstanding: 100,
        };
        Report::new(load, &t, Duration::from_secs(2), None, 0.0)
    }

    #[tokio::test]
    async fn the_driver_reports_the_highest_rate_under_the_bar() {
        let bar = Bar {
            p99_ms: 50.0,
            max_error_share: 0.01,
        };
        let mut seen = 0;
        let out = run(
            plan(),
            bar,
            |_, rate| async move { Ok::<_, ()>(Some(synthetic(rate))) },
            |i, _| {
                assert_eq!(i, seen);
                seen += 1;
            },
        )
        .await
        .unwrap();
        let best = out.best_rate.unwrap();
        assert!((588.0..=600.0).contains(&best), "{best}: {}", out.text());
        assert_eq!(out.steps.len(), seen);
        assert!(out.steps.iter().all(|s| s.met == (s.rate <= 600.0)));
        // The latency bar alone: with p99 allowed 100 ms the error share decides (≤ 900).
        let loose = Bar { p99_ms: 100.0, ..bar };
        let out = run(
            plan(),
            loose,
            |_, r| async move { Ok::<_, ()>(Some(synthetic(r))) },
            |_, _| {},
        )
        .await
        .unwrap();
        assert!(
            (882.0..=900.0).contains(&out.best_rate.unwrap()),
            "{:?}",
            out.best_rate
        );
        let v = serde_json::to_value(&out).unwrap();
        assert_eq!(v["bar"]["p99_ms"], 100.0);
        assert!(v["steps"][0]["report"]["ok_latency_us"]["p99"].is_u64());
        // A step that returns None (SIGINT) ends the search with what it has.
        let out = run(
            plan(),
            bar,
            |i, r| async move { Ok::<_, ()>((i < 2).then(|| synthetic(r))) },
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!((out.steps.len(), out.best_rate), (2, Some(100.0)));
    }
}
