//! `kefu eval`: how well an index answers labelled questions — ranking (top-1,
//! top-5, MRR) and the answer-or-handoff decision (precision of automatic
//! answers, coverage, out-of-scope handoff) — overall, per category and per
//! language, with plain 1-NN and one threshold beside it as the baseline.

use crate::cmd_query::open_with_encoder;
use crate::logged;
use anyhow::{Context, Result, bail};
use kefu_engine::embed::Encoder;
use kefu_engine::index::Index;
use kefu_engine::resolve::{
    Answerer, Calibration, CalibrationParams, Decision, Inquiry, Scoring, calibrate, language, text,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Index root or version directory.
    dir: PathBuf,
    /// JSON lines: {"question", "expected": id | null, "lang"?, "human"?, "upset"?}.
    #[arg(long)]
    queries: PathBuf,
    #[arg(long, default_value_t = 64)]
    ef: usize,
    /// Model folder (default: $KEFU_MODEL_DIR, then models/all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Also print plain 1-NN with one threshold on its top score, tuned on this set
    /// for the same precision kefu reached (a generous baseline).
    #[arg(long)]
    baseline: bool,
    /// Re-calibrate in memory with this article scoring: `1nn`, `default`, or w1,w2,w3,λ[,β[,c]]
    /// (β, the article discriminant's weight, is 0 when left out; c = 1 centres each locale
    /// across locales, 0 when left out; `default` is 1,0,0,0.5,0.01,1).
    #[arg(long)]
    scoring: Option<String>,
    /// Re-calibrate in memory for this target precision.
    #[arg(long)]
    target: Option<f32>,
    /// Re-calibrate in memory assuming this share of out-of-scope traffic.
    #[arg(long)]
    oos_share: Option<f32>,
    /// Re-calibrate in memory with these logged handoffs as extra out-of-scope
    /// examples (one question per line), as `kefu build --out-of-scope` does.
    #[arg(long, value_name = "FILE")]
    out_of_scope: Option<PathBuf>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Print every wrong decision.
    #[arg(long)]
    verbose: bool,
    /// Write one JSON line per question (decision, confidence, top articles) to this file.
    #[arg(long, value_name = "FILE")]
    dump: Option<PathBuf>,
}

