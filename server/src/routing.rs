//! `kefu.v1.Routing`: the gRPC face of `kefu_engine::route`. Each RPC converts,
//! runs one logged router command, and converts its outcomes back; the desk
//! publishes the assignments a command made to agent desktops, under the same
//! lock, from the outcome itself.

use crate::auth::{Caller, caller};
pub use crate::convert::route_status;
use crate::convert::{Spec, events, needs, presence_from, presence_to, route_response, tier_from, tier_to};
pub use crate::desk::{Desk, now_ms};
use crate::proto::routing_server::Routing;
use crate::proto::{
    self, AgentState, Assignment, CompleteRequest, GetAgentRequest, GetQueueRequest, GetQueueResponse,
    QueuedTicket, RemoveAgentRequest, RouteRequest, RouteResponse, RoutingEvents, SetPresenceRequest,
    TransferRequest, UpsertAgentRequest, WatchAssignmentsRequest,
};
use crate::state::AppState;
use kefu_engine::route::{Command, Outcome, Ticket};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

pub struct RoutingService {
    pub state: Arc<AppState>,
    /// This process's desk, or the router replica's address (every call then refuses).
    pub desk: crate::home::RoutingHome,
    /// Flips to true on shutdown: open WatchAssignments streams end so draining can finish.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

impl RoutingService {
    /// Runs a command off the async runtime (the log may fsync).
    async fn run(&self, command: Command) -> Result<Vec<Outcome>, Status> {
        let desk = self.desk.desk()?.clone();
        tokio::task::spawn_blocking(move || desk.execute(command))
            .await
            .map_err(|e| Status::internal(format!("routing task failed: {e}")))?
            .map_err(route_status)
    }

    /// Runs a command on a ticket only if `caller` may handle it: a desk key only the
    /// tickets open with its agents.
    async fn run_on_ticket(
        &self,
        caller: Caller,
        ticket: String,
        command: Command,
    ) -> Result<Vec<Outcome>, Status> {
        let desk = self.desk.desk()?.clone();
        tokio::task::spawn_blocking(move || {
            desk.execute_if(command, |r| {
                let holder = r.state().assignments.get(&ticket).map(|a| a.agent.as_str());
                caller.may_handle_ticket(&ticket, holder)
            })
        })
        .await
        .map_err(|e| Status::internal(format!("routing task failed: {e}")))??
        .map_err(route_status)
    }

