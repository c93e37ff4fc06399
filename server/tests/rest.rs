//! The REST/JSON API of a real server on loopback, called with a real HTTP client
//! (hyper): every route, the proto3 JSON bodies, the gRPC-code-to-HTTP-status
//! mapping, malformed and oversized bodies, `/openapi.json` and the index page.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

mod common;

/// Bodies larger than this are refused in this test's server.
const MAX_BODY: usize = 64 * 1024;

/// A plain HTTP/1.1 client for one server.
struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    /// Sends `body` as is and returns the status, content type and body text.
    async fn raw(&self, method: &str, path: &str, body: &str) -> (u16, String, String) {
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let resp = self.client.request(req).await.expect("HTTP call");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, content_type, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// Sends a JSON body (none when `Value::Null`) and parses the JSON reply.
    async fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (status, content_type, reply) = self.raw(method, path, &text).await;
        assert_eq!(content_type, "application/json", "{method} {path}: {reply}");
        let v = serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{method} {path}: {e}: {reply}"));
        (status, v)
    }

    /// A call that must succeed.
    async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {v}");
        v
    }

    /// A call that must fail with `status` and the gRPC code's name, with `words` in the message.
    async fn refused(&self, method: &str, path: &str, body: Value, status: u16, code: &str, words: &str) {
        let (got, v) = self.call(method, path, body).await;
        assert_eq!(got, status, "{method} {path}: {v}");
        assert_eq!(v["code"], code, "{method} {path}: {v}");
        let message = v["message"].as_str().unwrap();
        assert!(
            message.contains(words),
            "{method} {path}: {message:?} lacks {words:?}"
        );
    }
}

fn agent(id: &str, chat_capacity: u32, expertise: &str) -> Value {
    json!({
        "id": id,
        "name": id,
        "languages": ["en"],
        "skills": {"billing": 3},
        "expertise": expertise,
        "tiers": ["STANDARD", "VIP"],
        "capacity": {"chat": chat_capacity},
    })
}

fn ticket(id: &str, text: &str) -> Value {
    json!({
        "ticketId": id,
        "customerId": format!("c-{id}"),
        "tier": "STANDARD",
        "language": "en",
        "channel": "chat",
        "text": text,
    })
}

/// `(method, path)` of every REST route the issue asks for, written out independently of the server's table.
const EXPECTED_ROUTES: [(&str, &str); 14] = [
    ("post", "/v1/answers/ask"),
    ("post", "/v1/answers/resolve"),
    ("post", "/v1/answers/search"),
    ("post", "/v1/answers/embed"),
    ("post", "/v1/admin/reload"),
    ("get", "/v1/admin/info"),
    ("post", "/v1/routing/agents"),
    ("delete", "/v1/routing/agents/{id}"),
    ("post", "/v1/routing/agents/{id}/presence"),
    ("post", "/v1/routing/route"),
    ("post", "/v1/routing/complete"),
    ("post", "/v1/routing/transfer"),
    ("get", "/v1/routing/queue"),
    ("get", "/v1/routing/agents/{id}"),
];

