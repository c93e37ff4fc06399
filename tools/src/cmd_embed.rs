//! `kefu embed` and `kefu similarity`: the encoder from the shell (vectors as JSON lines
//! or `.npy`, or its timing with `--bench`).

use crate::{embed_bench, npy};
use anyhow::{Context, Result, bail};
use kefu_engine::embed::{Backend, Encoder, FastEncoder, ModelDir, Precision, cosine};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct EmbedArgs {
    /// Model folder (default: $KEFU_MODEL_DIR, then models/all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Texts to embed; each becomes one output line.
    #[arg(required_unless_present = "questions", conflicts_with = "questions")]
    texts: Vec<String>,
    /// Read the texts from FILE instead, one per line (blank lines skipped).
    #[arg(long, value_name = "FILE")]
    questions: Option<PathBuf>,
    /// Write the vectors to FILE.npy (float32, row i = text i) instead of JSON lines.
    #[arg(long, value_name = "FILE.npy", conflicts_with = "bench")]
    out: Option<PathBuf>,
    /// Threads each pass of `--encoder fast` may use (candle sizes its own pool: RAYON_NUM_THREADS).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// Time the encoder on the texts instead of printing vectors.
    #[arg(long)]
    bench: bool,
    #[command(flatten)]
    timing: embed_bench::BenchArgs,
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
    let choice = kefu_engine::embed::Choice {
        backend,
        precision,
        ..Default::default()
    };
    Ok(kefu_engine::embed::load(&path, choice)?)
}

/// One output line of `kefu embed`, fields in the documented order.
#[derive(serde::Serialize)]
struct EmbeddingLine<'a> {
    text: &'a str,
    dim: usize,
    vector: &'a [f32],
}

/// Texts per encoder call when writing `--out`, as a build embeds them.
const OUT_BATCH: usize = 32;

/// The texts of `kefu embed`: its arguments, or the lines of `--questions`.
fn read_texts(args: &EmbedArgs) -> Result<Vec<String>> {
    let Some(path) = &args.questions else {
        return Ok(args.texts.clone());
    };
    let body = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let texts: Vec<String> = body
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect();
    if texts.is_empty() {
        bail!("{} has no texts (one per line)", path.display());
    }
    Ok(texts)
}

/// The encoder with `--threads` applied; only kefu's own pass takes a thread count.
fn load_with_threads(model: Option<&Path>, threads: Option<u16>) -> Result<Box<dyn Encoder>> {
    let Some(threads) = threads else {
        return load_encoder(model);
    };
    match ENCODER.get().copied().unwrap_or_default() {
        (Backend::Fast, precision) => {
            let dir = ModelDir::open(&ModelDir::resolve(model))?;
            Ok(Box::new(
                FastEncoder::load_as(&dir, precision)?.with_threads(threads.into()),
            ))
        }
        (other, _) => {
            bail!("--threads applies to --encoder fast; {other} sizes its own pool (set RAYON_NUM_THREADS)")
        }
    }
}

pub fn run_embed(args: EmbedArgs) -> Result<ExitCode> {
    let owned = read_texts(&args)?;
    let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
    let enc = load_with_threads(args.model.as_deref(), args.threads)?;
    if args.bench {
        let (backend, precision) = ENCODER.get().copied().unwrap_or_default();
        let backend = format!("{backend}:{precision}");
        let threads = args.threads.map(usize::from);
        let report = embed_bench::run(&enc, &texts, &args.timing, backend, threads)?;
        embed_bench::print(&report, &args.timing)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(out) = &args.out {
        let mut flat = Vec::with_capacity(texts.len() * enc.dim());
        for chunk in texts.chunks(OUT_BATCH) {
            for v in enc.embed(chunk)? {
                flat.extend(v);
            }
        }
        npy::write_f32(out, &flat, enc.dim())?;
        println!("wrote {} × {} f32 to {}", texts.len(), enc.dim(), out.display());
        return Ok(ExitCode::SUCCESS);
    }
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
