//! Every conversion between `kefu.v1.Routing` messages and the engine's routing
//! types, in one place: enums by name, levels checked, agents, assignments, decisions,
//! and the gRPC status of each routing error.

use crate::proto::{self, Assignment, RouteResponse, RoutingEvents};
use kefu_engine::route::{self as route, AgentSpec, Decision, Outcome, RouteError, SkillNeed};
use std::collections::BTreeMap;
use tonic::Status;

/// The gRPC status for a refused routing request.
pub fn route_status(e: RouteError) -> Status {
    let msg = e.to_string();
    match e {
        RouteError::InvalidAgent { .. } | RouteError::InvalidTicket { .. } => Status::invalid_argument(msg),
        RouteError::UnknownAgent(_) | RouteError::UnknownTicket(_) => Status::not_found(msg),
        RouteError::DuplicateTicket(_) => Status::already_exists(msg),
        RouteError::NotEligible { .. } => Status::failed_precondition(msg),
        // Nothing changed and the caller may retry: later (rolled back) or elsewhere (out of service).
        RouteError::AppendFailed { .. } | RouteError::LogFailed { .. } => Status::unavailable(msg),
        RouteError::Log { .. } | RouteError::Corrupt { .. } => Status::internal(msg),
    }
}

pub(crate) fn tier_from(t: i32) -> Result<route::Tier, Status> {
    match proto::Tier::try_from(t) {
        Ok(proto::Tier::Unspecified) | Ok(proto::Tier::Standard) => Ok(route::Tier::Standard),
        Ok(proto::Tier::Vip) => Ok(route::Tier::Vip),
        Err(_) => Err(Status::invalid_argument(format!("unknown tier {t}"))),
    }
}

pub(crate) fn tier_to(t: route::Tier) -> i32 {
    match t {
        route::Tier::Standard => proto::Tier::Standard as i32,
        route::Tier::Vip => proto::Tier::Vip as i32,
    }
}

pub(crate) fn presence_from(p: i32) -> Result<Option<route::Presence>, Status> {
    match proto::Presence::try_from(p) {
        Ok(proto::Presence::Unspecified) => Ok(None),
        Ok(proto::Presence::Online) => Ok(Some(route::Presence::Online)),
        Ok(proto::Presence::Away) => Ok(Some(route::Presence::Away)),
        Ok(proto::Presence::Offline) => Ok(Some(route::Presence::Offline)),
        Err(_) => Err(Status::invalid_argument(format!("unknown presence {p}"))),
    }
}

pub(crate) fn presence_to(p: route::Presence) -> i32 {
    (match p {
        route::Presence::Online => proto::Presence::Online,
        route::Presence::Away => proto::Presence::Away,
        route::Presence::Offline => proto::Presence::Offline,
    }) as i32
}

/// Proficiency and capacity arrive as u32; anything past u8 is already invalid.
pub(crate) fn level(skill: &str, l: u32) -> Result<u8, Status> {
    u8::try_from(l).map_err(|_| {
        Status::invalid_argument(format!(
            "skill {} has level {l}; levels are 1 to 5",
            kefu_engine::echo::clip(skill)
        ))
    })
}

pub(crate) fn needs(list: &[proto::SkillRequirement]) -> Result<Vec<SkillNeed>, Status> {
    list.iter()
        .map(|s| {
            Ok(SkillNeed {
                skill: s.skill.clone(),
                min_level: level(&s.skill, s.min_level)?,
            })
        })
        .collect()
}

/// An agent as the router keeps it, from the message (levels and tiers checked).
pub(crate) struct Spec(pub AgentSpec);

impl TryFrom<proto::Agent> for Spec {
    type Error = Status;
    fn try_from(a: proto::Agent) -> Result<Self, Status> {
        spec_from(a).map(Spec)
    }
}

fn spec_from(a: proto::Agent) -> Result<AgentSpec, Status> {
    let skills = a
        .skills
        .iter()
        .map(|(k, &v)| Ok((k.clone(), level(k, v)?)))
        .collect::<Result<BTreeMap<_, _>, Status>>()?;
    let mut tiers = a
        .tiers
        .iter()
        .map(|&t| tier_from(t))
        .collect::<Result<Vec<_>, _>>()?;
    if tiers.is_empty() {
        tiers.push(route::Tier::Standard);
    }
    Ok(AgentSpec {
        id: a.id,
        name: a.name,
        languages: a.languages,
        skills,
        expertise: a.expertise,
        tiers,
        capacity: a.capacity.into_iter().collect(),
        translation: a.translation,
    })
}

impl From<&AgentSpec> for proto::Agent {
    fn from(s: &AgentSpec) -> Self {
        spec_to(s)
    }
}

fn spec_to(s: &AgentSpec) -> proto::Agent {
    proto::Agent {
        id: s.id.clone(),
        name: s.name.clone(),
        languages: s.languages.clone(),
        skills: s.skills.iter().map(|(k, &v)| (k.clone(), v as u32)).collect(),
        expertise: s.expertise.clone(),
        tiers: s.tiers.iter().map(|&t| tier_to(t)).collect(),
        capacity: s.capacity.clone().into_iter().collect(),
        translation: s.translation,
    }
}

impl From<&route::Assignment> for Assignment {
    fn from(a: &route::Assignment) -> Self {
        to_assignment(a)
    }
}

fn to_assignment(a: &route::Assignment) -> Assignment {
    Assignment {
        ticket_id: a.ticket.id.clone(),
        agent_id: a.agent.clone(),
        customer_id: a.ticket.customer_id.clone(),
        channel: a.ticket.channel.clone(),
        category: a.ticket.category.clone(),
        text: a.ticket.text.clone(),
    }
}

/// The assignments a command made, straight from its outcomes.
pub(crate) fn events(outcomes: &[Outcome]) -> RoutingEvents {
    let assignments = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Assigned { assignment, .. } => Some(to_assignment(assignment)),
            Outcome::Queued { .. } => None,
        })
        .collect();
    RoutingEvents { assignments }
}

fn decision_to(d: &Decision) -> proto::Decision {
    proto::Decision {
        ring: d.ring as u32,
        eligible: d.eligible,
        excluded: d
            .excluded
            .iter()
            .map(|e| proto::Exclusion {
                rule: e.rule.to_string(),
                excluded: e.excluded,
            })
            .collect(),
        candidates: d
            .candidates
            .iter()
            .map(|c| proto::Candidate {
                agent_id: c.agent.clone(),
                score: c.score,
                proficiency: c.proficiency,
                expertise: c.expertise,
                idle: c.idle,
                spare: c.spare,
                sticky: c.sticky,
            })
            .collect(),
    }
}

/// The reply to a Route: the agent assigned, or the place in the queue.
pub(crate) fn route_response(out: &[Outcome], category: String) -> Result<RouteResponse, Status> {
    Ok(match out.first() {
        Some(Outcome::Assigned { assignment, decision }) => RouteResponse {
            ticket_id: assignment.ticket.id.clone(),
            assigned: true,
            agent_id: assignment.agent.clone(),
            queue_position: 0,
            ring: decision.ring as u32,
            decision: Some(decision_to(decision)),
            category,
        },
        Some(Outcome::Queued {
            ticket,
            position,
            ring,
            decision,
        }) => RouteResponse {
            ticket_id: ticket.clone(),
            assigned: false,
            agent_id: String::new(),
            queue_position: *position as u32,
            ring: *ring as u32,
            decision: Some(decision_to(decision)),
            category,
        },
        None => return Err(Status::internal("router returned no outcome")),
    })
}
