//! Open loop: calls launched on a fixed schedule whether or not earlier ones answered,
//! each one's latency counted from when it was due (see `schedule`). At most
//! `max_outstanding` calls are unanswered at once; a call due while that many are out is
//! not sent and counts as `Dropped`. After the schedule, the run waits at most `drain`
//! for the calls still out; those left count as `Unfinished`.

use super::caller::{Caller, pick};
use super::mix::Mix;
use super::schedule::{Pacer, Schedule, latency};
use super::tally::{DROPPED, Outcome, Tally, UNFINISHED, is_ok};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

/// The schedule and its bounds.
#[derive(Debug, Clone)]
pub struct OpenLoop {
    pub schedule: Schedule,
    pub max_outstanding: usize,
    /// How long to wait for the calls still out once the schedule is done.
    pub drain: Duration,
}

/// An answered call: its latency, outcome and when it finished (from the start).
type Done = (Duration, Outcome, Duration);

fn count(tally: &mut Tally, done: Result<Done, JoinError>, at: Duration) {
    match done {
        Ok((latency, outcome, at)) => tally.record(latency, &outcome, at),
        Err(_) => tally.unanswered(UNFINISHED, at),
    }
}

/// Runs the schedule until its end or until `stop` turns true, then drains; returns what
/// was counted and the time from the start to the last answer (or the drain's end).
pub async fn run(
    cfg: &OpenLoop,
    pool: &[Caller],
    mix: &Mix,
    mut stop: watch::Receiver<bool>,
) -> (Tally, Duration) {
    let start = Instant::now();
    let mut pacer = Pacer::new(cfg.schedule);
    let mut tally = Tally::new();
    let mut out: JoinSet<Done> = JoinSet::new();
    let mut ticks = metronome(start, cfg.schedule);
    while pacer.next_due().is_some() {
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            tick = ticks.recv() => if tick.is_none() {
                // The metronome ended early (it cannot; a dead thread must not hang the run).
                break;
            },
            // A dropped sender never signals again; only the ticks can end the wait then.
            Ok(()) = stop.changed() => continue,
        }
        while let Some(done) = out.try_join_next() {
            count(&mut tally, done, start.elapsed());
        }
        let now = start.elapsed();
        for n in pacer.take_due(now) {
            if out.len() >= cfg.max_outstanding {
                tally.unanswered(DROPPED, now);
                continue;
            }
            let due = cfg.schedule.due(n);
            let (mut caller, question) = (pick(pool, n), mix.question(n).text);
            out.spawn(async move {
                let outcome = caller.call(n, question).await;
                let done = start.elapsed();
                (latency(due, done), outcome, done)
            });
        }
    }
    let drain_end = tokio::time::Instant::now() + cfg.drain;
    loop {
        match tokio::time::timeout_at(drain_end, out.join_next()).await {
            Ok(Some(done)) => count(&mut tally, done, start.elapsed()),
            Ok(None) => break,
            Err(_) => {
                let at = start.elapsed();
                for _ in 0..out.len() {
                    tally.unanswered(UNFINISHED, at);
                }
                out.abort_all();
                break;
            }
        }
    }
    (tally, start.elapsed())
}

/// Ticks at each call's due time, from an OS thread that sleeps to it: tokio's timer
/// wakes on whole milliseconds, which added up to 1 ms of the generator's own lateness to
/// every call's latency (a cache hit answered in 0.3 ms showed as 1.3). The thread ends
/// when the schedule does or the receiver is dropped.
fn metronome(start: Instant, schedule: Schedule) -> tokio::sync::mpsc::UnboundedReceiver<u64> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for n in 0..schedule.calls() {
            let wait = (start + schedule.due(n)).saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            if tx.send(n).is_err() {
                return;
            }
        }
    });
    rx
}

/// Asks each of the mix's repeated questions once (`width` at a time, each given at most
/// `limit`) so that repeats are cache hits from the first timed call, then once more, one
/// at a time, those that failed (a server just started may refuse a burst); returns
/// what was counted, retries included.
pub async fn warm_up(pool: &[Caller], mix: &Mix, width: usize, limit: Duration) -> Tally {
    let mut tally = Tally::new();
    let questions = mix.warm_up();
    let failed = ask_each(pool, questions, width, limit, &mut tally).await;
    let again: Vec<String> = failed.into_iter().map(|i| questions[i].clone()).collect();
    ask_each(pool, &again, 1, limit, &mut tally).await;
    tally
}

/// Asks every question once, `width` at a time; returns the indexes of those that failed.
async fn ask_each(
    pool: &[Caller],
    questions: &[String],
    width: usize,
    limit: Duration,
    tally: &mut Tally,
) -> Vec<usize> {
    let start = Instant::now();
    let mut failed = Vec::new();
    let mut out: JoinSet<(usize, Done)> = JoinSet::new();
    let mut count = |tally: &mut Tally, done: Result<(usize, Done), JoinError>| match done {
        Ok((i, (latency, outcome, at))) => {
            if !is_ok(&outcome.code) {
                failed.push(i);
            }
            tally.record(latency, &outcome, at);
        }
        Err(_) => tally.unanswered(UNFINISHED, start.elapsed()),
    };
    for (i, q) in questions.iter().enumerate() {
        if out.len() >= width.max(1)
            && let Some(done) = out.join_next().await
        {
            count(tally, done);
        }
        let (mut caller, q) = (pick(pool, i as u64), q.clone());
        out.spawn(async move {
            let t = Instant::now();
            let outcome = tokio::time::timeout(limit, caller.ask(q))
                .await
                .unwrap_or_else(|_| Outcome {
                    code: UNFINISHED.to_string(),
                    cache_hit: false,
                });
            (i, (t.elapsed(), outcome, start.elapsed()))
        });
    }
    while let Some(done) = out.join_next().await {
        count(tally, done);
    }
    failed
}
