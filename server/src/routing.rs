//! `kefu.v1.Routing`: the gRPC face of `kefu_engine::route`. Each RPC converts,
//! runs one logged router command, and converts its outcomes back; the desk
//! publishes the assignments a command made to agent desktops, under the same
//! lock, from the outcome itself.

use crate::proto::routing_server::Routing;
use crate::proto::{
    self, AgentState, Assignment, CompleteRequest, GetAgentRequest, GetQueueRequest, GetQueueResponse,
    QueuedTicket, RemoveAgentRequest, RouteRequest, RouteResponse, RoutingEvents, SetPresenceRequest,
    TransferRequest, UpsertAgentRequest, WatchAssignmentsRequest,
};
use crate::state::AppState;
use kefu_engine::route::{
    self as route, AgentSpec, Command, Decision, DurableRouter, LogOptions, Outcome, RouteError,
    RouterConfig, SkillNeed, Ticket,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// The router with its log, and the feed of assignments for agent desktops.
pub struct Desk {
    router: Mutex<DurableRouter>,
    events: broadcast::Sender<Assignment>,
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
                let _ = self.events.send(to_assignment(assignment));
            }
        }
        Ok(out)
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

    fn read<T>(&self, f: impl FnOnce(&route::Router) -> T) -> T {
        f(self.router.lock().unwrap_or_else(|e| e.into_inner()).router())
    }
}

