//! The routing state machine: the state, and the two steps every change goes
//! through — [`Router::plan`] decides (pure: `&self` in, effects out) and
//! [`Router::apply`] carries the effects out (infallible). The durable router
//! logs a plan between the two steps; the convenience methods here run both.

use super::RouteError;
use super::columns::Columns;
use super::config::RouterConfig;
use super::effect::{Changed, Effect, Store};
use super::model::{AgentSpec, Presence, Ticket};
use super::plan::{Command, Outcome};
use super::queue::{QueuedTicket, ring_index, urgency_order};
use super::scoring::{Decision, Part, decide};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// An agent's live state: the spec plus presence, load and open tickets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    pub spec: AgentSpec,
    pub presence: Presence,
    pub load: BTreeMap<String, u32>,
    /// 0 = never assigned.
    pub last_assigned_ms: u64,
    pub open: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

impl AgentView {
    /// Conversations of this channel the agent can still take.
    pub fn spare(&self, channel: &str) -> u32 {
        let cap = self.spec.capacity.get(channel).copied().unwrap_or(0);
        cap.saturating_sub(self.load.get(channel).copied().unwrap_or(0))
    }
}

/// A ticket with an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub ticket: Ticket,
    pub agent: String,
    pub assigned_ms: u64,
}

/// Everything the router must not lose: what snapshots and the log restore.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouterState {
    pub agents: BTreeMap<String, AgentView>,
    pub assignments: BTreeMap<String, Assignment>,
    pub queue: BTreeMap<String, Ticket>,
    /// Customer → the agent who last served them (sticky routing).
    pub last_agent: BTreeMap<String, String>,
}

impl RouterState {
    /// Checks what the planner relies on and snapshot JSON (which has no
    /// checksum) cannot promise: every map is keyed by its entry's id, each
    /// open ticket is in exactly one agent's open set and that agent exists,
    /// no ticket both waits and is open, and expertise vectors are finite.
    pub fn check(&self) -> Result<(), String> {
        for (id, a) in &self.agents {
            if id != &a.spec.id {
                return Err(format!("agent {id:?} is stored with id {:?}", a.spec.id));
            }
            if a.vector.iter().flatten().any(|x| !x.is_finite()) {
                return Err(format!("agent {id:?} has a non-finite expertise vector"));
            }
            if let Some(t) = a
                .open
                .iter()
                .find(|t| self.assignments.get(*t).is_none_or(|x| &x.agent != id))
            {
                return Err(format!(
                    "agent {id:?} lists ticket {t:?} as open, but it is not assigned to them"
                ));
            }
        }
        for (id, a) in &self.assignments {
            if id != &a.ticket.id {
                return Err(format!("assignment {id:?} holds ticket {:?}", a.ticket.id));
            }
            if !self.agents.get(&a.agent).is_some_and(|v| v.open.contains(id)) {
                return Err(format!(
                    "ticket {id:?} is assigned to {:?}, who does not list it as open",
                    a.agent
                ));
            }
            if self.queue.contains_key(id) {
                return Err(format!("ticket {id:?} is both open and waiting"));
            }
        }
        if let Some((id, t)) = self.queue.iter().find(|(id, t)| id != &&t.id) {
            return Err(format!("waiting ticket {id:?} is stored with id {:?}", t.id));
        }
        Ok(())
    }
}

/// The routing state machine.
pub struct Router {
    pub(super) state: RouterState,
    pub(super) cfg: RouterConfig,
    pub(super) cols: Columns,
}

impl Router {
    pub fn new(cfg: RouterConfig) -> Self {
        Self::from_state(RouterState::default(), cfg)
    }

    /// Rebuilds the columns of a recovered state.
    pub fn from_state(state: RouterState, cfg: RouterConfig) -> Self {
        let mut cols = Columns::default();
        for a in state.agents.values() {
            cols.set(a);
        }
        Self {
            state,
            cfg: cfg.normalised(),
            cols,
        }
    }

    pub fn state(&self) -> &RouterState {
        &self.state
    }

    /// The configuration in force, rings normalised.
    pub fn config(&self) -> &RouterConfig {
        &self.cfg
    }

    pub fn agent(&self, id: &str) -> Result<&AgentView, RouteError> {
        self.state
            .agents
            .get(id)
            .ok_or_else(|| RouteError::UnknownAgent(id.to_string()))
    }

    /// Carries out planned (or logged) effects in order. Never fails: an effect
    /// that does not fit the state — only a salvaged log holds one — is skipped
    /// with a warning. Returns how many were skipped.
    pub fn apply(&mut self, effects: &[Effect]) -> usize {
        let mut skipped = 0;
        for e in effects {
            if let Err(why) = e.apply_to(self) {
                tracing::warn!(effect = ?e, "skipping an effect that does not fit the state: {why}");
                skipped += 1;
            }
        }
        skipped
    }

    /// Plans and applies one command (no log; the durable router logs between the two).
    pub fn execute(&mut self, command: &Command) -> Result<Vec<Outcome>, RouteError> {
        let plan = self.plan(command)?;
        self.apply(&plan.effects);
        Ok(plan.outcomes)
    }

