//! Article scoring on Resolve's path: the ten candidate articles of a query rescored
//! by plain 1-NN (the baseline), by best match + centroid, and by best match +
//! centroid + the article discriminant (kefu's default), plus the time to fit the
//! discriminant once per opened version.
//!
//! Corpus: 2 000 synthetic articles × 20 samples × 384 (each article a random centre,
//! its samples the centre plus noise), built as a real index version.

use criterion::{Criterion, criterion_group, criterion_main};
use kefu_bench::Rng;
use kefu_engine::embed::ModelId;
use kefu_engine::index::{BuildParams, Corpus, Index, build_version};
use kefu_engine::resolve::Scoring;
use kefu_engine::resolve::rank::rank;
use std::hint::black_box;
use std::time::Instant;

const DIM: usize = 384;
const ARTICLES: usize = 2_000;
const SAMPLES: usize = 20;
const QUERIES: usize = 1_000;

fn rank_bench(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let zero = vec![0f32; DIM];
    let centres: Vec<Vec<f32>> = (0..ARTICLES).map(|_| rng.near(&zero, 1.0)).collect();
    let mut vectors = Vec::with_capacity(ARTICLES * SAMPLES * DIM);
    for centre in &centres {
        for _ in 0..SAMPLES {
            vectors.extend(rng.near(centre, 0.08));
        }
    }
    let mut corpus = Corpus::from_vectors(
        vectors,
        DIM,
        ModelId::f32("synthetic", "rank-bench", DIM),
        "bench",
    );
    corpus.articles.truncate(ARTICLES);
    corpus.point_article = (0..ARTICLES * SAMPLES).map(|p| (p / SAMPLES) as u32).collect();
    let root = tempfile::tempdir().expect("temp dir");
    build_version(root.path(), &corpus, &BuildParams::default(), &|_, _, _| {}).expect("build");

    let index = Index::open(root.path()).expect("open");
    let t = Instant::now();
    let fitted = index.head().is_some();
    println!(
        "\n{ARTICLES} articles × {SAMPLES} samples × {DIM}: article discriminant fitted: {fitted}, in {:.0} ms (once per opened version)",
        t.elapsed().as_secs_f64() * 1e3
    );

    let queries: Vec<Vec<f32>> = (0..QUERIES)
        .map(|i| rng.near(&centres[i * 7 % ARTICLES], 0.1))
        .collect();
    let hits: Vec<_> = queries
        .iter()
        .map(|q| index.search_where(q, 10, 64, &|_| true).expect("search"))
        .collect();
    let centroid = Scoring {
        head: 0.0,
        ..Scoring::DEFAULT
    };
    let mut g = c.benchmark_group("rank_10_candidates");
    for (name, scoring) in [
        ("1nn", Scoring::ONE_NN),
        ("centroid", centroid),
        ("centroid_head", Scoring::DEFAULT),
    ] {
        g.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % QUERIES;
                black_box(rank(&index, &queries[i], &hits[i], &scoring, &|_| true))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, rank_bench);
criterion_main!(benches);
