//! What every call gets, whichever service and face (gRPC or REST) it arrives on,
//! so handlers only do their own work:
//! - one concurrency permit out of `max_concurrent` (kefu.v1 services; health and
//!   reflection always answer) — none left is RESOURCE_EXHAUSTED at once;
//! - one tracing span: service, method, and the caller's `x-request-id` if it sent one;
//! - the caller's deadline (`grpc-timeout`): when it passes, the handler is dropped
//!   (a question waiting for the encoder leaves the queue) and the reply is DEADLINE_EXCEEDED;
//! - gRPC's status for a message over the size limit: RESOURCE_EXHAUSTED (tonic says OUT_OF_RANGE);
//! - one count in `kefu_requests_total` and one latency sample, whatever the outcome:
//!   OK, refused, decode error, deadline, or the caller hanging up (CANCELLED).
//!
//! [`RpcLayer`] wraps the whole tonic server; [`rest`] is the same for a REST route.

use crate::metrics::Metrics;
use crate::rest::code_name;
use http_body::Frame;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::body::Body;
use tonic::codegen::http::{HeaderMap, Request, Response};
use tonic::{Code, Status};
use tracing::Instrument;

/// The label of a path that names no served method: arbitrary paths must not grow the metrics.
const UNKNOWN: &str = "unknown";
/// How much earlier than the caller's deadline a call is ended, so that kefu's
/// DEADLINE_EXCEEDED wins over tonic's own timer (which fires at the deadline and says CANCELLED).
const DEADLINE_LEAD: Duration = Duration::from_millis(1);

/// Shared by both faces: the permits, the metrics, and the methods worth a label.
pub struct Calls {
    metrics: Arc<Metrics>,
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    /// `/service/Method` of every method served, from the descriptor sets.
    known: HashSet<String>,
}

impl Calls {
    /// Permits for `max_concurrent` calls at once; counts go to `metrics`.
    pub fn new(metrics: Arc<Metrics>, max_concurrent: usize) -> Self {
        use prost::Message;
        let mut known = HashSet::new();
        for set in [
            crate::proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ] {
            let set = prost_types::FileDescriptorSet::decode(set)
                .expect("descriptor sets are generated at build time");
            for file in &set.file {
                let package = file.package();
                for s in &file.service {
                    for m in &s.method {
                        known.insert(format!("/{package}.{}/{}", s.name(), m.name()));
                    }
                }
            }
        }
        Self {
            metrics,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            known,
        }
    }

    /// Service and method of a request path; a path naming no served method is `unknown`.
    fn name(&self, path: &str) -> (String, String) {
        match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
            Some((service, method)) if self.known.contains(path) => (service.to_string(), method.to_string()),
            _ => (UNKNOWN.to_string(), UNKNOWN.to_string()),
        }
    }

    /// Starts counting a call; it is counted once, when it ends however it ends.
    fn begin(&self, service: String, method: String, transport: &'static str, headers: &HeaderMap) -> Call {
        let request_id = headers
            .get("x-request-id")
            .map(|v| kefu_engine::echo::clip(&String::from_utf8_lossy(v.as_bytes())))
            .unwrap_or_default();
        let span = tracing::info_span!("rpc", service = %service, method = %method, request_id = %request_id, transport);
        Call {
            metrics: self.metrics.clone(),
            service,
            method,
            transport,
            start: Instant::now(),
            deadline: None,
            span,
            done: false,
        }
    }

    /// A permit for one kefu.v1 call; none left is RESOURCE_EXHAUSTED at once.
    fn permit(&self, service: &str) -> Result<Option<OwnedSemaphorePermit>, Status> {
        if !service.starts_with("kefu.") {
            return Ok(None);
        }
        self.permits.clone().try_acquire_owned().map(Some).map_err(|_| {
            Status::resource_exhausted(format!(
                "server is at its limit of {} concurrent calls (max_concurrent); retry with backoff",
                self.max_concurrent
            ))
        })
    }
}

/// One call being served; counted exactly once — on drop, as CANCELLED (or
/// DEADLINE_EXCEEDED past its deadline), if nothing counted it before.
struct Call {
    metrics: Arc<Metrics>,
    service: String,
    method: String,
    transport: &'static str,
    start: Instant,
    deadline: Option<Instant>,
    span: tracing::Span,
    done: bool,
}

impl Call {
    fn finish(&mut self, code: Code, message: &str) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let seconds = self.start.elapsed().as_secs_f64();
        let name = code_name(code);
        self.metrics
            .observe(&self.service, &self.method, name, self.transport, seconds);
        if code != Code::Ok {
            tracing::debug!(parent: &self.span, code = name, message, seconds, "call failed");
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let expired = self.deadline.is_some_and(|d| Instant::now() >= d);
        let code = if expired {
            Code::DeadlineExceeded
        } else {
            Code::Cancelled
        };
        self.finish(code, "the caller went away before the reply ended");
    }
}

/// The tower layer tonic's server wraps every service with.
#[derive(Clone)]
pub struct RpcLayer {
    calls: Arc<Calls>,
}

impl RpcLayer {
    /// The layer for one server; share `calls` with the REST routes so both faces count alike.
    pub fn new(calls: Arc<Calls>) -> Self {
        Self { calls }
    }
}

impl<S> tower::Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> RpcService<S> {
        RpcService {
            inner,
            calls: self.calls.clone(),
        }
    }
}

