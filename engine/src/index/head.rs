//! A linear discriminant over articles, derived from a version's own sample vectors:
//! the evidence of *all* of an article's samples, weighed by how its questions vary,
//! where the centroid weighs every direction alike.
//!
//! Shared-covariance Gaussian classes (LDA): with `m_a` the mean of article `a`'s
//! samples and `S` the pooled within-article scatter, shrunk towards the identity,
//!
//! ```text
//! P        = (S + α·tr(S)/d · I)⁻¹
//! logit_a  = (q · P m_a − ½ m_a · P m_a) / s
//! ```
//!
//! where `s` is the typical spread of one sample's logits across articles, so the
//! logit is comparable between indexes and blends with cosine scores at a fixed
//! weight ([`crate::resolve::Scoring::head`]). Fitting is closed form (one
//! Cholesky factorisation) and runs once per opened version, at first use; the
//! calibration asks for the logit *without* a held-out sample
//! ([`ArticleHead::logit_without`]), so its held-out questions stay held out.
//! Measured in docs/quality.md.

use super::search::Vectors;

/// Shrinkage α of the scatter towards the identity (measured: docs/quality.md).
pub const SHRINK: f64 = 1.0;
/// Widest vectors a head is derived for: it holds a `dim × dim` factor.
pub const MAX_HEAD_DIM: usize = 1024;
/// Largest `articles × dim²` a head is derived for: one solve per article costs `dim²`,
/// so this bounds the fit to seconds (13 500 articles at 384 dimensions).
pub const MAX_HEAD_WORK: usize = 2_000_000_000;
/// Most points the scatter is estimated from (evenly strided beyond that).
pub const MAX_SCATTER_POINTS: usize = 20_000;
/// Points whose logit spread sets the scale `s`.
const SCALE_POINTS: usize = 1_000;

/// The fitted discriminant of one version.
pub struct ArticleHead {
    dim: usize,
    /// `P m_a`, one row per article.
    pm: Vec<f32>,
    /// `½ m_a · P m_a`.
    half: Vec<f32>,
    /// `m_a`, one row per article: what a held-out sample is removed from.
    mean: Vec<f32>,
    count: Vec<u32>,
    /// Lower Cholesky factor of `P⁻¹`, row-major: `P x` for a held-out sample.
    chol: Vec<f64>,
    scale: f32,
}

impl ArticleHead {
    /// Fits the head; `None` when there is nothing to discriminate (fewer than two
    /// articles, no article with two samples, no spread) or it would cost too much
    /// ([`MAX_HEAD_DIM`], [`MAX_HEAD_WORK`]).
    pub fn fit(vectors: &Vectors, point_article: &[u32], articles: usize) -> Option<Self> {
        let (dim, n) = (vectors.dim, vectors.len().min(point_article.len()));
        let work = articles.saturating_mul(dim).saturating_mul(dim);
        if articles < 2 || n == 0 || dim == 0 || dim > MAX_HEAD_DIM || work > MAX_HEAD_WORK {
            return None;
        }
        let mut sum = vec![0f64; articles * dim];
        let mut count = vec![0u32; articles];
        for (p, &a) in point_article[..n].iter().enumerate() {
            let a = a as usize;
            if a >= articles {
                continue;
            }
            count[a] += 1;
            for (s, x) in sum[a * dim..(a + 1) * dim].iter_mut().zip(vectors.row(p as u32)) {
                *s += *x as f64;
            }
        }
        if !count.iter().any(|&c| c >= 2) {
            return None;
        }
        let mean: Vec<f32> = sum
            .chunks_exact(dim)
            .zip(&count)
            .flat_map(|(s, &c)| s.iter().map(move |x| (x / c.max(1) as f64) as f32))
            .collect();

        // Pooled within-article scatter (lower triangle), from a bounded stride of points.
        let step = n.div_ceil(MAX_SCATTER_POINTS).max(1);
        let mut scatter = vec![0f32; dim * dim];
        let mut r = vec![0f32; dim];
        let mut used = 0usize;
        for p in (0..n).step_by(step) {
            let a = point_article[p] as usize;
            if a >= articles || count[a] < 2 {
                continue;
            }
            for ((d, x), m) in r.iter_mut().zip(vectors.row(p as u32)).zip(&mean[a * dim..]) {
                *d = x - m;
            }
            for i in 0..dim {
                let ri = r[i];
                for (s, rj) in scatter[i * dim..i * dim + i + 1].iter_mut().zip(&r[..=i]) {
                    *s += ri * rj;
                }
            }
            used += 1;
        }
        let mut s: Vec<f64> = scatter.iter().map(|&x| x as f64 / used.max(1) as f64).collect();
        let trace: f64 = (0..dim).map(|i| s[i * dim + i]).sum();
        if trace.partial_cmp(&1e-12) != Some(std::cmp::Ordering::Greater) {
            return None;
        }
        let ridge = SHRINK * trace / dim as f64;
        for i in 0..dim {
            s[i * dim + i] += ridge;
        }
        let chol = cholesky(&s, dim)?;

        let mut pm = vec![0f32; articles * dim];
        let mut half = vec![0f32; articles];
        let mut x = vec![0f64; dim];
        for a in 0..articles {
            let m = &mean[a * dim..(a + 1) * dim];
            solve(&chol, dim, m.iter().map(|&v| v as f64), &mut x);
            for (o, v) in pm[a * dim..(a + 1) * dim].iter_mut().zip(&x) {
                *o = *v as f32;
            }
            half[a] = 0.5 * m.iter().zip(&x).map(|(&mi, xi)| mi as f64 * xi).sum::<f64>() as f32;
        }
        let mut head = Self {
            dim,
            pm,
            half,
            mean,
            count,
            chol,
            scale: 1.0,
        };
        // The typical spread of one sample's logits across the articles.
        let step = n.div_ceil(SCALE_POINTS).max(1);
        let (mut spread, mut k) = (0f64, 0usize);
        for p in (0..n).step_by(step) {
            let q = vectors.row(p as u32);
            let l: Vec<f64> = (0..articles).map(|a| head.raw(a, q) as f64).collect();
            let mu = l.iter().sum::<f64>() / articles as f64;
            spread += (l.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / articles as f64).sqrt();
            k += 1;
        }
        let scale = (spread / k.max(1) as f64) as f32;
        if !scale.is_finite() || scale <= 0.0 {
            return None;
        }
        head.scale = scale;
        Some(head)
    }

