//! The encoder queue: one worker thread owns the encoder and embeds whatever
//! is waiting, up to `max_batch` questions at once (continuous batching — no
//! wait window, so a lone question goes straight through). The queue is
//! bounded: when it is full a call fails at once instead of waiting.

use crate::metrics::Metrics;
use kefu_engine::embed::{EmbedError, Encoder};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use tokio::sync::oneshot;

/// The worker's answer for one text.
pub type Embedded = Result<Vec<f32>, Arc<EmbedError>>;
type Reply = oneshot::Sender<Embedded>;

struct Job {
    text: String,
    reply: Reply,
}

/// The encoder queue was full: the caller should back off.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the encoder queue is full ({0} questions waiting); retry with backoff")]
pub struct QueueFull(pub usize);

/// Hands questions to the encoder worker.
pub struct EncoderQueue {
    tx: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
    capacity: usize,
}

impl EncoderQueue {
    /// Starts the worker thread; it stops when the queue is dropped.
    pub fn start(
        encoder: Arc<dyn Encoder>,
        capacity: usize,
        max_batch: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (tx, rx) = sync_channel(capacity);
        let depth = Arc::new(AtomicUsize::new(0));
        let worker_depth = depth.clone();
        std::thread::Builder::new()
            .name("kefu-encoder".into())
            .spawn(move || worker(encoder, rx, max_batch.max(1), worker_depth, metrics))
            .expect("spawn encoder thread");
        Self { tx, depth, capacity }
    }

    /// Queues one text; the receiver yields its vector. Fails at once when full.
    pub fn submit(&self, text: String) -> Result<oneshot::Receiver<Embedded>, QueueFull> {
        let (reply, rx) = oneshot::channel();
        self.depth.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(Job { text, reply }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.depth.fetch_sub(1, Ordering::Relaxed);
                Err(QueueFull(self.capacity))
            }
        }
    }

    /// Questions waiting or being embedded.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }
}

fn worker(
    encoder: Arc<dyn Encoder>,
    rx: Receiver<Job>,
    max_batch: usize,
    depth: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let taken = batch.len();
        // A caller that gave up (deadline, cancel) dropped its receiver: skip it.
        batch.retain(|j| !j.reply.is_closed());
        metrics.encoder_dropped.inc_by((taken - batch.len()) as u64);
        if !batch.is_empty() {
            metrics.encoder_batch_size.observe(batch.len() as f64);
            let texts: Vec<&str> = batch.iter().map(|j| j.text.as_str()).collect();
            match encoder.embed(&texts) {
                Ok(vectors) => {
                    for (job, v) in batch.into_iter().zip(vectors) {
                        let _ = job.reply.send(Ok(v));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "encoder failed");
                    let e = Arc::new(e);
                    for job in batch {
                        let _ = job.reply.send(Err(e.clone()));
                    }
                }
            }
        }
        depth.fetch_sub(taken, Ordering::Relaxed);
        metrics
            .encoder_queue_depth
            .set(depth.load(Ordering::Relaxed) as i64);
    }
}
