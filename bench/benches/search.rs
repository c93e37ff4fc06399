//! ANN search over the memory-mapped index, side by side with hnsw_rs's own
//! search on the very same graph (the baseline), plus open time and RSS.
//!
//! Corpus: the synthetic clustered generator (`kefu gen`), 100 k × 384 by
//! default; `KEFU_BENCH_POINTS=1000000` for the 1 M budget. Besides criterion's
//! timings, it prints a table of recall@10 and p50/p99 per ef for both engines.

use criterion::{Criterion, criterion_group, criterion_main};
use hdrhistogram::Histogram;
use kefu_bench::rss_kib;
use kefu_engine::embed::ModelId;
use kefu_engine::index::search::Vectors;
use kefu_engine::index::synth::{SynthCorpus, SynthParams};
use kefu_engine::index::{BuildParams, Corpus, Index};
use kefu_engine::index::{flatten_hnsw_rs, insert_hnsw_rs, stage_with_graph};
use std::hint::black_box;
use std::time::Instant;

const K: usize = 10;
const EFS: [usize; 4] = [16, 32, 64, 128];

fn search(c: &mut Criterion) {
    let n: usize = std::env::var("KEFU_BENCH_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let synth = SynthCorpus::new(SynthParams::default());
    let dim = synth.dim();
    let corpus = Corpus::from_vectors(
        synth.sample(n, 0),
        dim,
        ModelId::f32("synthetic", "seed-42", dim),
        "bench",
    );
    let queries = synth.sample(1000, 1);
    let params = BuildParams::default();

    let t = Instant::now();
    let vectors = Vectors {
        data: &corpus.vectors,
        dim,
    };
    let mut hnsw = insert_hnsw_rs(&vectors, &params, &|_, _, _| {});
    let build_s = t.elapsed().as_secs_f64();
    hnsw.set_searching_mode(true);
    let graph = flatten_hnsw_rs(&hnsw, n);
    let root = std::env::temp_dir().join(format!("kefu-bench-search-{n}"));
    let _ = std::fs::remove_dir_all(&root);
    stage_with_graph(&root, &corpus, graph, &params, Instant::now(), &|_, _, _| {})
        .and_then(|s| s.commit())
        .expect("write index");
    println!(
        "\n{n} × {dim} synthetic: hnsw_rs build {build_s:.1} s ({:.0} inserts/s, M=16, efc=200)",
        n as f64 / build_s
    );

    let rss_before = rss_kib();
    let t = Instant::now();
    let index = Index::open(&root).expect("open");
    let open_us = t.elapsed().as_secs_f64() * 1e6;
    let rss_after = rss_kib();
    println!(
        "open: {open_us:.0} µs, RSS +{} KiB after open (before any query)",
        rss_after.saturating_sub(rss_before)
    );

    let truth: Vec<Vec<u32>> = queries
        .chunks(dim)
        .map(|q| {
            index
                .exact_points(q, K)
                .unwrap()
                .into_iter()
                .map(|x| x.1)
                .collect()
        })
        .collect();
    println!("{:>4}  {:>22}  {:>22}", "", "kefu (mmap)", "hnsw_rs (heap)");
    println!(
        "{:>4}  {:>6} {:>7} {:>7}  {:>6} {:>7} {:>7}",
        "ef", "recall", "p50 µs", "p99 µs", "recall", "p50 µs", "p99 µs"
    );
    for ef in EFS {
        let mut row = String::new();
        for engine in ["kefu", "hnsw_rs"] {
            let mut h = Histogram::<u64>::new(3).unwrap();
            let mut found = 0;
            for (q, want) in queries.chunks(dim).zip(&truth) {
                let t = Instant::now();
                let got: Vec<u32> = if engine == "kefu" {
                    index
                        .graph_points(q, K, ef)
                        .unwrap()
                        .into_iter()
                        .map(|x| x.1)
                        .collect()
                } else {
                    hnsw.search(q, K, ef)
                        .into_iter()
                        .map(|nb| nb.d_id as u32)
                        .collect()
                };
                h.record(t.elapsed().as_nanos() as u64).unwrap();
                found += got.iter().filter(|p| want.contains(p)).count();
            }
            row += &format!(
                "  {:>6.4} {:>7.1} {:>7.1}",
                found as f64 / (truth.len() * K) as f64,
                h.value_at_quantile(0.5) as f64 / 1e3,
                h.value_at_quantile(0.99) as f64 / 1e3
            );
        }
        println!("{ef:>4}{row}");
    }

    let mut g = c.benchmark_group(format!("search_{}k", n / 1000));
    let nq = queries.len() / dim;
    for ef in EFS {
        let mut i = 0;
        g.bench_function(format!("kefu_mmap/ef{ef}"), |b| {
            b.iter(|| {
                i = (i + 1) % nq;
                black_box(
                    index
                        .graph_points(&queries[i * dim..(i + 1) * dim], K, ef)
                        .unwrap(),
                )
            })
        });
        let mut i = 0;
        g.bench_function(format!("hnsw_rs_baseline/ef{ef}"), |b| {
            b.iter(|| {
                i = (i + 1) % nq;
                black_box(hnsw.search(&queries[i * dim..(i + 1) * dim], K, ef))
            })
        });
    }
    g.bench_function("open_index", |b| {
        b.iter(|| black_box(Index::open(&root).unwrap()))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&root);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(3));
    targets = search
}
criterion_main!(benches);