    fn raw(&self, article: usize, q: &[f32]) -> f32 {
        let row = &self.pm[article * self.dim..(article + 1) * self.dim];
        super::simd::dot(row, q) - self.half[article]
    }

    /// The scaled logit of `article` for the unit query `q`.
    pub fn logit(&self, article: u32, q: &[f32]) -> f32 {
        let a = article as usize;
        if a >= self.half.len() || q.len() != self.dim {
            return 0.0;
        }
        self.raw(a, q) / self.scale
    }

    /// The logit `article` would have if `k` of its samples, summing to `removed`, had
    /// not been fitted (calibration's held-out questions): the class mean without them,
    /// exactly; the shared scatter is left as is.
    pub fn logit_without(&self, article: u32, q: &[f32], removed: &[f32], k: u32) -> f32 {
        let a = article as usize;
        let Some(&n) = self.count.get(a) else {
            return 0.0;
        };
        if k == 0 || n <= k || q.len() != self.dim || removed.len() != self.dim {
            return self.logit(article, q);
        }
        let (n, k, dim) = (n as f64, k as f64, self.dim);
        let mut px = vec![0f64; dim];
        solve(&self.chol, dim, removed.iter().map(|&v| v as f64), &mut px);
        let (mut dot_q, mut half) = (0f64, 0f64);
        for i in 0..dim {
            let m = (n * self.mean[a * dim + i] as f64 - removed[i] as f64) / (n - k);
            let pm = (n * self.pm[a * dim + i] as f64 - px[i]) / (n - k);
            dot_q += q[i] as f64 * pm;
            half += m * pm;
        }
        ((dot_q - 0.5 * half) / self.scale as f64) as f32
    }
}

/// Cholesky of a symmetric positive-definite matrix given by its lower
/// triangle; returns the lower factor, or `None` when it is not positive definite.
fn cholesky(s: &[f64], dim: usize) -> Option<Vec<f64>> {
    let mut l = vec![0f64; dim * dim];
    for i in 0..dim {
        for j in 0..=i {
            let mut v = s[i * dim + j];
            for k in 0..j {
                v -= l[i * dim + k] * l[j * dim + k];
            }
            if i == j {
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                l[i * dim + i] = v.sqrt();
            } else {
                l[i * dim + j] = v / l[j * dim + j];
            }
        }
    }
    Some(l)
}

