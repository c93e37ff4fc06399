//! Closed loop: N callers, each sending its next call as soon as its last one answered
//! (or failed, after an optional back-off). Latency runs from each call's send, so a
//! stalled server slows the callers down instead of showing in many calls: use the open
//! loop to measure latency under a given rate.

use super::caller::{Caller, pick};
use super::mix::Mix;
use super::tally::{Tally, is_ok};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long and how hard the callers run.
#[derive(Debug, Clone)]
pub struct ClosedLoop {
    pub callers: usize,
    /// Calls in total, across callers.
    pub requests: u64,
    pub duration: Duration,
    /// A caller's pause after a failed call (zero: retry at once).
    pub backoff: Duration,
}

/// Runs the callers until the call count or the time is used up or `stop` turns true;
/// returns what they counted and how long it took.
pub async fn run(
    cfg: &ClosedLoop,
    pool: &[Caller],
    mix: &Mix,
    stop: watch::Receiver<bool>,
) -> (Tally, Duration) {
    let sent = Arc::new(AtomicU64::new(0));
    let mix = Arc::new(mix.clone());
    let started = Instant::now();
    let deadline = started + cfg.duration;
    let mut workers = Vec::new();
    for w in 0..cfg.callers {
        let (mut caller, sent, mix, stop, cfg) = (
            pick(pool, w as u64),
            sent.clone(),
            mix.clone(),
            stop.clone(),
            cfg.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            loop {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                if n >= cfg.requests || Instant::now() >= deadline || *stop.borrow() {
                    break;
                }
                let t = Instant::now();
                let outcome = caller.call(n, mix.question(n).text).await;
                tally.record(t.elapsed(), &outcome, started.elapsed());
                if !is_ok(&outcome.code) && !cfg.backoff.is_zero() {
                    tokio::time::sleep(cfg.backoff).await;
                }
            }
            tally
        }));
    }
    let mut tally = Tally::new();
    for w in workers {
        tally.merge(&w.await.expect("a caller task does not panic"));
    }
    (tally, started.elapsed())
}
