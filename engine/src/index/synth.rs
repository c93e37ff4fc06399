//! Synthetic corpora shaped like sentence embeddings, for measuring recall and
//! latency at scale without embedding a million texts.
//!
//! Uniform random 384-d vectors defeat any graph index, and so do isotropic
//! clusters; real sentence embeddings have low intrinsic dimension. So points
//! are drawn from a mixture in a low-dimensional latent space, sent through one
//! fixed random linear map to `dim`, with a little full-dimensional noise, then
//! normalised. `kefu gen --check` compares the nearest-neighbour similarity
//! distribution against real embeddings of the sample KB.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Shape of a synthetic corpus.
#[derive(Debug, Clone)]
pub struct SynthParams {
    pub dim: usize,
    /// Dimension of the latent space the clusters live in.
    pub latent_dim: usize,
    /// Number of topics (mixture components).
    pub clusters: usize,
    /// Spread of points around their topic centre, in latent units (centres have unit scale).
    pub spread: f32,
    /// Full-dimensional noise added after the map, relative to the signal.
    pub noise: f32,
    pub seed: u64,
}

impl Default for SynthParams {
    fn default() -> Self {
        Self {
            dim: 384,
            latent_dim: 24,
            clusters: 2000,
            spread: 0.45,
            noise: 0.12,
            seed: 42,
        }
    }
}

/// A fixed generator: the same parameters give the same centres and map.
pub struct SynthCorpus {
    params: SynthParams,
    centres: Vec<f32>,
    map: Vec<f32>,
}

fn gaussian(rng: &mut StdRng) -> f32 {
    // Box–Muller: two uniforms to one standard normal.
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random::<f32>();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

impl SynthCorpus {
    pub fn new(params: SynthParams) -> Self {
        let mut rng = StdRng::seed_from_u64(params.seed);
        let centres = (0..params.clusters * params.latent_dim)
            .map(|_| gaussian(&mut rng))
            .collect();
        let scale = 1.0 / (params.latent_dim as f32).sqrt();
        let map = (0..params.dim * params.latent_dim)
            .map(|_| gaussian(&mut rng) * scale)
            .collect();
        Self { params, centres, map }
    }

    pub fn dim(&self) -> usize {
        self.params.dim
    }

    /// `count` unit vectors, row-major; `stream` selects an independent sequence
    /// (e.g. 0 for the corpus, 1 for held-out queries).
    pub fn sample(&self, count: usize, stream: u64) -> Vec<f32> {
        let p = &self.params;
        let mut rng =
            StdRng::seed_from_u64(p.seed ^ (stream.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut out = vec![0f32; count * p.dim];
        let mut z = vec![0f32; p.latent_dim];
        for row in out.chunks_mut(p.dim) {
            let c = rng.random_range(0..p.clusters);
            for (j, zj) in z.iter_mut().enumerate() {
                *zj = self.centres[c * p.latent_dim + j] + p.spread * gaussian(&mut rng);
            }
            for (i, x) in row.iter_mut().enumerate() {
                let w = &self.map[i * p.latent_dim..(i + 1) * p.latent_dim];
                *x = w.iter().zip(&z).map(|(a, b)| a * b).sum::<f32>() + p.noise * gaussian(&mut rng);
            }
            let norm = row
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
                .sqrt()
                .max(f32::MIN_POSITIVE);
            row.iter_mut().for_each(|x| *x /= norm);
        }
        out
    }
}

/// Mean and quantiles (p10, p50, p90) of each point's best cosine to another point: the
/// statistic to compare a synthetic corpus against real embeddings.
pub fn nearest_neighbour_profile(vectors: &[f32], dim: usize, sample: usize) -> (f32, f32, f32, f32) {
    let n = vectors.len() / dim;
    if n < 2 {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let v = super::search::Vectors { data: vectors, dim };
    let step = (n / sample.max(1)).max(1);
    let mut best: Vec<f32> = (0..n)
        .step_by(step)
        .map(|i| {
            let q = v.row(i as u32);
            (0..n as u32)
                .filter(|&j| j as usize != i)
                .map(|j| v.score(q, j))
                .fold(f32::MIN, f32::max)
        })
        .collect();
    best.sort_by(|a, b| a.total_cmp(b));
    let q = |f: f64| best[((best.len() - 1) as f64 * f) as usize];
    let mean = best.iter().sum::<f32>() / best.len() as f32;
    (mean, q(0.1), q(0.5), q(0.9))
}
