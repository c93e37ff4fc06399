//! The waiting room: which ring a waiting ticket has reached, and who is served first.

use super::config::RouterConfig;
use super::model::{Ticket, Tier};
use serde::{Deserialize, Serialize};

/// A waiting ticket as GetQueue shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedTicket {
    pub ticket: Ticket,
    pub position: usize,
    pub ring: usize,
    pub waited_ms: u64,
}

/// The ring a ticket has reached by `now_ms` (rings relax with waiting time).
pub(super) fn ring_index(cfg: &RouterConfig, t: &Ticket, now_ms: u64) -> usize {
    let waited = now_ms.saturating_sub(t.created_ms) / 1000;
    cfg.rings(&t.category)
        .iter()
        .rposition(|r| r.after_secs <= waited)
        .unwrap_or(0)
}

/// Ticket ids, most urgent first: VIP, then priority, then one point per minute waited; ties by age, then id.
pub(super) fn urgency_order<'a>(waiting: impl Iterator<Item = &'a Ticket>, now_ms: u64) -> Vec<String> {
    let mut v: Vec<(u64, u64, &String)> = waiting
        .map(|t| {
            let waited_min = now_ms.saturating_sub(t.created_ms) / 60_000;
            let urgency = if t.tier == Tier::Vip { 20 } else { 0 } + t.priority as u64 + waited_min;
            (urgency, t.created_ms, &t.id)
        })
        .collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2)));
    v.into_iter().map(|x| x.2.clone()).collect()
}