pub struct RoutingService {
    pub state: Arc<AppState>,
    pub desk: Arc<Desk>,
    /// Flips to true on shutdown: open WatchAssignments streams end so draining can finish.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

/// The gRPC status for a refused routing request.
pub(crate) fn route_status(e: RouteError) -> Status {
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

fn tier_to(t: route::Tier) -> i32 {
    match t {
        route::Tier::Standard => proto::Tier::Standard as i32,
        route::Tier::Vip => proto::Tier::Vip as i32,
    }
}

fn presence_from(p: i32) -> Result<Option<route::Presence>, Status> {
    match proto::Presence::try_from(p) {
        Ok(proto::Presence::Unspecified) => Ok(None),
        Ok(proto::Presence::Online) => Ok(Some(route::Presence::Online)),
        Ok(proto::Presence::Away) => Ok(Some(route::Presence::Away)),
        Ok(proto::Presence::Offline) => Ok(Some(route::Presence::Offline)),
        Err(_) => Err(Status::invalid_argument(format!("unknown presence {p}"))),
    }
}

fn presence_to(p: route::Presence) -> i32 {
    (match p {
        route::Presence::Online => proto::Presence::Online,
        route::Presence::Away => proto::Presence::Away,
        route::Presence::Offline => proto::Presence::Offline,
    }) as i32
}

/// Proficiency and capacity arrive as u32; anything past u8 is already invalid.
fn level(skill: &str, l: u32) -> Result<u8, Status> {
    u8::try_from(l).map_err(|_| {
        Status::invalid_argument(format!(
            "skill {} has level {l}; levels are 1 to 5",
            kefu_engine::echo::clip(skill)
        ))
    })
}

fn needs(list: &[proto::SkillRequirement]) -> Result<Vec<SkillNeed>, Status> {
    list.iter()
        .map(|s| {
            Ok(SkillNeed {
                skill: s.skill.clone(),
                min_level: level(&s.skill, s.min_level)?,
            })
        })
        .collect()
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
fn events(outcomes: &[Outcome]) -> RoutingEvents {
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
                rule: e.rule.clone(),
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

impl RoutingService {
    /// Runs a command off the async runtime (the log may fsync).
    async fn run(&self, command: Command) -> Result<Vec<Outcome>, Status> {
        let desk = self.desk.clone();
        tokio::task::spawn_blocking(move || desk.execute(command))
            .await
            .map_err(|e| Status::internal(format!("routing task failed: {e}")))?
            .map_err(route_status)
    }

    /// The embedding of a ticket's text, and the category of the answer index's top hit.
    async fn understand(&self, text: &str) -> Result<(Vec<f32>, String), Status> {
        let (v, _) = self.state.embed_question(text).await?;
        let index = self.state.index();
        let vector = v.clone();
        let category = tokio::task::spawn_blocking(move || {
            kefu_engine::resolve::Answerer::new(&index, 32)
                .category(&vector)
                .ok()
                .flatten()
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .unwrap_or_default();
        Ok((v.to_vec(), category))
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

type WatchStream = Pin<Box<dyn Stream<Item = Result<Assignment, Status>> + Send>>;

#[tonic::async_trait]
impl Routing for RoutingService {
    async fn upsert_agent(&self, r: Request<UpsertAgentRequest>) -> Result<Response<RoutingEvents>, Status> {
        let r = r.into_inner();
        let agent = r
            .agent
            .ok_or_else(|| Status::invalid_argument("agent is missing"))?;
        let presence = presence_from(r.presence)?;
        let spec = spec_from(agent)?;
        spec.validate().map_err(route_status)?;
        let vector = if spec.expertise.trim().is_empty() {
            None
        } else {
            Some(
                self.state
                    .embed_texts(vec![spec.expertise.clone()])
                    .await?
                    .remove(0),
            )
        };
        let now = now_ms();
        let id = spec.id.clone();
        let mut out = self
            .run(Command::UpsertAgent {
                spec,
                vector,
                now_ms: now,
            })
            .await?;
        if let Some(presence) = presence {
            out.extend(
                self.run(Command::SetPresence {
                    id,
                    presence,
                    now_ms: now,
                })
                .await?,
            );
        }
        Ok(Response::new(events(&out)))
    }

    async fn remove_agent(&self, r: Request<RemoveAgentRequest>) -> Result<Response<RoutingEvents>, Status> {
        let id = r.into_inner().agent_id;
        let out = self.run(Command::RemoveAgent { id, now_ms: now_ms() }).await?;
        Ok(Response::new(events(&out)))
    }

    async fn set_presence(&self, r: Request<SetPresenceRequest>) -> Result<Response<RoutingEvents>, Status> {
        let r = r.into_inner();
        let presence =
            presence_from(r.presence)?.ok_or_else(|| Status::invalid_argument("presence is required"))?;
        let out = self
            .run(Command::SetPresence {
                id: r.agent_id,
                presence,
                now_ms: now_ms(),
            })
            .await?;
        Ok(Response::new(events(&out)))
    }

    async fn route(&self, r: Request<RouteRequest>) -> Result<Response<RouteResponse>, Status> {
        let r = r.into_inner();
        let priority = u8::try_from(r.priority)
            .ok()
            .filter(|p| *p <= 9)
            .ok_or_else(|| Status::invalid_argument(format!("priority {} is outside 0..=9", r.priority)))?;
        let max = self.state.config.max_question_chars;
        if r.text.chars().count() > max {
            return Err(Status::invalid_argument(format!(
                "text is longer than {max} characters"
            )));
        }
        let (vector, category) = if r.text.trim().is_empty() {
            (None, r.category.clone())
        } else {
            let (v, inferred) = self.understand(&r.text).await?;
            (
                Some(v),
                if r.category.is_empty() {
                    inferred
                } else {
                    r.category.clone()
                },
            )
        };
        // No language given: the text's, when it is clear enough to tell.
        let language = if r.language.trim().is_empty() {
            kefu_engine::resolve::language::detect(&kefu_engine::resolve::text::normalize(&r.text), None)
                .map(|l| l.code)
                .unwrap_or_default()
        } else {
            r.language
        };
        let ticket = Ticket {
            id: r.ticket_id,
            customer_id: r.customer_id,
            tier: tier_from(r.tier)?,
            language,
            channel: r.channel,
            category: category.clone(),
            text: r.text,
            vector,
            required: needs(&r.required)?,
            additional: needs(&r.additional)?,
            priority,
            created_ms: 0,
            preferred_agent: Some(r.preferred_agent).filter(|p| !p.is_empty()),
        };
        let out = self
            .run(Command::Route {
                ticket,
                now_ms: now_ms(),
            })
            .await?;
        let resp = route_response(&out, category)?;
        Ok(Response::new(resp))
    }

    async fn complete(&self, r: Request<CompleteRequest>) -> Result<Response<RoutingEvents>, Status> {
        let ticket = r.into_inner().ticket_id;
        let out = self
            .run(Command::Complete {
                ticket,
                now_ms: now_ms(),
            })
            .await?;
        Ok(Response::new(events(&out)))
    }

    async fn transfer(&self, r: Request<TransferRequest>) -> Result<Response<RoutingEvents>, Status> {
        let r = r.into_inner();
        let out = self
            .run(Command::Transfer {
                ticket: r.ticket_id,
                to: Some(r.to_agent_id).filter(|a| !a.is_empty()),
                now_ms: now_ms(),
            })
            .await?;
        Ok(Response::new(events(&out)))
    }

    async fn get_queue(&self, _: Request<GetQueueRequest>) -> Result<Response<GetQueueResponse>, Status> {
        let now = now_ms();
        let tickets = self.desk.read(|r| {
            r.queue(now)
                .into_iter()
                .map(|q| QueuedTicket {
                    ticket_id: q.ticket.id,
                    customer_id: q.ticket.customer_id,
                    tier: tier_to(q.ticket.tier),
                    language: q.ticket.language,
                    channel: q.ticket.channel,
                    category: q.ticket.category,
                    priority: q.ticket.priority as u32,
                    position: q.position as u32,
                    ring: q.ring as u32,
                    waited_ms: q.waited_ms,
                })
                .collect()
        });
        Ok(Response::new(GetQueueResponse { tickets }))
    }

    async fn get_agent(&self, r: Request<GetAgentRequest>) -> Result<Response<AgentState>, Status> {
        let id = r.into_inner().agent_id;
        let view = self.desk.read(|r| r.agent(&id).cloned()).map_err(route_status)?;
        Ok(Response::new(AgentState {
            agent: Some(spec_to(&view.spec)),
            presence: presence_to(view.presence),
            load: view.load.into_iter().collect(),
            open_tickets: view.open.into_iter().collect(),
            last_assigned_ms: view.last_assigned_ms,
        }))
    }

    type WatchAssignmentsStream = WatchStream;

    async fn watch_assignments(
        &self,
        r: Request<WatchAssignmentsRequest>,
    ) -> Result<Response<Self::WatchAssignmentsStream>, Status> {
        let agent = r.into_inner().agent_id;
        self.desk
            .read(|r| r.agent(&agent).map(|_| ()))
            .map_err(route_status)?;
        let mut rx = self.desk.events.subscribe();
        let (tx, out) = tokio::sync::mpsc::channel(64);
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    r = rx.recv() => r,
                    _ = stop.wait_for(|s| *s) => return,
                };
                match next {
                    Ok(a) if a.agent_id == agent => {
                        if tx.send(Ok(a)).await.is_err() {
                            return; // the desktop hung up
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let _ = tx
                            .send(Err(Status::data_loss(format!(
                                "{n} assignments were missed; re-read with GetAgent"
                            ))))
                            .await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out),
        )))
    }
}
