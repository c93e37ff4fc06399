//! Encoder latency: one question (the interactive path) and a batch of 32 (the build and batcher path).
//!
//! Baseline: candle's BERT as shipped (candle-transformers), no kefu-side kernels.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kefu_bench::{QUESTIONS, model_path};
use kefu_engine::embed::{BertEncoder, Encoder};
use std::hint::black_box;

fn embed(c: &mut Criterion) {
    let enc = BertEncoder::from_dir(&model_path()).expect("run `make model` first");
    let mut g = c.benchmark_group("embed");
    g.sample_size(30);
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_question", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % QUESTIONS.len();
            black_box(enc.embed(&[QUESTIONS[i]]).unwrap())
        })
    });
    let batch: Vec<&str> = QUESTIONS.iter().cycle().take(32).copied().collect();
    g.throughput(Throughput::Elements(32));
    g.bench_function("batch_32", |b| b.iter(|| black_box(enc.embed(&batch).unwrap())));
    g.finish();
}

criterion_group!(benches, embed);
criterion_main!(benches);
