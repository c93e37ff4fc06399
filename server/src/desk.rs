//! The desk: the durable router behind one lock, and the feed of the assignments its
//! commands make, published under that lock from the outcomes themselves. A domain
//! object: engine types only; `convert` turns them into messages.

use kefu_engine::route::{
    self as route, Command, DurableRouter, LogOptions, Outcome, RouteError, RouterConfig,
};
use std::path::Path;
use std::sync::Mutex;
use tokio::sync::broadcast;

/// The router with its log, and the feed of assignments for agent desktops.
pub struct Desk {
    router: Mutex<DurableRouter>,
    /// Engine assignments as the log holds them; WatchAssignments converts them.
    pub(crate) events: broadcast::Sender<route::Assignment>,
}

/// Milliseconds since the Unix epoch: the router's clock in production.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Desk {
    /// Recovers the routing state from `dir` (snapshot + log).
    pub fn open(dir: &Path, log: LogOptions) -> Result<Self, RouteError> {
        Ok(Self::new(DurableRouter::open(dir, RouterConfig::default(), log)?))
    }

    /// A desk over a router already opened (tests open one whose log fails on cue).
    pub fn new(router: DurableRouter) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            router: Mutex::new(router),
            events,
        }
    }

    /// Runs one command under the lock and publishes the assignments it made.
    pub fn execute(&self, command: Command) -> Result<Vec<Outcome>, RouteError> {
        let mut r = self.router.lock().unwrap_or_else(|e| e.into_inner());
        self.execute_locked(&mut r, command)
    }

    /// The one place assignments are published: from the outcomes, before the lock is let go,
    /// so desktops see them in the order the log holds them.
    fn execute_locked(&self, r: &mut DurableRouter, command: Command) -> Result<Vec<Outcome>, RouteError> {
        let out = r.execute(command)?;
        for o in &out {
            if let Outcome::Assigned { assignment, .. } = o {
                let _ = self.events.send((**assignment).clone());
            }
        }
        Ok(out)
    }

    /// Runs `command` only if `allow` accepts the state it would change, under the one
    /// lock: a ticket cannot move to another agent between the check and the change.
    /// The outer error is `allow`'s refusal, the inner one the router's.
    pub fn execute_if<E>(
        &self,
        command: Command,
        allow: impl FnOnce(&route::Router) -> Result<(), E>,
    ) -> Result<Result<Vec<Outcome>, RouteError>, E> {
        let mut r = self.router.lock().unwrap_or_else(|e| e.into_inner());
        allow(r.router())?;
        Ok(self.execute_locked(&mut r, command))
    }

    /// Re-examines waiting tickets (their rings widen with time); nothing to do on an empty queue.
    pub fn tick(&self) {
        let mut r = self.router.lock().unwrap_or_else(|e| e.into_inner());
        if r.router().state().queue.is_empty() {
            return;
        }
        if let Err(e) = self.execute_locked(&mut r, Command::Tick { now_ms: now_ms() }) {
            tracing::warn!(error = %e, "routing tick failed");
        }
    }

    pub(crate) fn read<T>(&self, f: impl FnOnce(&route::Router) -> T) -> T {
        f(self.router.lock().unwrap_or_else(|e| e.into_inner()).router())
    }
}
