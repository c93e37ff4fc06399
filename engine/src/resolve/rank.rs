//! Article scoring beyond the nearest neighbour.
//!
//! The index finds candidate articles by their single best sample (1-NN). An
//! article usually has several samples — questions, title and answer in each of
//! its locales — and agreement among them is evidence: a question close to the
//! article as a whole is a safer bet than one close to a single sample of
//! another. For each candidate, kefu scores every sample the filters admit:
//!
//! ```text
//! top   = Σ wᵢ·sᵢ / Σ wᵢ        over its best three similarities s₁ ≥ s₂ ≥ s₃ (those it has)
//! cent  = q · mean(v) / |mean(v)| the centroid of those samples
//! score = (1 − λ)·top + λ·cent
//! ```
//!
//! The samples are those in the locale of the best match, or all of the
//! article's locales when the model places an article's translations nearest one
//! another (`across_locales`, measured per index at calibration): then the
//! variants' mean is a better prototype of the article than any one language's,
//! while an English-only model scores other languages meaninglessly
//! (docs/quality.md). On top, `score += β · logit` of the article discriminant
//! ([`crate::index::head`]: the article's samples as a Gaussian class with the
//! KB's pooled spread). Across the locales of a multilingual index, similarities
//! are taken with each locale's mean out of the vectors ([`Scoring::centre`],
//! [`crate::index::centre`]), over more candidates. With `weights = [1, 0, 0]`,
//! `λ = 0` and `β = 0` this is plain 1-NN, kept as the baseline.
//! The defaults were chosen by measurement (docs/quality.md).

use crate::index::centre::{CentredQuery, LocaleCentring};
use crate::index::groups::PointGroups;
use crate::index::search::Vectors;
use crate::index::simd::dot;
use crate::index::{Hit, Index};

/// Candidates rescored when centring ([`Scoring::candidates`]).
pub const CENTRED_CANDIDATES: usize = 30;
use serde::{Deserialize, Serialize};

/// How an article's samples are combined into its score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scoring {
    /// Weights of the best, second and third similarity among the article's samples.
    pub weights: [f32; 3],
    /// Share λ of the centroid similarity in the score.
    pub centroid: f32,
    /// Whether the samples of every locale count, not only the best match's locale.
    #[serde(default)]
    pub across_locales: bool,
    /// Weight β of the article discriminant's logit added to the score
    /// ([`crate::index::head`]); 0 (and absent in older manifests) leaves it out.
    #[serde(default)]
    pub head: f32,
    /// Whether, across locales, similarities are taken with each locale's mean out of
    /// its vectors and the query's ([`crate::index::centre`]); false in older manifests.
    #[serde(default)]
    pub centre: bool,
}

impl Scoring {
    /// Plain nearest neighbour: the article's best sample decides.
    pub const ONE_NN: Scoring = Scoring {
        weights: [1.0, 0.0, 0.0],
        centroid: 0.0,
        across_locales: false,
        head: 0.0,
        centre: false,
    };
    /// kefu's default: the best match blended evenly with the centroid of the article's
    /// samples (measured against the alternatives: docs/quality.md).
    pub const DEFAULT: Scoring = Scoring {
        weights: [1.0, 0.0, 0.0],
        centroid: 0.5,
        across_locales: false,
        head: 0.01,
        centre: true,
    };

    /// Candidate articles to rescore: more when centring, which can lift an article
    /// that raw 1-NN ranks lower (measured: 10 candidates keep most of the gain, 30 all).
    pub fn candidates(&self) -> usize {
        if self.centre && self.across_locales {
            CENTRED_CANDIDATES
        } else {
            crate::resolve::CANDIDATES
        }
    }

    /// Parses a `--scoring` value: `1nn`, `default`, or `w1,w2,w3,λ[,β[,c]]` (c: 1 centres).
    pub fn parse(s: &str) -> Result<Scoring, String> {
        match s.trim() {
            "1nn" | "1-nn" | "one-nn" => return Ok(Self::ONE_NN),
            "default" | "kefu" => return Ok(Self::DEFAULT),
            _ => {}
        }
        let parts: Vec<f32> = s
            .split(',')
            .map(|p| p.trim().parse::<f32>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("scoring {s:?}: {e}"))?;
        let (a, b, c, l, h, centre) = match parts[..] {
            [a, b, c, l] => (a, b, c, l, 0.0, 0.0),
            [a, b, c, l, h] => (a, b, c, l, h, 0.0),
            [a, b, c, l, h, centre] if centre == 0.0 || centre == 1.0 => (a, b, c, l, h, centre),
            _ => {
                return Err(format!(
                    "scoring {s:?}: expected `1nn`, `default`, or w1,w2,w3,λ with an optional head weight β and centring 0 or 1"
                ));
            }
        };
        if !(0.0..=1.0).contains(&l) || a <= 0.0 || b < 0.0 || c < 0.0 || !(0.0..=1.0).contains(&h) {
            return Err(format!(
                "scoring {s:?}: weights must be ≥ 0 (w1 > 0), λ in [0, 1] and β in [0, 1]"
            ));
        }
        Ok(Scoring {
            weights: [a, b, c],
            centroid: l,
            across_locales: false,
            head: h,
            centre: centre == 1.0,
        })
    }

