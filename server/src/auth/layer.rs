//! The gate applied to traffic: a tower layer in front of every gRPC service (the RPC is
//! the request path), and an axum middleware on each REST route (the RPC is the one the
//! route calls). Both put the [`Caller`] into the request's extensions for the handlers.

use super::policy::{Caller, Gate};
use axum::extract::Request as HttpRequest;
use axum::http::{Request, Response, header};
use axum::middleware::Next;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Tower layer checking the key of every gRPC call before its service sees it.
#[derive(Clone)]
pub struct GrpcGateLayer {
    gate: Arc<Gate>,
}

impl GrpcGateLayer {
    /// A layer for the gRPC server over `gate`.
    pub fn new(gate: Arc<Gate>) -> Self {
        Self { gate }
    }
}

impl<S> tower::Layer<S> for GrpcGateLayer {
    type Service = GrpcGate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcGate {
            gate: self.gate.clone(),
            inner,
        }
    }
}

/// The service [`GrpcGateLayer`] makes.
#[derive(Clone)]
pub struct GrpcGate<S> {
    gate: Arc<Gate>,
    inner: S,
}

impl<S, B, RB> tower::Service<Request<B>> for GrpcGate<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let rpc = req.uri().path().trim_start_matches('/');
        match self.gate.admit(rpc, req.headers().get(header::AUTHORIZATION)) {
            Ok(caller) => {
                req.extensions_mut().insert(caller);
                Box::pin(self.inner.call(req))
            }
            Err(status) => {
                tracing::info!(rpc, code = ?status.code(), "call refused: {}", status.message());
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

/// Axum middleware for the REST route that calls `rpc`: the same gate, the refusal as
/// HTTP 401/403 with the usual JSON error body.
pub async fn rest_gate(
    gate: Arc<Gate>,
    rpc: &'static str,
    mut req: HttpRequest,
    next: Next,
) -> axum::response::Response {
    match gate.admit(rpc, req.headers().get(header::AUTHORIZATION)) {
        Ok(caller) => {
            req.extensions_mut().insert::<Caller>(caller);
            next.run(req).await
        }
        Err(status) => {
            tracing::info!(rpc, code = ?status.code(), "REST call refused: {}", status.message());
            let mut resp =
                axum::response::IntoResponse::into_response(crate::rest::Failure::from(status.clone()));
            if status.code() == tonic::Code::Unauthenticated {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
            }
            resp
        }
    }
}
