//! The kefu-server binary: starts from flags, serves, and exits 0 on SIGTERM after draining.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Two distinct free ports (both held until both are known, so they differ).
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

#[test]
fn binary_serves_and_exits_cleanly_on_sigterm() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = kefu_engine::embed::ModelDir::resolve_in(&repo);
    let root = tempfile::tempdir().unwrap();
    let enc = kefu_engine::embed::BertEncoder::from_dir(&model).unwrap();
    let articles = kefu_engine::kb::import_file(&repo.join("datasets/kb.jsonl"), false)
        .unwrap()
        .articles;
    let (corpus, _) = kefu_engine::index::Corpus::embed_via_cache_dir(
        articles,
        &enc,
        32,
        "kb",
        &|_, _, _| {},
        &common::embed_cache(),
    )
    .unwrap();
    kefu_engine::index::build_version(root.path(), &corpus, &Default::default(), &|_, _, _| {}).unwrap();

    let (grpc, http) = free_ports();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kefu-server"))
        .args([
            "--index",
            root.path().to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--routing-dir",
            root.path().join("routing").to_str().unwrap(),
        ])
        .args([
            "--listen",
            &format!("127.0.0.1:{grpc}"),
            "--metrics",
            &format!("127.0.0.1:{http}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // SIGTERM as soon as the port answers: the handler is installed before it opens.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        assert!(child.try_wait().unwrap().is_none(), "server exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "exit status {code:?}");
}

#[test]
fn missing_index_flag_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_kefu-server"))
        .env_remove("KEFU_INDEX")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--index"));
}
