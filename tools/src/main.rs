//! `kefu`: the engineer's command line for kefu's models and indexes.
//!
//! Each subcommand is a thin file over one engine call:
//! - `model`      — which model would load, and its identity
//! - `embed`      — texts to vectors (JSON lines)
//! - `similarity` — cosine of two texts

mod cmd_embed;
mod cmd_model;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// kefu — retrieval and routing engine for customer-service desks.
#[derive(Parser)]
#[command(name = "kefu", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the model folder that would be used, its dimension and checksum.
    Model(cmd_model::Args),
    /// Embed texts and print one JSON object per line: {"text", "dim", "vector"}.
    Embed(cmd_embed::EmbedArgs),
    /// Print the cosine similarity of two texts.
    Similarity(cmd_embed::SimilarityArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KEFU_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Model(a) => cmd_model::run(a),
        Command::Embed(a) => cmd_embed::run_embed(a),
        Command::Similarity(a) => cmd_embed::run_similarity(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kefu: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
