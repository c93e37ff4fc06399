//! Per-locale centring: a multilingual encoder gives every text an offset that
//! depends on its language, so a question lies nearer other articles' samples in
//! its own language than its own article's samples in another. Taking each
//! locale's mean out of its samples, and the query's locale's mean out of the
//! query, removes that offset (measured in docs/quality.md). Derived from a
//! version's vectors at first use, so the file layout does not change; nothing is
//! centred in an index of one locale, where the mean is the whole index's and
//! taking it out measured worse.

use super::groups::{NO_LOCALE, PointGroups};
use super::search::Vectors;
use super::simd::dot;

/// Each locale's mean vector and each point's length once centred.
pub struct LocaleCentring {
    dim: usize,
    /// Locale id-major: `means[l * dim..(l + 1) * dim]`.
    means: Vec<f32>,
    /// `1 / |p − mean(locale(p))|` per point (1 for a point without a locale).
    inv_norm: Vec<f32>,
}

/// A query centred on one locale's mean, with its dot product with every mean.
pub struct CentredQuery {
    /// The centred query, unit length.
    pub q: Vec<f32>,
    /// `q · mean(l)` for every locale id `l`.
    q_mean: Vec<f32>,
}

impl LocaleCentring {
    /// The centring of `vectors` by the locales of `groups`; `None` with fewer than two.
    pub fn fit(vectors: &Vectors, groups: &PointGroups) -> Option<Self> {
        let (dim, n, locales) = (vectors.dim, vectors.len(), groups.locale_count());
        if locales < 2 || dim == 0 || n == 0 {
            return None;
        }
        let mut sum = vec![0f64; locales * dim];
        let mut count = vec![0usize; locales];
        for p in 0..n as u32 {
            let l = groups.locale_id(p);
            if l == NO_LOCALE || l as usize >= locales {
                continue;
            }
            count[l as usize] += 1;
            let s = &mut sum[l as usize * dim..(l as usize + 1) * dim];
            for (acc, x) in s.iter_mut().zip(vectors.row(p)) {
                *acc += *x as f64;
            }
        }
        let means: Vec<f32> = sum
            .chunks_exact(dim)
            .zip(&count)
            .flat_map(|(s, &c)| s.iter().map(move |x| (x / c.max(1) as f64) as f32))
            .collect();
        let mut centring = Self {
            dim,
            means,
            inv_norm: Vec::with_capacity(n),
        };
        for p in 0..n as u32 {
            let row = vectors.row(p);
            let len = match centring.mean(groups.locale_id(p)) {
                Some(m) => row
                    .iter()
                    .zip(m)
                    .map(|(x, m)| (x - m) * (x - m))
                    .sum::<f32>()
                    .sqrt(),
                None => 1.0,
            };
            centring.inv_norm.push(if len > 1e-6 { 1.0 / len } else { 0.0 });
        }
        Some(centring)
    }

    /// The mean of locale `id` (`None` for [`NO_LOCALE`] or an unknown id).
    fn mean(&self, id: u16) -> Option<&[f32]> {
        let l = id as usize;
        self.means.get(l * self.dim..(l + 1) * self.dim)
    }

    /// `query` centred on the mean of locale `id` (the locale it is written in).
    pub fn centre(&self, query: &[f32], id: u16) -> CentredQuery {
        let mut q: Vec<f32> = match self.mean(id) {
            Some(m) => query.iter().zip(m).map(|(x, m)| x - m).collect(),
            None => query.to_vec(),
        };
        let len = dot(&q, &q).sqrt();
        if len > 1e-6 {
            q.iter_mut().for_each(|x| *x /= len);
        }
        let q_mean = self.means.chunks_exact(self.dim).map(|m| dot(&q, m)).collect();
        CentredQuery { q, q_mean }
    }

    /// Cosine of the centred query with point `p` (whose vector is `row`, locale `id`), centred.
    pub fn similarity(&self, cq: &CentredQuery, p: u32, row: &[f32], id: u16) -> f32 {
        let offset = cq.q_mean.get(id as usize).copied().unwrap_or(0.0);
        (dot(&cq.q, row) - offset) * self.inv_norm.get(p as usize).copied().unwrap_or(0.0)
    }

