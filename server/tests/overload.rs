//! Overload over real gRPC: calls are admitted by expected wait for the encoder,
//! deadlines are kept while a question waits, and interactive calls pass bulk
//! Embed work. Assertions are about order and counts, never wall-clock time.

mod common;

use common::setup;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kefu_server::Config;
use kefu_server::batcher::Lane;
use kefu_server::proto::answers_client::AnswersClient;
use kefu_server::proto::{AskRequest, EmbedRequest};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tonic::Code;
use tonic::transport::Channel;

async fn start(c: Config) -> (kefu_server::Running, AnswersClient<Channel>) {
    let srv = kefu_server::start(c).await.expect("server starts");
    let client = AnswersClient::connect(format!("http://{}", srv.grpc_addr))
        .await
        .unwrap();
    (srv, client)
}

/// HTTP/2 without tonic's `Channel`, whose own timer ends a call at its deadline (as
/// CANCELLED) and races the server's answer: here the server's code is what we see.
fn raw_answers(srv: &kefu_server::Running) -> AnswersClient<Client<HttpConnector, tonic::body::Body>> {
    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    AnswersClient::with_origin(h2, format!("http://{}", srv.grpc_addr).parse().unwrap())
}

fn ask(q: String) -> AskRequest {
    AskRequest {
        question: q,
        ..Default::default()
    }
}

/// A text of exactly `chars` characters that nobody asked before: the encoder's
/// longest input (it truncates at the model's 256 tokens).
fn long_text(tag: &str, chars: usize) -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < chars {
        s.push_str(&format!("{tag} parcel {i} customs refund "));
        i += 1;
    }
    s.truncate(chars);
    s
}

/// Polls (for at most a minute: a loaded debug build is slow) until `ready` holds;
/// panics naming `what` otherwise.
async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < give_up {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("gave up waiting for {what}");
}

