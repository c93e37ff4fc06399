//! `kefu query`, `eval`, `bench-recall`: asking an index questions.

use crate::cmd_embed::load_encoder;
use anyhow::{Context, Result, bail};
use kefu_engine::embed::Encoder;
use kefu_engine::index::synth::{SynthCorpus, SynthParams};
use kefu_engine::index::{Filter, Index};
use serde::{Deserialize, Serialize};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct QueryArgs {
    /// Index root or version directory.
    dir: PathBuf,
    /// The customer's question.
    question: String,
    /// Articles to return.
    #[arg(long, default_value_t = 5)]
    k: usize,
    /// Search beam width (higher: better recall, slower).
    #[arg(long, default_value_t = 64)]
    ef: usize,
    /// Metadata filter FIELD=VALUE[,VALUE…] (fields: category, locale, market, tag); repeat to AND.
    #[arg(long = "filter", value_name = "FIELD=VALUES")]
    filters: Vec<String>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    /// Model folder (default: $KEFU_MODEL_DIR, then models/all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<PathBuf>,
}

#[derive(Serialize)]
struct QueryHit<'a> {
    rank: usize,
    article: &'a str,
    score: f32,
    title: Option<&'a str>,
    matched_question: &'a str,
    answer: &'a str,
}

/// Builds a filter from repeated `--filter` flags.
pub fn parse_filters(exprs: &[String]) -> Result<Filter> {
    let mut f = Filter::new();
    for e in exprs {
        f.add_expr(e).with_context(|| format!("--filter {e}"))?;
    }
    Ok(f)
}

/// Opens an index and an encoder that produced the same vectors.
fn open_with_encoder(
    dir: &std::path::Path,
    model: Option<&std::path::Path>,
) -> Result<(Index, impl Encoder)> {
    let index = Index::open(dir)?;
    let encoder = load_encoder(model)?;
    let id = encoder.model_id()?;
    let built = &index.manifest().model;
    if id.sha256 != built.sha256 || id.dim != built.dim {
        bail!(
            "{} was built with model {} (sha256 {}…), but the loaded model is {} (sha256 {}…); pass --model",
            index.dir().display(),
            built.name,
            built.sha256.get(..12).unwrap_or(&built.sha256),
            id.name,
            &id.sha256[..12]
        );
    }
    Ok((index, encoder))
}

