//! One call to the server (Ask, or every Nth a Routing/Route filing a new ticket) and
//! its outcome code, over a pool of HTTP/2 connections on loopback.

use super::LoadError;
use super::tally::Outcome;
use kefu_server::proto::answers_client::AnswersClient;
use kefu_server::proto::routing_client::RoutingClient;
use kefu_server::proto::{AskRequest, RouteRequest};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// What every call carries.
#[derive(Debug, Clone)]
pub struct CallSpec {
    /// Answers per Ask.
    pub k: u32,
    /// Sent as `grpc-timeout`.
    pub deadline: Option<Duration>,
    /// Every Nth call (by call number) is a Route; 0: Ask only.
    pub route_every: u64,
    /// Prefix of ticket and customer ids, unique per run.
    pub run: Arc<str>,
}

/// A client on one of the pool's connections.
#[derive(Debug, Clone)]
pub struct Caller {
    answers: AnswersClient<Channel>,
    routing: RoutingClient<Channel>,
    spec: Arc<CallSpec>,
}

/// Refuses any address that is not loopback: load is only ever generated on this machine.
pub fn check_loopback(addr: &str) -> Result<(), LoadError> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    if matches!(host, "localhost" | "[::1]") || host.starts_with("127.") {
        Ok(())
    } else {
        Err(LoadError::NotLoopback(host.to_string()))
    }
}

/// `connections` HTTP/2 connections to `addr`, one caller on each; callers are handed
/// out round-robin with [`pick`].
pub async fn connect(addr: &str, connections: usize, spec: CallSpec) -> Result<Vec<Caller>, LoadError> {
    check_loopback(addr)?;
    let endpoint = Endpoint::from_shared(format!("http://{addr}")).map_err(|source| LoadError::BadAddr {
        addr: addr.to_string(),
        source,
    })?;
    let spec = Arc::new(spec);
    let mut callers = Vec::new();
    for _ in 0..connections.max(1) {
        let channel = endpoint.connect().await.map_err(|source| LoadError::Connect {
            addr: addr.to_string(),
            source,
        })?;
        callers.push(Caller {
            answers: AnswersClient::new(channel.clone()),
            routing: RoutingClient::new(channel),
            spec: spec.clone(),
        });
    }
    Ok(callers)
}

/// The caller for call (or worker) `i`.
pub fn pick(callers: &[Caller], i: u64) -> Caller {
    callers[(i % callers.len() as u64) as usize].clone()
}

impl Caller {
    /// Sends call `n` with `question`: a Route when `n` is a multiple of `route_every`,
    /// an Ask otherwise.
    pub async fn call(&mut self, n: u64, question: String) -> Outcome {
        let every = self.spec.route_every;
        if every > 0 && n.is_multiple_of(every) {
            self.route(n, question).await
        } else {
            self.ask(question).await
        }
    }

    /// One Ask: "OK" (with the server's cache-hit flag) or the gRPC code's name.
    pub async fn ask(&mut self, question: String) -> Outcome {
        let mut request = tonic::Request::new(AskRequest {
            question,
            k: Some(self.spec.k),
            ..Default::default()
        });
        if let Some(d) = self.spec.deadline {
            request.set_timeout(d);
        }
        match self.answers.ask(request).await {
            Ok(resp) => Outcome {
                code: "OK".to_string(),
                cache_hit: resp.into_inner().timings.is_some_and(|t| t.cache_hit),
            },
            Err(s) => Outcome {
                code: code_name(&s),
                cache_hit: false,
            },
        }
    }

    /// One Route filing ticket `n` of this run: "Route OK" or "Route " and the code's name.
    pub async fn route(&mut self, n: u64, text: String) -> Outcome {
        let run = &self.spec.run;
        let mut request = tonic::Request::new(RouteRequest {
            ticket_id: format!("{run}-{n}"),
            customer_id: format!("{run}-c{n}"),
            language: "en".into(),
            channel: "chat".into(),
            text,
            ..Default::default()
        });
        if let Some(d) = self.spec.deadline {
            request.set_timeout(d);
        }
        let code = match self.routing.route(request).await {
            Ok(_) => "Route OK".to_string(),
            Err(s) => format!("Route {}", code_name(&s)),
        };
        Outcome {
            code,
            cache_hit: false,
        }
    }
}

/// The status code's name, with tonic's own client-side timeout ("Timeout expired",
/// reported as CANCELLED) counted as the DEADLINE_EXCEEDED it is.
fn code_name(s: &tonic::Status) -> String {
    if s.code() == tonic::Code::Cancelled && s.message().contains("Timeout expired") {
        return "DeadlineExceeded".to_string();
    }
    format!("{:?}", s.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses() {
        for ok in ["127.0.0.1:50051", "127.9.9.9:1", "localhost:50051", "[::1]:50051"] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for bad in ["10.0.0.1:50051", "example.com:443", "0.0.0.0:1", "[::]:1"] {
            assert!(
                matches!(check_loopback(bad), Err(LoadError::NotLoopback(_))),
                "{bad}"
            );
        }
    }
}
