//! API keys, roles and TLS on a real server over loopback: who may call what over gRPC
//! and REST, a TLS client with and without a client certificate, and the binary refusing
//! to listen off loopback unprotected.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use kefu_server::auth::hash_secret;
use kefu_server::proto::admin_client::AdminClient;
use kefu_server::proto::answers_client::AnswersClient;
use kefu_server::proto::routing_client::RoutingClient;
use kefu_server::proto::{
    Agent, AskRequest, CompleteRequest, GetAgentRequest, GetQueueRequest, InfoRequest, Presence,
    RouteRequest, SetPresenceRequest, TransferRequest, UpsertAgentRequest, WatchAssignmentsRequest,
};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

mod common;

const ANSWERS: &str = "k-answers-secret";
const DESK_ANA: &str = "k-desk-ana-secret";
const ADMIN: &str = "k-admin-secret";

/// A server config with three keys: two from a key file, one inline (as KEFU_API_KEYS gives).
fn keyed() -> (tempfile::TempDir, kefu_server::Config) {
    let (root, mut cfg) = common::setup();
    let file = root.path().join("keys.toml");
    std::fs::write(
        &file,
        format!(
            "[[key]]\nname = \"web-chat\"\nrole = \"answers\"\nsha256 = \"{}\"\n\n\
             [[key]]\nname = \"desk-ana\"\nrole = \"desk\"\nagents = [\"ana\"]\nsha256 = \"{}\"\n",
            hash_secret(ANSWERS),
            hash_secret(DESK_ANA)
        ),
    )
    .unwrap();
    cfg.api_keys = Some(file);
    cfg.api_key = vec![format!("ops:admin:{}", hash_secret(ADMIN))];
    (root, cfg)
}

