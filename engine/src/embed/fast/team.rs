//! The encoder's own helper threads, which one pass splits each step with (a product's
//! columns, attention's heads, layer norm's rows, a batch's halves).
//!
//! A question is ~40 such steps of 10–200 µs. Handed to a sleeping thread pool (rayon),
//! each step paid the wake-up of a parked thread — on this VM tens of microseconds — and
//! one question on two threads took 2.9–3.1 ms; handed to a helper that spins between
//! steps, 2.3 ms (criterion `embed`, docs/performance.md). So a helper spins while steps
//! keep coming, and parks once it has been idle for [`IDLE_SPIN`].

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle helper spins for the next step before it parks: longer than the
/// gap between two questions of a busy caller (tokenising), short enough to give the
/// core back soon to a server that went quiet.
const IDLE_SPIN: Duration = Duration::from_micros(200);

/// Spins before a waiting owner starts yielding its core (a helper descheduled by a
/// busy host would otherwise be waited for at full spin).
const SPINS_BEFORE_YIELD: u32 = 1 << 14;

/// A step posted to the helpers: member `i` of `n` runs `job(i)`.
type Job = *const (dyn Fn(usize) + Sync + 'static);

/// What the owner and the helpers share.
struct Shared {
    /// The current step; written by the owner only while no helper runs one.
    job: UnsafeCell<Option<Job>>,
    /// Bumped by the owner to post a step.
    epoch: AtomicUsize,
    /// Helpers still running the posted step.
    pending: AtomicUsize,
    /// Per helper: parked (or about to park) and needs an unpark to see a new step.
    sleeping: Vec<AtomicBool>,
    /// A helper's panic in the current step, raised again by the owner.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    stop: AtomicBool,
}

// SAFETY: `job` is the only field not already Sync. The owner writes it only when
// `pending` is 0 (no helper reads it) and before bumping `epoch` (Release); helpers read
// it only after seeing the new epoch (Acquire) and before decrementing `pending`
// (Release), which the owner reads (Acquire) before it writes `job` again.
unsafe impl Sync for Shared {}
// SAFETY: as above; the raw job pointer is only dereferenced under that protocol.
unsafe impl Send for Shared {}

/// A team of `size()` members: the calling thread (member 0) and its helpers.
pub struct Team {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
}

impl Team {
    /// A team of `size` members (so `size - 1` helper threads); fewer if the OS refuses
    /// a thread (logged), down to the caller alone.
    pub fn new(size: usize) -> Self {
        let wanted = size.saturating_sub(1);
        let shared = Arc::new(Shared {
            job: UnsafeCell::new(None),
            epoch: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            sleeping: (0..wanted).map(|_| AtomicBool::new(false)).collect(),
            panic: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let mut helpers = Vec::with_capacity(wanted);
        for i in 0..wanted {
            let sh = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("kefu-encoder-{}", i + 1))
                .spawn(move || helper(&sh, i));
            match spawned {
                Ok(h) => helpers.push(h),
                Err(e) => {
                    tracing::warn!(error = %e, "encoder helper thread not started; the pass runs on fewer threads");
                    break;
                }
            }
        }
        Self { shared, helpers }
    }

    /// Members, the caller included.
    pub fn size(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Runs `f(i)` for every member `i` (0 on this thread) and returns when all have
    /// finished; a helper's panic is raised again here (with its own payload). Not
    /// re-entrant: `&mut self` keeps one step at a time.
    pub fn run(&mut self, f: &(dyn Fn(usize) + Sync)) {
        if self.helpers.is_empty() {
            return f(0);
        }
        let sh = &*self.shared;
        // SAFETY: only the lifetime is erased. `Wait` below does not let this call
        // return (or unwind) before `pending` is 0, i.e. before every helper has
        // finished with `f`, so no helper dereferences it after the borrow ends.
        let job: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f) };
        // SAFETY: `pending` is 0 (the last `run` waited for it), so no helper reads `job`.
        unsafe { *sh.job.get() = Some(job) };
        // A panic left over from a step whose owner share panicked too is stale now.
        drop(lock(&sh.panic).take());
        sh.pending.store(self.helpers.len(), Ordering::Relaxed);
        sh.epoch.fetch_add(1, Ordering::SeqCst);
        // From here on, returning or unwinding waits for the helpers to finish `f`.
        let wait = Wait(sh);
        for (i, h) in self.helpers.iter().enumerate() {
            // SeqCst with the helper's store-then-check: either it sees the new epoch
            // or we see it asleep and wake it.
            if sh.sleeping[i].load(Ordering::SeqCst) {
                h.thread().unpark();
            }
        }
        f(0);
        drop(wait);
        if let Some(payload) = lock(&sh.panic).take() {
            resume_unwind(payload);
        }
    }
}

/// The panic slot, whether or not a panicking thread poisoned it.
fn lock(m: &Mutex<Option<Box<dyn Any + Send>>>) -> std::sync::MutexGuard<'_, Option<Box<dyn Any + Send>>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Marks a helper's share of the step done, also if the helper thread unwinds.
struct Done<'a>(&'a Shared);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::Release);
    }
}