/// `x = (L Lᵀ)⁻¹ b` by forward then back substitution.
fn solve(l: &[f64], dim: usize, b: impl Iterator<Item = f64>, x: &mut [f64]) {
    for (xi, bi) in x.iter_mut().zip(b) {
        *xi = bi;
    }
    for i in 0..dim {
        let mut v = x[i];
        for k in 0..i {
            v -= l[i * dim + k] * x[k];
        }
        x[i] = v / l[i * dim + i];
    }
    for i in (0..dim).rev() {
        let mut v = x[i];
        for k in i + 1..dim {
            v -= l[k * dim + i] * x[k];
        }
        x[i] = v / l[i * dim + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    /// Two articles whose samples spread widely along axis 1 and barely along axis 2,
    /// where they differ; a third far away so the scatter is not all along one axis.
    fn corpus() -> (Vec<f32>, Vec<u32>) {
        let mut data = Vec::new();
        let mut owner = Vec::new();
        for i in 0..12 {
            let spread = (i as f32 - 5.5) * 0.12;
            let jitter = if i % 2 == 0 { 0.01 } else { -0.01 };
            data.extend(unit(&[1.0, spread, 0.05 + jitter, 0.0]));
            owner.push(0);
            data.extend(unit(&[1.0, spread, -0.05 + jitter, 0.0]));
            owner.push(1);
            data.extend(unit(&[0.0, jitter, 0.0, 1.0 + spread.abs()]));
            owner.push(2);
        }
        (data, owner)
    }

    #[test]
    fn the_discriminant_weighs_the_direction_articles_differ_in() {
        let (data, owner) = corpus();
        let v = Vectors { data: &data, dim: 4 };
        let head = ArticleHead::fit(&v, &owner, 3).unwrap();
        // Close to article 1's centroid by cosine (it shares the wide axis), but on
        // article 0's side of the narrow axis the two differ in.
        let q = unit(&[1.0, -0.6, 0.03, 0.0]);
        let cos = |a: u32| {
            let mut c = [0f32; 4];
            for (p, _) in owner.iter().enumerate().filter(|(_, o)| **o == a) {
                for (x, y) in c.iter_mut().zip(v.row(p as u32)) {
                    *x += y;
                }
            }
            let c = unit(&c);
            c.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>()
        };
        assert!(head.logit(0, &q) > head.logit(1, &q));
        assert!(head.logit(0, &q) > head.logit(2, &q));
        assert!((cos(0) - cos(1)).abs() < 0.05, "cosine barely tells them apart");
    }

    #[test]
    fn a_held_out_sample_counts_as_unseen() {
        let (data, owner) = corpus();
        let v = Vectors { data: &data, dim: 4 };
        let head = ArticleHead::fit(&v, &owner, 3).unwrap();
        let x = v.row(0);
        let without = head.logit_without(0, x, x, 1);
        assert!(without < head.logit(0, x), "its own sample no longer pulls it");
        // Against a head fitted without that sample (whose scatter also moved a little).
        let refit = ArticleHead::fit(
            &Vectors {
                data: &data[4..],
                dim: 4,
            },
            &owner[1..],
            3,
        )
        .unwrap();
        let exact = refit.logit(0, x);
        assert!(
            (without - exact).abs() < 0.1 * exact.abs().max(1.0),
            "{without} vs {exact}"
        );
        // Two samples at once (a held-out question with its near copy): rows 0 and 3.
        let both: Vec<f32> = x.iter().zip(v.row(3)).map(|(a, b)| a + b).collect();
        let without_two = head.logit_without(0, x, &both, 2);
        let rest: Vec<usize> = (0..owner.len()).filter(|&i| i != 0 && i != 3).collect();
        let refit_two = ArticleHead::fit(
            &Vectors {
                data: &rest
                    .iter()
                    .flat_map(|&i| v.row(i as u32).to_vec())
                    .collect::<Vec<_>>(),
                dim: 4,
            },
            &rest.iter().map(|&i| owner[i]).collect::<Vec<_>>(),
            3,
        )
        .unwrap();
        let exact_two = refit_two.logit(0, x);
        assert!(without_two < without, "the copy no longer pulls it either");
        assert!(
            (without_two - exact_two).abs() < 0.1 * exact_two.abs().max(1.0),
            "{without_two} vs {exact_two}"
        );
        // Nothing left of the article: its logit as fitted.
        assert_eq!(head.logit_without(0, x, x, 12), head.logit(0, x));
    }

    #[test]
    fn nothing_to_discriminate_gives_no_head() {
        let data = unit(&[1.0, 0.0, 0.0, 0.0]).repeat(3);
        let v = Vectors { data: &data, dim: 4 };
        assert!(
            ArticleHead::fit(&v, &[0, 1, 2], 3).is_none(),
            "one sample per article"
        );
        assert!(ArticleHead::fit(&v, &[0, 0, 0], 1).is_none(), "one article");
        assert!(ArticleHead::fit(&v, &[0, 0, 1], 2).is_none(), "no spread");
        assert!(
            ArticleHead::fit(&v, &[0, 0, 1], MAX_HEAD_WORK / 16 + 1).is_none(),
            "too much work"
        );
    }
}
