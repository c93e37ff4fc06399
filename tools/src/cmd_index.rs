//! `kefu build`, `inspect`, `verify`: making and checking index versions.

use crate::cmd_embed::load_encoder;
use crate::logged;
use crate::progress::Bars;
use anyhow::{Context, Result, bail};
use kefu_engine::embed::ModelId;
use kefu_engine::index::synth::{SynthCorpus, SynthParams};
use kefu_engine::index::{BuildParams, Corpus, Field, Index, build_version, check_m, simd};
use kefu_engine::kb::import_file;
use kefu_engine::resolve::CalibrationParams;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Knowledge base: .jsonl (one article per line) or .csv (one question per row).
    #[arg(long, required_unless_present = "synthetic")]
    kb: Option<PathBuf>,
    /// Index root: the new version is written under it and `current` points at it.
    #[arg(long)]
    out: PathBuf,
    /// Model folder (default: $KEFU_MODEL_DIR, then models/all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Links per node (level 0 gets twice as many), 2 to 128.
    #[arg(long, default_value_t = 16, value_parser = parse_m)]
    m: usize,
    /// Beam width while building: higher is slower and gives better recall.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// Skip bad KB lines with a warning instead of stopping at the first.
    #[arg(long)]
    skip_bad: bool,
    /// Build from N synthetic clustered vectors instead of a KB (for benches).
    #[arg(long, value_name = "N", conflicts_with = "kb")]
    synthetic: Option<usize>,
    /// Seed of the synthetic corpus.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Share of automatic answers that must be right: the calibrated answer threshold
    /// is the lowest confidence that reaches it on held-out sample questions.
    #[arg(long, default_value_t = 0.95)]
    target_precision: f32,
    /// Share of out-of-scope questions assumed in live traffic when calibrating (0 to 0.95).
    #[arg(long, default_value_t = 0.5)]
    oos_share: f32,
    /// The desk's logged handoffs: questions the KB does not answer, one per line
    /// (`#` comments skipped); the calibration counts each as an out-of-scope example.
    #[arg(long, value_name = "FILE", conflicts_with = "synthetic")]
    out_of_scope: Option<PathBuf>,
    /// Folder keeping computed vectors by text and model: a rebuild embeds only the
    /// sample questions that changed (created if missing; a damaged file is ignored;
    /// unused with --synthetic, where nothing is embedded).
    #[arg(long, value_name = "DIR", env = "KEFU_EMBED_CACHE")]
    embed_cache: Option<PathBuf>,
}

/// `--m` is checked by the engine's own rule, so the CLI and a build refuse the same values.
fn parse_m(s: &str) -> Result<usize, String> {
    let m: usize = s
        .parse()
        .map_err(|e| format!("{s:?} is not a whole number: {e}"))?;
    check_m(m)
}

