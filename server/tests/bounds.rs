//! Bounds on every routing input and on the filters of Ask, Search and Resolve over real
//! gRPC and REST on loopback (#13 item 3), and the config's `--print-config` through the
//! real binary.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kefu_engine::index::FilterLimits;
use kefu_server::proto::answers_client::AnswersClient;
use kefu_server::proto::routing_client::RoutingClient;
use kefu_server::proto::{
    Agent, AskRequest, CompleteRequest, Customer, FilterClause, GetQueueRequest, Presence, ResolveRequest,
    RouteRequest, SearchRequest, Tier, UpsertAgentRequest, search_request,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;
use tonic::Code;
use tonic::transport::Channel;

mod common;

fn agent(id: &str) -> Agent {
    Agent {
        id: id.into(),
        name: "Ana".into(),
        languages: vec!["en".into()],
        skills: HashMap::from([("billing".to_string(), 3)]),
        expertise: "refunds and card payments".into(),
        tiers: vec![Tier::Standard as i32],
        capacity: HashMap::from([("chat".to_string(), 1)]),
        translation: false,
    }
}

fn ticket(id: &str, text: &str) -> RouteRequest {
    RouteRequest {
        ticket_id: id.into(),
        customer_id: "c-1".into(),
        language: "en".into(),
        channel: "chat".into(),
        category: "payment".into(),
        text: text.into(),
        ..Default::default()
    }
}

async fn upsert(c: &mut RoutingClient<Channel>, a: Agent) -> Result<(), tonic::Status> {
    c.upsert_agent(UpsertAgentRequest {
        agent: Some(a),
        presence: Presence::Online as i32,
    })
    .await
    .map(|_| ())
}

/// A refusal that names what was wrong and its limit, in a message that stays short.
fn refused(r: Result<(), tonic::Status>, names: &[&str]) {
    let e = r.expect_err("over a bound must be refused");
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    assert!(e.message().len() < 300, "message is {} bytes", e.message().len());
    for n in names {
        assert!(e.message().contains(n), "{:?} lacks {n:?}", e.message());
    }
}

#[tokio::test]
async fn oversized_agents_and_tickets_are_refused_with_short_messages() {
    let (_root, config) = common::setup();
    let running = kefu_server::start(config).await.unwrap();
    let url = format!("http://{}", running.grpc_addr);
    let mut c = RoutingClient::connect(url.clone()).await.unwrap();
    let big = "x".repeat(3 << 20);

    let mut a = agent("ana");
    a.capacity = (0..10_000).map(|i| (format!("ch{i}"), 1)).collect();
    refused(upsert(&mut c, a).await, &["channels", "10000", "max_list_len"]);
    refused(upsert(&mut c, agent(&big)).await, &["id", "max_id_bytes", "…"]);
    let mut a = agent("ana");
    a.name = big.clone();
    refused(upsert(&mut c, a).await, &["name", "max_name_chars"]);
    let mut a = agent("ana");
    a.expertise = "refunds and chargebacks ".repeat(3_900_000 / 24);
    refused(upsert(&mut c, a).await, &["expertise", "max_expertise_chars"]);
    let mut a = agent("ana");
    a.languages = (0..100).map(|i| format!("l{i}")).collect();
    refused(upsert(&mut c, a).await, &["languages", "max_list_len"]);

    let route = |t: RouteRequest| {
        let mut c = c.clone();
        async move { c.route(t).await.map(|_| ()) }
    };
    refused(
        route(ticket(&big, "refund please")).await,
        &["id", "max_id_bytes"],
    );
    let mut t = ticket("t-1", "refund please");
    t.customer_id = big.clone();
    refused(route(t).await, &["customer id", "max_id_bytes"]);
    refused(
        route(ticket("t-1", &"refund ".repeat(1000))).await,
        &["text", "max_text_chars"],
    );
    let r = c
        .complete(CompleteRequest {
            ticket_id: big.clone(),
        })
        .await
        .map(|_| ());
    refused(r, &["ticket id", "max_id_bytes"]);

    // Resolve files a ticket on handoff: its ids are bounded before the question is embedded.
    let mut answers = AnswersClient::connect(url).await.unwrap();
    let r = answers
        .resolve(ResolveRequest {
            question: "I want to talk to a person".into(),
            customer: Some(Customer {
                id: big.clone(),
                ..Default::default()
            }),
            channel: "chat".into(),
            ..Default::default()
        })
        .await
        .map(|_| ());
    refused(r, &["customer.id", "max_id_bytes"]);

    // Nothing over a bound got in; a well-formed agent still does.
    upsert(&mut c, agent("ana")).await.unwrap();
    running.shutdown().await;
}

/// `n` distinct locale-like filter values.
fn values(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("l{i}")).collect()
}

