//! The HNSW graph in kefu's flat layout, borrowed from the heap or from a mapped file.

use super::format::NO_NODE;
use super::search::{Vectors, search_layer0_from};

/// A read-only view of a layered graph: the shape search and verify walk.
#[derive(Clone, Copy)]
pub struct GraphRef<'a> {
    /// `n × m0` level-0 neighbour slots.
    pub level0: &'a [u32],
    /// Top layer of each node.
    pub levels: &'a [u8],
    /// For a node with level ≥ 1: where its upper lists start in `upper` (u32 units).
    pub upper_offsets: &'a [u32],
    /// `m` slots per node per layer ≥ 1.
    pub upper: &'a [u32],
    pub m0: usize,
    pub m: usize,
    pub entry: u32,
    pub max_level: usize,
}

impl<'a> GraphRef<'a> {
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Neighbours of `node` at `layer`, without empty slots.
    #[inline]
    pub fn neighbours(&self, node: u32, layer: usize) -> impl Iterator<Item = u32> + 'a {
        // Ids past the last node are dropped: a damaged file must give wrong
        // answers at worst (and fail `kefu verify`), never a panic.
        let n = self.levels.len() as u32;
        self.slots(node, layer)
            .iter()
            .copied()
            .take_while(|&x| x != NO_NODE)
            .filter(move |&x| x < n)
    }

    /// The raw slots of `node` at `layer`, bounds-checked (empty when out of range).
    #[inline]
    fn slots(&self, node: u32, layer: usize) -> &'a [u32] {
        let u = node as usize;
        if layer == 0 {
            self.level0.get(u * self.m0..(u + 1) * self.m0).unwrap_or(&[])
        } else if self.levels.get(u).is_none_or(|&l| (l as usize) < layer) {
            &[]
        } else {
            let s = self.upper_offsets[u] as usize + (layer - 1) * self.m;
            self.upper.get(s..s + self.m).unwrap_or(&[])
        }
    }

    /// Marks every node reachable from the entry point through level 0.
    pub fn reachable(&self) -> Vec<bool> {
        let n = self.len();
        let mut seen = vec![false; n];
        if n == 0 {
            return seen;
        }
        let mut stack = vec![self.entry];
        seen[self.entry as usize] = true;
        while let Some(u) = stack.pop() {
            for v in self.neighbours(u, 0) {
                if (v as usize) < n && !seen[v as usize] {
                    seen[v as usize] = true;
                    stack.push(v);
                }
            }
        }
        seen
    }

    /// Degree statistics of level 0: (min, mean, max).
    pub fn degree_stats(&self) -> (usize, f64, usize) {
        let n = self.len();
        if n == 0 {
            return (0, 0.0, 0);
        }
        let (mut min, mut max, mut sum) = (usize::MAX, 0, 0usize);
        for u in 0..n as u32 {
            let d = self.neighbours(u, 0).count();
            min = min.min(d);
            max = max.max(d);
            sum += d;
        }
        (min, sum as f64 / n as f64, max)
    }

    /// Checks every neighbour id is a node and every list is within its width.
    pub fn check_ids(&self) -> Result<(), String> {
        let n = self.len() as u32;
        if n > 0 && self.entry >= n {
            return Err(format!("entry point {} is not a node (n = {n})", self.entry));
        }
        for u in 0..n {
            for layer in 0..=self.levels[u as usize] as usize {
                let slots = self.slots(u, layer);
                if slots.len() != if layer == 0 { self.m0 } else { self.m } {
                    return Err(format!("node {u} layer {layer} lies outside the graph file"));
                }
                if let Some(v) = slots
                    .iter()
                    .copied()
                    .take_while(|&v| v != NO_NODE)
                    .find(|&v| v >= n)
                {
                    return Err(format!("node {u} layer {layer} links to {v}, past the last node"));
                }
            }
        }
        Ok(())
    }
}

/// A graph on the heap, as the builder produces it and the writer stores it.
#[derive(Debug, Clone, Default)]
pub struct FlatGraph {
    pub level0: Vec<u32>,
    pub levels: Vec<u8>,
    pub upper_offsets: Vec<u32>,
    pub upper: Vec<u32>,
    pub m0: usize,
    pub m: usize,
    pub entry: u32,
    pub max_level: usize,
}

impl FlatGraph {
    /// An empty graph of `n` nodes with the given levels; lists are filled by the builder.
    pub fn with_levels(levels: Vec<u8>, m0: usize, m: usize) -> Self {
        let n = levels.len();
        let mut upper_offsets = vec![0u32; n];
        let mut total = 0usize;
        for (u, &l) in levels.iter().enumerate() {
            if l > 0 {
                upper_offsets[u] = total as u32;
                total += l as usize * m;
            }
        }
        let max_level = levels.iter().copied().max().unwrap_or(0) as usize;
        let entry = levels.iter().position(|&l| l as usize == max_level).unwrap_or(0) as u32;
        Self {
            level0: vec![NO_NODE; n * m0],
            levels,
            upper_offsets,
            upper: vec![NO_NODE; total],
            m0,
            m,
            entry,
            max_level,
        }
    }

