//! The fast pass against the candle reference, on both real models and ~220 varied
//! texts (every third question of the project's eval set: eight languages, one to
//! forty words, plus texts past the 512-token truncation): in f32 the same vectors
//! (cosine ≥ 0.9999 per text), in int8 vectors of the same space (cosine ≥ 0.99), each
//! alone and in mixed-length batches.

mod common;

use kefu_engine::embed::{BertEncoder, Encoder, FastEncoder, ModelDir, Precision, TextRole, cosine};
use std::path::PathBuf;

/// The texts both passes embed: eval questions plus a few long ones.
fn texts() -> Vec<String> {
    let eval = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/eval-resolve.jsonl");
    let mut out: Vec<String> = std::fs::read_to_string(eval)
        .unwrap()
        .lines()
        .step_by(3)
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["question"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let story = "I ordered 40 power banks for our shop in Leeds and two arrived with cracked cases; \
                 the carton was crushed on one corner. What do you need from me to replace them? ";
    for n in [1, 4, 14] {
        out.push(story.repeat(n));
    }
    out.push("ok".into());
    out.push("我的包裹什么时候到？".repeat(50));
    out
}

/// Embeds the texts with the reference once, then checks each precision against it:
/// every text in batches of 16, and alone every eighth text and every long one.
fn agree(model: PathBuf, threads: usize) {
    let dir = ModelDir::open(&model).unwrap();
    let reference = BertEncoder::load(&dir).unwrap();
    let texts = texts();
    assert!(texts.len() >= 200);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    // In chunks: the reference pads a batch to its longest text.
    let want: Vec<Vec<f32>> = texts
        .chunks(16)
        .flat_map(|c| reference.embed_as(TextRole::Query, c).unwrap())
        .collect();
    let ref_id = reference.model_id().unwrap();
    for (precision, bound) in [(Precision::F32, 0.9999), (Precision::Int8, 0.99)] {
        let fast = FastEncoder::load_as(&dir, precision)
            .unwrap()
            .with_threads(threads);
        assert_eq!(fast.dim(), reference.dim());
        let id = fast.model_id().unwrap();
        assert_eq!(id.space, ref_id.space, "the same weights: the same vector space");
        assert_eq!((id.variant, ref_id.variant), (precision, Precision::F32));
        let mut worst = (f32::MAX, "");
        let mut seen = |c: f32, text| {
            if c < worst.0 {
                worst = (c, text);
            }
        };
        for (b, (chunk, want)) in texts.chunks(16).zip(want.chunks(16)).enumerate() {
            let batch = fast.embed_as(TextRole::Query, chunk).unwrap();
            for (i, text) in chunk.iter().enumerate() {
                seen(cosine(&batch[i], &want[i]), text);
                if (b * 16 + i) % 8 == 0 || text.len() > 300 {
                    let one = fast.embed_as(TextRole::Query, &[text]).unwrap();
                    let norm: f32 = one[0].iter().map(|x| x * x).sum::<f32>().sqrt();
                    assert!((norm - 1.0).abs() < 1e-5, "{text:?}: norm {norm}");
                    seen(cosine(&one[0], &want[i]), text);
                }
            }
        }
        assert!(
            worst.0 > bound,
            "{precision} worst cosine {} on {:?}",
            worst.0,
            worst.1
        );
        // Passages take the model's passage prefix on both paths.
        let p = fast.embed_as(TextRole::Passage, &texts[..4]).unwrap();
        let w = reference.embed_as(TextRole::Passage, &texts[..4]).unwrap();
        for (a, b) in p.iter().zip(&w) {
            assert!(cosine(a, b) > bound);
        }
        assert!(fast.embed(&[]).unwrap().is_empty());
    }
}

#[test]
fn fast_pass_in_f32_and_int8_matches_candle_on_minilm() {
    agree(common::model_path(), 1);
}

#[test]
fn fast_pass_in_f32_and_int8_matches_candle_on_multilingual_e5_with_two_threads() {
    agree(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/multilingual-e5-small"),
        2,
    );
}

/// Callers that share one encoder with a team of helpers at the same time (one gets
/// the team, the others run alone) get exactly the vectors of a one-thread encoder,
/// in both precisions: sharing a pass's steps changes who computes, not what.
#[test]
fn concurrent_callers_of_a_two_thread_encoder_get_the_one_thread_vectors() {
    let dir = ModelDir::open(&common::model_path()).unwrap();
    let texts = texts();
    let texts: Vec<&str> = texts.iter().map(String::as_str).take(24).collect();
    for precision in [Precision::F32, Precision::Int8] {
        let alone = FastEncoder::load_as(&dir, precision).unwrap();
        let want: Vec<Vec<f32>> = texts
            .iter()
            .map(|t| alone.embed(&[t]).unwrap().remove(0))
            .collect();
        let shared = FastEncoder::load_as(&dir, precision).unwrap().with_threads(2);
        std::thread::scope(|s| {
            for caller in 0..3 {
                let (shared, texts, want) = (&shared, &texts, &want);
                s.spawn(move || {
                    for round in 0..4 {
                        for (i, t) in texts.iter().enumerate().skip((caller + round) % 3) {
                            assert_eq!(shared.embed(&[t]).unwrap()[0], want[i], "{precision} {t:?}");
                        }
                        let batch = shared.embed(texts).unwrap();
                        assert_eq!(batch.len(), texts.len());
                        for (got, w) in batch.iter().zip(want) {
                            assert!(cosine(got, w) > 0.99999, "{precision}: batch vs alone");
                        }
                    }
                });
            }
        });
    }
}
