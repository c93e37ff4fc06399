//! `kefu`: the engineer's command line for kefu's models and indexes.
//!
//! Each subcommand is a thin file over one engine call:
//! - `model`      — which model would load, and its identity; `model import` converts a packed one
//! - `embed`      — texts to vectors (JSON lines or .npy), or the encoder's timing (`--bench`)
//! - `similarity` — cosine of two texts
//! - `build`      — a KB file to a new index version
//! - `inspect`    — what an index version holds
//! - `verify`     — checksums and graph reachability
//! - `query`      — ask an index a question
//! - `eval`       — ranking and decision quality on labelled questions
//! - `calibrate`  — the answer-or-handoff calibration curve of an index
//! - `bench-recall` — recall of the graph against an exact scan
//! - `gen`        — synthetic corpora for benches
//! - `export`     — an index's vectors as `.npy`, for peer benchmarks

mod cmd_calibrate;
mod cmd_embed;
mod cmd_eval;
mod cmd_export;
mod cmd_gen;
mod cmd_import;
mod cmd_index;
mod cmd_model;
mod cmd_query;
mod embed_bench;
mod logged;
mod npy;
mod progress;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// kefu — retrieval and routing engine for customer-service desks.
#[derive(Parser)]
#[command(name = "kefu", version, about, long_about = None)]
struct Cli {
    /// Forward pass for every command that embeds: `fast` (kefu's own, the default) or
    /// `candle` (the reference); both give the same vectors.
    #[arg(long, global = true, env = "KEFU_ENCODER", default_value = "fast")]
    encoder: kefu_engine::embed::Backend,
    /// Precision of the encoder's linear layers: `f32` (the default) or `int8` (fast
    /// encoder only; searches f32-built indexes of the same model, see docs/performance.md).
    #[arg(long, global = true, env = "KEFU_PRECISION", default_value = "f32")]
    precision: kefu_engine::embed::Precision,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the model folder that would be used, its dimension and checksum; `model import` converts a packed model.
    Model(cmd_model::Args),
    /// Embed texts and print one JSON object per line: {"text", "dim", "vector"}; or write .npy, or time the encoder.
    Embed(cmd_embed::EmbedArgs),
    /// Print the cosine similarity of two texts.
    Similarity(cmd_embed::SimilarityArgs),
    /// Build a new index version from a knowledge-base file and point `current` at it.
    Build(cmd_index::BuildArgs),
    /// Show an index version's manifest, counts, field values and graph degrees.
    Inspect(cmd_index::DirArgs),
    /// Check every file's checksum and that every vector is reachable; non-zero exit on any fault.
    Verify(cmd_index::DirArgs),
    /// Ask an index a question and print the best articles.
    Query(cmd_query::QueryArgs),
    /// Measure ranking (top-1/top-5, MRR) and answer-or-handoff decisions on labelled questions.
    Eval(cmd_eval::EvalArgs),
    /// Print an index's calibration curve: precision and coverage against the confidence threshold.
    Calibrate(cmd_calibrate::Args),
    /// Measure recall@k of the graph search against an exact scan, for several ef.
    BenchRecall(cmd_query::RecallArgs),
    /// Generate synthetic clustered vectors, or compare them with real embeddings (--check).
    Gen(cmd_gen::GenArgs),
    /// Write an index's vectors to a float32 .npy file (row i = point i), with article ids.
    Export(cmd_export::ExportArgs),
}

/// A closed pipe (`kefu calibrate DIR | head`) ends the output quietly, as it does
/// for any Unix tool, instead of a panic in `println!` (Rust ignores SIGPIPE by default).
fn exit_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: runs first in main, before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    exit_quietly_on_closed_pipe();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KEFU_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let _ = cmd_embed::ENCODER.set((cli.encoder, cli.precision));
    let result = match cli.command {
        Command::Model(a) => cmd_model::run(a),
        Command::Embed(a) => cmd_embed::run_embed(a),
        Command::Similarity(a) => cmd_embed::run_similarity(a),
        Command::Build(a) => cmd_index::run_build(a),
        Command::Inspect(a) => cmd_index::run_inspect(a),
        Command::Verify(a) => cmd_index::run_verify(a),
        Command::Query(a) => cmd_query::run_query(a),
        Command::Eval(a) => cmd_eval::run_eval(a),
        Command::Calibrate(a) => cmd_calibrate::run(a),
        Command::BenchRecall(a) => cmd_query::run_bench_recall(a),
        Command::Gen(a) => cmd_gen::run(a),
        Command::Export(a) => cmd_export::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kefu: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
