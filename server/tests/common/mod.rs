//! Shared by the server's integration tests: the sample KB embedded once per test
//! binary, and a config for a server on loopback with its own index and routing log.
#![allow(dead_code)]

use kefu_engine::embed::BertEncoder;
use kefu_engine::index::{BuildParams, Corpus, build_version};
use kefu_engine::kb::import_file;
use kefu_server::Config;
use std::path::PathBuf;
use std::sync::OnceLock;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The model `make model` fetched, or the one KEFU_MODEL_DIR names (relative to the repo root).
pub fn model_path() -> PathBuf {
    kefu_engine::embed::ModelDir::resolve_in(&repo())
}

/// Where the test binaries share embedded texts (kefu_engine::embed::EmbedCache): the sample
/// KB is embedded once per model for the whole suite, not once per binary.
pub fn embed_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("embed-cache")
}

/// The sample KB, embedded once per test binary.
pub fn corpus() -> &'static Corpus {
    static C: OnceLock<Corpus> = OnceLock::new();
    C.get_or_init(|| {
        let enc = BertEncoder::from_dir(&model_path()).expect("run `make model` first");
        let articles = import_file(&repo().join("datasets/kb.jsonl"), false)
            .unwrap()
            .articles;
        Corpus::embed_via_cache_dir(
            articles,
            &enc,
            32,
            "datasets/kb.jsonl",
            &|_, _, _| {},
            &embed_cache(),
        )
        .unwrap()
        .0
    })
}

/// A temp dir holding a freshly built index (`index/`) and a config serving it on
/// 127.0.0.1:0 with the routing log in `routing/` and no HTTP endpoint.
pub fn setup() -> (tempfile::TempDir, Config) {
    let root = tempfile::tempdir().unwrap();
    build_version(
        &root.path().join("index"),
        corpus(),
        &BuildParams::default(),
        &|_, _, _| {},
    )
    .unwrap();
    let mut c = Config::new(&root.path().join("index"), &model_path());
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.metrics = None;
    c.routing_dir = root.path().join("routing");
    (root, c)
}
