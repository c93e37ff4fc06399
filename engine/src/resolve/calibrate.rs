//! Calibration at build time, from the knowledge base's own sample questions.
//!
//! Three kinds of examples imitate live traffic:
//! - **held-out questions** (in scope): one sample question is removed and used
//!   as the query, with its near copies in the article (the same wording up to a
//!   word or two: live messages paraphrase, they do not repeat a sample); the right
//!   answer is its article, found through the others;
//! - **held-out articles** (out of scope): every sample of one article is
//!   removed and one of them is the query; whatever comes top is wrong;
//! - **logged out-of-scope questions**, when the desk has them: real messages its
//!   agents handled that the KB does not answer (near-domain complaints and demands
//!   that no held-out article imitates); whatever comes top is wrong, in every locale's fit.
//!
//! A logistic model maps each example's features ([`Features`]) to the chance
//! that the top article is right; the curve of precision and coverage against
//! the confidence threshold gives the lowest threshold that reaches the target
//! precision, with out-of-scope traffic weighted to an assumed share.

use super::confidence::{Calibration, CurvePoint, Features, Fit, Logistic};
use super::rank::{Scoring, rank_holding_out};
use super::text::{overlap, trigrams};
use crate::index::groups::NO_LOCALE;
use crate::index::{Index, IndexError};
use std::collections::BTreeMap;

/// What to calibrate for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationParams {
    pub scoring: Scoring,
    /// Share of automatic answers that must be right.
    pub target_precision: f32,
    /// Assumed share of out-of-scope questions in live traffic.
    pub out_of_scope_share: f32,
    /// At most this many held-out questions (spread evenly over the index).
    pub max_questions: usize,
    /// At most this many held-out articles.
    pub max_articles: usize,
    /// Candidate articles rescored per query.
    pub candidates: usize,
    pub ef: usize,
}

impl Default for CalibrationParams {
    fn default() -> Self {
        Self {
            scoring: Scoring::DEFAULT,
            target_precision: 0.95,
            out_of_scope_share: 0.5,
            max_questions: 3000,
            max_articles: 1000,
            candidates: super::CANDIDATES,
            ef: 64,
        }
    }
}

/// One held-out example: its features, whether the top article was right, whether it
/// was in scope, and the locale of the held-out sample.
#[derive(Debug, Clone, Copy)]
struct Example {
    features: Features,
    right: bool,
    in_scope: bool,
    locale: u16,
    /// A logged out-of-scope question: it has no locale and counts in every fit.
    logged: bool,
}

/// A locale gets its own fit from this many in-scope and out-of-scope examples.
const MIN_LOCALE_IN_SCOPE: usize = 100;
const MIN_LOCALE_OUT_OF_SCOPE: usize = 40;

/// Below this many articles a KB counts as small: each held-out article asks several questions.
const SMALL_KB_ARTICLES: usize = 200;
/// Queries per locale of each held-out article in a small KB.
const SMALL_KB_QUERIES: usize = 16;

/// Points in the curve stored in the manifest.
const CURVE_POINTS: usize = 40;

