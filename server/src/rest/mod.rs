//! The REST/JSON face of the gRPC services, on the HTTP port: one route per unary
//! RPC of Answers, Admin and Routing. A route reads the body as the RPC's request
//! message in the proto3 JSON mapping (serde impls generated from the .proto by
//! pbjson-build), calls the very trait method the gRPC server calls — so
//! validation, limits and metrics are the same — and writes the response message
//! back as JSON. A refused call becomes an HTTP status and
//! `{"code": "INVALID_ARGUMENT", "message": "…"}`.
//!
//! [`ROUTES`] is the one list of routes: [`router`] mounts it, and
//! [`openapi`] describes it (with the request and response schemas and the RPC
//! comments read from the same descriptors reflection serves).
//! `Routing/WatchAssignments` is a server stream and stays gRPC-only.

pub mod openapi;

use crate::admin::AdminService;
use crate::answers::AnswersService;
use crate::proto::admin_server::Admin;
use crate::proto::answers_server::Answers;
use crate::proto::routing_server::Routing;
use crate::proto::{
    AskRequest, CompleteRequest, EmbedRequest, GetAgentRequest, GetQueueRequest, InfoRequest, ReloadRequest,
    RemoveAgentRequest, ResolveRequest, RouteRequest, SearchRequest, SetPresenceRequest, TransferRequest,
    UpsertAgentRequest,
};
use crate::routing::RoutingService;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tonic::{Code, Status};

/// The service instances the gRPC server runs, shared with the REST routes.
pub struct Services {
    pub answers: Arc<AnswersService>,
    pub admin: Arc<AdminService>,
    pub routing: Arc<RoutingService>,
    /// The permits and counts every call shares with the gRPC face ([`crate::layer`]).
    pub calls: Arc<crate::layer::Calls>,
}

type Rest = Arc<Services>;

/// One REST route and the RPC behind it.
pub struct Route {
    pub method: Method,
    /// In axum's (and OpenAPI's) template syntax: `{id}` is one path segment.
    pub path: &'static str,
    /// The RPC it calls, as reflection names it: `kefu.v1.Service/Method`.
    pub rpc: &'static str,
    /// The request field the path's `{id}` fills, if the path has one.
    pub id_field: Option<&'static str>,
    mount: fn(MethodFilter) -> MethodRouter<Rest>,
}

impl Route {
    /// Whether the request message comes in the body (POST) or only from the path (GET, DELETE).
    pub fn has_body(&self) -> bool {
        self.method == Method::POST
    }
}

