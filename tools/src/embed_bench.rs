//! `kefu embed --bench`: the encoder's two figures of merit on a fixed list of texts —
//! one question alone (p50 latency, the interactive path) and batches (questions per
//! second, the build and batcher path) — in the same shape `make bench-peers` reports
//! for onnxruntime, so the two sit side by side.

use anyhow::{Result, ensure};
use kefu_engine::embed::Encoder;
use serde::Serialize;
use std::time::Instant;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// With --bench: single-text calls timed, after one warm-up pass over the texts.
    #[arg(long, default_value_t = 200, requires = "bench")]
    runs: usize,
    /// With --bench: texts per batch call (the list is cycled to fill it).
    #[arg(long, default_value_t = 32, requires = "bench")]
    batch: usize,
    /// With --bench: batch calls timed.
    #[arg(long, default_value_t = 20, requires = "bench")]
    batches: usize,
    /// With --bench: print one JSON object instead of two lines of text.
    #[arg(long, requires = "bench")]
    json: bool,
}

/// What one `--bench` run measured; field names are what bench/peers reads.
#[derive(Serialize)]
pub struct Report {
    /// The `--encoder` forward pass and `--precision`, as `fast:int8`.
    pub encoder: String,
    /// The model folder's name.
    pub model: String,
    pub dim: usize,
    /// `--threads` as given (the encoder's default when absent).
    pub threads: Option<usize>,
    /// Distinct texts cycled through.
    pub texts: usize,
    pub single: Single,
    pub batch: Batch,
}

#[derive(Serialize)]
pub struct Single {
    pub runs: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub mean_ms: f64,
}

#[derive(Serialize)]
pub struct Batch {
    pub size: usize,
    pub calls: usize,
    pub ms_per_call: f64,
    pub questions_per_s: f64,
}

/// Times `enc` on `texts`; `encoder` and `threads` only label the report.
pub fn run(
    enc: &dyn Encoder,
    texts: &[&str],
    a: &BenchArgs,
    encoder: String,
    threads: Option<usize>,
) -> Result<Report> {
    ensure!(!texts.is_empty(), "no texts to time");
    ensure!(
        a.runs > 0 && a.batch > 0 && a.batches > 0,
        "--runs, --batch and --batches must be at least 1"
    );
    let batch: Vec<&str> = texts.iter().cycle().take(a.batch).copied().collect();
    // Warm-up: every text once (tokenizer caches, page faults, thread start), one batch.
    for t in texts {
        enc.embed(&[t])?;
    }
    enc.embed(&batch)?;

    let mut lat = Vec::with_capacity(a.runs);
    for i in 0..a.runs {
        let t = Instant::now();
        enc.embed(&[texts[i % texts.len()]])?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    let pick = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];

    // Each call starts further along the list, so batches differ as the runs do.
    let mut total = 0.0;
    for c in 0..a.batches {
        let b: Vec<&str> = texts
            .iter()
            .cycle()
            .skip(c * a.batch % texts.len())
            .take(a.batch)
            .copied()
            .collect();
        let t = Instant::now();
        enc.embed(&b)?;
        total += t.elapsed().as_secs_f64();
    }
    Ok(Report {
        encoder,
        model: enc.model_id()?.space.name.clone(),
        dim: enc.dim(),
        threads,
        texts: texts.len(),
        single: Single {
            runs: a.runs,
            p50_ms: pick(0.5),
            p90_ms: pick(0.9),
            mean_ms: lat.iter().sum::<f64>() / lat.len() as f64,
        },
        batch: Batch {
            size: a.batch,
            calls: a.batches,
            ms_per_call: total * 1e3 / a.batches as f64,
            questions_per_s: (a.batch * a.batches) as f64 / total,
        },
    })
}

/// Prints the report as `--json` asked.
pub fn print(r: &Report, a: &BenchArgs) -> Result<()> {
    if a.json {
        println!("{}", serde_json::to_string(r)?);
    } else {
        println!(
            "{} ({}, threads {}): one text p50 {:.2} ms, p90 {:.2} ms over {} runs",
            r.encoder,
            r.model,
            r.threads.map_or("default".into(), |t| t.to_string()),
            r.single.p50_ms,
            r.single.p90_ms,
            r.single.runs
        );
        println!(
            "batches of {}: {:.0} questions/s ({:.2} ms per call, {} calls)",
            r.batch.size, r.batch.questions_per_s, r.batch.ms_per_call, r.batch.calls
        );
    }
    Ok(())
}