    /// The embedding of a ticket's text, and the category of the answer index's top hit.
    async fn understand(
        &self,
        text: &str,
        deadline: Option<std::time::Instant>,
    ) -> Result<(Vec<f32>, String), Status> {
        let (v, _) = self.state.embed_question(text, deadline).await?;
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

/// Where a GetQueue page starts (0-based) and how many tickets it holds, within the config's bounds.
fn page(c: &crate::Config, r: GetQueueRequest) -> Result<(usize, usize), Status> {
    let size = r.page_size.unwrap_or(c.queue_page_size);
    if size == 0 || size > c.max_queue_page {
        return Err(Status::invalid_argument(format!(
            "page_size is {size}; it must be between 1 and {} (max_queue_page)",
            c.max_queue_page
        )));
    }
    let skip = if r.page_token.is_empty() {
        0
    } else {
        r.page_token.parse::<usize>().map_err(|_| {
            Status::invalid_argument(format!(
                "page_token {:?} is not one this server gave",
                kefu_engine::echo::clip(&r.page_token)
            ))
        })?
    };
    Ok((skip, size as usize))
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<Assignment, Status>> + Send>>;

#[tonic::async_trait]
impl Routing for RoutingService {
    async fn upsert_agent(&self, r: Request<UpsertAgentRequest>) -> Result<Response<RoutingEvents>, Status> {
        self.desk.desk()?; // refused before any embedding work on a replica without the log
        let deadline = crate::deadline::of(&r);
        let r = r.into_inner();
        let agent = r
            .agent
            .ok_or_else(|| Status::invalid_argument("agent is missing"))?;
        let presence = presence_from(r.presence)?;
        let limits = self.state.config.route_limits();
        // Bounds first: the expertise is embedded and the agent logged only when within them.
        let Spec(spec) = Spec::try_from(agent)?;
        limits.check_agent(&spec).map_err(route_status)?;
        spec.validate().map_err(route_status)?;
        let vector = if spec.expertise.trim().is_empty() {
            None
        } else {
            Some(
                self.state
                    .embed_texts(vec![spec.expertise.clone()], deadline)
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
        self.state
            .config
            .route_limits()
            .agent_id(&id)
            .map_err(route_status)?;
        let out = self.run(Command::RemoveAgent { id, now_ms: now_ms() }).await?;
        Ok(Response::new(events(&out)))
    }

    async fn set_presence(&self, r: Request<SetPresenceRequest>) -> Result<Response<RoutingEvents>, Status> {
        caller(&r)?.may_act_for(&r.get_ref().agent_id)?;
        let r = r.into_inner();
        self.state
            .config
            .route_limits()
            .agent_id(&r.agent_id)
            .map_err(route_status)?;
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
        self.desk.desk()?; // refused before any embedding work on a replica without the log
        let deadline = crate::deadline::of(&r);
        let r = r.into_inner();
        let priority = u8::try_from(r.priority)
            .ok()
            .filter(|p| *p <= 9)
            .ok_or_else(|| Status::invalid_argument(format!("priority {} is outside 0..=9", r.priority)))?;
        let mut ticket = Ticket {
            id: r.ticket_id,
            customer_id: r.customer_id,
            tier: tier_from(r.tier)?,
            language: r.language,
            channel: r.channel,
            category: r.category,
            text: r.text,
            vector: None,
            required: needs(&r.required)?,
            additional: needs(&r.additional)?,
            priority,
            created_ms: 0,
            preferred_agent: Some(r.preferred_agent).filter(|p| !p.is_empty()),
        };
        // Bounds first: the text is embedded and the ticket logged only when within them.
        self.state
            .config
            .route_limits()
            .check_ticket(&ticket)
            .map_err(route_status)?;
        if !ticket.text.trim().is_empty() {
            let (v, inferred) = self.understand(&ticket.text, deadline).await?;
            ticket.vector = Some(v);
            if ticket.category.is_empty() {
                ticket.category = inferred;
            }
        }
        // No language given: the text's, when it is clear enough to tell.
        if ticket.language.trim().is_empty() {
            ticket.language = kefu_engine::resolve::language::detect(
                &kefu_engine::resolve::text::normalize(&ticket.text),
                None,
            )
            .map(|l| l.code)
            .unwrap_or_default();
        }
        let category = ticket.category.clone();
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
        let who = caller(&r)?.clone();
        let ticket = r.into_inner().ticket_id;
        self.state
            .config
            .route_limits()
            .ticket_id(&ticket)
            .map_err(route_status)?;
        let command = Command::Complete {
            ticket: ticket.clone(),
            now_ms: now_ms(),
        };
        let out = self.run_on_ticket(who, ticket, command).await?;
        Ok(Response::new(events(&out)))
    }

    async fn transfer(&self, r: Request<TransferRequest>) -> Result<Response<RoutingEvents>, Status> {
        let who = caller(&r)?.clone();
        let r = r.into_inner();
        let limits = self.state.config.route_limits();
        limits.ticket_id(&r.ticket_id).map_err(route_status)?;
        limits.agent_id(&r.to_agent_id).map_err(route_status)?;
        let command = Command::Transfer {
            ticket: r.ticket_id.clone(),
            to: Some(r.to_agent_id).filter(|a| !a.is_empty()),
            now_ms: now_ms(),
        };
        let out = self.run_on_ticket(who, r.ticket_id, command).await?;
        Ok(Response::new(events(&out)))
    }

    async fn get_queue(&self, r: Request<GetQueueRequest>) -> Result<Response<GetQueueResponse>, Status> {
        let (skip, size) = page(&self.state.config, r.into_inner())?;
        let text_chars = self.state.config.queue_text_chars;
        let now = now_ms();
        let (tickets, total) = self.desk.desk()?.read(|r| r.queue_page(now, skip, size));
        let next = skip + tickets.len();
        let tickets = tickets
            .into_iter()
            .map(|q| QueuedTicket {
                text_truncated: q.ticket.text.chars().nth(text_chars).is_some(),
                text: kefu_engine::echo::cut(&q.ticket.text, text_chars).into_owned(),
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
            .collect();
        Ok(Response::new(GetQueueResponse {
            tickets,
            next_page_token: if next < total {
                next.to_string()
            } else {
                String::new()
            },
            total: total as u32,
        }))
    }

    async fn get_agent(&self, r: Request<GetAgentRequest>) -> Result<Response<AgentState>, Status> {
        caller(&r)?.may_act_for(&r.get_ref().agent_id)?;
        let id = r.into_inner().agent_id;
        self.state
            .config
            .route_limits()
            .agent_id(&id)
            .map_err(route_status)?;
        let view = self
            .desk
            .desk()?
            .read(|r| r.agent(&id).cloned())
            .map_err(route_status)?;
        Ok(Response::new(AgentState {
            agent: Some(proto::Agent::from(&view.spec)),
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
        caller(&r)?.may_act_for(&r.get_ref().agent_id)?;
        let agent = r.into_inner().agent_id;
        self.state
            .config
            .route_limits()
            .agent_id(&agent)
            .map_err(route_status)?;
        let desk = self.desk.desk()?;
        desk.read(|r| r.agent(&agent).map(|_| ())).map_err(route_status)?;
        let mut rx = desk.events.subscribe();
        let (tx, out) = tokio::sync::mpsc::channel(64);
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    r = rx.recv() => r,
                    _ = stop.wait_for(|s| *s) => return,
                };
                match next {
                    Ok(a) if a.agent == agent => {
                        if tx.send(Ok(Assignment::from(&a))).await.is_err() {
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