pub fn run_build(a: BuildArgs) -> Result<ExitCode> {
    if !(0.5..=1.0).contains(&a.target_precision) {
        bail!(
            "--target-precision must be between 0.5 and 1, got {}",
            a.target_precision
        );
    }
    if !(0.0..=0.95).contains(&a.oos_share) {
        bail!("--oos-share must be between 0 and 0.95, got {}", a.oos_share);
    }
    let mut params = BuildParams {
        m: a.m,
        ef_construction: a.ef_construction,
        calibration: CalibrationParams {
            target_precision: a.target_precision,
            out_of_scope_share: a.oos_share,
            ..Default::default()
        },
        ..Default::default()
    };
    let bars = Bars::new();
    let corpus = if let Some(n) = a.synthetic {
        let synth = SynthCorpus::new(SynthParams {
            seed: a.seed,
            ..Default::default()
        });
        let model = ModelId::f32("synthetic", format!("seed-{}", a.seed), synth.dim());
        Corpus::from_vectors(
            synth.sample(n, 0),
            synth.dim(),
            model,
            &format!("synthetic:{n}:seed={}", a.seed),
        )
    } else {
        let kb = a.kb.as_ref().expect("clap requires --kb without --synthetic");
        let report = import_file(kb, a.skip_bad)?;
        if !report.skipped.is_empty() {
            eprintln!(
                "kefu: skipped {} bad lines of {}",
                report.skipped.len(),
                kb.display()
            );
        }
        let encoder = load_encoder(a.model.as_deref())?;
        if let Some(path) = &a.out_of_scope {
            params.logged_out_of_scope = logged::embed(path, &encoder)?;
        }
        eprintln!(
            "kefu: embedding {} articles from {}",
            report.articles.len(),
            kb.display()
        );
        let source = kb.display().to_string();
        match &a.embed_cache {
            None => Corpus::embed(
                report.articles,
                &encoder,
                params.embed_batch,
                &source,
                &bars.callback(),
            )?,
            Some(dir) => {
                let (corpus, stats) = Corpus::embed_via_cache_dir(
                    report.articles,
                    &encoder,
                    params.embed_batch,
                    &source,
                    &bars.callback(),
                    dir,
                )?;
                match stats {
                    Some(s) => eprintln!(
                        "kefu: embedding cache {}: {} questions reused, {} embedded",
                        dir.display(),
                        s.hits,
                        s.added
                    ),
                    None => eprintln!(
                        "kefu: embedding cache {} unusable, embedded every question",
                        dir.display()
                    ),
                }
                corpus
            }
        }
    };
    let dir = build_version(&a.out, &corpus, &params, &bars.callback())?;
    bars.finish();
    let index = Index::open(&dir)?;
    let m = index.manifest();
    println!(
        "built {} ({} articles, {} vectors, {:.1}s, {} repaired edges, {} unreachable)",
        dir.display(),
        m.articles,
        m.points,
        m.build_seconds,
        m.repaired_edges,
        m.unreachable_after_repair
    );
    match &m.calibration {
        None => {
            println!("not calibrated (too few articles or samples): Resolve will hand off every question")
        }
        Some(c) => {
            let fits: Vec<String> = std::iter::once(("all", &c.overall))
                .chain(c.by_locale.iter().map(|(l, f)| (l.as_str(), f)))
                .map(|(l, f)| {
                    let covered = f
                        .curve
                        .iter()
                        .find(|p| p.threshold == f.threshold)
                        .map(|p| format!("{:.0}% of held-out questions", p.coverage * 100.0))
                        .unwrap_or_else(|| "none".into());
                    format!("{l} {:.3} ({covered})", f.threshold)
                })
                .collect();
            println!(
                "calibrated for {:.0}% precision: answer thresholds {} — `kefu calibrate {}` shows the curves",
                c.target_precision * 100.0,
                fits.join(", "),
                a.out.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct DirArgs {
    /// Index root (served version via `current`) or one version directory.
    dir: PathBuf,
}

pub fn run_inspect(a: DirArgs) -> Result<ExitCode> {
    let index = Index::open(&a.dir)?;
    let m = index.manifest();
    println!("version:        {}", m.version);
    println!("directory:      {}", index.dir().display());
    println!("format:         {}", m.format_version);
    println!(
        "model:          {} (dim {}, sha256 {})",
        m.model.space.name, m.model.space.dim, m.model.space.sha256
    );
    println!("metric:         {}", m.metric);
    println!("articles:       {}", m.articles);
    println!("vectors:        {}", m.points);
    println!("source:         {}", m.source);
    println!(
        "built:          unix {} in {:.1}s",
        m.created_unix, m.build_seconds
    );
    let g = &m.graph;
    println!(
        "graph:          {} M={} M0={} ef_construction={} levels={} entry={}",
        g.builder,
        g.m,
        g.m0,
        g.ef_construction,
        g.max_level + 1,
        g.entry_point
    );
    let (min, mean, max) = index.graph().degree_stats();
    println!("level-0 degree: min {min}, mean {mean:.1}, max {max}");
    println!(
        "repair:         {} edges added, {} unreachable",
        m.repaired_edges, m.unreachable_after_repair
    );
    println!("dot kernel:     {}", simd::kernel_name());
    for f in Field::ALL {
        let values = index.field_values(f);
        if values.is_empty() {
            continue;
        }
        let shown: Vec<String> = values.iter().take(12).map(|(v, n)| format!("{v}({n})")).collect();
        let more = if values.len() > 12 {
            format!(" …+{}", values.len() - 12)
        } else {
            String::new()
        };
        println!(
            "{:<15} {} values: {}{more}",
            format!("{}:", f.name()),
            values.len(),
            shown.join(" ")
        );
    }
    println!("files:");
    for (name, e) in &m.files {
        println!("  {name:<14} {:>12} bytes  sha256 {}", e.bytes, &e.sha256[..16]);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_verify(a: DirArgs) -> Result<ExitCode> {
    let index = Index::open(&a.dir).with_context(|| format!("verify {}", a.dir.display()))?;
    let r = index
        .verify()
        .with_context(|| format!("verify {}", index.dir().display()))?;
    println!(
        "ok: {} — {} files match their checksums, every vector is unit length and reachable, \
         every posting names a point, {} articles parse ({} vectors)",
        index.dir().display(),
        r.files_checked,
        index.article_count(),
        r.points
    );
    // Not a fault of the served version: reported, and removed by the next build.
    for dir in &r.stale_staging {
        println!(
            "stale staging directory: {} (left by a build that died; the next `kefu build` removes it)",
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