/// Fits the confidence model and picks the threshold for an opened index.
///
/// `logged_out_of_scope` holds the vectors of questions the desk knows the KB does
/// not answer (each of the index's dimension; empty when it has none).
/// Returns `None` when the index has too little to learn from (fewer than two
/// articles, or no article with two samples).
pub fn calibrate(
    index: &Index,
    params: &CalibrationParams,
    logged_out_of_scope: &[Vec<f32>],
) -> Result<Option<Calibration>, IndexError> {
    if let Some((i, v)) = logged_out_of_scope
        .iter()
        .enumerate()
        .find(|(_, v)| v.len() != index.dim())
    {
        return Err(IndexError::Build(format!(
            "logged out-of-scope question {} has {} dimensions; the index has {}",
            i + 1,
            v.len(),
            index.dim()
        )));
    }
    let cross_lingual = cross_lingual_agreement(index, params)?;
    let params = &CalibrationParams {
        scoring: Scoring {
            // Only a scoring with a centroid has locales to span (1-NN stays 1-NN).
            across_locales: params.scoring.centroid > 0.0
                && cross_lingual.is_some_and(|a| a >= CROSS_LINGUAL_MIN),
            ..params.scoring
        },
        ..*params
    };
    let examples = held_out_examples(index, params, logged_out_of_scope)?;
    let Some(overall) = fit_examples(&examples, params) else {
        return Ok(None);
    };
    let groups = index.groups();
    let mut by_locale = BTreeMap::new();
    let mut locales: Vec<u16> = examples.iter().map(|e| e.locale).collect();
    locales.sort_unstable();
    locales.dedup();
    for id in locales.into_iter().filter(|&l| l != NO_LOCALE) {
        let own: Vec<Example> = examples
            .iter()
            .filter(|e| e.locale == id || e.logged)
            .copied()
            .collect();
        let n_in = own.iter().filter(|e| e.in_scope).count();
        let n_held_out = own.iter().filter(|e| !e.in_scope && !e.logged).count();
        if n_in < MIN_LOCALE_IN_SCOPE || n_held_out < MIN_LOCALE_OUT_OF_SCOPE {
            continue;
        }
        if let (Some(name), Some(fit)) = (groups.locale_name(id), fit_examples(&own, params)) {
            by_locale.insert(name.to_string(), fit);
        }
    }
    Ok(Some(Calibration {
        scoring: params.scoring,
        target_precision: params.target_precision,
        out_of_scope_share: params.out_of_scope_share.clamp(0.0, 0.95),
        cross_lingual,
        overall,
        by_locale,
    }))
}

/// An article's samples in all its locales form its centroid when, for at least
/// this share of samples, the nearest sample in another locale is the same
/// article's (multilingual-e5-small: 0.87 on the sample KB; English-only MiniLM: 0.28).
const CROSS_LINGUAL_MIN: f32 = 0.5;

/// Samples checked for cross-lingual agreement (spread evenly over the index).
const CROSS_LINGUAL_SAMPLES: usize = 1000;

/// Share of samples whose nearest sample in another locale belongs to the same
/// article: whether the model maps translations together. `None` when no article
/// is written in two locales.
fn cross_lingual_agreement(index: &Index, params: &CalibrationParams) -> Result<Option<f32>, IndexError> {
    let n = index.points();
    let vectors = index.vectors();
    let groups = index.groups();
    let pa = index.point_article();
    let (mut checked, mut agreed) = (0usize, 0usize);
    for p in (0..n as u32).step_by(n.div_ceil(CROSS_LINGUAL_SAMPLES).max(1)) {
        let (a, locale) = (pa[p as usize], groups.locale_id(p));
        let translated = groups
            .article_points(a)
            .iter()
            .any(|&x| groups.locale_id(x) != locale);
        if !translated {
            continue;
        }
        let other = |x: u32| groups.locale_id(x) != locale;
        let hits = index.search_where(vectors.row(p), 1, params.ef, &other)?;
        checked += 1;
        agreed += usize::from(hits.first().is_some_and(|h| h.article == a));
    }
    Ok((checked > 0).then(|| agreed as f32 / checked as f32))
}

