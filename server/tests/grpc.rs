//! The real server on a loopback port, called with real tonic clients.

use kefu_engine::embed::{BertEncoder, Encoder};
use kefu_engine::index::{BuildParams, Corpus, build_version};
use kefu_engine::kb::import_file;
use kefu_server::proto::admin_client::AdminClient;
use kefu_server::proto::answers_client::AnswersClient;
use kefu_server::proto::{
    AskRequest, EmbedRequest, FilterClause, InfoRequest, ReloadRequest, SearchRequest, Vector, search_request,
};
use kefu_server::{Config, Running};
use std::path::Path;
use std::sync::OnceLock;
use tonic::Code;
use tonic::transport::Channel;

mod common;

use common::{corpus, model_path, repo};

fn encoder() -> &'static BertEncoder {
    static E: OnceLock<BertEncoder> = OnceLock::new();
    E.get_or_init(|| BertEncoder::from_dir(&model_path()).expect("run `make model` first"))
}

/// A fresh index root with one built version.
fn index_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    build_version(root.path(), corpus(), &BuildParams::default(), &|_, _, _| {}).unwrap();
    root
}

fn config(root: &Path) -> Config {
    let mut c = Config::new(root, &model_path());
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.metrics = None;
    c.routing_dir = root.join("routing");
    c
}

async fn start(c: Config) -> (Running, AnswersClient<Channel>, AdminClient<Channel>) {
    let running = kefu_server::start(c).await.expect("server starts");
    let url = format!("http://{}", running.grpc_addr);
    let answers = AnswersClient::connect(url.clone()).await.unwrap();
    let admin = AdminClient::connect(url).await.unwrap();
    (running, answers, admin)
}