    /// A short name for tables.
    pub fn name(&self) -> String {
        if *self == Self::ONE_NN {
            return "1-NN".into();
        }
        let [a, b, c] = self.weights;
        let locales = if self.across_locales {
            " across locales"
        } else {
            ""
        };
        let mut head = if self.head > 0.0 {
            format!(" + article head {}", self.head)
        } else {
            String::new()
        };
        if self.centre && self.across_locales {
            head.push_str(", locale-centred");
        }
        if b == 0.0 && c == 0.0 {
            format!("best match + centroid {}{locales}{head}", self.centroid)
        } else {
            format!("top3({a},{b},{c}) + centroid {}{locales}{head}", self.centroid)
        }
    }
}

impl Default for Scoring {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Derives what ranking `index` by its stored scoring needs — the article groups, and
/// the discriminant when that scoring weighs it — so no customer's question pays for it.
pub fn prepare(index: &Index) {
    index.groups();
    let stored = index.manifest().calibration.as_ref().map(|c| c.scoring);
    let stored = stored.unwrap_or_default();
    if stored.head > 0.0 {
        index.head();
    }
    if stored.centre && stored.across_locales {
        index.centring();
    }
}

/// One candidate article with its combined score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArticleScore {
    pub article: u32,
    /// The combined score ([`Scoring`]).
    pub score: f32,
    /// Cosine similarity of the best sample: the 1-NN score.
    pub best: f32,
    /// The point of the best sample.
    pub best_point: u32,
}

/// Rescores 1-NN candidate hits with each article's samples (in the best match's
/// locale, or all: [`Scoring::across_locales`]) that `admits` accepts, plus the
/// article discriminant's logit ([`Scoring::head`]); best first.
pub fn rank(
    index: &Index,
    query: &[f32],
    candidates: &[Hit],
    scoring: &Scoring,
    admits: &dyn Fn(u32) -> bool,
) -> Vec<ArticleScore> {
    rank_holding_out(index, query, candidates, scoring, admits, &[])
}