    /// Adds or replaces an agent; load, presence and open tickets carry over.
    /// New agents start offline. Returns tickets the change let them take.
    pub fn upsert_agent(
        &mut self,
        spec: AgentSpec,
        vector: Option<Vec<f32>>,
        now_ms: u64,
    ) -> Result<Vec<Outcome>, RouteError> {
        self.execute(&Command::UpsertAgent { spec, vector, now_ms })
    }

    /// Removes an agent; its open tickets go back to the queue (and may be routed at once).
    pub fn remove_agent(&mut self, id: &str, now_ms: u64) -> Result<Vec<Outcome>, RouteError> {
        self.execute(&Command::RemoveAgent {
            id: id.into(),
            now_ms,
        })
    }

    /// Changes presence; an agent coming online takes waiting tickets at once.
    pub fn set_presence(
        &mut self,
        id: &str,
        presence: Presence,
        now_ms: u64,
    ) -> Result<Vec<Outcome>, RouteError> {
        self.execute(&Command::SetPresence {
            id: id.into(),
            presence,
            now_ms,
        })
    }

    /// Assigns a ticket to the best eligible agent, or queues it.
    pub fn route(&mut self, ticket: Ticket, now_ms: u64) -> Result<Outcome, RouteError> {
        let mut out = self.execute(&Command::Route { ticket, now_ms })?;
        Ok(out.remove(0))
    }

    /// Frees the agent's capacity; the agent takes the best waiting ticket it can.
    pub fn complete(&mut self, ticket: &str, now_ms: u64) -> Result<Vec<Outcome>, RouteError> {
        self.execute(&Command::Complete {
            ticket: ticket.into(),
            now_ms,
        })
    }

    /// Moves an open ticket to `to` (which must be able to take it), or, with
    /// `None`, re-routes it to anyone but its current agent.
    pub fn transfer(
        &mut self,
        ticket: &str,
        to: Option<&str>,
        now_ms: u64,
    ) -> Result<Vec<Outcome>, RouteError> {
        self.execute(&Command::Transfer {
            ticket: ticket.into(),
            to: to.map(str::to_string),
            now_ms,
        })
    }

    /// Re-examines waiting tickets whose rings have widened; assigns what it can.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Outcome> {
        self.execute(&Command::Tick { now_ms }).unwrap_or_default()
    }

    /// What routing this ticket now would decide, without changing anything (dry run, audit).
    pub fn preview(&self, ticket: &Ticket, now_ms: u64) -> Result<Decision, RouteError> {
        ticket.validate()?;
        let part = Part {
            cols: &self.cols,
            hidden: None,
        };
        Ok(decide(&[part], ticket, now_ms, &self.cfg, None))
    }

    /// Waiting tickets, most urgent first.
    pub fn queue(&self, now_ms: u64) -> Vec<QueuedTicket> {
        urgency_order(self.state.queue.values(), now_ms)
            .into_iter()
            .enumerate()
            .map(|(i, id)| {
                let t = &self.state.queue[&id];
                QueuedTicket {
                    ring: ring_index(&self.cfg, t, now_ms),
                    waited_ms: now_ms.saturating_sub(t.created_ms),
                    position: i + 1,
                    ticket: t.clone(),
                }
            })
            .collect()
    }
}

impl Store for Router {
    fn agent_mut(&mut self, id: &str) -> Option<&mut AgentView> {
        self.state.agents.get_mut(id)
    }
    fn take_agent(&mut self, id: &str) -> Option<AgentView> {
        self.state.agents.remove(id)
    }
    fn put_agent(&mut self, view: AgentView) {
        self.state.agents.insert(view.spec.id.clone(), view);
    }
    fn has_ticket(&self, id: &str) -> bool {
        self.state.queue.contains_key(id) || self.state.assignments.contains_key(id)
    }
    fn take_waiting(&mut self, id: &str) -> Option<Ticket> {
        self.state.queue.remove(id)
    }
    fn put_waiting(&mut self, ticket: Ticket) {
        self.state.queue.insert(ticket.id.clone(), ticket);
    }
    fn take_open(&mut self, id: &str) -> Option<Assignment> {
        self.state.assignments.remove(id)
    }
    fn put_open(&mut self, a: Assignment) {
        self.state.assignments.insert(a.ticket.id.clone(), a);
    }
    fn put_last_agent(&mut self, customer: String, agent: String) {
        self.state.last_agent.insert(customer, agent);
    }
    fn refresh(&mut self, id: &str, what: Changed) {
        match (what, self.state.agents.get(id)) {
            (Changed::Load, Some(view)) => self.cols.set_spare(view),
            (Changed::Agent, Some(view)) => self.cols.set(view),
            (_, None) => {
                if let Some(&s) = self.cols.slot.get(id) {
                    self.cols.clear(s);
                }
            }
            (Changed::Gone, Some(_)) => {}
        }
    }
}