/// Fits one model and threshold on a set of examples; `None` when it has nothing to learn from.
fn fit_examples(examples: &[Example], params: &CalibrationParams) -> Option<Fit> {
    let (n_in, n_out, n_logged) = (
        examples.iter().filter(|e| e.in_scope).count(),
        examples.iter().filter(|e| !e.in_scope).count(),
        examples.iter().filter(|e| e.logged).count(),
    );
    if n_in == 0 || n_out == 0 || !examples.iter().any(|e| e.right) {
        return None;
    }
    let share = params.out_of_scope_share.clamp(0.0, 0.95);
    let weight = |e: &Example| {
        if e.in_scope {
            (1.0 - share) / n_in as f32
        } else {
            share / n_out as f32
        }
    };
    let model = fit(examples, &weight);
    let mut scored: Vec<(f32, &Example)> = examples
        .iter()
        .map(|e| (model.confidence(&e.features), e))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let full = curve(&scored, &weight);
    let chosen = full
        .iter()
        .filter(|c| c.precision >= params.target_precision)
        .min_by(|a, b| a.threshold.total_cmp(&b.threshold))
        .copied();
    let mut stored = thin(&full, CURVE_POINTS);
    if let Some(c) = chosen
        && !stored.contains(&c)
    {
        stored.push(c);
        stored.sort_by(|a, b| b.threshold.total_cmp(&a.threshold));
    }
    Some(Fit {
        model,
        // Above any confidence: nothing is answered when the target cannot be reached.
        threshold: chosen.map(|c| c.threshold).unwrap_or(1.0 + f32::EPSILON),
        curve: stored,
        held_out_questions: n_in as u32,
        held_out_articles: (n_out - n_logged) as u32,
        logged_out_of_scope: n_logged as u32,
        target_reached: chosen.is_some(),
    })
}

/// Runs every held-out query, and every logged out-of-scope question, through the
/// real search and scoring path.
fn held_out_examples(
    index: &Index,
    params: &CalibrationParams,
    logged_out_of_scope: &[Vec<f32>],
) -> Result<Vec<Example>, IndexError> {
    let n = index.points();
    let articles = index.article_count();
    let vectors = index.vectors();
    let groups = index.groups();
    let pa = index.point_article();
    let mut examples = Vec::new();
    let mut run = |q: &[f32],
                   excluded: &dyn Fn(u32) -> bool,
                   held_out: &[u32],
                   truth: Option<u32>,
                   locale: Option<u16>|
     -> Result<(), IndexError> {
        let accept = |p: u32| !excluded(p);
        let candidates = params.candidates.max(params.scoring.candidates());
        let hits = index.search_where(q, candidates, params.ef, &accept)?;
        let ranked = rank_holding_out(index, q, &hits, &params.scoring, &accept, held_out);
        if let Some(features) = Features::of(&ranked) {
            examples.push(Example {
                features,
                right: truth.is_some_and(|t| ranked[0].article == t),
                in_scope: truth.is_some(),
                locale: locale.unwrap_or(NO_LOCALE),
                logged: locale.is_none(),
            });
        }
        Ok(())
    };
    // The query is a sample of the index: the article discriminant leaves it (and its
    // near copies) out too.
    let mut push = |query: u32, excluded: &dyn Fn(u32) -> bool, held: &[u32], truth: Option<u32>| {
        run(
            vectors.row(query),
            excluded,
            held,
            truth,
            Some(groups.locale_id(query)),
        )
    };
    // Held-out questions: points of articles that keep at least one other sample. A
    // question takes its near copies in the article with it: live messages paraphrase,
    // and a KB that repeats a phrasing with small changes would otherwise calibrate on
    // queries that find their own twin (docs/quality.md).
    let step = n.div_ceil(params.max_questions.max(1)).max(1);
    let mut grams: (Option<u32>, Vec<Vec<u64>>) = (None, Vec::new());
    for p in (0..n as u32).step_by(step) {
        let a = pa[p as usize];
        let own = groups.article_points(a);
        let Ok(i) = own.binary_search(&p) else {
            continue;
        };
        if grams.0 != Some(a) {
            grams = (Some(a), article_trigrams(index, a));
        }
        if let Some(gone) = held_out_with_copies(i, own, &grams.1) {
            push(p, &|x| gone.binary_search(&x).is_ok(), &gone, Some(a))?;
        }
    }
    // Held-out articles, all samples removed: the first sample of each locale of each
    // article is the query; a small KB has few articles to hold out, so there up to
    // SMALL_KB_QUERIES of each locale's samples are (a threshold read off a few dozen
    // examples moved by whole points between builds: docs/quality.md).
    let step = articles.div_ceil(params.max_articles.max(1)).max(1);
    let per_locale = if articles < SMALL_KB_ARTICLES {
        SMALL_KB_QUERIES
    } else {
        1
    };
    for a in (0..articles as u32).step_by(step) {
        let own = groups.article_points(a);
        let mut taken: Vec<(u16, usize)> = Vec::new();
        for &p in own {
            let l = groups.locale_id(p);
            let slot = match taken.iter_mut().find(|(x, _)| *x == l) {
                Some(s) => s,
                None => {
                    taken.push((l, 0));
                    taken.last_mut().expect("just pushed")
                }
            };
            if slot.1 < per_locale {
                slot.1 += 1;
                push(p, &|x| pa.get(x as usize) == Some(&a), &[p], None)?;
            }
        }
    }
    for q in logged_out_of_scope {
        run(q, &|_| false, &[], None, None)?;
    }
    Ok(examples)
}

