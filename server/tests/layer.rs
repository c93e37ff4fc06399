//! What every call gets from `kefu_server::layer`, seen from outside on a real server
//! over loopback: a count in /metrics by service, method and code whatever the outcome
//! (gRPC and REST), gRPC's codes for an over-size message and an expired deadline,
//! clipped ids in error messages, and the `max_concurrent` permit.

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kefu_server::Running;
use kefu_server::proto::admin_client::AdminClient;
use kefu_server::proto::answers_client::AnswersClient;
use kefu_server::proto::routing_client::RoutingClient;
use kefu_server::proto::{
    Agent, AskRequest, CompleteRequest, EmbedRequest, GetAgentRequest, InfoRequest, Presence, ReloadRequest,
    RouteRequest, Tier, UpsertAgentRequest, Vector, WatchAssignmentsRequest,
};
use std::collections::HashMap;
use std::time::Duration;
use tonic::Code;
use tonic::transport::Channel;

mod common;

/// Messages larger than this are refused by this test's server (Info's reply carries the
/// manifest, ~100 KiB for the ten-language sample KB, so it must fit).
const MAX_MESSAGE: usize = 160 * 1024;
/// Texts one Embed call may take here: enough for a reply over `MAX_MESSAGE`.
const MAX_BATCH: usize = 128;

async fn start(max_concurrent: Option<usize>) -> (tempfile::TempDir, Running) {
    let (dir, mut c) = common::setup();
    c.metrics = Some("127.0.0.1:0".parse().unwrap());
    c.max_message_bytes = MAX_MESSAGE;
    c.max_batch = MAX_BATCH;
    if let Some(n) = max_concurrent {
        c.max_concurrent = n;
    }
    let running = kefu_server::start(c).await.expect("server starts");
    (dir, running)
}

fn url(r: &Running) -> String {
    format!("http://{}", r.grpc_addr)
}

/// HTTP/2 without tonic's `Channel`, whose own timer would end a call at its deadline
/// (as CANCELLED) before the server's answer arrives: here the server's code is what we see.
type RawH2 = Client<HttpConnector, tonic::body::Body>;

fn raw_answers(r: &Running) -> AnswersClient<RawH2> {
    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    AnswersClient::with_origin(h2, url(r).parse().unwrap())
}

/// One HTTP/1.0 exchange on the metrics port; the whole reply as text.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// `kefu_requests_total` for one service, method, code and transport; 0 when absent.
async fn count(r: &Running, service: &str, method: &str, code: &str, transport: &str) -> u64 {
    let m = http(r.http_addr.unwrap(), "GET", "/metrics", "").await;
    let line = format!(
        "kefu_requests_total{{service=\"{service}\",method=\"{method}\",code=\"{code}\",transport=\"{transport}\"}} "
    );
    m.lines()
        .find_map(|l| l.strip_prefix(&line))
        .map(|n| n.trim().parse().unwrap())
        .unwrap_or(0)
}

fn ask(q: &str) -> AskRequest {
    AskRequest {
        question: q.into(),
        ..Default::default()
    }
}

fn agent(id: &str) -> Agent {
    Agent {
        id: id.into(),
        name: id.into(),
        languages: vec!["en".into()],
        tiers: vec![Tier::Standard as i32],
        capacity: HashMap::from([("chat".to_string(), 1)]),
        ..Default::default()
    }
}