/// `msg` with `authorization: Bearer <key>` metadata (none for an empty key).
fn with_key<T>(key: &str, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if !key.is_empty() {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    r
}

fn agent(id: &str) -> Agent {
    Agent {
        id: id.into(),
        name: id.into(),
        languages: vec!["en".into()],
        capacity: HashMap::from([("chat".to_string(), 1)]),
        ..Default::default()
    }
}

fn ticket(id: &str) -> RouteRequest {
    RouteRequest {
        ticket_id: id.into(),
        customer_id: format!("c-{id}"),
        language: "en".into(),
        channel: "chat".into(),
        category: "billing".into(),
        ..Default::default()
    }
}

fn ask() -> AskRequest {
    AskRequest {
        question: "where is my parcel?".into(),
        k: Some(1),
        ..Default::default()
    }
}

fn code<T>(r: Result<T, tonic::Status>) -> Code {
    match r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

#[tokio::test]
async fn each_role_reaches_only_its_calls_and_desk_keys_only_their_agents() {
    let (_root, cfg) = keyed();
    let srv = kefu_server::start(cfg).await.unwrap();
    let url = format!("http://{}", srv.grpc_addr);
    let mut answers = AnswersClient::connect(url.clone()).await.unwrap();
    let mut routing = RoutingClient::connect(url.clone()).await.unwrap();
    let mut admin = AdminClient::connect(url).await.unwrap();

    // No key, a wrong key, a malformed header: UNAUTHENTICATED, and the secret is not echoed.
    assert_eq!(
        code(answers.ask(with_key("", ask())).await),
        Code::Unauthenticated
    );
    let s = answers.ask(with_key("guess-123", ask())).await.unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    assert!(!s.message().contains("guess-123"), "{}", s.message());
    let mut basic = tonic::Request::new(ask());
    basic
        .metadata_mut()
        .insert("authorization", ANSWERS.parse().unwrap());
    assert_eq!(code(answers.ask(basic).await), Code::Unauthenticated);
    // Health stays open for probes.
    let channel = Channel::from_shared(format!("http://{}", srv.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let h = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "kefu.v1.Answers".into(),
        })
        .await;
    assert_eq!(code(h), Code::Ok);

    // answers: Answers only.
    assert_eq!(code(answers.ask(with_key(ANSWERS, ask())).await), Code::Ok);
    let s = routing.route(with_key(ANSWERS, ticket("t0"))).await.unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied);
    assert!(s.message().contains("web-chat"), "names the key: {}", s.message());
    assert_eq!(
        code(admin.info(with_key(ANSWERS, InfoRequest {})).await),
        Code::PermissionDenied
    );

    // admin: everything. Ana is online and takes t1; Bo comes online and takes t2.
    assert_eq!(code(admin.info(with_key(ADMIN, InfoRequest {})).await), Code::Ok);
    assert_eq!(code(answers.ask(with_key(ADMIN, ask())).await), Code::Ok);
    for (id, presence) in [("ana", Presence::Online), ("bo", Presence::Offline)] {
        let up = UpsertAgentRequest {
            agent: Some(agent(id)),
            presence: presence as i32,
        };
        routing.upsert_agent(with_key(ADMIN, up)).await.unwrap();
    }
    let t1 = routing
        .route(with_key(ADMIN, ticket("t1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t1.agent_id, "ana");
    let presence = |id: &str, p: Presence| SetPresenceRequest {
        agent_id: id.into(),
        presence: p as i32,
    };
    routing
        .set_presence(with_key(ADMIN, presence("bo", Presence::Online)))
        .await
        .unwrap();
    let t2 = routing
        .route(with_key(ADMIN, ticket("t2")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t2.agent_id, "bo");
    assert_eq!(
        code(
            routing
                .get_queue(with_key(ADMIN, GetQueueRequest::default()))
                .await
        ),
        Code::Ok
    );

    // desk for ana: ana's presence, state, assignments and tickets; nothing of bo's.
    let denied = Code::PermissionDenied;
    let get = |id: &str| GetAgentRequest { agent_id: id.into() };
    assert_eq!(
        code(routing.get_agent(with_key(DESK_ANA, get("ana"))).await),
        Code::Ok
    );
    assert_eq!(
        code(routing.get_agent(with_key(DESK_ANA, get("bo"))).await),
        denied
    );
    let s = routing
        .set_presence(with_key(DESK_ANA, presence("bo", Presence::Away)))
        .await
        .unwrap_err();
    assert_eq!(s.code(), denied);
    assert!(s.message().contains("\"bo\""), "{}", s.message());
    let bo = routing
        .get_agent(with_key(ADMIN, get("bo")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        bo.presence,
        Presence::Online as i32,
        "a refused call changes nothing"
    );
    assert_eq!(
        code(
            routing
                .set_presence(with_key(DESK_ANA, presence("ana", Presence::Away)))
                .await
        ),
        Code::Ok
    );
    let watch = |id: &str| WatchAssignmentsRequest { agent_id: id.into() };
    assert_eq!(
        code(routing.watch_assignments(with_key(DESK_ANA, watch("bo"))).await),
        denied
    );
    assert_eq!(
        code(routing.watch_assignments(with_key(DESK_ANA, watch("ana"))).await),
        Code::Ok
    );
    let complete = |t: &str| CompleteRequest { ticket_id: t.into() };
    assert_eq!(
        code(routing.complete(with_key(DESK_ANA, complete("t2"))).await),
        denied
    );
    let steal = TransferRequest {
        ticket_id: "t2".into(),
        to_agent_id: "ana".into(),
    };
    assert_eq!(code(routing.transfer(with_key(DESK_ANA, steal)).await), denied);
    assert_eq!(
        code(routing.complete(with_key(DESK_ANA, complete("nope"))).await),
        denied
    );
    assert_eq!(
        code(routing.complete(with_key(DESK_ANA, complete("t1"))).await),
        Code::Ok
    );
    let bo = routing
        .get_agent(with_key(ADMIN, get("bo")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bo.open_tickets, vec!["t2".to_string()], "bo keeps t2");
    // Roster, routing and the queue are not a desk's.
    let up = UpsertAgentRequest {
        agent: Some(agent("ana")),
        presence: 0,
    };
    assert_eq!(code(routing.upsert_agent(with_key(DESK_ANA, up)).await), denied);
    assert_eq!(
        code(routing.route(with_key(DESK_ANA, ticket("t3"))).await),
        denied
    );
    assert_eq!(
        code(
            routing
                .get_queue(with_key(DESK_ANA, GetQueueRequest::default()))
                .await
        ),
        denied
    );
    assert_eq!(code(answers.ask(with_key(DESK_ANA, ask())).await), denied);
    srv.shutdown().await;
}

/// One HTTP/1.1 call; returns status, the www-authenticate header and the body.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    body: &str,
) -> (u16, String, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if !key.is_empty() {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, challenge, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn rest_takes_the_same_keys_in_the_same_header() {
    let (_root, mut cfg) = keyed();
    cfg.metrics = Some("127.0.0.1:0".parse().unwrap());
    let srv = kefu_server::start(cfg).await.unwrap();
    let addr = srv.http_addr.unwrap();
    let q = r#"{"question": "where is my parcel?", "k": 1}"#;

    let (status, challenge, body) = http(addr, "POST", "/v1/answers/ask", "", q).await;
    assert_eq!((status, challenge.as_str()), (401, "Bearer"), "{body}");
    assert!(body.contains("UNAUTHENTICATED"), "{body}");
    assert_eq!(http(addr, "POST", "/v1/answers/ask", "wrong", q).await.0, 401);
    let (status, _, body) = http(addr, "POST", "/v1/answers/ask", ANSWERS, q).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("hits"), "{body}");

    let (status, _, body) = http(addr, "GET", "/v1/routing/queue", ANSWERS, "").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("PERMISSION_DENIED"), "{body}");
    let a = r#"{"agent": {"id": "bo", "name": "Bo", "languages": ["en"], "capacity": {"chat": 1}}}"#;
    assert_eq!(http(addr, "POST", "/v1/routing/agents", DESK_ANA, a).await.0, 403);
    assert_eq!(http(addr, "POST", "/v1/routing/agents", ADMIN, a).await.0, 200);
    let p = r#"{"presence": "ONLINE"}"#;
    assert_eq!(
        http(addr, "POST", "/v1/routing/agents/bo/presence", DESK_ANA, p)
            .await
            .0,
        403
    );
    assert_eq!(
        http(addr, "POST", "/v1/routing/agents/bo/presence", ADMIN, p)
            .await
            .0,
        200
    );
    assert_eq!(
        http(addr, "GET", "/v1/routing/agents/bo", DESK_ANA, "").await.0,
        403
    );
    assert_eq!(http(addr, "GET", "/v1/admin/info", ADMIN, "").await.0, 200);

    // Probes, metrics and the API description need no key.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(http(addr, "GET", path, "", "").await.0, 200, "{path}");
    }
    srv.shutdown().await;
}

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate, as PEM.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kefu test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let mut p = CertificateParams::new(names).unwrap();
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        server: leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        ),
        client: leaf(vec!["desk-1".into()], ExtendedKeyUsagePurpose::ClientAuth),
        ca: ca.pem(),
    }
}

async fn tls_channel(
    addr: std::net::SocketAddr,
    ca: &str,
    identity: Option<&(String, String)>,
) -> Result<Channel, String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn tls_with_client_certificates_admits_only_certified_clients() {
    let pki = pki();
    let (root, mut cfg) = keyed();
    let write = |name: &str, pem: &str| {
        let p = root.path().join(name);
        std::fs::write(&p, pem).unwrap();
        p
    };
    cfg.tls_cert = Some(write("server.pem", &pki.server.0));
    cfg.tls_key = Some(write("server.key", &pki.server.1));
    cfg.tls_client_ca = Some(write("ca.pem", &pki.ca));
    let srv = kefu_server::start(cfg).await.unwrap();

    // A client with a certificate from the CA, and a key: served over TLS.
    let ch = tls_channel(srv.grpc_addr, &pki.ca, Some(&pki.client))
        .await
        .unwrap();
    let hits = AnswersClient::new(ch)
        .ask(with_key(ANSWERS, ask()))
        .await
        .unwrap()
        .into_inner()
        .hits;
    assert_eq!(hits.len(), 1);

    // Without a client certificate the handshake (or, in TLS 1.3, the first call) fails.
    let refused = match tls_channel(srv.grpc_addr, &pki.ca, None).await {
        Err(_) => true,
        Ok(ch) => AnswersClient::new(ch)
            .ask(with_key(ANSWERS, ask()))
            .await
            .is_err(),
    };
    assert!(refused, "a client without a certificate was served");
    // Plain HTTP/2 to the TLS port is not served either.
    let plain = match AnswersClient::connect(format!("http://{}", srv.grpc_addr)).await {
        Err(_) => true,
        Ok(mut c) => c.ask(with_key(ANSWERS, ask())).await.is_err(),
    };
    assert!(plain, "plaintext was served on the TLS port");
    srv.shutdown().await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn server_binary(index: &std::path::Path, routing: &std::path::Path, grpc: &str, http: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kefu-server"));
    cmd.args(["--index", index.to_str().unwrap()])
        .args(["--model", common::model_path().to_str().unwrap()])
        .args(["--routing-dir", routing.to_str().unwrap()])
        .args(["--listen", grpc, "--metrics", &format!("127.0.0.1:{http}")])
        .env_remove("KEFU_API_KEYS")
        .env_remove("KEFU_API_KEYS_FILE")
        .env_remove("KEFU_INSECURE");
    cmd
}

#[test]
fn off_loopback_an_open_server_refuses_to_start_unless_insecure() {
    let (root, cfg) = common::setup();
    let http = free_port();
    let out = server_binary(&cfg.index, &cfg.routing_dir, "0.0.0.0:0", http)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refusing to start") && err.contains("TLS") && err.contains("--insecure"),
        "{err}"
    );

    // With --insecure it starts, and says so loudly.
    let log = root.path().join("insecure.log");
    let mut child = server_binary(
        &cfg.index,
        &cfg.routing_dir,
        &format!("0.0.0.0:{}", free_port()),
        http,
    )
    .arg("--insecure")
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log).unwrap())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("server did not start: {}", std::fs::read_to_string(&log).unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{text}");
    assert!(text.contains("INSECURE"), "{text}");
}