#[tokio::test]
async fn every_rest_route_answers_in_proto3_json_and_maps_grpc_codes_to_http() {
    let (_root, mut c) = common::setup();
    c.metrics = Some("127.0.0.1:0".parse().unwrap());
    c.max_message_bytes = MAX_BODY;
    let srv = kefu_server::start(c).await.expect("server starts");
    let http = Http {
        client: Client::builder(TokioExecutor::new()).build_http(),
        base: format!("http://{}", srv.http_addr.expect("HTTP is on")),
    };

    // The index page and the OpenAPI document.
    let (status, content_type, page) = http.raw("GET", "/", "").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("href=\"/openapi.json\""), "{page}");
    assert!(page.contains("/v1/answers/ask"), "{page}");
    let doc = http.ok("GET", "/openapi.json", Value::Null).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    for (method, path) in EXPECTED_ROUTES {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "/openapi.json lacks {method} {path}");
        assert!(op["responses"]["200"].is_object(), "{method} {path}");
        assert!(
            !op["description"].as_str().unwrap_or("").is_empty(),
            "{method} {path}"
        );
        assert_eq!(op["requestBody"].is_object(), method == "post", "{method} {path}");
    }
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(operations, EXPECTED_ROUTES.len(), "one operation per route");
    assert!(doc["components"]["schemas"]["AskRequest"]["properties"]["question"].is_object());

    // Answers/Ask: the proto3 JSON mapping both ways (lowerCamelCase, u64 as strings).
    let r = http
        .ok(
            "POST",
            "/v1/answers/ask",
            json!({"question": "how many hours can I listen after a full charge?"}),
        )
        .await;
    assert_eq!(r["hits"][0]["articleId"], "tech-001", "{r}");
    assert!(r["hits"][0]["score"].as_f64().unwrap() > 0.5);
    assert_eq!(r["hits"].as_array().unwrap().len(), 5);
    assert!(
        r["timings"]["totalUs"].is_string(),
        "uint64 is a JSON string: {r}"
    );
    assert!(!r["indexVersion"].as_str().unwrap().is_empty());
    let r = http
        .ok(
            "POST",
            "/v1/answers/ask",
            json!({"question": "do you accept paypal", "k": 2, "locales": ["fr"]}),
        )
        .await;
    assert_eq!(r["hits"].as_array().unwrap().len(), 2);
    assert!(
        r["hits"].as_array().unwrap().iter().all(|h| h["locale"] == "fr"),
        "{r}"
    );

    // The same validation as gRPC, as 400 with the code's name.
    http.refused(
        "POST",
        "/v1/answers/ask",
        json!({"question": "   "}),
        400,
        "INVALID_ARGUMENT",
        "question is empty",
    )
    .await;
    http.refused(
        "POST",
        "/v1/answers/ask",
        json!({"question": "refund", "k": 0}),
        400,
        "INVALID_ARGUMENT",
        "k is 0",
    )
    .await;
    // Malformed bodies say what was wrong, naming the message.
    let (status, _, text) = http.raw("POST", "/v1/answers/ask", "{\"question\": ").await;
    assert_eq!(status, 400, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["code"], "INVALID_ARGUMENT");
    let message = v["message"].as_str().unwrap();
    assert!(
        message.contains("kefu.v1.AskRequest") && message.contains("EOF"),
        "{message}"
    );
    http.refused(
        "POST",
        "/v1/answers/ask",
        json!({"questoin": "refund"}),
        400,
        "INVALID_ARGUMENT",
        "unknown field `questoin`",
    )
    .await;
    http.refused(
        "POST",
        "/v1/answers/ask",
        json!({"question": "refund", "k": "many"}),
        400,
        "INVALID_ARGUMENT",
        "line 1",
    )
    .await;
    // Bodies are bounded by max_message_bytes.
    let huge = json!({"question": "x".repeat(MAX_BODY + 1)});
    http.refused(
        "POST",
        "/v1/answers/ask",
        huge,
        413,
        "RESOURCE_EXHAUSTED",
        "max_message_bytes",
    )
    .await;

    // Answers/Embed, then Answers/Search by that vector and by text.
    let e = http
        .ok(
            "POST",
            "/v1/answers/embed",
            json!({"texts": ["my parcel is stuck at customs"]}),
        )
        .await;
    assert_eq!(e["dim"], 384);
    assert_eq!(e["model"], "all-MiniLM-L6-v2");
    let vector = e["vectors"][0]["values"].clone();
    assert_eq!(vector.as_array().unwrap().len(), 384);
    let by_vector = http
        .ok(
            "POST",
            "/v1/answers/search",
            json!({"vector": {"values": vector}, "k": 3}),
        )
        .await;
    let by_text = http
        .ok(
            "POST",
            "/v1/answers/search",
            json!({"text": "my parcel is stuck at customs", "k": 3}),
        )
        .await;
    assert_eq!(by_text["hits"][0]["articleId"], "cust-002", "{by_text}");
    assert_eq!(
        by_vector["hits"],
        by_text["hits"].clone(),
        "same vector, same hits"
    );
    http.refused(
        "POST",
        "/v1/answers/search",
        json!({}),
        400,
        "INVALID_ARGUMENT",
        "query is missing",
    )
    .await;
    http.refused(
        "POST",
        "/v1/answers/embed",
        json!({"texts": []}),
        400,
        "INVALID_ARGUMENT",
        "0 texts",
    )
    .await;

    // Answers/Resolve: a confident answer, enums by name.
    let r = http
        .ok(
            "POST",
            "/v1/answers/resolve",
            json!({
                "question": "I forgot my password and cannot log in",
                "customer": {"id": "cust-42", "tier": "STANDARD", "language": "en"},
                "channel": "chat",
            }),
        )
        .await;
    assert_eq!(r["decision"], "ANSWER", "{r}");
    assert_eq!(r["reason"], "confident");
    assert_eq!(r["answer"]["articleId"], "acct-001");
    http.refused(
        "POST",
        "/v1/answers/resolve",
        json!({"question": "refund"}),
        400,
        "INVALID_ARGUMENT",
        "channel is empty",
    )
    .await;

    // Admin: Info and Reload (empty body = reload `current`), unknown version = 404.
    let info = http.ok("GET", "/v1/admin/info", Value::Null).await;
    assert_eq!(info["dim"], 384);
    assert_eq!(info["model"], "all-MiniLM-L6-v2");
    let version = info["indexVersion"].as_str().unwrap().to_string();
    assert!(
        info["articles"].as_str().unwrap().parse::<u64>().unwrap() > 0,
        "{info}"
    );
    let r = http.ok("POST", "/v1/admin/reload", Value::Null).await;
    assert_eq!(r["version"], version.as_str());
    assert_eq!(r["previousVersion"], version.as_str());
    http.refused(
        "POST",
        "/v1/admin/reload",
        json!({"version": "v0000000001"}),
        404,
        "NOT_FOUND",
        "v0000000001",
    )
    .await;

    // Routing: agents, routing, the queue, transfer, complete, presence, removal.
    let r = http
        .ok(
            "POST",
            "/v1/routing/agents",
            json!({"agent": agent("a1", 1, "refunds and payment problems"), "presence": "ONLINE"}),
        )
        .await;
    assert_eq!(r["assignments"], json!([]), "{r}");
    let a1 = http.ok("GET", "/v1/routing/agents/a1", Value::Null).await;
    assert_eq!(a1["presence"], "ONLINE", "{a1}");
    assert_eq!(a1["agent"]["skills"]["billing"], 3);
    let t1 = http
        .ok(
            "POST",
            "/v1/routing/route",
            ticket("t1", "I want a refund for my order"),
        )
        .await;
    assert_eq!(t1["assigned"], true, "{t1}");
    assert_eq!(t1["agentId"], "a1");
    assert!(
        !t1["category"].as_str().unwrap().is_empty(),
        "category inferred: {t1}"
    );
    let t2 = http
        .ok(
            "POST",
            "/v1/routing/route",
            ticket("t2", "my card was charged twice"),
        )
        .await;
    assert_eq!(t2["assigned"], false, "a1 is full: {t2}");
    assert_eq!(t2["queuePosition"], 1);
    let q = http.ok("GET", "/v1/routing/queue", Value::Null).await;
    assert_eq!(q["tickets"][0]["ticketId"], "t2", "{q}");
    http.refused(
        "POST",
        "/v1/routing/route",
        ticket("t1", "again"),
        409,
        "ALREADY_EXISTS",
        "t1",
    )
    .await;
    // a2 comes online and pulls the waiting ticket at once.
    let r = http
        .ok(
            "POST",
            "/v1/routing/agents",
            json!({"agent": agent("a2", 2, "card payments"), "presence": "ONLINE"}),
        )
        .await;
    assert_eq!(r["assignments"][0]["ticketId"], "t2", "{r}");
    assert_eq!(r["assignments"][0]["agentId"], "a2");
    http.refused(
        "POST",
        "/v1/routing/transfer",
        json!({"ticketId": "t1", "toAgentId": "a1"}),
        409,
        "FAILED_PRECONDITION",
        "cannot take ticket \"t1\"",
    )
    .await;
    let r = http
        .ok(
            "POST",
            "/v1/routing/transfer",
            json!({"ticketId": "t1", "toAgentId": "a2"}),
        )
        .await;
    assert_eq!(r["assignments"][0]["ticketId"], "t1", "{r}");
    assert_eq!(r["assignments"][0]["agentId"], "a2");
    let a2 = http.ok("GET", "/v1/routing/agents/a2", Value::Null).await;
    let mut open: Vec<&str> = a2["openTickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    open.sort();
    assert_eq!(open, ["t1", "t2"], "{a2}");
    http.ok("POST", "/v1/routing/complete", json!({"ticketId": "t1"}))
        .await;
    http.refused(
        "POST",
        "/v1/routing/complete",
        json!({"ticketId": "no-such-ticket"}),
        404,
        "NOT_FOUND",
        "no-such-ticket",
    )
    .await;
    http.ok(
        "POST",
        "/v1/routing/agents/a1/presence",
        json!({"presence": "OFFLINE"}),
    )
    .await;
    let a1 = http.ok("GET", "/v1/routing/agents/a1", Value::Null).await;
    assert_eq!(a1["presence"], "OFFLINE");
    http.refused(
        "POST",
        "/v1/routing/agents/a1/presence",
        json!({"agentId": "a2", "presence": "ONLINE"}),
        400,
        "INVALID_ARGUMENT",
        "differs",
    )
    .await;
    http.refused(
        "POST",
        "/v1/routing/agents/a1/presence",
        json!({"presence": "SOMETIMES"}),
        400,
        "INVALID_ARGUMENT",
        "SOMETIMES",
    )
    .await;
    http.ok("DELETE", "/v1/routing/agents/a1", Value::Null).await;
    http.refused(
        "GET",
        "/v1/routing/agents/a1",
        Value::Null,
        404,
        "NOT_FOUND",
        "a1",
    )
    .await;

    // Anything else is a JSON 404 that points at the route list.
    http.refused(
        "GET",
        "/v1/nothing-here",
        Value::Null,
        404,
        "NOT_FOUND",
        "/openapi.json",
    )
    .await;

    http.refused(
        "GET",
        "/v1/answers/ask",
        Value::Null,
        405,
        "UNIMPLEMENTED",
        "does not take GET",
    )
    .await;

    // Every REST call was counted in the same metric as gRPC calls, as transport="http".
    let (_, _, metrics) = http.raw("GET", "/metrics", "").await;
    for rpc in ["Ask", "Search", "Embed", "Resolve", "Reload", "Route", "GetAgent"] {
        assert!(
            metrics.lines().any(|l| l.starts_with("kefu_requests_total{")
                && l.contains(&format!("method=\"{rpc}\""))
                && l.contains("transport=\"http\"")),
            "/metrics lacks REST {rpc}"
        );
    }
    srv.shutdown().await;
}
