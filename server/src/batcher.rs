//! The encoder queue: worker threads (one by default, `--encoder-workers`) take
//! whatever is waiting, up to `max_batch` questions at once, and embed it
//! (continuous batching — no wait window, so a lone question goes straight
//! through); with several workers, batches run side by side.
//!
//! Two lanes: interactive questions (Ask, Resolve, Search by text, the router's
//! category inference) and bulk texts (Embed, agent expertise). The worker
//! always takes interactive questions first; bulk texts go in chunks of at most
//! [`BULK_CHUNK_CHARS`] characters, so a maximal Embed holds the encoder for one
//! chunk at a time and interactive calls pass it between chunks.
//!
//! A call is admitted by time (see [`crate::admission`]): its expected wait —
//! the work ahead of it in its lane times the measured time per question — must
//! fit the budget and the caller's deadline, or it is refused at once. Queued
//! questions whose caller gave up or whose deadline passed are dropped, never
//! encoded.

use crate::admission::{self, Refused, Throughput};
use crate::metrics::Metrics;
use kefu_engine::embed::{EmbedError, Encoder};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Most characters of bulk text embedded in one encoder call (at least one text
/// always goes): about a dozen questions, or one long text, so interactive
/// calls never wait behind more than one such chunk.
pub const BULK_CHUNK_CHARS: usize = 1024;

/// Which queue a text waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A customer is waiting: always encoded first.
    Interactive,
    /// Embed calls and agent expertise: encoded in chunks when no interactive question waits.
    Bulk,
}

impl Lane {
    /// Both lanes, interactive first.
    pub const ALL: [Lane; 2] = [Lane::Interactive, Lane::Bulk];

    /// The lane's name in metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Lane::Interactive => "interactive",
            Lane::Bulk => "bulk",
        }
    }

    fn index(self) -> usize {
        match self {
            Lane::Interactive => 0,
            Lane::Bulk => 1,
        }
    }
}

/// Why a queued text got no vector.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failed {
    #[error("encoder failed: {0}")]
    Encoder(Arc<EmbedError>),
    #[error("the call's deadline passed while its text waited for the encoder")]
    Expired,
}

/// The worker's answer for one text.
pub type Embedded = Result<Vec<f32>, Failed>;

struct Job {
    text: String,
    reply: oneshot::Sender<Embedded>,
    deadline: Option<Instant>,
    /// When it entered the queue: its wait is measured from here to the start of its pass.
    enqueued: Instant,
}

/// The batch being encoded now: its lane, size and start.
#[derive(Clone, Copy)]
struct Busy {
    lane: Lane,
    questions: usize,
    started: Instant,
}

struct Queues {
    lanes: [VecDeque<Job>; 2],
    /// The batch each worker is encoding, by worker.
    busy: Vec<Option<Busy>>,
    throughput: [Throughput; 2],
    high_water: usize,
    stopped: bool,
}

impl Queues {
    fn new(max_batch: usize, workers: usize) -> Self {
        Self {
            lanes: Default::default(),
            busy: vec![None; workers],
            throughput: [Throughput::new(max_batch); 2],
            high_water: 0,
            stopped: false,
        }
    }

    fn waiting(&self) -> usize {
        self.lanes.iter().map(VecDeque::len).sum()
    }

    /// Questions in the batches being encoded.
    fn encoding(&self) -> usize {
        self.busy.iter().flatten().map(|b| b.questions).sum()
    }

    /// How long a text entering `lane` now would wait before its batch starts, as
    /// (counted against the budget, total): the rest of the batches being encoded, the
    /// interactive questions queued, and for bulk also the bulk texts queued, shared
    /// out over the workers (a free worker takes a lone question at once). For an
    /// interactive question the rest of a running bulk chunk (one text at most
    /// `max_question_chars` long, a fraction of a second) counts against its deadline
    /// but not the budget: refusing questions while bulk work runs would let one
    /// Embed caller deny everyone service.
    fn expected_wait(&self, lane: Lane, now: Instant) -> (Duration, Duration) {
        let (mut rest, mut rest_counted) = (Duration::ZERO, Duration::ZERO);
        let mut idle = 0usize;
        for b in &self.busy {
            let Some(b) = b else {
                idle += 1;
                continue;
            };
            let left = self.throughput[b.lane.index()]
                .for_questions(b.questions)
                .saturating_sub(now - b.started);
            rest += left;
            if !(lane == Lane::Interactive && b.lane == Lane::Bulk) {
                rest_counted += left;
            }
        }
        let interactive = self.throughput[0].for_questions(self.lanes[0].len());
        let bulk = match lane {
            Lane::Interactive => Duration::ZERO,
            Lane::Bulk => self.throughput[1].for_questions(self.lanes[1].len()),
        };
        let queued = interactive + bulk;
        if idle > 0 && queued.is_zero() {
            return (Duration::ZERO, Duration::ZERO);
        }
        let workers = self.busy.len().max(1) as u32;
        ((rest_counted + queued) / workers, (rest + queued) / workers)
    }
}