/// Every REST route, in the order the services declare their RPCs.
pub static ROUTES: &[Route] = &[
    Route {
        method: Method::POST,
        path: "/v1/answers/resolve",
        rpc: "kefu.v1.Answers/Resolve",
        id_field: None,
        mount: |m| {
            on(
                m,
                |State(s): State<Rest>, Proto(r): Proto<ResolveRequest>| async move {
                    reply(Answers::resolve(&*s.answers, tonic::Request::new(r)).await)
                },
            )
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/answers/ask",
        rpc: "kefu.v1.Answers/Ask",
        id_field: None,
        mount: |m| {
            on(
                m,
                |State(s): State<Rest>, Proto(r): Proto<AskRequest>| async move {
                    reply(Answers::ask(&*s.answers, tonic::Request::new(r)).await)
                },
            )
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/answers/search",
        rpc: "kefu.v1.Answers/Search",
        id_field: None,
        mount: |m| {
            on(
                m,
                |State(s): State<Rest>, Proto(r): Proto<SearchRequest>| async move {
                    reply(Answers::search(&*s.answers, tonic::Request::new(r)).await)
                },
            )
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/answers/embed",
        rpc: "kefu.v1.Answers/Embed",
        id_field: None,
        mount: |m| {
            on(
                m,
                |State(s): State<Rest>, Proto(r): Proto<EmbedRequest>| async move {
                    reply(Answers::embed(&*s.answers, tonic::Request::new(r)).await)
                },
            )
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/admin/reload",
        rpc: "kefu.v1.Admin/Reload",
        id_field: None,
        mount: |m| {
            on(
                m,
                |State(s): State<Rest>, Proto(r): Proto<ReloadRequest>| async move {
                    reply(Admin::reload(&*s.admin, tonic::Request::new(r)).await)
                },
            )
        },
    },
    Route {
        method: Method::GET,
        path: "/v1/admin/info",
        rpc: "kefu.v1.Admin/Info",
        id_field: None,
        mount: |m| {
            on(m, |State(s): State<Rest>| async move {
                reply(Admin::info(&*s.admin, tonic::Request::new(InfoRequest {})).await)
            })
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/routing/agents",
        rpc: "kefu.v1.Routing/UpsertAgent",
        id_field: None,
        mount: |m| {
            on(
                m,
                |State(s): State<Rest>, Proto(r): Proto<UpsertAgentRequest>| async move {
                    reply(Routing::upsert_agent(&*s.routing, tonic::Request::new(r)).await)
                },
            )
        },
    },
    Route {
        method: Method::DELETE,
        path: "/v1/routing/agents/{id}",
        rpc: "kefu.v1.Routing/RemoveAgent",
        id_field: Some("agent_id"),
        mount: |m| {
            on(
                m,
                |State(s): State<Rest>, Path(agent_id): Path<String>| async move {
                    let r = RemoveAgentRequest { agent_id };
                    reply(Routing::remove_agent(&*s.routing, tonic::Request::new(r)).await)
                },
            )
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/routing/agents/{id}/presence",
        rpc: "kefu.v1.Routing/SetPresence",
        id_field: Some("agent_id"),
        mount: |m| {
            on(
                m,
                |State(s): State<Rest>, Path(id): Path<String>, Proto(mut r): Proto<SetPresenceRequest>| async move {
                    if let Err(f) = id_from_path(&mut r.agent_id, id) {
                        return f.into_response();
                    }
                    reply(Routing::set_presence(&*s.routing, tonic::Request::new(r)).await)
                },
            )
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/routing/route",
        rpc: "kefu.v1.Routing/Route",
        id_field: None,
        mount: |m| {
            on(
                m,
                |State(s): State<Rest>, Proto(r): Proto<RouteRequest>| async move {
                    reply(Routing::route(&*s.routing, tonic::Request::new(r)).await)
                },
            )
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/routing/complete",
        rpc: "kefu.v1.Routing/Complete",
        id_field: None,
        mount: |m| {
            on(
                m,
                |State(s): State<Rest>, Proto(r): Proto<CompleteRequest>| async move {
                    reply(Routing::complete(&*s.routing, tonic::Request::new(r)).await)
                },
            )
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/routing/transfer",
        rpc: "kefu.v1.Routing/Transfer",
        id_field: None,
        mount: |m| {
            on(
                m,
                |State(s): State<Rest>, Proto(r): Proto<TransferRequest>| async move {
                    reply(Routing::transfer(&*s.routing, tonic::Request::new(r)).await)
                },
            )
        },
    },
    Route {
        method: Method::GET,
        path: "/v1/routing/queue",
        rpc: "kefu.v1.Routing/GetQueue",
        id_field: None,
        mount: |m| {
            on(m, |State(s): State<Rest>| async move {
                reply(Routing::get_queue(&*s.routing, tonic::Request::new(GetQueueRequest {})).await)
            })
        },
    },
    Route {
        method: Method::GET,
        path: "/v1/routing/agents/{id}",
        rpc: "kefu.v1.Routing/GetAgent",
        id_field: Some("agent_id"),
        mount: |m| {
            on(
                m,
                |State(s): State<Rest>, Path(agent_id): Path<String>| async move {
                    let r = GetAgentRequest { agent_id };
                    reply(Routing::get_agent(&*s.routing, tonic::Request::new(r)).await)
                },
            )
        },
    },
];

/// The REST routes, `/openapi.json` and the index page at `/`. Request bodies are
/// bounded by `max_body` bytes, the same limit as a gRPC message.
pub fn router(services: Arc<Services>, max_body: usize) -> Router {
    let mut api = Router::new();
    for r in ROUTES {
        let filter = MethodFilter::try_from(r.method.clone()).expect("route methods are standard verbs");
        let (calls, rpc) = (services.calls.clone(), r.rpc);
        let counted =
            axum::middleware::from_fn(move |req, next| crate::layer::rest(calls.clone(), rpc, req, next));
        api = api.route(r.path, (r.mount)(filter).layer(counted));
    }
    api.layer(DefaultBodyLimit::max(max_body))
        .with_state(services)
        .route(
            "/openapi.json",
            axum::routing::get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    openapi::document_json(),
                )
            }),
        )
        .route(
            "/",
            axum::routing::get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    openapi::index_html(),
                )
            }),
        )
}

/// A request message read from a JSON body in the proto3 JSON mapping. An empty body is
/// the empty message (`POST /v1/admin/reload` with no body reloads `current`).
pub struct Proto<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for Proto<T> {
    type Rejection = Failure;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Failure> {
        let body = Bytes::from_request(req, state).await.map_err(Failure::body)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Proto(T::default()));
        }
        serde_json::from_slice(&body).map(Proto).map_err(|e| Failure {
            http: StatusCode::BAD_REQUEST,
            code: Code::InvalidArgument,
            message: format!("request body is not a valid {} in JSON: {e}", message_name::<T>()),
        })
    }
}

/// `kefu.v1.AskRequest` for `kefu_server::proto::AskRequest`.
fn message_name<T>() -> String {
    let rust = std::any::type_name::<T>();
    format!("kefu.v1.{}", rust.rsplit("::").next().unwrap_or(rust))
}

/// Fills the request's agent id from the path; a different id in the body is a contradiction.
fn id_from_path(field: &mut String, id: String) -> Result<(), Failure> {
    if !field.is_empty() && *field != id {
        return Err(Failure::from(Status::invalid_argument(format!(
            "agentId {} in the body differs from {} in the path; leave it out of the body",
            kefu_engine::echo::clip(field),
            kefu_engine::echo::clip(&id)
        ))));
    }
    *field = id;
    Ok(())
}

/// A refused call as HTTP: the status, and the gRPC code and message in a JSON body.
#[derive(Debug)]
pub struct Failure {
    pub http: StatusCode,
    pub code: Code,
    pub message: String,
}

impl Failure {
    /// A body that could not be read: over the size limit, or broken off.
    fn body(e: BytesRejection) -> Self {
        let http = e.status();
        let (code, message) = if http == StatusCode::PAYLOAD_TOO_LARGE {
            (
                Code::ResourceExhausted,
                "request body is larger than max_message_bytes; send less, or raise the limit".to_string(),
            )
        } else {
            (
                Code::InvalidArgument,
                format!("cannot read the request body: {e}"),
            )
        };
        Self { http, code, message }
    }
}

impl From<Status> for Failure {
    fn from(s: Status) -> Self {
        Self {
            http: http_status(s.code()),
            code: s.code(),
            message: s.message().to_string(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: code_name(self.code),
            message: &self.message,
        };
        let mut response = json_response(self.http, &body);
        response.extensions_mut().insert(crate::layer::Outcome {
            code: self.code,
            message: self.message,
        });
        response
    }
}

/// The RPC's outcome as an HTTP response.
fn reply<T: Serialize>(r: Result<tonic::Response<T>, Status>) -> Response {
    match r {
        Ok(r) => {
            let mut response = json_response(StatusCode::OK, r.get_ref());
            response.extensions_mut().insert(crate::layer::Outcome {
                code: Code::Ok,
                message: String::new(),
            });
            response
        }
        Err(s) => Failure::from(s).into_response(),
    }
}

fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write the response as JSON: {e}"),
        )
            .into_response(),
    }
}

