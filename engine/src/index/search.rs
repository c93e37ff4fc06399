//! The search loop: greedy descent through the upper layers, then a beam
//! search of width `ef` on level 0; and the exact scan it is checked against.
//!
//! Scores are dot products of unit vectors (cosine): higher is closer.

use super::graph::GraphRef;
use super::simd::dot;
use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Row-major unit vectors, borrowed from the heap or a mapped file.
#[derive(Clone, Copy)]
pub struct Vectors<'a> {
    pub data: &'a [f32],
    pub dim: usize,
}

impl<'a> Vectors<'a> {
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn row(&self, i: u32) -> &'a [f32] {
        let s = i as usize * self.dim;
        &self.data[s..s + self.dim]
    }

    #[inline]
    pub fn score(&self, q: &[f32], i: u32) -> f32 {
        dot(q, self.row(i))
    }
}

/// A (score, node) pair ordered by score, ties broken by node id for determinism.
#[derive(Clone, Copy, PartialEq)]
struct Scored(f32, u32);

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then_with(|| other.1.cmp(&self.1))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Per-thread visited marks: an epoch stamp per node, so no clearing between queries.
struct Visited {
    marks: Vec<u32>,
    epoch: u32,
}

impl Visited {
    fn start(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
    }

    /// Marks `i`; true if it was not marked in this query.
    #[inline]
    fn insert(&mut self, i: u32) -> bool {
        let m = &mut self.marks[i as usize];
        if *m == self.epoch {
            false
        } else {
            *m = self.epoch;
            true
        }
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = const { RefCell::new(Visited { marks: Vec::new(), epoch: 0 }) };
}

/// Approximate nearest points to `q`: (score, point), best first, at most `ef`,
/// only points `accept` admits (others are still walked through).
pub fn hnsw_search(
    g: &GraphRef,
    v: &Vectors,
    q: &[f32],
    ef: usize,
    accept: &dyn Fn(u32) -> bool,
) -> Vec<(f32, u32)> {
    if g.is_empty() {
        return Vec::new();
    }
    let mut cur = g.entry;
    let mut cur_score = v.score(q, cur);
    for layer in (1..=g.max_level).rev() {
        loop {
            let mut moved = false;
            for nb in g.neighbours(cur, layer) {
                let s = v.score(q, nb);
                if s > cur_score {
                    cur_score = s;
                    cur = nb;
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
    }
    search_layer0_from(g, v, q, cur, ef, accept)
}

/// Beam search of width `ef` on level 0, starting at `start`.
pub fn search_layer0_from(
    g: &GraphRef,
    v: &Vectors,
    q: &[f32],
    start: u32,
    ef: usize,
    accept: &dyn Fn(u32) -> bool,
) -> Vec<(f32, u32)> {
    let ef = ef.max(1);
    VISITED.with_borrow_mut(|visited| {
        visited.start(g.len());
        // Frontier: best first. Results: worst on top, so it can be evicted.
        let mut frontier: BinaryHeap<Scored> = BinaryHeap::with_capacity(ef * 2);
        let mut results: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(ef + 1);
        let s0 = v.score(q, start);
        visited.insert(start);
        frontier.push(Scored(s0, start));
        if accept(start) {
            results.push(Reverse(Scored(s0, start)));
        }
        // Lower bound a candidate must beat once results are full.
        let mut bound = f32::NEG_INFINITY;
        while let Some(Scored(s, u)) = frontier.pop() {
            if results.len() >= ef && s < bound {
                break;
            }
            for nb in g.neighbours(u, 0) {
                if !visited.insert(nb) {
                    continue;
                }
                let sn = v.score(q, nb);
                if results.len() < ef || sn > bound {
                    frontier.push(Scored(sn, nb));
                    if accept(nb) {
                        results.push(Reverse(Scored(sn, nb)));
                        if results.len() > ef {
                            results.pop();
                        }
                        if results.len() >= ef {
                            bound = results.peek().map(|r| r.0.0).unwrap_or(f32::NEG_INFINITY);
                        }
                    }
                }
            }
        }
        let mut out: Vec<(f32, u32)> = results.into_iter().map(|Reverse(Scored(s, i))| (s, i)).collect();
        out.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        out
    })
}

/// Exact top-`k` over the given points: the ground truth for recall, and the
/// plan for selective filters.
pub fn exact_scan(v: &Vectors, q: &[f32], points: impl Iterator<Item = u32>, k: usize) -> Vec<(f32, u32)> {
    let mut heap: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(k.min(4096) + 1);
    for p in points {
        let s = v.score(q, p);
        if heap.len() < k {
            heap.push(Reverse(Scored(s, p)));
        } else if let Some(top) = heap.peek()
            && Scored(s, p) > top.0
        {
            heap.pop();
            heap.push(Reverse(Scored(s, p)));
        }
    }
    let mut out: Vec<(f32, u32)> = heap.into_iter().map(|Reverse(Scored(s, i))| (s, i)).collect();
    out.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    out
}
