//! Confidence: how likely the top article is the right answer, from its score,
//! its margin over the best other article, and whether the nearest sample agrees.
//!
//! The map from those features to a probability is a logistic model fitted per
//! index at build time ([`super::calibrate`]); the threshold that reaches the
//! target precision is stored beside it in the manifest, with the curve it was
//! read from. Score scales differ between models (E5 cosines sit high and close
//! together, MiniLM's spread wide), so nothing here is a hard-coded score.

use super::rank::{ArticleScore, Scoring};
use serde::{Deserialize, Serialize};

/// What the confidence is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features {
    /// The top article's score.
    pub score: f32,
    /// Its lead over the second article (its own score when there is none).
    pub margin: f32,
    /// 1 when the top article also holds the single nearest sample, else 0.
    pub agree: f32,
}

impl Features {
    /// Features of a ranked candidate list (best first); `None` when it is empty.
    pub fn of(ranked: &[ArticleScore]) -> Option<Features> {
        let top = ranked.first()?;
        let second = ranked.get(1).map(|s| s.score).unwrap_or(0.0);
        let nearest = ranked.iter().max_by(|a, b| a.best.total_cmp(&b.best))?;
        Some(Features {
            score: top.score,
            margin: (top.score - second).max(0.0),
            agree: if nearest.article == top.article { 1.0 } else { 0.0 },
        })
    }

    fn as_array(&self) -> [f32; 3] {
        [self.score, self.margin, self.agree]
    }
}

/// A logistic model over [`Features`]: p = σ(bias + w·x).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub bias: f32,
    /// Weights of score, margin and agreement.
    pub weights: [f32; 3],
}

impl Logistic {
    /// The probability that the top article is right.
    pub fn confidence(&self, f: &Features) -> f32 {
        let z = self.bias
            + self
                .weights
                .iter()
                .zip(f.as_array())
                .map(|(w, x)| w * x)
                .sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }
}

/// One row of the calibration curve: what answering at `threshold` would do.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub threshold: f32,
    /// Share of automatic answers that are right (held-out questions and articles mixed).
    pub precision: f32,
    /// Share of in-scope questions answered automatically.
    pub coverage: f32,
    /// Share of in-scope questions answered automatically and right.
    pub answered_right: f32,
}

/// One fitted model with its threshold: for all queries, or for one locale's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    pub model: Logistic,
    /// Answer when the confidence is at least this.
    pub threshold: f32,
    /// Threshold, precision and coverage, from high thresholds to low.
    pub curve: Vec<CurvePoint>,
    /// Sample questions held out (in-scope examples).
    pub held_out_questions: u32,
    /// Articles held out whole (out-of-scope examples).
    pub held_out_articles: u32,
    /// Logged questions the KB does not answer (out-of-scope examples from live traffic).
    #[serde(default)]
    pub logged_out_of_scope: u32,
    /// False when no threshold reached the target: such queries are always handed off.
    pub target_reached: bool,
}

impl Fit {
    /// The confidence of a ranked list (0 when empty).
    pub fn confidence(&self, ranked: &[ArticleScore]) -> f32 {
        Features::of(ranked)
            .map(|f| self.model.confidence(&f))
            .unwrap_or(0.0)
    }

    /// The confidence the top article would have if the runner-up did not exist: when
    /// that passes and the real one does not, the top two are a near-tie.
    pub fn confidence_without_runner_up(&self, ranked: &[ArticleScore]) -> f32 {
        let rest: Vec<ArticleScore> = ranked
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, r)| *r)
            .collect();
        self.confidence(&rest)
    }
}

/// Everything the answer-or-handoff decision needs, stored in the manifest.
///
/// One fit for all queries, and one per locale that has enough sample questions:
/// how far a similarity can be trusted depends on the language as much as on the
/// model (an English-only model scores Chinese texts high and meaninglessly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The article scoring the models were fitted with.
    pub scoring: Scoring,
    /// The precision the thresholds were chosen for.
    pub target_precision: f32,
    /// The share of out-of-scope traffic assumed when estimating precision.
    pub out_of_scope_share: f32,
    /// Share of samples whose nearest sample in another locale is the same article's
    /// (`None`: no article has two locales); it decided [`Scoring::across_locales`].
    #[serde(default)]
    pub cross_lingual: Option<f32>,
    /// Fitted on every held-out example.
    pub overall: Fit,
    /// Fitted on the examples of one locale (the locale of the matched sample decides).
    #[serde(default)]
    pub by_locale: std::collections::BTreeMap<String, Fit>,
}

impl Calibration {
    /// The fit for answers matched in `locale`: its own when it has one, else the overall one.
    pub fn fit_for(&self, locale: Option<&str>) -> &Fit {
        locale
            .and_then(|l| self.by_locale.get(l))
            .unwrap_or(&self.overall)
    }
}
