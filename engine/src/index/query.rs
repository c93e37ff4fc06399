//! Answering queries from an opened version: check the query vector, plan
//! filtered searches (exact scan or graph walk), widen the beam until k
//! distinct articles are found, and de-duplicate hits per article.

use super::IndexError;
use super::filter::{Filter, Plan, plan};
use super::graph::GraphRef;
use super::reader::Index;
use super::search::{Vectors, exact_scan, hnsw_search};
use crate::kb::Article;
use std::collections::HashMap;

/// One search result: an article, its best-matching point, and the cosine score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub article: u32,
    pub point: u32,
    pub score: f32,
}

/// A hit with its article read from the payload store.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleHit {
    pub article: Article,
    pub score: f32,
    /// The sample question (or title) whose vector matched.
    pub matched_question: String,
    /// The locale that sample is written in.
    pub matched_locale: Option<String>,
}

/// Up to this many points, [`Index::search_where`] scans exactly.
const EXACT_WHERE_MAX: usize = 5000;

impl Index {
    /// Checks a query vector (dimension, finite, non-zero) and returns it at
    /// unit length: scores are dot products with unit vectors.
    pub fn prepare_query<'q>(&self, query: &'q [f32]) -> Result<std::borrow::Cow<'q, [f32]>, IndexError> {
        if query.len() != self.dim() {
            return Err(IndexError::InvalidQuery(format!(
                "vector has dimension {}, the index has {}",
                query.len(),
                self.dim()
            )));
        }
        if let Some(i) = query.iter().position(|x| !x.is_finite()) {
            return Err(IndexError::InvalidQuery(format!(
                "vector component {i} is not a finite number"
            )));
        }
        // In f64: an f32 norm overflows at |x| ≈ 1.8e19 and would turn the query into zeros.
        let norm = super::format::norm_f64(query);
        if norm == 0.0 {
            return Err(IndexError::InvalidQuery("vector is all zeros".into()));
        }
        if !norm.is_finite() {
            return Err(IndexError::InvalidQuery(format!(
                "vector length {norm} cannot be normalised"
            )));
        }
        if (norm - 1.0).abs() < 1e-4 {
            Ok(query.into())
        } else {
            Ok(query
                .iter()
                .map(|&x| (f64::from(x) / norm) as f32)
                .collect::<Vec<_>>()
                .into())
        }
    }

    /// The `k` best articles for a query vector, one hit per article.
    ///
    /// `ef` is the beam width (≥ k is used); with a filter, the planner picks
    /// an exact scan or a filtered graph walk, and falls back to the exact scan
    /// whenever the walk finds fewer than k articles, so a filter never returns
    /// fewer hits than exist.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<Hit>, IndexError> {
        if k == 0 {
            return Err(IndexError::InvalidQuery("k must be at least 1".into()));
        }
        let q = self.prepare_query(query)?;
        let (g, v) = (self.graph(), self.vectors());
        let n = self.points();
        let filter = filter.filter(|f| !f.is_empty());
        let Some(filter) = filter else {
            return Ok(self.walk(&g, &v, &q, k, ef, &|_| true));
        };
        let admitted = self.filter_points(filter);
        if admitted.is_empty() {
            return Ok(Vec::new());
        }
        match plan(admitted.len(), n as u64, ef.max(k)) {
            Plan::Exact => Ok(self.exact(&v, &q, admitted.iter(), k)),
            Plan::Graph { ef } => {
                let hits = self.walk(&g, &v, &q, k, ef, &|p| admitted.contains(p));
                if hits.len() >= k {
                    Ok(hits)
                } else {
                    Ok(self.exact(&v, &q, admitted.iter(), k))
                }
            }
        }
    }

    /// The `k` best articles among the points `accept` admits (an exact scan on small
    /// indexes, a graph walk on large ones). Calibration uses it to hold samples out.
    pub fn search_where(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> Result<Vec<Hit>, IndexError> {
        if k == 0 {
            return Err(IndexError::InvalidQuery("k must be at least 1".into()));
        }
        let q = self.prepare_query(query)?;
        let v = self.vectors();
        if self.points() <= EXACT_WHERE_MAX {
            let admitted = (0..self.points() as u32).filter(|&p| accept(p));
            return Ok(self.exact(&v, &q, admitted, k));
        }
        Ok(self.walk(&self.graph(), &v, &q, k, ef, accept))
    }

    /// Graph search, widening the beam until k distinct articles are found or the graph is exhausted.
    fn walk(
        &self,
        g: &GraphRef,
        v: &Vectors,
        q: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<Hit> {
        let n = self.points();
        let mut ef = ef.max(k);
        loop {
            let cands = hnsw_search(g, v, q, ef, accept);
            let hits = self.dedup(&cands, k);
            if hits.len() >= k || cands.len() < ef || ef >= n {
                return hits;
            }
            ef = (ef * 2).min(n);
        }
    }

    /// Exact scan of the given points, one hit per article.
    fn exact(&self, v: &Vectors, q: &[f32], points: impl Iterator<Item = u32>, k: usize) -> Vec<Hit> {
        let pa = self.point_article();
        let mut best: HashMap<u32, (f32, u32)> = HashMap::new();
        for (s, p) in exact_scan(v, q, points, usize::MAX) {
            let a = pa.get(p as usize).copied().unwrap_or(p);
            best.entry(a).or_insert((s, p));
        }
        let mut hits: Vec<Hit> = best
            .into_iter()
            .map(|(article, (score, point))| Hit {
                article,
                point,
                score,
            })
            .collect();
        hits.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.article.cmp(&b.article)));
        hits.truncate(k);
        hits
    }

    /// Keeps the best point of each article from a best-first candidate list.
    fn dedup(&self, cands: &[(f32, u32)], k: usize) -> Vec<Hit> {
        let pa = self.point_article();
        let mut hits: Vec<Hit> = Vec::with_capacity(k);
        for &(score, point) in cands {
            let article = pa.get(point as usize).copied().unwrap_or(point);
            if hits.iter().any(|h| h.article == article) {
                continue;
            }
            hits.push(Hit {
                article,
                point,
                score,
            });
            if hits.len() == k {
                break;
            }
        }
        hits
    }

    /// Exact top-k points (no de-duplication): the ground truth for recall.
    pub fn exact_points(&self, query: &[f32], k: usize) -> Result<Vec<(f32, u32)>, IndexError> {
        let q = self.prepare_query(query)?;
        Ok(exact_scan(&self.vectors(), &q, 0..self.points() as u32, k))
    }

    /// Approximate top-k points (no de-duplication), as the graph alone finds them.
    pub fn graph_points(&self, query: &[f32], k: usize, ef: usize) -> Result<Vec<(f32, u32)>, IndexError> {
        let q = self.prepare_query(query)?;
        let mut r = hnsw_search(&self.graph(), &self.vectors(), &q, ef.max(k), &|_| true);
        r.truncate(k);
        Ok(r)
    }
}