/// One line of `--dump`.
#[derive(Serialize)]
struct DumpLine<'a> {
    question: &'a str,
    expected: Option<&'a str>,
    wants_handoff: bool,
    decision: &'static str,
    reason: &'static str,
    confidence: f32,
    top: Vec<(&'a str, f32)>,
    nn_top: Option<(&'a str, f32)>,
    language: Option<&'a str>,
}

/// One labelled question.
#[derive(Deserialize)]
struct Case {
    question: String,
    expected: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    human: bool,
    #[serde(default)]
    upset: bool,
}

impl Case {
    /// Whether the right decision is to hand off whatever the KB holds.
    fn wants_handoff(&self) -> bool {
        self.expected.is_none() || self.human || self.upset
    }
}

/// What one question got.
struct Outcome {
    /// Rank of the expected article among the top five (0 = first).
    rank: Option<usize>,
    answered: bool,
    answered_right: bool,
    /// 1-NN: the top article and its score, for the baseline.
    nn_top_right: bool,
    nn_rank: Option<usize>,
    nn_score: f32,
}

/// Sums for one group of questions (overall, a category, a language).
#[derive(Default, Serialize, Clone)]
struct Tally {
    questions: usize,
    in_scope: usize,
    top1: usize,
    top5: usize,
    rr: f64,
    answered: usize,
    answered_right: usize,
    in_scope_answered: usize,
    out_of_scope: usize,
    out_of_scope_handed_off: usize,
    special: usize,
    special_handed_off: usize,
}

impl Tally {
    fn add(&mut self, case: &Case, o: &Outcome) {
        self.questions += 1;
        if o.answered {
            self.answered += 1;
            self.answered_right += o.answered_right as usize;
        }
        if case.human || case.upset {
            self.special += 1;
            self.special_handed_off += (!o.answered) as usize;
        }
        match &case.expected {
            None => {
                self.out_of_scope += 1;
                self.out_of_scope_handed_off += (!o.answered) as usize;
            }
            Some(_) if !(case.human || case.upset) => {
                self.in_scope += 1;
                self.in_scope_answered += o.answered as usize;
                if let Some(r) = o.rank {
                    self.top1 += (r == 0) as usize;
                    self.top5 += 1;
                    self.rr += 1.0 / (r + 1) as f64;
                }
            }
            Some(_) => {}
        }
    }

    fn row(&self) -> Row {
        let pct = |a: usize, b: usize| (b > 0).then(|| 100.0 * a as f64 / b as f64);
        Row {
            questions: self.questions,
            in_scope: self.in_scope,
            top1: pct(self.top1, self.in_scope),
            top5: pct(self.top5, self.in_scope),
            mrr: (self.in_scope > 0).then(|| self.rr / self.in_scope as f64),
            precision: pct(self.answered_right, self.answered),
            coverage: pct(self.in_scope_answered, self.in_scope),
            answered_right: pct(self.answered_right, self.in_scope),
            out_of_scope: self.out_of_scope,
            out_of_scope_handoff: pct(self.out_of_scope_handed_off, self.out_of_scope),
            human_or_upset_handoff: pct(self.special_handed_off, self.special),
        }
    }
}

/// One printed row; percentages are `None` where the group has no such questions.
#[derive(Serialize)]
struct Row {
    questions: usize,
    in_scope: usize,
    top1: Option<f64>,
    top5: Option<f64>,
    mrr: Option<f64>,
    /// Share of automatic answers that were right.
    precision: Option<f64>,
    /// Share of in-scope questions answered automatically.
    coverage: Option<f64>,
    /// Share of in-scope questions answered automatically and right.
    answered_right: Option<f64>,
    out_of_scope: usize,
    out_of_scope_handoff: Option<f64>,
    human_or_upset_handoff: Option<f64>,
}

#[derive(Serialize)]
struct Report {
    index: String,
    model: String,
    scoring: String,
    /// The overall answer threshold, and each locale's own.
    threshold: f32,
    thresholds_by_locale: BTreeMap<String, f32>,
    target_precision: Option<f32>,
    overall: Row,
    by_category: BTreeMap<String, Row>,
    by_language: BTreeMap<String, Row>,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<Baseline>,
}

/// Plain 1-NN with one threshold on its top score.
#[derive(Serialize)]
struct Baseline {
    threshold: f32,
    top1: f64,
    top5: f64,
    precision: Option<f64>,
    coverage: f64,
    answered_right: f64,
    out_of_scope_handoff: Option<f64>,
}

pub fn run_eval(a: EvalArgs) -> Result<ExitCode> {
    let (index, encoder) = open_with_encoder(&a.dir, a.model.as_deref())?;
    let cases = read_cases(&a.queries, &index)?;
    let recalibrated = recalibrate(&index, &encoder, &a)?;
    let calibration = match &recalibrated {
        Some(c) => Some(c.as_ref()),
        None => index.manifest().calibration.as_ref(),
    };
    if calibration.is_none() {
        eprintln!(
            "kefu: warning: {} has no calibration (rebuild it with this kefu); every question is handed off",
            index.dir().display()
        );
    }
    let answerer = Answerer::new(&index, a.ef).with_calibration(calibration);
    let one_nn = Answerer::new(&index, a.ef).with_scoring(Scoring::ONE_NN);

    let texts: Vec<String> = cases.iter().map(|c| text::normalize(&c.question)).collect();
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(32) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        vectors.extend(encoder.embed(&refs)?);
    }

    let mut dump = match &a.dump {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("create {}", p.display()))?,
        )),
        None => None,
    };
    let mut outcomes = Vec::with_capacity(cases.len());
    for ((case, text), q) in cases.iter().zip(&texts).zip(&vectors) {
        let lang = language::detect(text, None);
        let inquiry = Inquiry {
            text,
            language: lang.as_ref(),
            locale_first: true,
            suggestions: 5,
            ..Default::default()
        };
        let r = answerer.resolve(q, &inquiry)?;
        let want = case.expected.as_deref();
        let rank = want.and_then(|w| r.suggestions.iter().position(|h| h.article.id == w));
        let nn = one_nn.search(q, 5, None)?;
        let nn_rank = want.and_then(|w| nn.iter().position(|h| h.article.id == w));
        let answered = r.decision == Decision::Answer;
        let o = Outcome {
            rank,
            answered,
            answered_right: answered && !case.wants_handoff() && rank == Some(0),
            nn_top_right: nn_rank == Some(0) && !case.wants_handoff(),
            nn_rank,
            nn_score: nn.first().map(|h| h.score).unwrap_or(f32::MIN),
        };
        if let Some(w) = dump.as_mut() {
            use std::io::Write;
            let line = DumpLine {
                question: &case.question,
                expected: want,
                wants_handoff: case.wants_handoff(),
                decision: if answered { "answer" } else { "handoff" },
                reason: r.reason.name(),
                confidence: r.confidence,
                top: r
                    .suggestions
                    .iter()
                    .map(|h| (h.article.id.as_str(), h.score))
                    .collect(),
                nn_top: nn.first().map(|h| (h.article.id.as_str(), h.score)),
                language: r.language.as_ref().map(|l| l.code.as_str()),
            };
            writeln!(w, "{}", serde_json::to_string(&line)?)?;
        }
        if a.verbose && (answered == case.wants_handoff() || (answered && !o.answered_right)) {
            println!(
                "wrong: {:?} expected {} got {} {} ({}, confidence {:.3})",
                case.question,
                want.unwrap_or("handoff"),
                if answered { "ANSWER" } else { "HANDOFF" },
                r.suggestions
                    .first()
                    .map(|h| h.article.id.as_str())
                    .unwrap_or("-"),
                r.reason.name(),
                r.confidence
            );
        }
        outcomes.push(o);
    }

    let mut overall = Tally::default();
    let mut by_category: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_language: BTreeMap<String, Tally> = BTreeMap::new();
    for (case, o) in cases.iter().zip(&outcomes) {
        overall.add(case, o);
        let category = match &case.expected {
            None => "(out of scope)".to_string(),
            Some(id) => index
                .article_index(id)
                .and_then(|i| index.article(i).ok())
                .and_then(|a| a.category)
                .unwrap_or_else(|| "(none)".into()),
        };
        let category = if case.human || case.upset {
            "(human or upset)".to_string()
        } else {
            category
        };
        by_category.entry(category).or_default().add(case, o);
        let lang = case.lang.clone().unwrap_or_else(|| "?".into());
        by_language.entry(lang).or_default().add(case, o);
    }
    let baseline = a
        .baseline
        .then(|| baseline(&cases, &outcomes, overall.row().precision.unwrap_or(100.0)));
    let report = Report {
        index: index.manifest().version.clone(),
        model: index.manifest().model.space.name.clone(),
        scoring: answerer.scoring().name(),
        threshold: answerer.threshold(None),
        thresholds_by_locale: calibration
            .map(|c| {
                c.by_locale
                    .iter()
                    .map(|(l, f)| (l.clone(), f.threshold))
                    .collect()
            })
            .unwrap_or_default(),
        target_precision: calibration.map(|c| c.target_precision),
        overall: overall.row(),
        by_category: by_category.iter().map(|(k, t)| (k.clone(), t.row())).collect(),
        by_language: by_language.iter().map(|(k, t)| (k.clone(), t.row())).collect(),
        baseline,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads and checks the eval file; errors name the file and line.
fn read_cases(path: &Path, index: &Index) -> Result<Vec<Case>> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut cases = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let case: Case = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: invalid eval line", path.display(), i + 1))?;
        if let Some(id) = &case.expected
            && index.article_index(id).is_none()
        {
            bail!(
                "{}:{}: expected article {id:?} is not in the index",
                path.display(),
                i + 1
            );
        }
        cases.push(case);
    }
    if cases.is_empty() {
        bail!("{}: no questions", path.display());
    }
    Ok(cases)
}

