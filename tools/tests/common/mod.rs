//! What the CLI tests share: running the built `kefu` from the repository root.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `kefu args…` from the repository root (where `datasets/` and `models/` are).
pub fn kefu(args: &[&str]) -> Output {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    Command::new(env!("CARGO_BIN_EXE_kefu"))
        .args(args)
        .current_dir(&root)
        .output()
        .expect("run kefu")
}