fn ask(locales: Vec<String>, filters: Vec<FilterClause>) -> AskRequest {
    AskRequest {
        question: "where is my parcel".into(),
        locales,
        filters,
        ..Default::default()
    }
}

#[tokio::test]
async fn filters_over_their_bounds_are_refused_over_grpc() {
    let (_root, config) = common::setup();
    let running = kefu_server::start(config).await.unwrap();
    let mut c = AnswersClient::connect(format!("http://{}", running.grpc_addr))
        .await
        .unwrap();
    let max = FilterLimits::DEFAULT.max_filter_values;
    let long = "x".repeat(3 << 20);

    // At the bound a call is served; one value more is refused, whichever lists carry them.
    c.ask(ask(values(max), vec![])).await.unwrap();
    let over = format!("{} values", max + 1);
    refused(
        c.ask(ask(values(max), vec![clause("market", &["EU"])]))
            .await
            .map(|_| ()),
        &[&over, "max_filter_values"],
    );
    let empty_clauses = (0..10_000).map(|_| clause("tag", &[])).collect();
    refused(
        c.ask(ask(vec![], empty_clauses)).await.map(|_| ()),
        &["10000 values", "max_filter_values"],
    );
    refused(
        c.ask(ask(vec![long.clone()], vec![])).await.map(|_| ()),
        &["locale", "max_filter_value_bytes", "…"],
    );
    // A field name of megabytes is an unknown field, echoed cut.
    refused(
        c.ask(ask(vec![], vec![clause(&long, &["a"])])).await.map(|_| ()),
        &["unknown filter field", "…"],
    );

    let search = |filters: Vec<FilterClause>| SearchRequest {
        query: Some(search_request::Query::Text("where is my parcel".into())),
        filters,
        ..Default::default()
    };
    c.search(search(vec![clause("tag", &["a"])])).await.unwrap();
    refused(
        c.search(search(vec![clause("tag", &[&long])])).await.map(|_| ()),
        &["tag", "max_filter_value_bytes"],
    );
    refused(
        c.search(search(vec![FilterClause {
            field: "category".into(),
            values: values(max + 1),
        }]))
        .await
        .map(|_| ()),
        &[&over, "max_filter_values"],
    );

    let resolve = |markets: Vec<String>, locales: Vec<String>| ResolveRequest {
        question: "where is my parcel".into(),
        markets,
        locales,
        decide_only: true,
        ..Default::default()
    };
    c.resolve(resolve(vec!["EU".into()], vec!["en".into()]))
        .await
        .unwrap();
    refused(
        c.resolve(resolve(values(max), vec!["en".into()]))
            .await
            .map(|_| ()),
        &[&over, "max_filter_values"],
    );
    refused(
        c.resolve(resolve(vec![], vec![long.clone()])).await.map(|_| ()),
        &["locale", "max_filter_value_bytes"],
    );
    running.shutdown().await;
}

