//! Admission by time, not by count: how fast the encoder has been going
//! lately, and whether a call's expected wait fits the server's budget and
//! the caller's deadline. A call that would not fit is refused at once, so an
//! overloaded server says RESOURCE_EXHAUSTED in microseconds instead of
//! answering after seconds.

use std::time::{Duration, Instant};

/// Seconds per question assumed until the encoder has finished a batch: a lone
/// question of the 12-layer multilingual model, so a cold server is cautious.
pub const INITIAL_SECONDS_PER_QUESTION: f64 = 0.025;

/// Weight of the newest batch in the moving sums: recent enough to follow a
/// machine that slows down, smooth enough that one odd batch does not swing it.
const EWMA_WEIGHT: f64 = 0.2;

/// The encoder's recent speed as a batch cost `fixed + per_question · n`, fitted by
/// least squares over exponentially weighted sums of finished batches. Queued
/// questions are encoded together, so a wait is priced in batches of `max_batch`:
/// pricing each question at a lone question's cost (which carries the fixed part)
/// would overstate a queue's wait and refuse calls the encoder could take.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    max_batch: usize,
    /// Weighted sums of 1, n, t, n², n·t over finished batches (n questions, t seconds).
    sums: [f64; 5],
}

impl Throughput {
    /// No measurement yet; batches hold at most `max_batch` questions.
    pub fn new(max_batch: usize) -> Self {
        Self {
            max_batch: max_batch.max(1),
            sums: [0.0; 5],
        }
    }

    /// (fixed seconds per batch, seconds per question), or None before any batch.
    fn model(&self) -> Option<(f64, f64)> {
        let [w, n, t, nn, nt] = self.sums;
        if w <= 0.0 {
            return None;
        }
        let var = w * nn - n * n;
        // Batches of (nearly) one size say nothing about the split: all per question.
        if var <= 1e-9 * w * nn {
            return Some((0.0, t / n));
        }
        let per = ((w * nt - n * t) / var).max(0.0);
        let fixed = ((t - per * n) / w).max(0.0);
        if per == 0.0 {
            return Some((0.0, t / n));
        }
        Some((fixed, per))
    }

    /// Time one question alone is expected to cost (the conservative default before any batch).
    pub fn per_question(&self) -> Duration {
        self.for_questions(1)
    }

    /// Time `n` queued questions are expected to cost, encoded in batches of `max_batch`.
    pub fn for_questions(&self, n: usize) -> Duration {
        if n == 0 {
            return Duration::ZERO;
        }
        let secs = match self.model() {
            None => INITIAL_SECONDS_PER_QUESTION * n as f64,
            Some((fixed, per)) => fixed * n.div_ceil(self.max_batch) as f64 + per * n as f64,
        };
        Duration::from_secs_f64(secs)
    }

    /// Folds in a finished batch of `questions` that took `took`.
    pub fn record(&mut self, questions: usize, took: Duration) {
        if questions == 0 {
            return;
        }
        let (n, t) = (questions as f64, took.as_secs_f64());
        let first = self.sums[0] == 0.0;
        for (sum, x) in self.sums.iter_mut().zip([1.0, n, t, n * n, n * t]) {
            *sum = if first {
                x
            } else {
                *sum * (1.0 - EWMA_WEIGHT) + EWMA_WEIGHT * x
            };
        }
    }

    /// True once a batch has been measured.
    pub fn measured(&self) -> bool {
        self.sums[0] > 0.0
    }
}

/// Why the encoder refused a call; every case is RESOURCE_EXHAUSTED for the caller.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    #[error(
        "the encoder is overloaded: expected wait {} ms exceeds the budget of {} ms; retry with backoff",
        ms(*expected),
        ms(*budget)
    )]
    OverBudget { expected: Duration, budget: Duration },
    #[error(
        "the encoder cannot answer in time: expected wait {} ms plus {} ms to encode exceeds the call's \
         remaining deadline of {} ms (budget {} ms)",
        ms(*expected),
        ms(*encode),
        ms(*remaining),
        ms(*budget)
    )]
    PastDeadline {
        expected: Duration,
        encode: Duration,
        remaining: Duration,
        budget: Duration,
    },
    #[error("the encoder queue is full ({0} questions waiting); retry with backoff")]
    Full(usize),
}