pub fn run_query(a: QueryArgs) -> Result<ExitCode> {
    let filter = parse_filters(&a.filters)?;
    let (index, encoder) = open_with_encoder(&a.dir, a.model.as_deref())?;
    let t0 = Instant::now();
    let q = encoder.embed(&[&a.question])?.remove(0);
    let t1 = Instant::now();
    let hits = index.search(&q, a.k, a.ef, Some(&filter))?;
    let t2 = Instant::now();
    for (rank, hit) in hits.iter().enumerate() {
        let h = index.resolve(hit)?;
        if a.json {
            let line = QueryHit {
                rank: rank + 1,
                article: &h.article.id,
                score: h.score,
                title: h.article.title.as_deref(),
                matched_question: &h.matched_question,
                answer: &h.article.answer,
            };
            println!("{}", serde_json::to_string(&line)?);
        } else {
            println!(
                "{:>2}. {:.3}  {:<12} {}\n               matched: {}",
                rank + 1,
                h.score,
                h.article.id,
                h.article.title.as_deref().unwrap_or(""),
                h.matched_question
            );
        }
    }
    if !a.json {
        if hits.is_empty() {
            println!(
                "no articles match{}",
                if filter.is_empty() { "" } else { " the filter" }
            );
        }
        eprintln!(
            "embed {:.2} ms, search {:.3} ms",
            (t1 - t0).as_secs_f64() * 1e3,
            (t2 - t1).as_secs_f64() * 1e3
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Index root or version directory.
    dir: PathBuf,
    /// JSON lines: {"question": "...", "expected": "article-id" | null}.
    #[arg(long)]
    queries: PathBuf,
    #[arg(long, default_value_t = 64)]
    ef: usize,
    /// Model folder (default: $KEFU_MODEL_DIR, then models/all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Print every miss.
    #[arg(long)]
    verbose: bool,
}

#[derive(Deserialize)]
struct EvalLine {
    question: String,
    expected: Option<String>,
}

pub fn run_eval(a: EvalArgs) -> Result<ExitCode> {
    let (index, encoder) = open_with_encoder(&a.dir, a.model.as_deref())?;
    let file = std::fs::File::open(&a.queries).with_context(|| format!("open {}", a.queries.display()))?;
    let mut cases = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}", a.queries.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let case: EvalLine = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: invalid eval line", a.queries.display(), i + 1))?;
        if let Some(id) = &case.expected
            && index.article_index(id).is_none()
        {
            bail!(
                "{}:{}: expected article {id:?} is not in the index",
                a.queries.display(),
                i + 1
            );
        }
        cases.push(case);
    }
    let (mut answerable, mut top1, mut top5, mut rr) = (0usize, 0usize, 0usize, 0f64);
    let (mut in_scope_scores, mut oos_scores) = (Vec::new(), Vec::new());
    for case in &cases {
        let q = encoder.embed(&[&case.question])?.remove(0);
        let hits = index.search(&q, 5, a.ef, None)?;
        let best = hits.first().map(|h| h.score).unwrap_or(0.0);
        let Some(expected) = &case.expected else {
            oos_scores.push(best);
            continue;
        };
        answerable += 1;
        in_scope_scores.push(best);
        let want = index.article_index(expected);
        let rank = hits.iter().position(|h| Some(h.article) == want);
        if let Some(r) = rank {
            top1 += (r == 0) as usize;
            top5 += 1;
            rr += 1.0 / (r + 1) as f64;
        }
        if a.verbose && rank != Some(0) {
            let got = hits
                .first()
                .map(|h| index.article(h.article))
                .transpose()?
                .map(|x| x.id);
            println!(
                "miss: {:?} expected {expected}, got {:?} (rank {:?})",
                case.question,
                got,
                rank.map(|r| r + 1)
            );
        }
    }
    let pct = |x: usize| 100.0 * x as f64 / answerable.max(1) as f64;
    println!(
        "questions:        {} ({} answerable, {} out of scope)",
        cases.len(),
        answerable,
        oos_scores.len()
    );
    println!("top-1 accuracy:   {:.1}%", pct(top1));
    println!("top-5 accuracy:   {:.1}%", pct(top5));
    println!("MRR@5:            {:.3}", rr / answerable.max(1) as f64);
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    if !in_scope_scores.is_empty() {
        println!("mean top score:   {:.3} answerable", mean(&in_scope_scores));
    }
    if !oos_scores.is_empty() {
        println!("                  {:.3} out of scope", mean(&oos_scores));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct RecallArgs {
    /// Index root or version directory.
    dir: PathBuf,
    /// Queries to sample.
    #[arg(long, default_value_t = 500)]
    queries: usize,
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Beam widths to measure.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256")]
    ef: Vec<usize>,
    /// Seed of the synthetic generator, for indexes built with --synthetic (held-out queries).
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn run_bench_recall(a: RecallArgs) -> Result<ExitCode> {
    let index = Index::open(&a.dir)?;
    let dim = index.dim();
    let queries: Vec<f32> = if index.manifest().model.name == "synthetic" {
        // Held-out points of the same distribution the corpus was drawn from.
        SynthCorpus::new(SynthParams {
            seed: a.seed,
            ..Default::default()
        })
        .sample(a.queries, 1)
    } else {
        // Stored vectors nudged off their point, so the query is not in the index.
        let v = index.vectors();
        let n = index.points();
        let mut out = Vec::with_capacity(a.queries * dim);
        for i in 0..a.queries {
            let p = ((i as u64 * 2_654_435_761) % n as u64) as u32;
            let row = v.row(p);
            let other = v.row(((p as u64 + 1) % n as u64) as u32);
            let mut q: Vec<f32> = row.iter().zip(other).map(|(x, y)| 0.9 * x + 0.1 * y).collect();
            let norm = q.iter().map(|x| x * x).sum::<f32>().sqrt();
            q.iter_mut().for_each(|x| *x /= norm);
            out.extend(q);
        }
        out
    };
    let nq = queries.len() / dim;
    let t = Instant::now();
    let truth: Vec<Vec<u32>> = queries
        .chunks(dim)
        .map(|q| {
            index
                .exact_points(q, a.k)
                .map(|r| r.into_iter().map(|x| x.1).collect())
        })
        .collect::<Result<_, _>>()?;
    let exact_us = t.elapsed().as_secs_f64() * 1e6 / nq as f64;
    println!(
        "{} vectors, {} queries, k={}; exact scan {:.0} µs/query",
        index.points(),
        nq,
        a.k,
        exact_us
    );
    println!("{:>6} {:>10} {:>10} {:>10}", "ef", "recall", "mean µs", "p99 µs");
    for &ef in &a.ef {
        let mut lat = Vec::with_capacity(nq);
        let mut found = 0usize;
        for (q, want) in queries.chunks(dim).zip(&truth) {
            let t = Instant::now();
            let got = index.graph_points(q, a.k, ef)?;
            lat.push(t.elapsed().as_secs_f64() * 1e6);
            found += got.iter().filter(|(_, p)| want.contains(p)).count();
        }
        lat.sort_by(|x, y| x.total_cmp(y));
        let mean = lat.iter().sum::<f64>() / lat.len() as f64;
        let p99 = lat[((lat.len() - 1) as f64 * 0.99) as usize];
        println!(
            "{ef:>6} {:>10.4} {mean:>10.1} {p99:>10.1}",
            found as f64 / (nq * a.k).max(1) as f64
        );
    }
    Ok(ExitCode::SUCCESS)
}