    pub fn as_ref(&self) -> GraphRef<'_> {
        GraphRef {
            level0: &self.level0,
            levels: &self.levels,
            upper_offsets: &self.upper_offsets,
            upper: &self.upper,
            m0: self.m0,
            m: self.m,
            entry: self.entry,
            max_level: self.max_level,
        }
    }

    /// The writable slots of `node` at `layer`.
    pub fn slots_mut(&mut self, node: u32, layer: usize) -> &mut [u32] {
        if layer == 0 {
            let s = node as usize * self.m0;
            &mut self.level0[s..s + self.m0]
        } else {
            let s = self.upper_offsets[node as usize] as usize + (layer - 1) * self.m;
            &mut self.upper[s..s + self.m]
        }
    }

    /// Reconnects nodes the entry point cannot reach (hnsw_rs can leave orphans).
    ///
    /// Each orphan is linked from its nearest reachable nodes: into a free slot
    /// when there is one, else replacing that node's least similar neighbour,
    /// provided the displaced node keeps another way in. Returns (edges added,
    /// nodes still unreachable).
    pub fn repair_orphans(&mut self, vectors: &Vectors) -> (u64, u64) {
        let mut added = 0u64;
        for _round in 0..4 {
            let seen = self.as_ref().reachable();
            let orphans: Vec<u32> = (0..seen.len() as u32).filter(|&u| !seen[u as usize]).collect();
            if orphans.is_empty() {
                return (added, 0);
            }
            let mut in_degree = vec![0u32; seen.len()];
            for &v in &self.level0 {
                if v != NO_NODE {
                    in_degree[v as usize] += 1;
                }
            }
            for &u in &orphans {
                let q = vectors.row(u);
                let near = search_layer0_from(&self.as_ref(), vectors, q, self.entry, 32, &|_| true);
                let mut linked = 0;
                for &(_, v) in near.iter() {
                    if v == u || linked >= 3 {
                        continue;
                    }
                    let v_vec = vectors.row(v);
                    let slots = self.slots_mut(v, 0);
                    if slots.contains(&u) {
                        linked += 1;
                        continue;
                    }
                    if let Some(free) = slots.iter().position(|&x| x == NO_NODE) {
                        slots[free] = u;
                    } else {
                        // Replace the least similar neighbour that has other in-links.
                        let worst = slots
                            .iter()
                            .enumerate()
                            .filter(|&(_, &w)| in_degree[w as usize] > 1)
                            .map(|(i, &w)| (i, vectors.score(v_vec, w)))
                            .min_by(|a, b| a.1.total_cmp(&b.1));
                        let Some((i, _)) = worst else { continue };
                        in_degree[slots[i] as usize] -= 1;
                        slots[i] = u;
                    }
                    in_degree[u as usize] += 1;
                    added += 1;
                    linked += 1;
                }
            }
        }
        let left = self.as_ref().reachable().iter().filter(|&&r| !r).count() as u64;
        (added, left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u32, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim)
            .map(|i| (((i as u32 + 1) * (seed * 7 + 3)) % 13) as f32 - 6.0)
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    }

    #[test]
    fn repair_reconnects_orphans_and_isolated_islands() {
        let dim = 8;
        let data: Vec<f32> = (0..6).flat_map(|i| unit(i, dim)).collect();
        let vectors = Vectors { data: &data, dim };
        let mut g = FlatGraph::with_levels(vec![0; 6], 4, 2);
        g.entry = 0;
        let link = |g: &mut FlatGraph, u: u32, vs: &[u32]| g.slots_mut(u, 0)[..vs.len()].copy_from_slice(vs);
        link(&mut g, 0, &[1, 2]);
        link(&mut g, 1, &[0, 2]);
        link(&mut g, 2, &[0, 1]);
        link(&mut g, 3, &[0]); // links out, nobody links in
        link(&mut g, 4, &[5]); // an island of two
        link(&mut g, 5, &[4]);
        let before = g.as_ref().reachable();
        assert_eq!(before, vec![true, true, true, false, false, false]);

        let (added, left) = g.repair_orphans(&vectors);
        assert!(added >= 2, "added {added}");
        assert_eq!(left, 0);
        assert!(g.as_ref().reachable().iter().all(|&r| r));
    }

    #[test]
    fn neighbours_skip_empty_slots_and_ids_past_the_end() {
        let mut g = FlatGraph::with_levels(vec![0; 3], 4, 2);
        g.slots_mut(0, 0).copy_from_slice(&[1, 99, 2, NO_NODE]);
        let got: Vec<u32> = g.as_ref().neighbours(0, 0).collect();
        assert_eq!(got, vec![1, 2]);
        assert!(g.as_ref().check_ids().is_err());
    }
}