struct Shared {
    queues: Mutex<Queues>,
    wake: Condvar,
    batches: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Hands texts to the encoder worker, admitting them by expected wait.
pub struct EncoderQueue {
    shared: Arc<Shared>,
    capacity: usize,
    budget: Duration,
}

impl EncoderQueue {
    /// Starts `workers` worker threads; they stop when the queue is dropped.
    ///
    /// `capacity` bounds the texts waiting (memory); `budget` bounds the expected wait (time).
    pub fn start(
        encoder: Arc<dyn Encoder>,
        workers: usize,
        capacity: usize,
        max_batch: usize,
        budget: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::new(max_batch.max(1), workers)),
            wake: Condvar::new(),
            batches: AtomicU64::new(0),
        });
        for id in 0..workers {
            let (encoder, shared, metrics) = (encoder.clone(), shared.clone(), metrics.clone());
            std::thread::Builder::new()
                .name(format!("kefu-encoder-{id}"))
                .spawn(move || worker(id, encoder, shared, max_batch.max(1), metrics))
                .expect("spawn encoder thread");
        }
        Self {
            shared,
            capacity,
            budget,
        }
    }

    /// Queues a call's texts in `lane`, all or none; each receiver yields one vector.
    /// Refused at once when the expected wait exceeds the budget, or wait plus
    /// encoding exceeds what is left of `deadline`, or the queue is full.
    pub fn submit(
        &self,
        lane: Lane,
        texts: Vec<String>,
        deadline: Option<Instant>,
    ) -> Result<Vec<oneshot::Receiver<Embedded>>, Refused> {
        let now = Instant::now();
        let mut q = self.shared.lock();
        if q.waiting() + texts.len() > self.capacity {
            return Err(Refused::Full(self.capacity));
        }
        let (counted, expected) = q.expected_wait(lane, now);
        let encode = q.throughput[lane.index()].for_questions(texts.len());
        admission::admit(counted, expected, encode, self.budget, deadline, now)?;
        let receivers = texts
            .into_iter()
            .map(|text| {
                let (reply, rx) = oneshot::channel();
                q.lanes[lane.index()].push_back(Job {
                    text,
                    reply,
                    deadline,
                    enqueued: now,
                });
                rx
            })
            .collect();
        q.high_water = q.high_water.max(q.waiting());
        drop(q);
        self.shared.wake.notify_one();
        Ok(receivers)
    }

    /// Texts waiting or being embedded.
    pub fn depth(&self) -> usize {
        let q = self.shared.lock();
        q.waiting() + q.encoding()
    }

    /// Workers encoding a batch now.
    pub fn busy_workers(&self) -> usize {
        self.shared.lock().busy.iter().flatten().count()
    }

    /// Texts waiting in `lane` (not yet taken into a batch).
    pub fn waiting(&self, lane: Lane) -> usize {
        self.shared.lock().lanes[lane.index()].len()
    }

    /// The most texts that ever waited at once (the batch being encoded not counted):
    /// what admission let pile up.
    pub fn high_water(&self) -> usize {
        self.shared.lock().high_water
    }

    /// Encoder calls finished so far.
    pub fn batches(&self) -> u64 {
        self.shared.batches.load(Ordering::Relaxed)
    }

    /// The expected time per question in each lane now (interactive, bulk).
    pub fn per_question(&self) -> (Duration, Duration) {
        let q = self.shared.lock();
        (q.throughput[0].per_question(), q.throughput[1].per_question())
    }
}

impl Drop for EncoderQueue {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.wake.notify_all();
    }
}

/// Removes jobs whose caller left or whose deadline passed (the latter are told so);
/// returns how many went.
fn prune(lane: &mut VecDeque<Job>, now: Instant) -> usize {
    let before = lane.len();
    let mut kept = VecDeque::with_capacity(before);
    for job in lane.drain(..) {
        if job.reply.is_closed() {
            continue;
        }
        if job.deadline.is_some_and(|d| d <= now) {
            let _ = job.reply.send(Err(Failed::Expired));
            continue;
        }
        kept.push_back(job);
    }
    *lane = kept;
    before - lane.len()
}

