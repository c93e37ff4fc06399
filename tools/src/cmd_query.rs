//! `kefu query` and `bench-recall`: asking an index questions, and timing its graph.

use crate::cmd_embed::load_encoder;
use anyhow::{Context, Result, bail};
use kefu_engine::embed::Encoder;
use kefu_engine::index::synth::{SynthCorpus, SynthParams};
use kefu_engine::index::{Field, Filter, Index};
use kefu_engine::resolve::{Answerer, Decision, Inquiry, language, text};
use serde::Serialize;
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
pub fn open_with_encoder(
    dir: &std::path::Path,
    model: Option<&std::path::Path>,
) -> Result<(Index, impl Encoder)> {
    let index = Index::open(dir)?;
    let encoder = load_encoder(model)?;
    let id = encoder.model_id()?;
    let built = &index.manifest().model;
    if let Some(why) = id.space_mismatch(built) {
        bail!("{} was {why}; pass --model", index.dir().display());
    }
    Ok((index, encoder))
}

pub fn run_query(a: QueryArgs) -> Result<ExitCode> {
    let filter = parse_filters(&a.filters)?;
    let (index, encoder) = open_with_encoder(&a.dir, a.model.as_deref())?;
    let question = text::normalize(&a.question);
    if !text::has_content(&question) {
        bail!("the question has no letters or digits");
    }
    let t0 = Instant::now();
    let q = encoder.embed(&[&question])?.remove(0);
    let t1 = Instant::now();
    let lang = language::detect(&question, None);
    let answerer = Answerer::new(&index, a.ef);
    let locale_first = !filter.clauses().any(|(f, _)| f == Field::Locale);
    let r = answerer.resolve(
        &q,
        &Inquiry {
            text: &question,
            language: lang.as_ref(),
            filter: filter.clone(),
            locale_first,
            suggestions: a.k,
        },
    )?;
    let t2 = Instant::now();
    for (rank, h) in r.suggestions.iter().enumerate() {
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
        if r.suggestions.is_empty() {
            println!(
                "no articles match{}",
                if filter.is_empty() { "" } else { " the filter" }
            );
        }
        let decision = match r.decision {
            Decision::Answer => "ANSWER",
            Decision::Handoff => "HANDOFF",
        };
        println!(
            "decision: {decision} — {} (confidence {:.3}, threshold {:.3}; language {}{})",
            r.reason.explain(),
            r.confidence,
            r.threshold,
            r.language.as_ref().map(|l| l.code.as_str()).unwrap_or("?"),
            r.matched_locale
                .as_deref()
                .map(|l| format!(", answered from locale {l}"))
                .unwrap_or_default()
        );
        eprintln!(
            "embed {:.2} ms, search and decide {:.3} ms",
            (t1 - t0).as_secs_f64() * 1e3,
            (t2 - t1).as_secs_f64() * 1e3
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct RecallArgs {
    /// Index root or version directory.
    dir: PathBuf,
    /// Queries to sample (ignored with --queries-npy).
    #[arg(long, default_value_t = 500)]
    queries: usize,
    /// Query vectors from a float32 .npy file (rows × dim), e.g. from `kefu embed --out`.
    #[arg(long, value_name = "FILE.npy")]
    queries_npy: Option<PathBuf>,
    /// Write the query vectors used to FILE.npy, so other libraries can search the same ones.
    #[arg(long, value_name = "FILE.npy")]
    save_queries: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Beam widths to measure.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256")]
    ef: Vec<usize>,
    /// Seed of the synthetic generator, for indexes built with --synthetic (held-out queries).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// One beam width's figures in `bench-recall --json`.
#[derive(Serialize)]
struct RecallRow {
    ef: usize,
    recall: f64,
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
}

/// `bench-recall --json`: the graph's parameters with the figures, so peers can be built alike.
#[derive(Serialize)]
struct RecallReport {
    points: usize,
    dim: usize,
    queries: usize,
    k: usize,
    m: usize,
    m0: usize,
    ef_construction: usize,
    exact_us: f64,
    rows: Vec<RecallRow>,
}

/// The query vectors: from --queries-npy, or held out from the index's own distribution.
fn recall_queries(index: &Index, a: &RecallArgs) -> Result<Vec<f32>> {
    let dim = index.dim();
    if let Some(path) = &a.queries_npy {
        let (q, qdim) = crate::npy::read_f32(path)?;
        if qdim != dim {
            bail!(
                "{} holds vectors of dimension {qdim}; {} has {dim}",
                path.display(),
                index.dir().display()
            );
        }
        if q.is_empty() {
            bail!("{} holds no vectors", path.display());
        }
        return Ok(q);
    }
    if index.manifest().model.space.name == "synthetic" {
        // Held-out points of the same distribution the corpus was drawn from.
        return Ok(SynthCorpus::new(SynthParams {
            seed: a.seed,
            ..Default::default()
        })
        .sample(a.queries, 1));
    }
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
    Ok(out)
}

pub fn run_bench_recall(a: RecallArgs) -> Result<ExitCode> {
    let index = Index::open(&a.dir)?;
    let dim = index.dim();
    let queries = recall_queries(&index, &a)?;
    if let Some(path) = &a.save_queries {
        crate::npy::write_f32(path, &queries, dim)?;
    }
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
    if !a.json {
        println!(
            "{} vectors, {} queries, k={}; exact scan {:.0} µs/query",
            index.points(),
            nq,
            a.k,
            exact_us
        );
        println!("{:>6} {:>10} {:>10} {:>10}", "ef", "recall", "mean µs", "p99 µs");
    }
    // Warm-up at the widest beam: the first walk pages the mapped graph and vectors in.
    let widest = a.ef.iter().copied().max().unwrap_or(a.k);
    for q in queries.chunks(dim) {
        index.graph_points(q, a.k, widest)?;
    }
    let mut rows = Vec::with_capacity(a.ef.len());
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
        let at = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize];
        let row = RecallRow {
            ef,
            recall: found as f64 / (nq * a.k).max(1) as f64,
            mean_us: lat.iter().sum::<f64>() / lat.len() as f64,
            p50_us: at(0.5),
            p99_us: at(0.99),
        };
        if !a.json {
            println!(
                "{ef:>6} {:>10.4} {:>10.1} {:>10.1}",
                row.recall, row.mean_us, row.p99_us
            );
        }
        rows.push(row);
    }
    if a.json {
        let g = &index.manifest().graph;
        let report = RecallReport {
            points: index.points(),
            dim,
            queries: nq,
            k: a.k,
            m: g.m,
            m0: g.m0,
            ef_construction: g.ef_construction,
            exact_us,
            rows,
        };
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}