/// The HTTP status for a gRPC code, as Google's API guidelines map them, except
/// FAILED_PRECONDITION: 409, as kefu uses it for "the state forbids it now" (an agent not
/// eligible for a transfer, a corrupt index version), not for a malformed request.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        // 499 is nginx's "client closed request"; gRPC gateways use it for CANCELLED.
        Code::Cancelled => StatusCode::from_u16(499).expect("499 is a valid status"),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The canonical name of a gRPC code, as in `google.rpc.Code`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grpc_code_the_server_returns_has_the_agreed_http_status() {
        for (code, http) in [
            (Code::InvalidArgument, 400),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::FailedPrecondition, 409),
            (Code::ResourceExhausted, 429),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
            (Code::Internal, 500),
            (Code::Unimplemented, 501),
        ] {
            assert_eq!(http_status(code).as_u16(), http, "{code:?}");
        }
        assert_eq!(code_name(Code::FailedPrecondition), "FAILED_PRECONDITION");
    }

    #[test]
    fn a_path_id_fills_the_request_and_a_contradicting_body_id_is_refused() {
        let mut field = String::new();
        id_from_path(&mut field, "a1".into()).unwrap();
        assert_eq!(field, "a1");
        id_from_path(&mut field, "a1".into()).unwrap();
        let f = id_from_path(&mut field, "a2".into()).unwrap_err();
        assert_eq!(f.http, StatusCode::BAD_REQUEST);
        assert!(f.message.contains("differs"), "{}", f.message);
    }

    #[test]
    fn error_messages_name_the_proto_message() {
        assert_eq!(message_name::<AskRequest>(), "kefu.v1.AskRequest");
    }
}