    /// Adds point `p`'s centred unit vector to `sum`; `weights[id]` collects how much of
    /// locale `id`'s mean is still to be taken out ([`LocaleCentring::finish_sum`]).
    pub fn accumulate(&self, sum: &mut [f32], weights: &mut [f32], p: u32, row: &[f32], id: u16) {
        let w = self.inv_norm.get(p as usize).copied().unwrap_or(0.0);
        for (acc, x) in sum.iter_mut().zip(row) {
            *acc += w * x;
        }
        if let Some(slot) = weights.get_mut(id as usize) {
            *slot += w;
        }
    }

    /// Takes the weighted locale means out of a sum built by [`LocaleCentring::accumulate`].
    pub fn finish_sum(&self, sum: &mut [f32], weights: &[f32]) {
        for (m, &w) in self.means.chunks_exact(self.dim).zip(weights) {
            if w != 0.0 {
                for (acc, x) in sum.iter_mut().zip(m) {
                    *acc -= w * x;
                }
            }
        }
    }

    /// Number of locales (the length `weights` needs).
    pub fn locales(&self) -> usize {
        self.means.len() / self.dim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two locales, each with its own offset `o`: sample `i` of article `a` is the unit
    /// vector of `e_a + o + small noise`.
    fn rows(offsets: &[[f32; 4]], articles: usize) -> (Vec<f32>, Vec<u16>) {
        let mut data = Vec::new();
        let mut locale = Vec::new();
        for (l, o) in offsets.iter().enumerate() {
            for a in 0..articles {
                for i in 0..3 {
                    let mut v = *o;
                    v[a] += 1.0;
                    v[3] += 0.01 * i as f32;
                    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    data.extend(v.iter().map(|x| x / n));
                    locale.push(l as u16);
                }
            }
        }
        (data, locale)
    }

    fn fit(data: &[f32], locale: &[u16], locales: usize) -> Option<LocaleCentring> {
        let groups = PointGroups::from_parts(vec![0; locale.len()], locale.to_vec(), locales);
        LocaleCentring::fit(&Vectors { data, dim: 4 }, &groups)
    }

    #[test]
    fn the_language_offset_is_taken_out() {
        // Locale 1 carries a large offset along article 2's axis, so raw, a locale-1 sample
        // of article 0 is nearer article 2 (in locale 0) than article 0's own locale-0 samples.
        let (data, locale) = rows(&[[0.0; 4], [0.0, 0.0, 1.5, 0.0]], 3);
        let row = |p: usize| &data[p * 4..(p + 1) * 4];
        let q = row(9); // locale 1, article 0
        let (own, other) = (row(0), row(6)); // locale 0: article 0, article 2
        assert!(dot(q, other) > dot(q, own), "the offset misleads raw cosines");

        let c = fit(&data, &locale, 2).expect("two locales");
        let cq = c.centre(q, 1);
        let own_c = c.similarity(&cq, 0, own, 0);
        let other_c = c.similarity(&cq, 6, other, 0);
        assert!(own_c > other_c, "centred: own {own_c} vs other {other_c}");
        // The centred similarity is the cosine of the centred vectors.
        let m0 = c.mean(0).unwrap();
        let own_centred: Vec<f32> = own.iter().zip(m0).map(|(x, m)| x - m).collect();
        let want = dot(&cq.q, &own_centred) / dot(&own_centred, &own_centred).sqrt();
        assert!((own_c - want).abs() < 1e-5, "{own_c} vs {want}");
    }

    #[test]
    fn a_sum_of_centred_rows_matches_centring_each() {
        let (data, locale) = rows(&[[0.0; 4], [0.3, 0.0, 0.9, 0.0]], 3);
        let c = fit(&data, &locale, 2).unwrap();
        let (mut sum, mut weights) = (vec![0f32; 4], vec![0f32; 2]);
        let mut want = [0f32; 4];
        for p in [0u32, 4, 9, 13] {
            let row = &data[p as usize * 4..(p as usize + 1) * 4];
            let id = locale[p as usize];
            c.accumulate(&mut sum, &mut weights, p, row, id);
            let m = c.mean(id).unwrap();
            let v: Vec<f32> = row.iter().zip(m).map(|(x, m)| x - m).collect();
            let n = dot(&v, &v).sqrt();
            for (w, x) in want.iter_mut().zip(&v) {
                *w += x / n;
            }
        }
        c.finish_sum(&mut sum, &weights);
        for (a, b) in sum.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{sum:?} vs {want:?}");
        }
    }

    #[test]
    fn one_locale_is_not_centred() {
        let (data, locale) = rows(&[[0.0; 4]], 3);
        assert!(fit(&data, &locale, 1).is_none());
    }
}
