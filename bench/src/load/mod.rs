//! The parts of `kefu-load`, one job per file:
//!
//! - [`schedule`]: when each open-loop call is due, and latency counted from then;
//! - [`mix`]: which question each call asks (repeats and new ones);
//! - [`caller`]: one Ask or Route call over a pool of loopback connections;
//! - [`closed_loop`] and [`open_loop`]: the two ways of offering load;
//! - [`tally`]: outcomes as they come in (HDR histograms, codes);
//! - [`report`]: one run's report, as text or JSON;
//! - [`search`]: the highest rate that meets a p99 bar.

pub mod caller;
pub mod closed_loop;
mod error;
pub mod mix;
pub mod open_loop;
pub mod report;
pub mod schedule;
pub mod search;
pub mod tally;

pub use error::LoadError;
