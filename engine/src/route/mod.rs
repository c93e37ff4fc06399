//! Routing tickets the AI could not answer to the best human agent.
//!
//! In the order a change flows:
//! - [`model`] — agents, tickets, and their validation
//! - [`config`] — relaxation rings and scoring weights
//! - [`plan`] — a command is decided against a `draft` of the state: a [`Plan`] of effects and outcomes
//! - [`scoring`] — who may take a ticket (bitset rules over `columns`) and who should (a score)
//! - [`queue`] — the waiting room's order and the rings a ticket has reached
//! - [`wal`] — the plan's record (command + effects; bytes in `record`, appends in `log`) is made
//!   durable, a failed append rolled back
//! - [`effect`] — the effects are applied: the only code that changes the state
//! - [`router`] — the state machine that ties them together
//!
//! The router is a single-writer state machine: every operation takes the
//! current time as an argument (an injectable clock). Deciding is pure;
//! applying is infallible; the log records effects, so recovery reproduces
//! the state exactly without deciding anything again.

mod columns;
pub mod config;
mod draft;
pub mod effect;
mod log;
pub mod model;
pub mod plan;
pub mod queue;
pub(crate) mod record;
pub mod router;
pub mod scoring;
pub mod wal;

use crate::echo::clip;

pub use config::{Ring, RouterConfig, Weights};
pub use effect::Effect;
pub use log::{FsyncPolicy, LogSink};
pub use model::{AgentSpec, MAX_CAPACITY, MAX_LEVEL, Presence, SkillNeed, Ticket, Tier};
pub use plan::{Command, Outcome, Plan};
pub use queue::QueuedTicket;
pub use record::Damage;
pub use router::{AgentView, Assignment, Router, RouterState};
pub use scoring::{Candidate, Decision, Exclusion};
pub use wal::{DurableRouter, LogOptions, Recovery};

/// A routing request that cannot be carried out; nothing changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouteError {
    #[error("agent {}: {reason}", clip(.id))]
    InvalidAgent { id: String, reason: String },
    #[error("ticket {}: {reason}", clip(.id))]
    InvalidTicket { id: String, reason: String },
    #[error("no agent {}", clip(.0))]
    UnknownAgent(String),
    #[error("no open or waiting ticket {}", clip(.0))]
    UnknownTicket(String),
    #[error("ticket {} is already open or waiting", clip(.0))]
    DuplicateTicket(String),
    #[error("agent {} cannot take ticket {}: {reason}", clip(.agent), clip(.ticket))]
    NotEligible {
        agent: String,
        ticket: String,
        reason: String,
    },
    #[error("routing log {path}: {reason}")]
    Log {
        path: std::path::PathBuf,
        reason: String,
    },
    /// A failed append was rolled back: the log is as before, and so is the state.
    #[error(
        "routing log {path}: could not append ({reason}); the record was rolled back and nothing changed, retry once the disk is healthy"
    )]
    AppendFailed {
        path: std::path::PathBuf,
        reason: String,
    },
    /// The log could not be brought back to a known state: it refuses every change until a restart.
    #[error(
        "routing log {path} is out of service: {reason}; every change is refused until the server restarts and recovers from the disk"
    )]
    LogFailed {
        path: std::path::PathBuf,
        reason: String,
    },
    /// A bad record with intact records after it: damage, not a torn tail.
    #[error(
        "routing log {path}: bad record at byte {offset} ({reason}) with {records_after} intact records \
         ({bytes_after} bytes) after it; this is damage, not a torn tail, so nothing was dropped. \
         Restore the file, or open with salvage (kefu-server --routing-salvage) to skip the bad bytes and lose the records they held"
    )]
    Corrupt {
        path: std::path::PathBuf,
        offset: u64,
        reason: String,
        bytes_after: u64,
        records_after: u64,
    },
}
