//! An answer replica (`--router ADDR`) beside a real router over loopback: it opens no
//! routing log, refuses every Routing call (gRPC and REST) with a status naming the
//! router, files Resolve handoffs with the router, and says so when the router is down.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kefu_server::proto::answers_client::AnswersClient;
use kefu_server::proto::routing_client::RoutingClient;
use kefu_server::proto::{
    Agent, AskRequest, Customer, GetAgentRequest, GetQueueRequest, ResolveDecision, ResolveRequest,
    RouteRequest, UpsertAgentRequest, WatchAssignmentsRequest,
};
use tonic::Code;

mod common;

fn handoff(customer: &str) -> ResolveRequest {
    ResolveRequest {
        question: "I want to talk to a person please".into(),
        customer: Some(Customer {
            id: customer.into(),
            language: "en".into(),
            ..Default::default()
        }),
        channel: "chat".into(),
        ..Default::default()
    }
}

/// The one refusal every Routing call on a replica gets.
fn assert_names_router(r: Result<impl std::fmt::Debug, tonic::Status>, router: &str, call: &str) {
    let s = r.expect_err(call);
    assert_eq!(s.code(), Code::FailedPrecondition, "{call}: {s:?}");
    assert!(
        s.message().contains(&format!("router at {router}"))
            && s.message().contains("answers questions only"),
        "{call}: {:?}",
        s.message()
    );
}

