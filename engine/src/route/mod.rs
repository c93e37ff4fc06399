//! Routing tickets the AI could not answer to the best human agent.
//!
//! - [`model`] — agents, tickets, and their validation
//! - [`router`] — eligibility by bitsets, scoring, the waiting queue and its relaxation rings
//! - [`wal`] — the write-ahead log and snapshots that make every decision survive a restart
//!
//! The router is a single-writer state machine: every operation takes the
//! current time as an argument (an injectable clock), and the same commands
//! at the same times always give the same state — which is how the log
//! recovers it exactly.

pub mod model;
pub mod router;
pub mod wal;

pub use model::{AgentSpec, MAX_CAPACITY, MAX_LEVEL, Presence, SkillNeed, Ticket, Tier};
pub use router::{
    AgentView, Assignment, Candidate, Decision, Exclusion, Outcome, QueuedTicket, Ring, Router, RouterConfig,
    RouterState, Weights,
};
pub use wal::{Command, DurableRouter, FsyncPolicy};

/// A routing request that cannot be carried out; nothing changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouteError {
    #[error("agent {id:?}: {reason}")]
    InvalidAgent { id: String, reason: String },
    #[error("ticket {id:?}: {reason}")]
    InvalidTicket { id: String, reason: String },
    #[error("no agent {0:?}")]
    UnknownAgent(String),
    #[error("no open or waiting ticket {0:?}")]
    UnknownTicket(String),
    #[error("ticket {0:?} is already open or waiting")]
    DuplicateTicket(String),
    #[error("agent {agent:?} cannot take ticket {ticket:?}: {reason}")]
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
}