/// [`RpcLayer`] around the tonic routes.
#[derive(Clone)]
pub struct RpcService<S> {
    inner: S,
    calls: Arc<Calls>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<Request<Body>> for RpcService<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let (service, method) = self.calls.name(req.uri().path());
        let mut call = self.calls.begin(service, method, "grpc", req.headers());
        let timeout = grpc_timeout(req.headers());
        call.deadline = timeout.map(|t| call.start + t);
        let span = call.span.clone();
        if timeout.is_some_and(|t| t <= DEADLINE_LEAD) {
            let status = Status::deadline_exceeded("the caller's deadline passed before the call was served");
            call.finish(status.code(), status.message());
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        let permit = match self.calls.permit(&call.service) {
            Ok(p) => p,
            Err(status) => {
                call.finish(status.code(), status.message());
                return Box::pin(std::future::ready(Ok(status.into_http())));
            }
        };
        // The clone that was made ready is the one to call (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let reply = inner.call(req);
        Box::pin(
            async move {
                let reply = match timeout {
                    None => reply.await,
                    Some(t) => {
                        let end = call.start + t.saturating_sub(DEADLINE_LEAD);
                        match tokio::time::timeout_at(end.into(), reply).await {
                            Ok(r) => r,
                            Err(_) => {
                                let status = Status::deadline_exceeded(format!(
                                    "the caller's deadline of {t:?} passed before the reply was ready"
                                ));
                                call.finish(status.code(), status.message());
                                return Ok(status.into_http());
                            }
                        }
                    }
                };
                drop(permit);
                let mut response = reply?;
                // A status in the headers is the whole reply (trailers-only): count it now.
                if let Some(status) = status_of(response.headers_mut()) {
                    call.finish(status.code(), status.message());
                    return Ok(response);
                }
                Ok(response.map(|body| Body::new(CountedBody { inner: body, call })))
            }
            .instrument(span),
        )
    }
}

/// A reply body that counts its call when the status arrives in the trailers.
struct CountedBody {
    inner: Body,
    call: Call,
}

impl http_body::Body for CountedBody {
    type Data = tonic::codegen::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(_)) | None => {}
            Some(Err(status)) => this.call.finish(status.code(), status.message()),
        }
        let frame = frame.map(|f| {
            f.map(|mut f| {
                if let Some(status) = f.trailers_mut().and_then(status_of) {
                    this.call.finish(status.code(), status.message());
                }
                f
            })
        });
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The status in a header map, with tonic's OUT_OF_RANGE for a message over the size
/// limit (either way) rewritten to RESOURCE_EXHAUSTED, the code gRPC defines for it.
fn status_of(headers: &mut HeaderMap) -> Option<Status> {
    let status = Status::from_header_map(headers)?;
    if status.code() != Code::OutOfRange || !status.message().contains("message length too large") {
        return Some(status);
    }
    let fixed = Status::resource_exhausted(format!(
        "{}; the limit is the server's max_message_bytes",
        status.message()
    ));
    for h in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        headers.remove(h);
    }
    if fixed.add_header(headers).is_err() {
        tracing::warn!("cannot write the RESOURCE_EXHAUSTED status of an over-size message");
    }
    Some(fixed)
}

/// The caller's deadline from `grpc-timeout` (gRPC over HTTP/2: up to 8 digits and a
/// unit H, M, S, m, u or n); a malformed value is ignored, as tonic ignores it.
pub fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// How a REST route's call ended, left in the response's extensions by the route.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub code: Code,
    pub message: String,
}

/// The same permit, span and count for a REST route (an axum `from_fn` middleware);
/// `rpc` is the route's `kefu.v1.Service/Method`.
pub async fn rest(
    calls: Arc<Calls>,
    rpc: &'static str,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (service, method) = rpc.split_once('/').unwrap_or((rpc, UNKNOWN));
    let mut call = calls.begin(service.to_string(), method.to_string(), "http", req.headers());
    let span = call.span.clone();
    async move {
        let _permit = match calls.permit(service) {
            Ok(p) => p,
            Err(status) => {
                call.finish(status.code(), status.message());
                return crate::rest::Failure::from(status).into_response();
            }
        };
        let response = next.run(req).await;
        match response.extensions().get::<Outcome>() {
            Some(o) => call.finish(o.code, &o.message),
            None => call.finish(Code::Unknown, "the route left no outcome"),
        }
        response
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_reads_every_unit_and_ignores_malformed_values() {
        let t = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("grpc-timeout", v.parse().unwrap());
            grpc_timeout(&h)
        };
        assert_eq!(t("50m"), Some(Duration::from_millis(50)));
        assert_eq!(t("1n"), Some(Duration::from_nanos(1)));
        assert_eq!(t("2S"), Some(Duration::from_secs(2)));
        assert_eq!(t("3M"), Some(Duration::from_secs(180)));
        assert_eq!(t("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(t("7u"), Some(Duration::from_micros(7)));
        for bad in ["", "m", "5", "5x", "123456789m", "-5m", "5 m"] {
            assert_eq!(t(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn paths_name_served_methods_only() {
        let calls = Calls::new(Arc::new(Metrics::new()), 1);
        assert_eq!(
            calls.name("/kefu.v1.Routing/Route"),
            ("kefu.v1.Routing".into(), "Route".into())
        );
        assert_eq!(
            calls.name("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health".into(), "Check".into())
        );
        for junk in ["/kefu.v1.Routing/Nope", "/x/y", "/", "/a"] {
            assert_eq!(calls.name(junk), (UNKNOWN.into(), UNKNOWN.into()), "{junk}");
        }
    }
}
