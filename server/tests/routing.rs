//! kefu.v1.Routing over real gRPC: assignment, the agent desktop stream, errors, restart.

use kefu_engine::route::{DurableRouter, FsyncPolicy, LogSink, RouterConfig};
use kefu_server::proto::routing_client::RoutingClient;
use kefu_server::proto::routing_server::RoutingServer;
use kefu_server::proto::{
    Agent, CompleteRequest, GetAgentRequest, GetQueueRequest, Presence, RouteRequest, SetPresenceRequest,
    SkillRequirement, Tier, UpsertAgentRequest, WatchAssignmentsRequest,
};
use kefu_server::routing::{Desk, RoutingService};
use kefu_server::state::AppState;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tonic::Code;

mod common;

use common::setup;

fn agent(id: &str, lang: &str, skills: &[(&str, u32)], expertise: &str) -> Agent {
    Agent {
        id: id.into(),
        name: id.into(),
        languages: vec![lang.into()],
        skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect(),
        expertise: expertise.into(),
        tiers: vec![Tier::Standard as i32, Tier::Vip as i32],
        capacity: HashMap::from([("chat".to_string(), 1)]),
        translation: false,
    }
}

fn ticket(id: &str, text: &str) -> RouteRequest {
    RouteRequest {
        ticket_id: id.into(),
        customer_id: format!("c-{id}"),
        tier: Tier::Standard as i32,
        language: "en".into(),
        channel: "chat".into(),
        text: text.into(),
        ..Default::default()
    }
}

async fn client(addr: std::net::SocketAddr) -> RoutingClient<tonic::transport::Channel> {
    RoutingClient::connect(format!("http://{addr}")).await.unwrap()
}

