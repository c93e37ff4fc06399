//! `kefu gen`: synthetic corpora, and how they compare with real embeddings.

use crate::cmd_embed::load_encoder;
use anyhow::{Result, bail};
use kefu_engine::embed::Encoder;
use kefu_engine::index::synth::{SynthCorpus, SynthParams, nearest_neighbour_profile};
use kefu_engine::kb::import_file;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct GenArgs {
    /// Vectors to generate.
    #[arg(long, default_value_t = 100_000)]
    points: usize,
    /// Raw little-endian f32 output (points × 384); omit with --check.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Compare the nearest-neighbour similarity profile with real embeddings of this KB.
    #[arg(long, value_name = "KB")]
    check: Option<PathBuf>,
    /// Model folder for --check.
    #[arg(long)]
    model: Option<PathBuf>,
}

pub fn run(a: GenArgs) -> Result<ExitCode> {
    let synth = SynthCorpus::new(SynthParams {
        seed: a.seed,
        ..Default::default()
    });
    let dim = synth.dim();
    if let Some(kb) = &a.check {
        let articles = import_file(kb, false)?.articles;
        let texts: Vec<&str> = articles
            .iter()
            .flat_map(|a| a.samples().map(|s| s.text))
            .collect();
        let enc = load_encoder(a.model.as_deref())?;
        let mut real = Vec::new();
        for chunk in texts.chunks(32) {
            for v in enc.embed(chunk)? {
                real.extend(v);
            }
        }
        let fake = synth.sample(a.points.min(20_000), 0);
        let show = |name: &str, p: (f32, f32, f32, f32)| {
            println!(
                "{name:<28} mean {:.3}  p10 {:.3}  p50 {:.3}  p90 {:.3}",
                p.0, p.1, p.2, p.3
            )
        };
        println!("best cosine to another point:");
        show(
            &format!("real ({} questions)", texts.len()),
            nearest_neighbour_profile(&real, enc.dim(), 500),
        );
        show(
            &format!("synthetic ({} points)", fake.len() / dim),
            nearest_neighbour_profile(&fake, dim, 500),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Some(out) = &a.out else {
        bail!("pass --out FILE (or --check KB)");
    };
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    let chunk = 10_000;
    for start in (0..a.points).step_by(chunk) {
        let n = chunk.min(a.points - start);
        // Stream by chunk index so any prefix of the file is reproducible.
        let v = synth.sample(n, 1_000 + (start / chunk) as u64);
        w.write_all(bytemuck::cast_slice(&v))?;
    }
    w.flush()?;
    println!("wrote {} × {dim} f32 to {}", a.points, out.display());
    Ok(ExitCode::SUCCESS)
}