/// The next batch: interactive questions first, else one bulk chunk.
fn take_batch(q: &mut Queues, max_batch: usize) -> Option<(Lane, Vec<Job>)> {
    if !q.lanes[0].is_empty() {
        let n = q.lanes[0].len().min(max_batch);
        return Some((Lane::Interactive, q.lanes[0].drain(..n).collect()));
    }
    let bulk = &mut q.lanes[1];
    let first = bulk.pop_front()?;
    let mut chars = first.text.chars().count();
    let mut batch = vec![first];
    while batch.len() < max_batch {
        let Some(next) = bulk.front() else { break };
        let len = next.text.chars().count();
        if chars + len > BULK_CHUNK_CHARS {
            break;
        }
        chars += len;
        batch.extend(bulk.pop_front());
    }
    Some((Lane::Bulk, batch))
}

fn worker(
    id: usize,
    encoder: Arc<dyn Encoder>,
    shared: Arc<Shared>,
    max_batch: usize,
    metrics: Arc<Metrics>,
) {
    loop {
        let (lane, batch, waiting) = {
            let mut q = shared.lock();
            loop {
                if q.stopped {
                    return;
                }
                let now = Instant::now();
                let [interactive, bulk] = &mut q.lanes;
                let dropped = prune(interactive, now) + prune(bulk, now);
                metrics.encoder_dropped.inc_by(dropped as u64);
                if let Some((lane, batch)) = take_batch(&mut q, max_batch) {
                    q.busy[id] = Some(Busy {
                        lane,
                        questions: batch.len(),
                        started: Instant::now(),
                    });
                    break (lane, batch, q.waiting() + q.encoding());
                }
                q = shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        metrics.encoder_queue_depth.set(waiting as i64);
        let label = lane.into();
        let started = Instant::now();
        metrics
            .encoder_batch_size
            .get_or_create(&label)
            .observe(batch.len() as f64);
        {
            let wait = metrics.encoder_queue_wait_seconds.get_or_create(&label);
            for job in &batch {
                wait.observe(started.saturating_duration_since(job.enqueued).as_secs_f64());
            }
        }
        let texts: Vec<&str> = batch.iter().map(|j| j.text.as_str()).collect();
        let result = encoder.embed(&texts);
        let took = started.elapsed();
        metrics
            .encoder_pass_seconds
            .get_or_create(&label)
            .observe(took.as_secs_f64());
        {
            let mut q = shared.lock();
            q.throughput[lane.index()].record(batch.len(), took);
            q.busy[id] = None;
            metrics
                .encoder_queue_depth
                .set((q.waiting() + q.encoding()) as i64);
        }
        shared.batches.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(vectors) => {
                for (job, v) in batch.into_iter().zip(vectors) {
                    let _ = job.reply.send(Ok(v));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "encoder failed");
                let e = Arc::new(e);
                for job in batch {
                    let _ = job.reply.send(Err(Failed::Encoder(e.clone())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(lane: Lane, questions: usize, started: Instant) -> Option<Busy> {
        Some(Busy {
            lane,
            questions,
            started,
        })
    }

    fn job(text: &str) -> Job {
        Job {
            text: text.into(),
            reply: oneshot::channel().0,
            deadline: None,
            enqueued: Instant::now(),
        }
    }

    #[test]
    fn a_free_worker_takes_a_question_at_once_and_queued_work_is_shared_out() {
        let now = Instant::now();
        let mut q = Queues::new(8, 2);
        q.busy[0] = busy(Lane::Interactive, 4, now);
        // One worker free, nothing queued: no wait.
        assert_eq!(
            q.expected_wait(Lane::Interactive, now),
            (Duration::ZERO, Duration::ZERO)
        );
        // Both busy: the rest of both batches, shared over the two workers.
        q.busy[1] = busy(Lane::Interactive, 4, now);
        let both = q.throughput[0].for_questions(4) * 2 / 2;
        assert_eq!(q.expected_wait(Lane::Interactive, now), (both, both));
        // Queued questions add their cost, shared too.
        q.lanes[0].extend((0..6).map(|i| job(&format!("q{i}"))));
        let more = (q.throughput[0].for_questions(4) * 2 + q.throughput[0].for_questions(6)) / 2;
        assert_eq!(q.expected_wait(Lane::Interactive, now), (more, more));
        // A running bulk chunk counts against an interactive call's deadline, not its budget.
        q.lanes[0].clear();
        q.busy[1] = busy(Lane::Bulk, 1, now);
        let (counted, total) = q.expected_wait(Lane::Interactive, now);
        assert!(counted < total, "{counted:?} {total:?}");
        assert_eq!(q.encoding(), 5);
    }
}