#[tokio::test]
async fn replica_refuses_routing_naming_the_router_and_files_handoffs_there() {
    let (root, config) = common::setup();
    let router = kefu_server::start(config.clone()).await.expect("router starts");
    let router_addr = router.grpc_addr.to_string();

    let mut rc = config.clone();
    rc.router = Some(router_addr.clone());
    rc.routing_dir = root.path().join("replica-routing");
    rc.metrics = Some("127.0.0.1:0".parse().unwrap());
    let replica = kefu_server::start(rc).await.expect("replica starts");
    assert!(
        !root.path().join("replica-routing").exists(),
        "a replica opens no routing log of its own"
    );

    let url = format!("http://{}", replica.grpc_addr);
    let mut routing = RoutingClient::connect(url.clone()).await.unwrap();
    let mut answers = AnswersClient::connect(url).await.unwrap();

    // Every kind of Routing call is refused before any work, naming the router.
    assert_names_router(
        routing.get_queue(GetQueueRequest::default()).await,
        &router_addr,
        "GetQueue",
    );
    assert_names_router(
        routing.get_agent(GetAgentRequest { agent_id: "a".into() }).await,
        &router_addr,
        "GetAgent",
    );
    assert_names_router(
        routing
            .upsert_agent(UpsertAgentRequest {
                agent: Some(Agent {
                    id: "a".into(),
                    expertise: "customs".into(),
                    ..Default::default()
                }),
                presence: 0,
            })
            .await,
        &router_addr,
        "UpsertAgent",
    );
    assert_names_router(
        routing
            .route(RouteRequest {
                ticket_id: "t-1".into(),
                text: "where is my parcel".into(),
                ..Default::default()
            })
            .await,
        &router_addr,
        "Route",
    );
    assert_names_router(
        routing
            .watch_assignments(WatchAssignmentsRequest { agent_id: "a".into() })
            .await
            .map(|_| ()),
        &router_addr,
        "WatchAssignments",
    );

    // The REST face of the same service says the same, as HTTP 409.
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = hyper::Request::get(format!("http://{}/v1/routing/queue", replica.http_addr.unwrap()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = http.request(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 409);
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["code"], "FAILED_PRECONDITION", "{body}");
    assert!(body["message"].as_str().unwrap().contains(&router_addr), "{body}");

    // Questions are still answered here.
    let ask = answers
        .ask(AskRequest {
            question: "do you accept paypal?".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!ask.hits.is_empty());

    // A handoff goes to the router, which queues it (no agents) where GetQueue sees it.
    let r = answers.resolve(handoff("c-7")).await.unwrap().into_inner();
    assert_eq!(r.decision(), ResolveDecision::Handoff, "{r:?}");
    assert_eq!(r.reason, "asked_for_human");
    let filed = r.handoff.expect("the handoff was filed");
    assert!(!filed.assigned);
    assert_eq!(filed.queue_position, 1);
    let mut at_router = RoutingClient::connect(format!("http://{router_addr}"))
        .await
        .unwrap();
    let queue = at_router
        .get_queue(GetQueueRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(queue[0].ticket_id, filed.ticket_id);
    assert_eq!(queue[0].customer_id, "c-7");
    assert_eq!(queue[0].channel, "chat");
    assert_eq!(queue[0].language, "en");

    // The router gone: the handoff fails UNAVAILABLE naming it; answering goes on.
    router.shutdown().await;
    let s = answers.resolve(handoff("c-8")).await.unwrap_err();
    assert_eq!(s.code(), Code::Unavailable, "{s:?}");
    assert!(s.message().contains(&router_addr), "{:?}", s.message());
    let mut decide_only = handoff("c-8");
    decide_only.decide_only = true;
    let r = answers.resolve(decide_only).await.unwrap().into_inner();
    assert_eq!(r.decision(), ResolveDecision::Handoff);
    assert!(r.handoff.is_none());
    replica.shutdown().await;
}

#[tokio::test]
async fn router_setting_must_be_host_and_port() {
    use kefu_server::config::layers::load_from;
    for bad in ["nonsense", ":50051", "127.0.0.1:port"] {
        let err = load_from(["kefu-server", "--index", "/x", "--router", bad])
            .unwrap_err()
            .to_string();
        assert!(err.contains("router") && err.contains(bad), "{bad}: {err}");
    }
    let loaded = load_from(["kefu-server", "--index", "/x", "--router", "kefu-router:50051"]).unwrap();
    assert_eq!(loaded.config().router.as_deref(), Some("kefu-router:50051"));
}

/// A stand-in router that records each call's `grpc-timeout` and never answers.
#[derive(Clone, Default)]
struct SilentRouter {
    timeouts: std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>,
}

impl tonic::server::NamedService for SilentRouter {
    const NAME: &'static str = "kefu.v1.Routing";
}

impl tower::Service<hyper::Request<tonic::body::Body>> for SilentRouter {
    type Response = hyper::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = std::future::Pending<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: hyper::Request<tonic::body::Body>) -> Self::Future {
        let timeout = req
            .headers()
            .get("grpc-timeout")
            .map(|v| v.to_str().unwrap().to_string());
        self.timeouts.lock().unwrap().push(timeout);
        std::future::pending()
    }
}

#[tokio::test]
async fn a_handoff_carries_the_callers_deadline_to_the_router_and_expires_as_deadline_exceeded() {
    let (root, mut config) = common::setup();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let router_addr = listener.local_addr().unwrap();
    let router = SilentRouter::default();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(router.clone())
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    config.router = Some(router_addr.to_string());
    config.routing_dir = root.path().join("replica-routing");
    let replica = kefu_server::start(config).await.expect("replica starts");

    // The question embedded once, so the deadline below is spent waiting for the router.
    let url: hyper::Uri = format!("http://{}", replica.grpc_addr).parse().unwrap();
    let mut warm = handoff("c-1");
    warm.decide_only = true;
    AnswersClient::connect(url.to_string())
        .await
        .unwrap()
        .resolve(warm)
        .await
        .unwrap();

    // Plain HTTP/2, not tonic's Channel, whose own timer would end the call as CANCELLED:
    // the replica's own status is what arrives.
    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<tonic::body::Body>();
    let mut answers = AnswersClient::with_origin(h2, url);
    let deadline = std::time::Duration::from_secs(2);
    let mut req = tonic::Request::new(handoff("c-1"));
    req.set_timeout(deadline);
    let s = answers.resolve(req).await.unwrap_err();
    assert_eq!(s.code(), Code::DeadlineExceeded, "{s:?}");

    let seen = router.timeouts.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one handoff reached the router: {seen:?}");
    let sent = seen[0]
        .as_deref()
        .and_then(kefu_server::deadline::parse_timeout)
        .unwrap_or_else(|| panic!("the handoff carried no deadline: {seen:?}"));
    assert!(
        !sent.is_zero() && sent < deadline,
        "the router was given {sent:?}, not what was left of {deadline:?}"
    );
    replica.shutdown().await;
}