/// A calibration fitted in memory when the flags ask for other settings than the manifest's.
fn recalibrate(index: &Index, encoder: &dyn Encoder, a: &EvalArgs) -> Result<Option<Box<Calibration>>> {
    if a.scoring.is_none() && a.target.is_none() && a.oos_share.is_none() && a.out_of_scope.is_none() {
        return Ok(None);
    }
    let logged = match &a.out_of_scope {
        Some(path) => logged::embed(path, encoder)?,
        None => Vec::new(),
    };
    let mut p = CalibrationParams {
        ef: a.ef,
        ..CalibrationParams::default()
    };
    if let Some(s) = &a.scoring {
        p.scoring = Scoring::parse(s).map_err(anyhow::Error::msg)?;
    }
    if let Some(t) = a.target {
        p.target_precision = t;
    }
    if let Some(s) = a.oos_share {
        p.out_of_scope_share = s;
    }
    let c = calibrate(index, &p, &logged)?.context("the index is too small to calibrate")?;
    Ok(Some(Box::new(c)))
}

/// The best single threshold on the 1-NN top score reaching `precision` on this set.
fn baseline(cases: &[Case], outcomes: &[Outcome], precision: f64) -> Baseline {
    let in_scope = cases.iter().filter(|c| !c.wants_handoff()).count().max(1);
    let oos = cases.iter().filter(|c| c.expected.is_none()).count();
    let nn_top1 = outcomes
        .iter()
        .zip(cases)
        .filter(|(o, c)| !c.wants_handoff() && o.nn_rank == Some(0))
        .count();
    let nn_top5 = outcomes
        .iter()
        .zip(cases)
        .filter(|(o, c)| !c.wants_handoff() && o.nn_rank.is_some())
        .count();
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by(|&x, &y| outcomes[y].nn_score.total_cmp(&outcomes[x].nn_score));
    // Walk thresholds from high to low; keep the lowest that holds the precision.
    let (mut answered, mut right, mut in_answered, mut oos_answered) = (0usize, 0usize, 0usize, 0usize);
    let mut best = (f32::INFINITY, 0usize, 0usize, 0usize, 0usize);
    for (i, &j) in order.iter().enumerate() {
        answered += 1;
        right += outcomes[j].nn_top_right as usize;
        in_answered += (!cases[j].wants_handoff()) as usize;
        oos_answered += cases[j].expected.is_none() as usize;
        let tie = order
            .get(i + 1)
            .is_some_and(|&n| outcomes[n].nn_score == outcomes[j].nn_score);
        if !tie && 100.0 * right as f64 / answered as f64 >= precision {
            best = (outcomes[j].nn_score, answered, right, in_answered, oos_answered);
        }
    }
    let (threshold, answered, right, in_answered, oos_answered) = best;
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    Baseline {
        threshold,
        top1: pct(nn_top1, in_scope),
        top5: pct(nn_top5, in_scope),
        precision: (answered > 0).then(|| pct(right, answered)),
        coverage: pct(in_answered, in_scope),
        answered_right: pct(right, in_scope),
        out_of_scope_handoff: (oos > 0).then(|| pct(oos - oos_answered, oos)),
    }
}

