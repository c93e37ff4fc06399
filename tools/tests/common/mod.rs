//! What the CLI tests share: running the built `kefu` from the repository root.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `kefu args…` from the repository root (where `datasets/` and `models/` are), with
/// the embedding cache every test binary shares (`KEFU_EMBED_CACHE`), so the sample KB is
/// embedded once per model for the whole suite.
pub fn kefu(args: &[&str]) -> Output {
    kefu_with_cache(
        args,
        &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("embed-cache"),
    )
}

/// [`kefu`] with the embedding cache in `cache`.
pub fn kefu_with_cache(args: &[&str], cache: &std::path::Path) -> Output {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    Command::new(env!("CARGO_BIN_EXE_kefu"))
        .args(args)
        .env("KEFU_EMBED_CACHE", cache)
        .current_dir(&root)
        .output()
        .expect("run kefu")
}