async fn upsert(c: &mut RoutingClient<tonic::transport::Channel>, a: Agent) {
    c.upsert_agent(UpsertAgentRequest {
        agent: Some(a),
        presence: Presence::Online as i32,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn route_assigns_by_expertise_streams_to_the_desktop_and_survives_restart() {
    let (root, cfg) = setup();
    let srv = kefu_server::start(cfg.clone()).await.unwrap();
    let mut c = client(srv.grpc_addr).await;
    upsert(
        &mut c,
        agent(
            "customs-1",
            "en",
            &[("customs", 4)],
            "import duties, VAT, customs clearance",
        ),
    )
    .await;
    upsert(
        &mut c,
        agent(
            "audio-1",
            "en",
            &[("product", 4)],
            "bluetooth headsets, battery life, pairing",
        ),
    )
    .await;

    let mut watch = c
        .watch_assignments(WatchAssignmentsRequest {
            agent_id: "customs-1".into(),
        })
        .await
        .unwrap()
        .into_inner();

    let r = c
        .route(ticket(
            "t1",
            "my parcel is held at customs and they want import tax",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(r.assigned, "{r:?}");
    assert_eq!(r.agent_id, "customs-1");
    assert_eq!(r.category, "customs", "category inferred from the answer index");
    let d = r.decision.unwrap();
    assert_eq!(d.eligible, 2);
    assert!(d.candidates[0].expertise > d.candidates[1].expertise);

    let pushed = tokio::time::timeout(std::time::Duration::from_secs(5), watch.message())
        .await
        .expect("assignment pushed to the desktop")
        .unwrap()
        .unwrap();
    assert_eq!(pushed.ticket_id, "t1");

    // customs-1 is full (capacity 1): a second customs ticket that needs the skill waits.
    let mut t2 = ticket("t2", "what are the import duties to Germany");
    t2.required = vec![SkillRequirement {
        skill: "customs".into(),
        min_level: 3,
    }];
    let r2 = c.route(t2).await.unwrap().into_inner();
    assert!(!r2.assigned);
    assert_eq!(r2.queue_position, 1);
    assert_eq!(
        c.get_queue(GetQueueRequest::default())
            .await
            .unwrap()
            .into_inner()
            .tickets[0]
            .ticket_id,
        "t2"
    );

    srv.shutdown().await;
    // Restart on the same routing log: load, open tickets and queue are back.
    let srv = kefu_server::start(cfg).await.unwrap();
    let mut c = client(srv.grpc_addr).await;
    let a = c
        .get_agent(GetAgentRequest {
            agent_id: "customs-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.open_tickets, vec!["t1"]);
    assert_eq!(a.load["chat"], 1);
    assert_eq!(a.presence, Presence::Online as i32);
    // Completing t1 lets customs-1 pull the waiting t2 at once.
    let ev = c
        .complete(CompleteRequest {
            ticket_id: "t1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ev.assignments.len(), 1);
    assert_eq!(ev.assignments[0].ticket_id, "t2");
    assert!(
        c.get_queue(GetQueueRequest::default())
            .await
            .unwrap()
            .into_inner()
            .tickets
            .is_empty()
    );
    srv.shutdown().await;
    drop(root);
}

#[tokio::test]
async fn routing_errors_have_precise_statuses() {
    let (_root, cfg) = setup();
    let srv = kefu_server::start(cfg).await.unwrap();
    let mut c = client(srv.grpc_addr).await;
    let code = |r: Result<(), tonic::Status>| r.expect_err("must fail").code();

    let r = c
        .set_presence(SetPresenceRequest {
            agent_id: "ghost".into(),
            presence: Presence::Online as i32,
        })
        .await
        .map(|_| ());
    assert_eq!(code(r), Code::NotFound);

    let bad_level = agent("a", "en", &[("customs", 9)], "");
    let r = c
        .upsert_agent(UpsertAgentRequest {
            agent: Some(bad_level),
            presence: 0,
        })
        .await
        .map(|_| ());
    assert_eq!(code(r), Code::InvalidArgument);

    let mut absurd = agent("a", "en", &[], "");
    absurd.capacity.insert("chat".into(), 100_000);
    let s = c
        .upsert_agent(UpsertAgentRequest {
            agent: Some(absurd),
            presence: 0,
        })
        .await
        .expect_err("absurd capacity");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().contains("absurd"), "{}", s.message());

    upsert(&mut c, agent("a", "en", &[], "")).await;
    c.route(ticket("dup", "")).await.unwrap();
    assert_eq!(
        code(c.route(ticket("dup", "")).await.map(|_| ())),
        Code::AlreadyExists
    );
    let mut p = ticket("p", "");
    p.priority = 42;
    assert_eq!(code(c.route(p).await.map(|_| ())), Code::InvalidArgument);
    let mut t = ticket("t", "");
    t.tier = 7;
    assert_eq!(code(c.route(t).await.map(|_| ())), Code::InvalidArgument);
    let long = ticket("long", &"x".repeat(4001));
    let s = c.route(long).await.expect_err("text over the limit");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(
        s.message()
            .contains("4001 characters; the limit is 4000 (max_text_chars)"),
        "{}",
        s.message()
    );
    let r = c
        .set_presence(SetPresenceRequest {
            agent_id: "a".into(),
            presence: Presence::Unspecified as i32,
        })
        .await
        .map(|_| ());
    assert_eq!(code(r), Code::InvalidArgument);
    assert_eq!(
        code(
            c.complete(CompleteRequest {
                ticket_id: "nope".into()
            })
            .await
            .map(|_| ())
        ),
        Code::NotFound
    );
    let r = c
        .watch_assignments(WatchAssignmentsRequest {
            agent_id: "ghost".into(),
        })
        .await
        .map(|_| ());
    assert_eq!(code(r), Code::NotFound);
    srv.shutdown().await;
}

/// A routing log on a disk that fills up on cue; `stuck` makes cutting a failed record back fail too.
struct FillingDisk {
    file: std::fs::File,
    full: Arc<AtomicBool>,
    stuck: Arc<AtomicBool>,
}

impl LogSink for FillingDisk {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            self.file.write_all(&bytes[..bytes.len() / 2])?;
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        self.file.write_all(bytes)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        if self.stuck.load(Ordering::SeqCst) {
            return Err(std::io::Error::from_raw_os_error(5)); // EIO
        }
        self.file.set_len(len)
    }
}

#[tokio::test]
async fn a_failing_routing_log_answers_unavailable_and_changes_nothing() {
    let (root, cfg) = setup();
    let (full, stuck) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (f, s) = (full.clone(), stuck.clone());
    let router = DurableRouter::open_with_sink(
        &cfg.routing_dir,
        RouterConfig::default(),
        FsyncPolicy::Always,
        move |file| {
            Box::new(FillingDisk {
                file,
                full: f,
                stuck: s,
            })
        },
    )
    .unwrap();
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let service = RoutingService {
        state: Arc::new(AppState::load(cfg).unwrap()),
        desk: Arc::new(Desk::new(router)).into(),
        stop: stop_rx,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            // Handlers refuse calls that did not pass the gate; this one checks no keys.
            .layer(kefu_server::auth::GrpcGateLayer::new(Arc::default()))
            .add_service(RoutingServer::new(service))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let mut c = client(addr).await;
    upsert(&mut c, agent("a", "en", &[], "")).await;
    let open_tickets = |c: &mut RoutingClient<tonic::transport::Channel>| {
        let mut c = c.clone();
        async move {
            let r = c.get_agent(GetAgentRequest { agent_id: "a".into() }).await;
            r.unwrap().into_inner().open_tickets
        }
    };

    // The disk is full: the Route fails, retryably, and leaves no trace.
    full.store(true, Ordering::SeqCst);
    let s = c.route(ticket("t1", "")).await.expect_err("disk full");
    assert_eq!(s.code(), Code::Unavailable, "{}", s.message());
    assert!(
        s.message().contains("No space left on device") && s.message().contains("nothing changed"),
        "{}",
        s.message()
    );
    assert!(open_tickets(&mut c).await.is_empty());
    assert!(
        c.get_queue(GetQueueRequest::default())
            .await
            .unwrap()
            .into_inner()
            .tickets
            .is_empty()
    );

    // Space is back: the retry is routed (not ALREADY_EXISTS).
    full.store(false, Ordering::SeqCst);
    assert!(c.route(ticket("t1", "")).await.unwrap().into_inner().assigned);

    // A failure that cannot even be cut back takes the log out of service until a restart.
    full.store(true, Ordering::SeqCst);
    stuck.store(true, Ordering::SeqCst);
    let done = CompleteRequest {
        ticket_id: "t1".into(),
    };
    let s = c.complete(done.clone()).await.expect_err("log failed");
    assert_eq!(s.code(), Code::Unavailable);
    assert!(s.message().contains("out of service"), "{}", s.message());
    full.store(false, Ordering::SeqCst);
    stuck.store(false, Ordering::SeqCst);
    let s = c.complete(done).await.expect_err("still out of service");
    assert_eq!(s.code(), Code::Unavailable);
    assert!(
        s.message().contains("until the server restarts"),
        "{}",
        s.message()
    );
    assert_eq!(open_tickets(&mut c).await, ["t1"], "reads still answer");
    drop(root);
}