/// Milliseconds with one decimal, for messages.
fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// Admits a call expected to wait `expected` (of which `counted` counts against the
/// budget) and then take `encode`, or says why not: the counted wait must fit the
/// budget, and the whole wait plus encoding the caller's deadline.
pub fn admit(
    counted: Duration,
    expected: Duration,
    encode: Duration,
    budget: Duration,
    deadline: Option<Instant>,
    now: Instant,
) -> Result<(), Refused> {
    if counted > budget {
        return Err(Refused::OverBudget {
            expected: counted,
            budget,
        });
    }
    if let Some(deadline) = deadline {
        let remaining = deadline.saturating_duration_since(now);
        if expected + encode > remaining {
            return Err(Refused::PastDeadline {
                expected,
                encode,
                remaining,
                budget,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_starts_cautious_then_follows_measurements() {
        let mut t = Throughput::new(32);
        assert!(!t.measured());
        assert_eq!(
            t.per_question(),
            Duration::from_secs_f64(INITIAL_SECONDS_PER_QUESTION)
        );
        t.record(10, Duration::from_millis(40));
        assert!(
            (t.per_question().as_secs_f64() - 0.004).abs() < 1e-9,
            "one size: all per question"
        );
        t.record(0, Duration::from_secs(9));
        assert!(
            (t.per_question().as_secs_f64() - 0.004).abs() < 1e-9,
            "empty batches are ignored"
        );
    }

    #[test]
    fn a_fixed_cost_per_batch_is_paid_once_per_batch_of_the_queue() {
        // Batches cost 3 ms + 1 ms per question.
        let mut t = Throughput::new(8);
        for n in [1, 4, 8, 2, 6, 1, 8, 3] {
            t.record(n, Duration::from_secs_f64(0.003 + 0.001 * n as f64));
        }
        let close = |d: Duration, ms: f64| (d.as_secs_f64() * 1e3 - ms).abs() < 1e-6;
        assert!(close(t.per_question(), 4.0), "{:?}", t.per_question());
        // 20 queued questions run as 3 batches: 3·3 ms + 20·1 ms, not 20 lone questions (80 ms).
        assert!(close(t.for_questions(20), 29.0), "{:?}", t.for_questions(20));
        assert_eq!(t.for_questions(0), Duration::ZERO);
    }

    #[test]
    fn refusals_name_the_expected_wait_and_the_budget() {
        let now = Instant::now();
        let budget = Duration::from_millis(100);
        let e = admit(
            Duration::from_millis(250),
            Duration::from_millis(250),
            Duration::ZERO,
            budget,
            None,
            now,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the encoder is overloaded: expected wait 250.0 ms exceeds the budget of 100.0 ms; retry with backoff"
        );
        let deadline = Some(now + Duration::from_millis(30));
        let e = admit(
            Duration::from_millis(20),
            Duration::from_millis(20),
            Duration::from_millis(15),
            budget,
            deadline,
            now,
        )
        .unwrap_err();
        assert!(matches!(e, Refused::PastDeadline { .. }), "{e}");
        assert!(e.to_string().contains("expected wait 20.0 ms"), "{e}");
        assert!(e.to_string().contains("budget 100.0 ms"), "{e}");
        admit(
            Duration::from_millis(20),
            Duration::from_millis(20),
            Duration::from_millis(5),
            budget,
            deadline,
            now,
        )
        .unwrap();
        admit(budget, budget, Duration::from_secs(5), budget, None, now).unwrap();
        // Wait the budget does not count (a running bulk chunk) still meets the deadline.
        let e = admit(
            Duration::ZERO,
            Duration::from_millis(300),
            Duration::from_millis(5),
            budget,
            Some(now + Duration::from_millis(100)),
            now,
        )
        .unwrap_err();
        assert!(matches!(e, Refused::PastDeadline { .. }), "{e}");
        admit(
            Duration::ZERO,
            Duration::from_millis(300),
            Duration::from_millis(5),
            budget,
            None,
            now,
        )
        .unwrap();
    }
}
