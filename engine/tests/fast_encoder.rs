//! The fast pass against the candle reference, on both real models: the same vectors
//! (cosine ≥ 0.9999 per text) for single texts, mixed-length batches and long texts.

mod common;

use kefu_engine::embed::{BertEncoder, Encoder, FastEncoder, TextRole, cosine};
use std::path::PathBuf;

const TEXTS: &[&str] = &[
    "How long does shipping take?",
    "¿Cuánto tarda el envío a Madrid?",
    "我的包裹什么时候到？",
    "Die Zahlung mit meiner Kreditkarte wurde abgelehnt, was kann ich tun?",
    "ok",
    "I ordered 40 power banks for our shop in Leeds and two arrived with cracked cases; \
     the carton was crushed on one corner. What do you need from me to replace them, \
     and do I have to send the broken ones back first or can I keep them for the courier's claim?",
];

fn agree(model: PathBuf, threads: usize) {
    let reference = BertEncoder::from_dir(&model).unwrap();
    let fast = FastEncoder::from_dir(&model).unwrap().with_threads(threads);
    assert_eq!(fast.dim(), reference.dim());
    assert_eq!(fast.model_id().unwrap(), reference.model_id().unwrap());
    for role in [TextRole::Query, TextRole::Passage] {
        let want = reference.embed_as(role, TEXTS).unwrap();
        let batch = fast.embed_as(role, TEXTS).unwrap();
        for (i, text) in TEXTS.iter().enumerate() {
            let one = fast.embed_as(role, &[text]).unwrap();
            let norm: f32 = one[0].iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{text:?}: norm {norm}");
            let (c1, cb) = (cosine(&one[0], &want[i]), cosine(&batch[i], &want[i]));
            assert!(
                c1 > 0.9999 && cb > 0.9999,
                "{text:?}: alone {c1}, in a batch {cb}"
            );
        }
    }
    assert!(fast.embed(&[]).unwrap().is_empty());
}

#[test]
fn fast_pass_matches_candle_on_minilm() {
    agree(common::model_path(), 1);
}

#[test]
fn fast_pass_matches_candle_on_multilingual_e5_with_two_threads() {
    let e5 = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/multilingual-e5-small");
    agree(e5, 2);
}
