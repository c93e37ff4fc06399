//! The graph builder kefu uses today: hnsw_rs (parallel insert, dot-product
//! distance), copied into kefu's flat layout. Another builder only has to
//! produce a [`FlatGraph`] for [`super::build::stage_with_graph`].

use super::build::{BuildParams, M_RANGE, Progress, Stage};
use super::graph::FlatGraph;
use super::search::Vectors;
use hnsw_rs::prelude::{DistDot, Hnsw};

/// The hnsw_rs graph type kefu builds with (dot-product distance on unit vectors).
pub type HnswRs<'a> = Hnsw<'a, f32, DistDot>;

/// Inserts every vector into a new hnsw_rs graph (parallel insert).
pub fn insert_hnsw_rs<'a>(vectors: &Vectors<'a>, params: &BuildParams, progress: Progress) -> HnswRs<'a> {
    let n = vectors.len();
    let m = params.m.clamp(*M_RANGE.start(), *M_RANGE.end());
    let hnsw: HnswRs = Hnsw::new(m, n.max(1), 16, params.ef_construction.max(m), DistDot {});
    let rows: Vec<(&[f32], usize)> = (0..n).map(|i| (vectors.row(i as u32), i)).collect();
    let step = 5_000;
    for (c, chunk) in rows.chunks(step).enumerate() {
        hnsw.parallel_insert_slice(&chunk.to_vec());
        progress(Stage::Insert, ((c * step) + chunk.len()) as u64, n as u64);
    }
    hnsw
}

/// Copies an hnsw_rs graph into kefu's flat layout (level 0 gets 2·m slots).
pub fn flatten_hnsw_rs(hnsw: &HnswRs, n: usize) -> FlatGraph {
    let m = hnsw.get_max_nb_connection() as usize;
    // Levels first (to size the upper lists), then every layer's links.
    let mut levels = vec![0u8; n];
    let mut links: Vec<Vec<Vec<u32>>> = vec![Vec::new(); n];
    for point in hnsw.get_point_indexation() {
        let id = point.get_origin_id();
        levels[id] = point.get_point_id().0;
        links[id] = point
            .get_neighborhood_id()
            .into_iter()
            .map(|layer| layer.into_iter().map(|nb| nb.d_id as u32).collect())
            .collect();
    }
    let mut g = FlatGraph::with_levels(levels, 2 * m, m);
    for (u, layers) in links.into_iter().enumerate() {
        for (layer, nbs) in layers.into_iter().enumerate() {
            if layer > g.levels[u] as usize {
                continue;
            }
            let slots = g.slots_mut(u as u32, layer);
            for (slot, v) in slots.iter_mut().zip(nbs.into_iter().filter(|&v| v as usize != u)) {
                *slot = v;
            }
        }
    }
    g
}
