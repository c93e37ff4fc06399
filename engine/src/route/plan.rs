//! Deciding a command: every check and every decision happens here, against a
//! `Draft` of the state, and the result is a [`Plan`] — the effects to log
//! and apply, and the outcomes to tell the caller. Nothing changes until the
//! caller applies the plan.

use super::RouteError;
use super::draft::Draft;
use super::effect::{Effect, Store};
use super::model::{AgentSpec, Presence, Ticket};
use super::router::{Assignment, Router};
use super::scoring::Decision;
use serde::{Deserialize, Serialize};

/// A request to change the routing state, as the log records it next to its effects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    UpsertAgent {
        spec: AgentSpec,
        vector: Option<Vec<f32>>,
        now_ms: u64,
    },
    RemoveAgent {
        id: String,
        now_ms: u64,
    },
    SetPresence {
        id: String,
        presence: Presence,
        now_ms: u64,
    },
    Route {
        ticket: Ticket,
        now_ms: u64,
    },
    Complete {
        ticket: String,
        now_ms: u64,
    },
    Transfer {
        ticket: String,
        to: Option<String>,
        now_ms: u64,
    },
    Tick {
        now_ms: u64,
    },
}

/// What happened to a ticket a command routed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Assigned {
        /// The assignment as made (boxed: a ticket is large, and most outcomes are few).
        assignment: Box<Assignment>,
        decision: Decision,
    },
    Queued {
        ticket: String,
        position: usize,
        ring: usize,
        decision: Decision,
    },
}

/// A decided command: the effects that carry it out and what to tell the caller.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Empty when the command changes nothing (then nothing is logged).
    pub effects: Vec<Effect>,
    pub outcomes: Vec<Outcome>,
}

impl Router {
    /// Decides a command against the current state without changing it.
    pub fn plan(&self, command: &Command) -> Result<Plan, RouteError> {
        let mut d = Draft::new(self);
        match command {
            Command::UpsertAgent { spec, vector, now_ms } => {
                spec.validate()?;
                if vector.iter().flatten().any(|x| !x.is_finite()) {
                    return Err(RouteError::InvalidAgent {
                        id: spec.id.clone(),
                        reason: "expertise vector has a non-finite component".into(),
                    });
                }
                d.push(Effect::AgentSet {
                    spec: spec.clone(),
                    vector: vector.clone(),
                });
                d.pull_for(&spec.id, *now_ms);
            }
            Command::RemoveAgent { id, now_ms } => {
                let view = self.agent(id)?;
                for ticket in &view.open {
                    d.push(Effect::Released {
                        ticket: ticket.clone(),
                    });
                }
                d.push(Effect::AgentRemoved { id: id.clone() });
                d.tick(*now_ms);
            }
            Command::SetPresence { id, presence, now_ms } => {
                self.agent(id)?;
                d.push(Effect::PresenceSet {
                    id: id.clone(),
                    presence: *presence,
                });
                d.pull_for(id, *now_ms);
            }
            Command::Route { ticket, now_ms } => {
                ticket.validate()?;
                if d.has_ticket(&ticket.id) {
                    return Err(RouteError::DuplicateTicket(ticket.id.clone()));
                }
                let mut ticket = ticket.clone();
                if ticket.created_ms == 0 {
                    ticket.created_ms = *now_ms;
                }
                if ticket.preferred_agent.is_none() {
                    ticket.preferred_agent = d.last_agent(&ticket.customer_id);
                }
                let id = ticket.id.clone();
                d.push(Effect::Admitted { ticket });
                d.place(&id, *now_ms, None);
            }
            Command::Complete { ticket, now_ms } => {
                if d.waiting_ticket(ticket).is_some() {
                    d.push(Effect::Closed {
                        ticket: ticket.clone(),
                    });
                } else {
                    let agent = d.open_agent(ticket)?;
                    d.push(Effect::Released {
                        ticket: ticket.clone(),
                    });
                    d.push(Effect::Closed {
                        ticket: ticket.clone(),
                    });
                    d.pull_for(&agent, *now_ms);
                }
            }
            Command::Transfer { ticket, to, now_ms } => d.transfer(ticket, to.as_deref(), *now_ms)?,
            Command::Tick { now_ms } => d.tick(*now_ms),
        }
        Ok(Plan {
            effects: d.effects,
            outcomes: d.outcomes,
        })
    }
}

