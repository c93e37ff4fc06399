//! `kefu embed` and `kefu similarity`: the encoder from the shell.

use anyhow::{Result, bail};
use kefu_engine::embed::{Backend, Encoder, ModelDir, Precision, cosine};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct EmbedArgs {
    /// Model folder (default: $KEFU_MODEL_DIR, then models/all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Texts to embed; each becomes one output line.
    #[arg(required = true)]
    texts: Vec<String>,
}

#[derive(clap::Args)]
pub struct SimilarityArgs {
    /// Model folder (default: $KEFU_MODEL_DIR, then models/all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<PathBuf>,
    /// First text.
    a: String,
    /// Second text.
    b: String,
}

/// The forward pass and precision `--encoder`/`--precision` chose, set once by `main`
/// before any command runs.
pub static ENCODER: std::sync::OnceLock<(Backend, Precision)> = std::sync::OnceLock::new();

/// Loads the encoder the flags and environment name.
pub fn load_encoder(model: Option<&Path>) -> Result<Box<dyn Encoder>> {
    let path = ModelDir::resolve(model);
    let (backend, precision) = ENCODER.get().copied().unwrap_or_default();
    Ok(kefu_engine::embed::load(&path, backend, precision)?)
}

/// One output line of `kefu embed`, fields in the documented order.
#[derive(serde::Serialize)]
struct EmbeddingLine<'a> {
    text: &'a str,
    dim: usize,
    vector: &'a [f32],
}

pub fn run_embed(args: EmbedArgs) -> Result<ExitCode> {
    let enc = load_encoder(args.model.as_deref())?;
    let texts: Vec<&str> = args.texts.iter().map(String::as_str).collect();
    let vectors = enc.embed(&texts)?;
    let mut out = std::io::stdout().lock();
    for (text, vector) in texts.iter().zip(&vectors) {
        let line = EmbeddingLine {
            text,
            dim: vector.len(),
            vector,
        };
        writeln!(out, "{}", serde_json::to_string(&line)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_similarity(args: SimilarityArgs) -> Result<ExitCode> {
    let enc = load_encoder(args.model.as_deref())?;
    let v = enc.embed(&[&args.a, &args.b])?;
    if v.len() != 2 {
        bail!("encoder returned {} vectors for 2 texts", v.len());
    }
    println!("{:.4}", cosine(&v[0], &v[1]));
    Ok(ExitCode::SUCCESS)
}