fn code_of<T>(r: Result<T, tonic::Status>) -> Code {
    match r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

#[tokio::test]
async fn every_call_is_counted_by_service_method_and_code_whatever_its_outcome() {
    let (_dir, srv) = start(None).await;
    let channel = Channel::from_shared(url(&srv)).unwrap().connect().await.unwrap();
    let mut answers = AnswersClient::new(channel.clone());
    let mut admin = AdminClient::new(channel.clone());
    let mut routing = RoutingClient::new(channel.clone());

    // Answers: OK, validation failures.
    assert_eq!(code_of(answers.ask(ask("where is my parcel")).await), Code::Ok);
    for q in ["", "   ", "?!"] {
        assert_eq!(code_of(answers.ask(ask(q)).await), Code::InvalidArgument, "{q:?}");
    }
    // A message over the size limit: RESOURCE_EXHAUSTED, as gRPC defines it (tonic says OUT_OF_RANGE).
    let big = answers
        .ask(ask(&"parcel ".repeat(MAX_MESSAGE / 4)))
        .await
        .unwrap_err();
    assert_eq!(big.code(), Code::ResourceExhausted, "{big:?}");
    assert!(big.message().contains("max_message_bytes"), "{}", big.message());
    // A reply over the limit (128 vectors of 384 floats) is RESOURCE_EXHAUSTED too, not OUT_OF_RANGE.
    let wide = answers
        .embed(EmbedRequest {
            texts: vec!["refund".into(); MAX_BATCH],
        })
        .await
        .unwrap_err();
    assert_eq!(wide.code(), Code::ResourceExhausted, "{wide:?}");
    assert!(
        wide.message().contains("encoded message length"),
        "{}",
        wide.message()
    );
    // Bytes that are not an AskRequest (a Vector whose floats are not UTF-8) fail to decode.
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let garbage = grpc
        .unary::<Vector, kefu_server::proto::AskResponse, _>(
            tonic::Request::new(Vector {
                values: vec![f32::from_bits(u32::MAX); 4],
            }),
            "/kefu.v1.Answers/Ask".parse().unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    // gRPC's code for a request that does not parse is INTERNAL.
    assert_eq!(garbage.code(), Code::Internal, "{garbage:?}");
    // A method nobody serves is counted, under one label whatever the path.
    grpc.ready().await.unwrap();
    let nope = grpc
        .unary::<InfoRequest, InfoRequest, _>(
            tonic::Request::new(InfoRequest {}),
            "/kefu.v1.Answers/NoSuchMethod".parse().unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(nope.code(), Code::Unimplemented);
    // A deadline that has passed before the call is served.
    let mut raw = raw_answers(&srv);
    let mut late = tonic::Request::new(ask("is shipping free"));
    late.set_timeout(Duration::from_nanos(1));
    let late = raw.ask(late).await.unwrap_err();
    assert_eq!(late.code(), Code::DeadlineExceeded, "{late:?}");

    // Admin: OK, INVALID_ARGUMENT, NOT_FOUND.
    assert_eq!(code_of(admin.info(InfoRequest {}).await), Code::Ok);
    let reload = |v: &str| ReloadRequest { version: v.into() };
    assert_eq!(
        code_of(admin.reload(reload("../etc")).await),
        Code::InvalidArgument
    );
    assert_eq!(code_of(admin.reload(reload("v999")).await), Code::NotFound);

    // Routing: OK, INVALID_ARGUMENT, NOT_FOUND — with an id far past any sane length,
    // which comes back clipped (whole, it would overflow the metadata limit: RESOURCE_EXHAUSTED).
    let up = routing
        .upsert_agent(UpsertAgentRequest {
            agent: Some(agent("a1")),
            presence: Presence::Online as i32,
        })
        .await;
    assert_eq!(code_of(up), Code::Ok);
    let bad = RouteRequest {
        ticket_id: "t1".into(),
        customer_id: "c1".into(),
        channel: "chat".into(),
        language: "en".into(),
        priority: 10,
        ..Default::default()
    };
    assert_eq!(code_of(routing.route(bad).await), Code::InvalidArgument);
    // An id far past max_id_bytes is refused by the bounds, its echo clipped; a short
    // unknown one is NOT_FOUND.
    let huge_id = "x".repeat(20_000);
    for id in [huge_id.as_str(), "no-such-id"] {
        for r in [
            routing
                .complete(CompleteRequest { ticket_id: id.into() })
                .await
                .map(|_| ()),
            routing
                .get_agent(GetAgentRequest { agent_id: id.into() })
                .await
                .map(|_| ()),
        ] {
            let s = r.unwrap_err();
            assert!(s.message().len() < 200, "{} bytes echoed", s.message().len());
            if id.len() > 64 {
                assert_eq!(s.code(), Code::InvalidArgument, "{:?}", s.code());
                assert!(s.message().contains("max_id_bytes"), "{}", s.message());
            } else {
                assert_eq!(s.code(), Code::NotFound, "{:?}", s.code());
            }
        }
    }
    let long_version = admin.reload(reload(&"v".repeat(20_000))).await.unwrap_err();
    assert_eq!(long_version.code(), Code::NotFound);
    assert!(long_version.message().len() < 400, "{}", long_version.message());

    // A stream the desktop hangs up on is counted when it goes away.
    let watch = routing
        .watch_assignments(WatchAssignmentsRequest {
            agent_id: "a1".into(),
        })
        .await
        .unwrap();
    drop(watch);

    // The REST face counts into the same metric, as transport="http".
    let http_addr = srv.http_addr.unwrap();
    let ok = http(
        http_addr,
        "POST",
        "/v1/answers/ask",
        r#"{"question":"where is my parcel"}"#,
    )
    .await;
    assert!(ok.starts_with("HTTP/1.0 200"), "{ok}");
    let missing = http(http_addr, "GET", "/v1/routing/agents/nobody", "").await;
    assert!(missing.starts_with("HTTP/1.0 404"), "{missing}");
    let junk = http(http_addr, "POST", "/v1/answers/ask", "{not json").await;
    assert!(junk.starts_with("HTTP/1.0 400"), "{junk}");

    let grpc_counts = [
        ("kefu.v1.Answers", "Ask", "OK", 1),
        ("kefu.v1.Answers", "Ask", "INVALID_ARGUMENT", 3),
        ("kefu.v1.Answers", "Ask", "RESOURCE_EXHAUSTED", 1),
        ("kefu.v1.Answers", "Ask", "INTERNAL", 1),
        ("kefu.v1.Answers", "Embed", "RESOURCE_EXHAUSTED", 1),
        ("kefu.v1.Answers", "Ask", "DEADLINE_EXCEEDED", 1),
        ("unknown", "unknown", "UNIMPLEMENTED", 1),
        ("kefu.v1.Admin", "Info", "OK", 1),
        ("kefu.v1.Admin", "Reload", "INVALID_ARGUMENT", 1),
        ("kefu.v1.Admin", "Reload", "NOT_FOUND", 2),
        ("kefu.v1.Routing", "UpsertAgent", "OK", 1),
        ("kefu.v1.Routing", "Route", "INVALID_ARGUMENT", 1),
        ("kefu.v1.Routing", "Complete", "NOT_FOUND", 1),
        ("kefu.v1.Routing", "Complete", "INVALID_ARGUMENT", 1),
        ("kefu.v1.Routing", "GetAgent", "NOT_FOUND", 1),
        ("kefu.v1.Routing", "GetAgent", "INVALID_ARGUMENT", 1),
    ];
    for (service, method, code, n) in grpc_counts {
        assert_eq!(
            count(&srv, service, method, code, "grpc").await,
            n,
            "{service}/{method} {code}"
        );
    }
    for (service, method, code) in [
        ("kefu.v1.Answers", "Ask", "OK"),
        ("kefu.v1.Routing", "GetAgent", "NOT_FOUND"),
        ("kefu.v1.Answers", "Ask", "INVALID_ARGUMENT"),
    ] {
        assert_eq!(
            count(&srv, service, method, code, "http").await,
            1,
            "REST {service}/{method} {code}"
        );
    }
    // The hung-up stream is counted once the server notices the reset.
    let mut cancelled = 0;
    for _ in 0..600 {
        cancelled = count(&srv, "kefu.v1.Routing", "WatchAssignments", "CANCELLED", "grpc").await;
        if cancelled > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cancelled, 1);
    let m = http(http_addr, "GET", "/metrics", "").await;
    assert!(
        m.contains("kefu_request_duration_seconds_count{service=\"kefu.v1.Routing\",method=\"Complete\"} 2"),
        "{m}"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn calls_waiting_on_the_encoder_end_with_deadline_exceeded_not_cancelled() {
    let (dir, mut c) = common::setup();
    c.metrics = Some("127.0.0.1:0".parse().unwrap());
    c.max_batch = 1;
    let srv = kefu_server::start(c).await.unwrap();
    let client = raw_answers(&srv);
    let mut calls = Vec::new();
    for i in 0..30 {
        let mut c = client.clone();
        calls.push(tokio::spawn(async move {
            let mut req = tonic::Request::new(ask(&format!("a question nobody asked before, number {i}")));
            req.set_timeout(Duration::from_millis(20));
            code_of(c.ask(req).await)
        }));
    }
    // Each ends OK, DEADLINE_EXCEEDED (expired while queued), or RESOURCE_EXHAUSTED
    // (admission saw at arrival that it could not finish in time) — never CANCELLED.
    let (mut expired, mut refused) = (0, 0);
    for call in calls {
        match call.await.unwrap() {
            Code::Ok => {}
            Code::DeadlineExceeded => expired += 1,
            Code::ResourceExhausted => refused += 1,
            other => panic!("a call past its deadline came back {other:?}"),
        }
    }
    assert!(
        expired + refused > 0,
        "30 uncached questions one at a time all beat 20 ms"
    );
    assert_eq!(
        count(&srv, "kefu.v1.Answers", "Ask", "DEADLINE_EXCEEDED", "grpc").await,
        expired
    );
    // Nothing expired was left holding a permit or a queue slot: a new call is served.
    let mut c = client.clone();
    assert_eq!(code_of(c.ask(ask("where is my parcel")).await), Code::Ok);
    srv.shutdown().await;
    drop(dir);
}

#[tokio::test]
async fn past_max_concurrent_calls_are_refused_at_once_but_health_still_answers() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let (_dir, srv) = start(Some(1)).await;
    let channel = Channel::from_shared(url(&srv)).unwrap().connect().await.unwrap();
    // One long Embed holds the only permit while the encoder works through it.
    let mut embed = AnswersClient::new(channel.clone());
    let texts: Vec<String> = (0..16)
        .map(|i| {
            format!(
                "text {i}: {}",
                "the parcel left the warehouse and is on its way ".repeat(12)
            )
        })
        .collect();
    let busy = tokio::spawn(async move { embed.embed(EmbedRequest { texts }).await });
    let mut waited = 0;
    while srv.state.encoder.depth() == 0 {
        assert!(waited < 1000, "the Embed never reached the encoder");
        tokio::time::sleep(Duration::from_millis(5)).await;
        waited += 1;
    }
    let refused = AnswersClient::new(channel.clone())
        .ask(ask("where is my parcel"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("max_concurrent"),
        "{}",
        refused.message()
    );
    let rest = http(srv.http_addr.unwrap(), "GET", "/v1/admin/info", "").await;
    assert!(rest.starts_with("HTTP/1.0 429"), "{rest}");
    assert!(rest.contains("RESOURCE_EXHAUSTED"), "{rest}");
    // Health checks take no permit: a load balancer still sees the server.
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "kefu.v1.Answers".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);

    assert_eq!(busy.await.unwrap().unwrap().into_inner().vectors.len(), 16);
    // The permit came back with the reply.
    AnswersClient::new(channel)
        .ask(ask("where is my parcel"))
        .await
        .unwrap();
    assert_eq!(
        count(&srv, "kefu.v1.Answers", "Ask", "RESOURCE_EXHAUSTED", "grpc").await,
        1
    );
    assert_eq!(
        count(&srv, "kefu.v1.Admin", "Info", "RESOURCE_EXHAUSTED", "http").await,
        1
    );
    assert_eq!(
        count(&srv, "grpc.health.v1.Health", "Check", "OK", "grpc").await,
        1
    );
    srv.shutdown().await;
}