fn clause(field: &str, values: &[&str]) -> FilterClause {
    FilterClause {
        field: field.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

/// POSTs a JSON body over plain HTTP/1.1 and returns the status and the JSON reply.
async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let req = hyper::Request::builder()
        .method("POST")
        .uri(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = Client::builder(TokioExecutor::new())
        .build_http()
        .request(req)
        .await
        .expect("HTTP call");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn filters_over_their_bounds_are_400_over_rest() {
    let (_root, mut config) = common::setup();
    config.metrics = Some("127.0.0.1:0".parse().unwrap());
    let running = kefu_server::start(config).await.unwrap();
    let base = format!("http://{}", running.http_addr.unwrap());
    let max = FilterLimits::DEFAULT.max_filter_values;
    let long = "x".repeat(100_000);
    let over = format!("{} values", max + 1);

    let (status, v) = post(
        &base,
        "/v1/answers/ask",
        json!({"question": "where is my parcel", "locales": values(max)}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    for (path, body, words) in [
        (
            "/v1/answers/ask",
            json!({"question": "where is my parcel", "locales": values(max + 1)}),
            vec![over.as_str(), "max_filter_values"],
        ),
        (
            "/v1/answers/ask",
            json!({"question": "where is my parcel", "markets": [long]}),
            vec!["market", "max_filter_value_bytes", "…"],
        ),
        (
            "/v1/answers/search",
            json!({"text": "where is my parcel", "filters": [{"field": "tag", "values": [long]}]}),
            vec!["tag", "max_filter_value_bytes"],
        ),
        (
            "/v1/answers/resolve",
            json!({"question": "where is my parcel", "decideOnly": true, "locales": values(max + 1)}),
            vec![over.as_str(), "max_filter_values"],
        ),
    ] {
        let (status, v) = post(&base, path, body).await;
        assert_eq!(status, 400, "{path}: {v}");
        assert_eq!(v["code"], "INVALID_ARGUMENT", "{path}: {v}");
        let message = v["message"].as_str().unwrap();
        assert!(message.len() < 300, "{path}: {} bytes", message.len());
        for w in words {
            assert!(message.contains(w), "{path}: {message:?} lacks {w:?}");
        }
    }
    running.shutdown().await;
}

#[tokio::test]
async fn get_queue_pages_and_cuts_long_texts() {
    let (_root, mut config) = common::setup();
    config.queue_page_size = 2;
    config.queue_text_chars = 100;
    let running = kefu_server::start(config).await.unwrap();
    let mut c = RoutingClient::connect(format!("http://{}", running.grpc_addr))
        .await
        .unwrap();
    // Nobody is online: every ticket waits.
    let long = "I was charged twice for my order and need a refund. ".repeat(70);
    for i in 0..5 {
        let text = if i == 4 {
            "short one".to_string()
        } else {
            long.clone()
        };
        c.route(ticket(&format!("t-{i}"), &text)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = c
            .get_queue(GetQueueRequest {
                page_size: None,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert_eq!(page.total, 5);
        assert!(page.tickets.len() <= 2);
        for t in &page.tickets {
            if t.ticket_id == "t-4" {
                assert_eq!(t.text, "short one");
                assert!(!t.text_truncated);
            } else {
                assert!(t.text_truncated, "{}", t.ticket_id);
                assert_eq!(t.text.chars().count(), 101, "100 characters and the mark");
                assert!(t.text.ends_with('…') && long.starts_with(t.text.trim_end_matches('…')));
            }
            seen.push(t.ticket_id.clone());
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    seen.sort();
    assert_eq!(seen, ["t-0", "t-1", "t-2", "t-3", "t-4"]);

    let all = c
        .get_queue(GetQueueRequest {
            page_size: Some(10),
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.tickets.len(), 5);
    assert!(all.next_page_token.is_empty());
    for bad in [
        GetQueueRequest {
            page_size: Some(0),
            ..Default::default()
        },
        GetQueueRequest {
            page_size: Some(1001),
            ..Default::default()
        },
        GetQueueRequest {
            page_size: None,
            page_token: "abc".into(),
        },
    ] {
        let e = c.get_queue(bad).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    }
    running.shutdown().await;
}

#[test]
fn print_config_shows_effective_values_and_a_bad_file_names_setting_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kefu.toml");
    std::fs::write(&file, "index = \"/srv/index\"\nmax_list_len = 16\nmax_k = 7\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kefu-server"))
        .args([
            "--config",
            file.to_str().unwrap(),
            "--max-k",
            "9",
            "--print-config",
        ])
        .env("KEFU_MAX_ID_BYTES", "77")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("max_k = 9  # flag --max-k"), "{text}");
    assert!(
        text.contains("max_id_bytes = 77  # environment variable KEFU_MAX_ID_BYTES"),
        "{text}"
    );
    assert!(text.contains("max_list_len = 16  # config file"), "{text}");
    assert!(text.contains("index = \"/srv/index\""), "{text}");
    assert!(text.contains("queue_text_chars = 280  # default"), "{text}");
    assert!(text.contains("max_filter_values = 32  # default"), "{text}");
    assert!(text.contains("max_filter_value_bytes = 128  # default"), "{text}");

    std::fs::write(&file, "index = \"/srv/index\"\nmax_expertise_chars = 0\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kefu-server"))
        .args(["--config", file.to_str().unwrap(), "--print-config"])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("max_expertise_chars") && err.contains(file.to_str().unwrap()),
        "{err}"
    );
}

#[test]
fn encoder_threads_and_precision_out_of_range_are_refused_naming_the_setting() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_kefu-server"))
            .args(["--index", "/srv/index", "--print-config"])
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stderr).unwrap())
    };
    for bad in ["0", "65"] {
        let (code, err) = run(&["--encoder-threads", bad]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("encoder_threads") && err.contains(bad), "{err}");
        let (code, err) = run(&["--encoder-workers", bad]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("encoder_workers") && err.contains(bad), "{err}");
    }
    let (code, err) = run(&["--precision", "int4"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("expected f32 or int8"), "{err}");
    let (code, err) = run(&["--encoder-threads", "2", "--precision", "int8"]);
    assert_eq!(code, Some(0), "{err}");
}