/// [`rank`] for a query that is one of the index's own samples (calibration): the
/// discriminant scores its article as if the `held_out` samples (the query and its near
/// copies, all of one article) had not been fitted.
pub fn rank_holding_out(
    index: &Index,
    query: &[f32],
    candidates: &[Hit],
    scoring: &Scoring,
    admits: &dyn Fn(u32) -> bool,
    held_out: &[u32],
) -> Vec<ArticleScore> {
    let vectors = index.vectors();
    let groups = index.groups();
    let head = (scoring.head > 0.0).then(|| index.head()).flatten();
    let held = head.and_then(|_| held_out_sum(index, held_out));
    // Centred on the locale of the nearest sample: the language the query is written in.
    let centring = (scoring.centre && scoring.across_locales)
        .then(|| index.centring())
        .flatten()
        .and_then(|c| {
            let nearest = candidates.first()?;
            Some((c, c.centre(query, groups.locale_id(nearest.point))))
        });
    let centring = centring.as_ref().map(|(c, q)| (*c, q));
    // One centroid buffer for all candidates: no allocation per article.
    let mut sum = vec![0f32; vectors.dim];
    let mut weights = vec![0f32; centring.map_or(0, |(c, _)| c.locales())];
    let mut out: Vec<ArticleScore> = candidates
        .iter()
        .map(|h| {
            let buffers = (&mut sum[..], &mut weights[..]);
            let mut score = score_article(&vectors, groups, query, centring, h, scoring, admits, buffers);
            if let Some(head) = head {
                score += scoring.head
                    * match &held {
                        Some((a, sum, k)) if *a == h.article => head.logit_without(*a, query, sum, *k),
                        _ => head.logit(h.article, query),
                    };
            }
            ArticleScore {
                article: h.article,
                score,
                best: h.score,
                best_point: h.point,
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.article.cmp(&b.article)));
    out
}

/// The article of held-out samples, their vectors' sum and their count (`None` when
/// there are none, or they are not all one article's points).
fn held_out_sum(index: &Index, held_out: &[u32]) -> Option<(u32, Vec<f32>, u32)> {
    let (vectors, pa) = (index.vectors(), index.point_article());
    let article = *pa.get(*held_out.first()? as usize)?;
    let mut sum = vec![0f32; vectors.dim];
    for &p in held_out {
        if pa.get(p as usize) != Some(&article) || p as usize >= vectors.len() {
            return None;
        }
        sum.iter_mut().zip(vectors.row(p)).for_each(|(s, v)| *s += v);
    }
    Some((article, sum, held_out.len() as u32))
}

#[allow(clippy::too_many_arguments)]
fn score_article(
    vectors: &Vectors,
    groups: &PointGroups,
    query: &[f32],
    centring: Option<(&LocaleCentring, &CentredQuery)>,
    hit: &Hit,
    scoring: &Scoring,
    admits: &dyn Fn(u32) -> bool,
    (sum, weights): (&mut [f32], &mut [f32]),
) -> f32 {
    if *scoring == Scoring::ONE_NN {
        return hit.score;
    }
    let locale = groups.locale_id(hit.point);
    let mut sims = [f32::MIN; 3];
    // Uncentred, `q · sum` is the sum of the similarities; centred, it is taken at the end.
    let mut centroid_dot = 0f32;
    sum.fill(0.0);
    weights.fill(0.0);
    let mut count = 0usize;
    for &p in groups.article_points(hit.article) {
        let other_locale = !scoring.across_locales && groups.locale_id(p) != locale;
        if other_locale || !admits(p) || (p as usize) >= vectors.len() {
            continue;
        }
        let row = vectors.row(p);
        let s = match centring {
            Some((c, cq)) => {
                let id = groups.locale_id(p);
                c.accumulate(sum, weights, p, row, id);
                c.similarity(cq, p, row, id)
            }
            None => {
                for (acc, x) in sum.iter_mut().zip(row) {
                    *acc += x;
                }
                let s = dot(query, row);
                centroid_dot += s;
                s
            }
        };
        // Keep the three best, in order.
        if s > sims[0] {
            sims = [s, sims[0], sims[1]];
        } else if s > sims[1] {
            sims = [sims[0], s, sims[1]];
        } else if s > sims[2] {
            sims[2] = s;
        }
        count += 1;
    }
    if count == 0 {
        return hit.score;
    }
    let (mut num, mut den) = (0f32, 0f32);
    for (w, s) in scoring.weights.iter().zip(sims).take(count) {
        num += w * s;
        den += w;
    }
    let top = if den > 0.0 { num / den } else { hit.score };
    let cent = match centring {
        Some((c, cq)) => {
            c.finish_sum(sum, weights);
            let norm = dot(sum, sum).sqrt();
            if norm > 0.0 { dot(&cq.q, sum) / norm } else { top }
        }
        None => {
            let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 { centroid_dot / norm } else { top }
        }
    };
    (1.0 - scoring.centroid) * top + scoring.centroid * cent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifth_number_is_the_discriminant_weight() {
        assert_eq!(Scoring::parse("1,0,0,0.5").unwrap().head, 0.0);
        let s = Scoring::parse("1,0,0,0.5,0.01").unwrap();
        assert_eq!((s.centroid, s.head), (0.5, 0.01));
        assert!(s.name().ends_with("+ article head 0.01"), "{}", s.name());
        assert!(Scoring::parse("1,0,0,0.5,2").unwrap_err().contains("β in [0, 1]"));
        assert!(
            Scoring::parse("1,0")
                .unwrap_err()
                .contains("optional head weight")
        );
        assert_eq!(Scoring::ONE_NN.head, 0.0, "the baseline stays plain 1-NN");
        // A manifest written before the discriminant scores without it.
        let old: Scoring =
            serde_json::from_str(r#"{"weights":[1,0,0],"centroid":0.5,"across_locales":true}"#).unwrap();
        assert_eq!(old.head, 0.0);
        assert!(!old.centre, "nor centred");
    }

    #[test]
    fn a_sixth_number_turns_centring_on_and_only_across_locales_uses_it() {
        let s = Scoring::parse("1,0,0,0.5,0.01,1").unwrap();
        assert!(s.centre);
        assert!(!Scoring::parse("1,0,0,0.5,0.01,0").unwrap().centre);
        assert!(Scoring::parse("1,0,0,0.5,0.01,0.5").is_err());
        let (default, baseline) = (Scoring::default(), Scoring::parse("1nn").unwrap());
        assert!(default.centre && !baseline.centre);
        // Within one locale nothing is centred, and the usual candidates are rescored.
        assert_eq!(s.candidates(), crate::resolve::CANDIDATES);
        let across = Scoring {
            across_locales: true,
            ..s
        };
        assert_eq!(across.candidates(), CENTRED_CANDIDATES);
        assert!(across.name().ends_with("locale-centred"), "{}", across.name());
    }
}
