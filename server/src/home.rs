//! Where routing runs. One replica owns the routing log (a single writer); answer
//! replicas behind a load balancer share the index but not the log, so they answer
//! Routing calls with a status naming the router and file Resolve handoffs there.

use crate::desk::Desk;
use crate::proto::routing_client::RoutingClient;
use crate::proto::{RouteRequest, RouteResponse};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// How long a handoff waits to reach the router before the Resolve fails UNAVAILABLE.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where this process's routing calls go: its own desk, or the router replica.
#[derive(Clone)]
pub enum RoutingHome {
    /// This process owns the routing log.
    Here(Arc<Desk>),
    /// Another replica (`--router`) owns it.
    Router(RouterLink),
}

impl From<Arc<Desk>> for RoutingHome {
    fn from(desk: Arc<Desk>) -> Self {
        Self::Here(desk)
    }
}

impl RoutingHome {
    /// The local desk, or FAILED_PRECONDITION naming the replica that has it.
    pub fn desk(&self) -> Result<&Arc<Desk>, Status> {
        match self {
            Self::Here(d) => Ok(d),
            Self::Router(link) => Err(link.not_here()),
        }
    }
}

/// A lazily connected gRPC client of the router replica.
#[derive(Clone)]
pub struct RouterLink {
    addr: String,
    client: RoutingClient<Channel>,
}

impl RouterLink {
    /// Prepares the channel; nothing connects until the first handoff, so replicas and
    /// the router may start in any order.
    pub fn new(addr: &str) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(Self {
            addr: addr.to_string(),
            client: RoutingClient::new(channel),
        })
    }

    /// The status every Routing call gets on a replica that does not own the log.
    pub fn not_here(&self) -> Status {
        Status::failed_precondition(format!(
            "routing is served by the router at {}; this replica answers questions only",
            self.addr
        ))
    }

    /// Files a ticket with the router, passing on what is left of the caller's
    /// `deadline` (so the router drops the work and counts DEADLINE_EXCEEDED, not a
    /// CANCELLED hang-up, when it passes). A router that cannot be reached is
    /// UNAVAILABLE naming it; the router's own refusals pass through unchanged.
    pub async fn route(
        &self,
        request: RouteRequest,
        deadline: Option<Instant>,
    ) -> Result<RouteResponse, Status> {
        let mut request = tonic::Request::new(request);
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(expired(&self.addr));
            }
            request.set_timeout(left);
        }
        match self.client.clone().route(request).await {
            Ok(r) => Ok(r.into_inner()),
            // tonic's client ends a call at its `grpc-timeout` itself, as CANCELLED.
            Err(s) if s.code() == Code::Cancelled && deadline.is_some_and(|d| Instant::now() >= d) => {
                Err(expired(&self.addr))
            }
            Err(s) if s.code() == Code::Unavailable || s.code() == Code::Unknown => {
                Err(Status::unavailable(format!(
                    "the router at {} did not take the handoff: {}",
                    self.addr,
                    s.message()
                )))
            }
            Err(s) => Err(s),
        }
    }
}

/// The call's deadline passed before the router answered the handoff.
fn expired(router: &str) -> Status {
    Status::deadline_exceeded(format!(
        "the call's deadline passed before the router at {router} took the handoff"
    ))
}