#[tokio::test]
async fn a_burst_over_a_tiny_budget_is_refused_at_once_and_nothing_piles_up() {
    let (_root, mut c) = setup();
    c.encoder_wait_budget_ms = 1;
    c.max_batch = 8;
    let (srv, client) = start(c).await;
    let calls: Vec<_> = (0..64)
        .map(|i| {
            let mut c = client.clone();
            tokio::spawn(async move {
                c.ask(ask(format!("is order {i} of the burst already shipped?")))
                    .await
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => ok += 1,
            Err(s) => {
                assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
                assert!(
                    s.message().contains("expected wait") && s.message().contains("budget of 1.0 ms"),
                    "the refusal says the expected wait and the budget: {}",
                    s.message()
                );
                refused += 1;
            }
        }
    }
    assert!(ok >= 1, "an idle encoder admits the first question");
    assert!(refused >= 1, "64 new questions cannot all fit a 1 ms budget");
    // One question costs well over 1 ms, so admission never let a second one
    // queue behind another: no call waited behind a pile (the old count-bounded
    // queue let all 64 in, the last waiting for 63 others).
    let high = srv.state.encoder.high_water();
    assert!(high <= 2, "{high} questions waited at once under a 1 ms budget");
    srv.shutdown().await;
}

#[tokio::test]
async fn a_call_whose_deadline_passes_in_the_queue_is_dropped_and_told_deadline_exceeded() {
    let (_root, mut c) = setup();
    // A budget nothing here exceeds: this test is about the deadline.
    c.encoder_wait_budget_ms = 60_000;
    c.max_batch = 4;
    let max_chars = c.max_question_chars;
    let (srv, client) = start(c).await;
    // The deadline call's own connection, opened now (an empty question is refused
    // before the encoder): once the long questions queue, nothing delays the call.
    let mut deadline_client = raw_answers(&srv);
    let warm = deadline_client.ask(ask(String::new())).await.unwrap_err();
    assert_eq!(warm.code(), Code::InvalidArgument, "{warm:?}");

    // Bulk work keeps the encoder busy while the long questions line up.
    let mut embedder = client.clone();
    let texts = (0..3)
        .map(|i| long_text(&format!("bulk{i}"), max_chars))
        .collect();
    let embed = tokio::spawn(async move { embedder.embed(EmbedRequest { texts }).await });
    until("the Embed to reach the encoder", || srv.state.encoder.depth() > 0).await;

    // 16 questions of the longest kind, queued in batches of 4. The encoder has
    // measured no interactive batch yet, so it expects them to be quick: the
    // deadline call below is admitted, then waits behind four long batches.
    let done = Arc::new(AtomicUsize::new(0));
    let long: Vec<_> = (0..16)
        .map(|i| {
            let (mut c, done) = (client.clone(), done.clone());
            let q = long_text(&format!("long{i}"), max_chars);
            tokio::spawn(async move {
                let r = c.ask(ask(q)).await;
                done.fetch_add(1, Ordering::SeqCst);
                r
            })
        })
        .collect();
    // At most one batch of them may have started: none has finished, so none was measured.
    until("the long questions to queue", || {
        srv.state.encoder.waiting(Lane::Interactive) >= 12
    })
    .await;
    let dropped_before = srv.state.metrics.encoder_dropped.get();

    let mut req = tonic::Request::new(ask("where is my parcel right now?".into()));
    req.set_timeout(Duration::from_millis(1000));
    let err = deadline_client.ask(req).await.unwrap_err();
    let finished_then = done.load(Ordering::SeqCst);
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("deadline"), "{}", err.message());
    assert!(
        finished_then < 16,
        "the expired call came back when its deadline passed, not when its turn came \
         ({finished_then} of 16 long questions were done)"
    );

    for call in long {
        call.await.unwrap().expect("the long questions are answered");
    }
    embed.await.unwrap().expect("the Embed is answered");
    // The expired question was dropped from the queue, never encoded.
    assert!(srv.state.metrics.encoder_dropped.get() > dropped_before);
    srv.shutdown().await;
}

#[tokio::test]
async fn an_ask_sent_during_a_maximal_embed_finishes_before_it() {
    let (_root, mut c) = setup();
    // Generous budget: this test is about order, not admission.
    c.encoder_wait_budget_ms = 60_000;
    c.max_batch = 8;
    let (max_batch, max_chars) = (c.max_batch, c.max_question_chars);
    let (srv, client) = start(c).await;

    // The largest Embed the server takes: max_batch texts of the longest kind.
    let mut embedder = client.clone();
    let texts: Vec<String> = (0..max_batch)
        .map(|i| long_text(&format!("max{i}"), max_chars))
        .collect();
    let embed = tokio::spawn(async move { embedder.embed(EmbedRequest { texts }).await });
    until("the Embed to reach the encoder", || srv.state.encoder.depth() > 0).await;

    let answer = client
        .clone()
        .ask(ask("how long does sea freight take to arrive?".into()))
        .await
        .expect("the Ask is answered");
    assert!(
        !embed.is_finished(),
        "the Ask waited for the whole Embed instead of one chunk of it"
    );
    assert!(!answer.into_inner().hits.is_empty());

    let vectors = embed.await.unwrap().expect("the Embed is answered").into_inner();
    assert_eq!(vectors.vectors.len(), max_batch);
    assert!(
        vectors
            .vectors
            .iter()
            .all(|v| v.values.len() == vectors.dim as usize)
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn two_encoder_workers_encode_side_by_side_and_agree() {
    let (_root, mut c) = setup();
    c.encoder_wait_budget_ms = 60_000;
    c.encoder_workers = 2;
    // Texts of the longest kind go one per bulk chunk: two Embeds keep both workers busy.
    c.max_batch = 8;
    let max_chars = c.max_question_chars;
    let (srv, client) = start(c).await;
    let texts: Vec<String> = (0..6).map(|i| long_text(&format!("two{i}"), max_chars)).collect();
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let (mut cl, texts) = (client.clone(), texts.clone());
            tokio::spawn(async move { cl.embed(EmbedRequest { texts }).await })
        })
        .collect();
    until("both workers to encode at once", || {
        srv.state.encoder.busy_workers() == 2
    })
    .await;
    let mut results = Vec::new();
    for call in calls {
        results.push(call.await.unwrap().expect("the Embed is answered").into_inner());
    }
    // The same texts through different workers and batches: the same vectors.
    for (a, b) in results[0].vectors.iter().zip(&results[1].vectors) {
        let dot: f32 = a.values.iter().zip(&b.values).map(|(x, y)| x * y).sum();
        assert!(dot > 0.99999, "{dot}");
    }
    assert_eq!(results[0].vectors.len(), texts.len());
    srv.shutdown().await;
}