/// Samples of one article whose [`trigrams`] overlap (Jaccard) this much are near copies.
const NEAR_COPY: f32 = 0.5;

/// The samples held out with `own[i]`: itself and its near copies among its article's
/// samples `own` (`grams` in the same order); `None` when nothing would be left.
fn held_out_with_copies(i: usize, own: &[u32], grams: &[Vec<u64>]) -> Option<Vec<u32>> {
    let empty = Vec::new();
    let gram = |j: usize| grams.get(j).unwrap_or(&empty);
    let (g, len) = (gram(i), gram(i).len() as f32);
    let copy = |j: usize| {
        // Jaccard is at most the ratio of the sizes: most pairs need no merge.
        let other = gram(j).len() as f32;
        len.min(other) >= NEAR_COPY * len.max(other) && overlap(gram(j), g) >= NEAR_COPY
    };
    let gone: Vec<u32> = (0..own.len())
        .filter(|&j| j == i || copy(j))
        .map(|j| own[j])
        .collect();
    (gone.len() < own.len()).then_some(gone)
}

/// The [`trigrams`] of one article's samples, in the order of its points; empty for a
/// sample that cannot be read (a damaged payload only loses the near-copy check).
fn article_trigrams(index: &Index, article: u32) -> Vec<Vec<u64>> {
    let own = index.groups().article_points(article);
    let Ok(a) = index.article(article) else {
        return vec![Vec::new(); own.len()];
    };
    let texts: Vec<&str> = a.samples().map(|s| s.text).collect();
    let pq = index.point_question();
    own.iter()
        .map(|&p| {
            let q = pq.get(p as usize).copied().unwrap_or(u32::MAX);
            // Legacy indexes mark a title with a number past the samples.
            let text = texts
                .get(q as usize)
                .copied()
                .or_else(|| a.sample(q).map(|s| s.text));
            text.map(trigrams).unwrap_or_default()
        })
        .collect()
}