fn ask(q: &str) -> AskRequest {
    AskRequest {
        question: q.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn ask_returns_the_right_article_and_caches_the_question() {
    let root = index_root();
    let (srv, mut client, _) = start(config(root.path())).await;
    let r = client
        .ask(ask("how many hours can I listen after a full charge?"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.hits[0].article_id, "tech-001");
    assert_eq!(r.language, "en");
    assert!(r.hits[0].score > 0.5);
    assert!(!r.hits[0].answer.is_empty());
    assert!(!r.hits[0].matched_question.is_empty());
    let t = r.timings.unwrap();
    assert!(!t.cache_hit);
    assert!(t.total_us >= t.search_us);
    assert_eq!(r.hits.len(), 5);

    // Same question, other spacing: served from the cache.
    let r2 = client
        .ask(ask("  how many hours can I listen   after a full charge? "))
        .await
        .unwrap()
        .into_inner();
    assert!(r2.timings.unwrap().cache_hit);
    assert_eq!(r2.hits[0].article_id, "tech-001");

    let mut req = ask("do you accept paypal");
    req.k = Some(2);
    req.locales = vec!["fr".into()];
    let r = client.ask(req).await.unwrap().into_inner();
    assert_eq!(r.hits.len(), 2);
    assert!(r.hits.iter().all(|h| h.locale == "fr"), "{:?}", r.hits);
    srv.shutdown().await;
}

#[tokio::test]
async fn search_by_vector_and_by_text_agree_and_embed_matches_the_engine() {
    let root = index_root();
    let (srv, mut client, _) = start(config(root.path())).await;
    let text = "my parcel is stuck at customs";
    let e = client
        .embed(EmbedRequest {
            texts: vec![text.into(), "Can I pay with PayPal?".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(e.dim, 384);
    assert_eq!(e.vectors.len(), 2);
    let local = encoder().embed(&[text]).unwrap().remove(0);
    let diff = local
        .iter()
        .zip(&e.vectors[0].values)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff <= 1e-5, "server and engine embeddings differ by {diff}");

    let by_vec = client
        .search(SearchRequest {
            query: Some(search_request::Query::Vector(e.vectors[0].clone())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let by_text = client
        .search(SearchRequest {
            query: Some(search_request::Query::Text(text.into())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids = |r: &kefu_server::proto::SearchResponse| {
        r.hits.iter().map(|h| h.article_id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&by_vec), ids(&by_text));
    assert_eq!(ids(&by_vec)[0], "cust-002");
    srv.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_a_precise_status() {
    let root = index_root();
    let mut c = config(root.path());
    c.max_question_chars = 100;
    c.max_k = 20;
    let (srv, mut client, mut admin) = start(c).await;

    let expect = |r: Result<(), tonic::Status>, code: Code, words: &str| {
        let s = r.expect_err("call should fail");
        assert_eq!(s.code(), code, "{s:?}");
        assert!(s.message().contains(words), "{:?} lacks {words:?}", s.message());
    };
    expect(
        client.ask(ask("   ")).await.map(|_| ()),
        Code::InvalidArgument,
        "question is empty",
    );
    expect(
        client.ask(ask(&"x".repeat(101))).await.map(|_| ()),
        Code::InvalidArgument,
        "limit is 100",
    );
    let mut r = ask("refund");
    r.k = Some(0);
    expect(client.ask(r).await.map(|_| ()), Code::InvalidArgument, "k is 0");
    let mut r = ask("refund");
    r.k = Some(21);
    expect(
        client.ask(r).await.map(|_| ()),
        Code::InvalidArgument,
        "between 1 and 20",
    );
    let mut r = ask("refund");
    r.filters = vec![FilterClause {
        field: "colour".into(),
        values: vec!["red".into()],
    }];
    expect(
        client.ask(r).await.map(|_| ()),
        Code::InvalidArgument,
        "unknown filter field",
    );

    let vsearch = |values: Vec<f32>| SearchRequest {
        query: Some(search_request::Query::Vector(Vector { values })),
        ..Default::default()
    };
    expect(
        client.search(vsearch(vec![0.1; 10])).await.map(|_| ()),
        Code::InvalidArgument,
        "dimension 10",
    );
    let mut nan = vec![0.1; 384];
    nan[7] = f32::NAN;
    expect(
        client.search(vsearch(nan)).await.map(|_| ()),
        Code::InvalidArgument,
        "component 7",
    );
    expect(
        client.search(vsearch(vec![0.0; 384])).await.map(|_| ()),
        Code::InvalidArgument,
        "all zeros",
    );
    expect(
        client.search(SearchRequest::default()).await.map(|_| ()),
        Code::InvalidArgument,
        "query is missing",
    );
    expect(
        client.embed(EmbedRequest { texts: vec![] }).await.map(|_| ()),
        Code::InvalidArgument,
        "Embed takes 1 to",
    );
    expect(
        client
            .embed(EmbedRequest {
                texts: vec!["refund".into(); 65],
            })
            .await
            .map(|_| ()),
        Code::InvalidArgument,
        "65 texts given",
    );

    let reload = |v: &str| ReloadRequest { version: v.into() };
    expect(
        admin.reload(reload("v999")).await.map(|_| ()),
        Code::NotFound,
        "no index version",
    );
    expect(
        admin.reload(reload("../etc")).await.map(|_| ()),
        Code::InvalidArgument,
        "not a version name",
    );
    expect(
        admin.reload(reload("/etc")).await.map(|_| ()),
        Code::InvalidArgument,
        "not a version name",
    );

    // A corrupt version is refused, and the old one keeps serving.
    let serving = admin
        .info(InfoRequest {})
        .await
        .unwrap()
        .into_inner()
        .index_version;
    let bad = build_version(root.path(), corpus(), &BuildParams::default(), &|_, _, _| {}).unwrap();
    let vectors = bad.join("vectors.bin");
    let len = std::fs::metadata(&vectors).unwrap().len();
    // Version files are published read-only: the owner takes the write bit back to damage one.
    use std::os::unix::fs::PermissionsExt;
    let mut mode = std::fs::metadata(&vectors).unwrap().permissions();
    mode.set_mode(mode.mode() | 0o200);
    std::fs::set_permissions(&vectors, mode).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&vectors)
        .unwrap()
        .set_len(len - 4)
        .unwrap();
    let name = bad.file_name().unwrap().to_str().unwrap();
    expect(
        admin.reload(reload(name)).await.map(|_| ()),
        Code::FailedPrecondition,
        "vectors.bin",
    );
    assert_eq!(
        admin
            .info(InfoRequest {})
            .await
            .unwrap()
            .into_inner()
            .index_version,
        serving
    );
    assert_eq!(
        client
            .ask(ask("where is my parcel"))
            .await
            .unwrap()
            .into_inner()
            .index_version,
        serving
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn reload_under_load_fails_no_call_and_callers_see_both_versions() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let root = index_root();
    let mut c = config(root.path());
    // About the reload, not admission: four callers must not be refused on a slow machine.
    c.encoder_wait_budget_ms = 60_000;
    let (srv, client, mut admin) = start(c).await;
    let first = admin
        .info(InfoRequest {})
        .await
        .unwrap()
        .into_inner()
        .index_version;
    let second = build_version(root.path(), corpus(), &BuildParams::default(), &|_, _, _| {}).unwrap();
    let name = second.file_name().unwrap().to_str().unwrap().to_string();
    assert_ne!(first, name);
    let questions = [
        "where is my parcel",
        "refund please",
        "do you take paypal",
        "warranty length",
    ];
    // Callers that have had `before_each` answers: the reload waits for all of them.
    let ready = std::sync::Arc::new(AtomicUsize::new(0));
    let (callers_n, before_each) = (4, 3);
    let mut callers = Vec::new();
    for w in 0..callers_n {
        let mut c = client.clone();
        let (ready, want) = (ready.clone(), name.clone());
        callers.push(tokio::spawn(async move {
            // Every version each call was answered from, in order; bounded, and ends
            // once the new version has answered a few calls.
            let mut seen = Vec::new();
            for i in 0..20_000 {
                let q = format!("{} {}", questions[(w + i) % 4], i % 7);
                let r = c
                    .ask(ask(&q))
                    .await
                    .expect("no call may fail during a reload")
                    .into_inner();
                assert!(!r.hits.is_empty());
                seen.push(r.index_version);
                if seen.len() == before_each {
                    ready.fetch_add(1, Ordering::SeqCst);
                }
                if seen.iter().rev().take(3).filter(|v| **v == want).count() == 3 {
                    break;
                }
                if seen.len() >= before_each {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            seen
        }));
    }
    for _ in 0..2000 {
        if ready.load(Ordering::SeqCst) == callers_n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        ready.load(Ordering::SeqCst),
        callers_n,
        "callers stalled before the reload"
    );
    let r = admin
        .reload(ReloadRequest {
            version: name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.previous_version, first);
    assert_eq!(r.version, name);
    for c in callers {
        let seen = c.await.unwrap();
        // Each caller saw both versions, the old one first: once a caller is answered
        // from the new version, it is never answered from the old one again.
        let switch = seen
            .iter()
            .position(|v| *v == name)
            .unwrap_or_else(|| panic!("a caller never saw {name}: {seen:?}"));
        assert!(switch > 0, "a caller never saw {first}: {seen:?}");
        assert!(seen[..switch].iter().all(|v| *v == first), "{seen:?}");
        assert!(seen[switch..].iter().all(|v| *v == name), "{seen:?}");
    }
    assert_eq!(
        admin
            .info(InfoRequest {})
            .await
            .unwrap()
            .into_inner()
            .index_version,
        name
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn overload_fails_fast_with_resource_exhausted_and_recovers() {
    let root = index_root();
    let mut c = config(root.path());
    c.encoder_queue = 2;
    c.max_batch = 1;
    // The count bound under test, not the time budget (tests/overload.rs has that).
    c.encoder_wait_budget_ms = 60_000;
    let (srv, client, _) = start(c).await;
    let mut calls = Vec::new();
    for i in 0..40 {
        let mut c = client.clone();
        calls.push(tokio::spawn(async move {
            c.ask(ask(&format!("distinct question number {i}"))).await
        }));
    }
    let mut exhausted = 0;
    let mut ok = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => ok += 1,
            Err(s) if s.code() == Code::ResourceExhausted => {
                assert!(s.message().contains("queue is full"), "{}", s.message());
                exhausted += 1
            }
            Err(s) => panic!("unexpected status {s:?}"),
        }
    }
    assert!(exhausted > 0, "no call was refused ({ok} ok)");
    assert!(ok > 0);
    // Recovered: a new call succeeds.
    let mut c = client.clone();
    c.ask(ask("is the guarantee two years")).await.unwrap();
    srv.shutdown().await;
}

#[tokio::test]
async fn health_and_reflection_work_without_the_proto() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let root = index_root();
    let (srv, _, _) = start(config(root.path())).await;
    let url = format!("http://{}", srv.grpc_addr);
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "kefu.v1.Answers", "kefu.v1.Admin"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }

    // Each reflection version with its own generated client: tools pick one or the other.
    let want = [
        "kefu.v1.Answers",
        "kefu.v1.Admin",
        "kefu.v1.Routing",
        "grpc.health.v1.Health",
    ];
    {
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = ServerReflectionClient::new(channel.clone())
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .expect("grpc.reflection.v1 is served")
            .into_inner();
        let resp = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
            panic!("unexpected v1 reflection reply: {resp:?}")
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        for w in want {
            assert!(names.iter().any(|n| n == w), "v1: {names:?} lacks {w}");
        }
    }
    {
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = ServerReflectionClient::new(channel)
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .expect("grpc.reflection.v1alpha is served")
            .into_inner();
        let resp = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
            panic!("unexpected v1alpha reflection reply: {resp:?}")
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        for w in want {
            assert!(names.iter().any(|n| n == w), "v1alpha: {names:?} lacks {w}");
        }
    }
    srv.shutdown().await;
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn metrics_and_http_health_report_calls() {
    let root = index_root();
    let mut c = config(root.path());
    c.metrics = Some("127.0.0.1:0".parse().unwrap());
    let (srv, mut client, _) = start(c).await;
    client.ask(ask("where is my parcel")).await.unwrap();
    let _ = client.ask(ask("")).await;
    let http = srv.http_addr.unwrap();
    let m = http_get(http, "/metrics").await;
    assert!(
        m.contains(
            "kefu_requests_total{service=\"kefu.v1.Answers\",method=\"Ask\",code=\"OK\",transport=\"grpc\"} 1"
        ),
        "{m}"
    );
    assert!(
        m.contains(
            "kefu_requests_total{service=\"kefu.v1.Answers\",method=\"Ask\",code=\"INVALID_ARGUMENT\",transport=\"grpc\"} 1"
        ),
        "{m}"
    );
    assert!(m.contains("kefu_embedding_cache_misses_total"), "{m}");
    assert!(m.contains("kefu_search_duration_seconds"), "{m}");
    assert!(m.contains("kefu_index_info{version="), "{m}");
    assert!(http_get(http, "/healthz").await.starts_with("HTTP/1.0 200"));
    assert!(http_get(http, "/readyz").await.contains("ready: serving"));
    srv.shutdown().await;
}

/// The value of one sample line (`name{labels} value`) in a /metrics page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_show_encoder_batch_sizes_queue_wait_and_pass_time_per_lane() {
    let root = index_root();
    let mut c = config(root.path());
    c.metrics = Some("127.0.0.1:0".parse().unwrap());
    let (srv, mut client, _) = start(c).await;
    let http = srv.http_addr.unwrap();
    let series = |lane: &str| {
        [
            "kefu_encoder_batch_size",
            "kefu_encoder_queue_wait_seconds",
            "kefu_encoder_pass_duration_seconds",
        ]
        .map(|name| format!("{name}_count{{lane=\"{lane}\"}}"))
    };
    // Both lanes are exported from the start, at zero.
    let m = http_get(http, "/metrics").await;
    for s in series("interactive").iter().chain(&series("bulk")) {
        assert_eq!(sample(&m, s), Some(0.0), "{s} in {m}");
    }

    for q in ["where is my parcel", "can I pay by card", "how do I get a refund"] {
        client.ask(ask(q)).await.unwrap();
    }
    client
        .embed(EmbedRequest {
            texts: vec!["one text for the bulk lane".into()],
        })
        .await
        .unwrap();
    let m = http_get(http, "/metrics").await;
    for lane in ["interactive", "bulk"] {
        for s in series(lane) {
            assert!(sample(&m, &s).is_some_and(|n| n >= 1.0), "{s} in {m}");
        }
    }
    // Every Ask's question was one text in some pass, and waited once.
    let texts = sample(&m, "kefu_encoder_batch_size_sum{lane=\"interactive\"}").unwrap();
    let waits = sample(&m, "kefu_encoder_queue_wait_seconds_count{lane=\"interactive\"}").unwrap();
    assert_eq!((texts, waits), (3.0, 3.0), "{m}");
    srv.shutdown().await;
}

#[tokio::test]
async fn model_mismatch_is_refused_at_start() {
    let root = tempfile::tempdir().unwrap();
    let mut other = Corpus::embed(
        import_file(&repo().join("datasets/kb.jsonl"), false)
            .unwrap()
            .articles[..3]
            .to_vec(),
        encoder(),
        32,
        "x",
        &|_, _, _| {},
    )
    .unwrap();
    other.model.space.sha256 = "0".repeat(64);
    build_version(root.path(), &other, &BuildParams::default(), &|_, _, _| {}).unwrap();
    let err = kefu_server::start(config(root.path()))
        .await
        .err()
        .expect("must refuse");
    assert!(err.to_string().contains("built with model"), "{err}");
}

#[tokio::test]
async fn watch_picks_up_a_new_current_version() {
    let root = index_root();
    let mut c = config(root.path());
    c.watch_secs = 1;
    let (srv, _, mut admin) = start(c).await;
    let first = admin
        .info(InfoRequest {})
        .await
        .unwrap()
        .into_inner()
        .index_version;
    let second = build_version(root.path(), corpus(), &BuildParams::default(), &|_, _, _| {}).unwrap();
    let want = second.file_name().unwrap().to_str().unwrap().to_string();
    assert_ne!(first, want);
    let mut seen = first;
    for _ in 0..600 {
        seen = admin
            .info(InfoRequest {})
            .await
            .unwrap()
            .into_inner()
            .index_version;
        if seen == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, want, "the watcher did not switch to the new `current`");
    srv.shutdown().await;
}

#[tokio::test]
async fn calls_that_cannot_finish_by_their_deadline_are_refused_before_queueing() {
    let root = index_root();
    let mut c = config(root.path());
    c.max_batch = 1;
    let (srv, client, _) = start(c).await;
    let mut calls = Vec::new();
    for i in 0..20 {
        let mut c = client.clone();
        calls.push(tokio::spawn(async move {
            let mut req = tonic::Request::new(ask(&format!("a question nobody asked before, number {i}")));
            req.set_timeout(std::time::Duration::from_millis(2));
            c.ask(req).await
        }));
    }
    for call in calls {
        // No encoding fits in 2 ms: refused at once, saying why, instead of queued to
        // expire. On a loaded machine the client's own 2 ms timer may fire before the
        // refusal arrives (tonic reports that as CANCELLED "Timeout expired"); either
        // way the server must not have queued the question, checked below.
        let s = call.await.unwrap().unwrap_err();
        if s.code() == Code::Cancelled && s.message().contains("Timeout expired") {
            continue;
        }
        assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
        assert!(s.message().contains("remaining deadline"), "{}", s.message());
    }
    assert_eq!(srv.state.encoder.high_water(), 0, "nothing was queued");
    // And the server still answers.
    let mut c = client.clone();
    c.ask(ask("where is my parcel")).await.unwrap();
    srv.shutdown().await;
}

#[tokio::test]
async fn search_with_huge_finite_components_is_normalised_not_zeroed() {
    let root = index_root();
    let (srv, mut client, _) = start(config(root.path())).await;
    let v = encoder()
        .embed(&["my parcel is stuck at customs"])
        .unwrap()
        .remove(0);
    let search = |values: Vec<f32>| SearchRequest {
        query: Some(search_request::Query::Vector(Vector { values })),
        ..Default::default()
    };
    let unit = client.search(search(v.clone())).await.unwrap().into_inner();
    // Squared in f32, 1e30 overflows to inf: the old norm made this a zero query with 0.0 scores.
    let huge = client
        .search(search(v.iter().map(|x| x * 1e30).collect()))
        .await
        .expect("a finite vector of any length is a direction")
        .into_inner();
    assert_eq!(huge.hits.len(), unit.hits.len());
    assert_eq!(huge.hits[0].article_id, "cust-002");
    for (h, u) in huge.hits.iter().zip(&unit.hits) {
        assert_eq!(h.article_id, u.article_id);
        assert!(
            h.score > 0.1 && (h.score - u.score).abs() < 1e-4,
            "{h:?} vs {u:?}"
        );
    }
    let flat = client.search(search(vec![1e30; 384])).await.unwrap().into_inner();
    assert!(flat.hits.iter().all(|h| h.score != 0.0), "{:?}", flat.hits);
    let zero = client.search(search(vec![0.0; 384])).await.unwrap_err();
    assert_eq!(zero.code(), Code::InvalidArgument);
    srv.shutdown().await;
}

#[tokio::test]
async fn reload_refuses_a_version_that_leads_outside_the_root() {
    let root = index_root();
    let (srv, mut client, mut admin) = start(config(root.path())).await;
    let serving = admin
        .info(InfoRequest {})
        .await
        .unwrap()
        .into_inner()
        .index_version;
    // A good index, but not under the root the server was given.
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = build_version(elsewhere.path(), corpus(), &BuildParams::default(), &|_, _, _| {}).unwrap();
    std::os::unix::fs::symlink(&outside, root.path().join("evil")).unwrap();
    let err = admin
        .reload(ReloadRequest {
            version: "evil".into(),
        })
        .await
        .expect_err("a version outside the root was served");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("outside the index root"),
        "{}",
        err.message()
    );
    // `current` naming the symlink is refused the same way.
    std::fs::write(root.path().join("current"), "evil\n").unwrap();
    let err = admin
        .reload(ReloadRequest { version: "".into() })
        .await
        .expect_err("a version outside the root was served through `current`");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let r = client.ask(ask("where is my parcel")).await.unwrap().into_inner();
    assert_eq!(r.index_version, serving);

    // A symlink between versions inside the root is fine.
    let inside = build_version(root.path(), corpus(), &BuildParams::default(), &|_, _, _| {}).unwrap();
    std::os::unix::fs::symlink(&inside, root.path().join("latest")).unwrap();
    let r = admin
        .reload(ReloadRequest {
            version: "latest".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.version, inside.file_name().unwrap().to_str().unwrap());
    srv.shutdown().await;
}