fn print_report(r: &Report) {
    let per_locale: Vec<String> = r
        .thresholds_by_locale
        .iter()
        .map(|(l, t)| format!("{l} {t:.3}"))
        .collect();
    println!(
        "index {} ({}), scoring {}, answer threshold {:.3}{}{}",
        r.index,
        r.model,
        r.scoring,
        r.threshold,
        if per_locale.is_empty() {
            String::new()
        } else {
            format!(" ({})", per_locale.join(", "))
        },
        r.target_precision
            .map(|t| format!(", calibrated for {:.0}% precision", t * 100.0))
            .unwrap_or_default()
    );
    let f = |x: Option<f64>| x.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
    println!(
        "{:<22} {:>5} {:>6} {:>6} {:>6} {:>6} {:>9} {:>8} {:>8} {:>5} {:>8} {:>8}",
        "group",
        "n",
        "inscp",
        "top1%",
        "top5%",
        "MRR",
        "precis.%",
        "cover.%",
        "right%",
        "oos",
        "oos-ho%",
        "hum/up%"
    );
    let line = |name: &str, row: &Row| {
        println!(
            "{:<22} {:>5} {:>6} {:>6} {:>6} {:>6} {:>9} {:>8} {:>8} {:>5} {:>8} {:>8}",
            name,
            row.questions,
            row.in_scope,
            f(row.top1),
            f(row.top5),
            row.mrr.map(|m| format!("{m:.3}")).unwrap_or_else(|| "-".into()),
            f(row.precision),
            f(row.coverage),
            f(row.answered_right),
            row.out_of_scope,
            f(row.out_of_scope_handoff),
            f(row.human_or_upset_handoff)
        );
    };
    line("overall", &r.overall);
    for (k, row) in &r.by_category {
        line(&format!("category {k}"), row);
    }
    for (k, row) in &r.by_language {
        line(&format!("language {k}"), row);
    }
    if let Some(b) = &r.baseline {
        println!(
            "baseline 1-NN, one threshold ({:.3}) tuned on this set for the same precision:\n\
             {:<22} {:>5} {:>6} {:>6} {:>6} {:>6} {:>9} {:>8} {:>8} {:>5} {:>8}",
            b.threshold,
            "overall (1-NN)",
            r.overall.questions,
            r.overall.in_scope,
            format!("{:.1}", b.top1),
            format!("{:.1}", b.top5),
            "-",
            f(b.precision),
            format!("{:.1}", b.coverage),
            format!("{:.1}", b.answered_right),
            r.overall.out_of_scope,
            f(b.out_of_scope_handoff)
        );
    }
    println!(
        "precision: automatic answers that were right; coverage: in-scope questions answered; \
         right: in-scope answered right; oos-ho: out-of-scope handed off; hum/up: asked for a person or upset, handed off"
    );
}
