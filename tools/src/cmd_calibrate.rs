//! `kefu calibrate`: the answer-or-handoff calibration of an index version —
//! the curve of precision and coverage against the confidence threshold, and
//! the threshold chosen for the target precision.

use anyhow::{Context, Result};
use kefu_engine::index::Index;
use kefu_engine::resolve::{Calibration, CalibrationParams, Fit, Scoring, calibrate};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Index root or version directory.
    dir: PathBuf,
    /// Fit again with this target precision (default: show the calibration stored at build time).
    #[arg(long)]
    target: Option<f32>,
    /// Fit again assuming this share of out-of-scope traffic (0 to 0.95).
    #[arg(long)]
    oos_share: Option<f32>,
    /// Fit again with this article scoring: `1nn`, `default`, or w1,w2,w3,λ[,β[,c]]
    /// (β, the article discriminant's weight, is 0 when left out; c = 1 centres each locale
    /// across locales, 0 when left out; `default` is 1,0,0,0.5,0.01,1).
    #[arg(long)]
    scoring: Option<String>,
    #[arg(long, default_value_t = 64)]
    ef: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let index = Index::open(&a.dir)?;
    let refit = a.target.is_some() || a.oos_share.is_some() || a.scoring.is_some();
    let fitted;
    let c: &Calibration = if refit {
        let d = CalibrationParams::default();
        let params = CalibrationParams {
            target_precision: a.target.unwrap_or(d.target_precision),
            out_of_scope_share: a.oos_share.unwrap_or(d.out_of_scope_share),
            scoring: match &a.scoring {
                Some(s) => Scoring::parse(s).map_err(anyhow::Error::msg)?,
                None => d.scoring,
            },
            ef: a.ef,
            ..d
        };
        if index
            .manifest()
            .calibration
            .as_ref()
            .is_some_and(|c| c.overall.logged_out_of_scope > 0)
        {
            eprintln!(
                "kefu: note: this fit leaves out the logged out-of-scope questions the build used \
                 (`kefu eval --out-of-scope FILE` refits with them)"
            );
        }
        fitted = calibrate(&index, &params, &[])?
            .context("the index is too small to calibrate (needs two articles, one with two samples)")?;
        &fitted
    } else {
        index.manifest().calibration.as_ref().with_context(|| {
            format!(
                "{} has no calibration: it was built before kefu calibrated indexes; rebuild it, or pass --target to fit one here",
                index.dir().display()
            )
        })?
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(c)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} ({}): scoring {}, target precision {:.0}%, out-of-scope share {:.0}%",
        index.manifest().version,
        index.manifest().model.space.name,
        c.scoring.name(),
        c.target_precision * 100.0,
        c.out_of_scope_share * 100.0
    );
    if let Some(x) = c.cross_lingual {
        println!(
            "cross-lingual agreement {:.0}% (a sample's nearest sample in another locale is its own article's): the centroid {}",
            x * 100.0,
            if c.scoring.across_locales {
                "spans every locale"
            } else {
                "stays in the matched locale"
            }
        );
    }
    print_fit("all locales", &c.overall, c.target_precision);
    for (locale, fit) in &c.by_locale {
        print_fit(&format!("locale {locale}"), fit, c.target_precision);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_fit(name: &str, f: &Fit, target: f32) {
    let logged = match f.logged_out_of_scope {
        0 => String::new(),
        n => format!(", {n} logged out-of-scope questions"),
    };
    println!(
        "\n{name}: {} held-out questions, {} held-out articles{logged}",
        f.held_out_questions, f.held_out_articles
    );
    println!(
        "{:>10} {:>10} {:>10} {:>10}",
        "threshold", "precision", "coverage", "right"
    );
    for p in &f.curve {
        let mark = if p.threshold == f.threshold {
            "  <- chosen"
        } else {
            ""
        };
        println!(
            "{:>10.3} {:>9.1}% {:>9.1}% {:>9.1}%{mark}",
            p.threshold,
            p.precision * 100.0,
            p.coverage * 100.0,
            p.answered_right * 100.0
        );
    }
    if f.target_reached {
        println!(
            "answer threshold {:.3}: the lowest confidence whose estimated precision reaches {:.0}%",
            f.threshold,
            target * 100.0
        );
    } else {
        println!(
            "no threshold reaches {:.0}% precision here: these questions are always handed off \
             (add sample questions, use a model for this language, or lower the target with --target)",
            target * 100.0
        );
    }
}
