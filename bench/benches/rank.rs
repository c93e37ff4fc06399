//! Article scoring on Resolve's path: the ten candidate articles of a query rescored
//! by plain 1-NN (the baseline), by best match + centroid, and by best match +
//! centroid + the article discriminant, all across locales; and kefu's default for a
//! multilingual index, the same with locale centring over thirty candidates. Plus the
//! time to derive the discriminant and the centring once per opened version.
//!
//! Corpus: 2 000 synthetic articles × 20 samples × 384 (each article a random centre,
//! its samples the centre plus noise; half of them in a second locale, shifted by a
//! common offset as a multilingual encoder shifts a language), built as a real index
//! version.

use criterion::{Criterion, criterion_group, criterion_main};
use kefu_bench::Rng;
use kefu_engine::embed::ModelId;
use kefu_engine::index::{BuildParams, Corpus, Index, build_version};
use kefu_engine::kb::Variant;
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
    let offset = rng.near(&zero, 0.3);
    let mut vectors = Vec::with_capacity(ARTICLES * SAMPLES * DIM);
    for centre in &centres {
        let shifted: Vec<f32> = centre.iter().zip(&offset).map(|(c, o)| c + o).collect();
        for s in 0..SAMPLES {
            // Samples 0..SAMPLES/2 are "en", the rest "fr" (Article::samples order).
            let base = if s < SAMPLES / 2 { centre } else { &shifted };
            vectors.extend(rng.near(base, 0.08));
        }
    }
    let mut corpus = Corpus::from_vectors(
        vectors,
        DIM,
        ModelId::f32("synthetic", "rank-bench", DIM),
        "bench",
    );
    corpus.articles.truncate(ARTICLES);
    let texts = vec!["q".to_string(); SAMPLES / 2];
    for a in &mut corpus.articles {
        a.locale = Some("en".into());
        a.questions = texts.clone();
        let fr = Variant {
            title: None,
            answer: String::new(),
            questions: texts.clone(),
        };
        a.variants = [("fr".to_string(), fr)].into();
    }
    corpus.point_article = (0..ARTICLES * SAMPLES).map(|p| (p / SAMPLES) as u32).collect();
    corpus.point_question = (0..ARTICLES * SAMPLES).map(|p| (p % SAMPLES) as u32).collect();
    let root = tempfile::tempdir().expect("temp dir");
    build_version(root.path(), &corpus, &BuildParams::default(), &|_, _, _| {}).expect("build");

    let index = Index::open(root.path()).expect("open");
    let t = Instant::now();
    let fitted = index.head().is_some();
    println!(
        "\n{ARTICLES} articles × {SAMPLES} samples × {DIM}: article discriminant fitted: {fitted}, in {:.0} ms (once per opened version)",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let centred = index.centring().is_some();
    println!(
        "locale centring derived: {centred}, in {:.0} ms (once per opened version)",
        t.elapsed().as_secs_f64() * 1e3
    );

    let queries: Vec<Vec<f32>> = (0..QUERIES)
        .map(|i| rng.near(&centres[i * 7 % ARTICLES], 0.1))
        .collect();
    let across = Scoring {
        across_locales: true,
        ..Scoring::DEFAULT
    };
    let uncentred = Scoring {
        centre: false,
        ..across
    };
    let centroid = Scoring {
        head: 0.0,
        ..uncentred
    };
    let search = |k: usize| -> Vec<_> {
        queries
            .iter()
            .map(|q| index.search_where(q, k, 64, &|_| true).expect("search"))
            .collect()
    };
    let (ten, thirty) = (search(10), search(across.candidates()));
    let mut g = c.benchmark_group("rank");
    for (name, scoring, hits) in [
        ("1nn_10", Scoring::ONE_NN, &ten),
        ("centroid_10", centroid, &ten),
        ("centroid_head_10", uncentred, &ten),
        ("centred_head_30", across, &thirty),
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