/// Weighted logistic regression by gradient descent on standardised features.
fn fit(examples: &[Example], weight: &dyn Fn(&Example) -> f32) -> Logistic {
    const STEPS: usize = 3000;
    const RATE: f32 = 0.5;
    const L2: f32 = 1e-3;
    let xs: Vec<[f32; 3]> = examples
        .iter()
        .map(|e| [e.features.score, e.features.margin, e.features.agree])
        .collect();
    let ws: Vec<f32> = examples.iter().map(weight).collect();
    let total: f32 = ws.iter().sum();
    let mut mean = [0f32; 3];
    let mut std = [0f32; 3];
    for j in 0..3 {
        mean[j] = xs.iter().zip(&ws).map(|(x, w)| w * x[j]).sum::<f32>() / total;
        let var = xs
            .iter()
            .zip(&ws)
            .map(|(x, w)| w * (x[j] - mean[j]).powi(2))
            .sum::<f32>()
            / total;
        std[j] = var.sqrt().max(1e-6);
    }
    let z: Vec<[f32; 3]> = xs
        .iter()
        .map(|x| [0, 1, 2].map(|j| (x[j] - mean[j]) / std[j]))
        .collect();
    let ys: Vec<f32> = examples.iter().map(|e| if e.right { 1.0 } else { 0.0 }).collect();
    let (mut b, mut w) = (0f32, [0f32; 3]);
    for _ in 0..STEPS {
        let (mut gb, mut gw) = (0f32, [0f32; 3]);
        for ((x, y), wt) in z.iter().zip(&ys).zip(&ws) {
            let p = 1.0 / (1.0 + (-(b + w[0] * x[0] + w[1] * x[1] + w[2] * x[2])).exp());
            let g = wt * (p - y) / total;
            gb += g;
            for j in 0..3 {
                gw[j] += g * x[j];
            }
        }
        b -= RATE * gb;
        for j in 0..3 {
            w[j] -= RATE * (gw[j] + L2 * w[j]);
        }
    }
    // Fold the standardisation into the stored weights: the model reads raw features.
    let weights = [0, 1, 2].map(|j| w[j] / std[j]);
    let bias = b - (0..3).map(|j| w[j] * mean[j] / std[j]).sum::<f32>();
    Logistic { bias, weights }
}

/// Precision and coverage at every distinct confidence, from high to low.
fn curve(scored: &[(f32, &Example)], weight: &dyn Fn(&Example) -> f32) -> Vec<CurvePoint> {
    let in_total: f32 = scored
        .iter()
        .filter(|(_, e)| e.in_scope)
        .map(|(_, e)| weight(e))
        .sum::<f32>()
        .max(f32::MIN_POSITIVE);
    let (mut answered, mut right, mut in_answered, mut in_right) = (0f32, 0f32, 0f32, 0f32);
    let mut out: Vec<CurvePoint> = Vec::new();
    for (i, (c, e)) in scored.iter().enumerate() {
        let w = weight(e);
        answered += w;
        if e.right {
            right += w;
        }
        if e.in_scope {
            in_answered += w;
            if e.right {
                in_right += w;
            }
        }
        // Only where the next example has a lower confidence is this a real threshold.
        if scored.get(i + 1).is_some_and(|(next, _)| next == c) {
            continue;
        }
        out.push(CurvePoint {
            threshold: *c,
            precision: right / answered,
            coverage: in_answered / in_total,
            answered_right: in_right / in_total,
        });
    }
    out
}

/// Keeps about `n` points spread evenly over coverage, always with the first and last.
fn thin(curve: &[CurvePoint], n: usize) -> Vec<CurvePoint> {
    if curve.len() <= n {
        return curve.to_vec();
    }
    let mut out: Vec<CurvePoint> = Vec::with_capacity(n + 1);
    for i in 0..n {
        let want = i as f32 / (n - 1) as f32;
        if let Some(p) = curve.iter().find(|c| c.coverage >= want)
            && out.last() != Some(p)
        {
            out.push(*p);
        }
    }
    if let Some(last) = curve.last()
        && out.last() != Some(last)
    {
        out.push(*last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_out_question_takes_its_near_copies_with_it() {
        let grams: Vec<Vec<u64>> = [
            "Join contest",
            "join a contest",
            "How can I enter a tournament on the app?",
            "Joining contest",
        ]
        .iter()
        .map(|t| trigrams(t))
        .collect();
        let own = [10, 11, 12, 13];
        // The copies go, the paraphrase stays to be found.
        assert_eq!(held_out_with_copies(0, &own, &grams), Some(vec![10, 11, 13]));
        assert_eq!(held_out_with_copies(2, &own, &grams), Some(vec![12]));
        // Only copies left: nothing to find the article by, no example.
        assert_eq!(held_out_with_copies(0, &own[..2], &grams), None);
        assert_eq!(held_out_with_copies(0, &own[..1], &grams), None);
        // Unreadable samples (no trigrams) are nobody's copies.
        assert_eq!(held_out_with_copies(0, &own, &[]), Some(vec![10]));
    }
}