/// The decision procedures, in the order a plan may call them.
impl Draft<'_> {
    /// Assigns a waiting ticket to the best eligible agent, or leaves it waiting.
    fn place(&mut self, id: &str, now_ms: u64, exclude: Option<&str>) {
        let Some(ticket) = self.waiting_ticket(id) else {
            return;
        };
        let decision = self.decide(ticket, now_ms, exclude);
        match decision.candidates.first() {
            Some(best) => {
                let agent = best.agent.clone();
                self.assign(id, &agent, now_ms, decision);
            }
            None => {
                let position = self.queue_order(now_ms).iter().position(|t| t == id).unwrap_or(0) + 1;
                self.outcomes.push(Outcome::Queued {
                    ticket: id.to_string(),
                    position,
                    ring: decision.ring,
                    decision,
                });
            }
        }
    }

    fn assign(&mut self, ticket: &str, agent: &str, now_ms: u64, decision: Decision) {
        self.push(Effect::Assigned {
            ticket: ticket.to_string(),
            agent: agent.to_string(),
            at_ms: now_ms,
        });
        if let Some(assignment) = self.open_ticket(ticket).cloned() {
            self.outcomes.push(Outcome::Assigned {
                assignment: Box::new(assignment),
                decision,
            });
        }
    }

    /// An agent with spare capacity takes the most urgent waiting tickets it may.
    fn pull_for(&mut self, agent: &str, now_ms: u64) {
        if self.agent(agent).is_none() {
            return;
        }
        for id in self.queue_order(now_ms) {
            let Some(t) = self.waiting_ticket(&id) else {
                continue;
            };
            if !self.may_take(agent, t, now_ms) {
                continue;
            }
            let decision = self.decide(t, now_ms, None);
            self.assign(&id, agent, now_ms, decision);
        }
    }

    /// Re-examines every waiting ticket in order of urgency.
    fn tick(&mut self, now_ms: u64) {
        for id in self.queue_order(now_ms) {
            self.place_if_possible(&id, now_ms);
        }
    }

    fn place_if_possible(&mut self, id: &str, now_ms: u64) {
        let Some(t) = self.waiting_ticket(id) else {
            return;
        };
        let decision = self.decide(t, now_ms, None);
        if let Some(best) = decision.candidates.first() {
            let agent = best.agent.clone();
            self.assign(id, &agent, now_ms, decision);
        }
    }

    fn transfer(&mut self, ticket: &str, to: Option<&str>, now_ms: u64) -> Result<(), RouteError> {
        let current = self
            .open_ticket(ticket)
            .ok_or_else(|| RouteError::UnknownTicket(ticket.to_string()))?
            .clone();
        if let Some(target) = to {
            let view = self
                .agent(target)
                .ok_or_else(|| RouteError::UnknownAgent(target.to_string()))?;
            let reason = if view.presence != Presence::Online {
                Some("agent is not online".to_string())
            } else if view.spare(&current.ticket.channel) == 0 {
                Some(format!(
                    "no spare capacity on {}",
                    crate::echo::clip(&current.ticket.channel)
                ))
            } else if target == current.agent {
                Some("ticket is already with this agent".into())
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(RouteError::NotEligible {
                    agent: target.to_string(),
                    ticket: ticket.to_string(),
                    reason,
                });
            }
        }
        self.push(Effect::Released {
            ticket: ticket.to_string(),
        });
        match to {
            Some(target) => {
                let decision = Decision {
                    ring: 0,
                    eligible: 1,
                    excluded: vec![],
                    candidates: vec![],
                };
                self.assign(ticket, target, now_ms, decision);
            }
            None => self.place(ticket, now_ms, Some(&current.agent)),
        }
        self.pull_for(&current.agent, now_ms);
        Ok(())
    }
}
