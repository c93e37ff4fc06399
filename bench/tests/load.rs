//! kefu-load, the binary, against a real kefu-server on loopback (the sample KB's index
//! and the model in ./models): the open loop's JSON report and the closed loop's text
//! lines that scripts read. Counts and shapes only, never time.

use kefu_engine::embed::{BertEncoder, ModelDir};
use kefu_engine::index::{BuildParams, Corpus, build_version};
use kefu_engine::kb::import_file;
use kefu_server::Config;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The sample KB, embedded once per test binary.
fn corpus() -> &'static Corpus {
    static C: OnceLock<Corpus> = OnceLock::new();
    C.get_or_init(|| {
        let enc = BertEncoder::from_dir(&ModelDir::resolve_in(&repo())).expect("run `make model` first");
        let articles = import_file(&repo().join("datasets/kb.jsonl"), false)
            .unwrap()
            .articles;
        let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("embed-cache");
        Corpus::embed_via_cache_dir(articles, &enc, 32, "datasets/kb.jsonl", &|_, _, _| {}, &cache)
            .unwrap()
            .0
    })
}

/// Starts a server on 127.0.0.1:0, runs kefu-load against it once per argument list
/// (one after the other), stops it.
fn against_server(runs: &[&[&str]]) -> Vec<Output> {
    let root = tempfile::tempdir().unwrap();
    let index = root.path().join("index");
    build_version(&index, corpus(), &BuildParams::default(), &|_, _, _| {}).unwrap();
    let mut cfg = Config::new(&index, &ModelDir::resolve_in(&repo()));
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.metrics = None;
    cfg.routing_dir = root.path().join("routing");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(kefu_server::start(cfg)).expect("server starts");
    // The server serves on the runtime's worker threads while this one waits.
    let outs = runs
        .iter()
        .map(|args| {
            Command::new(env!("CARGO_BIN_EXE_kefu-load"))
                .args(["--addr", &server.grpc_addr.to_string()])
                .args(*args)
                .output()
                .unwrap()
        })
        .collect();
    rt.block_on(server.shutdown());
    outs
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "kefu-load failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn open_loop_and_search_json_reports_count_every_scheduled_call() {
    // 30 calls/s for 2 s: 60 calls, half of them repeats (cache hits after the warm-up).
    let open: &[&str] = &[
        "--rate",
        "30",
        "--duration-secs",
        "2",
        "--repeat-share",
        "0.5",
        "--deadline-ms",
        "10000",
        "--json",
    ];
    // Two 1 s steps: 5 calls/s, then 10 (or 3 if 5 missed a bar of 10 s).
    let search: &[&str] = &[
        "--find-max-rate",
        "--p99-ms",
        "10000",
        "--start-rate",
        "5",
        "--max-rate",
        "10",
        "--step-secs",
        "1",
        "--max-steps",
        "2",
        "--json",
    ];
    let outs = against_server(&[open, search]);
    let out = &outs[0];
    let text = stdout(out);
    let r: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(r["mode"], "open");
    assert_eq!(r["rate"], 30.0);
    assert_eq!(r["repeat_share"], 0.5);
    assert_eq!(r["calls"], 60, "{r}");
    let (ok, failed) = (r["ok"].as_u64().unwrap(), r["failed"].as_u64().unwrap());
    assert_eq!(ok + failed, 60);
    assert!(ok > 0, "{r}");
    let codes: u64 = r["codes"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(codes, 60);
    assert!(r["cache_hits"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["ok_latency_us"]["count"], ok);
    for h in ["latency_us", "ok_latency_us"] {
        let p = |k: &str| r[h][k].as_u64().unwrap_or_else(|| panic!("{h}.{k}: {r}"));
        assert!(p("p50") <= p("p90") && p("p90") <= p("p99") && p("p99") <= p("p99_9"));
        assert!(p("p99_9") <= p("max") && p("max") > 0, "{r}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("warm-up: 8 questions asked"));

    let text = stdout(&outs[1]);
    let s: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(s["bar"]["p99_ms"], 10000.0);
    assert_eq!(s["bar"]["max_error_share"], 0.01);
    assert!(s["best_rate"].is_null() || s["best_rate"].is_f64(), "{s}");
    let steps = s["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{s}");
    assert_eq!(steps[0]["rate"], 5.0);
    for step in steps {
        let rate = step["rate"].as_f64().unwrap();
        assert_eq!(step["report"]["mode"], "open");
        assert_eq!(
            step["report"]["calls"].as_f64(),
            Some(rate),
            "one second at {rate}/s: {s}"
        );
        assert!(step["met"].is_boolean());
    }
}

#[test]
fn closed_loop_keeps_the_lines_scripts_read() {
    // tools/scripts/attack-overload.sh's readiness probe and deploy/check.sh's Route mix.
    let text = stdout(
        &against_server(&[&[
            "--concurrency",
            "1",
            "--requests",
            "4",
            "--duration",
            "30",
            "--route-every",
            "2",
            "--markdown-row",
        ]])[0],
    );
    for line in ["OK: 2", "Route OK: 2"] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(text.contains("\nsummary calls=4 failed=0 p99_us="), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("| 1 | none | 4 | 4 |")),
        "{text}"
    );
}
