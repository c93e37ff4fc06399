//! Encoder latency: one question (the interactive path) and a batch of 32 (the build and
//! batcher path), for each encoder behind the same seam.
//!
//! Baseline: candle's BERT as shipped (candle-transformers), no kefu-side kernels.
//! Against it: kefu's fast pass (`FastEncoder`) in f32 and in int8, each with one
//! thread and with two.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use kefu_bench::{QUESTIONS, model_path};
use kefu_engine::embed::{BertEncoder, Encoder, FastEncoder, ModelDir, Precision};
use std::hint::black_box;

fn cases(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, enc: &dyn Encoder) {
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("{name}/single_question"), |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % QUESTIONS.len();
            black_box(enc.embed(&[QUESTIONS[i]]).unwrap())
        })
    });
    let batch: Vec<&str> = QUESTIONS.iter().cycle().take(32).copied().collect();
    g.throughput(Throughput::Elements(32));
    g.bench_function(format!("{name}/batch_32"), |b| {
        b.iter(|| black_box(enc.embed(&batch).unwrap()))
    });
}

fn embed(c: &mut Criterion) {
    let model = model_path();
    let mut g = c.benchmark_group("embed");
    g.sample_size(30);
    let candle = BertEncoder::from_dir(&model).expect("run `make model` first");
    cases(&mut g, "candle", &candle);
    drop(candle);
    let dir = ModelDir::open(&model).expect("run `make model` first");
    for (precision, tag) in [(Precision::F32, "fast"), (Precision::Int8, "int8")] {
        let fast = FastEncoder::load_as(&dir, precision).expect("model loads");
        cases(&mut g, &format!("{tag}_1t"), &fast);
        let fast = fast.with_threads(2);
        cases(&mut g, &format!("{tag}_2t"), &fast);
    }
    g.finish();
}

criterion_group!(benches, embed);
criterion_main!(benches);
