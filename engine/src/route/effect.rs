//! Effects: the state changes a command produced. The log records them and
//! recovery applies them as they are, so replay never decides anything again
//! (a decision depends on the weights, the rings and the CPU's dot-product
//! kernel; an effect depends on nothing but the state it lands on).
//!
//! `Effect::apply_to` is the only definition of what an effect does; it runs
//! on the router's state ([`super::Router::apply`]) and on a plan's draft of it.

use super::model::{AgentSpec, Presence, Ticket};
use super::router::{AgentView, Assignment};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One change to the routing state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// An agent's spec is set and a given vector replaces its expertise vector;
    /// presence, load and open tickets carry over (a new agent starts offline).
    AgentSet {
        spec: AgentSpec,
        vector: Option<Vec<f32>>,
    },
    /// An agent leaves the desk (its open tickets were released just before).
    AgentRemoved { id: String },
    /// An agent's presence changes.
    PresenceSet { id: String, presence: Presence },
    /// A new ticket starts waiting, its creation time and preferred agent filled in.
    Admitted { ticket: Ticket },
    /// A waiting ticket goes to an agent.
    Assigned {
        ticket: String,
        agent: String,
        at_ms: u64,
    },
    /// An open ticket goes back to waiting; its agent's load drops.
    Released { ticket: String },
    /// A waiting ticket leaves the desk.
    Closed { ticket: String },
}

/// Which of an agent's columns an effect made stale.
pub(super) enum Changed {
    /// Load and last assignment only.
    Load,
    /// Anything about the agent.
    Agent,
    /// The agent is gone.
    Gone,
}

/// Where effects land: the router's own state, or a plan's draft of it.
pub(super) trait Store {
    fn agent_mut(&mut self, id: &str) -> Option<&mut AgentView>;
    fn take_agent(&mut self, id: &str) -> Option<AgentView>;
    fn put_agent(&mut self, view: AgentView);
    fn has_ticket(&self, id: &str) -> bool;
    fn take_waiting(&mut self, id: &str) -> Option<Ticket>;
    fn put_waiting(&mut self, ticket: Ticket);
    fn take_open(&mut self, id: &str) -> Option<Assignment>;
    fn put_open(&mut self, a: Assignment);
    fn put_last_agent(&mut self, customer: String, agent: String);
    /// Brings the agent's columns in step with its view.
    fn refresh(&mut self, id: &str, what: Changed);
}

impl Effect {
    /// Applies the effect, or says why it cannot apply (only a salvaged log can cause that).
    pub(super) fn apply_to(&self, s: &mut impl Store) -> Result<(), String> {
        match self {
            Effect::AgentSet { spec, vector } => {
                let view = match s.take_agent(&spec.id) {
                    Some(old) => AgentView {
                        spec: spec.clone(),
                        vector: vector.clone().or(old.vector),
                        ..old
                    },
                    None => AgentView {
                        spec: spec.clone(),
                        presence: Presence::Offline,
                        load: BTreeMap::new(),
                        last_assigned_ms: 0,
                        open: BTreeSet::new(),
                        vector: vector.clone(),
                    },
                };
                s.put_agent(view);
                s.refresh(&spec.id, Changed::Agent);
            }
            Effect::AgentRemoved { id } => {
                let view = s
                    .take_agent(id)
                    .ok_or_else(|| format!("no agent {id:?} to remove"))?;
                // Normally released just before; a salvaged log may not have said so.
                for t in &view.open {
                    if let Some(a) = s.take_open(t) {
                        s.put_waiting(a.ticket);
                    }
                }
                s.refresh(id, Changed::Gone);
            }
            Effect::PresenceSet { id, presence } => {
                let view = s.agent_mut(id).ok_or_else(|| format!("no agent {id:?}"))?;
                view.presence = *presence;
                s.refresh(id, Changed::Agent);
            }
            Effect::Admitted { ticket } => {
                if s.has_ticket(&ticket.id) {
                    return Err(format!("ticket {:?} is already on the desk", ticket.id));
                }
                s.put_waiting(ticket.clone());
            }
            Effect::Assigned { ticket, agent, at_ms } => {
                let t = s
                    .take_waiting(ticket)
                    .ok_or_else(|| format!("ticket {ticket:?} is not waiting"))?;
                let Some(view) = s.agent_mut(agent) else {
                    s.put_waiting(t);
                    return Err(format!("no agent {agent:?} for ticket {ticket:?}"));
                };
                *view.load.entry(t.channel.clone()).or_default() += 1;
                view.last_assigned_ms = (*at_ms).max(1);
                view.open.insert(t.id.clone());
                s.refresh(agent, Changed::Load);
                s.put_last_agent(t.customer_id.clone(), agent.clone());
                s.put_open(Assignment {
                    ticket: t,
                    agent: agent.clone(),
                    assigned_ms: *at_ms,
                });
            }
            Effect::Released { ticket } => {
                let a = s
                    .take_open(ticket)
                    .ok_or_else(|| format!("ticket {ticket:?} is not open"))?;
                if let Some(view) = s.agent_mut(&a.agent) {
                    if let Some(l) = view.load.get_mut(&a.ticket.channel) {
                        *l = l.saturating_sub(1);
                    }
                    view.open.remove(ticket);
                    s.refresh(&a.agent, Changed::Load);
                }
                s.put_waiting(a.ticket);
            }
            Effect::Closed { ticket } => {
                s.take_waiting(ticket)
                    .ok_or_else(|| format!("ticket {ticket:?} is not waiting"))?;
            }
        }
        Ok(())
    }
}
