//! The draft a plan is decided against: the router's state as the plan has
//! changed it so far. The agents, tickets and customers a plan touches live in
//! small overlays over the router's state, and the touched agents' columns in
//! a small column set of their own (their slots hidden in the router's), so a
//! command that makes several decisions in a row — a tick, an agent pulling
//! tickets — sees its own earlier effects without copying the desk.

use super::RouteError;
use super::columns::Columns;
use super::effect::{Changed, Effect, Store};
use super::model::Ticket;
use super::plan::Outcome;
use super::queue::{ring_index, urgency_order};
use super::router::{AgentView, Assignment, Router};
use super::scoring::{Decision, Part, decide, eligible};
use roaring::RoaringBitmap;
use std::collections::BTreeMap;

/// The router's state as a plan has changed it so far.
pub(super) struct Draft<'r> {
    pub(super) base: &'r Router,
    /// Touched agents: their view now, `None` once removed.
    pub(super) agents: BTreeMap<String, Option<AgentView>>,
    pub(super) waiting: BTreeMap<String, Option<Ticket>>,
    pub(super) open: BTreeMap<String, Option<Assignment>>,
    pub(super) last_agent: BTreeMap<String, String>,
    /// Columns of the touched agents still on the desk.
    pub(super) touched: Columns,
    /// The touched agents' slots in the router's columns, which no longer speak for them.
    pub(super) hidden: RoaringBitmap,
    pub(super) effects: Vec<Effect>,
    pub(super) outcomes: Vec<Outcome>,
}

impl<'r> Draft<'r> {
    pub(super) fn new(base: &'r Router) -> Self {
        Self {
            base,
            agents: BTreeMap::new(),
            waiting: BTreeMap::new(),
            open: BTreeMap::new(),
            last_agent: BTreeMap::new(),
            touched: Columns::beside(&base.cols),
            hidden: RoaringBitmap::new(),
            effects: Vec::new(),
            outcomes: Vec::new(),
        }
    }

    /// Records an effect and lands it on the draft.
    pub(super) fn push(&mut self, e: Effect) {
        match e.apply_to(self) {
            Ok(()) => self.effects.push(e),
            // The planner checks before it pushes; reaching this is a bug, and the effect is left out.
            Err(why) => {
                debug_assert!(false, "planned effect does not apply: {why}");
                tracing::error!(effect = ?e, "planned effect does not apply to its own draft: {why}");
            }
        }
    }

    pub(super) fn agent(&self, id: &str) -> Option<&AgentView> {
        match self.agents.get(id) {
            Some(v) => v.as_ref(),
            None => self.base.state.agents.get(id),
        }
    }

    pub(super) fn waiting_ticket(&self, id: &str) -> Option<&Ticket> {
        match self.waiting.get(id) {
            Some(t) => t.as_ref(),
            None => self.base.state.queue.get(id),
        }
    }

    pub(super) fn open_ticket(&self, id: &str) -> Option<&Assignment> {
        match self.open.get(id) {
            Some(a) => a.as_ref(),
            None => self.base.state.assignments.get(id),
        }
    }

    /// The agent who last served a customer.
    pub(super) fn last_agent(&self, customer: &str) -> Option<String> {
        self.last_agent
            .get(customer)
            .or_else(|| self.base.state.last_agent.get(customer))
            .cloned()
    }

    /// The agent holding an open ticket.
    pub(super) fn open_agent(&self, ticket: &str) -> Result<String, RouteError> {
        self.open_ticket(ticket)
            .map(|a| a.agent.clone())
            .ok_or_else(|| RouteError::UnknownTicket(ticket.to_string()))
    }

    /// Waiting ticket ids, most urgent first.
    pub(super) fn queue_order(&self, now_ms: u64) -> Vec<String> {
        let base = self
            .base
            .state
            .queue
            .values()
            .filter(|t| !self.waiting.contains_key(&t.id));
        let added = self.waiting.values().flatten();
        urgency_order(base.chain(added), now_ms)
    }

    /// The column sets a decision reads: the router's (minus touched agents) and the touched ones.
    pub(super) fn parts(&self) -> Vec<Part<'_>> {
        let mut parts = vec![Part {
            cols: &self.base.cols,
            hidden: (!self.hidden.is_empty()).then_some(&self.hidden),
        }];
        if !self.touched.all.is_empty() {
            parts.push(Part {
                cols: &self.touched,
                hidden: None,
            });
        }
        parts
    }

    pub(super) fn decide(&self, t: &Ticket, now_ms: u64, exclude: Option<&str>) -> Decision {
        decide(&self.parts(), t, now_ms, &self.base.cfg, exclude)
    }

    /// Whether `agent` passes every rule for `t` now (checked in whichever columns speak for it).
    pub(super) fn may_take(&self, agent: &str, t: &Ticket, now_ms: u64) -> bool {
        let ring = &self.base.cfg.rings(&t.category)[ring_index(&self.base.cfg, t, now_ms)];
        let (part, slot) = match self.touched.slot.get(agent) {
            Some(&s) => (
                Part {
                    cols: &self.touched,
                    hidden: None,
                },
                s,
            ),
            None => match self.base.cols.slot.get(agent) {
                Some(&s) => (
                    Part {
                        cols: &self.base.cols,
                        hidden: Some(&self.hidden),
                    },
                    s,
                ),
                None => return false,
            },
        };
        eligible(&part, t, ring, None).set.contains(slot)
    }
}

impl Store for Draft<'_> {
    fn agent_mut(&mut self, id: &str) -> Option<&mut AgentView> {
        if !self.agents.contains_key(id) {
            let view = self.base.state.agents.get(id)?.clone();
            self.agents.insert(id.to_string(), Some(view));
        }
        self.agents.get_mut(id)?.as_mut()
    }
    fn take_agent(&mut self, id: &str) -> Option<AgentView> {
        let view = self.agent(id).cloned();
        self.agents.insert(id.to_string(), None);
        view
    }
    fn put_agent(&mut self, view: AgentView) {
        self.agents.insert(view.spec.id.clone(), Some(view));
    }
    fn has_ticket(&self, id: &str) -> bool {
        self.waiting_ticket(id).is_some() || self.open_ticket(id).is_some()
    }
    fn take_waiting(&mut self, id: &str) -> Option<Ticket> {
        let t = self.waiting_ticket(id).cloned();
        self.waiting.insert(id.to_string(), None);
        t
    }
    fn put_waiting(&mut self, ticket: Ticket) {
        self.waiting.insert(ticket.id.clone(), Some(ticket));
    }
    fn take_open(&mut self, id: &str) -> Option<Assignment> {
        let a = self.open_ticket(id).cloned();
        self.open.insert(id.to_string(), None);
        a
    }
    fn put_open(&mut self, a: Assignment) {
        self.open.insert(a.ticket.id.clone(), Some(a));
    }
    fn put_last_agent(&mut self, customer: String, agent: String) {
        self.last_agent.insert(customer, agent);
    }
    fn refresh(&mut self, id: &str, _: Changed) {
        // The overlay is small: rewrite the agent's columns whatever changed.
        if let Some(&s) = self.base.cols.slot.get(id) {
            self.hidden.insert(s);
        }
        match self.agents.get(id).and_then(Option::as_ref) {
            Some(view) => self.touched.set(view),
            None => {
                if let Some(&s) = self.touched.slot.get(id) {
                    self.touched.clear(s);
                }
            }
        }
    }
}