/// Waits for every helper to finish the posted step, also while the owner unwinds.
struct Wait<'a>(&'a Shared);

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        let mut spins = 0u32;
        while self.0.pending.load(Ordering::Acquire) != 0 {
            spins = spins.saturating_add(1);
            if spins < SPINS_BEFORE_YIELD {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for h in self.helpers.drain(..) {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

/// Helper `i` (member `i + 1`): wait for a step, run it, repeat until the team drops.
fn helper(sh: &Shared, i: usize) {
    let mut seen = 0;
    loop {
        let mut idle_since = Instant::now();
        let mut spins = 0u32;
        while sh.epoch.load(Ordering::Acquire) == seen {
            if sh.stop.load(Ordering::Relaxed) {
                return;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && idle_since.elapsed() >= IDLE_SPIN {
                sh.sleeping[i].store(true, Ordering::SeqCst);
                while sh.epoch.load(Ordering::SeqCst) == seen && !sh.stop.load(Ordering::SeqCst) {
                    std::thread::park();
                }
                sh.sleeping[i].store(false, Ordering::SeqCst);
                idle_since = Instant::now();
            } else {
                std::hint::spin_loop();
            }
        }
        if sh.stop.load(Ordering::Relaxed) {
            return;
        }
        seen = sh.epoch.load(Ordering::Acquire);
        let _done = Done(sh);
        // SAFETY: the new epoch was published after `job` was written (see `Shared`),
        // and the owner keeps the closure alive until `pending` reaches 0 below.
        let job = unsafe { *sh.job.get() };
        if let Some(job) = job {
            // SAFETY: as above: the pointer is live until this helper decrements `pending`.
            let f = unsafe { &*job };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(i + 1))) {
                lock(&sh.panic).get_or_insert(payload);
            }
        }
    }
}

/// Member `i` of `n`'s share of `0..len`: contiguous, sizes differing by at most one.
pub fn part(len: usize, i: usize, n: usize) -> std::ops::Range<usize> {
    len * i / n..len * (i + 1) / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_runs_each_step_once() {
        let mut team = Team::new(3);
        assert_eq!(team.size(), 3);
        for step in 0..2000 {
            let hits = Mutex::new(vec![0; 3]);
            team.run(&|i| hits.lock().unwrap()[i] += step + 1);
            assert_eq!(*hits.lock().unwrap(), vec![step + 1; 3]);
            if step % 500 == 0 {
                // Long enough for the helpers to park: the next step must wake them.
                std::thread::sleep(IDLE_SPIN * 5);
            }
        }
    }

    #[test]
    fn a_helper_panic_reaches_the_owner_and_the_team_goes_on() {
        let mut team = Team::new(2);
        let r = catch_unwind(AssertUnwindSafe(|| {
            team.run(&|i| assert_eq!(i, 0, "helper fails"))
        }));
        let payload = r.expect_err("the helper's panic reaches the owner");
        let msg = payload.downcast_ref::<String>().map(String::as_str).unwrap_or("");
        assert!(msg.contains("helper fails"), "{msg}");
        // Both shares panic in one step: the next step must not see a stale panic.
        let r = catch_unwind(AssertUnwindSafe(|| team.run(&|_| panic!("both fail"))));
        assert!(r.is_err());
        let n = AtomicUsize::new(0);
        team.run(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn parts_cover_the_range_without_overlap() {
        for len in [0, 1, 7, 12, 48] {
            for n in 1..5 {
                let parts: Vec<_> = (0..n).map(|i| part(len, i, n)).collect();
                assert_eq!(parts[0].start, 0);
                assert_eq!(parts[n - 1].end, len);
                assert!(parts.windows(2).all(|w| w[0].end == w[1].start));
            }
        }
    }
}
