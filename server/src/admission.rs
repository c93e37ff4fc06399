//! Admission by time, not by count: how fast the encoder has been going
//! lately, and whether a call's expected wait fits the server's budget and
//! the caller's deadline. A call that would not fit is refused at once, so an
//! overloaded server says RESOURCE_EXHAUSTED in microseconds instead of
//! answering after seconds.

use std::time::{Duration, Instant};

/// Seconds per question assumed until the encoder has finished a batch: a lone
/// question of the 12-layer multilingual model, so a cold server is cautious.
pub const INITIAL_SECONDS_PER_QUESTION: f64 = 0.025;

/// Weight of the newest batch in the moving average: recent enough to follow a
/// machine that slows down, smooth enough that one odd batch does not swing it.
const EWMA_WEIGHT: f64 = 0.2;

/// The encoder's recent speed: an exponentially weighted moving average of
/// seconds per question over finished batches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Throughput {
    seconds_per_question: Option<f64>,
}

impl Throughput {
    /// Time one question is expected to cost (the conservative default before any batch).
    pub fn per_question(&self) -> Duration {
        Duration::from_secs_f64(self.seconds_per_question.unwrap_or(INITIAL_SECONDS_PER_QUESTION))
    }

    /// Time `n` questions are expected to cost.
    pub fn for_questions(&self, n: usize) -> Duration {
        self.per_question().mul_f64(n as f64)
    }

    /// Folds in a finished batch of `questions` that took `took`.
    pub fn record(&mut self, questions: usize, took: Duration) {
        if questions == 0 {
            return;
        }
        let sample = took.as_secs_f64() / questions as f64;
        self.seconds_per_question = Some(match self.seconds_per_question {
            None => sample,
            Some(old) => old + EWMA_WEIGHT * (sample - old),
        });
    }

    /// True once a batch has been measured.
    pub fn measured(&self) -> bool {
        self.seconds_per_question.is_some()
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

/// Admits a call expected to wait `expected` and then take `encode`, or says why not:
/// the wait must fit the budget, and wait plus encoding the caller's deadline.
pub fn admit(
    expected: Duration,
    encode: Duration,
    budget: Duration,
    deadline: Option<Instant>,
    now: Instant,
) -> Result<(), Refused> {
    if expected > budget {
        return Err(Refused::OverBudget { expected, budget });
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
    fn the_average_starts_cautious_then_follows_measurements() {
        let mut t = Throughput::default();
        assert!(!t.measured());
        assert_eq!(
            t.per_question(),
            Duration::from_secs_f64(INITIAL_SECONDS_PER_QUESTION)
        );
        t.record(10, Duration::from_millis(40));
        assert_eq!(t.per_question(), Duration::from_millis(4));
        t.record(1, Duration::from_millis(14));
        // 4 ms + 0.2 × (14 − 4) ms
        assert!((t.per_question().as_secs_f64() - 0.006).abs() < 1e-9);
        t.record(0, Duration::from_secs(9));
        assert!(
            (t.per_question().as_secs_f64() - 0.006).abs() < 1e-9,
            "empty batches are ignored"
        );
        assert_eq!(t.for_questions(5), t.per_question().mul_f64(5.0));
    }

    #[test]
    fn refusals_name_the_expected_wait_and_the_budget() {
        let now = Instant::now();
        let budget = Duration::from_millis(100);
        let e = admit(Duration::from_millis(250), Duration::ZERO, budget, None, now).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the encoder is overloaded: expected wait 250.0 ms exceeds the budget of 100.0 ms; retry with backoff"
        );
        let deadline = Some(now + Duration::from_millis(30));
        let e = admit(
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
            Duration::from_millis(5),
            budget,
            deadline,
            now,
        )
        .unwrap();
        admit(budget, Duration::from_secs(5), budget, None, now).unwrap();
    }
}
