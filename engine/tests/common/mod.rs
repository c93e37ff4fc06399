//! Shared by the engine's integration tests: the real model, loaded once per test binary.
#![allow(dead_code)]

use kefu_engine::embed::BertEncoder;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The model `make model` fetched, or the one KEFU_MODEL_DIR names (relative to the repo root).
pub fn model_path() -> PathBuf {
    kefu_engine::embed::ModelDir::resolve_in(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// One encoder per test binary: loading is cheap, but not free.
pub fn encoder() -> &'static BertEncoder {
    static ENC: OnceLock<BertEncoder> = OnceLock::new();
    ENC.get_or_init(|| {
        BertEncoder::from_dir(&model_path()).unwrap_or_else(|e| panic!("{e}; run `make model` first"))
    })
}

/// Where the test binaries share embedded texts (kefu_engine::embed::EmbedCache): the sample
/// KB is embedded once per model for the whole suite, not once per binary.
pub fn embed_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("embed-cache")
}

/// The sample knowledge base shipped in datasets/.
pub fn sample_kb() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/kb.jsonl")
}

/// Gives the owner back the write bit a published version's files lack (`chmod u+w`), so a
/// test can damage one in place; root ignores mode bits, other users do not.
pub fn make_writable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut mode = std::fs::metadata(path).unwrap().permissions();
    mode.set_mode(mode.mode() | 0o200);
    std::fs::set_permissions(path, mode).unwrap();
}
